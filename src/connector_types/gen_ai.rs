//! `.gen-ai` ("OpenAI"): chat completions from OpenAI, Azure OpenAI or any
//! OpenAI-compatible service ("Other"), as a sub-action connector. `stream` (with
//! `stream: true`) and `invokeStream` answer as a stream; see
//! [`super::streaming`].

use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License, Schemas,
    TypeInfo, ValidationContext,
    outbound::{
        Answer, IdentitySource, TlsOverrides, TransportFailure, VerificationMode, decode_base64,
    },
    streaming::{self, ChunkSource, ResponseChunks, SseLines, StreamSummary, Streamed},
    subaction,
};
use crate::schema::{
    Schema, any, array, boolean, literal, maybe, number, object, one_of, record, string,
};

const OPENAI: &str = "OpenAI";
const AZURE: &str = "Azure OpenAI";
const OTHER: &str = "Other";

/// The model OpenAI connectors default to (Kibana 8.19's `DEFAULT_OPENAI_MODEL`).
pub const DEFAULT_MODEL: &str = "gpt-4.1";
/// `run`, `test` and `invokeAI` wait this long unless the params say otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(120_000);
/// The longest a streamed answer may last, however steadily it arrives.
const STREAM_LIMIT: Duration = Duration::from_secs(60 * 60);

/// The only OpenAI URLs whose bodies get `stream` rewritten.
const OPENAI_STREAMING_URLS: [&str; 2] = [
    "https://api.openai.com/v1/chat/completions",
    "https://api.openai.com/v1/completions",
];

const UNRECOGNIZED: &str = "An error occurred sending your message. \n\nAPI Error: The response from OpenAI was in an unrecognized format.";

/// The GenAI types' feature ids.
pub const GENERATIVE_AI: &[&str] = &[
    "generativeAIForSecurity",
    "generativeAIForObservability",
    "generativeAIForSearchPlayground",
];

pub struct GenAi {
    schemas: Schemas,
    run: Schema,
    stream: Schema,
    invoke: Schema,
    dashboard: Schema,
}

fn provider(name: &'static str) -> Schema {
    one_of([literal(name)])
}

fn config_schema() -> Schema {
    let headers = || maybe(record(string()));
    one_of([
        object([
            ("apiProvider", provider(AZURE)),
            ("apiUrl", string()),
            ("headers", headers()),
            ("contextWindowLength", maybe(number())),
            ("temperature", maybe(number())),
        ]),
        object([
            ("apiProvider", provider(OPENAI)),
            ("apiUrl", string()),
            ("organizationId", maybe(string())),
            ("projectId", maybe(string())),
            ("defaultModel", string().default(DEFAULT_MODEL)),
            ("headers", headers()),
            ("contextWindowLength", maybe(number())),
            ("temperature", maybe(number())),
        ]),
        object([
            ("apiProvider", provider(OTHER)),
            ("apiUrl", string()),
            ("defaultModel", string()),
            (
                "verificationMode",
                maybe(
                    one_of([literal("full"), literal("certificate"), literal("none")])
                        .default("full"),
                ),
            ),
            ("headers", headers()),
            ("contextWindowLength", maybe(number())),
            ("temperature", maybe(number())),
            ("enableNativeFunctionCalling", maybe(boolean())),
        ]),
    ])
}

fn secrets_schema() -> Schema {
    let data = || maybe(string().min_length(1));
    one_of([
        object([("apiKey", string())]),
        object([
            ("apiKey", data()),
            ("certificateData", data()),
            ("privateKeyData", data()),
            ("caData", data()),
        ]),
    ])
}

fn telemetry() -> Schema {
    maybe(object([
        ("pluginId", maybe(string())),
        ("aggregateBy", maybe(string())),
    ]))
}

fn invoke_schema() -> Schema {
    let message = object([
        ("role", string()),
        ("content", string()),
        ("name", maybe(string())),
        (
            "function_call",
            maybe(object([("arguments", string()), ("name", string())])),
        ),
        (
            "tool_calls",
            maybe(array(object([
                ("id", string()),
                (
                    "function",
                    object([("arguments", string()), ("name", string())]),
                ),
                ("type", string()),
            ]))),
        ),
        ("tool_call_id", maybe(string())),
    ]);
    object([
        ("messages", array(message)),
        ("model", maybe(string())),
        // Kibana checks these more closely but lets unknown keys through; we pass
        // them to the vendor as given, which judges them anyway.
        ("tools", maybe(array(record(any())))),
        ("tool_choice", maybe(any())),
        ("functions", maybe(array(record(any())))),
        ("function_call", maybe(any())),
        ("n", maybe(number())),
        ("stop", maybe(any())),
        ("temperature", maybe(number())),
        ("response_format", maybe(any())),
        ("signal", maybe(any())),
        ("timeout", maybe(number())),
        ("telemetryMetadata", telemetry()),
    ])
}

impl GenAi {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: config_schema(),
                secrets: secrets_schema(),
                params: subaction::params_schema(),
            },
            run: object([
                ("body", string()),
                ("signal", maybe(any())),
                ("timeout", maybe(number())),
                ("telemetryMetadata", telemetry()),
            ]),
            stream: object([
                ("body", string()),
                ("stream", boolean().default(false)),
                ("signal", maybe(any())),
                ("timeout", maybe(number())),
                ("telemetryMetadata", telemetry()),
            ]),
            invoke: invoke_schema(),
            dashboard: object([("dashboardId", string())]),
        }
    }
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

/// `Invalid <what> file format: ...` unless the base64 text decodes to PEM of `kind`.
fn check_pem(data: &Value, kind: &str, what: &str) -> Result<(), String> {
    let Some(text) = data.as_str().filter(|it| !it.is_empty()) else {
        return Ok(());
    };
    let decoded = decode_base64(text).unwrap_or_default();
    let header = format!("-----BEGIN {kind}-----");
    if String::from_utf8_lossy(&decoded).contains(&header) {
        Ok(())
    } else {
        Err(format!(
            "Invalid {what} file format: The file must be a PEM-encoded certificate beginning with \"{header}\"."
        ))
    }
}

/// The request body as the provider's rules rewrite it. A body that is not a JSON
/// object is sent as written.
pub fn rewrite_body(config: &Value, body: &str, stream: bool) -> String {
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(body) else {
        return body.to_owned();
    };
    let url = config["apiUrl"].as_str().unwrap_or_default();
    let default_model = config["defaultModel"].as_str().filter(|it| !it.is_empty());
    let set_stream = |fields: &mut Map<String, Value>| {
        fields.insert("stream".to_owned(), Value::Bool(stream));
        if stream {
            fields.insert(
                "stream_options".to_owned(),
                json!({ "include_usage": true }),
            );
        }
    };
    match config["apiProvider"].as_str().unwrap_or_default() {
        OPENAI => {
            if OPENAI_STREAMING_URLS.contains(&url) {
                set_stream(&mut fields);
            }
            if !fields.get("model").is_some_and(super::js::truthy) {
                let model = default_model.map_or(Value::Null, |it| Value::String(it.to_owned()));
                fields.insert("model".to_owned(), model);
            }
        }
        AZURE => {
            if !is_azure_streaming_path(url) {
                return body.to_owned();
            }
            set_stream(&mut fields);
        }
        _ => {
            fields.insert("stream".to_owned(), Value::Bool(stream));
            if stream
                && let Some(model) = default_model
                && !fields.get("model").is_some_and(super::js::truthy)
            {
                fields.insert("model".to_owned(), Value::String(model.to_owned()));
            }
        }
    }
    Value::Object(fields).to_string()
}

/// Azure's chat, completions and extensions endpoints:
/// `.../openai/deployments/<id>/[extensions/chat/|chat/]completions`.
fn is_azure_streaming_path(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("/openai/deployments/") else {
        return false;
    };
    let Some((deployment, rest)) = rest.split_once('/') else {
        return false;
    };
    !deployment.is_empty()
        && [
            "chat/completions",
            "completions",
            "extensions/chat/completions",
        ]
        .iter()
        .any(|it| rest.starts_with(it))
}

/// The headers of every call: the config's, OpenAI's organisation and project, then
/// the provider's auth and the content type (later ones win, names compared
/// without case).
fn headers(config: &Value, secrets: &Value) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| {
        headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        headers.push((name.to_owned(), value.to_owned()));
    };
    for (name, value) in config["headers"].as_object().into_iter().flatten() {
        set(name, value.as_str().unwrap_or_default());
    }
    let api_key = secrets["apiKey"].as_str().unwrap_or_default();
    match config["apiProvider"].as_str().unwrap_or_default() {
        AZURE => set("api-key", api_key),
        provider => {
            if provider == OPENAI {
                if let Some(organization) = config["organizationId"].as_str() {
                    set("OpenAI-Organization", organization);
                }
                if let Some(project) = config["projectId"].as_str() {
                    set("OpenAI-Project", project);
                }
            }
            set("Authorization", &format!("Bearer {api_key}"));
        }
    }
    set("content-type", "application/json");
    headers
}

/// The body `invokeAI` and `invokeStream` send: the params as given, less the
/// options meant for Kibana.
fn invoke_body(params: &Value) -> String {
    let mut fields = params.as_object().cloned().unwrap_or_default();
    for key in ["signal", "timeout", "telemetryMetadata"] {
        fields.remove(key);
    }
    Value::Object(fields).to_string()
}

/// Kibana's `getResponseErrorMessage` for an answer that is not a success.
fn failure(answer: &Answer) -> ExecuteError {
    let error = &answer.body["error"];
    let text = error["message"]
        .as_str()
        .or_else(|| error.as_str())
        .filter(|it| !it.is_empty());
    let message = match (answer.status.as_u16(), text) {
        (401, Some(text)) => format!("Unauthorized API Error - {text}"),
        (401, None) => "Unauthorized API Error".to_owned(),
        (_, Some(text)) => format!("API Error: {} - {text}", answer.status_text()),
        (_, None) => format!("API Error: {}", answer.status_text()),
    };
    subaction::call_failed(Some(answer.status.as_u16()), &message)
}

/// A call without an answer: `Unexpected API Error: <code> - <message>`.
fn no_answer(failure: &TransportFailure) -> String {
    format!(
        "Unexpected API Error: {} - {}",
        failure.code.unwrap_or_default(),
        failure.message
    )
}

/// Checks an answer's body as Kibana's `RunActionResponseSchema` does (unknown keys
/// are fine; the body is returned unchanged).
fn check_completion(body: &Value) -> Result<(), String> {
    let expect = |value: &Value, path: &str, kind: &str, optional: bool| {
        let found = match value {
            Value::Null if optional => return Ok(()),
            Value::Null => "undefined",
            other => crate::schema::type_name(other),
        };
        if found == kind {
            Ok(())
        } else {
            Err(format!(
                "[{path}]: expected value of type [{kind}] but got [{found}]"
            ))
        }
    };
    for (key, kind) in [
        ("id", "string"),
        ("object", "string"),
        ("created", "number"),
        ("model", "string"),
    ] {
        expect(&body[key], key, kind, true)?;
    }
    let usage = &body["usage"];
    if !usage.is_null() {
        expect(usage, "usage", "Object", false).map_err(|it| it.replace("[Object]", "[object]"))?;
    }
    for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        expect(&usage[key], &format!("usage.{key}"), "number", false)?;
    }
    expect(&body["choices"], "choices", "Array", false)
        .map_err(|it| it.replace("[Array]", "[array]"))?;
    for (index, choice) in body["choices"].as_array().into_iter().flatten().enumerate() {
        let at = |key: &str| format!("choices.{index}.{key}");
        expect(choice, &format!("choices.{index}"), "Object", false)
            .map_err(|it| it.replace("[Object]", "[object]"))?;
        expect(
            &choice["message"]["role"],
            &at("message.role"),
            "string",
            false,
        )?;
        expect(
            &choice["message"]["content"],
            &at("message.content"),
            "string",
            true,
        )?;
        expect(
            &choice["finish_reason"],
            &at("finish_reason"),
            "string",
            true,
        )?;
        expect(&choice["index"], &at("index"), "number", true)?;
    }
    Ok(())
}

/// A `timeout` param in milliseconds.
fn timeout_param(params: &Value) -> Option<Duration> {
    params["timeout"]
        .as_f64()
        .filter(|it| it.is_finite() && *it > 0.0)
        .map(|it| Duration::from_millis(it as u64))
}

/// The framework waits at least `xpack.actions.responseTimeout`.
fn effective_timeout(cx: &ExecutionContext, requested: Option<Duration>) -> Duration {
    let floor = cx.http.settings().response_timeout;
    requested.map_or(floor, |it| it.max(floor))
}

/// The client certificate, CA and verification mode of an `Other` connector with PKI
/// secrets.
async fn tls(cx: &ExecutionContext, connector: &Connector<'_>) -> Result<TlsOverrides, String> {
    let (config, secrets) = (connector.config, connector.secrets);
    if config["apiProvider"] != OTHER {
        return Ok(TlsOverrides::default());
    }
    let decode = |field: &str| -> Result<Option<Vec<u8>>, String> {
        secrets[field]
            .as_str()
            .filter(|it| !it.is_empty())
            .map(|text| decode_base64(text).map_err(|error| format!("{field}: {error}")))
            .transpose()
    };
    let identity = match (decode("certificateData")?, decode("privateKeyData")?) {
        (Some(crt), Some(key)) => Some(
            cx.http
                .client_identity(IdentitySource::CrtKey {
                    crt: &crt,
                    key: &key,
                    password: None,
                })
                .await?,
        ),
        _ => None,
    };
    Ok(TlsOverrides {
        verification_mode: identity
            .as_ref()
            .and(config["verificationMode"].as_str())
            .and_then(VerificationMode::parse),
        certificate_authorities: decode("caData")?,
        identity,
    })
}

/// Sends the body to the configured URL; returns the answer, not yet read.
async fn send(
    cx: &ExecutionContext,
    connector: &Connector<'_>,
    body: String,
) -> Result<reqwest::Response, ExecuteError> {
    let url = subaction::normalise_url(connector.config["apiUrl"].as_str().unwrap_or_default())?;
    cx.http
        .settings()
        .allowed_hosts
        .check_url(&url)
        .map_err(|message| {
            ExecuteError::thrown(format!("error configuring connector action: {message}"))
        })?;
    let tls = tls(cx, connector).await.map_err(ExecuteError::thrown)?;
    // The caller's own timeout applies (to a stream: between chunks); this one only
    // lifts the client's default limit on the whole call.
    let mut request = cx.http.request(Method::POST, &url).timeout(STREAM_LIMIT);
    for (name, value) in headers(connector.config, connector.secrets) {
        request = super::outbound::with_secret_headers(request, &[(&name, &value)]);
    }
    cx.http
        .send(request.body(body), &tls)
        .await
        .map_err(|failure| subaction::call_failed(None, &no_answer(&failure)))
}

/// Reads a whole answer.
async fn read(cx: &ExecutionContext, response: reqwest::Response) -> Result<Answer, ExecuteError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = cx
        .http
        .read_body(response)
        .await
        .map_err(|failure| subaction::call_failed(None, &no_answer(&failure)))?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// `runApi`: one completion, not streamed; `data` is OpenAI's answer as it came.
async fn run_api(
    cx: &ExecutionContext,
    connector: &Connector<'_>,
    body: &str,
    timeout: Option<Duration>,
) -> Result<Value, ExecuteError> {
    let body = rewrite_body(connector.config, body, false);
    let timeout = effective_timeout(cx, Some(timeout.unwrap_or(DEFAULT_TIMEOUT)));
    let answer = match tokio::time::timeout(timeout, async {
        let response = send(cx, connector, body).await?;
        read(cx, response).await
    })
    .await
    {
        Ok(answer) => answer?,
        Err(_) => {
            return Err(subaction::call_failed(
                None,
                &no_answer(&streaming::timed_out(timeout)),
            ));
        }
    };
    if !answer.status.is_success() {
        return Err(failure(&answer));
    }
    check_completion(&answer.body).map_err(|message| subaction::response_invalid(&message))?;
    Ok(answer.body)
}

/// `streamApi` with `stream: true`: the answer once the vendor has accepted it.
async fn stream_api(
    cx: &ExecutionContext,
    connector: &Connector<'_>,
    body: &str,
    timeout: Option<Duration>,
) -> Result<Streamed, ExecuteError> {
    let body = rewrite_body(connector.config, body, true);
    let idle = effective_timeout(cx, timeout);
    let response = tokio::time::timeout(idle, send(cx, connector, body))
        .await
        .map_err(|_| subaction::call_failed(None, &no_answer(&streaming::timed_out(idle))))??;
    if !response.status().is_success() {
        return Err(failure(&read(cx, response).await?));
    }
    let source: Box<dyn ChunkSource> = Box::new(ResponseChunks {
        response,
        http: cx.http.clone(),
        idle,
        describe: |failure| format!("Status code: undefined. Message: {}", no_answer(failure)),
    });
    Ok(Streamed {
        source,
        summary: Box::new(Completion::default()),
    })
}

/// What a streamed chat completion amounted to: its text, and the token counts of
/// the `usage` chunk OpenAI sends last when asked (`stream_options.include_usage`).
#[derive(Default)]
struct Completion {
    lines: SseLines,
    message: String,
    usage: Option<Value>,
}

impl StreamSummary for Completion {
    fn observe(&mut self, chunk: &[u8]) {
        let (message, usage) = (&mut self.message, &mut self.usage);
        self.lines.feed(chunk, |event| {
            if let Some(text) = event["choices"][0]["delta"]["content"].as_str() {
                message.push_str(text);
            }
            let found = &event["usage"];
            if found.is_object() {
                *usage = Some(streaming::usage(
                    &found["prompt_tokens"],
                    &found["completion_tokens"],
                    &found["total_tokens"],
                ));
            }
        });
    }

    fn finish(self: Box<Self>) -> Value {
        json!({ "message": self.message, "usage": self.usage })
    }
}

/// `invokeAI`'s result: the first choice's text and the token counts.
fn invoke_result(answer: &Value) -> Value {
    match answer["choices"][0]["message"]["content"].as_str() {
        Some(text) if !text.is_empty() => {
            json!({ "message": text.trim(), "usage": answer["usage"] })
        }
        _ => {
            let usage = match &answer["usage"] {
                Value::Null => streaming::usage(&json!(0), &json!(0), &json!(0)),
                usage => usage.clone(),
            };
            json!({ "message": UNRECOGNIZED, "usage": usage })
        }
    }
}

/// `subActionParams` as given (Kibana's executor checks them but passes them on
/// unchanged, so bodies keep the caller's key order).
fn raw(params: &Value) -> &Value {
    &params["subActionParams"]
}

impl ConnectorType for GenAi {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".gen-ai",
            name: "OpenAI",
            minimum_license: License::Enterprise,
            supported_feature_ids: GENERATIVE_AI,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        let url = config["apiUrl"].as_str().unwrap_or_default();
        assert_url(url)
            .and_then(|()| subaction::check_url_config(&config["apiUrl"], cx))
            .map_err(|message| format!("Error configuring OpenAI action: Error: {message}"))
    }

    fn validate_secrets(&self, secrets: &Value, _cx: &ValidationContext) -> Result<(), String> {
        let pki = ["caData", "certificateData", "privateKeyData"]
            .iter()
            .any(|key| secrets.get(key).is_some());
        if !pki {
            if !super::js::truthy(&secrets["apiKey"]) {
                return Err("[apiKey]: expected value of type [string] but got [undefined]".into());
            }
            return Ok(());
        }
        if !super::js::truthy(&secrets["certificateData"]) {
            return Err("Certificate data must be provided for PKI".into());
        }
        if !super::js::truthy(&secrets["privateKeyData"]) {
            return Err("Private key data must be provided for PKI".into());
        }
        check_pem(
            &secrets["certificateData"],
            "CERTIFICATE",
            "Certificate data",
        )?;
        check_pem(
            &secrets["privateKeyData"],
            "PRIVATE KEY",
            "Private key data",
        )?;
        check_pem(&secrets["caData"], "CERTIFICATE", "CA certificate data")
    }

    fn streams(&self, params: &Value) -> bool {
        match params["subAction"].as_str() {
            Some("invokeStream" | "invokeAsyncIterator") => true,
            Some("stream") => {
                matches!(&raw(params)["stream"], Value::Bool(true))
                    || raw(params)["stream"]
                        .as_str()
                        .is_some_and(|it| it.eq_ignore_ascii_case("true"))
            }
            _ => false,
        }
    }

    fn execute_stream<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Streamed, ExecuteError>> {
        Box::pin(async move {
            let sub_params = raw(&params);
            match params["subAction"].as_str().unwrap_or_default() {
                "stream" => {
                    let checked = subaction::validate(&self.stream, sub_params)?;
                    let body = checked["body"].as_str().unwrap_or_default();
                    stream_api(cx, &connector, body, timeout_param(&checked)).await
                }
                _ => {
                    let checked = subaction::validate(&self.invoke, sub_params)?;
                    let body = invoke_body(sub_params);
                    stream_api(cx, &connector, &body, timeout_param(&checked)).await
                }
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
            let sub_params = raw(&params);
            let data = match params["subAction"].as_str().unwrap_or_default() {
                "run" | "test" => {
                    let checked = subaction::validate(&self.run, sub_params)?;
                    let body = checked["body"].as_str().unwrap_or_default();
                    run_api(cx, &connector, body, timeout_param(&checked)).await?
                }
                "stream" => {
                    let checked = subaction::validate(&self.stream, sub_params)?;
                    let body = checked["body"].as_str().unwrap_or_default();
                    run_api(cx, &connector, body, timeout_param(&checked)).await?
                }
                "invokeAI" => {
                    let checked = subaction::validate(&self.invoke, sub_params)?;
                    let answer = run_api(
                        cx,
                        &connector,
                        &invoke_body(sub_params),
                        timeout_param(&checked),
                    )
                    .await?;
                    invoke_result(&answer)
                }
                // Switchboard keeps no Kibana dashboards: the token-usage dashboard is
                // never available.
                "getDashboard" => {
                    subaction::validate(&self.dashboard, sub_params)?;
                    json!({ "available": false })
                }
                name => return Err(subaction::not_registered(name, connector.id, self.info())),
            };
            Ok(Some(data))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai(url: &str) -> Value {
        json!({ "apiProvider": "OpenAI", "apiUrl": url, "defaultModel": "gpt-4.1" })
    }

    #[test]
    fn openai_forces_stream_only_on_its_own_urls_and_always_defaults_the_model() {
        let body = r#"{"messages":[],"stream":true}"#;
        assert_eq!(
            rewrite_body(
                &openai("https://api.openai.com/v1/chat/completions"),
                body,
                false
            ),
            r#"{"messages":[],"stream":false,"model":"gpt-4.1"}"#
        );
        assert_eq!(
            rewrite_body(
                &openai("https://api.openai.com/v1/chat/completions"),
                r#"{"model":"o3"}"#,
                true
            ),
            r#"{"model":"o3","stream":true,"stream_options":{"include_usage":true}}"#
        );
        assert_eq!(
            rewrite_body(
                &openai("https://proxy.example/v1/chat/completions"),
                body,
                false
            ),
            r#"{"messages":[],"stream":true,"model":"gpt-4.1"}"#
        );
        assert_eq!(
            rewrite_body(
                &openai("https://api.openai.com/v1/chat/completions"),
                "not json",
                false
            ),
            "not json"
        );
    }

    #[test]
    fn azure_rewrites_only_its_completion_paths_and_other_always_sets_stream() {
        let azure = |url: &str| json!({ "apiProvider": "Azure OpenAI", "apiUrl": url });
        let url = "https://r.openai.azure.com/openai/deployments/d1/chat/completions?api-version=2024-02-01";
        assert_eq!(
            rewrite_body(&azure(url), r#"{"messages":[]}"#, true),
            r#"{"messages":[],"stream":true,"stream_options":{"include_usage":true}}"#
        );
        assert_eq!(
            rewrite_body(
                &azure("https://r.openai.azure.com/openai/models"),
                r#"{"a":1}"#,
                false
            ),
            r#"{"a":1}"#
        );
        let other =
            json!({ "apiProvider": "Other", "apiUrl": "http://x", "defaultModel": "llama" });
        assert_eq!(
            rewrite_body(&other, r#"{"a":1}"#, false),
            r#"{"a":1,"stream":false}"#
        );
        assert_eq!(
            rewrite_body(&other, r#"{"a":1}"#, true),
            r#"{"a":1,"stream":true,"model":"llama"}"#
        );
    }

    #[test]
    fn later_headers_win_without_regard_to_case() {
        let config = json!({
            "apiProvider": "OpenAI", "apiUrl": "https://x", "organizationId": "org",
            "headers": { "authorization": "mine", "X-Extra": "1", "Content-Type": "text/plain" },
        });
        assert_eq!(
            headers(&config, &json!({ "apiKey": "k" })),
            [
                ("X-Extra", "1"),
                ("OpenAI-Organization", "org"),
                ("Authorization", "Bearer k"),
                ("content-type", "application/json"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
        );
    }
}
