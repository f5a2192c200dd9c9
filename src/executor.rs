//! Runs a connector: load it, open its secrets, check params, config and secrets,
//! execute, and build Kibana's result. `_execute` and the queue's workers both run
//! connectors through here.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::{
    connector_types::{self, CallerRights, Connector, ErrorSource, ExecuteError, Retry},
    service::{ConnectorService, ServiceError},
};

/// Kibana's execution result as `_execute` returns it. Field order follows Kibana's
/// (the result's own fields, then `connector_id`, `retry`, `service_message`).
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionResult {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(rename = "errorSource", skip_serializing_if = "Option::is_none")]
    pub error_source: Option<&'static str>,
    pub connector_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Error,
}

impl ExecutionResult {
    fn ok(connector_id: &str, data: Option<Value>) -> Self {
        Self {
            status: Status::Ok,
            message: None,
            data,
            error_source: None,
            connector_id: connector_id.to_owned(),
            retry: None,
            service_message: None,
        }
    }

    fn error(connector_id: &str, error: &ExecuteError, source: ErrorSource) -> Self {
        Self {
            status: Status::Error,
            message: Some(error.message().to_owned()),
            data: None,
            error_source: Some(source.as_str()),
            connector_id: connector_id.to_owned(),
            retry: error.retry().map(retry_value),
            service_message: error.service_message().map(str::to_owned),
        }
    }
}

fn retry_value(retry: Retry) -> Value {
    match retry {
        Retry::No => Value::Bool(false),
        Retry::Yes => Value::Bool(true),
        Retry::At(at) => Value::String(crate::timestamp::iso(at)),
    }
}

/// One run of a connector: Kibana's result, and what the execution log records of it.
#[derive(Debug)]
pub struct Run {
    pub result: ExecutionResult,
    pub connector_name: String,
    pub type_id: String,
    pub started: SystemTime,
    pub duration: Duration,
    /// The failure's `retry`, as the queue acts on it.
    pub retry: Option<Retry>,
}

/// Runs a connector once, now. Failures of the run itself are results, not errors:
/// only a missing connector, an unknown or disabled type, or storage failure are.
///
/// # Errors
/// As above; see [`ServiceError`].
pub async fn run(
    service: &ConnectorService,
    space_id: &str,
    connector_id: &str,
    params: &Value,
    caller: &dyn CallerRights,
) -> Result<Run, ServiceError> {
    let (connector, connector_type) = service.load_for_execution(space_id, connector_id).await?;
    let started = SystemTime::now();
    let clock = Instant::now();
    let (type_id, id) = (connector.type_id.as_str(), connector.id.as_str());
    let finish = |result: ExecutionResult, retry: Option<Retry>| Run {
        result,
        connector_name: connector.name.clone(),
        type_id: connector.type_id.clone(),
        started,
        duration: clock.elapsed(),
        retry,
    };
    // Over HTTP nothing is retried, so validation failures say `retry: false`.
    let invalid = |error: &dyn std::fmt::Display, source| {
        finish(
            ExecutionResult::error(
                id,
                &ExecuteError::new(error.to_string()).with_retry(Retry::No),
                source,
            ),
            Some(Retry::No),
        )
    };

    // Kibana opens the secrets while loading, before it looks at params. Unlike
    // Kibana (a bare 500), the failure is a result that says what is wrong.
    if let Err(error) = &connector.secrets {
        tracing::error!(connector_id = id, error = %error, "Cannot open the connector's secrets; was the encryption key changed?");
        let failure = ExecuteError::new("an error occurred while running the action")
            .with_service_message(format!(
                "{error}; check xpack.encryptedSavedObjects.encryptionKey"
            ))
            .with_retry(Retry::No);
        return Ok(finish(
            ExecutionResult::error(id, &failure, ErrorSource::Framework),
            Some(Retry::No),
        ));
    }
    let params = match connector_types::validate_params(
        connector_type.as_ref(),
        params,
        &service.validation,
    ) {
        Ok(params) => params,
        Err(error) => return Ok(invalid(&error, ErrorSource::User)),
    };
    let valid = match connector.validated.clone() {
        Some(valid) => valid,
        None => {
            let secrets = connector.secrets.as_ref().unwrap_or(&Value::Null);
            // Settings may have changed since the connector was saved: check it again
            // (once per stored version; see `ConnectorService::remember_validated`).
            match connector_types::validate_connector(
                connector_type.as_ref(),
                &connector.config,
                secrets,
                &service.validation,
            ) {
                Ok(valid) => {
                    let valid = std::sync::Arc::new(valid);
                    service.remember_validated(&connector, &valid);
                    valid
                }
                Err(error) => return Ok(invalid(&error, ErrorSource::Framework)),
            }
        }
    };

    // Kibana's `.slack_api` reports its type id as the connector id; see the trait.
    let reported_id = connector_type.result_connector_id(id).to_owned();
    let outcome = connector_type
        .execute(
            &service.execution,
            Connector {
                id,
                name: &connector.name,
                config: &valid.config,
                secrets: &valid.secrets,
                caller,
            },
            params,
        )
        .await;
    let elapsed = clock.elapsed();
    let result = match outcome {
        Ok(data) => {
            tracing::debug!(
                connector_id = id,
                type_id,
                duration_ms = elapsed.as_millis() as u64,
                "Connector ran."
            );
            finish(ExecutionResult::ok(&reported_id, data), None)
        }
        Err(error) => {
            let error = error.without_secrets(&secret_texts(&valid.secrets));
            tracing::warn!(
                connector_id = id,
                type_id,
                duration_ms = elapsed.as_millis() as u64,
                error = error.message(),
                service_message = error.service_message().unwrap_or_default(),
                "Connector run failed."
            );
            finish(
                ExecutionResult::error(
                    &reported_id,
                    &error,
                    error.error_source().unwrap_or(ErrorSource::User),
                ),
                error.retry(),
            )
        }
    };
    Ok(result)
}

/// The connector's secret strings long enough to be recognised in an error text
/// (shorter ones would blank out ordinary words).
fn secret_texts(secrets: &Value) -> Vec<&str> {
    fn collect<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::String(text) if text.chars().count() >= MIN_REDACTED_LENGTH => {
                found.push(text);
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, found)),
            Value::Object(fields) => fields.values().for_each(|item| collect(item, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    collect(secrets, &mut found);
    // Longest first, so a secret that contains another is replaced whole.
    found.sort_by_key(|text| std::cmp::Reverse(text.len()));
    found
}

/// Secrets shorter than this are not looked for in error texts.
const MIN_REDACTED_LENGTH: usize = 4;
