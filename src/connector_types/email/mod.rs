//! `.email`: SMTP (a host, or a named service such as `gmail`) and Microsoft
//! Exchange through Microsoft Graph (`service: exchange_server`).

mod graph;
mod services;
mod smtp;
mod tunnel;

use std::{str::FromStr, sync::Arc, time::Duration};

use lettre::message::Mailbox;
use serde_json::{Value, json};

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext,
    License, Schemas, TypeInfo, ValidationContext,
    outbound::{ProxySettings, VerificationMode},
};
use crate::{
    metrics::{Metrics, OutboundErrorKind},
    schema::{array, boolean, nullable, number, object, string},
};

pub use self::graph::TokenCache;

/// TLS and policy settings for one SMTP server (`customHostSettings` for `smtp://host:port`).
#[derive(Debug, Clone, Default)]
pub struct SmtpHostSettings {
    /// `host:port`.
    pub address: String,
    pub verification_mode: Option<VerificationMode>,
    pub certificate_authorities: Option<Vec<u8>>,
    pub ignore_tls: bool,
    pub require_tls: bool,
}

/// Deployment settings the email type needs.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `xpack.actions.enableFooterInEmail`.
    pub enable_footer: bool,
    /// `xpack.actions.microsoftGraphApiUrl`.
    pub graph_api_url: String,
    /// `xpack.actions.microsoftGraphApiScope`.
    pub graph_api_scope: String,
    /// `xpack.actions.microsoftExchangeUrl`.
    pub exchange_url: String,
    /// `xpack.actions.ssl.verificationMode`.
    pub verification_mode: VerificationMode,
    pub smtp_hosts: Vec<SmtpHostSettings>,
    pub block_private_addresses: bool,
    /// `xpack.actions.proxyUrl`: mail to a configured host it applies to goes through
    /// a CONNECT tunnel, with TLS per `ssl.proxyVerificationMode`, as in Kibana.
    pub proxy: Option<ProxySettings>,
    pub proxy_verification_mode: VerificationMode,
    pub timeout: Duration,
    /// Where SMTP transport failures are counted, by kind.
    pub metrics: Arc<Metrics>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            enable_footer: true,
            graph_api_url: "https://graph.microsoft.com/v1.0".to_owned(),
            graph_api_scope: "https://graph.microsoft.com/.default".to_owned(),
            exchange_url: "https://login.microsoftonline.com".to_owned(),
            verification_mode: VerificationMode::Full,
            smtp_hosts: Vec::new(),
            block_private_addresses: false,
            proxy: None,
            proxy_verification_mode: VerificationMode::Full,
            timeout: Duration::from_secs(60),
            metrics: Arc::default(),
        }
    }
}

pub struct Email {
    settings: EmailSettings,
    tokens: TokenCache,
    schemas: Schemas,
}

/// Kibana's footer, appended to every message unless `enableFooterInEmail` is off.
const FOOTER: &str = "\n\n---\n\nThis message was sent by Elastic.";

impl Email {
    pub fn new(settings: EmailSettings) -> Self {
        let nullable_string = || nullable(string());
        let addresses = || array(string()).default(json!([]));
        Self {
            settings,
            tokens: TokenCache::default(),
            schemas: Schemas {
                config: object([
                    ("from", string()),
                    ("host", nullable_string()),
                    ("port", nullable(number().check(port))),
                    ("secure", nullable(boolean())),
                    ("hasAuth", boolean().default(true)),
                    ("service", string().default("other")),
                    ("clientId", nullable_string()),
                    ("tenantId", nullable_string()),
                    ("oauthTokenUrl", nullable_string()),
                ]),
                secrets: object([
                    ("user", nullable_string()),
                    ("password", nullable_string()),
                    ("clientSecret", nullable_string()),
                ]),
                params: object([
                    ("to", addresses()),
                    ("cc", addresses()),
                    ("bcc", addresses()),
                    ("subject", string()),
                    ("message", string()),
                    ("messageHTML", nullable_string()),
                    (
                        "kibanaFooterLink",
                        object([
                            ("path", string().default("/")),
                            ("text", string().default("Go to Elastic")),
                        ]),
                    ),
                ]),
            },
        }
    }
}

fn port(value: &Value) -> Result<(), String> {
    match value.as_f64() {
        Some(port) if port < 1.0 => Err("Value must be equal to or greater than [1].".to_owned()),
        Some(port) if port > 65535.0 => {
            Err("Value must be equal to or lower than [65535].".to_owned())
        }
        _ => Ok(()),
    }
}

/// Kibana's address check: `not valid emails: a, b; not allowed emails: c`.
fn check_addresses(addresses: &[&str], allowlist: Option<&[String]>) -> Result<(), String> {
    let mut invalid = Vec::new();
    let mut not_allowed = Vec::new();
    for address in addresses {
        match Mailbox::from_str(address) {
            Err(_) => invalid.push(*address),
            Ok(mailbox) => {
                if let Some(allowlist) = allowlist {
                    let domain = mailbox.email.domain();
                    // Kibana compares domains as written.
                    if !allowlist.iter().any(|it| it == domain) {
                        not_allowed.push(*address);
                    }
                }
            }
        }
    }
    let mut parts = Vec::new();
    if !invalid.is_empty() {
        parts.push(format!("not valid emails: {}", invalid.join(", ")));
    }
    if !not_allowed.is_empty() {
        parts.push(format!("not allowed emails: {}", not_allowed.join(", ")));
    }
    if parts.is_empty() {
        Ok(())
    } else {
        Err(parts.join("; "))
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

impl ConnectorType for Email {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".email",
            name: "Email",
            minimum_license: License::Gold,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        let from = config["from"].as_str().unwrap_or_default();
        check_addresses(&[from], cx.email_domain_allowlist.as_deref())
            .map_err(|message| format!("[from]: {message}"))?;
        let service = config["service"].as_str().unwrap_or("other");
        match service {
            "__json" => Ok(()),
            "exchange_server" => match (
                config["clientId"].is_string(),
                config["tenantId"].is_string(),
            ) {
                (false, false) => Err("[clientId]/[tenantId] is required".to_owned()),
                (false, true) => Err("[clientId] is required".to_owned()),
                (true, false) => Err("[tenantId] is required".to_owned()),
                (true, true) => match config["oauthTokenUrl"].as_str() {
                    Some(url) if cx.allowed_hosts.check_url(url).is_err() => Err(format!(
                        "[oauthTokenUrl]: host name value for '{url}' is not in the allowedHosts configuration"
                    )),
                    _ => Ok(()),
                },
            },
            "other" => {
                let host = config["host"].as_str();
                match (host, config["port"].is_number()) {
                    (None, false) => Err("[host]/[port] is required".to_owned()),
                    (None, true) => Err("[host] is required".to_owned()),
                    (Some(_), false) => Err("[port] is required".to_owned()),
                    (Some(host), true) if !cx.allowed_hosts.allows(host) => Err(format!(
                        "[host] value '{host}' is not in the allowedHosts configuration"
                    )),
                    _ => Ok(()),
                }
            }
            service => match services::resolve(service) {
                None => Err(format!("[service] value '{service}' is not valid")),
                Some(resolved) if !cx.allowed_hosts.allows(resolved.host) => Err(format!(
                    "[service] value '{service}' resolves to host '{}' which is not in the allowedHosts configuration",
                    resolved.host
                )),
                Some(_) => Ok(()),
            },
        }
    }

    fn validate_connector(&self, config: &Value, secrets: &Value) -> Result<(), String> {
        if config["service"] == json!("exchange_server") {
            if !secrets["clientSecret"].is_string() {
                return Err("[clientSecret] is required".to_owned());
            }
            return Ok(());
        }
        if config["hasAuth"] != json!(false) {
            if !secrets["user"].is_string() {
                return Err("[user] is required".to_owned());
            }
            if !secrets["password"].is_string() {
                return Err("[password] is required".to_owned());
            }
        }
        Ok(())
    }

    fn validate_params(&self, params: &Value, cx: &ValidationContext) -> Result<(), String> {
        let recipients: Vec<&str> = ["to", "cc", "bcc"]
            .iter()
            .flat_map(|field| strings(&params[*field]))
            .collect();
        if recipients.is_empty() {
            return Err("no [to], [cc], or [bcc] entries".to_owned());
        }
        check_addresses(&recipients, cx.email_domain_allowlist.as_deref())
            .map_err(|message| format!("[to/cc/bcc]: {message}"))
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            if params["messageHTML"].is_string() {
                return Err(ExecuteError::new(
                    "HTML email can only be sent via notifications",
                ));
            }
            let mut text = params["message"].as_str().unwrap_or_default().to_owned();
            if self.settings.enable_footer {
                text.push_str(FOOTER);
            }
            let html = markdown_to_html(&text);
            let mail = Mail {
                from: connector.config["from"].as_str().unwrap_or_default(),
                to: strings(&params["to"]),
                cc: strings(&params["cc"]),
                bcc: strings(&params["bcc"]),
                subject: params["subject"].as_str().unwrap_or_default(),
                text: &text,
                html: &html,
            };
            let sent = match connector.config["service"].as_str() {
                Some("exchange_server") => {
                    graph::send(cx, &self.settings, &self.tokens, &connector, &mail).await
                }
                // Kibana's test transport: nothing is sent, the composed message is returned.
                Some("__json") => Ok(composed(&mail)),
                _ => {
                    let sent = smtp::send(&self.settings, &connector, &mail).await;
                    if let Some(kind) = sent.as_ref().err().and_then(|it| smtp_failure_kind(it)) {
                        self.settings.metrics.count_outbound_error(kind);
                    }
                    sent
                }
            };
            sent.map(Some).map_err(|service_message| {
                ExecuteError::new("error sending email").with_service_message(service_message)
            })
        })
    }
}

/// The kind of an SMTP failure that is the transport's (for metrics), from its text;
/// `None` for the mail server's own refusals (535, 550, ...).
fn smtp_failure_kind(text: &str) -> Option<OutboundErrorKind> {
    let lower = text.to_lowercase();
    Some(if text.starts_with("timeout of ") {
        OutboundErrorKind::Timeout
    } else if text.contains("blockPrivateAddresses refuses")
        || text.contains("is not added to the Kibana config")
    {
        OutboundErrorKind::NotAllowed
    } else if lower.contains("connection refused") {
        OutboundErrorKind::Refused
    } else if lower.contains("connection reset") || lower.contains("broken pipe") {
        OutboundErrorKind::Reset
    } else if text.contains("ENOTFOUND") {
        OutboundErrorKind::Dns
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        OutboundErrorKind::Tls
    } else {
        return None;
    })
}

/// What is sent, whatever the transport.
pub(crate) struct Mail<'a> {
    pub from: &'a str,
    pub to: Vec<&'a str>,
    pub cc: Vec<&'a str>,
    pub bcc: Vec<&'a str>,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

/// What nodemailer's JSON transport answers: the envelope and the message itself.
fn composed(mail: &Mail<'_>) -> Value {
    let recipients: Vec<&str> = mail
        .to
        .iter()
        .chain(&mail.cc)
        .chain(&mail.bcc)
        .copied()
        .collect();
    json!({
        "envelope": { "from": mail.from, "to": recipients },
        "messageId": format!("<{}@{}>", uuid::Uuid::new_v4(), mail.from.rsplit('@').next().unwrap_or("localhost")),
        "message": {
            "from": { "address": mail.from },
            "to": mail.to.iter().map(|it| json!({ "address": it })).collect::<Vec<_>>(),
            "cc": mail.cc.iter().map(|it| json!({ "address": it })).collect::<Vec<_>>(),
            "bcc": mail.bcc.iter().map(|it| json!({ "address": it })).collect::<Vec<_>>(),
            "subject": mail.subject,
            "html": mail.html,
            "text": mail.text,
        },
    })
}

/// The HTML part: the message's Markdown rendered, as Kibana does (markdown-it there,
/// CommonMark here). HTML written in the message is shown as text, not rendered:
/// markdown-it runs with HTML off, and alert text must not become live markup.
fn markdown_to_html(text: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, html};
    let events = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES).map(
        |event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            other => other,
        },
    );
    let mut output = String::with_capacity(text.len() * 2);
    html::push_html(&mut output, events);
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_failures_are_classified_by_their_text() {
        let kind = |text| smtp_failure_kind(text);
        assert_eq!(
            kind("timeout of 300ms exceeded"),
            Some(OutboundErrorKind::Timeout)
        );
        assert_eq!(
            kind("Connection error: Connection refused (os error 111)"),
            Some(OutboundErrorKind::Refused)
        );
        assert_eq!(
            kind(
                "target hostname \"localhost\" resolves to 127.0.0.1, which xpack.actions.blockPrivateAddresses refuses"
            ),
            Some(OutboundErrorKind::NotAllowed)
        );
        assert_eq!(
            kind("invalid peer certificate: UnknownIssuer"),
            Some(OutboundErrorKind::Tls)
        );
        // The mail server's own answers are not transport failures.
        assert_eq!(kind("permanent error (535): authentication failed"), None);
    }
    use crate::connector_types::validate_connector;

    #[track_caller]
    fn check_invalid(config: Value, secrets: Value, expected: &str) {
        let error = validate_connector(
            &Email::new(EmailSettings::default()),
            &config,
            &secrets,
            &ValidationContext::default(),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn config_rules_are_kibanas() {
        let config = |extra: Value| {
            let mut config = json!({ "from": "alerts@example.com" });
            config
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            config
        };
        let auth = json!({ "user": "u", "password": "p" });
        check_invalid(
            config(json!({})),
            auth.clone(),
            "error validating action type config: [host]/[port] is required",
        );
        check_invalid(
            config(json!({ "host": "smtp.example.com" })),
            auth.clone(),
            "error validating action type config: [port] is required",
        );
        check_invalid(
            config(json!({ "port": 25 })),
            auth.clone(),
            "error validating action type config: [host] is required",
        );
        check_invalid(
            config(json!({ "service": "pigeon" })),
            auth.clone(),
            "error validating action type config: [service] value 'pigeon' is not valid",
        );
        check_invalid(
            config(json!({ "service": "exchange_server" })),
            json!({}),
            "error validating action type config: [clientId]/[tenantId] is required",
        );
        check_invalid(
            config(json!({ "service": "exchange_server", "clientId": "c" })),
            json!({}),
            "error validating action type config: [tenantId] is required",
        );
        check_invalid(
            config(json!({ "service": "exchange_server", "clientId": "c", "tenantId": "t" })),
            json!({}),
            "error validating action type connector: [clientSecret] is required",
        );
        check_invalid(
            json!({ "from": "not an address", "service": "gmail" }),
            auth,
            "error validating action type config: [from]: not valid emails: not an address",
        );
        check_invalid(
            config(json!({ "service": "gmail" })),
            json!({ "user": "u" }),
            "error validating action type connector: [password] is required",
        );
        check_invalid(
            config(json!({ "host": "h", "port": 70000 })),
            json!({}),
            "error validating action type config: [port]: types that failed validation:\n- [port.0]: Value must be equal to or lower than [65535].\n- [port.1]: expected value to equal [null]",
        );
    }

    #[test]
    fn the_allowlist_names_what_it_refuses() {
        let allowlist = vec!["example.com".to_owned()];
        assert_eq!(
            check_addresses(
                &["a@example.com", "b@other.org", "nope", "C <c@EXAMPLE.com>"],
                Some(&allowlist)
            ),
            // Kibana compares domains as written: EXAMPLE.com is another domain.
            Err(
                "not valid emails: nope; not allowed emails: b@other.org, C <c@EXAMPLE.com>"
                    .to_owned()
            )
        );
    }

    #[test]
    fn markdown_becomes_html_and_html_stays_text() {
        assert_eq!(
            markdown_to_html("**disk** full"),
            "<p><strong>disk</strong> full</p>\n"
        );
        assert_eq!(
            markdown_to_html("<img src=x onerror=alert(1)> and <threshold>"),
            "<p>&lt;img src=x onerror=alert(1)&gt; and &lt;threshold&gt;</p>\n"
        );
    }
}
