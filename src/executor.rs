//! Runs a connector: load it, open its secrets, check params, config and secrets,
//! execute, and build Kibana's result. `_execute` and the queue's workers both run
//! connectors through here.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::{
    connector_types::{
        self, CallerRights, Connector, ErrorSource, ExecuteError, Retry,
        streaming::{self, Streamed},
    },
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
/// A streamed answer is read to its end; its summary is the result's `data`.
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
    match start(service, space_id, connector_id, params, caller, false).await? {
        Started::Done(run) => Ok(run),
        // Not asked for; read it here all the same.
        Started::Streaming(streaming) => {
            let outcome = streaming::collect(streaming.streamed).await;
            Ok(streaming.ending.finish(outcome))
        }
    }
}

/// How [`start`] ended: a finished run, or a streamed answer still arriving.
pub enum Started {
    Done(Run),
    Streaming(StreamingRun),
}

/// A run whose vendor has accepted it and is still answering.
pub struct StreamingRun {
    pub streamed: Streamed,
    pub ending: RunEnding,
}

/// What is needed to turn a streamed run's end into a [`Run`].
pub struct RunEnding {
    reported_id: String,
    connector_name: String,
    type_id: String,
    started: SystemTime,
    clock: Instant,
    /// The connector's secret texts, scrubbed from a failure that ends the stream.
    secrets: Vec<String>,
}

impl RunEnding {
    /// The run as it ended: the stream's summary as `data`, or the failure that broke
    /// it off (a thrown error, as Kibana reports failed calls).
    pub fn finish(self, outcome: Result<Value, String>) -> Run {
        let outcome = outcome.map_err(|message| {
            let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
            ExecuteError::thrown(message).without_secrets(&secrets)
        });
        let duration_ms = self.clock.elapsed().as_millis() as u64;
        let (connector_id, type_id) = (self.reported_id.as_str(), self.type_id.as_str());
        match &outcome {
            Ok(_) => tracing::debug!(
                connector_id,
                type_id,
                duration_ms,
                "Connector stream ended."
            ),
            Err(error) => tracing::warn!(
                connector_id,
                type_id,
                duration_ms,
                service_message = error.service_message().unwrap_or_default(),
                "Connector stream failed."
            ),
        }
        let (result, retry) = match outcome {
            Ok(data) => (ExecutionResult::ok(&self.reported_id, Some(data)), None),
            Err(error) => {
                let result = ExecutionResult::error(
                    &self.reported_id,
                    &error,
                    error.error_source().unwrap_or(ErrorSource::User),
                );
                (result, error.retry())
            }
        };
        Run {
            result,
            connector_name: self.connector_name,
            type_id: self.type_id,
            started: self.started,
            duration: self.clock.elapsed(),
            retry,
        }
    }
}

/// Runs a connector like [`run`], but when `accept_stream` is set and the params ask
/// for a streamed answer, hands the stream back once the vendor has accepted it.
///
/// # Errors
/// As [`run`].
pub async fn start(
    service: &ConnectorService,
    space_id: &str,
    connector_id: &str,
    params: &Value,
    caller: &dyn CallerRights,
    accept_stream: bool,
) -> Result<Started, ServiceError> {
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
        Started::Done(finish(
            ExecutionResult::error(
                id,
                &ExecuteError::new(error.to_string()).with_retry(Retry::No),
                source,
            ),
            Some(Retry::No),
        ))
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
        return Ok(Started::Done(finish(
            ExecutionResult::error(id, &failure, ErrorSource::Framework),
            Some(Retry::No),
        )));
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
    let runner = Connector {
        id,
        name: &connector.name,
        config: &valid.config,
        secrets: &valid.secrets,
        caller,
    };
    let outcome = if connector_type.streams(&params) {
        match connector_type
            .execute_stream(&service.execution, runner, params)
            .await
        {
            Ok(streamed) => {
                let streaming = StreamingRun {
                    streamed,
                    ending: RunEnding {
                        reported_id: reported_id.clone(),
                        connector_name: connector.name.clone(),
                        type_id: connector.type_id.clone(),
                        started,
                        clock,
                        secrets: secret_texts(&valid.secrets)
                            .into_iter()
                            .map(str::to_owned)
                            .collect(),
                    },
                };
                if accept_stream {
                    return Ok(Started::Streaming(streaming));
                }
                let outcome = streaming::collect(streaming.streamed).await;
                return Ok(Started::Done(streaming.ending.finish(outcome)));
            }
            Err(error) => Err(error),
        }
    } else {
        connector_type
            .execute(&service.execution, runner, params)
            .await
    };
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
    Ok(Started::Done(result))
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
