//! Logging: human-readable lines by default; with `logging.json: true` one JSON
//! object per line with the ECS field names Kibana's JSON layout writes
//! (`@timestamp`, `log.level`, `log.logger`, `message`, `ecs.version`, `process.pid`)
//! plus the request's id (`http.request.id`) and the event's own fields.

use std::{fmt, io::Write};

use serde_json::{Map, Value, json};
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{
    EnvFilter, Layer, fmt as text, layer::Context, prelude::*, registry::LookupSpan,
};

/// The ECS version the field names follow.
const ECS_VERSION: &str = "8.11.0";

/// Installs the global subscriber. Call once, from `main`.
///
/// `logging.root.level` applies to Switchboard's own lines, and `loggers` (name,
/// level) to parts of it (`queue`, `http`, `connector_types.webhook`, ...). Libraries
/// log at warn and above whatever the level (their debug output can show request
/// details), but at `all`, which is for debugging the server itself.
pub fn init(level: &str, loggers: &[(String, String)], json: bool) {
    let filter = EnvFilter::new(directives(level, loggers));
    if json {
        tracing_subscriber::registry()
            .with(filter)
            .with(EcsLayer)
            .init();
    } else {
        tracing_subscriber::registry()
            .with(filter)
            .with(
                text::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                    .with_writer(std::io::stdout),
            )
            .init();
    }
}

/// Kibana's level names as `tracing` directives.
fn directive_level(level: &str) -> &str {
    match level {
        "all" => "trace",
        "fatal" => "error",
        other => other,
    }
}

fn directives(level: &str, loggers: &[(String, String)]) -> String {
    let mut directives = match level {
        "all" => "trace".to_owned(),
        "off" => "off".to_owned(),
        other => format!("warn,switchboard={}", directive_level(other)),
    };
    for (name, level) in loggers {
        let path = name.replace('.', "::");
        let target = if path == "switchboard" || path.starts_with("switchboard::") {
            path
        } else {
            format!("switchboard::{path}")
        };
        directives.push_str(&format!(",{target}={}", directive_level(level)));
    }
    directives
}

/// Writes each event as one ECS JSON line on stdout.
struct EcsLayer;

/// A span's fields, kept for the events inside it.
struct SpanFields(Map<String, Value>);

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S> Layer<S> for EcsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        let mut fields = Map::new();
        attributes.record(&mut JsonFields(&mut fields));
        if let Some(span) = context.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, context: Context<'_, S>) {
        if let Some(span) = context.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut JsonFields(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let mut fields = Map::new();
        if let Some(scope) = context.event_scope(event) {
            for span in scope.from_root() {
                if let Some(span_fields) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.0.clone());
                }
            }
        }
        event.record(&mut JsonFields(&mut fields));
        let line = ecs_line(
            event.metadata().level().as_str(),
            event.metadata().target(),
            fields,
        );
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
    }
}

/// Event fields with an ECS name: the request's id, the access log's fields, errors.
const ECS_NAMES: [(&str, &[&str]); 6] = [
    ("request_id", &["http", "request", "id"]),
    ("http_method", &["http", "request", "method"]),
    ("url_path", &["url", "path"]),
    ("http_status", &["http", "response", "status_code"]),
    ("duration_ms", &["event", "duration_ms"]),
    ("error", &["error", "message"]),
];

fn insert_path(map: &mut Map<String, Value>, path: &[&str], value: Value) {
    match path {
        [] => {}
        [last] => {
            map.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let inner = map
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// One log line: the event's own fields first, then the ECS base fields (which win,
/// as in Kibana's layout).
fn ecs_line(level: &str, target: &str, mut fields: Map<String, Value>) -> Value {
    let message = fields.remove("message").unwrap_or(Value::from(""));
    // The names the server's events use for what ECS names otherwise.
    let mut ecs = Map::new();
    for (ours, path) in ECS_NAMES {
        if let Some(value) = fields.remove(ours) {
            insert_path(&mut ecs, path, value);
        }
    }
    let mut line = Value::Object(fields);
    for (key, value) in ecs {
        line[key] = value;
    }
    line["@timestamp"] = Value::from(crate::timestamp::iso(std::time::SystemTime::now()));
    line["log"] = json!({ "level": level, "logger": target.replace("::", ".") });
    line["message"] = message;
    line["ecs"] = json!({ "version": ECS_VERSION });
    line["process"] = json!({ "pid": std::process::id() });
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_levels_become_directives() {
        assert_eq!(directives("info", &[]), "warn,switchboard=info");
        assert_eq!(
            directives(
                "warn",
                &[
                    ("queue".to_owned(), "debug".to_owned()),
                    ("switchboard.http".to_owned(), "fatal".to_owned()),
                ]
            ),
            "warn,switchboard=warn,switchboard::queue=debug,switchboard::http=error"
        );
        assert_eq!(directives("off", &[]), "off");
    }

    #[test]
    fn lines_carry_ecs_fields_and_the_request_id() {
        let mut fields = Map::new();
        fields.insert("message".to_owned(), Value::from("Connector ran."));
        fields.insert("request_id".to_owned(), Value::from("abc"));
        fields.insert("connector_id".to_owned(), Value::from("hook"));
        fields.insert("error".to_owned(), Value::from("refused"));
        fields.insert("http_status".to_owned(), Value::from(200));
        let line = ecs_line("INFO", "switchboard::executor", fields);
        assert_eq!(line["message"], "Connector ran.");
        assert_eq!(
            line["log"],
            json!({ "level": "INFO", "logger": "switchboard.executor" })
        );
        assert_eq!(line["http"]["request"]["id"], "abc");
        assert_eq!(line["connector_id"], "hook");
        assert_eq!(line["error"], json!({ "message": "refused" }));
        assert_eq!(line["http"]["response"]["status_code"], 200);
        assert_eq!(line["ecs"]["version"], ECS_VERSION);
        assert!(line["@timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
