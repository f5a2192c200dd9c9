//! How the log and queued executions look on the wire: Switchboard's own shape for
//! its endpoints, Kibana's for `_global_connector_execution_logs`.

use serde_json::{Value, json};

use crate::{
    store::{ExecutionRow, LogEntryRow},
    timestamp::iso,
};

fn iso_millis(millis: i64) -> String {
    let millis = u64::try_from(millis).unwrap_or(0);
    iso(std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis))
}

/// `false`, `true` or the ISO time, as Kibana's result has it.
fn retry_value(retry: Option<&str>) -> Value {
    match retry {
        None => Value::Null,
        Some("false") => Value::Bool(false),
        Some("true") => Value::Bool(true),
        Some(at) => Value::String(at.to_owned()),
    }
}

/// One attempt as Switchboard's endpoints show it.
pub fn entry(row: &LogEntryRow) -> Value {
    json!({
        "execution_id": row.execution_id,
        "attempt": row.attempt,
        "timestamp": iso_millis(row.started_at),
        "duration_ms": row.duration_us / 1000,
        "schedule_delay_ms": row.schedule_delay_ms,
        "outcome": row.outcome,
        "message": row.message,
        "error_message": row.error_message,
        "service_message": row.service_message,
        "error_source": row.error_source,
        "retry": retry_value(row.retry.as_deref()),
        "connector_id": row.connector_id,
        "connector_name": row.connector_name,
        "connector_type_id": row.type_id,
        "space_id": row.space_id,
        "source": row.source,
        "user": row.username,
    })
}

/// An execution: its queue state when it was queued, else what its log says, and
/// its attempts in order.
pub fn execution(queued: Option<&ExecutionRow>, attempts: &[LogEntryRow]) -> Value {
    let log: Vec<Value> = attempts.iter().map(entry).collect();
    match queued {
        Some(row) => json!({
            "execution_id": row.id,
            "connector_id": row.connector_id,
            "space_id": row.space_id,
            "source": "queue",
            "status": row.state,
            "attempts": row.attempts,
            "max_attempts": row.max_attempts,
            "created_at": iso_millis(row.created_at),
            "next_attempt_at": (row.state == "queued").then(|| iso_millis(row.run_at)),
            "finished_at": row.finished_at.map(iso_millis),
            "user": row.username,
            "log": log,
        }),
        None => {
            let last = attempts.last();
            json!({
                "execution_id": last.map(|it| it.execution_id.clone()),
                "connector_id": last.map(|it| it.connector_id.clone()),
                "space_id": last.map(|it| it.space_id.clone()),
                "source": last.map(|it| it.source.clone()),
                "status": match last.map(|it| it.outcome.as_str()) {
                    Some("success") => "succeeded",
                    _ => "failed",
                },
                "attempts": attempts.len(),
                "max_attempts": attempts.len(),
                "created_at": attempts.first().map(|it| iso_millis(it.started_at)),
                "next_attempt_at": null,
                "finished_at": last.map(|it| iso_millis(it.started_at + it.duration_us / 1000)),
                "user": last.and_then(|it| it.username.clone()),
                "log": log,
            })
        }
    }
}

/// Kibana's `error.message`: the message, the service's, and the retry decision.
fn kibana_error_message(row: &LogEntryRow) -> String {
    let mut text = row
        .error_message
        .clone()
        .unwrap_or_else(|| "unknown error running action".to_owned());
    if let Some(service_message) = &row.service_message {
        text.push_str(": ");
        text.push_str(service_message);
    }
    match row.retry.as_deref() {
        Some("true") => text.push_str("; retry: true"),
        Some("false") | None => {}
        Some(at) => {
            text.push_str("; retry at ");
            text.push_str(at);
        }
    }
    text
}

/// One attempt as Kibana's `_global_connector_execution_logs` lists executions.
pub fn kibana_log_item(row: &LogEntryRow) -> Value {
    let message = if row.outcome == "failure" {
        format!("{} - {}", row.message, kibana_error_message(row))
    } else {
        row.message.clone()
    };
    json!({
        "id": row.execution_id,
        "timestamp": iso_millis(row.started_at),
        "duration_ms": row.duration_us / 1000,
        "status": row.outcome,
        "message": message,
        "version": env!("CARGO_PKG_VERSION"),
        "source": row.source,
        "schedule_delay_ms": row.schedule_delay_ms.unwrap_or(0),
        "space_ids": [row.space_id],
        "connector_name": row.connector_name,
        "connector_id": row.connector_id,
        "timed_out": false,
    })
}
