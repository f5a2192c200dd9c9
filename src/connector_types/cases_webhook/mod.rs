//! `.cases-webhook` ("Webhook - Case Management"): pushes a case to any REST API
//! described by the connector's config: URLs and JSON bodies are Mustache templates,
//! and response keys are paths into the answers. A classic executor with
//! `pushToService` only.
//!
//! [`templates`] renders and checks what is sent and read; [`flow`] makes the calls.

mod flow;
mod templates;

use serde_json::Value;

use super::{
    BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License, Schemas,
    TypeInfo, ValidationContext, itsm,
    webhook::{AUTH_BASIC, AUTH_SSL},
};
use crate::schema::{
    Schema, array, boolean, literal, maybe, nullable, object, one_of, record, string,
};

const NAME: &str = "Webhook - Case Management";
const AUTH_OAUTH2: &str = "webhook-oauth2-client-credentials";
const AUTH_QUERY_PARAM: &str = "http-authentication-query-param";

/// Cases only: the connector is written for pushing cases.
const FEATURES: &[&str] = &["cases"];

/// The URL fields of the config, in the order Kibana checks them.
const URL_FIELDS: &[&str] = &[
    "createIncidentUrl",
    "createCommentUrl",
    "viewIncidentUrl",
    "getIncidentUrl",
    "updateIncidentUrl",
];

pub struct CasesWebhook {
    schemas: Schemas,
}

impl CasesWebhook {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: config_schema(),
                secrets: secrets_schema(),
                params: itsm::sub_action("pushToService", push_schema()),
            },
        }
    }
}

impl Default for CasesWebhook {
    fn default() -> Self {
        Self::new()
    }
}

/// `one_of` over literal strings.
fn choice(values: &[&'static str]) -> Schema {
    one_of(values.iter().map(|it| literal(*it)))
}

fn config_schema() -> Schema {
    object([
        ("createIncidentUrl", string()),
        (
            "createIncidentMethod",
            choice(&["post", "put"]).default("post"),
        ),
        ("createIncidentJson", string()),
        ("createIncidentResponseKey", string()),
        ("getIncidentMethod", choice(&["get", "post"]).default("get")),
        ("getIncidentUrl", string()),
        ("getIncidentJson", nullable(string())),
        ("getIncidentResponseExternalTitleKey", string()),
        ("viewIncidentUrl", string()),
        ("updateIncidentUrl", string()),
        (
            "updateIncidentMethod",
            choice(&["post", "patch", "put"]).default("put"),
        ),
        ("updateIncidentJson", string()),
        ("createCommentUrl", nullable(string())),
        (
            "createCommentMethod",
            one_of([
                literal("post"),
                literal("put"),
                literal("patch"),
                literal(Value::Null),
            ])
            .default("put"),
        ),
        ("createCommentJson", nullable(string())),
        ("headers", nullable(record(string()))),
        ("hasAuth", boolean().default(true)),
        (
            "authType",
            maybe(one_of([
                literal(AUTH_BASIC),
                literal(AUTH_SSL),
                literal(AUTH_OAUTH2),
                literal(AUTH_QUERY_PARAM),
                literal(Value::Null),
            ])),
        ),
        ("certType", maybe(choice(&["ssl-crt-key", "ssl-pfx"]))),
        ("ca", maybe(string())),
        (
            "verificationMode",
            maybe(choice(&["none", "certificate", "full"])),
        ),
        ("accessTokenUrl", maybe(string())),
        ("clientId", maybe(string())),
        ("scope", maybe(string())),
        (
            "additionalFields",
            maybe(one_of([string(), literal(Value::Null)])),
        ),
    ])
}

fn secrets_schema() -> Schema {
    object([
        ("user", nullable(string())),
        ("password", nullable(string())),
        ("crt", nullable(string())),
        ("key", nullable(string())),
        ("pfx", nullable(string())),
        ("clientSecret", nullable(string())),
        ("secretHeaders", nullable(record(string()))),
    ])
    .check(check_secret_combination)
}

fn push_schema() -> Schema {
    let nullable_string = || nullable(string());
    object([
        (
            "incident",
            object([
                ("title", string()),
                ("description", nullable_string()),
                ("id", nullable_string()),
                ("severity", nullable_string()),
                ("status", nullable_string()),
                ("externalId", nullable_string()),
                ("tags", nullable(array(string()))),
            ]),
        ),
        ("comments", itsm::comments_schema()),
    ])
}

/// Kibana accepts exactly these combinations of secrets (an empty string counts as
/// not set).
fn check_secret_combination(secrets: &Value) -> Result<(), String> {
    let set = |key: &str| secrets[key].as_str().is_some_and(|it| !it.is_empty());
    let [user, password, crt, key, pfx, client_secret] =
        ["user", "password", "crt", "key", "pfx", "clientSecret"].map(set);
    let nothing = !user && !password && !crt && !key && !pfx && !client_secret;
    let basic = user && password && !crt && !key && !pfx && !client_secret;
    let crt_key = crt && key && !user && !pfx && !client_secret;
    let pfx_only = pfx && !crt && !key && !user && !client_secret;
    let oauth2 = client_secret && !user && !password && !crt && !key && !pfx;
    if nothing || basic || crt_key || pfx_only || oauth2 {
        Ok(())
    } else {
        Err("must specify one of the following schemas: user and password; crt and key (with optional password); pfx (with optional password); or clientSecret (for OAuth2)".to_owned())
    }
}

impl ConnectorType for CasesWebhook {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".cases-webhook",
            name: NAME,
            minimum_license: License::Gold,
            supported_feature_ids: FEATURES,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        if config["authType"] == AUTH_OAUTH2 {
            return Err(
                "OAuth2 authentication is not supported for cases webhook connector".to_owned(),
            );
        }
        // Kibana's schema takes it and then sends every request without credentials;
        // a connector that silently drops its authentication is refused instead.
        if config["authType"] == AUTH_QUERY_PARAM {
            return Err(
                "Query parameter authentication is not supported for cases webhook connector"
                    .to_owned(),
            );
        }
        let urls = URL_FIELDS
            .iter()
            .filter_map(|field| config[field].as_str())
            .filter(|url| !url.is_empty());
        for url in urls {
            if reqwest::Url::parse(url).is_err() {
                return Err(format!(
                    "error configuring cases webhook action: unable to parse {url}: TypeError: Invalid URL"
                ));
            }
            cx.allowed_hosts
                .check_url(url)
                .map_err(|message| format!("error configuring cases webhook action: {message}"))?;
        }
        Ok(())
    }

    /// Kibana's test is on the secrets as sent; here they come with every field
    /// filled in, so "empty" means none is set.
    fn validate_connector(&self, config: &Value, secrets: &Value) -> Result<(), String> {
        let empty = secrets
            .as_object()
            .is_none_or(|fields| fields.values().all(Value::is_null));
        if config["hasAuth"] == true && empty {
            return Err("must specify a secrets configuration".to_owned());
        }
        Ok(())
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let service = flow::Service::new(cx, connector.config, connector.secrets)?;
            match params["subAction"].as_str().unwrap_or_default() {
                "pushToService" => {
                    let data = service
                        .push(&params["subActionParams"])
                        .await
                        .map_err(|failure| ExecuteError::thrown(failure.message))?;
                    tracing::debug!(connector_id = connector.id, "Case pushed.");
                    Ok(Some(data))
                }
                other => Err(itsm::unsupported_sub_action("", other)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::connector_types::validate_connector;

    fn config() -> Value {
        json!({
            "createIncidentUrl": "https://cases.example/issue",
            "createIncidentJson": "{}",
            "createIncidentResponseKey": "id",
            "getIncidentUrl": "https://cases.example/issue/{{{external.system.id}}}",
            "getIncidentResponseExternalTitleKey": "key",
            "viewIncidentUrl": "https://cases.example/browse/{{{external.system.title}}}",
            "updateIncidentUrl": "https://cases.example/issue/{{{external.system.id}}}",
            "updateIncidentJson": "{}",
        })
    }

    #[test]
    fn defaults_are_filled_in() {
        let valid = validate_connector(
            &CasesWebhook::new(),
            &config(),
            &json!({ "user": "u", "password": "p" }),
            &ValidationContext::default(),
        )
        .unwrap();
        let mut expected = config();
        for (key, value) in [
            ("createIncidentMethod", json!("post")),
            ("getIncidentMethod", json!("get")),
            ("getIncidentJson", Value::Null),
            ("updateIncidentMethod", json!("put")),
            ("createCommentUrl", Value::Null),
            ("createCommentMethod", json!("put")),
            ("createCommentJson", Value::Null),
            ("headers", Value::Null),
            ("hasAuth", json!(true)),
        ] {
            expected[key] = value;
        }
        assert_eq!(valid.config, expected);
        assert_eq!(
            valid.secrets,
            json!({ "user": "u", "password": "p", "crt": null, "key": null, "pfx": null,
                    "clientSecret": null, "secretHeaders": null })
        );
    }

    #[test]
    fn secrets_come_in_kibanas_combinations() {
        for fine in [
            json!({}),
            json!({ "user": "u", "password": "p" }),
            json!({ "crt": "c", "key": "k", "password": "p" }),
            json!({ "pfx": "x" }),
            json!({ "clientSecret": "s" }),
        ] {
            assert_eq!(check_secret_combination(&fine), Ok(()), "{fine}");
        }
        for refused in [
            json!({ "user": "u" }),
            json!({ "pfx": "x", "crt": "c" }),
            json!({ "clientSecret": "s", "password": "p" }),
        ] {
            assert!(check_secret_combination(&refused).is_err(), "{refused}");
        }
    }
}
