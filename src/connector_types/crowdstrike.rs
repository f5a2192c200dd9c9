//! `.crowdstrike`: CrowdStrike Falcon's API (host containment, device details and
//! online state, real-time-response scripts), a sub-action connector. Calls carry an
//! OAuth2 client-credentials token, kept per connector until it expires.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License, Schemas,
    TypeInfo, ValidationContext,
    itsm::basic_auth,
    js::{encode_uri_component, text as js_text, truthy},
    jwt::{TokenCache, digest},
    outbound::{Answer, TransportFailure, with_secret_headers},
    sentinelone::{self, ENDPOINT_SECURITY},
    subaction,
};
use crate::schema::{Schema, any, array, literal, maybe, object, one_of, record, string};

/// How long a token is kept when CrowdStrike's answer does not say (Kibana 8.x's timer:
/// tokens live 30 minutes).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(29 * 60);
/// A token is dropped this long before CrowdStrike says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);
/// The only real-time-response base command Kibana lets through.
const SUPPORTED_RTR_COMMANDS: &[&str] = &["runscript"];

const RTR_PATH: &str = "/real-time-response/combined";

pub struct CrowdStrike {
    schemas: Schemas,
    host_actions: Schema,
    agents: Schema,
    rtr: Schema,
    /// Tokens by connector id; a token is only used with the config and secrets it
    /// was obtained with.
    tokens: TokenCache,
}

impl CrowdStrike {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([("url", string())]),
                secrets: object([("clientId", string()), ("clientSecret", string())]),
                params: subaction::params_schema(),
            },
            host_actions: object([
                (
                    "command",
                    one_of([literal("contain"), literal("lift_containment")]),
                ),
                ("actionParameters", maybe(record(any()))),
                ("ids", array(string())),
                ("alertIds", maybe(array(string()))),
                ("comment", maybe(string())),
            ]),
            agents: object([("ids", array(string()))]),
            // Kibana takes anything here and fails on use; the fields it uses are checked.
            rtr: record(any()).check(check_rtr),
            tokens: TokenCache::default(),
        }
    }
}

/// RTR params: `command` a string and `endpoint_ids` strings.
fn check_rtr(params: &Value) -> Result<(), String> {
    if !params["command"].is_string() {
        return Err(format!(
            "[command]: expected value of type [string] but got [{}]",
            subaction::field_type(params, "command")
        ));
    }
    let ids = params["endpoint_ids"].as_array();
    if !ids.is_some_and(|ids| ids.iter().all(Value::is_string)) {
        return Err(format!(
            "[endpoint_ids]: expected value of type [array] but got [{}]",
            subaction::field_type(params, "endpoint_ids")
        ));
    }
    Ok(())
}

/// Kibana's query serialiser: `key=encodeURIComponent(String(value))`, so an array
/// becomes one comma-joined value.
fn query(params: &[(&str, &Value)]) -> String {
    params
        .iter()
        .map(|(key, value)| {
            format!(
                "{}={}",
                encode_uri_component(key),
                encode_uri_component(&js_text(value))
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Kibana's text for a failed call: CrowdStrike's first error message, else what the
/// transport said, else the answer's body.
fn failure_text(status: Option<u16>, body: &Value, transport: Option<&TransportFailure>) -> String {
    if let Some(first) = body["errors"].get(0).filter(|it| truthy(it)) {
        return first
            .get("message")
            .map_or_else(|| "undefined".to_owned(), js_text);
    }
    if let Some(failure) = transport {
        match failure.code {
            Some("ENOTFOUND") => {
                let host = failure.message.rsplit(' ').next().unwrap_or_default();
                return format!("URL not found: {host}");
            }
            Some("ECONNREFUSED") => {
                let address = failure.message.rsplit(' ').next().unwrap_or_default();
                return format!("Connection Refused: {address}");
            }
            _ => {}
        }
    }
    let body = if body.is_null() {
        "{}".to_owned()
    } else {
        body.to_string()
    };
    match status {
        None => format!("Unknown API Error: {body}"),
        Some(_) => format!("API Error: {body}"),
    }
}

fn failed(answer: &Answer) -> ExecuteError {
    let status = answer.status.as_u16();
    subaction::call_failed(
        Some(status),
        &failure_text(Some(status), &answer.body, None),
    )
}

fn no_answer(failure: &TransportFailure) -> ExecuteError {
    subaction::call_failed(None, &failure_text(None, &Value::Null, Some(failure)))
}

/// One run's calls to CrowdStrike.
struct Client<'a> {
    cx: &'a ExecutionContext,
    owner: &'a CrowdStrike,
    connector_id: &'a str,
    url: &'a str,
    basic: String,
    digest: [u8; 32],
}

/// A request to make: method, path under the connector's URL, query, JSON body.
struct Call<'a> {
    method: Method,
    path: &'a str,
    query: String,
    body: Option<Value>,
}

impl<'a> Client<'a> {
    fn new(cx: &'a ExecutionContext, owner: &'a CrowdStrike, connector: &Connector<'a>) -> Self {
        let secret = |key: &str| {
            connector.secrets[key]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            cx,
            owner,
            connector_id: connector.id,
            url: connector.config["url"].as_str().unwrap_or_default(),
            basic: basic_auth(&secret("clientId"), &secret("clientSecret")),
            digest: digest(&[connector.config, connector.secrets]),
        }
    }

    /// The framework's URL rules and the allowed-hosts check.
    fn checked(&self, path: &str, query: &str) -> Result<String, ExecuteError> {
        let url = subaction::normalise_url(&format!("{}{path}", self.url))?;
        self.cx
            .http
            .settings()
            .allowed_hosts
            .check_url(&url)
            .map_err(|message| {
                ExecuteError::thrown(format!("error configuring connector action: {message}"))
            })?;
        Ok(if query.is_empty() {
            url
        } else {
            format!("{url}?{query}")
        })
    }

    /// The connector's token: the cached one while it lasts, else a new one.
    async fn token(&self) -> Result<String, ExecuteError> {
        if let Some(token) = self.owner.tokens.get(self.connector_id, &self.digest) {
            return Ok(token);
        }
        let requested_at = SystemTime::now();
        let url = self.checked("/oauth2/token", "")?;
        // Credentials go only in the Basic header; the form body is empty.
        let request = with_secret_headers(
            self.cx.http.request(Method::POST, &url),
            &[("authorization", &self.basic)],
        )
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("");
        let answer = self
            .cx
            .http
            .call(request)
            .await
            .map_err(|it| no_answer(&it))?;
        if !answer.status.is_success() {
            return Err(failed(&answer));
        }
        let Some(value) = answer.body["access_token"]
            .as_str()
            .filter(|it| !it.is_empty())
        else {
            return Err(subaction::call_failed(
                Some(answer.status.as_u16()),
                "CrowdStrike's token answer has no access_token",
            ));
        };
        let lifetime = answer.body["expires_in"]
            .as_f64()
            .filter(|it| it.is_finite() && *it > 0.0)
            .map_or(DEFAULT_LIFETIME, |seconds| {
                Duration::from_secs_f64(seconds.min(1e9)).saturating_sub(EXPIRY_MARGIN)
            });
        self.owner.tokens.put(
            self.connector_id,
            self.digest,
            value.to_owned(),
            requested_at + lifetime,
        );
        Ok(value.to_owned())
    }

    /// Calls the API with the token; a 401 drops the token and the call is made once
    /// more with a new one.
    async fn api(&self, call: &Call<'_>) -> Result<Value, ExecuteError> {
        let url = self.checked(call.path, &call.query)?;
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let answer = self.send(call, &url, &token).await?;
            if answer.status.as_u16() == 401 && !retried {
                self.owner.tokens.forget(self.connector_id);
                retried = true;
                continue;
            }
            if !answer.status.is_success() {
                return Err(failed(&answer));
            }
            return Ok(if answer.body.is_null() {
                json!({})
            } else {
                answer.body
            });
        }
    }

    async fn send(&self, call: &Call<'_>, url: &str, token: &str) -> Result<Answer, ExecuteError> {
        let bearer = format!("Bearer {token}");
        let mut request = with_secret_headers(
            self.cx.http.request(call.method.clone(), url),
            &[("authorization", &bearer)],
        )
        .header("content-type", "application/json");
        if let Some(body) = &call.body {
            request = request.body(body.to_string());
        }
        self.cx
            .http
            .call(request)
            .await
            .map_err(|it| no_answer(&it))
    }

    async fn host_actions(&self, params: &Value) -> Result<Value, ExecuteError> {
        let mut body = Map::new();
        body.insert("ids".to_owned(), params["ids"].clone());
        if let Some(parameters) = params["actionParameters"].as_object() {
            let listed = parameters
                .iter()
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect();
            body.insert("action_parameters".to_owned(), Value::Array(listed));
        }
        self.api(&Call {
            method: Method::POST,
            path: "/devices/entities/devices-actions/v2",
            query: query(&[("action_name", &params["command"])]),
            body: Some(Value::Object(body)),
        })
        .await
    }

    async fn devices(&self, path: &str, params: &Value) -> Result<Value, ExecuteError> {
        self.api(&Call {
            method: Method::GET,
            path,
            query: query(&[("ids", &params["ids"])]),
            body: None,
        })
        .await
    }

    /// Opens a batch session on the hosts, then runs the command in it.
    async fn rtr(&self, command_path: &str, params: &Value) -> Result<Value, ExecuteError> {
        let hosts = &params["endpoint_ids"];
        let session = self
            .api(&Call {
                method: Method::POST,
                path: &format!("{RTR_PATH}/batch-init-session/v1"),
                query: String::new(),
                body: Some(json!({ "host_ids": hosts })),
            })
            .await?;
        let command = params["command"].as_str().unwrap_or_default();
        let base_command = command.split(' ').next().unwrap_or_default();
        if !SUPPORTED_RTR_COMMANDS.contains(&base_command) {
            return Err(ExecuteError::thrown("Command not supported"));
        }
        let mut body = Map::new();
        body.insert("base_command".to_owned(), json!(base_command));
        body.insert("command_string".to_owned(), json!(command));
        // Kibana sends `undefined` (no key) when the session answer has no batch id.
        if let Some(batch_id) = session.get("batch_id").filter(|it| !it.is_null()) {
            body.insert("batch_id".to_owned(), batch_id.clone());
        }
        body.insert("hosts".to_owned(), hosts.clone());
        body.insert("persist_all".to_owned(), json!(false));
        self.api(&Call {
            method: Method::POST,
            path: &format!("{RTR_PATH}/{command_path}"),
            query: String::new(),
            body: Some(Value::Object(body)),
        })
        .await
    }
}

impl CrowdStrike {
    async fn run(
        &self,
        client: &Client<'_>,
        name: &str,
        connector_id: &str,
        params: &Value,
    ) -> Result<Value, ExecuteError> {
        let valid = |schema: &Schema| subaction::validate(schema, params);
        match name {
            "hostActions" => client.host_actions(&valid(&self.host_actions)?).await,
            "getAgentDetails" => {
                let params = valid(&self.agents)?;
                client
                    .devices("/devices/entities/devices/v2", &params)
                    .await
            }
            "getAgentOnlineStatus" => {
                let params = valid(&self.agents)?;
                client
                    .devices("/devices/entities/online-state/v1", &params)
                    .await
            }
            "executeRTRCommand" => client.rtr("batch-command/v1", &valid(&self.rtr)?).await,
            "batchActiveResponderExecuteRTR" => {
                client
                    .rtr("batch-active-responder-command/v1", &valid(&self.rtr)?)
                    .await
            }
            "batchAdminExecuteRTR" => {
                client
                    .rtr("batch-admin-command/v1", &valid(&self.rtr)?)
                    .await
            }
            "getRTRCloudScripts" => {
                client
                    .api(&Call {
                        method: Method::GET,
                        path: "/real-time-response/entities/scripts/v1",
                        query: String::new(),
                        body: None,
                    })
                    .await
            }
            other => Err(subaction::not_registered(other, connector_id, self.info())),
        }
    }
}

impl ConnectorType for CrowdStrike {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".crowdstrike",
            name: "CrowdStrike",
            minimum_license: License::Enterprise,
            supported_feature_ids: ENDPOINT_SECURITY,
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
            let name = params["subAction"].as_str().unwrap_or_default();
            sentinelone::check_response_action(
                &connector,
                ".crowdstrike",
                name,
                "getAgentDetails",
            )?;
            let client = Client::new(cx, self, &connector);
            let data = self
                .run(&client, name, connector.id, &params["subActionParams"])
                .await?;
            Ok(Some(data))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_one_comma_joined_value() {
        assert_eq!(
            query(&[("ids", &json!(["a", "b c"])), ("x", &json!(2))]),
            "ids=a%2Cb%20c&x=2"
        );
    }

    #[test]
    fn failures_read_like_kibanas() {
        let body = json!({ "errors": [{ "code": 400, "message": "bad ids" }] });
        assert_eq!(failure_text(Some(400), &body, None), "bad ids");
        assert_eq!(
            failure_text(Some(500), &json!({ "errors": [] }), None),
            "API Error: {\"errors\":[]}"
        );
        let refused = TransportFailure {
            code: Some("ECONNREFUSED"),
            message: "connect ECONNREFUSED 127.0.0.1:9".to_owned(),
        };
        assert_eq!(
            failure_text(None, &Value::Null, Some(&refused)),
            "Connection Refused: 127.0.0.1:9"
        );
        let other = TransportFailure {
            code: Some("ECONNRESET"),
            message: "socket hang up".to_owned(),
        };
        assert_eq!(
            failure_text(None, &Value::Null, Some(&other)),
            "Unknown API Error: {}"
        );
    }
}
