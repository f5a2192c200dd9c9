//! `.slack`: a message to a Slack incoming webhook.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ErrorSource, ExecuteError,
    ExecutionContext, License, Retry, Schemas, TypeInfo, ValidationContext,
};
use crate::schema::{object, string};

pub struct Slack {
    schemas: Schemas,
}

impl Slack {
    pub fn new() -> Self {
        Self {
            schemas: incoming_webhook_schemas(),
        }
    }
}

/// What Slack's and Teams's incoming webhooks take: no config, the webhook URL as the
/// secret, a message.
pub(super) fn incoming_webhook_schemas() -> Schemas {
    Schemas {
        config: object([]).default(json!({})),
        secrets: object([("webhookUrl", string())]),
        params: object([("message", string().min_length(1))]),
    }
}

/// Slack's own webhook client names itself so; Kibana sends what that client sends.
fn user_agent() -> String {
    format!(
        "@slack:webhook/7.0.2 switchboard/{} {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS
    )
}

/// Checks a webhook URL secret as Kibana's Slack and Teams types do.
pub(super) fn check_webhook_url(
    kind: &str,
    url: &str,
    cx: &ValidationContext,
) -> Result<(), String> {
    if reqwest::Url::parse(url).map_or(true, |it| it.host_str().is_none()) {
        return Err(format!(
            "error configuring {kind} action: unable to parse host name from webhookUrl"
        ));
    }
    cx.allowed_hosts
        .check_url(url)
        .map_err(|message| format!("error configuring {kind} action: {message}"))
}

impl ConnectorType for Slack {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".slack",
            name: "Slack",
            minimum_license: License::Gold,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_secrets(&self, secrets: &Value, cx: &ValidationContext) -> Result<(), String> {
        check_webhook_url(
            "slack",
            secrets["webhookUrl"].as_str().unwrap_or_default(),
            cx,
        )
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let url = connector.secrets["webhookUrl"].as_str().unwrap_or_default();
            let request = cx
                .http
                .request(Method::POST, url)
                .header("user-agent", user_agent())
                .json(&json!({ "text": params["message"] }));
            let answer = cx.http.call(request).await.map_err(|failure| {
                ExecuteError::new("error posting slack message")
                    .with_service_message(format!("A request error occurred: {}", failure.message))
            })?;
            let protocol_error = || {
                format!(
                    "An HTTP protocol error occurred: statusCode = {}",
                    answer.status.as_u16()
                )
            };
            if answer.status.is_server_error() {
                return Err(
                    ExecuteError::new("error posting a slack message, retry later")
                        .with_service_message(protocol_error())
                        .with_retry(Retry::Yes)
                        .with_source(ErrorSource::Framework),
                );
            }
            if answer.status == StatusCode::TOO_MANY_REQUESTS {
                return Err(ExecuteError::retry_later_or_at(
                    "error posting a slack message",
                    &answer.headers,
                )
                .with_service_message(protocol_error()));
            }
            if !answer.status.is_success() {
                return Err(ExecuteError::new(format!(
                    "unexpected http response from slack: {} {}",
                    answer.status.as_u16(),
                    answer.status_text()
                )));
            }
            let text = match &answer.body {
                Value::String(text) => text.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            if text != "ok" {
                return Err(
                    ExecuteError::new("error posting slack message").with_service_message(text)
                );
            }
            Ok(Some(json!({ "text": "ok" })))
        })
    }
}
