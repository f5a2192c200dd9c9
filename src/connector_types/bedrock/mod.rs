//! `.bedrock`: Amazon Bedrock's runtime API (Anthropic Messages and Converse), a
//! sub-action connector whose requests are signed with AWS Signature V4.
//!
//! `invokeStream` and `converseStream` answer as a stream (see [`stream`] and
//! [`super::streaming`]). `bedrockClientSend` takes an AWS SDK command object, which
//! an HTTP caller cannot send: it is refused with an error result.

mod body;
mod signing;
mod stream;

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License, Schemas,
    TypeInfo, ValidationContext,
    js::{json_parse_error, text as js_text},
    outbound::{Answer, TlsOverrides, TransportFailure},
    streaming::{self, ResponseChunks, Streamed},
    subaction,
};
use crate::schema::{
    Schema, any, array, boolean, literal, maybe, number, object, one_of, record, string,
};

/// Kibana's list for this type, in its order.
const FEATURES: &[&str] = &[
    "generativeAIForSecurity",
    "generativeAIForObservability",
    "generativeAIForSearchPlayground",
];

const DEFAULT_MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// Kibana's timeout for Bedrock calls when the caller gives none.
const DEFAULT_TIMEOUT_MS: u64 = 200_000;

/// The longest a streamed answer may last, however steadily it arrives.
const STREAM_LIMIT: Duration = Duration::from_secs(60 * 60);

/// Bedrock's answer when the URL is the control plane rather than the runtime.
const NOT_RECOGNISED: &str = "The requested operation is not recognized by the service.";

/// The headers Kibana signs for the plain (`invoke`) calls.
const INVOKE_HEADERS: &[(&str, &str)] = &[("content-type", "application/json"), ("accept", "*/*")];

/// The headers Kibana signs for the streaming calls, and for `converse` too.
const CONVERSE_HEADERS: &[(&str, &str)] = &[
    ("accept", "application/vnd.amazon.eventstream"),
    ("content-type", "application/json"),
    ("x-amzn-bedrock-accept", "*/*"),
];

pub struct Bedrock {
    schemas: Schemas,
    run: Schema,
    invoke_ai: Schema,
    invoke_ai_raw: Schema,
    converse: Schema,
    dashboard: Schema,
    client_send: Schema,
}

impl Bedrock {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([
                    ("apiUrl", string()),
                    ("defaultModel", string().default(DEFAULT_MODEL)),
                    ("region", maybe(string())),
                    (
                        "contextWindowLength",
                        maybe(number()).check(|value| at_least(value, 32_000.0)),
                    ),
                    ("temperature", maybe(number())),
                ]),
                secrets: object([("accessKey", string()), ("secret", string())]),
                params: subaction::params_schema(),
            },
            run: object([
                ("body", string()),
                ("model", maybe(string())),
                ("signal", maybe(any())),
                ("timeout", maybe(number())),
                ("raw", maybe(boolean())),
                ("telemetryMetadata", maybe(telemetry_schema())),
            ]),
            invoke_ai: invoke_schema(
                object([
                    ("role", string()),
                    ("content", maybe(string())),
                    ("rawContent", maybe(array(any()))),
                ])
                .check(check_message),
            ),
            invoke_ai_raw: invoke_schema(object([("role", string()), ("content", any())])),
            converse: converse_schema(),
            dashboard: object([("dashboardId", string())]),
            client_send: object([
                ("command", any()),
                ("signal", maybe(any())),
                ("telemetryMetadata", maybe(telemetry_schema())),
            ]),
        }
    }
}

fn telemetry_schema() -> Schema {
    object([
        ("pluginId", maybe(string())),
        ("aggregateBy", maybe(string())),
    ])
}

/// config-schema's `min` on a number.
fn at_least(value: &Value, limit: f64) -> Result<(), String> {
    match value.as_f64() {
        Some(number) if number < limit => Err(format!(
            "Value must be equal to or greater than [{}].",
            limit as u64
        )),
        _ => Ok(()),
    }
}

fn check_message(message: &Value) -> Result<(), String> {
    match (message.get("content"), message.get("rawContent")) {
        (None, None) => Err("Must specify either content or rawContent".to_owned()),
        (Some(_), Some(_)) => {
            Err("content and rawContent can not be used at the same time".to_owned())
        }
        _ => Ok(()),
    }
}

/// `invokeAI`'s params (and `invokeAIRaw`'s, with their own message shape).
fn invoke_schema(message: Schema) -> Schema {
    object([
        ("messages", array(message)),
        ("model", maybe(string())),
        ("temperature", maybe(number())),
        ("stopSequences", maybe(array(string()))),
        ("system", maybe(string())),
        ("maxTokens", maybe(number())),
        ("signal", maybe(any())),
        ("timeout", maybe(number())),
        ("anthropicVersion", maybe(string())),
        (
            "tools",
            maybe(array(object([
                ("name", string()),
                ("description", string()),
                ("input_schema", record(any())),
            ]))),
        ),
        (
            "toolChoice",
            maybe(object([
                (
                    "type",
                    one_of([literal("auto"), literal("any"), literal("tool")]),
                ),
                ("name", maybe(string())),
            ])),
        ),
        ("telemetryMetadata", maybe(telemetry_schema())),
    ])
}

/// `converse`'s params. Kibana allows unknown keys here, so only the known ones
/// are checked (see [`known`]).
fn converse_schema() -> Schema {
    object([
        ("messages", array(any())),
        ("model", maybe(string())),
        ("system", maybe(array(any()))),
        ("temperature", maybe(number())),
        ("maxTokens", maybe(number())),
        ("stopSequences", maybe(array(string()))),
        ("tools", maybe(array(any()))),
        ("toolChoice", maybe(any())),
        ("signal", maybe(any())),
        ("timeout", maybe(number())),
        ("telemetryMetadata", maybe(telemetry_schema())),
        ("connectorUsageCollector", maybe(any())),
    ])
}

/// The keys of an object that a schema with `unknowns: 'allow'` looks at, so a
/// strict schema can check them with config-schema's messages. Anything else is
/// passed to the strict schema unchanged, to be refused with its type.
fn known(value: &Value, keys: &[&str]) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(key, _)| keys.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// Checks a Messages API answer (`stop_reason`, `usage`, `content` blocks; other
/// keys allowed).
fn check_messages_answer(body: &Value) -> Result<(), ExecuteError> {
    let mut projected = known(body, &["stop_reason", "usage", "content"]);
    if let Some(usage) = projected.get_mut("usage") {
        *usage = known(usage, USAGE_KEYS);
    }
    if let Some(Value::Array(blocks)) = projected.get_mut("content") {
        for block in blocks {
            *block = known(block, &["type", "text"]);
        }
    }
    let schema = object([
        ("stop_reason", maybe(string())),
        ("usage", maybe(usage_schema())),
        (
            "content",
            array(object([("type", string()), ("text", maybe(string()))])),
        ),
    ]);
    subaction::check_response(&schema, &projected)
}

const USAGE_KEYS: &[&str] = &[
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
];

fn usage_schema() -> Schema {
    object([
        ("input_tokens", number()),
        ("output_tokens", number()),
        ("cache_creation_input_tokens", maybe(number())),
    ])
}

/// Checks a Claude 2 text-completion answer.
fn check_completion_answer(body: &Value) -> Result<(), ExecuteError> {
    let mut projected = known(body, &["completion", "stop_reason", "usage"]);
    if let Some(usage) = projected.get_mut("usage") {
        *usage = known(usage, USAGE_KEYS);
    }
    let schema = object([
        ("completion", string()),
        ("stop_reason", maybe(string())),
        ("usage", maybe(usage_schema())),
    ]);
    subaction::check_response(&schema, &projected)
}

/// Checks that an answer is an object (`invokeAIRaw`, `raw` runs).
fn check_object_answer(body: &Value) -> Result<(), ExecuteError> {
    subaction::check_response(&object([]), &known(body, &[]))
}

/// Checks a Converse answer (`output`, `stopReason`, `usage`; others allowed).
fn check_converse_answer(body: &Value) -> Result<(), ExecuteError> {
    let mut projected = known(body, &["output", "stopReason", "usage"]);
    if let Some(output) = projected.get_mut("output") {
        *output = known(output, &["message"]);
    }
    if let Some(usage) = projected.get_mut("usage") {
        *usage = known(usage, &["inputToken", "outputTokens", "totalTokens"]);
    }
    let schema = object([
        ("output", object([("message", maybe(record(any())))])),
        ("stopReason", maybe(string())),
        (
            "usage",
            object([
                ("inputToken", maybe(number())),
                ("outputTokens", maybe(number())),
                ("totalTokens", maybe(number())),
            ]),
        ),
    ]);
    subaction::check_response(&schema, &projected)
}

/// Kibana's `getResponseErrorMessage` for Bedrock.
fn api_error(answer: &Answer) -> String {
    let message = answer
        .body
        .as_object()
        .and_then(|body| body.get("message"))
        .filter(|message| super::js::truthy(message))
        .map(js_text);
    match answer.status.as_u16() {
        400 if answer.body["message"] == NOT_RECOGNISED => format!(
            "API Error: {NOT_RECOGNISED}\n\nThe Kibana Connector in use may need to be reconfigured with an updated Amazon Bedrock endpoint, like `bedrock-runtime`."
        ),
        401 => match message {
            Some(message) => format!("Unauthorized API Error: {message}"),
            None => "Unauthorized API Error".to_owned(),
        },
        _ => match message {
            Some(message) => format!("API Error: {} - {message}", answer.status_text()),
            None => format!("API Error: {}", answer.status_text()),
        },
    }
}

/// A call without an answer: `Unexpected API Error: <code> - <message>`.
fn no_answer(failure: &TransportFailure, timeout: Duration) -> ExecuteError {
    // The shared client words timeouts with its own default; this call had its own.
    let message =
        if failure.code == Some("ECONNABORTED") && failure.message.starts_with("timeout of ") {
            format!("timeout of {}ms exceeded", timeout.as_millis())
        } else {
            failure.message.clone()
        };
    subaction::call_failed(
        None,
        &format!(
            "Unexpected API Error: {} - {message}",
            failure.code.unwrap_or_default()
        ),
    )
}

/// One connector's calls to Bedrock.
struct Client<'a> {
    cx: &'a ExecutionContext,
    url: &'a str,
    default_model: Option<&'a str>,
    region: String,
    access_key: &'a str,
    secret: &'a str,
}

/// One signed call: where, what and how long to wait.
struct Call<'a> {
    model: Option<&'a str>,
    operation: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a str,
    timeout_ms: Option<&'a Value>,
}

impl<'a> Client<'a> {
    fn new(cx: &'a ExecutionContext, connector: &Connector<'a>) -> Self {
        Self {
            cx,
            url: connector.config["apiUrl"].as_str().unwrap_or_default(),
            default_model: connector.config["defaultModel"].as_str(),
            region: body::region(connector.config),
            access_key: connector.secrets["accessKey"].as_str().unwrap_or_default(),
            secret: connector.secrets["secret"].as_str().unwrap_or_default(),
        }
    }

    /// The model the call is for: the params' `model`, else the connector's.
    fn model<'m>(&'m self, requested: Option<&'m str>) -> Result<&'m str, ExecuteError> {
        requested.or(self.default_model).ok_or_else(|| {
            ExecuteError::thrown("No model specified. Please configure a default model.")
        })
    }

    /// Signs a POST of the body to `<apiUrl>/model/<model>/<operation>`, to be sent
    /// with `limit` on the whole call.
    fn signed_request(
        &self,
        call: &Call<'_>,
        limit: Duration,
    ) -> Result<reqwest::RequestBuilder, ExecuteError> {
        let model = self.model(call.model)?;
        let segment = body::model_segment(model).map_err(ExecuteError::thrown)?;
        let path = format!("/model/{segment}/{}", call.operation);
        let url = subaction::normalise_url(&format!("{}{path}", self.url))?;
        self.cx
            .http
            .settings()
            .allowed_hosts
            .check_url(&url)
            .map_err(|message| {
                ExecuteError::thrown(format!("error configuring connector action: {message}"))
            })?;
        let parsed = reqwest::Url::parse(&url)
            .map_err(|error| ExecuteError::thrown(format!("URL Error: {error}")))?;
        let host = match parsed.port() {
            Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_owned(),
        };
        // Kibana signs the operation's path alone, whatever path `apiUrl` has.
        let signed = signing::signed_headers(&signing::ToSign {
            host: &host,
            path: &path,
            headers: call.headers,
            body: call.body,
            region: &self.region,
            access_key: self.access_key,
            secret: self.secret,
            time: SystemTime::now(),
        })
        .map_err(ExecuteError::thrown)?;
        let mut request = self.cx.http.request(Method::POST, &url).timeout(limit);
        for (name, value) in call.headers {
            request = request.header(*name, *value);
        }
        for (name, value) in &signed {
            request = super::outbound::with_secret_headers(request, &[(name, value)]);
        }
        Ok(request.body(call.body.to_owned()))
    }

    /// Signs and POSTs a body to `<apiUrl>/model/<model>/<operation>`; a non-2xx
    /// answer is a failure in Kibana's words.
    async fn send(&self, call: &Call<'_>) -> Result<Value, ExecuteError> {
        let timeout = self.timeout(call.timeout_ms);
        let request = self.signed_request(call, timeout)?;
        let answer = self
            .cx
            .http
            .call(request)
            .await
            .map_err(|failure| no_answer(&failure, timeout))?;
        if !answer.status.is_success() {
            return Err(subaction::call_failed(
                Some(answer.status.as_u16()),
                &api_error(&answer),
            ));
        }
        Ok(answer.body)
    }

    /// Signs and POSTs a streaming call; the answer once Bedrock has accepted it.
    /// Each wait (for the answer, then for each chunk) lasts at most the call's
    /// `timeout` or `responseTimeout`, whichever is longer.
    async fn send_stream(
        &self,
        call: &Call<'_>,
        kind: stream::Kind,
    ) -> Result<Streamed, ExecuteError> {
        let idle = self.idle_timeout(call.timeout_ms);
        let request = self.signed_request(call, STREAM_LIMIT)?;
        let http = &self.cx.http;
        let response = tokio::time::timeout(idle, http.send(request, &TlsOverrides::default()))
            .await
            .map_err(|_| no_answer(&streaming::timed_out(idle), idle))?
            .map_err(|failure| no_answer(&failure, idle))?;
        if !response.status().is_success() {
            let status = response.status();
            let headers = response.headers().clone();
            let body = tokio::time::timeout(idle, http.read_body(response))
                .await
                .map_err(|_| no_answer(&streaming::timed_out(idle), idle))?
                .map_err(|failure| no_answer(&failure, idle))?;
            let answer = Answer {
                status,
                headers,
                body,
            };
            return Err(subaction::call_failed(
                Some(status.as_u16()),
                &api_error(&answer),
            ));
        }
        let chunks = ResponseChunks {
            response,
            http: http.clone(),
            idle,
            describe: |failure| {
                format!(
                    "Status code: undefined. Message: Unexpected API Error: {} - {}",
                    failure.code.unwrap_or_default(),
                    failure.message
                )
            },
        };
        Ok(Streamed {
            source: Box::new(stream::EventStreamChunks::new(chunks, kind)),
            summary: Box::new(stream::Summary::default()),
        })
    }

    /// A stream waits for the longer of its own `timeout` and `responseTimeout`.
    fn idle_timeout(&self, requested_ms: Option<&Value>) -> Duration {
        let floor = self.cx.http.settings().response_timeout;
        requested_ms
            .and_then(Value::as_f64)
            .filter(|ms| ms.is_finite() && *ms > 0.0)
            .map_or(floor, |ms| millis(ms).max(floor))
    }

    /// The framework waits for the longer of `responseTimeout` and the call's own.
    fn timeout(&self, requested_ms: Option<&Value>) -> Duration {
        let requested = requested_ms
            .and_then(Value::as_f64)
            .filter(|ms| ms.is_finite() && *ms > 0.0)
            .map_or(Duration::from_millis(DEFAULT_TIMEOUT_MS), millis);
        requested.max(self.cx.http.settings().response_timeout)
    }

    /// `run`/`test`: the body as given; the answer as Claude 2 shaped it.
    async fn run(&self, params: &Value) -> Result<Value, ExecuteError> {
        let text = params["body"].as_str().unwrap_or_default();
        let raw = params["raw"].as_bool().unwrap_or(false);
        // Kibana parses the body (and so may throw) only when it is not raw.
        let parsed = if raw {
            None
        } else {
            Some(
                serde_json::from_str::<Value>(text)
                    .map_err(|error| ExecuteError::thrown(json_parse_error(text, &error)))?,
            )
        };
        let answer = self
            .send(&Call {
                model: params["model"].as_str(),
                operation: "invoke",
                headers: INVOKE_HEADERS,
                body: text,
                timeout_ms: params.get("timeout"),
            })
            .await?;
        match parsed {
            None => {
                check_object_answer(&answer)?;
                Ok(answer)
            }
            Some(body) if body::uses_prompt(&body) => {
                check_completion_answer(&answer)?;
                Ok(answer)
            }
            Some(_) => {
                check_messages_answer(&answer)?;
                Ok(claude2_result(&answer))
            }
        }
    }

    async fn invoke_ai(&self, params: &Value) -> Result<Value, ExecuteError> {
        let body = body::js_json(&body::messages_body(params));
        let answer = self
            .send(&Call {
                model: params["model"].as_str(),
                operation: "invoke",
                headers: INVOKE_HEADERS,
                body: &body,
                timeout_ms: params.get("timeout"),
            })
            .await?;
        check_messages_answer(&answer)?;
        let result = claude2_result(&answer);
        let mut data = Map::new();
        data.insert(
            "message".into(),
            json!(result["completion"].as_str().unwrap_or_default().trim()),
        );
        if let Some(usage) = result.get("usage") {
            data.insert("usage".into(), usage.clone());
        }
        Ok(Value::Object(data))
    }

    async fn invoke_ai_raw(&self, params: &Value) -> Result<Value, ExecuteError> {
        let body = body::js_json(&body::raw_body(params));
        let answer = self
            .send(&Call {
                model: params["model"].as_str(),
                operation: "invoke",
                headers: INVOKE_HEADERS,
                body: &body,
                timeout_ms: params.get("timeout"),
            })
            .await?;
        check_object_answer(&answer)?;
        Ok(answer)
    }

    /// `invokeStream`: the Messages body (without `maxTokens`, which Kibana does not
    /// pass on here) to `invoke-with-response-stream`.
    async fn invoke_stream(&self, params: &Value) -> Result<Streamed, ExecuteError> {
        let mut params = params.clone();
        if let Some(fields) = params.as_object_mut() {
            fields.remove("maxTokens");
        }
        let body = body::js_json(&body::messages_body(&params));
        let call = Call {
            model: params["model"].as_str(),
            operation: "invoke-with-response-stream",
            headers: CONVERSE_HEADERS,
            body: &body,
            timeout_ms: params.get("timeout"),
        };
        self.send_stream(&call, stream::Kind::Invoke).await
    }

    /// `converseStream`: the Converse body to `converse-stream`.
    async fn converse_stream(&self, params: &Value) -> Result<Streamed, ExecuteError> {
        let model = self.model(params["model"].as_str())?;
        let body = body::js_json(&body::converse_body(params, model));
        let call = Call {
            model: Some(model),
            operation: "converse-stream",
            headers: CONVERSE_HEADERS,
            body: &body,
            timeout_ms: params.get("timeout"),
        };
        self.send_stream(&call, stream::Kind::Converse).await
    }

    async fn converse(&self, params: &Value) -> Result<Value, ExecuteError> {
        let model = self.model(params["model"].as_str())?;
        let body = body::js_json(&body::converse_body(params, model));
        let answer = self
            .send(&Call {
                model: Some(model),
                operation: "converse",
                headers: CONVERSE_HEADERS,
                body: &body,
                timeout_ms: params.get("timeout"),
            })
            .await?;
        check_converse_answer(&answer)?;
        Ok(answer)
    }
}

/// Kibana keeps Claude 2's result shape for Messages API answers:
/// `{completion, stop_reason, usage}` (absent members left out).
fn claude2_result(answer: &Value) -> Value {
    let content = answer["content"].as_array().map_or(&[][..], Vec::as_slice);
    let mut result = Map::new();
    result.insert("completion".into(), json!(body::completion(content)));
    for key in ["stop_reason", "usage"] {
        if let Some(value) = answer.get(key) {
            result.insert(key.into(), value.clone());
        }
    }
    Value::Object(result)
}

/// The error result of `bedrockClientSend`, whose AWS SDK command cannot come over HTTP.
fn streaming_not_supported(name: &str) -> ExecuteError {
    ExecuteError::thrown(format!(
        "Sub action \"{name}\" streams its answer, which the _execute API cannot return yet"
    ))
}

/// A caller's `timeout` in milliseconds, at most a day (a larger one, up to `1e308`,
/// would not fit a `Duration`).
fn millis(ms: f64) -> Duration {
    const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);
    Duration::try_from_secs_f64(ms / 1000.0).map_or(LONGEST, |it| it.min(LONGEST))
}

impl ConnectorType for Bedrock {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".bedrock",
            name: "Amazon Bedrock",
            minimum_license: License::Enterprise,
            supported_feature_ids: FEATURES,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        let url = config["apiUrl"].as_str().unwrap_or_default();
        let wrap =
            |inner: String| format!("Error configuring Amazon Bedrock action: Error: {inner}");
        assert_url(url).map_err(wrap)?;
        subaction::check_url_config(&config["apiUrl"], cx).map_err(wrap)
    }

    fn streams(&self, params: &Value) -> bool {
        matches!(
            params["subAction"].as_str(),
            Some("invokeStream" | "converseStream")
        )
    }

    fn execute_stream<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Streamed, ExecuteError>> {
        Box::pin(async move {
            let client = Client::new(cx, &connector);
            let sub_params = &params["subActionParams"];
            if params["subAction"] == "converseStream" {
                subaction::validate(&self.converse, &known(sub_params, CONVERSE_KEYS))?;
                client.converse_stream(sub_params).await
            } else {
                let checked = subaction::validate(&self.invoke_ai, sub_params)?;
                client.invoke_stream(&checked).await
            }
        })
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
            let name = params["subAction"].as_str().unwrap_or_default();
            let data = match name {
                "run" | "test" => {
                    client
                        .run(&subaction::validate(&self.run, sub_params)?)
                        .await?
                }
                "invokeAI" => {
                    let params = subaction::validate(&self.invoke_ai, sub_params)?;
                    client.invoke_ai(&params).await?
                }
                "invokeAIRaw" => {
                    let params = subaction::validate(&self.invoke_ai_raw, sub_params)?;
                    client.invoke_ai_raw(&params).await?
                }
                "converse" => {
                    subaction::validate(&self.converse, &known(sub_params, CONVERSE_KEYS))?;
                    client.converse(sub_params).await?
                }
                "getDashboard" => {
                    subaction::validate(&self.dashboard, sub_params)?;
                    // The token-usage dashboard lives in Kibana; there is none to offer.
                    json!({ "available": false })
                }
                "bedrockClientSend" => {
                    subaction::validate(&self.client_send, sub_params)?;
                    return Err(streaming_not_supported(name));
                }
                other => return Err(subaction::not_registered(other, connector.id, self.info())),
            };
            Ok(Some(data))
        })
    }
}

const CONVERSE_KEYS: &[&str] = &[
    "messages",
    "model",
    "system",
    "temperature",
    "maxTokens",
    "stopSequences",
    "tools",
    "toolChoice",
    "signal",
    "timeout",
    "telemetryMetadata",
    "connectorUsageCollector",
];

/// The framework's `assertURL`: it must parse, have a host and be http(s).
fn assert_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "URL Error: Invalid URL".to_owned())?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("URL Error: URL must contain hostname".to_owned());
    }
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("URL Error: Invalid protocol".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_answers_become_claude2_results() {
        let answer = json!({
            "id": "msg_1",
            "content": [{ "type": "text", "text": "Hello" }],
            "stop_reason": "end_turn",
            "usage": { "input_tokens": 3, "output_tokens": 1 },
        });
        assert_eq!(
            claude2_result(&answer),
            json!({ "completion": "Hello", "stop_reason": "end_turn",
                    "usage": { "input_tokens": 3, "output_tokens": 1 } })
        );
        assert_eq!(
            check_messages_answer(&json!({ "content": "x" }))
                .unwrap_err()
                .service_message(),
            Some(
                "Response validation failed (Error: [content]: could not parse array value from json input)"
            )
        );
    }
}
