//! `.xmatters`: triggers an xMatters flow, with basic authentication or a URL that
//! carries an API key.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{
    ALERTING_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License,
    Retry, Schemas, TypeInfo, ValidationContext,
};
use crate::schema::{boolean, maybe, nullable, object, string};

const PARAM_KEYS: [&str; 7] = [
    "alertActionGroupName",
    "signalId",
    "ruleName",
    "date",
    "severity",
    "spaceId",
    "tags",
];

pub struct XMatters {
    schemas: Schemas,
}

impl XMatters {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([
                    ("configUrl", nullable(string())),
                    ("usesBasic", boolean().default(true)),
                ]),
                secrets: object([
                    ("user", nullable(string())),
                    ("password", nullable(string())),
                    ("secretsUrl", nullable(string())),
                ]),
                params: object(PARAM_KEYS.map(|key| {
                    let schema = if key == "severity" {
                        string()
                    } else {
                        maybe(string())
                    };
                    (key, schema)
                })),
            },
        }
    }
}

/// The URL in an error message without its path and query: a secrets URL carries the
/// API key there (Kibana repeats it whole; Switchboard never shows a secret).
fn without_secret_parts(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "<secretsUrl>".to_owned(),
        |it| {
            format!(
                "{}://{}/...",
                it.scheme(),
                it.host_str().unwrap_or_default()
            )
        },
    )
}

impl ConnectorType for XMatters {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".xmatters",
            name: "xMatters",
            minimum_license: License::Gold,
            supported_feature_ids: ALERTING_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        if config["usesBasic"] == json!(false) {
            return Ok(());
        }
        let Some(url) = config["configUrl"].as_str().filter(|it| !it.is_empty()) else {
            return Ok(());
        };
        if reqwest::Url::parse(url).is_err() {
            return Err(
                "Error configuring xMatters action: unable to parse url: Invalid URL".to_owned(),
            );
        }
        cx.allowed_hosts
            .check_url(url)
            .map_err(|message| format!("Error configuring xMatters action: {message}"))
    }

    fn validate_secrets(&self, secrets: &Value, cx: &ValidationContext) -> Result<(), String> {
        let set = |key: &str| secrets[key].as_str().is_some_and(|it| !it.is_empty());
        let (user, password, secrets_url) = (set("user"), set("password"), set("secretsUrl"));
        if !user && !password && !secrets_url {
            return Err(
                "Provide either secretsUrl link or user/password to authenticate".to_owned(),
            );
        }
        if secrets_url && (user || password) {
            return Err("Cannot use user/password for URL authentication. Provide valid secretsUrl or use Basic Authentication.".to_owned());
        }
        if secrets_url {
            let url = secrets["secretsUrl"].as_str().unwrap_or_default();
            if reqwest::Url::parse(url).is_err() {
                return Err("Invalid secretsUrl: TypeError: Invalid URL".to_owned());
            }
            if cx.allowed_hosts.check_url(url).is_err() {
                return Err(format!(
                    "target url \"{}\" is not added to the Kibana config xpack.actions.allowedHosts",
                    without_secret_parts(url)
                ));
            }
        } else if !(user && password) {
            return Err("Both user and password must be specified.".to_owned());
        }
        Ok(())
    }

    fn validate_connector(&self, config: &Value, secrets: &Value) -> Result<(), String> {
        let present = |value: &Value| !value.is_null();
        let set = |value: &Value| value.as_str().is_some_and(|it| !it.is_empty());
        if config["usesBasic"] != json!(false) {
            if set(&secrets["secretsUrl"]) {
                return Err("secretsUrl should not be provided when usesBasic is true".to_owned());
            }
            if !present(&secrets["user"]) {
                return Err("Provide valid Username".to_owned());
            }
            if !present(&secrets["password"]) {
                return Err("Provide valid Password".to_owned());
            }
            if !present(&config["configUrl"]) {
                return Err("Provide valid configUrl".to_owned());
            }
        } else {
            if set(&secrets["user"]) || set(&secrets["password"]) {
                return Err(
                    "Username and password should not be provided when usesBasic is false"
                        .to_owned(),
                );
            }
            if set(&config["configUrl"]) {
                return Err("configUrl should not be provided when usesBasic is false".to_owned());
            }
            if !present(&secrets["secretsUrl"]) {
                return Err("Provide valid secretsUrl with API Key".to_owned());
            }
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
            let (config, secrets) = (connector.config, connector.secrets);
            let uses_basic = config["usesBasic"] != json!(false);
            let url = if uses_basic {
                config["configUrl"].as_str()
            } else {
                secrets["secretsUrl"].as_str()
            };
            let failed = |message: String| {
                ExecuteError::new("Error triggering xMatters workflow")
                    .with_service_message(message)
            };
            let url = url.ok_or_else(|| failed("Error: no url provided".to_owned()))?;
            let mut payload = Map::new();
            for key in PARAM_KEYS {
                if let Some(value) = params.get(key).filter(|it| !it.is_null()) {
                    payload.insert(key.to_owned(), value.clone());
                }
            }
            if payload["severity"].as_str().is_none_or(str::is_empty) {
                payload.insert("severity".to_owned(), json!("High"));
            }
            let payload = Value::Object(payload);
            let mut request = cx.http.request(Method::POST, url).json(&payload);
            if uses_basic {
                let credentials = format!(
                    "{}:{}",
                    secrets["user"].as_str().unwrap_or_default(),
                    secrets["password"].as_str().unwrap_or_default()
                );
                request = request.header(
                    "authorization",
                    format!("Basic {}", BASE64.encode(credentials)),
                );
            }
            let answer = cx
                .http
                .call(request)
                .await
                .map_err(|failure| failed(failure.message))?;
            let status = answer.status.as_u16();
            if answer.status.is_success() {
                return Ok(Some(payload));
            }
            if answer.status == StatusCode::TOO_MANY_REQUESTS || answer.status.is_server_error() {
                return Err(ExecuteError::new(format!(
                    "Error triggering xMatters flow: http status {status}, retry later"
                ))
                .with_retry(Retry::Yes));
            }
            Err(ExecuteError::new(format!(
                "Error triggering xMatters flow: unexpected status {status}"
            )))
        })
    }
}
