//! `.pagerduty`: an event to PagerDuty's Events API v2.

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use time::{
    OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339,
    macros::format_description,
};

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext,
    License, Retry, Schemas, TypeInfo, ValidationContext,
};
use crate::schema::{Schema, any, array, literal, maybe, nullable, object, one_of, record, string};

const DEFAULT_API_URL: &str = "https://events.pagerduty.com/v2/enqueue";

pub struct PagerDuty {
    schemas: Schemas,
}

impl PagerDuty {
    pub fn new() -> Self {
        let literals =
            |values: &[&'static str]| -> Schema { one_of(values.iter().map(|it| literal(*it))) };
        Self {
            schemas: Schemas {
                config: object([("apiUrl", nullable(string()))]),
                secrets: object([("routingKey", string())]),
                params: object([
                    (
                        "eventAction",
                        maybe(literals(&["trigger", "resolve", "acknowledge"])),
                    ),
                    ("dedupKey", maybe(string().max_length(255))),
                    ("summary", maybe(string().max_length(1024))),
                    ("source", maybe(string())),
                    (
                        "severity",
                        maybe(literals(&["critical", "error", "warning", "info"])),
                    ),
                    ("timestamp", maybe(string())),
                    ("component", maybe(string())),
                    ("group", maybe(string())),
                    ("class", maybe(string())),
                    (
                        "links",
                        maybe(array(object([("href", string()), ("text", string())]))),
                    ),
                    ("customDetails", maybe(record(any()))),
                ]),
            },
        }
    }
}

fn api_url(config: &Value) -> &str {
    config["apiUrl"].as_str().unwrap_or(DEFAULT_API_URL)
}

/// A timestamp as moment.js reads it: ISO 8601 (without an offset: UTC here), a
/// date alone, or whole epoch milliseconds.
fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let local = format_description!(
        version = 2,
        "[year]-[month]-[day][optional [T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]]]"
    );
    if let Ok(at) = PrimitiveDateTime::parse(text, local) {
        return Some(at.assume_utc());
    }
    if let Ok(date) = time::Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Some(date.midnight().assume_utc());
    }
    let millis: i128 = text.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(millis.checked_mul(1_000_000)?).ok()
}

impl ConnectorType for PagerDuty {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".pagerduty",
            name: "PagerDuty",
            minimum_license: License::Gold,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        cx.allowed_hosts
            .check_url(api_url(config))
            .map_err(|message| format!("error configuring pagerduty action: {message}"))
    }

    fn validate_params(&self, params: &Value, _cx: &ValidationContext) -> Result<(), String> {
        if let Some(timestamp) = params["timestamp"]
            .as_str()
            .filter(|it| !it.trim().is_empty() && parse_timestamp(it).is_none())
        {
            return Err(format!("error parsing timestamp \"{timestamp}\""));
        }
        let action = params["eventAction"].as_str().unwrap_or_default();
        let has_dedup_key = params["dedupKey"].as_str().is_some_and(|it| !it.is_empty());
        if matches!(action, "resolve" | "acknowledge") && !has_dedup_key {
            return Err(format!(
                "DedupKey is required when eventAction is \"{action}\""
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
            let routing_key = connector.secrets["routingKey"].as_str().unwrap_or_default();
            let request = cx
                .http
                .request(Method::POST, api_url(connector.config))
                .header("x-routing-key", routing_key)
                .json(&event(connector.id, &params));
            let answer = cx.http.call(request).await.map_err(|failure| {
                ExecuteError::new("error posting pagerduty event")
                    .with_service_message(failure.message)
            })?;
            let status = answer.status.as_u16();
            if answer.status == StatusCode::ACCEPTED {
                return Ok(Some(answer.body));
            }
            if answer.status == StatusCode::TOO_MANY_REQUESTS || answer.status.is_server_error() {
                return Err(ExecuteError::new(format!(
                    "error posting pagerduty event: http status {status}, retry later"
                ))
                .with_retry(Retry::Yes));
            }
            Err(ExecuteError::new(format!(
                "error posting pagerduty event: unexpected status {status}"
            )))
        })
    }
}

/// The Events API v2 body Kibana builds: the routing key goes in a header, not here.
fn event(connector_id: &str, params: &Value) -> Value {
    let action = params["eventAction"].as_str().unwrap_or("trigger");
    let mut event = Map::new();
    event.insert("event_action".to_owned(), json!(action));
    if let Some(dedup_key) = params["dedupKey"].as_str().filter(|it| !it.is_empty()) {
        event.insert("dedup_key".to_owned(), json!(dedup_key));
    }
    if action != "trigger" {
        return Value::Object(event);
    }
    let text = |key: &str| params[key].as_str().filter(|it| !it.is_empty());
    let mut payload = Map::new();
    payload.insert(
        "summary".to_owned(),
        json!(text("summary").unwrap_or("No summary provided.")),
    );
    payload.insert(
        "source".to_owned(),
        json!(
            text("source")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("Kibana Action {connector_id}"))
        ),
    );
    payload.insert(
        "severity".to_owned(),
        json!(text("severity").unwrap_or("info")),
    );
    if let Some(at) = text("timestamp").and_then(parse_timestamp) {
        payload.insert(
            "timestamp".to_owned(),
            json!(crate::timestamp::iso(at.into())),
        );
    }
    // Kept even when empty, as Kibana's `omitBy(isUndefined)` keeps them.
    for key in ["component", "group", "class"] {
        if let Some(value) = params[key].as_str() {
            payload.insert(key.to_owned(), json!(value));
        }
    }
    if let Some(details) = params.get("customDetails").filter(|it| !it.is_null()) {
        payload.insert("custom_details".to_owned(), details.clone());
    }
    event.insert("payload".to_owned(), Value::Object(payload));
    if let Some(links) = params.get("links").filter(|it| !it.is_null()) {
        event.insert("links".to_owned(), links.clone());
    }
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_read_as_moment_reads_them() {
        let iso = |text: &str| parse_timestamp(text).map(|at| crate::timestamp::iso(at.into()));
        assert_eq!(
            iso("2024-05-01T12:30:00+02:00").as_deref(),
            Some("2024-05-01T10:30:00.000Z")
        );
        assert_eq!(
            iso("2024-05-01T12:30:00.250").as_deref(),
            Some("2024-05-01T12:30:00.250Z")
        );
        assert_eq!(
            iso("2024-05-01").as_deref(),
            Some("2024-05-01T00:00:00.000Z")
        );
        assert_eq!(
            iso("1700000000123").as_deref(),
            Some("2023-11-14T22:13:20.123Z")
        );
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn resolve_and_acknowledge_carry_only_the_action_and_key() {
        let params = json!({ "eventAction": "resolve", "dedupKey": "k", "summary": "s" });
        assert_eq!(
            event("c1", &params),
            json!({ "event_action": "resolve", "dedup_key": "k" })
        );
        assert_eq!(
            event("c1", &json!({})),
            json!({ "event_action": "trigger", "payload": {
                "summary": "No summary provided.", "source": "Kibana Action c1", "severity": "info" } })
        );
    }
}
