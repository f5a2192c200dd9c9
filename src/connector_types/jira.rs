//! `.jira`: creates and updates Jira issues (with their comments) for case management,
//! and looks up what a Jira project offers: its issue types, their fields, issues by
//! title. A "classic" Kibana connector: the params are a union on `subAction`, and
//! every failure is reported as `[Action][Jira]: <what>. Error: <why>. Reason: <Jira's
//! words>`.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ErrorSource, ExecuteError, ExecutionContext, License,
    Schemas, TypeInfo, ValidationContext,
    itsm::{self, Body, CallFailure},
    js::{self, encode_uri_component, template_text, truthy},
};
use crate::schema::{Schema, any, array, nullable, object, one_of, record, string};

/// How many `otherFields` a push may set.
const MAX_OTHER_FIELDS: usize = 20;

/// The incident's own keys, which `otherFields` may not repeat.
const INCIDENT_KEYS: &[&str] = &[
    "summary",
    "description",
    "externalId",
    "issueType",
    "priority",
    "labels",
    "parent",
    "otherFields",
];

pub struct Jira {
    schemas: Schemas,
}

impl Jira {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([("apiUrl", string()), ("projectKey", string())]),
                secrets: object([("email", string()), ("apiToken", string())]),
                params: params_schema(),
            },
        }
    }
}

/// Kibana's union, in Kibana's order (the order its error lists the alternatives in).
fn params_schema() -> Schema {
    one_of([
        itsm::sub_action("getFields", object([])),
        itsm::sub_action("getIncident", object([("externalId", string())])),
        itsm::sub_action("handshake", object([])),
        itsm::sub_action("pushToService", push_schema()),
        itsm::sub_action("issueTypes", object([])),
        itsm::sub_action("fieldsByIssueType", object([("id", string())])),
        itsm::sub_action("issues", object([("title", string())])),
        itsm::sub_action("issue", object([("id", string())])),
    ])
}

fn push_schema() -> Schema {
    object([
        (
            "incident",
            object([
                ("summary", string()),
                ("description", nullable(string())),
                ("externalId", nullable(string())),
                ("issueType", nullable(string())),
                ("priority", nullable(string())),
                ("labels", nullable(array(string().check(check_label)))),
                ("parent", nullable(string())),
                (
                    "otherFields",
                    nullable(record(any()).check(check_other_fields)),
                ),
            ]),
        ),
        ("comments", itsm::comments_schema()),
    ])
}

/// Jira refuses labels with whitespace (JavaScript's `\s`).
fn check_label(label: &Value) -> Result<(), String> {
    let label = label.as_str().unwrap_or_default();
    if label.chars().any(is_js_whitespace) {
        return Err(format!("The label {label} cannot contain spaces"));
    }
    Ok(())
}

/// config-schema checks each key first (stopping at the first refused one), then
/// the number of keys.
fn check_other_fields(other_fields: &Value) -> Result<(), String> {
    let Some(fields) = other_fields.as_object() else {
        return Ok(());
    };
    if let Some(key) = fields
        .keys()
        .find(|key| INCIDENT_KEYS.contains(&key.as_str()))
    {
        return Err(format!(
            "The following properties cannot be defined inside otherFields: {key}."
        ));
    }
    itsm::check_extra_fields(other_fields, "otherFields", MAX_OTHER_FIELDS, &[])
}

/// The characters of JavaScript's `\s` (and of what `String.prototype.trim` removes).
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// Jira takes a one-line summary: the lines, trimmed, empty ones dropped, joined with
/// `, ` (`"title \n \n howdy"` is `"title, howdy"`).
fn one_line_summary(summary: &str) -> String {
    summary
        .split(['\n', '\r'])
        .map(|line| line.trim_matches(is_js_whitespace))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `fields` of a created or updated issue. Only truthy values are sent (an empty
/// label list is truthy in JavaScript, so it is sent); `otherFields` go on top and may
/// replace any of Jira's names.
fn issue_fields(project_key: &str, incident: &Value, issue_type: &Value) -> Map<String, Value> {
    let mut fields = Map::new();
    let summary = incident["summary"].as_str().unwrap_or_default();
    fields.insert("summary".into(), one_line_summary(summary).into());
    fields.insert("project".into(), json!({ "key": project_key }));
    if truthy(issue_type) {
        fields.insert("issuetype".into(), json!({ "id": issue_type }));
    }
    if truthy(&incident["description"]) {
        fields.insert("description".into(), incident["description"].clone());
    }
    if truthy(&incident["labels"]) {
        fields.insert("labels".into(), incident["labels"].clone());
    }
    if truthy(&incident["priority"]) {
        fields.insert("priority".into(), json!({ "name": incident["priority"] }));
    }
    if truthy(&incident["parent"]) {
        fields.insert("parent".into(), json!({ "key": incident["parent"] }));
    }
    if let Some(other_fields) = incident["otherFields"].as_object() {
        for (key, value) in other_fields {
            fields.insert(key.clone(), value.clone());
        }
    }
    fields
}

/// Jira's text search treats these characters as syntax. Kibana drops `"`, doubles
/// `\`, turns `'` into `\\` and puts `\\` before each special character.
fn escape_jql(title: &str) -> String {
    let mut escaped = String::with_capacity(title.len());
    for c in title.chars() {
        match c {
            '"' => {}
            '\\' | '\'' => escaped.push_str("\\\\"),
            '-' | '!' | '^' | '+' | '&' | '*' | '(' | ')' | '[' | ']' | '/' | '{' | '}' | '|'
            | ':' | '?' | '~' => {
                escaped.push_str("\\\\");
                escaped.push(c);
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// `new Date(value).toISOString()`, which throws on a date it cannot read.
fn js_iso_date(value: Option<&Value>) -> Result<String, Failure> {
    match value {
        Some(Value::Null) => Ok("1970-01-01T00:00:00.000Z".to_owned()),
        Some(value) => itsm::iso_date(value).ok_or_else(|| Failure::plain("Invalid time value")),
        None => Err(Failure::plain("Invalid time value")),
    }
}

/// JavaScript's TypeError for reading a property of `undefined` or `null`.
fn unreadable(value: Option<&Value>, property: &str) -> Failure {
    let what = if value.is_none() { "undefined" } else { "null" };
    Failure::plain(format!(
        "Cannot read properties of {what} (reading '{property}')"
    ))
}

/// A step that failed, as the JavaScript error Kibana would hold: its message and, for
/// an answer that was not a 2xx, the answer (axios's `error.response`).
#[derive(Debug)]
struct Failure {
    message: String,
    status: Option<u16>,
    /// `error.response.data`; `Some(Null)` is an empty answer.
    response: Option<Value>,
}

impl Failure {
    fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: None,
            response: None,
        }
    }

    /// A failure of an inner service call seen by an outer one (create or update
    /// reading the issue back): only its message remains.
    fn nested(error: ServiceError) -> Self {
        Self::plain(error.message)
    }
}

impl From<CallFailure> for Failure {
    fn from(failure: CallFailure) -> Self {
        Self {
            status: failure.status(),
            response: failure.answer.map(|answer| answer.body),
            message: failure.message,
        }
    }
}

/// What a service call throws: `[Action][Jira]: <what>. Error: <message>. Reason: <reason>`.
#[derive(Debug)]
struct ServiceError {
    message: String,
    source: ErrorSource,
}

fn wrap(failure: Failure, what: &str) -> ServiceError {
    // Throttling and Jira's refusals of what was asked are the user's to fix.
    let source = match failure.status {
        Some(400 | 429) => ErrorSource::User,
        _ => ErrorSource::Framework,
    };
    ServiceError {
        message: format!(
            "[Action][Jira]: {what}. Error: {}. Reason: {}",
            failure.message,
            reason(failure.response.as_ref())
        ),
        source,
    }
}

/// What Jira said in its error answer: `errorMessages` joined with `, `, else the
/// values of `errors` joined with a space.
fn reason(response: Option<&Value>) -> String {
    // An empty answer is JavaScript's `""`, which is not `null`.
    let Some(response) = response else {
        return "unknown: errorResponse was null".to_owned();
    };
    if let Some(messages) = response["errorMessages"]
        .as_array()
        .filter(|it| !it.is_empty())
    {
        return messages
            .iter()
            .map(|it| {
                if it.is_null() {
                    String::new()
                } else {
                    js::text(it)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
    }
    let values: Vec<&Value> = match &response["errors"] {
        Value::Null => return "unknown: errorResponse.errors was null".to_owned(),
        Value::Object(errors) => errors.values().collect(),
        Value::Array(errors) => errors.iter().collect(),
        _ => Vec::new(),
    };
    values.into_iter().fold(String::new(), |reason, value| {
        let value = template_text(Some(value));
        if reason.is_empty() {
            value
        } else {
            format!("{reason} {value}")
        }
    })
}

impl From<ServiceError> for ExecuteError {
    fn from(error: ServiceError) -> Self {
        ExecuteError::thrown(error.message).with_source(error.source)
    }
}

/// One connector's Jira: where it is, which project, and its credentials.
struct Service<'a> {
    cx: &'a ExecutionContext,
    /// `apiUrl` without one trailing `/`.
    base: &'a str,
    project_key: &'a str,
    authorization: String,
}

impl<'a> Service<'a> {
    /// # Errors
    /// When any of the four settings is empty.
    fn new(
        cx: &'a ExecutionContext,
        config: &'a Value,
        secrets: &'a Value,
    ) -> Result<Self, ExecuteError> {
        let text = |value: &'a Value| value.as_str().unwrap_or_default();
        let url = text(&config["apiUrl"]);
        let project_key = text(&config["projectKey"]);
        let email = text(&secrets["email"]);
        let token = text(&secrets["apiToken"]);
        if [url, project_key, email, token]
            .iter()
            .any(|it| it.is_empty())
        {
            return Err(ExecuteError::thrown("[Action]Jira: Wrong configuration."));
        }
        Ok(Self {
            cx,
            base: url.strip_suffix('/').unwrap_or(url),
            project_key,
            authorization: itsm::basic_auth(email, token),
        })
    }

    fn api(&self, path: &str) -> String {
        format!("{}/rest/api/2/{path}", self.base)
    }

    fn issue_types_url(&self) -> String {
        self.api(&format!("issue/createmeta/{}/issuetypes", self.project_key))
    }

    /// Where a person sees the issue.
    fn view_url(&self, key: Option<&Value>) -> String {
        format!("{}/browse/{}", self.base, template_text(key))
    }

    /// A call with the connector's credentials whose answer must be JSON with the
    /// `required` keys (any answer to a 204).
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        required: &[&str],
    ) -> Result<Value, Failure> {
        let headers = [("authorization", self.authorization.as_str())];
        let body = body.map_or(Body::None, Body::Json);
        let answer = itsm::call(self.cx, method.clone(), url, &headers, body).await?;
        itsm::check_json_answer(&answer, &method, url, required).map_err(Failure::plain)?;
        Ok(answer.body)
    }

    async fn get_incident(&self, id: &str) -> Result<Value, ServiceError> {
        self.read_incident(id)
            .await
            .map_err(|failure| wrap(failure, &format!("Unable to get incident with id {id}")))
    }

    /// The issue with Jira's fields flattened beside `id`, `key`, `created` and `updated`.
    async fn read_incident(&self, id: &str) -> Result<Value, Failure> {
        let url = self.api(&format!("issue/{id}"));
        let issue = self.send(Method::GET, &url, None, &["id", "key"]).await?;
        let fields = match issue.get("fields") {
            Some(Value::Object(fields)) => fields.clone(),
            None | Some(Value::Null) => return Err(unreadable(issue.get("fields"), "created")),
            Some(_) => Map::new(),
        };
        let mut incident = Map::new();
        incident.insert("id".into(), issue["id"].clone());
        incident.insert("key".into(), issue["key"].clone());
        for name in ["created", "updated"] {
            if let Some(value) = fields.get(name) {
                incident.insert(name.into(), value.clone());
            }
        }
        incident.extend(fields);
        Ok(Value::Object(incident))
    }

    /// Creates the issue; without an issue type, with the project's first one.
    async fn create_incident(&self, incident: &Value) -> Result<Value, ServiceError> {
        let issue_type = if truthy(&incident["issueType"]) {
            incident["issueType"].clone()
        } else {
            let types = self.issue_types().await?;
            types
                .first()
                .and_then(|it| it.get("id"))
                .filter(|it| !it.is_null())
                .cloned()
                .unwrap_or_else(|| json!(""))
        };
        let fields = issue_fields(self.project_key, incident, &issue_type);
        self.create(fields)
            .await
            .map_err(|failure| wrap(failure, "Unable to create incident"))
    }

    async fn create(&self, fields: Map<String, Value>) -> Result<Value, Failure> {
        let body = json!({ "fields": fields });
        let created = self
            .send(Method::POST, &self.api("issue"), Some(&body), &["id"])
            .await?;
        let id = template_text(created.get("id"));
        let issue = self.get_incident(&id).await.map_err(Failure::nested)?;
        let pushed_date = js_iso_date(issue.get("created"))?;
        Ok(self.push_result(&issue, &pushed_date))
    }

    async fn update_incident(&self, id: &str, incident: &Value) -> Result<Value, ServiceError> {
        let fields = issue_fields(self.project_key, incident, &incident["issueType"]);
        self.update(id, fields)
            .await
            .map_err(|failure| wrap(failure, &format!("Unable to update incident with id {id}")))
    }

    async fn update(&self, id: &str, fields: Map<String, Value>) -> Result<Value, Failure> {
        let body = json!({ "fields": fields });
        let url = self.api(&format!("issue/{id}"));
        self.send(Method::PUT, &url, Some(&body), &[]).await?;
        let issue = self.get_incident(id).await.map_err(Failure::nested)?;
        let pushed_date = js_iso_date(issue.get("updated"))?;
        Ok(self.push_result(&issue, &pushed_date))
    }

    fn push_result(&self, issue: &Value, pushed_date: &str) -> Value {
        itsm::push_result(
            issue["id"].clone(),
            issue["key"].clone(),
            pushed_date,
            &self.view_url(issue.get("key")),
            None,
        )
    }

    /// Adds a comment; answers `{commentId, pushedDate}`.
    async fn create_comment(&self, issue_id: &str, comment: &Value) -> Result<Value, ServiceError> {
        self.comment(issue_id, comment).await.map_err(|failure| {
            wrap(
                failure,
                &format!("Unable to create comment at incident with id {issue_id}"),
            )
        })
    }

    async fn comment(&self, issue_id: &str, comment: &Value) -> Result<Value, Failure> {
        let url = self.api(&format!("issue/{issue_id}/comment"));
        let body = json!({ "body": comment["comment"] });
        let created = self
            .send(Method::POST, &url, Some(&body), &["id", "created"])
            .await?;
        let pushed_date = js_iso_date(created.get("created"))?;
        Ok(itsm::pushed_comment(comment, &pushed_date))
    }

    /// `[{id, name}]`: Jira Cloud lists them as `issueTypes`, Data Center as `values`.
    async fn issue_types(&self) -> Result<Vec<Value>, ServiceError> {
        self.read_issue_types()
            .await
            .map_err(|failure| wrap(failure, "Unable to get issue types"))
    }

    async fn read_issue_types(&self) -> Result<Vec<Value>, Failure> {
        let answer = self
            .send(Method::GET, &self.issue_types_url(), None, &[])
            .await?;
        let types = cloud_or_data_center(&answer, "issueTypes");
        let types = list(types, "issueTypes", "map")?;
        types
            .iter()
            .map(|issue_type| pick(issue_type, &["id", "name"]))
            .collect()
    }

    /// `{<fieldId>: {required, allowedValues, defaultValue, schema, name}}` for creating
    /// an issue of this type.
    async fn fields_by_issue_type(&self, id: &str) -> Result<Map<String, Value>, ServiceError> {
        self.read_fields(id)
            .await
            .map_err(|failure| wrap(failure, "Unable to get fields"))
    }

    async fn read_fields(&self, id: &str) -> Result<Map<String, Value>, Failure> {
        let url = format!("{}/{id}", self.issue_types_url());
        let answer = self.send(Method::GET, &url, None, &[]).await?;
        let fields = cloud_or_data_center(&answer, "fields");
        let fields = list(fields, "(rawFields || values)", "reduce")?;
        let mut by_id = Map::new();
        for field in fields {
            if field.is_null() {
                return Err(unreadable(Some(field), "fieldId"));
            }
            by_id.insert(template_text(field.get("fieldId")), field.clone());
        }
        Ok(by_id
            .into_iter()
            .map(|(id, field)| (id, normalise_field(&field)))
            .collect())
    }

    /// The fields every issue type has, described as the first type that has them
    /// describes them. As in Kibana, an empty intersection starts over with the next
    /// type's fields.
    async fn common_fields(&self) -> Result<Map<String, Value>, ServiceError> {
        let types = self.issue_types().await?;
        let mut common = Map::new();
        for issue_type in &types {
            let fields = self
                .fields_by_issue_type(&template_text(issue_type.get("id")))
                .await?;
            if common.is_empty() {
                common = fields;
            } else {
                common.retain(|key, _| fields.contains_key(key));
            }
        }
        Ok(common)
    }

    /// Issues of the project whose summary matches the title: `[{id, key, title}]`.
    async fn issues(&self, title: &str) -> Result<Vec<Value>, ServiceError> {
        self.search(title)
            .await
            .map_err(|failure| wrap(failure, "Unable to get issues"))
    }

    async fn search(&self, title: &str) -> Result<Vec<Value>, Failure> {
        let jql = format!(
            "project=\"{}\" and summary ~\"{}\"",
            self.project_key,
            escape_jql(title)
        );
        let url = format!(
            "{}?jql={}&fields=summary,key",
            self.api("search/jql"),
            encode_uri_component(&jql)
        );
        let answer = self.send(Method::GET, &url, None, &[]).await?;
        match answer.get("issues") {
            None | Some(Value::Null) => Ok(Vec::new()),
            issues => list(issues, "issues", "map")?
                .iter()
                .map(issue_summary)
                .collect(),
        }
    }

    async fn issue(&self, id: &str) -> Result<Value, ServiceError> {
        let url = self.api(&format!("issue/{id}"));
        let read = async {
            let answer = self.send(Method::GET, &url, None, &[]).await?;
            if answer.is_null() {
                return issue_summary(&json!({}));
            }
            issue_summary(&answer)
        };
        read.await
            .map_err(|failure| wrap(failure, &format!("Unable to get issue with id {id}")))
    }
}

/// The list of a createmeta answer: Cloud's `<cloud_key>` when truthy, else Data
/// Center's `values`.
fn cloud_or_data_center<'v>(answer: &'v Value, cloud_key: &str) -> Option<&'v Value> {
    match answer.get(cloud_key) {
        Some(list) if truthy(list) => Some(list),
        _ => answer.get("values"),
    }
}

/// The array Kibana calls `<expression>.<method>(...)` on; JavaScript's TypeError
/// when it is something else.
fn list<'v>(
    value: Option<&'v Value>,
    expression: &str,
    method: &str,
) -> Result<&'v Vec<Value>, Failure> {
    match value {
        Some(Value::Array(items)) => Ok(items),
        None | Some(Value::Null) => Err(unreadable(value, method)),
        Some(_) => Err(Failure::plain(format!(
            "{expression}.{method} is not a function"
        ))),
    }
}

/// `{id: item.id, name: item.name}` as JSON writes it: absent keys stay absent.
fn pick(item: &Value, keys: &[&str]) -> Result<Value, Failure> {
    if item.is_null() {
        return Err(unreadable(
            Some(item),
            keys.first().copied().unwrap_or_default(),
        ));
    }
    let picked: Map<String, Value> = keys
        .iter()
        .filter_map(|key| {
            item.get(*key)
                .map(|value| ((*key).to_owned(), value.clone()))
        })
        .collect();
    Ok(Value::Object(picked))
}

/// `{id, key, title}` of a found issue; `title` is `null` without a summary.
fn issue_summary(issue: &Value) -> Result<Value, Failure> {
    let mut summary = pick(issue, &["id", "key"])?;
    let title = match issue.get("fields").and_then(|it| it.get("summary")) {
        Some(title) => title.clone(),
        None => Value::Null,
    };
    summary["title"] = title;
    Ok(summary)
}

/// What Kibana keeps of a field's description, with its defaults.
fn normalise_field(field: &Value) -> Value {
    let mut normalised = Map::new();
    let mut keep = |name: &str, default: Option<Value>| match (field.get(name), default) {
        (Some(value), _) if !value.is_null() => {
            normalised.insert(name.to_owned(), value.clone());
        }
        (_, Some(default)) => {
            normalised.insert(name.to_owned(), default);
        }
        (Some(value), None) => {
            normalised.insert(name.to_owned(), value.clone());
        }
        (None, None) => {}
    };
    keep("required", None);
    keep("allowedValues", Some(json!([])));
    keep("defaultValue", Some(json!({})));
    keep("schema", None);
    keep("name", None);
    Value::Object(normalised)
}

/// Creates or updates the issue, then adds the non-empty comments.
async fn push(service: &Service<'_>, params: &Value) -> Result<Value, ServiceError> {
    let mut incident = params["incident"].clone();
    let external_id = incident
        .as_object_mut()
        .and_then(|it| it.remove("externalId"))
        .unwrap_or(Value::Null);
    let mut result = match external_id.as_str() {
        Some(id) => service.update_incident(id, &incident).await?,
        None => service.create_incident(&incident).await?,
    };
    let comments = itsm::comments(params);
    if !comments.is_empty() {
        let issue_id = template_text(result.get("id"));
        let mut pushed = Vec::new();
        for comment in comments.iter().filter(|it| truthy(&it["comment"])) {
            pushed.push(service.create_comment(&issue_id, comment).await?);
        }
        result["comments"] = Value::Array(pushed);
    }
    Ok(result)
}

impl ConnectorType for Jira {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".jira",
            name: "Jira",
            minimum_license: License::Gold,
            supported_feature_ids: super::ALERTING_CASES_UPTIME_SIEM,
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
            let service = Service::new(cx, connector.config, connector.secrets)?;
            let sub_params = &params["subActionParams"];
            let text = |key: &str| sub_params[key].as_str().unwrap_or_default();
            let data = match params["subAction"].as_str().unwrap_or_default() {
                "getIncident" => service.get_incident(text("externalId")).await?,
                "pushToService" => push(&service, sub_params).await?,
                "issueTypes" => Value::Array(service.issue_types().await?),
                "fieldsByIssueType" => {
                    Value::Object(service.fields_by_issue_type(text("id")).await?)
                }
                "getFields" => Value::Object(service.common_fields().await?),
                "issues" => Value::Array(service.issues(text("title")).await?),
                "issue" => service.issue(text("id")).await?,
                "handshake" => return Err(itsm::sub_action_not_implemented("", "handshake")),
                other => return Err(itsm::unsupported_sub_action("", other)),
            };
            Ok(Some(data))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_escaped_and_encoded_as_kibana_does() {
        let title = r#"[th!s^is()a-te+st-{~is*s&ue?or|and\bye:}]"}]"#;
        let jql = format!("project=\"CK\" and summary ~\"{}\"", escape_jql(title));
        assert_eq!(
            encode_uri_component(&jql),
            "project%3D%22CK%22%20and%20summary%20~%22%5C%5C%5Bth%5C%5C!s%5C%5C%5Eis%5C%5C(%5C%5C)a%5C%5C-te%5C%5C%2Bst%5C%5C-%5C%5C%7B%5C%5C~is%5C%5C*s%5C%5C%26ue%5C%5C%3For%5C%5C%7Cand%5C%5Cbye%5C%5C%3A%5C%5C%7D%5C%5C%5D%5C%5C%7D%5C%5C%5D%22"
        );
        assert_eq!(escape_jql("Javascript's é"), r"Javascript\\s é");
        assert_eq!(encode_uri_component("é '"), "%C3%A9%20'");
    }

    #[test]
    fn summaries_become_one_line() {
        assert_eq!(
            one_line_summary("title \n \n howdy \r test"),
            "title, howdy, test"
        );
        assert_eq!(one_line_summary("\u{feff} a\u{a0}"), "a");
    }

    #[test]
    fn fields_keep_truthy_values_and_other_fields_win() {
        let incident = json!({
            "summary": "s", "description": "", "labels": [], "priority": "High",
            "parent": null, "otherFields": { "project": { "key": "X" }, "customfield_1": 1 },
        });
        let fields = issue_fields("CK", &incident, &json!(""));
        assert_eq!(
            Value::Object(fields).to_string(),
            r#"{"summary":"s","project":{"key":"X"},"labels":[],"priority":{"name":"High"},"customfield_1":1}"#
        );
    }

    #[test]
    fn reasons_come_from_jiras_error_answer() {
        assert_eq!(reason(None), "unknown: errorResponse was null");
        assert_eq!(
            reason(Some(&Value::Null)),
            "unknown: errorResponse.errors was null"
        );
        assert_eq!(
            reason(Some(
                &json!({ "errorMessages": ["a", null, 2], "errors": { "x": "y" } })
            )),
            "a, , 2"
        );
        assert_eq!(
            reason(Some(
                &json!({ "errorMessages": [], "errors": { "x": "y", "z": "w" } })
            )),
            "y w"
        );
        assert_eq!(reason(Some(&json!({ "errors": {} }))), "");
    }

    #[test]
    fn labels_and_other_fields_are_checked() {
        assert_eq!(
            check_label(&json!("a\u{a0}b")),
            Err("The label a\u{a0}b cannot contain spaces".to_owned())
        );
        assert_eq!(check_label(&json!("a-b")), Ok(()));
        assert_eq!(
            check_other_fields(&json!({ "x": 1, "labels": 2, "summary": 3 })),
            Err(
                "The following properties cannot be defined inside otherFields: labels.".to_owned()
            )
        );
        let many: Map<String, Value> = (0..21).map(|i| (format!("f{i}"), json!(i))).collect();
        assert_eq!(
            check_other_fields(&Value::Object(many)),
            Err("A maximum of 20 fields in otherFields can be defined at a time.".to_owned())
        );
    }
}
