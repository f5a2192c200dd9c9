//! Kibana's `CaseConnector`, the sub-action framework's base for case-management
//! connectors (`.resilient`, `.thehive`): the `pushToService` flow that creates or
//! updates an incident and then adds each comment.

use std::future::Future;

use serde_json::Value;

use super::{ExecuteError, itsm};

/// What a pushed incident is known by: the fields of a push result.
pub struct Pushed {
    pub id: String,
    pub title: Value,
    pub pushed_date: String,
    pub url: String,
}

/// The three calls a case connector makes for a push.
pub trait CaseService {
    /// Creates an incident from the push's `incident` (without `externalId`).
    fn create_incident(
        &self,
        incident: &Value,
    ) -> impl Future<Output = Result<Pushed, ExecuteError>> + Send;

    /// Updates incident `id` with the push's `incident` (without `externalId`).
    fn update_incident(
        &self,
        id: &str,
        incident: &Value,
    ) -> impl Future<Output = Result<Pushed, ExecuteError>> + Send;

    fn add_comment(
        &self,
        incident_id: &str,
        comment: &str,
    ) -> impl Future<Output = Result<(), ExecuteError>> + Send;
}

/// Updates the incident when `externalId` is set, else creates one; then adds every
/// comment (empty ones too, as Kibana does), each reported with the incident's push date.
pub async fn push_to_service(
    service: &impl CaseService,
    params: &Value,
) -> Result<Value, ExecuteError> {
    let mut incident = params["incident"].clone();
    let external_id = incident
        .as_object_mut()
        .and_then(|fields| fields.remove("externalId"))
        .and_then(|id| id.as_str().map(str::to_owned));
    let pushed = match external_id {
        Some(id) => service.update_incident(&id, &incident).await?,
        None => service.create_incident(&incident).await?,
    };
    let comments = itsm::comments(params);
    let mut pushed_comments = None;
    if !comments.is_empty() {
        let mut done = Vec::with_capacity(comments.len());
        for comment in comments {
            let text = comment["comment"].as_str().unwrap_or_default();
            service.add_comment(&pushed.id, text).await?;
            done.push(itsm::pushed_comment(comment, &pushed.pushed_date));
        }
        pushed_comments = Some(done);
    }
    Ok(itsm::push_result(
        pushed.id,
        pushed.title,
        &pushed.pushed_date,
        &pushed.url,
        pushed_comments,
    ))
}

/// The `[key]: expected value of type [<kind>] but got [<found>]` check of a vendor
/// answer's fields; other keys are allowed. `"number"` takes numeric strings, as
/// Kibana's coercing schemas do; a kind starting with `?` also takes `null` or nothing.
pub fn check_fields(body: &Value, fields: &[(&str, &str)]) -> Result<(), ExecuteError> {
    field_error("", body, fields).map_or(Ok(()), |message| {
        Err(super::subaction::response_invalid(&message))
    })
}

/// The first field of `body` that does not fit, as config-schema words it, its path
/// starting with `prefix` (`0.` for the first item of an array).
pub fn field_error(prefix: &str, body: &Value, fields: &[(&str, &str)]) -> Option<String> {
    if !body.is_object() {
        let found = crate::schema::type_name(body);
        return Some(if prefix.is_empty() {
            format!("expected a plain object value, but found [{found}] instead.")
        } else {
            let path = prefix.trim_end_matches('.');
            format!("[{path}]: expected a plain object value, but found [{found}] instead.")
        });
    }
    fields.iter().find_map(|(key, kind)| {
        let (kind, optional) = match kind.strip_prefix('?') {
            Some(kind) => (kind, true),
            None => (*kind, false),
        };
        let value = &body[*key];
        let fits = match kind {
            _ if optional && value.is_null() => true,
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "number" => {
                value.is_number()
                    || value
                        .as_str()
                        .is_some_and(|it| it.trim().parse::<f64>().is_ok())
            }
            "object" => value.is_object(),
            "array" => value.is_array(),
            _ => true,
        };
        let found = super::subaction::field_type(body, key);
        (!fits)
            .then(|| format!("[{prefix}{key}]: expected value of type [{kind}] but got [{found}]"))
    })
}

/// JavaScript's `===` between two JSON values (objects and arrays are never equal).
pub fn strictly_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => left.as_f64() == right.as_f64(),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        (left, right) => left == right,
    }
}

/// A vendor's epoch milliseconds (a number, or a numeric string) → ISO 8601, as
/// `new Date(n).toISOString()` gives it; Kibana's `Invalid time value` otherwise.
pub fn iso_from_millis(value: &Value) -> Result<String, String> {
    let millis = match value {
        Value::String(text) => text.trim().parse::<f64>().ok().map(Value::from),
        Value::Number(_) => Some(value.clone()),
        _ => None,
    };
    millis
        .as_ref()
        .and_then(itsm::iso_date)
        .ok_or_else(|| "Invalid time value".to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_are_checked_field_by_field() {
        let body = json!({ "id": "12", "ok": true, "extra": 1 });
        assert!(check_fields(&body, &[("id", "number"), ("ok", "boolean")]).is_ok());
        assert!(check_fields(&body, &[("gone", "?string")]).is_ok());
        let error = check_fields(&body, &[("gone", "string")]).unwrap_err();
        assert_eq!(
            error.service_message(),
            Some(
                "Response validation failed (Error: [gone]: expected value of type [string] but got [undefined])"
            )
        );
    }

    #[test]
    fn epoch_millis_become_iso_dates() {
        assert_eq!(
            iso_from_millis(&json!(1_577_836_800_000_u64)).as_deref(),
            Ok("2020-01-01T00:00:00.000Z")
        );
        assert_eq!(
            iso_from_millis(&json!("1577836800000")).as_deref(),
            Ok("2020-01-01T00:00:00.000Z")
        );
        assert_eq!(
            iso_from_millis(&json!(null)),
            Err("Invalid time value".to_owned())
        );
    }

    #[test]
    fn strict_equality_is_javascripts() {
        assert!(strictly_equal(&json!(100), &json!(100.0)));
        assert!(!strictly_equal(&json!(100), &json!("100")));
    }
}
