//! `.swimlane`: pushes a case or an alert to a Swimlane application as a record,
//! mapping the incident's fields onto the application's fields, and adds comments to
//! the record's comment field (a classic executor with `pushToService` only).

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License, Schemas,
    TypeInfo, ValidationContext,
    itsm::{self, Body, CallFailure},
    js::text as js_text,
};
use crate::schema::{literal, nullable, object, one_of, string};

const NAME: &str = "Swimlane";

/// The mapping keys of the config and the incident field each one carries, in the
/// order Kibana declares them (which is the order values are added to a record).
const MAPPINGS: &[(&str, Option<&str>)] = &[
    ("ruleNameConfig", Some("ruleName")),
    ("alertIdConfig", Some("alertId")),
    ("caseIdConfig", Some("caseId")),
    ("caseNameConfig", Some("caseName")),
    ("commentsConfig", None),
    ("severityConfig", Some("severity")),
    ("descriptionConfig", Some("description")),
];

pub struct Swimlane {
    schemas: Schemas,
}

impl Swimlane {
    pub fn new() -> Self {
        let field_map = || {
            nullable(object([
                ("id", string()),
                ("key", string()),
                ("name", string()),
                ("fieldType", string()),
            ]))
        };
        let nullable_string = || nullable(string());
        Self {
            schemas: Schemas {
                config: object([
                    ("apiUrl", string()),
                    ("appId", string()),
                    (
                        "connectorType",
                        one_of([literal("all"), literal("alerts"), literal("cases")]),
                    ),
                    (
                        "mappings",
                        object(MAPPINGS.iter().map(|(key, _)| (*key, field_map()))),
                    ),
                ]),
                secrets: object([("apiToken", string())]),
                params: itsm::sub_action(
                    "pushToService",
                    object([
                        (
                            "incident",
                            object([
                                ("alertId", nullable_string()),
                                ("ruleName", nullable_string()),
                                ("caseId", nullable_string()),
                                ("caseName", nullable_string()),
                                ("severity", nullable_string()),
                                ("description", nullable_string()),
                                ("externalId", nullable_string()),
                            ]),
                        ),
                        ("comments", itsm::comments_schema()),
                    ]),
                ),
            },
        }
    }
}

impl Default for Swimlane {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectorType for Swimlane {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".swimlane",
            name: NAME,
            minimum_license: License::Gold,
            supported_feature_ids: super::ALERTING_CASES_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        itsm::check_api_url(&config["apiUrl"], cx)
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let service = Service::new(connector.config, connector.secrets)?;
            match params["subAction"].as_str().unwrap_or_default() {
                "pushToService" => {
                    let data = service.push(cx, &params["subActionParams"]).await?;
                    tracing::debug!(connector_id = connector.id, "Swimlane record pushed.");
                    Ok(Some(data))
                }
                other => Err(itsm::unsupported_sub_action(" -> [Swimlane]", other)),
            }
        })
    }
}

/// One connector's view of Swimlane: where its API is and how to authenticate.
struct Service<'a> {
    /// The URL as configured, without one trailing `/`: records are viewed under it.
    url: &'a str,
    /// Where the API is: the URL itself when it already ends with `api`.
    api: String,
    app_id: &'a str,
    token: &'a str,
    mappings: &'a Value,
}

impl<'a> Service<'a> {
    fn new(config: &'a Value, secrets: &'a Value) -> Result<Self, ExecuteError> {
        let text = |value: &'a Value| value.as_str().filter(|it| !it.is_empty());
        let (Some(url), Some(app_id), Some(token), true) = (
            text(&config["apiUrl"]),
            text(&config["appId"]),
            text(&secrets["apiToken"]),
            config["mappings"].is_object(),
        ) else {
            return Err(ExecuteError::thrown(format!(
                "[Action]{NAME}: Wrong configuration."
            )));
        };
        let url = url.strip_suffix('/').unwrap_or(url);
        let api = if url.ends_with("api") {
            url.to_owned()
        } else {
            format!("{url}/api")
        };
        Ok(Self {
            url,
            api,
            app_id,
            token,
            mappings: &config["mappings"],
        })
    }

    fn headers(&self) -> [(&str, &str); 1] {
        [("Private-Token", self.token)]
    }

    fn record_url(&self, record_id: &Value) -> String {
        format!("{}/record/{}/{}", self.url, self.app_id, js_text(record_id))
    }

    /// Creates or updates the record, then adds the comments. All comments carry one
    /// timestamp, taken once the record is pushed.
    async fn push(&self, cx: &ExecutionContext, sub_params: &Value) -> Result<Value, ExecuteError> {
        let incident = &sub_params["incident"];
        let (id, title, pushed_date, url) = match incident["externalId"].as_str() {
            Some(external_id) => self.update(cx, incident, external_id).await?,
            None => self.create(cx, incident).await?,
        };
        let comments = itsm::comments(sub_params);
        let mut pushed = None;
        if !comments.is_empty() {
            let created_date = itsm::now_iso();
            let mut list = Vec::with_capacity(comments.len());
            for comment in comments {
                self.comment(cx, &id, comment, &created_date).await?;
                list.push(itsm::pushed_comment(comment, &created_date));
            }
            pushed = Some(list);
        }
        Ok(itsm::push_result(id, title, &pushed_date, &url, pushed))
    }

    async fn create(
        &self,
        cx: &ExecutionContext,
        incident: &Value,
    ) -> Result<(Value, Value, String, String), ExecuteError> {
        let failed = |status, message: &str, body: &Value| {
            self.error("create record", status, message, body)
        };
        let url = format!("{}/app/{}/record", self.api, self.app_id);
        let body = record_body(self.app_id, self.mappings, incident, None);
        let answer = itsm::call(cx, Method::POST, &url, &self.headers(), Body::Json(&body))
            .await
            .map_err(|failure| call_error(&failure, failed))?;
        itsm::check_json_answer(&answer, &Method::POST, &url, &["id", "name", "createdDate"])
            .map_err(|message| failed(None, &message, &Value::Null))?;
        let pushed_date = js_date(&answer.body["createdDate"])
            .ok_or_else(|| failed(None, "Invalid time value", &Value::Null))?;
        let id = answer.body["id"].clone();
        let url = self.record_url(&id);
        Ok((id, answer.body["name"].clone(), pushed_date, url))
    }

    async fn update(
        &self,
        cx: &ExecutionContext,
        incident: &Value,
        external_id: &str,
    ) -> Result<(Value, Value, String, String), ExecuteError> {
        let failed = |status, message: &str, body: &Value| {
            self.error("update record", status, message, body)
        };
        let url = format!("{}/app/{}/record/{external_id}", self.api, self.app_id);
        let body = record_body(self.app_id, self.mappings, incident, Some(external_id));
        let answer = itsm::call(cx, Method::PATCH, &url, &self.headers(), Body::Json(&body))
            .await
            .map_err(|failure| call_error(&failure, failed))?;
        itsm::check_json_answer(
            &answer,
            &Method::PATCH,
            &url,
            &["id", "name", "modifiedDate"],
        )
        .map_err(|message| failed(None, &message, &Value::Null))?;
        let pushed_date = js_date(&answer.body["modifiedDate"])
            .ok_or_else(|| failed(None, "Invalid time value", &Value::Null))?;
        let url = self.record_url(&Value::String(external_id.to_owned()));
        Ok((
            answer.body["id"].clone(),
            answer.body["name"].clone(),
            pushed_date,
            url,
        ))
    }

    /// Adds a comment to the record's mapped comment field; Swimlane answers nothing
    /// worth reading.
    async fn comment(
        &self,
        cx: &ExecutionContext,
        record_id: &Value,
        comment: &Value,
        created_date: &str,
    ) -> Result<(), ExecuteError> {
        let failed = |status, message: &str, body: &Value| {
            self.error("create comment", status, message, body)
        };
        let field_id = self.mappings["commentsConfig"]["id"]
            .as_str()
            .filter(|it| !it.is_empty())
            .ok_or_else(|| {
                failed(
                    None,
                    &format!("No comment field mapped in {NAME} connector"),
                    &Value::Null,
                )
            })?;
        let url = format!(
            "{}/app/{}/record/{}/{field_id}/comment",
            self.api,
            self.app_id,
            js_text(record_id)
        );
        let body = json!({
            "createdDate": created_date,
            "fieldId": field_id,
            "isRichText": true,
            "message": comment["comment"],
        });
        itsm::call(cx, Method::POST, &url, &self.headers(), Body::Json(&body))
            .await
            .map_err(|failure| call_error(&failure, failed))?;
        Ok(())
    }

    /// `[Action][Swimlane]: Unable to <what> in application with id <appId>. Status:
    /// <status or 500>. Error: <message>. Reason: <Swimlane's reason or unknown>`.
    fn error(&self, what: &str, status: Option<u16>, message: &str, body: &Value) -> ExecuteError {
        ExecuteError::thrown(format!(
            "[Action][{NAME}]: Unable to {what} in application with id {}. Status: {}. Error: {message}. Reason: {}",
            self.app_id,
            status.unwrap_or(500),
            reason(body)
        ))
    }
}

/// A failed call as Swimlane errors report it: the answer's status and body when
/// there was an answer.
fn call_error(
    failure: &CallFailure,
    failed: impl Fn(Option<u16>, &str, &Value) -> ExecuteError,
) -> ExecuteError {
    failed(failure.status(), &failure.message, failure.body())
}

/// Swimlane's error body names the argument and an error code: `<Argument>
/// (<ErrorCode>)`, or `unknown` without both.
fn reason(body: &Value) -> String {
    match (body.get("Argument"), body.get("ErrorCode")) {
        (Some(argument), Some(code)) if !argument.is_null() && !code.is_null() => {
            format!("{} ({})", js_text(argument), js_text(code))
        }
        _ => "unknown".to_owned(),
    }
}

/// The record Swimlane is sent: every mapped field whose incident value is set, as a
/// number when the field is numeric.
fn record_body(app_id: &str, mappings: &Value, incident: &Value, record_id: Option<&str>) -> Value {
    let mut values = Map::new();
    for (mapping_key, incident_key) in MAPPINGS {
        let (Some(incident_key), Some(field)) = (incident_key, mappings[mapping_key].as_object())
        else {
            continue;
        };
        let Some(value) = incident[incident_key].as_str().filter(|it| !it.is_empty()) else {
            continue;
        };
        let id = field.get("id").and_then(Value::as_str).unwrap_or_default();
        let value = if field.get("fieldType").and_then(Value::as_str) == Some("numeric") {
            js_number(value)
        } else {
            Value::String(value.to_owned())
        };
        values.insert(id.to_owned(), value);
    }
    let mut body = Map::new();
    body.insert("applicationId".to_owned(), json!(app_id));
    if let Some(record_id) = record_id.filter(|it| !it.is_empty()) {
        body.insert("id".to_owned(), json!(record_id));
    }
    body.insert("values".to_owned(), Value::Object(values));
    Value::Object(body)
}

/// JavaScript's `Number(text)` with `NaN` as 0, as JSON (infinities serialise as
/// `null`, as `JSON.stringify` does).
fn js_number(text: &str) -> Value {
    let trimmed = text.trim();
    let number = if trimmed.is_empty() {
        0.0
    } else if let Some(number) = radix_number(trimmed) {
        number
    } else {
        match trimmed.trim_start_matches(['+', '-']) {
            "Infinity" => {
                return Value::Null;
            }
            // Rust also reads `inf`, `nan` and the like; JavaScript does not.
            unsigned
                if unsigned
                    .chars()
                    .all(|c| c.is_ascii_digit() || ".eE+-".contains(c)) =>
            {
                trimmed.parse::<f64>().unwrap_or(f64::NAN)
            }
            _ => f64::NAN,
        }
    };
    let number = if number.is_nan() { 0.0 } else { number };
    number_value(number)
}

/// `0x`, `0o` and `0b` literals, which `Number()` reads (without a sign).
fn radix_number(text: &str) -> Option<f64> {
    let lower = text.get(..2)?.to_ascii_lowercase();
    let radix = match lower.as_str() {
        "0x" => 16,
        "0o" => 8,
        "0b" => 2,
        _ => return None,
    };
    let digits = &text[2..];
    if digits.is_empty() {
        return Some(f64::NAN);
    }
    Some(u64::from_str_radix(digits, radix).map_or(f64::NAN, |it| it as f64))
}

/// A whole number as an integer, anything else as a float, as `JSON.stringify` prints.
fn number_value(number: f64) -> Value {
    if !number.is_finite() {
        return Value::Null;
    }
    if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
        // Exact: the value is a whole number within f64's integer range.
        return json!(number as i64);
    }
    serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
}

/// `new Date(x).toISOString()` for Swimlane's dates; `None` where JavaScript throws.
fn js_date(value: &Value) -> Option<String> {
    if value.is_null() {
        return itsm::iso_date(&json!(0));
    }
    itsm::iso_date(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(id: &str, field_type: &str) -> Value {
        json!({ "id": id, "key": id, "name": id, "fieldType": field_type })
    }

    #[test]
    fn records_carry_mapped_values_in_mapping_order() {
        let mappings = json!({
            "ruleNameConfig": null,
            "alertIdConfig": mapping("alert", "text"),
            "caseIdConfig": mapping("case", "numeric"),
            "caseNameConfig": mapping("name", "text"),
            "commentsConfig": mapping("notes", "comments"),
            "severityConfig": mapping("sev", "text"),
            "descriptionConfig": mapping("desc", "text"),
        });
        let incident = json!({
            "alertId": "a-1", "ruleName": "rule", "caseId": "0x1A", "caseName": "",
            "severity": null, "description": "text", "externalId": null,
        });
        assert_eq!(
            record_body("app", &mappings, &incident, Some("rec")).to_string(),
            r#"{"applicationId":"app","id":"rec","values":{"alert":"a-1","case":26,"desc":"text"}}"#
        );
    }

    #[test]
    fn numbers_read_like_javascript() {
        assert_eq!(js_number(" 12 "), json!(12));
        assert_eq!(js_number("1.5"), json!(1.5));
        assert_eq!(js_number("1e3"), json!(1000));
        assert_eq!(js_number("twelve"), json!(0));
        assert_eq!(js_number("inf"), json!(0));
        assert_eq!(js_number("-Infinity"), Value::Null);
        assert_eq!(js_number("0b101"), json!(5));
    }

    #[test]
    fn reasons_need_argument_and_code() {
        assert_eq!(
            reason(&json!({ "Argument": "name", "ErrorCode": 1007 })),
            "name (1007)"
        );
        assert_eq!(reason(&json!({ "ErrorCode": 1007 })), "unknown");
        assert_eq!(reason(&json!("text")), "unknown");
    }
}
