//! `.thehive`: TheHive cases (Kibana's case push, `pushToService`) and alerts
//! (`createAlert`), a sub-action connector.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License, Schemas,
    TypeInfo, ValidationContext,
    case_connector::{self, CaseService, Pushed},
    itsm, js,
    outbound::Answer,
    subaction,
};
use crate::schema::{Schema, array, boolean, literal, nullable, number, object, one_of, string};

/// Kibana's list for this type, in its order.
const FEATURES: &[&str] = &["alerting", "siem", "uptime", "cases"];

/// What TheHive's case answer must have (others may be `null` or absent).
const CASE_ANSWER: &[(&str, &str)] = &[
    ("_id", "string"),
    ("_type", "string"),
    ("_createdBy", "string"),
    ("_updatedBy", "?string"),
    ("_createdAt", "number"),
    ("_updatedAt", "?number"),
    ("number", "number"),
    ("title", "string"),
    ("description", "string"),
    ("severity", "number"),
    ("severityLabel", "string"),
    ("startDate", "number"),
    ("endDate", "?number"),
    ("tags", "?array"),
    ("flag", "boolean"),
    ("tlp", "number"),
    ("tlpLabel", "string"),
    ("pap", "number"),
    ("papLabel", "string"),
    ("status", "string"),
    ("stage", "string"),
    ("summary", "?string"),
    ("impactStatus", "?string"),
    ("assignee", "?string"),
    ("customFields", "?array"),
    ("userPermissions", "?array"),
    ("extraData", "object"),
    ("newDate", "number"),
    ("inProgressDate", "?number"),
    ("closedDate", "?number"),
    ("alertDate", "?number"),
    ("alertNewDate", "?number"),
    ("alertInProgressDate", "?number"),
    ("alertImportedDate", "?number"),
    ("timeToDetect", "number"),
    ("timeToTriage", "?number"),
    ("timeToQualify", "?number"),
    ("timeToAcknowledge", "?number"),
    ("timeToResolve", "?number"),
    ("handlingDuration", "?number"),
];

const COMMENT_ANSWER: &[(&str, &str)] = &[
    ("_id", "string"),
    ("_type", "string"),
    ("createdBy", "string"),
    ("createdAt", "number"),
    ("updatedAt", "?number"),
    ("updatedBy", "?string"),
    ("message", "string"),
    ("isEdited", "boolean"),
    ("extraData", "object"),
];

const ALERT_ANSWER: &[(&str, &str)] = &[
    ("_id", "string"),
    ("_type", "string"),
    ("_createdBy", "string"),
    ("_updatedBy", "?string"),
    ("_createdAt", "number"),
    ("_updatedAt", "?number"),
    ("type", "string"),
    ("source", "string"),
    ("sourceRef", "string"),
    ("externalLink", "?string"),
    ("title", "string"),
    ("description", "string"),
    ("severity", "number"),
    ("severityLabel", "string"),
    ("date", "number"),
    ("tags", "?array"),
    ("tlp", "number"),
    ("tlpLabel", "string"),
    ("pap", "number"),
    ("papLabel", "string"),
    ("follow", "?boolean"),
    ("customFields", "?array"),
    ("caseTemplate", "?string"),
    ("observableCount", "number"),
    ("caseId", "?string"),
    ("status", "string"),
    ("stage", "string"),
    ("assignee", "?string"),
    ("summary", "?string"),
    ("extraData", "object"),
    ("newDate", "number"),
    ("inProgressDate", "?number"),
    ("closedDate", "?number"),
    ("importedDate", "?number"),
    ("timeToDetect", "number"),
    ("timeToTriage", "?number"),
    ("timeToQualify", "?number"),
    ("timeToAcknowledge", "?number"),
];

pub struct TheHive {
    schemas: Schemas,
    push: Schema,
    create_alert: Schema,
}

impl TheHive {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([("url", string()), ("organisation", nullable(string()))]),
                secrets: object([("apiKey", string())]),
                params: subaction::params_schema(),
            },
            push: push_schema(),
            create_alert: create_alert_schema(),
        }
    }
}

/// `pushToService`'s params: the case fields, `externalId` last (the case framework
/// adds it to the type's own fields).
fn push_schema() -> Schema {
    object([
        (
            "incident",
            object([
                ("title", string()),
                ("description", string()),
                ("severity", nullable(number())),
                ("tlp", nullable(number())),
                ("tags", nullable(array(string()))),
                ("externalId", nullable(string())),
            ]),
        ),
        ("comments", itsm::comments_schema()),
    ])
}

fn create_alert_schema() -> Schema {
    object([
        ("title", string()),
        ("description", string()),
        ("type", string()),
        ("source", string()),
        ("sourceRef", string()),
        ("severity", nullable(number())),
        (
            "isRuleSeverity",
            one_of([boolean(), literal(Value::Null)]).default(false),
        ),
        ("tlp", nullable(number())),
        ("tags", nullable(array(string()))),
        ("body", nullable(string())),
    ])
}

/// Kibana's text for a failed TheHive call: TheHive's error `type` and `message`.
fn failure(answer: &Answer) -> ExecuteError {
    let part = |key: &str| {
        answer
            .body
            .as_object()
            .and_then(|it| it.get(key))
            .map_or_else(|| "undefined".to_owned(), js::text)
    };
    subaction::call_failed(
        Some(answer.status.as_u16()),
        &format!("API Error: {} - {}", part("type"), part("message")),
    )
}

/// One connector's calls to TheHive.
struct Client<'a> {
    cx: &'a ExecutionContext,
    url: &'a str,
    bearer: String,
    organisation: Option<&'a str>,
}

impl<'a> Client<'a> {
    fn new(cx: &'a ExecutionContext, connector: &Connector<'a>) -> Self {
        Self {
            cx,
            url: connector.config["url"].as_str().unwrap_or_default(),
            bearer: format!(
                "Bearer {}",
                connector.secrets["apiKey"].as_str().unwrap_or_default()
            ),
            organisation: connector.config["organisation"].as_str(),
        }
    }

    fn case_view_url(&self, id: &str) -> String {
        let base = self.url.strip_suffix('/').unwrap_or(self.url);
        format!("{base}/cases/{id}/details")
    }

    /// Sends a request to `<url>/api/v1<path>`; a non-2xx answer is a failure in
    /// Kibana's words. `X-Organisation` goes only when the connector names one.
    async fn send(&self, method: Method, path: &str, body: &Value) -> Result<Value, ExecuteError> {
        let mut headers = vec![("authorization", self.bearer.as_str())];
        if let Some(organisation) = self.organisation {
            headers.push(("x-organisation", organisation));
        }
        let url = format!("{}/api/v1{path}", self.url);
        let answer = subaction::request(self.cx, method, &url, &headers, Some(body), |_| {
            "Unknown API Error".to_owned()
        })
        .await?;
        if !answer.status.is_success() {
            return Err(failure(&answer));
        }
        Ok(answer.body)
    }

    async fn create_alert(&self, alert: &Value) -> Result<(), ExecuteError> {
        let body = alert_body(alert).map_err(ExecuteError::thrown)?;
        let answer = self.send(Method::POST, "/alert", &body).await?;
        case_connector::check_fields(&answer, ALERT_ANSWER)
    }
}

impl CaseService for Client<'_> {
    async fn create_incident(&self, incident: &Value) -> Result<Pushed, ExecuteError> {
        let answer = self.send(Method::POST, "/case", incident).await?;
        case_connector::check_fields(&answer, CASE_ANSWER)?;
        let id = answer["_id"].as_str().unwrap_or_default().to_owned();
        let pushed_date =
            case_connector::iso_from_millis(&answer["_createdAt"]).map_err(ExecuteError::thrown)?;
        Ok(Pushed {
            url: self.case_view_url(&id),
            title: answer["title"].clone(),
            id,
            pushed_date,
        })
    }

    async fn update_incident(&self, id: &str, incident: &Value) -> Result<Pushed, ExecuteError> {
        // Kibana reads nothing from the answer.
        self.send(Method::PATCH, &format!("/case/{id}"), incident)
            .await?;
        Ok(Pushed {
            id: id.to_owned(),
            title: incident["title"].clone(),
            pushed_date: itsm::now_iso(),
            url: self.case_view_url(id),
        })
    }

    async fn add_comment(&self, incident_id: &str, comment: &str) -> Result<(), ExecuteError> {
        let body = json!({ "message": comment });
        let answer = self
            .send(Method::POST, &format!("/case/{incident_id}/comment"), &body)
            .await?;
        case_connector::check_fields(&answer, COMMENT_ANSWER)
    }
}

/// The alert TheHive gets: every param but `body`, then the keys of `body` (a JSON
/// text) over them.
fn alert_body(alert: &Value) -> Result<Value, String> {
    let mut merged: Map<String, Value> = alert
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.as_str() != "body")
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let text = alert["body"].as_str().unwrap_or("{}");
    let parsed: Value =
        serde_json::from_str(text).map_err(|error| js::json_parse_error(text, &error))?;
    match parsed {
        Value::Object(fields) => merged.extend(fields),
        // Kibana spreads an array or a string into numbered keys (`"0": "a"`), which
        // TheHive has no use for and a long text turns into a huge body: refused.
        Value::Array(_) | Value::String(_) => {
            return Err("body must be a JSON object".to_owned());
        }
        // `null`, numbers and booleans spread to nothing in JavaScript.
        _ => {}
    }
    Ok(Value::Object(merged))
}

impl ConnectorType for TheHive {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".thehive",
            name: "TheHive",
            minimum_license: License::Platinum,
            supported_feature_ids: FEATURES,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        subaction::check_url_config(&config["url"], cx)
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let client = Client::new(cx, &connector);
            let sub_params = &params["subActionParams"];
            let data = match params["subAction"].as_str().unwrap_or_default() {
                "pushToService" => {
                    let push = subaction::validate(&self.push, sub_params)?;
                    case_connector::push_to_service(&client, &push).await?
                }
                "createAlert" => {
                    let alert = subaction::validate(&self.create_alert, sub_params)?;
                    client.create_alert(&alert).await?;
                    json!({})
                }
                other => return Err(subaction::not_registered(other, connector.id, self.info())),
            };
            Ok(Some(data))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_bodies_override_the_params() {
        let alert = json!({ "title": "t", "severity": 2, "isRuleSeverity": false,
                            "body": "{\"severity\": 4, \"observables\": []}" });
        assert_eq!(
            alert_body(&alert).unwrap(),
            json!({ "title": "t", "severity": 4, "isRuleSeverity": false, "observables": [] })
        );
        assert_eq!(
            alert_body(&json!({ "title": "t", "body": null })).unwrap(),
            json!({ "title": "t" })
        );
    }

    #[test]
    fn bad_bodies_fail_as_json_parse_does() {
        let failure = |body: &str| alert_body(&json!({ "body": body })).unwrap_err();
        assert_eq!(failure("{\"a\":"), "Unexpected end of JSON input");
        assert_eq!(failure(""), "Unexpected end of JSON input");
        assert_eq!(
            failure("nope"),
            "Unexpected token 'o', \"nope\" is not valid JSON"
        );
        assert_eq!(
            failure("{} x"),
            "Unexpected non-whitespace character after JSON at position 3"
        );
        assert_eq!(failure("\"abc\""), "body must be a JSON object");
        assert_eq!(failure("[1, 2]"), "body must be a JSON object");
    }
}
