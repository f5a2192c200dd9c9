//! `.gen-ai` against loopback fakes of OpenAI, Azure OpenAI and an OpenAI-compatible
//! service: the requests each provider gets, results, vendor errors, validation, and
//! streamed answers forwarded to the client as they arrive.

use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{
    FakeServer, Reply, TestApp,
    app::{TestResponse, assert_error},
    fake::Recorded,
    streaming::{StreamingVendor, execute_streaming, read_until, streaming_vendor},
};

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
        "model": "gpt-4.1-2025-04-14", "system_fingerprint": "fp_1",
        "choices": [{ "index": 0, "finish_reason": "stop", "logprobs": null,
                      "message": { "role": "assistant", "content": "  Hello there!\n" } }],
        "usage": { "prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15 },
    })
}

fn run(body: &str) -> Value {
    json!({ "subAction": "run", "subActionParams": { "body": body } })
}

fn thrown(id: &str, service_message: &str) -> Value {
    json!({
        "status": "error", "connector_id": id, "errorSource": "framework", "retry": true,
        "message": "an error occurred while running the action",
        "service_message": service_message,
    })
}

#[track_caller]
fn assert_call(request: &Recorded, path: &str, query: Option<&str>, body: &str) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref()
        ),
        ("POST", path, query)
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.headers.get_all("content-type").iter().count(), 1);
    assert_eq!(request.body, body);
}

async fn openai(app: &TestApp, url: String) -> String {
    app.create_typed(
        ".gen-ai",
        json!({ "apiProvider": "OpenAI", "apiUrl": url, "organizationId": "org-1",
                "projectId": "proj-1", "headers": { "X-Team": "soc" } }),
        json!({ "apiKey": "sk-secret" }),
    )
    .await
}

#[tokio::test]
async fn openai_runs_a_completion_with_its_headers_and_the_default_model() {
    let fake = FakeServer::start(|_| Reply::json(200, completion())).await;
    let app = TestApp::start().await;
    let created = app
        .post(
            "/api/actions/connector",
            json!({ "name": "gpt", "connector_type_id": ".gen-ai",
                    "config": { "apiProvider": "OpenAI", "apiUrl": fake.url("/v1/chat/completions") },
                    "secrets": { "apiKey": "sk-secret" } }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    // The default model is stored with the config.
    assert_eq!(
        created.json()["config"],
        json!({ "apiProvider": "OpenAI", "apiUrl": fake.url("/v1/chat/completions"),
                "defaultModel": "gpt-4.1" })
    );
    let id = openai(&app, fake.url("/v1/chat/completions")).await;

    let result = app
        .execute(
            &id,
            run(r#"{"messages":[{"role":"user","content":"Hi"}],"stream":true}"#),
        )
        .await;

    // The answer as OpenAI gave it, unknown fields and all.
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": completion() })
    );
    let request = &fake.only_request();
    // Not api.openai.com: `stream` is left alone; the model is filled in.
    assert_call(
        request,
        "/v1/chat/completions",
        None,
        r#"{"messages":[{"role":"user","content":"Hi"}],"stream":true,"model":"gpt-4.1"}"#,
    );
    assert_eq!(request.header("authorization"), Some("Bearer sk-secret"));
    assert_eq!(request.header("openai-organization"), Some("org-1"));
    assert_eq!(request.header("openai-project"), Some("proj-1"));
    assert_eq!(request.header("x-team"), Some("soc"));
    assert_eq!(request.header("api-key"), None);
}

#[tokio::test]
async fn azure_sends_the_api_key_header_to_the_deployment_url_and_invoke_ai_trims() {
    let fake = FakeServer::start(|_| Reply::json(200, completion())).await;
    let app = TestApp::start().await;
    let url = fake.url("/openai/deployments/gpt4/chat/completions?api-version=2024-02-01");
    let id = app
        .create_typed(
            ".gen-ai",
            json!({ "apiProvider": "Azure OpenAI", "apiUrl": url }),
            json!({ "apiKey": "azure-key" }),
        )
        .await;

    let result = app
        .execute(
            &id,
            json!({ "subAction": "invokeAI", "subActionParams": {
                "messages": [{ "role": "user", "content": "Hi" }], "temperature": 0,
                "timeout": 5000, "telemetryMetadata": { "pluginId": "x" } } }),
        )
        .await;

    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "message": "Hello there!",
            "usage": { "prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15 },
        } })
    );
    let request = fake.only_request();
    assert_call(
        &request,
        "/openai/deployments/gpt4/chat/completions",
        Some("api-version=2024-02-01"),
        r#"{"messages":[{"role":"user","content":"Hi"}],"temperature":0,"stream":false}"#,
    );
    assert_eq!(request.header("api-key"), Some("azure-key"));
    assert_eq!(request.header("authorization"), None);
}

#[tokio::test]
async fn other_sets_stream_false_and_a_tool_call_answer_is_unrecognized() {
    let mut answer = completion();
    answer["choices"][0]["message"] = json!({ "role": "assistant", "content": null,
        "tool_calls": [{ "id": "c1", "type": "function",
                         "function": { "name": "f", "arguments": "{}" } }] });
    let fake = FakeServer::start(move |_| Reply::json(200, answer.clone())).await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(
            ".gen-ai",
            json!({ "apiProvider": "Other", "apiUrl": fake.url("/v1/chat/completions"),
                    "defaultModel": "llama3" }),
            json!({ "apiKey": "local-key" }),
        )
        .await;

    let result = app
        .execute(
            &id,
            json!({ "subAction": "invokeAI", "subActionParams": {
                "messages": [{ "role": "user", "content": "Hi" }] } }),
        )
        .await;
    let tested = app
        .execute(
            &id,
            json!({ "subAction": "test", "subActionParams": {
        "body": r#"{"messages":[]}"# } }),
        )
        .await;

    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "message": "An error occurred sending your message. \n\nAPI Error: The response from OpenAI was in an unrecognized format.",
            "usage": { "prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15 },
        } })
    );
    assert_eq!(tested["status"], "ok");
    let requests = fake.requests();
    // Outside streaming, "Other" leaves the model to the body.
    assert_call(
        &requests[0],
        "/v1/chat/completions",
        None,
        r#"{"messages":[{"role":"user","content":"Hi"}],"stream":false}"#,
    );
    assert_call(
        &requests[1],
        "/v1/chat/completions",
        None,
        r#"{"messages":[],"stream":false}"#,
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer local-key")
    );
}

#[tokio::test]
async fn vendor_errors_read_like_kibanas() {
    let fake = FakeServer::start(|request| match request.path.as_str() {
        "/bad" => Reply::json(
            400,
            json!({ "error": {
            "message": "The model `bad model` does not exist", "type": "invalid_request_error" } }),
        ),
        "/key" => Reply::json(
            401,
            json!({ "error": { "message": "Incorrect API key provided" } }),
        ),
        "/busy" => Reply::json(429, json!({ "error": { "message": "Rate limit reached" } }))
            .with_header("retry-after", "20"),
        "/studio" => Reply::json(422, json!({ "error": "Model not loaded" })),
        "/down" => Reply::status(503, "upstream down"),
        _ => Reply::json(200, json!({ "choices": [] })),
    })
    .await;
    let app = TestApp::start().await;
    let mut outcomes = Vec::new();
    for path in ["/bad", "/key", "/busy", "/studio", "/down", "/nousage"] {
        let id = openai(&app, fake.url(path)).await;
        let result = app.execute(&id, run("{}")).await;
        assert_eq!(result["connector_id"], id);
        let mut result = result;
        result.as_object_mut().unwrap().remove("connector_id");
        outcomes.push(result);
    }
    let expected: Vec<Value> = [
        "Status code: 400. Message: API Error: Bad Request - The model `bad model` does not exist",
        "Status code: 401. Message: Unauthorized API Error - Incorrect API key provided",
        // Like Kibana, `.gen-ai` does not turn Retry-After into a retry time.
        "Status code: 429. Message: API Error: Too Many Requests - Rate limit reached",
        "Status code: 422. Message: API Error: Unprocessable Entity - Model not loaded",
        "Status code: 503. Message: API Error: Service Unavailable",
        "Response validation failed (Error: [usage.prompt_tokens]: expected value of type [number] but got [undefined])",
    ]
    .iter()
    .map(|message| {
        let mut result = thrown("", message);
        result.as_object_mut().unwrap().remove("connector_id");
        result
    })
    .collect();
    assert_eq!(outcomes, expected);
    assert_eq!(fake.requests()[0].body, r#"{"model":"gpt-4.1"}"#);
}

#[tokio::test]
async fn unreachable_vendors_and_bad_params_are_thrown_errors() {
    let closed = crate::support::fake::closed_port();
    let app = TestApp::start().await;
    let id = openai(&app, format!("http://127.0.0.1:{}/v1", closed.port)).await;

    let unreachable = app.execute(&id, run("{}")).await;
    let no_body = app
        .execute(
            &id,
            json!({ "subAction": "run", "subActionParams": { "bdy": "x" } }),
        )
        .await;
    let unknown = app
        .execute(&id, json!({ "subAction": "chat", "subActionParams": {} }))
        .await;
    let dashboard = app
        .execute(
            &id,
            json!({ "subAction": "getDashboard",
                              "subActionParams": { "dashboardId": "d-1" } }),
        )
        .await;

    assert_eq!(
        unreachable,
        thrown(
            &id,
            &format!(
                "Status code: undefined. Message: Unexpected API Error: ECONNREFUSED - connect ECONNREFUSED 127.0.0.1:{}",
                closed.port
            )
        )
    );
    let mut invalid = thrown(
        &id,
        "Request validation failed (Error: [body]: expected value of type [string] but got [undefined])",
    );
    invalid["errorSource"] = json!("user");
    assert_eq!(no_body, invalid);
    assert_eq!(
        unknown,
        thrown(
            &id,
            &format!(
                "Sub action \"chat\" is not registered. Connector id: {id}. Connector name: OpenAI. Connector type: .gen-ai"
            )
        )
    );
    // Switchboard has no Kibana dashboards.
    assert_eq!(
        dashboard,
        json!({ "status": "ok", "connector_id": id, "data": { "available": false } })
    );
}

#[tokio::test]
async fn config_and_secrets_are_validated_like_kibanas() {
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["api.openai.com"] } } }),
    )
    .await;
    let create = |config: Value, secrets: Value| {
        app.post(
            "/api/actions/connector",
            json!({ "name": "n", "connector_type_id": ".gen-ai", "config": config, "secrets": secrets }),
        )
    };
    let openai_url = "https://api.openai.com/v1/chat/completions";

    assert_error(
        &create(json!({ "apiUrl": openai_url }), json!({ "apiKey": "k" })).await,
        400,
        "error validating action type config: types that failed validation:\n- [0.apiProvider]: expected at least one defined value but got [undefined]\n- [1.apiProvider]: expected at least one defined value but got [undefined]\n- [2.apiProvider]: expected at least one defined value but got [undefined]",
    );
    assert_error(
        &create(json!({ "apiProvider": "OpenAI" }), json!({ "apiKey": "k" })).await,
        400,
        "error validating action type config: types that failed validation:\n- [0.apiProvider]: expected value to equal [Azure OpenAI]\n- [1.apiUrl]: expected value of type [string] but got [undefined]\n- [2.apiProvider]: expected value to equal [Other]",
    );
    assert_error(
        &create(
            json!({ "apiProvider": "OpenAI", "apiUrl": "https://evil.example/v1" }),
            json!({ "apiKey": "k" }),
        )
        .await,
        400,
        "error validating action type config: Error configuring OpenAI action: Error: error validating url: target url \"https://evil.example/v1\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
    assert_error(
        &create(
            json!({ "apiProvider": "OpenAI", "apiUrl": "not a url" }),
            json!({ "apiKey": "k" }),
        )
        .await,
        400,
        "error validating action type config: Error configuring OpenAI action: Error: URL Error: Invalid URL",
    );
    assert_error(
        &create(
            json!({ "apiProvider": "OpenAI", "apiUrl": openai_url }),
            json!({}),
        )
        .await,
        400,
        "error validating action type secrets: [apiKey]: expected value of type [string] but got [undefined]",
    );
    assert_error(
        &create(
            json!({ "apiProvider": "Other", "apiUrl": openai_url, "defaultModel": "m" }),
            json!({ "certificateData": "Zm9v" }),
        )
        .await,
        400,
        "error validating action type secrets: Private key data must be provided for PKI",
    );
    assert_error(
        &create(
            json!({ "apiProvider": "Other", "apiUrl": openai_url, "defaultModel": "m" }),
            json!({ "certificateData": "Zm9v", "privateKeyData": "Zm9v" }),
        )
        .await,
        400,
        "error validating action type secrets: Invalid Certificate data file format: The file must be a PEM-encoded certificate beginning with \"-----BEGIN CERTIFICATE-----\".",
    );
    assert_error(
        &create(
            json!({ "apiProvider": "Azure OpenAI", "apiUrl": openai_url, "defaultModel": "m" }),
            json!({ "apiKey": "k" }),
        )
        .await,
        400,
        "error validating action type config: types that failed validation:\n- [0.defaultModel]: definition for this key is missing\n- [1.apiProvider]: expected value to equal [OpenAI]\n- [2.apiProvider]: expected value to equal [Other]",
    );
}

fn chunk(content: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({ "id": "c", "object": "chat.completion.chunk",
                "choices": [{ "index": 0, "delta": { "content": content } }] })
    )
}

const USAGE_CHUNK: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n";

#[tokio::test]
async fn a_streamed_answer_reaches_the_client_before_the_vendor_has_finished() {
    let (vendor_side, receiver) = mpsc::channel(8);
    let path = "/openai/deployments/gpt4/chat/completions";
    let vendor = streaming_vendor(path, "text/event-stream", receiver).await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(
            ".gen-ai",
            json!({ "apiProvider": "Azure OpenAI",
                    "apiUrl": format!("{}?api-version=2024-02-01", vendor.url) }),
            json!({ "apiKey": "azure-key" }),
        )
        .await;
    vendor_side.send(Bytes::from(chunk("Hel"))).await.unwrap();

    let mut response = execute_streaming(
        &app,
        &id,
        json!({ "subAction": "stream",
                "subActionParams": { "body": r#"{"messages":[]}"#, "stream": true } }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let execution_id = response.headers()["x-execution-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut seen = String::new();
    // The vendor has sent one chunk and is still open: the client has it already.
    read_until(&mut response, &mut seen, &chunk("Hel")).await;
    assert_eq!(seen, chunk("Hel"));

    for rest in [
        chunk("lo"),
        USAGE_CHUNK.to_owned(),
        "data: [DONE]\n\n".to_owned(),
    ] {
        vendor_side.send(Bytes::from(rest)).await.unwrap();
    }
    drop(vendor_side);
    read_until(&mut response, &mut seen, "event: result\n").await;
    let rest = response.text().await.unwrap();
    seen.push_str(&rest);

    let (forwarded, result) = seen.split_once("event: result\ndata: ").unwrap();
    assert_eq!(
        forwarded,
        format!(
            "{}{}{USAGE_CHUNK}data: [DONE]\n\n",
            chunk("Hel"),
            chunk("lo")
        )
    );
    assert!(result.ends_with("\n\n"), "{result:?}");
    assert_eq!(
        serde_json::from_str::<Value>(result.trim_end()).unwrap(),
        json!({ "status": "ok", "connector_id": id, "data": {
            "message": "Hello",
            "usage": { "prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11 },
        } })
    );
    let requests = vendor.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_call(
        &requests[0],
        path,
        Some("api-version=2024-02-01"),
        r#"{"messages":[],"stream":true,"stream_options":{"include_usage":true}}"#,
    );
    assert_eq!(requests[0].header("api-key"), Some("azure-key"));
    // The run is logged once the stream has ended.
    let logged = logged(&app, &execution_id).await;
    assert_eq!(
        (&logged["status"], &logged["source"]),
        (&json!("succeeded"), &json!("http_request"))
    );
}

async fn logged(app: &TestApp, execution_id: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let response: TestResponse = app
                .get(&format!("/api/actions/executions/{execution_id}"))
                .await;
            if response.status == 200 && response.json()["status"] != "running" {
                return response.json();
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the run is logged")
}

#[tokio::test]
async fn without_accept_a_stream_is_collected_and_other_defaults_the_model() {
    let (vendor_side, receiver) = mpsc::channel(8);
    let vendor = streaming_vendor("/v1/chat/completions", "text/event-stream", receiver).await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(
            ".gen-ai",
            json!({ "apiProvider": "Other", "apiUrl": vendor.url, "defaultModel": "llama3" }),
            json!({ "apiKey": "local-key" }),
        )
        .await;
    // A vendor without a usage chunk.
    for piece in [chunk("Hi"), chunk(" you"), "data: [DONE]\n\n".to_owned()] {
        vendor_side.send(Bytes::from(piece)).await.unwrap();
    }
    drop(vendor_side);

    let result = app
        .execute(
            &id,
            json!({ "subAction": "invokeStream", "subActionParams": {
                "messages": [{ "role": "user", "content": "Hi" }], "timeout": 1000 } }),
        )
        .await;

    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id,
                "data": { "message": "Hi you", "usage": null } })
    );
    let requests = vendor.requests.lock().unwrap().clone();
    assert_call(
        &requests[0],
        "/v1/chat/completions",
        None,
        r#"{"messages":[{"role":"user","content":"Hi"}],"stream":true,"model":"llama3"}"#,
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer local-key")
    );
}

#[tokio::test]
async fn a_vendor_failure_before_the_stream_is_an_ordinary_json_result() {
    let fake = FakeServer::start(|_| {
        Reply::json(429, json!({ "error": { "message": "Rate limit reached" } }))
    })
    .await;
    let app = TestApp::start().await;
    let id = openai(&app, fake.url("/v1/chat/completions")).await;

    let response = app
        .send(execute_streaming(
            &app,
            &id,
            json!({ "subAction": "invokeStream", "subActionParams": {
                "messages": [{ "role": "user", "content": "Hi" }] } }),
        ))
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(
        response.json(),
        thrown(
            &id,
            "Status code: 429. Message: API Error: Too Many Requests - Rate limit reached"
        )
    );
    // The OpenAI provider only rewrites `stream` on OpenAI's own URLs.
    assert_eq!(
        fake.only_request().body,
        r#"{"messages":[{"role":"user","content":"Hi"}],"model":"gpt-4.1"}"#
    );
}

async fn streaming_connector(app: &TestApp, vendor: &StreamingVendor) -> String {
    app.create_typed(
        ".gen-ai",
        json!({ "apiProvider": "Other", "apiUrl": vendor.url, "defaultModel": "llama3" }),
        json!({ "apiKey": "local-key" }),
    )
    .await
}

fn invoke_stream() -> Value {
    json!({ "subAction": "invokeStream", "subActionParams": {
        "messages": [{ "role": "user", "content": "Hi" }] } })
}

#[tokio::test]
async fn a_vendor_breaking_off_mid_stream_ends_it_with_an_error_result() {
    let (vendor_side, receiver) = mpsc::channel(8);
    let vendor = streaming_vendor("/v1/chat/completions", "text/event-stream", receiver).await;
    let app = TestApp::start().await;
    let id = streaming_connector(&app, &vendor).await;
    vendor_side.send(Bytes::from(chunk("Hel"))).await.unwrap();

    let mut response = execute_streaming(&app, &id, invoke_stream())
        .send()
        .await
        .unwrap();
    let execution_id = response.headers()["x-execution-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut seen = String::new();
    read_until(&mut response, &mut seen, &chunk("Hel")).await;
    vendor_side.send(Bytes::new()).await.unwrap();
    read_until(&mut response, &mut seen, "event: result\n").await;
    seen.push_str(&response.text().await.unwrap());

    let (forwarded, result) = seen.split_once("event: result\ndata: ").unwrap();
    assert_eq!(forwarded, chunk("Hel"));
    let result: Value = serde_json::from_str(result.trim_end()).unwrap();
    assert_eq!(
        result,
        thrown(
            &id,
            "Status code: undefined. Message: Unexpected API Error: ECONNRESET - socket hang up"
        )
    );
    assert_eq!(logged(&app, &execution_id).await["status"], "failed");
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_stops_the_vendor_call_and_is_logged() {
    let (vendor_side, receiver) = mpsc::channel(1);
    let vendor = streaming_vendor("/v1/chat/completions", "text/event-stream", receiver).await;
    let app = TestApp::start().await;
    let id = streaming_connector(&app, &vendor).await;
    vendor_side.send(Bytes::from(chunk("Hel"))).await.unwrap();

    let mut response = execute_streaming(&app, &id, invoke_stream())
        .send()
        .await
        .unwrap();
    let execution_id = response.headers()["x-execution-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut seen = String::new();
    read_until(&mut response, &mut seen, &chunk("Hel")).await;
    drop(response);
    // Switchboard notices when it next passes a chunk on, and then hangs up on the
    // vendor, whose sending fails.
    tokio::time::timeout(Duration::from_secs(20), async {
        while vendor_side.send(Bytes::from(chunk("more"))).await.is_ok() {}
    })
    .await
    .expect("Switchboard hangs up on the vendor");

    let logged = logged(&app, &execution_id).await;
    assert_eq!(logged["status"], "failed");
    assert_eq!(
        logged["log"][0]["service_message"], "the client closed the stream before it ended",
        "{logged}"
    );
}

#[tokio::test]
async fn a_client_that_leaves_while_the_vendor_is_silent_ends_the_run_at_once() {
    let (vendor_side, receiver) = mpsc::channel(1);
    let vendor = streaming_vendor("/v1/chat/completions", "text/event-stream", receiver).await;
    let app = TestApp::start().await;
    let id = streaming_connector(&app, &vendor).await;
    vendor_side.send(Bytes::from(chunk("Hel"))).await.unwrap();

    let mut response = execute_streaming(&app, &id, invoke_stream())
        .send()
        .await
        .unwrap();
    let execution_id = response.headers()["x-execution-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut seen = String::new();
    read_until(&mut response, &mut seen, &chunk("Hel")).await;
    drop(response);

    // The vendor sends nothing more: the run ends when the client leaves, well before
    // the two-minute idle limit of `.gen-ai` calls (the wait below gives up at 20 s).
    let logged = logged(&app, &execution_id).await;
    assert_eq!(logged["status"], "failed");
    assert_eq!(
        logged["log"][0]["service_message"], "the client closed the stream before it ended",
        "{logged}"
    );
    drop(vendor_side);
}

#[tokio::test]
async fn the_timeout_param_is_honoured_above_the_response_timeout() {
    let fake = FakeServer::start(|_| Reply::Hang).await;
    let app =
        TestApp::with_settings(json!({ "xpack": { "actions": { "responseTimeout": "200ms" } } }))
            .await;
    let id = openai(&app, fake.url("/v1/chat/completions")).await;

    let result = app
        .execute(
            &id,
            json!({ "subAction": "run", "subActionParams": { "body": "{}", "timeout": 400 } }),
        )
        .await;

    assert_eq!(
        result,
        thrown(
            &id,
            "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - timeout of 400ms exceeded"
        )
    );
}

#[tokio::test]
async fn other_presents_its_pki_client_certificate() {
    use crate::support::pki::TestCa;
    let server_ca = TestCa::new("Server CA");
    let client_ca = TestCa::new("Client CA");
    let server_config = TestCa::server_config(&server_ca.issue(&["127.0.0.1"]), Some(&client_ca));
    let server = FakeServer::start_tls(server_config, |_| Reply::json(200, completion())).await;
    let client = client_ca.issue(&["switchboard-client"]);
    let app = TestApp::start().await;
    let id = app
        .create_typed(
            ".gen-ai",
            json!({ "apiProvider": "Other", "apiUrl": server.url("/v1/chat/completions"),
                    "defaultModel": "llama3", "verificationMode": "full" }),
            json!({ "certificateData": client.cert_base64(),
                    "privateKeyData": client.key_base64(), "caData": server_ca.cert_base64() }),
        )
        .await;

    let result = app.execute(&id, run(r#"{"messages":[]}"#)).await;

    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": completion() })
    );
    let request = server.only_request();
    assert_call(
        &request,
        "/v1/chat/completions",
        None,
        r#"{"messages":[],"stream":false}"#,
    );
    // Without an API key the bearer is empty, as Kibana sends it.
    assert_eq!(request.header("authorization"), Some("Bearer"));
}

/// A server told to stop ends a stream whose vendor is silent with an error result,
/// instead of waiting for the vendor (graceful shutdown waits for open connections).
#[tokio::test]
async fn sigterm_ends_a_live_stream() {
    let (vendor_side, receiver) = mpsc::channel(1);
    let vendor = streaming_vendor("/v1/chat/completions", "text/event-stream", receiver).await;
    vendor_side.send(Bytes::from(chunk("Hel"))).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = crate::support::process::ServerProcess::serve(
        dir.path(),
        &[],
        &[("SWITCHBOARD_SERVER_PORT", "0")],
    )
    .await;
    let (status, created) = node
        .call(
            reqwest::Method::POST,
            "/api/actions/connector/local-llm",
            Some(json!({ "name": "llm", "connector_type_id": ".gen-ai",
                "config": { "apiProvider": "Other", "apiUrl": vendor.url, "defaultModel": "m" },
                "secrets": { "apiKey": "local-key" } })),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let mut response = crate::support::superuser_client()
        .post(format!(
            "{}/api/actions/connector/local-llm/_execute",
            node.base_url
        ))
        .header("kbn-xsrf", "true")
        .header("accept", "text/event-stream")
        .json(&json!({ "params": invoke_stream() }))
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    read_until(&mut response, &mut seen, &chunk("Hel")).await;

    let (exit, output) = node.terminate().await;

    assert!(exit.success(), "{output}");
    read_until(&mut response, &mut seen, "event: result\n").await;
    seen.push_str(&response.text().await.unwrap_or_default());
    let result = seen.split_once("event: result\ndata: ").unwrap().1;
    let result: Value = serde_json::from_str(result.trim_end()).unwrap();
    assert_eq!(
        (result["status"].clone(), result["service_message"].clone()),
        (json!("error"), json!("the server is shutting down"))
    );
    drop(vendor_side);
}
