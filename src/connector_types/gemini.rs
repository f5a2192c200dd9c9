//! `.gemini`: Google Gemini models on Vertex AI (`generateContent`), a sub-action
//! connector. Calls carry an access token that the connector's service account gets
//! from Google's token endpoint for an RS256 assertion signed with its key (the JWT
//! bearer grant); the token is kept per connector until shortly before it expires.
//! `invokeStream` answers as a stream (`streamGenerateContent?alt=sse`); see
//! [`super::streaming`].

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License, Schemas,
    TypeInfo, ValidationContext,
    itsm::{Body, CallFailure, call},
    js::{text as js_text, truthy},
    jwt::{self, JWT_BEARER_GRANT, Keys, TokenCache},
    outbound::{Answer, TlsOverrides, TransportFailure},
    streaming::{self, ChunkSource, ResponseChunks, SseLines, StreamSummary, Streamed},
    subaction,
};
use crate::schema::{Schema, any, array, boolean, literal, maybe, number, object, one_of, string};

/// Kibana's list for this type, in its order.
const FEATURES: &[&str] = &[
    "generativeAIForSecurity",
    "generativeAIForSearchPlayground",
    "generativeAIForObservability",
];
const DEFAULT_MODEL: &str = "gemini-2.5-pro";
/// Kibana's default for a Gemini call; the server's `responseTimeout` wins if longer.
const DEFAULT_TIMEOUT_MS: f64 = 180_000.0;
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// How long Kibana keeps a token: a little less than Google's hour.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3500);
/// A token is dropped this long before Google says it expires.
const EXPIRY_MARGIN_SECONDS: f64 = 100.0;
const TOKEN_FAILURE: &str = "Unable to retrieve access token. Ensure the service account has the right permissions and the Vertex AI endpoint is enabled in the GCP project. Error: ";
const EMPTY_TOKEN: &str =
    "Error occurred while retrieving the access token. Ensure that the credentials are vaild.";
/// The longest a streamed answer may last, however steadily it arrives.
const STREAM_LIMIT: Duration = Duration::from_secs(60 * 60);

pub struct Gemini {
    schemas: Schemas,
    run: Schema,
    invoke_ai: Schema,
    dashboard: Schema,
    token_url: String,
    tokens: TokenCache,
    keys: Keys,
}

impl Gemini {
    /// `token_url`: where assertions are traded for tokens (`xpack.actions.googleTokenUrl`).
    pub fn new(token_url: String) -> Self {
        Self {
            schemas: Schemas {
                config: object([
                    ("apiUrl", string()),
                    ("defaultModel", string().default(DEFAULT_MODEL)),
                    ("gcpRegion", string()),
                    ("gcpProjectID", string()),
                    ("contextWindowLength", maybe(number())),
                    ("temperature", maybe(number())),
                ]),
                secrets: object([("credentialsJson", string())]),
                params: subaction::params_schema(),
            },
            run: run_schema(),
            invoke_ai: invoke_ai_schema(),
            dashboard: object([("dashboardId", string())]),
            token_url,
            tokens: TokenCache::default(),
            keys: Keys::default(),
        }
    }
}

fn telemetry_metadata() -> Schema {
    maybe(object([
        ("pluginId", maybe(string())),
        ("aggregateBy", maybe(string())),
    ]))
}

/// `run` and `test`: a body sent as given.
fn run_schema() -> Schema {
    object([
        ("body", any()),
        ("model", maybe(string())),
        ("signal", maybe(any())),
        ("timeout", maybe(number())),
        ("temperature", maybe(number())),
        ("stopSequences", maybe(array(string()))),
        ("raw", maybe(boolean())),
        ("telemetryMetadata", telemetry_metadata()),
    ])
}

/// `invokeAI`, `invokeAIRaw` and `invokeStream`: messages the body is built from.
fn invoke_ai_schema() -> Schema {
    let mode = one_of([literal("AUTO"), literal("ANY"), literal("NONE")]);
    object([
        ("maxOutputTokens", maybe(number())),
        ("messages", any()),
        ("systemInstruction", maybe(string())),
        ("model", maybe(string())),
        ("temperature", maybe(number())),
        ("stopSequences", maybe(array(string()))),
        ("signal", maybe(any())),
        ("timeout", maybe(number())),
        ("tools", maybe(array(any()))),
        (
            "toolConfig",
            maybe(object([
                ("mode", mode),
                ("allowedFunctionNames", maybe(array(string()))),
            ])),
        ),
        ("telemetryMetadata", telemetry_metadata()),
    ])
}

/// Kibana's `assertURL`: the URL must parse, have a host and be http(s).
fn assert_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|_| "URL Error: Invalid URL".to_owned())?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("URL Error: URL must contain hostname".to_owned());
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err("URL Error: Invalid protocol".to_owned());
    }
    Ok(())
}

/// Kibana's check of the credentials: present, JSON, and a service account's (the
/// only kind that cannot make the server read files or call other endpoints).
fn check_credentials(text: &str) -> Result<Value, String> {
    if text.is_empty() {
        return Err("Error: Google Service Account credentials JSON is required.".to_owned());
    }
    let credentials: Value = serde_json::from_str(text)
        .map_err(|_| "Error: Invalid JSON format for credentials.".to_owned())?;
    let kind = match &credentials {
        Value::Null => {
            return Err("TypeError: Cannot read properties of null (reading 'type')".to_owned());
        }
        Value::Object(fields) => fields
            .get("type")
            .map_or_else(|| "undefined".to_owned(), js_text),
        _ => "undefined".to_owned(),
    };
    if credentials["type"] != "service_account" {
        return Err(format!(
            "Error: Invalid credential type. Only \"service_account\" credentials are supported. Type was \"{kind}\"."
        ));
    }
    Ok(credentials)
}

/// The service account's fields a token request needs.
struct ServiceAccount {
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
}

impl ServiceAccount {
    /// google-auth-library's requirements, in its words.
    fn from_credentials(credentials: &Value) -> Result<Self, String> {
        let text = |key: &str| {
            credentials[key]
                .as_str()
                .filter(|it| !it.is_empty())
                .map(str::to_owned)
        };
        let client_email = text("client_email")
            .ok_or("The incoming JSON object does not contain a client_email field")?;
        let private_key = text("private_key")
            .ok_or("The incoming JSON object does not contain a private_key field")?;
        Ok(Self {
            client_email,
            private_key,
            private_key_id: text("private_key_id"),
        })
    }
}

/// What one call to Vertex AI sends.
struct Generate<'a> {
    body: &'a Value,
    model: Option<&'a str>,
    timeout_ms: Option<f64>,
}

impl Gemini {
    /// The connector's access token: the one kept while valid, else a new one.
    async fn access_token(
        &self,
        cx: &ExecutionContext,
        connector: &Connector<'_>,
    ) -> Result<String, ExecuteError> {
        let text = connector.secrets["credentialsJson"]
            .as_str()
            .unwrap_or_default();
        let credentials = check_credentials(text)
            .map_err(|message| ExecuteError::thrown(message_of(&message)))?;
        let digest = jwt::digest(&[&json!(text), &json!(self.token_url)]);
        if let Some(token) = self.tokens.get(connector.id, &digest) {
            return Ok(token);
        }
        let started = SystemTime::now();
        let (token, lifetime) = self
            .request_token(cx, &credentials)
            .await
            .map_err(|message| ExecuteError::thrown(format!("{TOKEN_FAILURE}{message}")))?;
        let token = token.ok_or_else(|| ExecuteError::thrown(EMPTY_TOKEN))?;
        if !lifetime.is_zero() {
            self.tokens
                .put(connector.id, digest, token.clone(), started + lifetime);
        }
        Ok(token)
    }

    /// Signs an assertion and trades it for a token: the token (if the answer had
    /// one) and how long to keep it.
    async fn request_token(
        &self,
        cx: &ExecutionContext,
        credentials: &Value,
    ) -> Result<(Option<String>, Duration), String> {
        let account = ServiceAccount::from_credentials(credentials)?;
        let key = self.keys.get(&account.private_key, None).await?;
        let (header, claims) = assertion_parts(&account, &self.token_url);
        let assertion = jwt::sign(key, header, claims).await?;
        let form = jwt::form_body(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)]);
        let answer = call(
            cx,
            Method::POST,
            &self.token_url,
            &[],
            Body::Text(&form, "application/x-www-form-urlencoded"),
        )
        .await
        .map_err(|failure| token_refusal(&failure, &self.token_url))?;
        let token = answer.body["access_token"]
            .as_str()
            .filter(|it| !it.is_empty())
            .map(str::to_owned);
        Ok((token, token_lifetime(&answer.body["expires_in"])))
    }

    async fn run_api(
        &self,
        cx: &ExecutionContext,
        connector: &Connector<'_>,
        request: Generate<'_>,
    ) -> Result<Value, ExecuteError> {
        let url = model_url(connector.config, request.model, "generateContent");
        let token = self.access_token(cx, connector).await?;
        let answer = send(cx, &url, &token, request.body, request.timeout_ms).await?;
        if !answer.status.is_success() {
            return Err(self.refused(connector, &answer));
        }
        Ok(answer.body)
    }

    /// Kibana's private `streamAPI`: the answer once Vertex AI has accepted it. Each
    /// wait for a piece may last the call's timeout; the whole answer, an hour.
    async fn stream_api(
        &self,
        cx: &ExecutionContext,
        connector: &Connector<'_>,
        request: Generate<'_>,
    ) -> Result<Streamed, ExecuteError> {
        let url = model_url(
            connector.config,
            request.model,
            "streamGenerateContent?alt=sse",
        );
        let token = self.access_token(cx, connector).await?;
        let (builder, idle) = vertex_request(cx, &url, &token, request.body, request.timeout_ms)?;
        let tls = TlsOverrides::default();
        let sent = cx.http.send(builder.timeout(STREAM_LIMIT), &tls);
        let response = tokio::time::timeout(idle, sent)
            .await
            .map_err(|_| unexpected(&streaming::timed_out(idle)))?
            .map_err(|failure| unexpected(&failure))?;
        if !response.status().is_success() {
            let status = response.status();
            let headers = response.headers().clone();
            let body = cx
                .http
                .read_body(response)
                .await
                .map_err(|failure| unexpected(&failure))?;
            let answer = Answer {
                status,
                headers,
                body,
            };
            return Err(self.refused(connector, &answer));
        }
        let source: Box<dyn ChunkSource> = Box::new(ResponseChunks {
            response,
            http: cx.http.clone(),
            idle,
            describe: |failure| format!("Status code: undefined. Message: {}", no_answer(failure)),
        });
        Ok(Streamed {
            source,
            summary: Box::new(StreamedText::default()),
        })
    }

    /// The error for an answer that is not a 2xx.
    fn refused(&self, connector: &Connector<'_>, answer: &Answer) -> ExecuteError {
        if answer.status.as_u16() == 401 {
            // Kibana keeps a refused token until it expires; asking anew at the
            // next run lets a revoked or rotated key recover.
            self.tokens.forget(connector.id);
        }
        subaction::call_failed(Some(answer.status.as_u16()), &api_error(answer))
    }

    /// `run`/`test` without `raw` and `invokeAI`: the first candidate's text as `key`,
    /// and the usage.
    async fn completion(
        &self,
        cx: &ExecutionContext,
        connector: &Connector<'_>,
        request: Generate<'_>,
        key: &str,
    ) -> Result<Value, ExecuteError> {
        let answer = self.run_api(cx, connector, request).await?;
        check_usage(&answer)?;
        let mut result = Map::new();
        // An absent text is `undefined` in Kibana, which JSON leaves out.
        if let Some(text) = first_text(&answer)? {
            result.insert(key.to_owned(), text);
        }
        result.insert("usageMetadata".to_owned(), answer["usageMetadata"].clone());
        Ok(Value::Object(result))
    }
}

/// The JWT's header and claims, as Google's auth library writes them (claims in its
/// order: `iss, scope, aud, exp, iat`).
fn assertion_parts(account: &ServiceAccount, token_url: &str) -> (Value, Value) {
    let mut header = json!({ "alg": "RS256", "typ": "JWT" });
    if let Some(key_id) = &account.private_key_id {
        header["kid"] = json!(key_id);
    }
    let issued_at = jwt::now_seconds();
    let claims = json!({
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": token_url,
        "exp": issued_at + 3600,
        "iat": issued_at,
    });
    (header, claims)
}

/// How long to keep a token: Kibana's 3500 s, less if Google says it expires sooner.
fn token_lifetime(expires_in: &Value) -> Duration {
    let Some(seconds) = expires_in.as_f64() else {
        return TOKEN_LIFETIME;
    };
    Duration::try_from_secs_f64(seconds - EXPIRY_MARGIN_SECONDS)
        .unwrap_or_default()
        .min(TOKEN_LIFETIME)
}

/// The auth library's text for a refused token request: Google's `error` and
/// `error_description`, else the HTTP client's message.
fn token_refusal(failure: &CallFailure, token_url: &str) -> String {
    let body = failure.body();
    if let Some(error) = body.get("error").filter(|it| truthy(it)) {
        let description = body
            .get("error_description")
            .filter(|it| truthy(it))
            .map(|it| format!(": {}", js_text(it)))
            .unwrap_or_default();
        return format!("{}{description}", js_text(error));
    }
    match failure.answer {
        Some(_) => failure.message.clone(),
        None => format!("request to {token_url} failed, reason: {}", failure.message),
    }
}

/// `{apiUrl}/v1/projects/{project}/locations/{region}/publishers/google/models/{model}:{method}`,
/// the model being the params' or else the config's (not encoded, as in Kibana).
fn model_url(config: &Value, model: Option<&str>, method: &str) -> String {
    let model = model
        .or_else(|| config["defaultModel"].as_str())
        .unwrap_or(DEFAULT_MODEL);
    format!(
        "{}/v1/projects/{}/locations/{}/publishers/google/models/{model}:{method}",
        config["apiUrl"].as_str().unwrap_or_default(),
        config["gcpProjectID"].as_str().unwrap_or_default(),
        config["gcpRegion"].as_str().unwrap_or_default(),
    )
}

/// Posts to Vertex AI as the framework's `request()` does, with the call's timeout
/// (at least `responseTimeout`, as in Kibana).
async fn send(
    cx: &ExecutionContext,
    url: &str,
    token: &str,
    body: &Value,
    timeout_ms: Option<f64>,
) -> Result<Answer, ExecuteError> {
    let (request, timeout) = vertex_request(cx, url, token, body, timeout_ms)?;
    cx.http
        .call(request.timeout(timeout))
        .await
        .map_err(|failure| {
            let failure = match failure.code {
                // The client names the server-wide timeout; this call had its own.
                Some("ECONNABORTED") => streaming::timed_out(timeout),
                _ => failure,
            };
            unexpected(&failure)
        })
}

/// A thrown error for a call without an answer.
fn unexpected(failure: &TransportFailure) -> ExecuteError {
    subaction::call_failed(None, &no_answer(failure))
}

/// `Unexpected API Error: <code> - <message>`, Kibana's text for a call without an
/// answer.
fn no_answer(failure: &TransportFailure) -> String {
    format!(
        "Unexpected API Error: {} - {}",
        failure.code.unwrap_or_default(),
        failure.message
    )
}

/// A Vertex AI request, not yet sent, and the call's timeout (at least
/// `responseTimeout`).
fn vertex_request(
    cx: &ExecutionContext,
    url: &str,
    token: &str,
    body: &Value,
    timeout_ms: Option<f64>,
) -> Result<(reqwest::RequestBuilder, Duration), ExecuteError> {
    let url = subaction::normalise_url(url)?;
    cx.http
        .settings()
        .allowed_hosts
        .check_url(&url)
        .map_err(|message| {
            ExecuteError::thrown(format!("error configuring connector action: {message}"))
        })?;
    let requested = timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    let timeout = Duration::try_from_secs_f64(requested / 1000.0)
        .unwrap_or_default()
        .max(cx.http.settings().response_timeout);
    let text = match body {
        // Kibana sends `{}` for what lodash's `isEmpty` calls empty.
        Value::Null | Value::Bool(_) | Value::Number(_) => "{}".to_owned(),
        Value::String(text) if text.is_empty() => "{}".to_owned(),
        Value::Array(items) if items.is_empty() => "{}".to_owned(),
        Value::Object(fields) if fields.is_empty() => "{}".to_owned(),
        // A string is a body already written (`invokeAI` sends JSON text).
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let bearer = format!("Bearer {token}");
    let request = super::outbound::with_secret_headers(
        cx.http.request(Method::POST, &url),
        &[("authorization", &bearer)],
    )
    .header("content-type", "application/json")
    .body(text);
    Ok((request, timeout))
}

/// What a streamed answer amounted to: the text of its candidates' parts (thoughts
/// left out) and the token counts of the last chunk that carried `usageMetadata`
/// (Vertex AI's running totals; `null` when none came).
#[derive(Default)]
struct StreamedText {
    lines: SseLines,
    message: String,
    usage: Option<Value>,
}

impl StreamSummary for StreamedText {
    fn observe(&mut self, chunk: &[u8]) {
        let (message, usage) = (&mut self.message, &mut self.usage);
        self.lines.feed(chunk, |event| {
            let parts = event["candidates"][0]["content"]["parts"].as_array();
            for part in parts.into_iter().flatten() {
                if part["thought"] != true
                    && let Some(text) = part["text"].as_str()
                {
                    message.push_str(text);
                }
            }
            let found = &event["usageMetadata"];
            if found.is_object() {
                *usage = Some(streaming::usage(
                    &found["promptTokenCount"],
                    &found["candidatesTokenCount"],
                    &found["totalTokenCount"],
                ));
            }
        });
    }

    fn finish(self: Box<Self>) -> Value {
        json!({ "message": self.message, "usage": self.usage })
    }
}

/// Kibana's `getResponseErrorMessage` for an answer that is not a 2xx.
fn api_error(answer: &Answer) -> String {
    let body = &answer.body;
    let message = body.get("message").filter(|it| truthy(it)).map(js_text);
    if let Some(error) = body.get("error").filter(|it| truthy(it)) {
        let part = |key: &str| error.get(key).filter(|it| truthy(it)).map(js_text);
        let status = part("status")
            .map(|it| format!("{it}: "))
            .unwrap_or_default();
        return format!("API Error: {status}{}", part("message").unwrap_or_default());
    }
    let status = answer.status.as_u16();
    if status == 400
        && message.as_deref() == Some("The requested operation is not recognized by the service.")
    {
        return format!("API Error: {}", message.unwrap_or_default());
    }
    if status == 401 {
        return format!(
            "Unauthorized API Error{}",
            message.map(|it| format!(": {it}")).unwrap_or_default()
        );
    }
    format!(
        "API Error: {}{}",
        answer.status_text(),
        message.map(|it| format!(" - {it}")).unwrap_or_default()
    )
}

/// The check of a non-raw answer: `usageMetadata` with three numbers.
fn check_usage(answer: &Value) -> Result<(), ExecuteError> {
    let usage = object([
        ("promptTokenCount", number()),
        ("candidatesTokenCount", number()),
        ("totalTokenCount", number()),
    ]);
    // Unknown keys are ignored, as Kibana's schema says.
    let known = |value: &Value, keys: &[&str]| -> Value {
        let fields = value.as_object().map(|fields| {
            fields
                .iter()
                .filter(|(key, _)| keys.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<Map<_, _>>()
        });
        fields.map_or_else(|| value.clone(), Value::Object)
    };
    let mut shape = known(answer, &["candidates", "usageMetadata"]);
    if let Some(metadata) = answer.get("usageMetadata") {
        shape["usageMetadata"] = known(
            metadata,
            &[
                "promptTokenCount",
                "candidatesTokenCount",
                "totalTokenCount",
            ],
        );
    }
    object([("candidates", any()), ("usageMetadata", usage)])
        .validate(&shape)
        .map(|_| ())
        .map_err(|error| subaction::response_invalid(&error.to_string()))
}

/// `candidates[0].content.parts[0].text` (`None` when JavaScript would find
/// `undefined`), or the TypeError JavaScript throws on the way (an answer blocked
/// for safety has no candidates).
fn first_text(answer: &Value) -> Result<Option<Value>, ExecuteError> {
    let mut value = answer.get("candidates");
    for key in ["0", "content", "parts", "0", "text"] {
        value = match value {
            None | Some(Value::Null) => {
                let kind = if value.is_none() { "undefined" } else { "null" };
                return Err(ExecuteError::thrown(format!(
                    "Cannot read properties of {kind} (reading '{key}')"
                )));
            }
            Some(Value::Array(items)) => key.parse::<usize>().ok().and_then(|it| items.get(it)),
            Some(Value::Object(fields)) => fields.get(key),
            Some(_) => None,
        };
    }
    Ok(value.cloned())
}

/// The `generateContent` body built from `invokeAI`-style params, Kibana's
/// `formatGeminiPayload`: messages with `parts` go as they are; roles become
/// `user`/`model`; a user message after a user message is joined to it with a space.
/// `tools` only for `invokeAIRaw` and `invokeStream` (Kibana's `invokeAI` leaves them
/// out).
fn payload(params: &Value, with_tools: bool) -> Value {
    let mut contents: Vec<Value> = Vec::new();
    let mut previous_role: Option<&str> = None;
    for row in params["messages"].as_array().into_iter().flatten() {
        let role = if row["role"] == "assistant" {
            "model"
        } else {
            "user"
        };
        if row.get("parts").is_some_and(truthy) {
            contents.push(row.clone());
        } else if role == "user" && previous_role == Some("user") {
            if let Some(text) = contents
                .last_mut()
                .and_then(|it| it.pointer_mut("/parts/0/text"))
            {
                let joined = format!("{} {}", js_display(text), js_display(&row["content"]));
                *text = Value::String(joined);
            }
        } else {
            let mut part = Map::new();
            // `{text: undefined}` is `{}` in JSON.
            if let Some(content) = row.get("content") {
                part.insert("text".to_owned(), content.clone());
            }
            contents.push(json!({ "role": role, "parts": [part] }));
        }
        previous_role = Some(role);
    }
    let mut generation =
        json!({ "temperature": params.get("temperature").cloned().unwrap_or(json!(0)) });
    if let Some(max) = params.get("maxOutputTokens") {
        generation["maxOutputTokens"] = max.clone();
    }
    let mut body = json!({ "contents": contents, "generation_config": generation });
    if let Some(instruction) = params["systemInstruction"]
        .as_str()
        .filter(|it| !it.is_empty())
    {
        body["system_instruction"] = json!({ "parts": [{ "text": instruction }] });
    }
    if let Some(tool_config) = params.get("toolConfig") {
        let mut calling = json!({ "mode": tool_config["mode"] });
        if let Some(names) = tool_config.get("allowedFunctionNames") {
            calling["allowed_function_names"] = names.clone();
        }
        body["tool_config"] = json!({ "function_calling_config": calling });
    }
    body["safety_settings"] = json!([
        { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH" }
    ]);
    if with_tools && let Some(tools) = params.get("tools") {
        body["tools"] = tools.clone();
    }
    body
}

/// A value as JavaScript's `+=` on a string shows it (`undefined` when absent).
fn js_display(value: &Value) -> String {
    match value {
        Value::Null => "undefined".to_owned(),
        Value::Object(_) => "[object Object]".to_owned(),
        other => js_text(other),
    }
}

/// The JSON text `invokeAI` posts: Kibana stringifies the body it built.
fn as_text(body: &Value) -> Value {
    Value::String(body.to_string())
}

/// The message of an error `toString()` form (`Error: x` → `x`).
fn message_of(text: &str) -> String {
    text.strip_prefix("Error: ").unwrap_or(text).to_owned()
}

impl Gemini {
    async fn sub_action(
        &self,
        cx: &ExecutionContext,
        connector: &Connector<'_>,
        name: &str,
        sub_params: &Value,
    ) -> Result<Value, ExecuteError> {
        match name {
            "run" | "test" => {
                let params = subaction::validate(&self.run, sub_params)?;
                let request = Generate {
                    body: &params["body"],
                    model: params["model"].as_str(),
                    timeout_ms: params["timeout"].as_f64(),
                };
                if params["raw"] == true {
                    return self.run_api(cx, connector, request).await;
                }
                self.completion(cx, connector, request, "completion").await
            }
            "invokeAI" | "invokeAIRaw" => {
                let params = subaction::validate(&self.invoke_ai, sub_params)?;
                let raw = name == "invokeAIRaw";
                let body = as_text(&payload(&params, raw));
                let request = Generate {
                    body: &body,
                    model: params["model"].as_str(),
                    timeout_ms: params["timeout"].as_f64(),
                };
                if raw {
                    return self.run_api(cx, connector, request).await;
                }
                self.completion(cx, connector, request, "message").await
            }
            "getDashboard" => {
                subaction::validate(&self.dashboard, sub_params)?;
                // Kibana's token-usage dashboard is a Kibana saved object built from
                // its event log; Switchboard has neither.
                Ok(json!({ "available": false }))
            }
            other => Err(subaction::not_registered(other, connector.id, self.info())),
        }
    }
}

impl ConnectorType for Gemini {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".gemini",
            name: "Google Gemini",
            minimum_license: License::Enterprise,
            supported_feature_ids: FEATURES,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        let url = &config["apiUrl"];
        assert_url(url.as_str().unwrap_or_default())
            .and_then(|()| subaction::check_url_config(url, cx))
            .map_err(|message| format!("Error configuring Google Gemini action: Error: {message}"))
    }

    fn validate_secrets(&self, secrets: &Value, _cx: &ValidationContext) -> Result<(), String> {
        check_credentials(secrets["credentialsJson"].as_str().unwrap_or_default())
            .map(|_| ())
            .map_err(|message| format!("Error configuring Google Gemini secrets: {message}"))
    }

    fn streams(&self, params: &Value) -> bool {
        params["subAction"] == "invokeStream"
    }

    fn execute_stream<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Streamed, ExecuteError>> {
        Box::pin(async move {
            let params = subaction::validate(&self.invoke_ai, &params["subActionParams"])?;
            let body = as_text(&payload(&params, true));
            let request = Generate {
                body: &body,
                model: params["model"].as_str(),
                timeout_ms: params["timeout"].as_f64(),
            };
            self.stream_api(cx, &connector, request).await
        })
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let name = params["subAction"].as_str().unwrap_or_default();
            let data = self
                .sub_action(cx, &connector, name, &params["subActionParams"])
                .await?;
            Ok(Some(data))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_vertex_contents() {
        let params = json!({
            "messages": [
                { "role": "user", "content": "a" },
                { "role": "system", "content": "b" },
                { "role": "assistant", "content": "c" },
                { "role": "model", "parts": [{ "text": "d" }] },
            ],
            "temperature": 0.5,
            "maxOutputTokens": 10,
            "systemInstruction": "be brief",
            "toolConfig": { "mode": "ANY", "allowedFunctionNames": ["f"] },
            "tools": [{ "functionDeclarations": [] }],
        });
        let expected = |tools: bool| {
            let mut body = json!({
                "contents": [
                    { "role": "user", "parts": [{ "text": "a b" }] },
                    { "role": "model", "parts": [{ "text": "c" }] },
                    { "role": "model", "parts": [{ "text": "d" }] },
                ],
                "generation_config": { "temperature": 0.5, "maxOutputTokens": 10 },
                "system_instruction": { "parts": [{ "text": "be brief" }] },
                "tool_config": { "function_calling_config": { "mode": "ANY", "allowed_function_names": ["f"] } },
                "safety_settings": [{ "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH" }],
            });
            if tools {
                body["tools"] = json!([{ "functionDeclarations": [] }]);
            }
            body
        };
        assert_eq!(payload(&params, false), expected(false));
        assert_eq!(payload(&params, true), expected(true));
        assert_eq!(
            payload(&json!({ "messages": [] }), true),
            json!({
                "contents": [],
                "generation_config": { "temperature": 0 },
                "safety_settings": [{ "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH" }],
            })
        );
    }

    #[test]
    fn a_streamed_answer_is_its_texts_and_the_last_usage() {
        let mut summary = Box::new(StreamedText::default());
        let stream = concat!(
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hm\",\"thought\":true},{\"text\":\"Hel\"}]}}],",
            "\"usageMetadata\":{\"promptTokenCount\":3}}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{}},{\"text\":\"lo\"}]}}],",
            "\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":2,\"totalTokenCount\":5}}\r\n\r\n",
            "data: {\"candidates\":[]}\r\n\r\n",
        );
        // Cut mid-event: the framing does not depend on the chunks.
        let (head, tail) = stream.split_at(40);
        summary.observe(head.as_bytes());
        summary.observe(tail.as_bytes());
        assert_eq!(
            summary.finish(),
            json!({ "message": "Hello", "usage": {
                "prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5 } })
        );
        assert_eq!(
            Box::new(StreamedText::default()).finish(),
            json!({ "message": "", "usage": null })
        );
    }

    #[test]
    fn credentials_must_be_a_service_accounts() {
        assert_eq!(
            check_credentials("").unwrap_err(),
            "Error: Google Service Account credentials JSON is required."
        );
        assert_eq!(
            check_credentials("{ nope").unwrap_err(),
            "Error: Invalid JSON format for credentials."
        );
        assert_eq!(
            check_credentials(r#"{"type":"external_account"}"#).unwrap_err(),
            "Error: Invalid credential type. Only \"service_account\" credentials are supported. Type was \"external_account\"."
        );
        assert_eq!(
            check_credentials("[]").unwrap_err(),
            "Error: Invalid credential type. Only \"service_account\" credentials are supported. Type was \"undefined\"."
        );
        assert!(check_credentials(r#"{"type":"service_account"}"#).is_ok());
    }

    #[test]
    fn tokens_are_kept_a_little_less_than_google_says() {
        assert_eq!(token_lifetime(&json!(3599)), Duration::from_secs(3499));
        assert_eq!(token_lifetime(&json!(7200)), TOKEN_LIFETIME);
        assert_eq!(token_lifetime(&Value::Null), TOKEN_LIFETIME);
        assert_eq!(token_lifetime(&json!(30)), Duration::ZERO);
    }

    #[test]
    fn missing_candidates_fail_as_javascript_does() {
        let error = first_text(&json!({ "usageMetadata": {} })).unwrap_err();
        assert_eq!(
            error.service_message(),
            Some("Cannot read properties of undefined (reading '0')")
        );
        let error = first_text(&json!({ "candidates": [] })).unwrap_err();
        assert_eq!(
            error.service_message(),
            Some("Cannot read properties of undefined (reading 'content')")
        );
        let error = first_text(&json!({ "candidates": [{ "content": null }] })).unwrap_err();
        assert_eq!(
            error.service_message(),
            Some("Cannot read properties of null (reading 'parts')")
        );
        assert_eq!(
            first_text(&json!({ "candidates": [{ "content": { "parts": [{ "text": "hi" }] } }] }))
                .unwrap(),
            Some(json!("hi"))
        );
        assert_eq!(
            first_text(&json!({ "candidates": [{ "content": { "parts": [{}] } }] })).unwrap(),
            None
        );
    }
}
