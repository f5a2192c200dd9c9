//! `.torq`: triggers a Torq workflow through its webhook integration.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext,
    License, Retry, Schemas, TypeInfo, ValidationContext,
};
use crate::schema::{object, string};

/// Hosts a Torq webhook may be on (`localhost` for trying things out, as Kibana allows).
const TORQ_HOSTS: [&str; 3] = ["hooks.torq.io", "hooks.eu.torq.io", "localhost"];

pub struct Torq {
    schemas: Schemas,
}

impl Torq {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([("webhookIntegrationUrl", string())]),
                secrets: object([("token", string())]),
                params: object([("body", string())]),
            },
        }
    }
}

impl ConnectorType for Torq {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".torq",
            name: "Torq",
            minimum_license: License::Gold,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        let text = config["webhookIntegrationUrl"].as_str().unwrap_or_default();
        let prefix = "error configuring send to Torq action";
        let Ok(url) = reqwest::Url::parse(text) else {
            return Err(format!(
                "{prefix}: unable to parse url: TypeError: Invalid URL"
            ));
        };
        cx.allowed_hosts
            .check_url(text)
            .map_err(|message| format!("{prefix}: {message}"))?;
        if !TORQ_HOSTS.contains(&url.host_str().unwrap_or_default()) {
            return Err(format!(
                "{prefix}: url must begin with https://hooks.torq.io or https://hooks.eu.torq.io"
            ));
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
            let body = params["body"].as_str().unwrap_or_default();
            // Only an empty body is `null`; blank text is invalid JSON, as in JavaScript.
            let parsed: Value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(body).map_err(|error| {
                    ExecuteError::new("error triggering Torq workflow, invalid body")
                        .with_service_message(error.to_string())
                })?
            };
            let url = connector.config["webhookIntegrationUrl"]
                .as_str()
                .unwrap_or_default();
            let token = connector.secrets["token"].as_str().unwrap_or_default();
            let request = cx
                .http
                .request(Method::POST, url)
                .header("x-torq-token", token)
                .json(&parsed);
            let answer = cx.http.call(request).await.map_err(|failure| {
                ExecuteError::new("error triggering Torq workflow, request failed")
                    .with_service_message(failure.to_string())
            })?;
            if answer.status.is_success() {
                return Ok(Some(Value::String(body.to_owned())));
            }
            let mut service_message =
                format!("[{}] {}", answer.status.as_u16(), answer.status_text());
            if let Some(message) = answer.body["message"].as_str() {
                service_message.push_str(&format!(": {message}"));
            }
            let error = match answer.status {
                status if status.is_server_error() => {
                    ExecuteError::new("error triggering Torq workflow, retry later")
                        .with_retry(Retry::Yes)
                }
                StatusCode::TOO_MANY_REQUESTS => ExecuteError::retry_later_or_at(
                    "error triggering Torq workflow",
                    &answer.headers,
                ),
                StatusCode::METHOD_NOT_ALLOWED => {
                    ExecuteError::new("error triggering Torq workflow, method is not supported")
                }
                StatusCode::UNAUTHORIZED => {
                    ExecuteError::new("error triggering Torq workflow, unauthorised")
                }
                StatusCode::NOT_FOUND => ExecuteError::new(
                    "error triggering Torq workflow, make sure the webhook URL is valid",
                ),
                _ => ExecuteError::new("error triggering Torq workflow, invalid response"),
            };
            Err(error.with_service_message(service_message))
        })
    }
}
