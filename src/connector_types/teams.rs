//! `.teams`: a message to a Microsoft Teams incoming webhook.

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext,
    License, Retry, Schemas, TypeInfo, ValidationContext,
    slack::{check_webhook_url, incoming_webhook_schemas},
};

pub struct Teams {
    schemas: Schemas,
}

impl Teams {
    pub fn new() -> Self {
        Self {
            schemas: incoming_webhook_schemas(),
        }
    }
}

impl ConnectorType for Teams {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".teams",
            name: "Microsoft Teams",
            minimum_license: License::Gold,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_secrets(&self, secrets: &Value, cx: &ValidationContext) -> Result<(), String> {
        check_webhook_url(
            "teams",
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
            let message = params["message"].as_str().unwrap_or_default();
            let request = cx
                .http
                .request(Method::POST, url)
                .json(&json!({ "text": message }));
            let answer = cx.http.call(request).await.map_err(|failure| {
                tracing::debug!(connector_id = connector.id, "Teams call failed: {failure}");
                ExecuteError::new("error posting to Microsoft Teams, unexpected error")
            })?;
            if answer.status.is_success() {
                // Teams reports throttling in a 2xx answer's text.
                let throttled = answer
                    .body
                    .as_str()
                    .is_some_and(|it| it.contains("ErrorCode:ApplicationThrottled"));
                if throttled {
                    return Err(ExecuteError::retry_later_or_at(
                        "error posting a Microsoft Teams message",
                        &answer.headers,
                    )
                    .with_service_message_when_dated(message));
                }
                return Ok(Some(json!({ "text": message })));
            }
            if answer.status.is_server_error() {
                return Err(ExecuteError::new(
                    "error posting a Microsoft Teams message, retry later",
                )
                .with_retry(Retry::Yes));
            }
            Err(
                ExecuteError::new("error posting to Microsoft Teams, invalid response")
                    .with_service_message(format!(
                        "[{}] {}",
                        answer.status.as_u16(),
                        answer.status_text()
                    )),
            )
        })
    }
}
