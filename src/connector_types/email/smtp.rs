//! Sending over SMTP with lettre: the host (or the named service's), TLS on connect
//! or STARTTLS, AUTH when the connector has credentials.

use std::{net::IpAddr, str::FromStr};

use lettre::{
    Message,
    address::Envelope,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::{AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters},
        commands::{Data, Mail as MailCommand, Rcpt},
        extension::ClientId,
        response::Response,
    },
};
use serde_json::{Value, json};

use super::{
    EmailSettings, Mail, services,
    tunnel::{self, TunnelRoute},
};
use crate::connector_types::{
    Connector,
    outbound::{VerificationMode, is_private},
};

/// Where and how to connect.
struct Route {
    host: String,
    port: u16,
    secure: bool,
    /// Only the configured `other` host gets `customHostSettings` and the relaxed
    /// certificate check for unauthenticated plain relays, as in Kibana.
    configured_host: bool,
}

fn route(config: &Value) -> Result<Route, String> {
    let service = config["service"].as_str().unwrap_or("other");
    if service == "other" {
        let port = config["port"].as_u64().unwrap_or(25) as u16;
        return Ok(Route {
            host: config["host"].as_str().unwrap_or_default().to_owned(),
            port,
            // Kibana: the configured value, or TLS on connect for port 465.
            secure: config["secure"].as_bool().unwrap_or(port == 465),
            configured_host: true,
        });
    }
    let resolved =
        services::resolve(service).ok_or_else(|| format!("unknown email service {service}"))?;
    Ok(Route {
        host: resolved.host.to_owned(),
        port: resolved.port,
        secure: resolved.secure,
        configured_host: service == "elastic_cloud",
    })
}

pub(super) async fn send(
    settings: &EmailSettings,
    connector: &Connector<'_>,
    mail: &Mail<'_>,
) -> Result<Value, String> {
    let route = route(connector.config)?;
    let message = build_message(mail)?;
    let envelope = message.envelope().clone();

    let credentials = match (
        connector.config["hasAuth"] != json!(false),
        connector.secrets["user"].as_str(),
        connector.secrets["password"].as_str(),
    ) {
        (true, Some(user), Some(password)) => {
            Some(Credentials::new(user.to_owned(), password.to_owned()))
        }
        _ => None,
    };
    let address = format!("{}:{}", route.host, route.port);
    let custom = route
        .configured_host
        .then(|| {
            settings
                .smtp_hosts
                .iter()
                .find(|it| it.address.eq_ignore_ascii_case(&address))
        })
        .flatten();

    // Through the proxy, as in Kibana: TLS per the proxy verification mode.
    if let Some(proxy) = settings
        .proxy
        .as_ref()
        .filter(|proxy| route.configured_host && proxy.applies_to(&route.host))
    {
        // The proxy resolves the name; check it here first, as for HTTP through a proxy.
        if settings.block_private_addresses {
            connect_address(&route.host, route.port).await?;
        }
        let tunnel = TunnelRoute {
            proxy,
            host: &route.host,
            port: route.port,
            secure: route.secure,
            ignore_tls: custom.is_some_and(|it| it.ignore_tls),
            require_tls: custom.is_some_and(|it| it.require_tls),
            verification_mode: custom
                .and_then(|it| it.verification_mode)
                .unwrap_or(settings.proxy_verification_mode),
            certificate_authorities: custom.and_then(|it| it.certificate_authorities.as_deref()),
            proxy_verification_mode: settings.proxy_verification_mode,
        };
        // lettre's own timeouts do not cover a connection it did not open: bound it all.
        let exchange = async {
            let mut connection = tunnel::connect(&tunnel, credentials.as_ref()).await?;
            deliver(&mut connection, &envelope, &message.formatted()).await
        };
        let delivery = tokio::time::timeout(settings.timeout, exchange)
            .await
            .map_err(|_| format!("timeout of {}ms exceeded", settings.timeout.as_millis()))??;
        return Ok(sent(&message, &envelope, &delivery));
    }

    // Kibana's order: the server-wide mode; any certificate for a relay that is neither
    // TLS-on-connect nor given credentials (relays, maildev); then the host's own mode.
    // Named services get their preset only: full verification, always.
    let no_secrets = connector.secrets["user"].is_null() && connector.secrets["password"].is_null();
    let verification_mode = if !route.configured_host {
        VerificationMode::Full
    } else {
        let base = if !route.secure && no_secrets {
            VerificationMode::None
        } else {
            settings.verification_mode
        };
        custom.and_then(|it| it.verification_mode).unwrap_or(base)
    };
    let mut tls = TlsParameters::builder(route.host.clone());
    match verification_mode {
        VerificationMode::Full => {}
        VerificationMode::Certificate => tls = tls.dangerous_accept_invalid_hostnames(true),
        VerificationMode::None => tls = tls.dangerous_accept_invalid_certs(true),
    }
    if let Some(pem) = custom.and_then(|it| it.certificate_authorities.as_deref()) {
        tls = tls.certificate_store(CertificateStore::None);
        for certificate in split_pem_certificates(pem) {
            let certificate = Certificate::from_pem(&certificate)
                .map_err(|error| format!("invalid customHostSettings CA: {error}"))?;
            tls = tls.add_root_certificate(certificate);
        }
    }
    let tls = tls.build_rustls().map_err(|error| error.to_string())?;

    // With private addresses blocked, resolve here, check, and connect to the address
    // checked (TLS still verifies the name).
    let server = if settings.block_private_addresses {
        connect_address(&route.host, route.port).await?
    } else {
        route.host.clone()
    };
    let hello = ClientId::default();
    let ignore_tls = custom.is_some_and(|it| it.ignore_tls);
    let require_tls = custom.is_some_and(|it| it.require_tls);
    let exchange = async {
        let chain = |error: lettre::transport::smtp::Error| crate::errors::chain(&error);
        let mut connection = AsyncSmtpConnection::connect_tokio1(
            (server.as_str(), route.port),
            Some(settings.timeout),
            &hello,
            route.secure.then(|| tls.clone()),
            None,
        )
        .await
        .map_err(chain)?;
        if !route.secure {
            // STARTTLS when offered, as nodemailer does, unless ignoreTLS.
            if connection.can_starttls() && !ignore_tls {
                connection
                    .starttls(tls.clone(), &hello)
                    .await
                    .map_err(chain)?;
            } else if require_tls {
                return Err(
                    "the SMTP server does not offer STARTTLS, which smtp.requireTLS requires"
                        .to_owned(),
                );
            }
        }
        if let Some(credentials) = &credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(chain)?;
        }
        deliver(&mut connection, &envelope, &message.formatted()).await
    };
    let delivery = tokio::time::timeout(settings.timeout, exchange)
        .await
        .map_err(|_| format!("timeout of {}ms exceeded", settings.timeout.as_millis()))??;
    Ok(sent(&message, &envelope, &delivery))
}

/// What the server said to one message: its final reply and the recipients it took.
struct Delivery {
    response: Response,
    accepted: Vec<String>,
    rejected: Vec<String>,
    /// Milliseconds for MAIL and RCPT, and for DATA and the message (nodemailer's
    /// `envelopeTime` and `messageTime`), and the message's size in bytes.
    envelope_time: u128,
    message_time: u128,
    message_size: usize,
}

/// MAIL, one RCPT per recipient, DATA: recipients the server refuses are reported as
/// rejected and the others still get the message, as nodemailer (so Kibana) does.
async fn deliver(
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    message: &[u8],
) -> Result<Delivery, String> {
    let chain = |error: lettre::transport::smtp::Error| crate::errors::chain(&error);
    let started = std::time::Instant::now();
    connection
        .command(MailCommand::new(envelope.from().cloned(), vec![]))
        .await
        .map_err(chain)?;
    let (mut accepted, mut rejected, mut last_refusal) = (Vec::new(), Vec::new(), None);
    for recipient in envelope.to() {
        match connection
            .command(Rcpt::new(recipient.clone(), vec![]))
            .await
        {
            Ok(_) => accepted.push(recipient.to_string()),
            Err(error) => {
                rejected.push(recipient.to_string());
                last_refusal = Some(chain(error));
            }
        }
    }
    if accepted.is_empty() {
        return Err(format!(
            "Can't send mail - all recipients were rejected: {}",
            last_refusal.unwrap_or_default()
        ));
    }
    let envelope_time = started.elapsed().as_millis();
    let started = std::time::Instant::now();
    connection.command(Data).await.map_err(chain)?;
    let response = connection.message(message).await.map_err(chain)?;
    let message_time = started.elapsed().as_millis();
    let _ = connection.quit().await;
    Ok(Delivery {
        response,
        accepted,
        rejected,
        envelope_time,
        message_time,
        message_size: message.len(),
    })
}

/// The result's `data`, shaped like nodemailer's answer that Kibana returns.
fn sent(message: &Message, envelope: &Envelope, delivery: &Delivery) -> Value {
    let response = &delivery.response;
    let recipients: Vec<String> = envelope.to().iter().map(ToString::to_string).collect();
    let reply = format!(
        "{} {}",
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    );
    let message_id = message
        .headers()
        .get_raw("Message-ID")
        .unwrap_or_default()
        .to_owned();
    json!({
        "accepted": delivery.accepted,
        "rejected": delivery.rejected,
        "envelope": {
            "from": envelope.from().map(ToString::to_string),
            "to": recipients,
        },
        "messageId": message_id,
        "response": reply,
        "messageSize": delivery.message_size,
        "messageTime": delivery.message_time,
        "envelopeTime": delivery.envelope_time,
    })
}

fn build_message(mail: &Mail<'_>) -> Result<Message, String> {
    let mailbox = |address: &str| {
        Mailbox::from_str(address).map_err(|error| format!("invalid address {address}: {error}"))
    };
    let from = mailbox(mail.from)?;
    let mut builder = Message::builder()
        .message_id(Some(format!(
            "<{}@{}>",
            uuid::Uuid::new_v4(),
            from.email.domain()
        )))
        .from(from)
        .subject(mail.subject);
    for address in &mail.to {
        builder = builder.to(mailbox(address)?);
    }
    for address in &mail.cc {
        builder = builder.cc(mailbox(address)?);
    }
    // Bcc recipients go in the envelope only: lettre drops the header when sending.
    for address in &mail.bcc {
        builder = builder.bcc(mailbox(address)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.to_owned(),
            mail.html.to_owned(),
        ))
        .map_err(|error| error.to_string())
}

/// The first public address of the host; refuses loopback, private and link-local ones.
async fn connect_address(host: &str, port: u16) -> Result<String, String> {
    let refuse = |address: IpAddr| {
        format!(
            "target hostname \"{host}\" resolves to {address}, a loopback, private or link-local address, which xpack.actions.blockPrivateAddresses refuses"
        )
    };
    if let Ok(address) = host.parse::<IpAddr>() {
        return if is_private(address) {
            Err(refuse(address))
        } else {
            Ok(host.to_owned())
        };
    }
    let addresses: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|error| format!("getaddrinfo ENOTFOUND {host}: {error}"))?
        .map(|it| it.ip())
        .collect();
    match addresses.iter().find(|it| !is_private(**it)) {
        Some(address) => Ok(address.to_string()),
        None => Err(refuse(
            *addresses
                .first()
                .ok_or_else(|| format!("getaddrinfo ENOTFOUND {host}"))?,
        )),
    }
}

/// The certificates of a PEM bundle, one by one (lettre reads one per call).
fn split_pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let mut certificates = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let end_marker = "-----END CERTIFICATE-----";
        let Some(end) = rest[start..].find(end_marker) else {
            break;
        };
        let end = start + end + end_marker.len();
        certificates.push(rest.as_bytes()[start..end].to_vec());
        rest = &rest[end..];
    }
    certificates
}
