//! `.webhook`: sends `params.body` to the configured URL with POST or PUT.

use std::time::SystemTime;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use reqwest::{
    Method, StatusCode,
    header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue},
};
use serde_json::{Value, json};

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext,
    License, Retry, Schemas, TypeInfo, ValidationContext,
    outbound::{IdentitySource, TlsOverrides, TransportFailure, VerificationMode, decode_base64},
    retry_after_seconds,
};
use crate::schema::{boolean, literal, maybe, nullable, object, one_of, record, string};

pub const AUTH_BASIC: &str = "webhook-authentication-basic";
pub const AUTH_SSL: &str = "webhook-authentication-ssl";

pub struct Webhook {
    schemas: Schemas,
}

impl Webhook {
    pub fn new() -> Self {
        let nullable_string = || nullable(string());
        Self {
            schemas: Schemas {
                config: object([
                    ("url", string()),
                    (
                        "method",
                        one_of([literal("post"), literal("put")]).default("post"),
                    ),
                    ("headers", nullable(record(string()))),
                    ("hasAuth", boolean().default(true)),
                    (
                        "authType",
                        maybe(one_of([
                            literal(AUTH_BASIC),
                            literal(AUTH_SSL),
                            literal(Value::Null),
                        ])),
                    ),
                    (
                        "certType",
                        maybe(one_of([literal("ssl-crt-key"), literal("ssl-pfx")])),
                    ),
                    ("ca", maybe(string())),
                    (
                        "verificationMode",
                        maybe(one_of([
                            literal("none"),
                            literal("certificate"),
                            literal("full"),
                        ])),
                    ),
                ]),
                secrets: object([
                    ("user", nullable_string()),
                    ("password", nullable_string()),
                    ("crt", nullable_string()),
                    ("key", nullable_string()),
                    ("pfx", nullable_string()),
                ])
                .check(check_secret_combination),
                params: object([("body", maybe(string()))]),
            },
        }
    }
}

impl Default for Webhook {
    fn default() -> Self {
        Self::new()
    }
}

/// Kibana accepts exactly these combinations of webhook secrets.
fn check_secret_combination(secrets: &Value) -> Result<(), String> {
    let set = |key: &str| secrets[key].as_str().is_some_and(|it| !it.is_empty());
    let (user, password, crt, key, pfx) = (
        set("user"),
        set("password"),
        set("crt"),
        set("key"),
        set("pfx"),
    );
    let none = !user && !password && !crt && !key && !pfx;
    let basic = user && password && !crt && !key && !pfx;
    let crt_key = crt && key && !user && !pfx;
    let pfx_only = pfx && !user && !crt && !key;
    if none || basic || crt_key || pfx_only {
        Ok(())
    } else {
        Err("must specify one of the following schemas: user and password; crt and key (with optional password); or pfx (with optional password)".to_owned())
    }
}

impl ConnectorType for Webhook {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".webhook",
            name: "Webhook",
            minimum_license: License::Gold,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        let url = config["url"].as_str().unwrap_or_default();
        if reqwest::Url::parse(url).is_err() {
            return Err(
                "error configuring webhook action: unable to parse url: TypeError: Invalid URL"
                    .to_owned(),
            );
        }
        cx.allowed_hosts
            .check_url(url)
            .map_err(|message| format!("error configuring webhook action: {message}"))?;
        let has_auth_type = config["authType"].as_str().is_some();
        if has_auth_type && config["hasAuth"] == json!(false) {
            return Err(
                "error configuring webhook action: authType must be null or undefined if hasAuth is false"
                    .to_owned(),
            );
        }
        if cx.webhook_pfx_disabled && config["certType"] == json!("ssl-pfx") {
            return Err(
                "error validation webhook action config: certType \"ssl-pfx\" is disabled"
                    .to_owned(),
            );
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
            let config = connector.config;
            let secrets = connector.secrets;
            let method = match config["method"].as_str() {
                Some("put") => Method::PUT,
                _ => Method::POST,
            };
            let url = config["url"].as_str().unwrap_or_default();
            let headers = request_headers(config, secrets).map_err(|service_message| {
                ExecuteError::new("error calling webhook, request failed")
                    .with_service_message(service_message)
            })?;
            let tls = tls_overrides(cx, config, secrets)
                .await
                .map_err(|service_message| {
                    ExecuteError::new("error calling webhook, request failed")
                        .with_service_message(service_message)
                })?;
            let mut request = cx.http.request(method, url).headers(headers);
            // Kibana sends no body for an empty one.
            let body = params["body"].as_str();
            if let Some(body) = body.filter(|it| !it.is_empty()) {
                request = request.body(body.to_owned());
            }

            let request_failed = |failure: TransportFailure| {
                ExecuteError::new("error calling webhook, request failed")
                    .with_service_message(failure.to_string())
            };
            let response = cx.http.send(request, &tls).await.map_err(request_failed)?;
            let status = response.status();
            let headers = response.headers().clone();
            // Read even on success: an answer over maxResponseContentLength fails the
            // call, as in Kibana. The answer's `message` goes into errors.
            let answer = cx.http.read_body(response).await;
            if status.is_success() {
                answer.map_err(request_failed)?;
                tracing::debug!(connector_id = connector.id, %status, "Webhook answered.");
                return Ok(body.map(|it| Value::String(it.to_owned())));
            }
            Err(error_for_status(
                status,
                &headers,
                &answer.unwrap_or(Value::Null),
            ))
        })
    }
}

/// The client certificate, CA and verification mode of an SSL-authenticated webhook
/// (Kibana applies `ca` and `verificationMode` only in that mode).
async fn tls_overrides(
    cx: &ExecutionContext,
    config: &Value,
    secrets: &Value,
) -> Result<TlsOverrides, String> {
    let uses_ssl = config["hasAuth"] != json!(false) && config["authType"] == json!(AUTH_SSL);
    if !uses_ssl {
        return Ok(TlsOverrides::default());
    }
    connector_tls(cx, config, secrets, true).await
}

/// The TLS overrides of Kibana's `buildConnectorAuth`, shared with `.cases-webhook`:
/// `ca` and `verificationMode` from the config, and with `with_identity` the client
/// certificate of the secrets (`pfx`, else `crt` and `key`; `password` unlocks it).
pub(super) async fn connector_tls(
    cx: &ExecutionContext,
    config: &Value,
    secrets: &Value,
    with_identity: bool,
) -> Result<TlsOverrides, String> {
    let decode = |field: &str| -> Result<Option<Vec<u8>>, String> {
        secrets[field]
            .as_str()
            .or_else(|| config[field].as_str())
            .map(|text| decode_base64(text).map_err(|error| format!("{field}: {error}")))
            .transpose()
    };
    let password = secrets["password"].as_str();
    let material = if with_identity {
        (decode("pfx")?, decode("crt")?, decode("key")?)
    } else {
        (None, None, None)
    };
    let identity = match material {
        (Some(pfx), _, _) => Some(
            cx.http
                .client_identity(IdentitySource::Pfx {
                    pfx: &pfx,
                    password,
                })
                .await?,
        ),
        (None, Some(crt), Some(key)) => Some(
            cx.http
                .client_identity(IdentitySource::CrtKey {
                    crt: &crt,
                    key: &key,
                    password,
                })
                .await?,
        ),
        _ => None,
    };
    Ok(TlsOverrides {
        verification_mode: config["verificationMode"]
            .as_str()
            .and_then(VerificationMode::parse),
        certificate_authorities: decode("ca")?,
        identity,
    })
}

/// Basic auth first, then the configured headers, so a configured `Authorization`
/// replaces the basic one, as in Kibana.
pub(super) fn request_headers(config: &Value, secrets: &Value) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    let auth_type = config["authType"].as_str();
    let uses_basic =
        config["hasAuth"] != json!(false) && auth_type.is_none_or(|it| it == AUTH_BASIC);
    if let (true, Some(user), Some(password)) = (
        uses_basic,
        secrets["user"].as_str(),
        secrets["password"].as_str(),
    ) {
        let credentials = BASE64.encode(format!("{user}:{password}"));
        let mut value = HeaderValue::from_str(&format!("Basic {credentials}"))
            .map_err(|_| "Invalid character in header content [\"authorization\"]".to_owned())?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    for (name, value) in config["headers"].as_object().into_iter().flatten() {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("Header name must be a valid HTTP token [\"{name}\"]"))?;
        let header_value = HeaderValue::from_str(value.as_str().unwrap_or_default())
            .map_err(|_| format!("Invalid character in header content [\"{name}\"]"))?;
        headers.insert(header_name, header_value);
    }
    Ok(headers)
}

/// Kibana's result for a non-2xx answer: 5xx retry later, 429 retry at the time the
/// service gave, anything else is an invalid response that retrying will not fix.
fn error_for_status(status: StatusCode, headers: &HeaderMap, answer: &Value) -> ExecuteError {
    let reason = status.canonical_reason().unwrap_or_default();
    let service_message = match &answer["message"] {
        Value::Null => format!("[{}] {reason}", status.as_u16()),
        Value::String(message) if message.is_empty() => format!("[{}] {reason}", status.as_u16()),
        Value::String(message) => format!("[{}] {reason}: {message}", status.as_u16()),
        other => format!("[{}] {reason}: {other}", status.as_u16()),
    };
    let retry_later = || {
        ExecuteError::new("error calling webhook, retry later")
            .with_service_message(service_message.clone())
            .with_retry(Retry::Yes)
    };
    if status.is_server_error() {
        return retry_later();
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return match retry_after_seconds(headers) {
            Some(delay) => {
                let at = SystemTime::now() + delay;
                ExecuteError::new(format!(
                    "error calling webhook, retry at {}",
                    crate::timestamp::iso(at)
                ))
                .with_service_message(service_message)
                .with_retry(Retry::At(at))
            }
            None => retry_later(),
        };
    }
    ExecuteError::new("error calling webhook, invalid response")
        .with_service_message(service_message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector_types::validate_connector;

    #[track_caller]
    fn check_invalid(config: Value, secrets: Value, expected: &str) {
        let error = validate_connector(&Webhook::new(), &config, &secrets, &Default::default())
            .unwrap_err();
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn defaults_are_filled_in() {
        let valid = validate_connector(
            &Webhook::new(),
            &json!({ "url": "http://127.0.0.1/" }),
            &json!({}),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(
            valid.config,
            json!({ "url": "http://127.0.0.1/", "method": "post", "headers": null, "hasAuth": true })
        );
        assert_eq!(
            valid.secrets,
            json!({ "user": null, "password": null, "crt": null, "key": null, "pfx": null })
        );
    }

    #[test]
    fn refuses_what_kibana_refuses() {
        check_invalid(
            json!({ "url": "not a url" }),
            json!({}),
            "error validating action type config: error configuring webhook action: unable to parse url: TypeError: Invalid URL",
        );
        check_invalid(
            json!({ "url": "http://127.0.0.1/", "hasAuth": false, "authType": AUTH_BASIC }),
            json!({}),
            "error validating action type config: error configuring webhook action: authType must be null or undefined if hasAuth is false",
        );
        check_invalid(
            json!({ "url": "http://127.0.0.1/" }),
            json!({ "user": "elastic" }),
            "error validating action type secrets: must specify one of the following schemas: user and password; crt and key (with optional password); or pfx (with optional password)",
        );
        check_invalid(
            json!({ "url": "http://127.0.0.1/", "method": "get" }),
            json!({}),
            "error validating action type config: [method]: types that failed validation:\n- [method.0]: expected value to equal [post]\n- [method.1]: expected value to equal [put]",
        );
    }

    #[test]
    fn server_errors_retry_client_errors_do_not() {
        let headers = HeaderMap::new();
        let error = error_for_status(StatusCode::BAD_GATEWAY, &headers, &Value::Null);
        assert_eq!(error.retry(), Some(Retry::Yes));
        assert_eq!(error.service_message(), Some("[502] Bad Gateway"));
        let error = error_for_status(
            StatusCode::BAD_REQUEST,
            &headers,
            &json!({ "message": "no such hook" }),
        );
        assert_eq!(error.retry(), None);
        assert_eq!(error.message(), "error calling webhook, invalid response");
        assert_eq!(
            error.service_message(),
            Some("[400] Bad Request: no such hook")
        );
    }
}
