//! The ServiceNow client the three types share: authentication, the Table API and the
//! Elastic application's Import Set API, and Kibana's error texts
//! (`[Action][ServiceNow]: Unable to ... Error: ... Reason: ... [status=..] ...`).

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{Product, oauth};
use crate::connector_types::js::{text as js_text, truthy};
use crate::connector_types::{
    Connector, ErrorSource, ExecuteError, ExecutionContext,
    itsm::{Body, CallFailure, basic_auth, call, iso_date},
    outbound::Answer,
};

/// A failed step, as the JavaScript error Kibana would hold at that point: its
/// message, the HTTP answer when there was one, Node's error code, the status of a
/// ServiceNow-level failure, and whether it is the user's to fix.
#[derive(Debug)]
pub struct SnError {
    message: String,
    /// Boxed: errors travel through every `Result` of a run.
    answer: Option<Box<(u16, Value)>>,
    code: Option<&'static str>,
    api_status: Option<u16>,
    user: bool,
}

/// Which request failed, for the `[method=..] [endpoint=..]` suffix.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub method: &'static str,
    pub endpoint: &'static str,
}

const TABLE_GET: Context = Context {
    method: "get",
    endpoint: "table",
};
const HEALTH_GET: Context = Context {
    method: "get",
    endpoint: "health",
};

impl SnError {
    /// A plain `Error(message)`.
    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            answer: None,
            code: None,
            api_status: None,
            user: false,
        }
    }

    /// An error with Node's error code (axios sets one on its own errors).
    pub fn with_code(message: impl Into<String>, code: &'static str) -> Self {
        Self {
            code: Some(code),
            ..Self::plain(message)
        }
    }

    /// ServiceNow answered but said the operation failed (Import Set results).
    fn api(message: impl Into<String>, status: u16) -> Self {
        Self {
            api_status: Some(status),
            user: true,
            ..Self::plain(message)
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.answer.as_deref().map(|(status, _)| *status)
    }

    /// Kibana's `addServiceMessageToError`: rewrites the message, keeping the answer,
    /// so an outer step wraps the inner step's text again.
    pub fn wrap(mut self, what: &str, context: Option<Context>) -> Self {
        let (error, reason) = self.parts();
        let mut parts = vec![format!("{what}."), "Error:".to_owned(), error];
        if !reason.is_empty() {
            parts.push("Reason:".to_owned());
            parts.push(reason);
        }
        if let Some(context) = context {
            let status = self
                .status()
                .or(self.api_status)
                .map(|it| it.to_string())
                .or_else(|| self.code.map(str::to_owned))
                .unwrap_or_else(|| "none".to_owned());
            parts.push(format!("[status={status}]"));
            parts.push(format!("[method={}]", context.method));
            parts.push(format!("[endpoint={}]", context.endpoint));
        }
        self.message = format!("[Action][ServiceNow]: {}", parts.join(" "));
        self
    }

    /// The error and reason parts: from ServiceNow's `{error: {message, detail}}`
    /// answer, from an OAuth error given as JSON text, or the message itself.
    fn parts(&self) -> (String, String) {
        if let Some((_, body)) = self.answer.as_deref().filter(|(_, body)| truthy(body)) {
            let message = body["error"]["message"]
                .as_str()
                .filter(|it| !it.is_empty());
            let detail = body["error"]["detail"].as_str().filter(|it| !it.is_empty());
            let reason = match (message, detail) {
                (Some(message), Some(detail)) => format!("{message}: {detail}"),
                (Some(message), None) => message.to_owned(),
                (None, _) => "unknown: no error in error response".to_owned(),
            };
            return (self.message.clone(), reason);
        }
        if let Ok(parsed) = serde_json::from_str::<Value>(&self.message)
            && let Some(error) = parsed["error"].as_str()
        {
            let reason = parsed["error_description"].as_str().unwrap_or_default();
            return (error.to_owned(), reason.to_owned());
        }
        (self.message.clone(), String::new())
    }

    pub fn into_execute_error(self) -> ExecuteError {
        let error = ExecuteError::thrown(self.message);
        if self.user {
            error.with_source(ErrorSource::User)
        } else {
            error
        }
    }
}

impl From<CallFailure> for SnError {
    fn from(failure: CallFailure) -> Self {
        // An answer too large to read is the user's to fix, as in Kibana.
        let user = failure.code == Some("ERR_BAD_RESPONSE")
            && failure.message.contains("maxContentLength");
        Self {
            answer: failure
                .answer
                .map(|answer| Box::new((answer.status.as_u16(), answer.body))),
            code: failure.code,
            user,
            ..Self::plain(failure.message)
        }
    }
}

/// How calls are authenticated.
enum Auth<'a> {
    Basic(String),
    OAuth {
        tokens: &'a oauth::Tokens,
        credentials: oauth::Credentials,
    },
}

/// A connector's view of its ServiceNow instance for one run.
pub struct Service<'a> {
    cx: &'a ExecutionContext,
    product: &'static Product,
    connector_id: &'a str,
    /// `apiUrl` without one trailing `/`.
    base: String,
    use_table_api: bool,
    /// `secrets.username`, sent as the caller of new incidents.
    username: Value,
    auth: Auth<'a>,
}

impl<'a> Service<'a> {
    /// # Errors
    /// Kibana's `Wrong configuration.` when a value the chosen authentication needs
    /// is missing or empty.
    pub fn new(
        cx: &'a ExecutionContext,
        product: &'static Product,
        connector: &Connector<'a>,
        tokens: &'a oauth::Tokens,
    ) -> Result<Self, ExecuteError> {
        let (config, secrets) = (connector.config, connector.secrets);
        let is_oauth = config["isOAuth"] == true;
        let given = |source: &Value, keys: &[&str]| keys.iter().all(|key| truthy(&source[*key]));
        let complete = truthy(&config["apiUrl"])
            && if is_oauth {
                given(secrets, &["clientSecret", "privateKey"])
                    && given(config, &["clientId", "jwtKeyId", "userIdentifierValue"])
            } else {
                given(secrets, &["username", "password"])
            };
        if !complete {
            return Err(ExecuteError::thrown(
                "[Action]ServiceNow: Wrong configuration.",
            ));
        }
        let text = |source: &Value, key: &str| source[key].as_str().unwrap_or_default().to_owned();
        let api_url = text(config, "apiUrl");
        let base = api_url.strip_suffix('/').unwrap_or(&api_url).to_owned();
        let auth = if is_oauth {
            Auth::OAuth {
                tokens,
                credentials: oauth::Credentials {
                    token_url: format!("{base}/oauth_token.do"),
                    client_id: text(config, "clientId"),
                    client_secret: text(secrets, "clientSecret"),
                    user_identifier: text(config, "userIdentifierValue"),
                    key_id: text(config, "jwtKeyId"),
                    private_key: text(secrets, "privateKey"),
                    private_key_password: secrets["privateKeyPassword"]
                        .as_str()
                        .filter(|it| !it.is_empty())
                        .map(str::to_owned),
                    digest: oauth::digest(&[config, secrets]),
                },
            }
        } else {
            Auth::Basic(basic_auth(
                &text(secrets, "username"),
                &text(secrets, "password"),
            ))
        };
        Ok(Self {
            cx,
            product,
            connector_id: connector.id,
            base,
            use_table_api: !product.uses_import_api
                || config["usesTableApi"].as_bool().unwrap_or(true),
            username: secrets["username"].clone(),
            auth,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn uses_table_api(&self) -> bool {
        self.use_table_api
    }

    pub fn username(&self) -> &Value {
        &self.username
    }

    /// Sends one request with the connector's credentials. With OAuth, a 4xx answer
    /// drops the connector's token, as Kibana does: it may be what was refused.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, SnError> {
        let authorization = match &self.auth {
            Auth::Basic(header) => header.clone(),
            Auth::OAuth {
                tokens,
                credentials,
            } => {
                tokens
                    .authorization(self.cx, self.connector_id, credentials)
                    .await?
            }
        };
        let headers = [("authorization", authorization.as_str())];
        let body = body.map_or(Body::None, Body::Json);
        match call(self.cx, method, url, &headers, body).await {
            Ok(answer) => Ok(answer),
            Err(failure) => {
                if let Auth::OAuth { tokens, .. } = &self.auth
                    && failure.status().is_some_and(|it| (400..500).contains(&it))
                {
                    tokens.forget(self.connector_id);
                }
                Err(failure.into())
            }
        }
    }

    /// Kibana's `checkInstance`: an instance that answers without `result` (a
    /// hibernating developer instance answers with a web page) is reported as such.
    pub fn check_instance<'b>(&self, answer: &'b Answer) -> Result<&'b Value, SnError> {
        match answer.body.get("result") {
            Some(result) if !result.is_null() => Ok(result),
            _ => Err(SnError::plain(format!(
                "There is an issue with your Service Now Instance. Please check {}.",
                self.server_name()
            ))),
        }
    }

    /// The TLS server name of the connection: the host for https, nothing otherwise.
    fn server_name(&self) -> String {
        let Ok(url) = reqwest::Url::parse(&self.base) else {
            return String::new();
        };
        match url.domain() {
            Some(host) if url.scheme() == "https" => host.to_owned(),
            _ => String::new(),
        }
    }

    fn table_url(&self) -> String {
        format!("{}/api/now/v2/table/{}", self.base, self.product.table)
    }

    fn view_url(&self, id: &str) -> String {
        format!(
            "{}/nav_to.do?uri={}.do?sys_id={id}",
            self.base, self.product.table
        )
    }

    fn update_context(&self) -> Context {
        if self.use_table_api {
            Context {
                method: "patch",
                endpoint: "table",
            }
        } else {
            Context {
                method: "post",
                endpoint: "import_set",
            }
        }
    }

    /// The Elastic application's version (its health endpoint).
    pub async fn application_info(&self) -> Result<Value, SnError> {
        let url = format!(
            "{}/api/{}/elastic_api/health",
            self.base, self.product.app_scope
        );
        let outcome = async {
            let answer = self.send(Method::GET, &url, None).await?;
            self.check_instance(&answer).cloned()
        };
        outcome
            .await
            .map_err(|error| error.wrap("Unable to get application version", Some(HEALTH_GET)))
    }

    /// In Import Set mode, checks that the Elastic application answers.
    pub async fn check_application(&self) -> Result<(), SnError> {
        if !self.use_table_api {
            self.application_info().await?;
        }
        Ok(())
    }

    /// One record of the table, by `sys_id`.
    pub async fn get_incident(&self, id: &str) -> Result<Value, SnError> {
        let outcome = async {
            if id.trim().is_empty() {
                return Err(SnError::plain("Incident id is empty."));
            }
            let url = format!("{}/{id}", self.table_url());
            let answer = self.send(Method::GET, &url, None).await?;
            self.check_instance(&answer).cloned()
        };
        outcome.await.map_err(|error| {
            error.wrap(
                &format!("Unable to get incident with id {id}"),
                Some(TABLE_GET),
            )
        })
    }

    /// The newest record with this correlation id, if any.
    async fn get_incident_by_correlation_id(&self, id: &str) -> Result<Value, SnError> {
        let outcome = async {
            if id.trim().is_empty() {
                return Err(SnError::plain("Correlation ID is empty."));
            }
            // Not encoded, as in Kibana: the URL parser only fixes what it must.
            let url = format!(
                "{}?sysparm_query=ORDERBYDESCsys_created_on^correlation_id={id}",
                self.table_url()
            );
            let answer = self.send(Method::GET, &url, None).await?;
            let result = self.check_instance(&answer)?;
            Ok(result.get(0).cloned().unwrap_or(Value::Null))
        };
        outcome.await.map_err(|error| {
            error.wrap(
                &format!("Unable to get incident by correlation ID {id}"),
                Some(TABLE_GET),
            )
        })
    }

    /// The record's fields as ServiceNow will receive them: unprefixed for the
    /// Table API (which takes no additional fields), `u_`-prefixed after the
    /// additional fields for the Import Set API.
    fn prepare(&self, incident: &Map<String, Value>) -> Result<Map<String, Value>, SnError> {
        let additional = incident.get("additional_fields").unwrap_or(&Value::Null);
        let rest = incident
            .iter()
            .filter(|(key, _)| *key != "additional_fields");
        if self.use_table_api {
            if truthy(additional) {
                return Err(SnError::with_code(
                    "ServiceNow additional fields are not supported for deprecated connectors.",
                    "400",
                ));
            }
            return Ok(rest
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect());
        }
        let mut fields = additional.as_object().cloned().unwrap_or_default();
        for (key, value) in rest {
            fields.insert(format!("u_{key}"), value.clone());
        }
        Ok(fields)
    }

    /// Kibana's checks of an Import Set answer: a first result, not in error.
    fn check_import_set(&self, answer: &Answer, result: &Value) -> Result<(), SnError> {
        let status = answer.status.as_u16();
        let Some(first) = result.as_array().and_then(|it| it.first()) else {
            return Err(SnError::api("Unexpected result", status));
        };
        if first["status"] == "error" {
            return Err(SnError::api(js_text(&first["error_message"]), status));
        }
        Ok(())
    }

    /// The `sys_id` a create or update answered with.
    fn answered_id(&self, result: &Value) -> String {
        if self.use_table_api {
            js_text(&result["sys_id"])
        } else {
            js_text(&result[0]["sys_id"])
        }
    }

    /// Creates a record and reads it back: `{title, id, pushedDate, url}`.
    pub async fn create_incident(&self, incident: &Map<String, Value>) -> Result<Value, SnError> {
        let (url, endpoint) = if self.use_table_api {
            (self.table_url(), "table")
        } else {
            (self.import_set_url(), "import_set")
        };
        let outcome = async {
            let fields = self.prepare(incident)?;
            self.check_application().await?;
            let answer = self
                .send(Method::POST, &url, Some(&Value::Object(fields)))
                .await?;
            let result = self.check_instance(&answer)?;
            if !self.use_table_api {
                self.check_import_set(&answer, result)?;
            }
            let record = self.get_incident(&self.answered_id(result)).await?;
            self.pushed(&record, "sys_created_on")
        };
        outcome.await.map_err(|error| {
            error.wrap(
                "Unable to create incident",
                Some(Context {
                    method: "post",
                    endpoint,
                }),
            )
        })
    }

    /// Updates a record (by `sys_id`) and reads it back.
    pub async fn update_incident(
        &self,
        id: &str,
        incident: &Map<String, Value>,
    ) -> Result<Value, SnError> {
        let outcome = async {
            let mut fields = self.prepare(incident)?;
            self.check_application().await?;
            let (method, url) = if self.use_table_api {
                (Method::PATCH, format!("{}/{id}", self.table_url()))
            } else {
                // The Import Set API only takes POST; this field names the record.
                fields.insert("elastic_incident_id".to_owned(), json!(id));
                (Method::POST, self.import_set_url())
            };
            let answer = self
                .send(method, &url, Some(&Value::Object(fields)))
                .await?;
            let result = self.check_instance(&answer)?;
            if !self.use_table_api {
                self.check_import_set(&answer, result)?;
            }
            let record = self.get_incident(&self.answered_id(result)).await?;
            self.pushed(&record, "sys_updated_on")
        };
        outcome.await.map_err(|error| {
            error.wrap(
                &format!("Unable to update incident with id {id}"),
                Some(self.update_context()),
            )
        })
    }

    fn import_set_url(&self) -> String {
        format!(
            "{}/api/now/import/{}",
            self.base, self.product.import_set_table
        )
    }

    /// `{title, id, pushedDate, url}` of a record; ServiceNow's dates are UTC.
    fn pushed(&self, record: &Value, date_field: &str) -> Result<Value, SnError> {
        let pushed_date = match &record[date_field] {
            Value::Null => crate::connector_types::itsm::now_iso(),
            date => iso_date(&json!(js_text(date))).ok_or(SnError::plain("Invalid time value"))?,
        };
        let mut result = Map::new();
        // A missing value is left out, as JSON.stringify leaves out `undefined`.
        if let Some(number) = record.get("number") {
            result.insert("title".to_owned(), number.clone());
        }
        if let Some(id) = record.get("sys_id") {
            result.insert("id".to_owned(), id.clone());
        }
        result.insert("pushedDate".to_owned(), json!(pushed_date));
        result.insert(
            "url".to_owned(),
            json!(self.view_url(&js_text(&record["sys_id"]))),
        );
        Ok(Value::Object(result))
    }

    /// Closes a record found by `sys_id` or else by correlation id. `None` when there
    /// is none (a 404 included); a record already closed is reported, not updated.
    pub async fn close_incident(
        &self,
        incident_id: Option<&str>,
        correlation_id: Option<&str>,
    ) -> Result<Option<Value>, SnError> {
        let outcome = async {
            if incident_id.is_none() && correlation_id.is_none() {
                return Err(SnError::plain("No correlationId or incidentId found."));
            }
            let found = match (incident_id, correlation_id) {
                (Some(id), _) if !id.is_empty() => self.get_incident(id).await?,
                (_, Some(id)) if !id.is_empty() => self.get_incident_by_correlation_id(id).await?,
                _ => Value::Null,
            };
            if is_empty(&found) {
                tracing::warn!(
                    connector_id = self.connector_id,
                    "ServiceNow closeIncident: no incident found"
                );
                return Ok(None);
            }
            if found["state"] == "7" {
                return self.pushed(&found, "sys_updated_on").map(Some);
            }
            let mut close = Map::new();
            close.insert("state".to_owned(), json!("7"));
            close.insert("close_code".to_owned(), json!("Closed/Resolved by Caller"));
            close.insert("close_notes".to_owned(), json!("Closed by Caller"));
            self.update_incident(&js_text(&found["sys_id"]), &close)
                .await
                .map(Some)
        };
        match outcome.await {
            Ok(closed) => Ok(closed),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error.wrap("Unable to close incident", Some(self.update_context()))),
        }
    }

    /// The string fields of the table (`getFields`).
    pub async fn get_fields(&self) -> Result<Value, SnError> {
        let table = self.product.table;
        let url = format!(
            "{}/api/now/table/sys_dictionary?sysparm_query=name=task^ORname={table}^internal_type=string&active=true&array=false&read_only=false&sysparm_fields=max_length,element,column_label,mandatory",
            self.base
        );
        let outcome = async {
            let answer = self.send(Method::GET, &url, None).await?;
            let result = self.check_instance(&answer)?;
            Ok::<_, SnError>(match result.as_array() {
                Some(fields) if !fields.is_empty() => result.clone(),
                _ => json!([]),
            })
        };
        outcome
            .await
            .map_err(|error| error.wrap("Unable to get fields", Some(TABLE_GET)))
    }

    /// The choices of these fields (`getChoices`), as ServiceNow sends them.
    pub async fn get_choices(&self, fields: &Value) -> Result<Value, SnError> {
        let fields: Vec<String> = fields
            .as_array()
            .map(|it| it.iter().map(js_text).collect())
            .unwrap_or_default();
        let first = fields.first().map_or("undefined", String::as_str);
        let mut elements = format!("element={first}");
        for field in fields.iter().skip(1) {
            elements.push_str(&format!("^ORelement={field}"));
        }
        let url = format!(
            "{}/api/now/table/sys_choice?sysparm_query=name=task^ORname={}^{elements}^language=en&sysparm_fields=label,value,dependent_value,element",
            self.base, self.product.table
        );
        let outcome = async {
            let answer = self.send(Method::GET, &url, None).await?;
            self.check_instance(&answer).cloned()
        };
        outcome
            .await
            .map_err(|error| error.wrap("Unable to get choices", Some(TABLE_GET)))
    }
}

/// lodash's `isEmpty` for a JSON value.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::String(text) => text.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, body: Value) -> SnError {
        SnError {
            answer: Some(Box::new((status, body))),
            ..SnError::plain(format!("Request failed with status code {status}"))
        }
    }

    #[test]
    fn errors_read_like_kibana() {
        let table = Some(TABLE_GET);
        assert_eq!(
            answered(
                400,
                json!({ "error": { "message": "Invalid", "detail": "no table" } })
            )
            .wrap("Unable to get fields", table)
            .message,
            "[Action][ServiceNow]: Unable to get fields. Error: Request failed with status code 400 Reason: Invalid: no table [status=400] [method=get] [endpoint=table]"
        );
        assert_eq!(
            answered(500, json!("oops"))
                .wrap("Unable to add event", None)
                .message,
            "[Action][ServiceNow]: Unable to add event. Error: Request failed with status code 500 Reason: unknown: no error in error response"
        );
        assert_eq!(
            SnError::with_code("connect ECONNREFUSED 127.0.0.1:1", "ECONNREFUSED")
                .wrap("Unable to get choices", table)
                .message,
            "[Action][ServiceNow]: Unable to get choices. Error: connect ECONNREFUSED 127.0.0.1:1 [status=ECONNREFUSED] [method=get] [endpoint=table]"
        );
        assert_eq!(
            SnError::plain(r#"{"error":"invalid_grant","error_description":""}"#)
                .wrap("Unable to get choices", table)
                .message,
            "[Action][ServiceNow]: Unable to get choices. Error: invalid_grant [status=none] [method=get] [endpoint=table]"
        );
        let nested = answered(
            401,
            json!({ "error": { "message": "User Not Authenticated" } }),
        )
        .wrap("Unable to get application version", Some(HEALTH_GET))
        .wrap(
            "Unable to create incident",
            Some(Context {
                method: "post",
                endpoint: "import_set",
            }),
        );
        assert_eq!(
            nested.message,
            "[Action][ServiceNow]: Unable to create incident. Error: [Action][ServiceNow]: Unable to get application version. Error: Request failed with status code 401 Reason: User Not Authenticated [status=401] [method=get] [endpoint=health] Reason: User Not Authenticated [status=401] [method=post] [endpoint=import_set]"
        );
    }
}
