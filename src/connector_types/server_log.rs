//! `.server-log`: writes the message to the server's own log at the given level.

use serde_json::Value;

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext,
    License, Schemas, TypeInfo,
};
use crate::schema::{literal, object, one_of, string};

/// The log target the messages are written under, so operators can filter them.
pub const LOG_TARGET: &str = "switchboard::server_log";

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

pub struct ServerLog {
    schemas: Schemas,
}

impl ServerLog {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([]).default(Value::Object(Default::default())),
                secrets: object([]).default(Value::Object(Default::default())),
                params: object([
                    ("message", string()),
                    ("level", one_of(LEVELS.map(literal)).default("info")),
                ]),
            },
        }
    }
}

impl Default for ServerLog {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectorType for ServerLog {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".server-log",
            name: "Server log",
            minimum_license: License::Basic,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn execute<'a>(
        &'a self,
        _cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            log(connector.id, &params);
            Ok(None)
        })
    }
}

fn log(connector_id: &str, params: &Value) {
    let message = sanitize(params["message"].as_str().unwrap_or_default());
    let level = params["level"].as_str().unwrap_or("info");
    match level {
        "trace" => tracing::trace!(target: LOG_TARGET, connector_id, "Server log: {message}"),
        "debug" => tracing::debug!(target: LOG_TARGET, connector_id, "Server log: {message}"),
        "info" => tracing::info!(target: LOG_TARGET, connector_id, "Server log: {message}"),
        "warn" => tracing::warn!(target: LOG_TARGET, connector_id, "Server log: {message}"),
        // tracing has no level above error; Kibana's fatal lands there.
        _ => tracing::error!(target: LOG_TARGET, connector_id, "Server log: {message}"),
    }
}

/// Replaces control characters (but tab) by `;`, as Kibana does, so one message is
/// one log line and cannot forge others.
fn sanitize(message: &str) -> String {
    message
        .chars()
        .map(|character| match character {
            '\t' => '\t',
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => ';',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_semicolons_but_tabs_stay() {
        assert_eq!(sanitize("a\nb\r\tc\u{2028}d\u{85}"), "a;b;\tc;d;");
    }
}
