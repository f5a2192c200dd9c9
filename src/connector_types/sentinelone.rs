//! `.sentinelone`: SentinelOne's management API (agents, isolation, remote scripts,
//! file fetches, activities), a sub-action connector. Every call carries the API
//! token as the `APIToken` query parameter, so every text that could hold a URL is
//! scrubbed of the token before it leaves this module.

use base64::Engine;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ErrorSource, ExecuteError, ExecutionContext, License,
    Retry, Schemas, TypeInfo, ValidationContext,
    js::{encode_uri_component, text as js_text},
    outbound::TlsOverrides,
    subaction,
};
use crate::schema::{Schema, array, boolean, literal, maybe, nullable, number, object, one_of};

/// The id of the only feature that may use these connectors.
pub(super) const ENDPOINT_SECURITY: &[&str] = &["endpointSecurity"];

/// Kibana runs an endpoint-security connector's response actions (isolating a host,
/// running a script) for an HTTP caller only if it holds a privilege no feature grants:
/// in practice, superusers. The read-only sub-action is open to anyone who may execute.
pub(super) fn check_response_action(
    connector: &Connector<'_>,
    type_id: &str,
    sub_action: &str,
    read_only: &str,
) -> Result<(), ExecuteError> {
    if sub_action == read_only || connector.caller.is_superuser() {
        return Ok(());
    }
    Err(
        ExecuteError::new(format!("Unauthorized to execute a \"{type_id}\" action"))
            .with_retry(Retry::No)
            .with_source(ErrorSource::User),
    )
}

const API_PATH: &str = "/web/api/v2.1";

/// What the token is replaced with wherever it would otherwise appear.
const REDACTED: &str = "[REDACTED]";

/// The agent filters SentinelOne's `GET /agents` takes, in Kibana's order; each is a
/// string or `null` (the default).
const AGENT_FILTERS: &[&str] = &[
    "K8SNodeName__contains",
    "coreCount__lt",
    "rangerStatuses",
    "adUserQuery__contains",
    "rangerVersionsNin",
    "rangerStatusesNin",
    "coreCount__gte",
    "threatCreatedAt__gte",
    "decommissionedAt__lte",
    "operationalStatesNin",
    "appsVulnerabilityStatusesNin",
    "mitigationMode",
    "createdAt__gte",
    "gatewayIp",
    "cloudImage__contains",
    "registeredAt__between",
    "threatMitigationStatus",
    "installerTypesNin",
    "appsVulnerabilityStatuses",
    "threatResolved",
    "mitigationModeSuspicious",
    "isUpToDate",
    "adComputerQuery__contains",
    "updatedAt__gte",
    "azureResourceGroup__contains",
    "scanStatus",
    "threatContentHash",
    "osTypesNin",
    "threatRebootRequired",
    "totalMemory__between",
    "firewallEnabled",
    "gcpServiceAccount__contains",
    "updatedAt__gt",
    "remoteProfilingStates",
    "filteredGroupIds",
    "agentVersions",
    "activeThreats",
    "machineTypesNin",
    "lastActiveDate__gt",
    "awsSubnetIds__contains",
    "installerTypes",
    "registeredAt__gte",
    "migrationStatus",
    "cloudTags__contains",
    "totalMemory__gte",
    "decommissionedAt__lt",
    "threatCreatedAt__lt",
    "updatedAt__lte",
    "osArch",
    "registeredAt__gt",
    "registeredAt__lt",
    "siteIds",
    "networkInterfaceInet__contains",
    "groupIds",
    "uuids",
    "accountIds",
    "scanStatusesNin",
    "cpuCount__lte",
    "locationIds",
    "awsSecurityGroups__contains",
    "networkStatusesNin",
    "activeThreats__gt",
    "infected",
    "osVersion__contains",
    "machineTypes",
    "agentPodName__contains",
    "computerName__like",
    "threatCreatedAt__gt",
    "consoleMigrationStatusesNin",
    "computerName",
    "decommissionedAt__between",
    "cloudInstanceId__contains",
    "createdAt__lte",
    "coreCount__between",
    "totalMemory__lte",
    "remoteProfilingStatesNin",
    "adComputerMember__contains",
    "threatCreatedAt__between",
    "totalMemory__gt",
    "ids",
    "agentVersionsNin",
    "updatedAt__between",
    "locationEnabled",
    "locationIdsNin",
    "osTypes",
    "encryptedApplications",
    "filterId",
    "decommissionedAt__gt",
    "adUserMember__contains",
    "uuid",
    "coreCount__lte",
    "coreCount__gt",
    "cloudNetwork__contains",
    "clusterName__contains",
    "cpuCount__gte",
    "query",
    "lastActiveDate__between",
    "rangerStatus",
    "domains",
    "cloudProvider",
    "lastActiveDate__lt",
    "scanStatuses",
    "hasLocalConfiguration",
    "networkStatuses",
    "isPendingUninstall",
    "createdAt__gt",
    "cpuCount__lt",
    "consoleMigrationStatuses",
    "adQuery",
    "updatedAt__lt",
    "createdAt__lt",
    "adComputerName__contains",
    "cloudInstanceSize__contains",
    "registeredAt__lte",
    "networkQuarantineEnabled",
    "cloudAccount__contains",
    "cloudLocation__contains",
    "rangerVersions",
    "networkInterfaceGatewayMacAddress__contains",
    "uuid__contains",
    "agentNamespace__contains",
    "K8SNodeLabels__contains",
    "adQuery__contains",
    "K8SType__contains",
    "countsFor",
    "totalMemory__lt",
    "externalId__contains",
    "filteredSiteIds",
    "decommissionedAt__gte",
    "cpuCount__gt",
    "threatHidden",
    "isUninstalled",
    "computerName__contains",
    "lastActiveDate__lte",
    "adUserName__contains",
    "isActive",
    "userActionsNeeded",
    "threatCreatedAt__lte",
    "domainsNin",
    "operationalStates",
    "externalIp__contains",
    "isDecommissioned",
    "networkInterfacePhysical__contains",
    "lastActiveDate__gte",
    "createdAt__between",
    "cpuCount__between",
    "lastLoggedInUserName__contains",
    "awsRole__contains",
    "K8SVersion__contains",
];

/// Each sub-action's params schema, built once.
struct SubActions {
    agents: Schema,
    remote_scripts: Schema,
    execute_script: Schema,
    script_status: Schema,
    script_results: Schema,
    download_script_results: Schema,
    fetch_agent_files: Schema,
    download_agent_file: Schema,
    activities: Schema,
}

pub struct SentinelOne {
    schemas: Schemas,
    sub_actions: SubActions,
}

impl SentinelOne {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([("url", crate::schema::string())]),
                secrets: object([("token", crate::schema::string())]),
                params: subaction::params_schema(),
            },
            sub_actions: SubActions {
                agents: agents_schema(),
                remote_scripts: remote_scripts_schema(),
                execute_script: execute_script_schema(),
                script_status: crate::schema::record(crate::schema::any())
                    .check(check_parent_task_id),
                script_results: object([("taskIds", array(string()))]),
                download_script_results: object([("taskId", non_empty())]),
                fetch_agent_files: object([
                    ("agentId", non_empty()),
                    ("zipPassCode", string().min_length(10)),
                    ("files", array(non_empty())),
                ]),
                download_agent_file: object([
                    ("agentId", non_empty()),
                    ("activityId", non_empty()),
                ]),
                activities: activities_schema(),
            },
        }
    }
}

fn string() -> Schema {
    crate::schema::string()
}

fn non_empty() -> Schema {
    string().min_length(1)
}

/// The agent filter object of `getAgents`, `isolateHost` and `releaseHost`.
fn agents_schema() -> Schema {
    let mut fields: Vec<(&'static str, Schema)> = AGENT_FILTERS
        .iter()
        .map(|name| (*name, nullable(string())))
        .collect();
    fields.push(("alertIds", maybe(array(string()))));
    object(fields)
}

fn remote_scripts_schema() -> Schema {
    let text = || nullable(string());
    object([
        ("query", text()),
        ("osTypes", text()),
        ("scriptType", text()),
        ("cursor", text()),
        ("groupIds", text()),
        ("ids", text()),
        ("isAvailableForArs", nullable(boolean())),
        ("limit", nullable(number().check(check_limit))),
        ("siteIds", text()),
        ("skip", nullable(number())),
        ("skipCount", nullable(boolean())),
        ("sortBy", text()),
        ("sortOrder", text()),
    ])
}

/// `limit` is 1 to 1000, with config-schema's messages.
fn check_limit(value: &Value) -> Result<(), String> {
    match value.as_f64() {
        Some(limit) if limit < 1.0 => Err("Value must be equal to or greater than [1].".to_owned()),
        Some(limit) if limit > 1000.0 => {
            Err("Value must be equal to or lower than [1000].".to_owned())
        }
        _ => Ok(()),
    }
}

fn execute_script_schema() -> Schema {
    let text = || maybe(string());
    object([
        (
            "filter",
            object([("uuids", maybe(non_empty())), ("ids", maybe(non_empty()))]),
        ),
        (
            "script",
            object([
                ("apiKey", text()),
                ("inputParams", text()),
                ("outputDirectory", text()),
                (
                    "outputDestination",
                    maybe(one_of([
                        literal("Local"),
                        literal("None"),
                        literal("SentinelCloud"),
                        literal("SingularityXDR"),
                    ])),
                ),
                (
                    "passwordFromScope",
                    maybe(object([("scopeLevel", text()), ("scopeId", text())])),
                ),
                ("password", text()),
                ("requiresApproval", maybe(boolean())),
                ("scriptId", string()),
                ("scriptName", text()),
                ("scriptRuntimeTimeoutSeconds", maybe(number())),
                ("singularityxdrKeyword", text()),
                ("singularityxdrUrl", text()),
                ("taskDescription", text()),
            ]),
        ),
        ("alertIds", maybe(array(string()))),
    ])
}

/// `getRemoteScriptStatus` takes any keys, but `parentTaskId` must be a string.
fn check_parent_task_id(params: &Value) -> Result<(), String> {
    if params["parentTaskId"].is_string() {
        return Ok(());
    }
    Err(format!(
        "[parentTaskId]: expected value of type [string] but got [{}]",
        subaction::field_type(params, "parentTaskId")
    ))
}

fn activities_schema() -> Schema {
    let id = || maybe(non_empty());
    object([
        ("accountIds", id()),
        ("activityTypes", maybe(string())),
        ("activityUuids", id()),
        ("agentIds", id()),
        ("alertIds", id()),
        ("countOnly", maybe(boolean())),
        ("createdAt__between", id()),
        ("createdAt__gt", id()),
        ("createdAt__gte", id()),
        ("createdAt__lt", id()),
        ("createdAt__lte", id()),
        ("cursor", id()),
        ("groupIds", id()),
        ("ids", id()),
        ("includeHidden", maybe(boolean())),
        ("limit", maybe(number())),
        ("ruleIds", id()),
        ("siteIds", id()),
        ("skip", maybe(number())),
        ("skipCount", maybe(boolean())),
        ("sortBy", id()),
        ("sortOrder", id()),
        ("threatIds", id()),
        ("userEmails", id()),
        ("userIds", id()),
    ])
}

/// How axios writes a query value: `encodeURIComponent`, then `: $ , [ ]` given back
/// and spaces as `+`.
fn axios_encode(text: &str) -> String {
    encode_uri_component(text)
        .replace("%3A", ":")
        .replace("%24", "$")
        .replace("%2C", ",")
        .replace("%20", "+")
        .replace("%5B", "[")
        .replace("%5D", "]")
}

/// axios's query string for params: `null` values left out, arrays as `key[]=v`
/// pairs, objects as JSON, anything else as JavaScript writes it.
fn axios_query(params: &Map<String, Value>) -> Vec<String> {
    let mut pairs = Vec::new();
    for (key, value) in params {
        match value {
            Value::Null => {}
            Value::Array(items) => {
                let key = axios_encode(&format!("{key}[]"));
                for item in items.iter().filter(|it| !it.is_null()) {
                    pairs.push(format!("{key}={}", axios_encode(&query_text(item))));
                }
            }
            other => pairs.push(format!(
                "{}={}",
                axios_encode(key),
                axios_encode(&query_text(other))
            )),
        }
    }
    pairs
}

fn query_text(value: &Value) -> String {
    match value {
        Value::Object(_) => value.to_string(),
        other => js_text(other),
    }
}

/// A path segment from the user's params, encoded so it stays one segment.
fn segment(text: &str) -> String {
    encode_uri_component(text)
}

/// The framework's `data`: the answer's body, `{}` when there was none.
fn data_of(body: Value) -> Value {
    if body.is_null() { json!({}) } else { body }
}

/// One connector's calls to SentinelOne.
struct Client<'a> {
    cx: &'a ExecutionContext,
    url: &'a str,
    token: &'a str,
}

impl Client<'_> {
    /// Removes the token, raw or encoded, from a text that may quote a URL.
    fn scrub(&self, text: &str) -> String {
        if self.token.is_empty() {
            return text.to_owned();
        }
        let mut scrubbed = text.replace(self.token, REDACTED);
        for encoded in [axios_encode(self.token), encode_uri_component(self.token)] {
            scrubbed = scrubbed.replace(&encoded, REDACTED);
        }
        scrubbed
    }

    /// Checks a URL as the framework does, before any token is added to it.
    fn checked(&self, url: &str) -> Result<String, ExecuteError> {
        let url = subaction::normalise_url(url)?;
        self.cx
            .http
            .settings()
            .allowed_hosts
            .check_url(&url)
            .map_err(|message| {
                ExecuteError::thrown(format!("error configuring connector action: {message}"))
            })?;
        Ok(url)
    }

    /// `<url>/web/api/v2.1<path>?<query>&APIToken=<token>`, checked.
    fn api_url(&self, path: &str, query: &Map<String, Value>) -> Result<String, ExecuteError> {
        let url = self.checked(&format!("{}{API_PATH}{path}", self.url))?;
        let mut pairs = axios_query(query);
        pairs.push(format!("APIToken={}", axios_encode(self.token)));
        Ok(format!("{url}?{}", pairs.join("&")))
    }

    fn request(&self, method: Method, url: &str, body: Option<&Value>) -> reqwest::RequestBuilder {
        let request = self
            .cx
            .http
            .request(method, url)
            .header("content-type", "application/json");
        match body {
            Some(body) => request.body(body.to_string()),
            None => request,
        }
    }

    /// Calls the API and gives back its JSON answer, whatever its shape (Kibana never
    /// validates SentinelOne's answers).
    async fn api(
        &self,
        method: Method,
        path: &str,
        query: &Map<String, Value>,
        body: Option<&Value>,
    ) -> Result<Value, ExecuteError> {
        let url = self.api_url(path, query)?;
        let answer = self
            .cx
            .http
            .call(self.request(method, &url, body))
            .await
            .map_err(|failure| self.no_answer(&failure.message))?;
        if !answer.status.is_success() {
            return Err(self.failed(answer.status.as_u16(), answer.status_text(), &answer.body));
        }
        Ok(data_of(answer.body))
    }

    /// A call that got no answer: axios's message and an empty body.
    fn no_answer(&self, message: &str) -> ExecuteError {
        let text = if message.is_empty() {
            "Unknown API Error"
        } else {
            message
        };
        subaction::call_failed(None, &self.scrub(&format!("{text}\nResponse body: {{}}")))
    }

    /// Kibana's text for a non-2xx answer, with the answer's body.
    fn failed(&self, status: u16, status_text: &str, body: &Value) -> ExecuteError {
        let message = if status == 401 {
            "Unauthorized API Error (401)".to_owned()
        } else {
            format!("API Error: [{status_text}] Request failed with status code {status}")
        };
        let body = if body.is_null() {
            "{}".to_owned()
        } else {
            body.to_string()
        };
        subaction::call_failed(
            Some(status),
            &self.scrub(&format!("{message}\nResponse body: {body}")),
        )
    }

    /// Downloads a file: the bytes in base64, with their content type and size (a
    /// JSON result cannot carry a stream).
    async fn download(&self, url: &str) -> Result<Value, ExecuteError> {
        let http = &self.cx.http;
        let response = http
            .send(
                self.request(Method::GET, url, None),
                &TlsOverrides::default(),
            )
            .await
            .map_err(|failure| self.no_answer(&failure.message))?;
        let status = response.status();
        if !status.is_success() {
            let body = http
                .read_body(response)
                .await
                .map_err(|failure| self.no_answer(&failure.message))?;
            return Err(self.failed(
                status.as_u16(),
                status.canonical_reason().unwrap_or_default(),
                &body,
            ));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|it| it.to_str().ok())
            .map(str::to_owned);
        let bytes = self.read_bytes(response).await?;
        Ok(json!({
            "contentType": content_type,
            "size": bytes.len(),
            "encoding": "base64",
            "content": base64::engine::general_purpose::STANDARD.encode(&bytes),
        }))
    }

    /// Reads a whole answer, no more than `maxResponseContentLength` bytes.
    async fn read_bytes(&self, mut response: reqwest::Response) -> Result<Vec<u8>, ExecuteError> {
        let limit = self.cx.http.settings().max_response_bytes;
        let too_large = || self.no_answer(&format!("maxContentLength size of {limit} exceeded"));
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.no_answer(&self.cx.http.describe(&error).message))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// The params without the keys SentinelOne must not see.
fn without(params: &Value, keys: &[&str]) -> Map<String, Value> {
    params
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| !keys.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn no_query() -> Map<String, Value> {
    Map::new()
}

impl Client<'_> {
    async fn get_agents(&self, filters: &Map<String, Value>) -> Result<Value, ExecuteError> {
        self.api(Method::GET, "/agents", filters, None).await
    }

    /// `isolateHost` (`isolate`) and `releaseHost`: the first matching agent, if its
    /// network status allows, is disconnected or connected.
    async fn isolation(&self, params: &Value, isolate: bool) -> Result<Value, ExecuteError> {
        let agents = self.get_agents(&without(params, &["alertIds"])).await?;
        let Some(agent) = agents["data"].as_array().and_then(|it| it.first()) else {
            return Err(ExecuteError::thrown("No agents found"));
        };
        let disconnected = agent["networkStatus"] == "disconnected";
        let (path, refusal) = if isolate {
            ("/agents/actions/disconnect", "Agent already isolated")
        } else {
            ("/agents/actions/connect", "Agent not isolated")
        };
        if disconnected == isolate {
            return Err(ExecuteError::thrown(refusal));
        }
        let body = json!({ "filter": { "ids": agent["id"] } });
        self.api(Method::POST, path, &no_query(), Some(&body)).await
    }

    async fn execute_script(&self, params: &Value) -> Result<Value, ExecuteError> {
        let filter = &params["filter"];
        if filter.get("ids").is_none() && filter.get("uuids").is_none() {
            return Err(ExecuteError::thrown(
                "A filter must be defined; either 'ids' or 'uuids'",
            ));
        }
        let mut data = Map::new();
        data.insert("outputDestination".to_owned(), json!("SentinelCloud"));
        if let Some(script) = params["script"].as_object() {
            data.extend(script.clone());
        }
        let body = json!({ "data": data, "filter": filter });
        self.api(
            Method::POST,
            "/remote-scripts/execute",
            &no_query(),
            Some(&body),
        )
        .await
    }

    async fn script_results(&self, task_ids: &Value) -> Result<Value, ExecuteError> {
        let body = json!({ "data": { "taskIds": task_ids } });
        self.api(
            Method::POST,
            "/remote-scripts/fetch-files",
            &no_query(),
            Some(&body),
        )
        .await
    }

    async fn download_script_results(&self, task_id: &str) -> Result<Value, ExecuteError> {
        let results = self.script_results(&json!([task_id])).await?;
        let link = results["data"]["download_links"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|link| link["taskId"] == task_id)
            .and_then(|link| link["downloadUrl"].as_str())
            .filter(|url| !url.is_empty());
        let Some(link) = link else {
            return Err(ExecuteError::thrown(format!(
                "Download URL for script results of task id [{task_id}] not found"
            )));
        };
        // The link is SentinelOne's own (a signed cloud-storage URL): no token goes with it.
        let url = self.checked(link)?;
        self.download(&url).await
    }

    async fn fetch_agent_files(&self, params: &Value) -> Result<Value, ExecuteError> {
        let path = format!(
            "/agents/{}/actions/fetch-files",
            segment(params["agentId"].as_str().unwrap_or_default())
        );
        let body =
            json!({ "data": { "password": params["zipPassCode"], "files": params["files"] } });
        self.api(Method::POST, &path, &no_query(), Some(&body))
            .await
    }

    async fn download_agent_file(&self, params: &Value) -> Result<Value, ExecuteError> {
        let path = format!(
            "/agents/{}/uploads/{}",
            segment(params["agentId"].as_str().unwrap_or_default()),
            segment(params["activityId"].as_str().unwrap_or_default())
        );
        let url = self.api_url(&path, &no_query())?;
        self.download(&url).await
    }
}

impl SentinelOne {
    async fn run(
        &self,
        client: &Client<'_>,
        name: &str,
        connector_id: &str,
        params: &Value,
    ) -> Result<Value, ExecuteError> {
        let checks = &self.sub_actions;
        let valid = |schema: &Schema| subaction::validate(schema, params);
        match name {
            "getAgents" => {
                let filters = valid(&checks.agents)?;
                client.get_agents(&without(&filters, &[])).await
            }
            "isolateHost" => client.isolation(&valid(&checks.agents)?, true).await,
            "releaseHost" => client.isolation(&valid(&checks.agents)?, false).await,
            "getRemoteScripts" => {
                let query = valid(&checks.remote_scripts)?;
                client
                    .api(Method::GET, "/remote-scripts", &without(&query, &[]), None)
                    .await
            }
            "executeScript" => client.execute_script(&valid(&checks.execute_script)?).await,
            "getRemoteScriptStatus" => {
                let status = valid(&checks.script_status)?;
                let mut query = Map::new();
                query.insert("parent_task_id".to_owned(), status["parentTaskId"].clone());
                client
                    .api(Method::GET, "/remote-scripts/status", &query, None)
                    .await
            }
            "getRemoteScriptResults" => {
                let results = valid(&checks.script_results)?;
                client.script_results(&results["taskIds"]).await
            }
            "downloadRemoteScriptResults" => {
                let download = valid(&checks.download_script_results)?;
                let task_id = download["taskId"].as_str().unwrap_or_default();
                client.download_script_results(task_id).await
            }
            "fetchAgentFiles" => {
                client
                    .fetch_agent_files(&valid(&checks.fetch_agent_files)?)
                    .await
            }
            "downloadAgentFile" => {
                client
                    .download_agent_file(&valid(&checks.download_agent_file)?)
                    .await
            }
            "getActivities" => {
                let query = valid(&checks.activities)?;
                client
                    .api(Method::GET, "/activities", &without(&query, &[]), None)
                    .await
            }
            other => Err(subaction::not_registered(other, connector_id, self.info())),
        }
    }
}

impl ConnectorType for SentinelOne {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".sentinelone",
            name: "Sentinel One",
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
            check_response_action(&connector, ".sentinelone", name, "getAgents")?;
            let client = Client {
                cx,
                url: connector.config["url"].as_str().unwrap_or_default(),
                token: connector.secrets["token"].as_str().unwrap_or_default(),
            };
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
    fn queries_are_written_as_axios_writes_them() {
        let params = json!({
            "computerName": "host a", "uuids": "u1,u2", "skip": null, "limit": 10,
            "flag": true, "alertIds": ["a:1", "b"], "q": "x/y&z",
        });
        assert_eq!(
            axios_query(params.as_object().unwrap()).join("&"),
            "computerName=host+a&uuids=u1,u2&limit=10&flag=true&alertIds[]=a:1&alertIds[]=b&q=x%2Fy%26z"
        );
    }

    #[test]
    fn the_token_is_scrubbed_raw_and_encoded() {
        let cx = crate::connector_types::ExecutionContext {
            http: crate::connector_types::outbound::Outbound::new(Default::default()).unwrap(),
        };
        let client = Client {
            cx: &cx,
            url: "https://s1.example",
            token: "a b/c",
        };
        assert_eq!(
            client
                .scrub("GET https://s1.example/x?APIToken=a+b%2Fc failed; token a b/c, a%20b%2Fc"),
            "GET https://s1.example/x?APIToken=[REDACTED] failed; token [REDACTED], [REDACTED]"
        );
    }

    #[test]
    fn limits_are_checked() {
        let schema = remote_scripts_schema();
        assert!(schema.validate(&json!({ "limit": 1000 })).is_ok());
        assert!(schema.validate(&json!({ "limit": 0 })).is_err());
        assert!(schema.validate(&json!({ "limit": 1001 })).is_err());
    }
}
