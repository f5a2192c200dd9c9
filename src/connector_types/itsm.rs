//! What Kibana's case-management connectors (`.jira`, the ServiceNow family,
//! `.resilient`, `.swimlane`, `.thehive`, `.cases-webhook`) have in common: the
//! comments of a push, the shape of a push result, limits on free-form field maps, the
//! errors of Kibana's "classic" executors, and calls made the way axios makes them
//! (a non-2xx answer is a failure that still carries the answer).

use std::time::SystemTime;

use base64::Engine;
use reqwest::Method;
use serde_json::{Map, Value, json};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, macros::format_description};

use super::{
    ExecuteError, ExecutionContext, ValidationContext,
    outbound::{Answer, with_secret_headers},
};
use crate::schema::{Schema, array, literal, nullable, number, object, one_of, string};

/// `comments: [{comment, commentId}] | null`. Kibana's schema says `commentId` is a
/// string; its own documentation pushes `"commentId": 1`, so a number is taken too and
/// given back as it came.
pub fn comments_schema() -> Schema {
    nullable(array(object([
        ("comment", string()),
        ("commentId", one_of([string(), number()])),
    ])))
}

/// The comments of a push params object, `[]` when there are none.
pub fn comments(sub_params: &Value) -> &[Value] {
    sub_params["comments"].as_array().map_or(&[], Vec::as_slice)
}

/// The `{commentId, pushedDate}` a push reports for a comment.
pub fn pushed_comment(comment: &Value, pushed_date: &str) -> Value {
    json!({ "commentId": comment["commentId"], "pushedDate": pushed_date })
}

/// What a push answers: `{id, title, pushedDate, url}`, and `comments` only when the
/// params had some.
pub fn push_result(
    id: impl Into<Value>,
    title: impl Into<Value>,
    pushed_date: &str,
    url: &str,
    comments: Option<Vec<Value>>,
) -> Value {
    let mut result = json!({
        "id": id.into(),
        "title": title.into(),
        "pushedDate": pushed_date,
        "url": url,
    });
    if let Some(comments) = comments {
        result["comments"] = Value::Array(comments);
    }
    result
}

/// Kibana's limits on a free-form map of extra fields (Jira `otherFields`, ServiceNow
/// `additional_fields`, Resilient `additionalFields`): at most `max` keys, none of the
/// names the params already have.
pub fn check_extra_fields(
    fields: &Value,
    field_name: &str,
    max: usize,
    forbidden: &[&str],
) -> Result<(), String> {
    let Some(fields) = fields.as_object() else {
        return Ok(());
    };
    if fields.len() > max {
        let noun = if max == 1 { "field" } else { "fields" };
        return Err(format!(
            "A maximum of {max} {noun} in {field_name} can be defined at a time."
        ));
    }
    let refused: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|key| forbidden.contains(key))
        .collect();
    if !refused.is_empty() {
        return Err(format!(
            "The following properties cannot be defined inside {field_name}: {}.",
            refused.join(", ")
        ));
    }
    Ok(())
}

/// The classic types' check of their API URL config field against `allowedHosts`.
pub fn check_api_url(url: &Value, cx: &ValidationContext) -> Result<(), String> {
    cx.allowed_hosts
        .check_url(url.as_str().unwrap_or_default())
        .map_err(|message| format!("error configuring connector action: {message}"))
}

/// A classic executor's answer to a sub-action its API does not have.
pub fn unsupported_sub_action(service: &str, name: &str) -> ExecuteError {
    ExecuteError::thrown(format!(
        "[Action][ExternalService]{service} Unsupported subAction type {name}."
    ))
}

/// A classic executor's answer to a sub-action it has but does not run (`handshake`).
pub fn sub_action_not_implemented(service: &str, name: &str) -> ExecuteError {
    ExecuteError::thrown(format!(
        "[Action][ExternalService]{service} subAction {name} not implemented."
    ))
}

/// One classic sub-action's params: `{subAction: <name>, subActionParams: <schema>}`.
pub fn sub_action(name: &'static str, params: Schema) -> Schema {
    object([("subAction", literal(name)), ("subActionParams", params)])
}

/// `Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A failed call as axios reports it: `Request failed with status code 404` with the
/// answer, or the transport's message (`connect ECONNREFUSED ...`) without one.
#[derive(Debug)]
pub struct CallFailure {
    pub message: String,
    /// Node.js's error code when the call got no answer (`ECONNREFUSED`, ...).
    pub code: Option<&'static str>,
    pub answer: Option<Answer>,
}

impl CallFailure {
    pub fn status(&self) -> Option<u16> {
        self.answer.as_ref().map(|answer| answer.status.as_u16())
    }

    /// The answer's parsed body; `null` without one.
    pub fn body(&self) -> &Value {
        self.answer
            .as_ref()
            .map_or(&Value::Null, |answer| &answer.body)
    }
}

/// What a call sends: a JSON value (serialised, `Content-Type: application/json`), a
/// text already written, or nothing.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    /// Sent as it is, with the content type given.
    Text(&'a str, &'a str),
}

/// Sends a request as Kibana's `request()` helper does and reads the answer. Anything
/// but a 2xx is a failure, as with axios. The egress policy (allowed hosts, private
/// addresses) applies, as it does to every call.
///
/// # Errors
/// A [`CallFailure`], with the answer when there was one.
pub async fn call(
    cx: &ExecutionContext,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Body<'_>,
) -> Result<Answer, CallFailure> {
    let request = with_secret_headers(cx.http.request(method, url), headers);
    let request = match body {
        Body::None => request,
        Body::Json(value) => request
            .header("content-type", "application/json")
            .body(value.to_string()),
        Body::Text(text, content_type) => request
            .header("content-type", content_type)
            .body(text.to_owned()),
    };
    let answer = cx.http.call(request).await.map_err(|failure| CallFailure {
        message: failure.message,
        code: failure.code,
        answer: None,
    })?;
    if answer.status.is_success() {
        Ok(answer)
    } else {
        Err(CallFailure {
            message: format!("Request failed with status code {}", answer.status.as_u16()),
            code: None,
            answer: Some(answer),
        })
    }
}

/// Kibana's `throwIfResponseIsNotValid` (Jira, Swimlane): a 204 is fine; otherwise the
/// answer must be JSON, an object, and have every key in `required` (`null` counts).
pub fn check_json_answer(
    answer: &Answer,
    method: &Method,
    url: &str,
    required: &[&str],
) -> Result<(), String> {
    if answer.status.as_u16() == 204 {
        return Ok(());
    }
    let content_type = answer
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|it| it.to_str().ok());
    if !content_type.is_some_and(|it| it.contains("application/json")) {
        return Err(format!(
            "Unsupported content type: {} in {} {url}. Supported content types: application/json",
            content_type.unwrap_or("undefined"),
            method.as_str().to_ascii_lowercase()
        ));
    }
    let is_empty =
        matches!(&answer.body, Value::Null) || answer.body.as_str().is_some_and(str::is_empty);
    if !is_empty && !answer.body.is_object() && !answer.body.is_array() {
        return Err("Response is not a valid JSON".to_owned());
    }
    let has_all =
        |fields: &Map<String, Value>| required.iter().all(|key| fields.contains_key(*key));
    if !required.is_empty() && !answer.body.as_object().is_some_and(has_all) {
        return Err(format!(
            "Response is missing at least one of the expected fields: {}",
            required.join(",")
        ));
    }
    Ok(())
}

/// JavaScript's `new Date(x).toISOString()` for the date forms vendors send: ISO 8601
/// with or without a colon in the offset (Jira's `+0300`), ServiceNow's
/// `YYYY-MM-DD HH:mm:ss` (UTC), and epoch milliseconds. `None` when it is none of them.
pub fn iso_date(value: &Value) -> Option<String> {
    let at = match value {
        Value::Number(millis) => epoch_millis(millis.as_f64()?)?,
        Value::String(text) => parse_date_text(text.trim())?,
        _ => return None,
    };
    Some(crate::timestamp::iso(at))
}

fn epoch_millis(millis: f64) -> Option<SystemTime> {
    let nanos = (millis * 1_000_000.0).round();
    if !nanos.is_finite() || nanos.abs() > 8.64e24 {
        return None;
    }
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos as i128).ok()?;
    Some(at.into())
}

fn parse_date_text(text: &str) -> Option<SystemTime> {
    use time::format_description::well_known::Rfc3339;
    let with_offset = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
    );
    if let Ok(at) =
        OffsetDateTime::parse(text, &Rfc3339).or_else(|_| OffsetDateTime::parse(text, with_offset))
    {
        // In UTC the day may fall outside the years a time can hold (9999-12-31 at
        // -01:00): such a date is as invalid as JavaScript's years past 275760.
        return at.checked_to_offset(UtcOffset::UTC).map(Into::into);
    }
    let plain = format_description!(
        "[year]-[month]-[day][first [T] [ ]][hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let at = PrimitiveDateTime::parse(text, plain).ok()?;
    Some(at.assume_offset(UtcOffset::UTC).into())
}

/// Now, as a push's `pushedDate`.
pub fn now_iso() -> String {
    crate::timestamp::iso(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_like_javascript() {
        assert_eq!(
            iso_date(&json!("2021-10-20T19:41:02.754+0300")).as_deref(),
            Some("2021-10-20T16:41:02.754Z")
        );
        assert_eq!(
            iso_date(&json!("2020-03-10 12:24:20")).as_deref(),
            Some("2020-03-10T12:24:20.000Z")
        );
        assert_eq!(
            iso_date(&json!("2022-09-08T16:52:27.865Z")).as_deref(),
            Some("2022-09-08T16:52:27.865Z")
        );
        assert_eq!(
            iso_date(&json!(1_589_391_874_472_u64)).as_deref(),
            Some("2020-05-13T17:44:34.472Z")
        );
        assert_eq!(iso_date(&json!("soon")), None);
        assert_eq!(iso_date(&json!("9999-12-31T23:59:59.000-0100")), None);
        assert_eq!(iso_date(&json!(1e300)), None);
    }

    #[test]
    fn extra_fields_are_limited() {
        let forbidden = ["summary", "labels"];
        assert_eq!(
            check_extra_fields(&json!({ "a": 1, "b": 2 }), "otherFields", 1, &forbidden),
            Err("A maximum of 1 field in otherFields can be defined at a time.".to_owned())
        );
        assert_eq!(
            check_extra_fields(
                &json!({ "summary": 1, "x": 2 }),
                "otherFields",
                20,
                &forbidden
            ),
            Err(
                "The following properties cannot be defined inside otherFields: summary."
                    .to_owned()
            )
        );
        assert_eq!(
            check_extra_fields(&Value::Null, "otherFields", 20, &forbidden),
            Ok(())
        );
    }
}
