//! `.servicenow-itom`'s `addEvent`: one event to ServiceNow's event management API.

use serde_json::{Map, Value, json};

use super::service::{Service, SnError};
use crate::connector_types::itsm::iso_date;

/// Sends the event: `time_of_event` as ServiceNow's `YYYY-MM-DD HH:mm:ss` (UTC),
/// fields without a value left out.
pub async fn add_event(service: &Service<'_>, params: &Value) -> Result<(), SnError> {
    let event = prepare(params);
    let url = format!("{}/api/global/em/jsonv2", service.base());
    let body = json!({ "records": [event] });
    let outcome = async {
        let answer = service
            .send(reqwest::Method::POST, &url, Some(&body))
            .await?;
        service.check_instance(&answer).map(drop)
    };
    outcome
        .await
        .map_err(|error| error.wrap("Unable to add event", None))
}

fn prepare(params: &Value) -> Map<String, Value> {
    let mut event = Map::new();
    for (key, value) in params.as_object().into_iter().flatten() {
        let value = if key == "time_of_event" {
            value
                .as_str()
                .and_then(time_of_event)
                .map_or(Value::Null, Value::String)
        } else {
            value.clone()
        };
        if !value.is_null() {
            event.insert(key.clone(), value);
        }
    }
    event
}

/// A date as Kibana reads it: a whole number is epoch milliseconds, anything else a
/// date text; `None` when it is neither.
fn time_of_event(text: &str) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let millis = trimmed
        .parse::<i64>()
        .ok()
        .filter(|it| it.to_string() == trimmed);
    let iso = match millis {
        Some(millis) => iso_date(&json!(millis))?,
        None => iso_date(&json!(trimmed))
            .or_else(|| iso_date(&json!(format!("{trimmed}T00:00:00Z"))))?,
    };
    // `2021-10-13T10:51:44.981Z` → `2021-10-13 10:51:44`
    let date = iso.get(..10)?;
    let time = iso.get(11..19)?;
    Some(format!("{date} {time}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_events_are_servicenow_dates() {
        assert_eq!(
            time_of_event(" 2021-10-13T10:51:44.981Z ").as_deref(),
            Some("2021-10-13 10:51:44")
        );
        assert_eq!(
            time_of_event("1634122304981").as_deref(),
            Some("2021-10-13 10:51:44")
        );
        assert_eq!(
            time_of_event("2021-10-13T12:51:44+02:00").as_deref(),
            Some("2021-10-13 10:51:44")
        );
        assert_eq!(
            time_of_event("2021-10-13").as_deref(),
            Some("2021-10-13 00:00:00")
        );
        assert_eq!(time_of_event("soon"), None);
        assert_eq!(time_of_event("  "), None);
    }

    #[test]
    fn empty_fields_are_left_out() {
        let event = prepare(&json!({
            "source": "s", "event_class": null, "time_of_event": "bad", "message_key": "k",
        }));
        assert_eq!(
            Value::Object(event),
            json!({ "source": "s", "message_key": "k" })
        );
    }
}
