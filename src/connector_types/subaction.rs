//! What Kibana's sub-action connector framework does for `.opsgenie`, `.tines` and
//! `.d3security`: the `{subAction, subActionParams}` envelope, per-sub-action
//! validation, URL rules, JSON requests, and failures reported as thrown errors.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    ErrorSource, ExecuteError, ExecutionContext, TypeInfo, ValidationContext,
    outbound::{Answer, TransportFailure, with_secret_headers},
};
use crate::schema::{Schema, any, object, record, string};

/// The params every sub-action connector takes: `subActionParams` is an object of
/// anything, `{}` when absent.
pub fn params_schema() -> Schema {
    object([
        ("subAction", string()),
        ("subActionParams", record(any()).default(json!({}))),
    ])
}

/// How the framework reports a failed call: `Status code: <status>. Message: <text>`,
/// the status `undefined` when there was no answer.
pub fn call_failed(status: Option<u16>, message: &str) -> ExecuteError {
    let status = status.map_or_else(|| "undefined".to_owned(), |it| it.to_string());
    ExecuteError::thrown(format!("Status code: {status}. Message: {message}"))
}

/// `Sub action "<name>" is not registered. ...`, Kibana's text.
pub fn not_registered(name: &str, connector_id: &str, info: TypeInfo) -> ExecuteError {
    ExecuteError::thrown(format!(
        "Sub action \"{name}\" is not registered. Connector id: {connector_id}. Connector name: {}. Connector type: {}",
        info.name, info.id
    ))
}

/// Checks a sub-action's params against its schema.
pub fn validate(schema: &Schema, params: &Value) -> Result<Value, ExecuteError> {
    schema.validate(params).map_err(|error| {
        // Kibana interpolates the error object, hence `Error: `.
        ExecuteError::thrown(format!("Request validation failed (Error: {error})"))
            .with_source(ErrorSource::User)
    })
}

/// Checks an answer's body against the shape the sub-action expects.
pub fn check_response(schema: &Schema, body: &Value) -> Result<(), ExecuteError> {
    schema
        .validate(body)
        .map(|_| ())
        .map_err(|error| response_invalid(&error.to_string()))
}

/// `Response validation failed (Error: <message>)`.
pub fn response_invalid(message: &str) -> ExecuteError {
    ExecuteError::thrown(format!("Response validation failed (Error: {message})"))
}

/// The framework's check of a connector's URL config field against `allowedHosts`.
pub fn check_url_config(url: &Value, cx: &ValidationContext) -> Result<(), String> {
    cx.allowed_hosts
        .check_url(url.as_str().unwrap_or_default())
        .map_err(|message| format!("error validating url: {message}"))
}

/// A field's type as config-schema names it: `undefined` when it is not there.
pub fn field_type(body: &Value, key: &str) -> &'static str {
    body.get(key).map_or("undefined", crate::schema::type_name)
}

/// The framework's URL rules: it must parse, have a host and be http(s); the path loses
/// a trailing `/` and doubled slashes.
pub fn normalise_url(text: &str) -> Result<String, ExecuteError> {
    let mut url = reqwest::Url::parse(text)
        .map_err(|error| ExecuteError::thrown(format!("URL Error: {error}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ExecuteError::thrown("URL Error: URL must contain hostname"));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ExecuteError::thrown("URL Error: Invalid protocol"));
    }
    let mut path = url.path().to_owned();
    while path.contains("//") {
        path = path.replace("//", "/");
    }
    if path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    url.set_path(&path);
    let mut normalised = url.to_string();
    // `Url` writes a bare origin with a `/`; Kibana's normalised URL has none.
    if url.path() == "/" && url.query().is_none() {
        normalised.pop();
    }
    Ok(normalised)
}

/// Sends JSON (`{}` for none; top-level nulls dropped, as 8.x does) with the
/// connector's headers and `Content-Type: application/json`, and reads the answer.
/// A call without an answer fails with `no_answer`'s text (each type has its own).
pub async fn request(
    cx: &ExecutionContext,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    no_answer: fn(&TransportFailure) -> String,
) -> Result<Answer, ExecuteError> {
    let url = normalise_url(url)?;
    cx.http
        .settings()
        .allowed_hosts
        .check_url(&url)
        .map_err(|message| {
            ExecuteError::thrown(format!("error configuring connector action: {message}"))
        })?;
    let mut request = with_secret_headers(cx.http.request(method.clone(), &url), headers);
    request = request.header("content-type", "application/json");
    if method != Method::GET {
        let body = match body {
            Some(Value::Object(fields)) => Value::Object(
                fields
                    .iter()
                    .filter(|(_, value)| !value.is_null())
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect::<Map<_, _>>(),
            ),
            Some(Value::Null) | None => json!({}),
            Some(other) => other.clone(),
        };
        // A string is a body already written (Tines's `run` sends the user's text).
        request = match body {
            Value::String(text) => request.body(text),
            other => request.body(other.to_string()),
        };
    }
    cx.http
        .call(request)
        .await
        .map_err(|failure| call_failed(None, &no_answer(&failure)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_like_kibanas() {
        assert_eq!(
            normalise_url("https://api.opsgenie.com//v2/alerts/").unwrap(),
            "https://api.opsgenie.com/v2/alerts"
        );
        assert_eq!(
            normalise_url("https://api.opsgenie.com/").unwrap(),
            "https://api.opsgenie.com"
        );
        assert_eq!(
            normalise_url("ftp://x.example/")
                .unwrap_err()
                .service_message(),
            Some("URL Error: Invalid protocol")
        );
    }
}
