//! `.bedrock` against a loopback fake of Amazon Bedrock's runtime API. Every
//! request's SigV4 signature is recomputed here, independently of the server's
//! signing library, from the test credentials.

use std::time::Duration;

use axum::body::Bytes;
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::support::{
    FakeServer, Reply, TestApp,
    app::assert_error,
    fake::Recorded,
    streaming::{self, StreamingVendor, read_until, streaming_vendor},
};

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const MODEL_PATH: &str = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0";
/// What Kibana signs for `invoke` calls, and for `converse` calls.
const INVOKE_SIGNED: &str = "accept;content-length;content-type;host;x-amz-date";
const CONVERSE_SIGNED: &str =
    "accept;content-length;content-type;host;x-amz-date;x-amzn-bedrock-accept";

fn sub_action(name: &str, params: Value) -> Value {
    json!({ "subAction": name, "subActionParams": params })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A path as SigV4 canonicalises it for every service but S3: each segment
/// percent-encoded again (`%3A` becomes `%253A`).
fn canonical_uri(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|byte| {
                    if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                        char::from(byte).to_string()
                    } else {
                        format!("%{byte:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Checks a request's `Authorization` header by signing the request again.
#[track_caller]
fn assert_signed(request: &Recorded, region: &str, signed_headers: &str) {
    let date_time = request.header("x-amz-date").expect("x-amz-date");
    assert_eq!(date_time.len(), 16, "{date_time}");
    assert!(date_time.ends_with('Z') && date_time.as_bytes()[8] == b'T');
    let date = &date_time[..8];
    let scope = format!("{date}/{region}/bedrock/aws4_request");
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|name| {
            let value = request.header(name).unwrap_or_else(|| panic!("{name}"));
            format!("{name}:{}\n", value.trim())
        })
        .collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        canonical_uri(&request.path),
        request.query.as_deref().unwrap_or_default(),
        hex(&Sha256::digest(request.body.as_bytes())),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{SECRET}").as_bytes(), date);
    for part in [region, "bedrock", "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex(&hmac(&key, &string_to_sign));
    assert_eq!(
        request.header("authorization"),
        Some(
            format!(
                "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
            )
            .as_str()
        )
    );
}

/// The fake: answers by path, as Bedrock would.
async fn fake_bedrock() -> FakeServer {
    FakeServer::start(|request| {
        let path = request.path.as_str();
        let Some(rest) = path.strip_prefix("/model/") else {
            return Reply::json(404, json!({ "message": "not found" }));
        };
        let (model, operation) = rest.rsplit_once('/').unwrap_or((rest, ""));
        match (model, operation) {
            ("bad-input", _) => Reply::json(
                400,
                json!({ "message": "Malformed input request: #: extraneous key [foo] is not permitted" }),
            ),
            ("control-plane", _) => Reply::json(
                400,
                json!({ "message": "The requested operation is not recognized by the service." }),
            ),
            ("forbidden", _) => Reply::json(
                403,
                json!({ "message": "The security token included in the request is invalid." }),
            ),
            ("unauthorized", _) => Reply::json(401, json!({})),
            ("throttled", _) => Reply::json(429, json!({ "message": "Too many requests, please wait before trying again." })),
            ("broken", _) => Reply::status(500, "oops"),
            ("odd", _) => Reply::json(200, json!({ "content": "nope", "usage": { "input_tokens": 1, "output_tokens": 1 } })),
            ("legacy", "invoke") => Reply::json(
                200,
                json!({ "completion": " Hi there", "stop_reason": "stop_sequence", "extra": 1 }),
            ),
            (_, "invoke") => Reply::json(
                200,
                json!({
                    "id": "msg_bdrk_01",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-3-5-sonnet-20240620",
                    "content": [{ "type": "text", "text": "  Hello from Bedrock.\n" }],
                    "stop_reason": "end_turn",
                    "stop_sequence": null,
                    "usage": { "input_tokens": 12, "output_tokens": 6 },
                }),
            ),
            (_, "converse") => Reply::json(
                200,
                json!({
                    "output": { "message": { "role": "assistant", "content": [{ "text": "Hi!" }] } },
                    "stopReason": "end_turn",
                    "usage": { "inputTokens": 5, "outputTokens": 2, "totalTokens": 7 },
                    "metrics": { "latencyMs": 321 },
                }),
            ),
            _ => Reply::json(404, json!({ "message": "unknown operation" })),
        }
    })
    .await
}

async fn bedrock_connector(app: &TestApp, config: Value) -> String {
    app.create_typed(
        ".bedrock",
        config,
        json!({ "accessKey": ACCESS_KEY, "secret": SECRET }),
    )
    .await
}

#[tokio::test]
async fn run_sends_the_body_signed_and_returns_a_claude2_result() {
    let fake = fake_bedrock().await;
    let app = TestApp::start().await;
    let id = bedrock_connector(
        &app,
        json!({ "apiUrl": fake.url(""), "defaultModel": MODEL, "region": "eu-central-1" }),
    )
    .await;
    let body = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":10, "messages":[{"role":"user","content":"Hello"}]}"#;
    let result = app
        .execute(&id, sub_action("run", json!({ "body": body })))
        .await;
    assert_eq!(
        result,
        json!({
            "status": "ok",
            "connector_id": id,
            "data": {
                "completion": "  Hello from Bedrock.\n",
                "stop_reason": "end_turn",
                "usage": { "input_tokens": 12, "output_tokens": 6 },
            },
        })
    );
    let request = fake.only_request();
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            &request.query
        ),
        ("POST", format!("{MODEL_PATH}/invoke").as_str(), &None)
    );
    assert_eq!(request.body, body, "the body goes exactly as given");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("accept"), Some("*/*"));
    assert_eq!(
        request.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_signed(&request, "eu-central-1", INVOKE_SIGNED);

    // A timeout too large for any clock is taken as a long one, not a crash.
    let result = app
        .execute(
            &id,
            sub_action("run", json!({ "body": body, "timeout": 1e300 })),
        )
        .await;
    assert_eq!(result["status"], "ok", "{result}");
}

#[tokio::test]
async fn test_with_an_arn_raw_and_legacy_bodies() {
    let fake = fake_bedrock().await;
    let app = TestApp::start().await;
    let id = bedrock_connector(&app, json!({ "apiUrl": fake.url("/") })).await;

    // An application inference profile ARN is one encoded path segment; the region
    // is the default one (the URL is not an amazonaws.com one).
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc";
    let raw = app
        .execute(
            &id,
            sub_action(
                "test",
                json!({ "body": "{\"messages\":[]}", "model": arn, "raw": true, "timeout": 1000 }),
            ),
        )
        .await;
    assert_eq!(raw["status"], "ok");
    assert_eq!(
        raw["data"],
        json!({
            "id": "msg_bdrk_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-sonnet-20240620",
            "content": [{ "type": "text", "text": "  Hello from Bedrock.\n" }],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": { "input_tokens": 12, "output_tokens": 6 },
        })
    );
    let request = &fake.requests()[0];
    assert_eq!(
        request.path,
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/invoke"
    );
    assert_eq!(request.body, "{\"messages\":[]}");
    assert_signed(request, "us-east-1", INVOKE_SIGNED);

    // Claude 2's `prompt` bodies get the answer back unmodified; the default model
    // is Kibana's.
    let legacy = app
        .execute(
            &id,
            sub_action(
                "run",
                json!({ "body": "{\"prompt\":\"\\n\\nHuman: Hi\\n\\nAssistant:\"}", "model": "legacy" }),
            ),
        )
        .await;
    assert_eq!(
        legacy,
        json!({
            "status": "ok",
            "connector_id": id,
            "data": { "completion": " Hi there", "stop_reason": "stop_sequence", "extra": 1 },
        })
    );
    assert_eq!(fake.requests()[1].path, "/model/legacy/invoke");
    assert_signed(&fake.requests()[1], "us-east-1", INVOKE_SIGNED);

    let default_model = app
        .execute(&id, sub_action("run", json!({ "body": "{}" })))
        .await;
    assert_eq!(default_model["status"], "ok");
    assert_eq!(
        fake.requests()[2].path,
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
    );

    // A body that is not JSON fails before anything is sent.
    let invalid = app
        .execute(&id, sub_action("run", json!({ "body": "nope" })))
        .await;
    assert_eq!(
        invalid,
        json!({
            "status": "error",
            "connector_id": id,
            "message": "an error occurred while running the action",
            "service_message": "Unexpected token 'o', \"nope\" is not valid JSON",
            "retry": true,
            "errorSource": "framework",
        })
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn invoke_ai_sends_anthropic_messages_and_trims_the_answer() {
    let fake = fake_bedrock().await;
    let app = TestApp::start().await;
    let id = bedrock_connector(
        &app,
        json!({ "apiUrl": fake.url(""), "defaultModel": MODEL }),
    )
    .await;
    let result = app
        .execute(
            &id,
            sub_action(
                "invokeAI",
                json!({
                    "messages": [
                        { "role": "system", "content": "You are terse." },
                        { "role": "user", "content": "Hello" },
                        { "role": "user", "content": "Are you there?" },
                        { "role": "assistant", "content": "Yes." },
                        { "role": "user", "rawContent": [{ "type": "text", "text": "Bye" }] },
                    ],
                    "temperature": 0.2,
                    "maxTokens": 100,
                    "stopSequences": ["STOP"],
                    "tools": [{ "name": "t", "description": "d", "input_schema": { "type": "object" } }],
                    "toolChoice": { "type": "auto" },
                    "telemetryMetadata": { "pluginId": "security" },
                }),
            ),
        )
        .await;
    assert_eq!(
        result,
        json!({
            "status": "ok",
            "connector_id": id,
            "data": {
                "message": "Hello from Bedrock.",
                "usage": { "input_tokens": 12, "output_tokens": 6 },
            },
        })
    );
    let request = fake.only_request();
    assert_eq!(request.path, format!("{MODEL_PATH}/invoke"));
    assert_eq!(
        request.body,
        concat!(
            r#"{"anthropic_version":"bedrock-2023-05-31","system":"You are terse.","#,
            r#""messages":[{"content":"Hello\nAre you there?","role":"user"},"#,
            r#"{"content":"Yes.","role":"assistant"},"#,
            r#"{"role":"user","content":[{"type":"text","text":"Bye"}]}],"#,
            r#""max_tokens":100,"stop_sequences":["STOP"],"temperature":0.2,"#,
            r#""tools":[{"name":"t","description":"d","input_schema":{"type":"object"}}],"#,
            r#""tool_choice":{"type":"auto"}}"#
        )
    );
    assert_signed(&request, "us-east-1", INVOKE_SIGNED);
}

#[tokio::test]
async fn invoke_ai_raw_and_converse() {
    let fake = fake_bedrock().await;
    let app = TestApp::start().await;
    let id = bedrock_connector(
        &app,
        json!({ "apiUrl": fake.url(""), "defaultModel": MODEL, "region": "us-west-2" }),
    )
    .await;
    let raw = app
        .execute(
            &id,
            sub_action(
                "invokeAIRaw",
                json!({
                    "messages": [{ "role": "user", "content": [{ "type": "text", "text": "Hi" }] }],
                    "system": "S",
                    "anthropicVersion": "bedrock-2023-05-31",
                }),
            ),
        )
        .await;
    assert_eq!(raw["status"], "ok");
    assert_eq!(raw["data"]["id"], "msg_bdrk_01");
    assert_eq!(raw["data"]["content"][0]["text"], "  Hello from Bedrock.\n");
    let request = &fake.requests()[0];
    assert_eq!(
        request.body,
        r#"{"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"system":"S","max_tokens":8191,"anthropic_version":"bedrock-2023-05-31"}"#
    );
    assert_signed(request, "us-west-2", INVOKE_SIGNED);

    let converse = app
        .execute(
            &id,
            sub_action(
                "converse",
                json!({
                    "messages": [{ "role": "user", "content": [{ "text": "Hi" }] }],
                    "system": [{ "text": "Be nice" }],
                    "maxTokens": 50,
                    "tools": [{ "toolSpec": { "name": "t" } }],
                    "somethingElse": true,
                }),
            ),
        )
        .await;
    assert_eq!(
        converse,
        json!({
            "status": "ok",
            "connector_id": id,
            "data": {
                "output": { "message": { "role": "assistant", "content": [{ "text": "Hi!" }] } },
                "stopReason": "end_turn",
                "usage": { "inputTokens": 5, "outputTokens": 2, "totalTokens": 7 },
                "metrics": { "latencyMs": 321 },
            },
        })
    );
    let request = &fake.requests()[1];
    assert_eq!(request.path, format!("{MODEL_PATH}/converse"));
    assert_eq!(
        request.body,
        format!(
            r#"{{"messages":[{{"role":"user","content":[{{"text":"Hi"}}]}}],"inferenceConfig":{{"maxTokens":50}},"toolConfig":{{"tools":[{{"toolSpec":{{"name":"t"}}}}]}},"system":[{{"text":"Be nice"}}],"modelId":"{MODEL}"}}"#
        )
    );
    assert_eq!(
        request.header("accept"),
        Some("application/vnd.amazon.eventstream")
    );
    assert_eq!(request.header("x-amzn-bedrock-accept"), Some("*/*"));
    assert_signed(request, "us-west-2", CONVERSE_SIGNED);

    let dashboard = app
        .execute(
            &id,
            sub_action("getDashboard", json!({ "dashboardId": "d" })),
        )
        .await;
    assert_eq!(
        dashboard,
        json!({ "status": "ok", "connector_id": id, "data": { "available": false } })
    );
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn failures_read_as_kibanas() {
    let fake = fake_bedrock().await;
    let app = TestApp::start().await;
    let id = bedrock_connector(&app, json!({ "apiUrl": fake.url("") })).await;
    let closed = crate::support::fake::closed_port();
    let down = bedrock_connector(
        &app,
        json!({ "apiUrl": format!("http://127.0.0.1:{}", closed.port) }),
    )
    .await;
    let error = |connector: &str, service_message: &str| {
        json!({
            "status": "error",
            "connector_id": connector,
            "message": "an error occurred while running the action",
            "service_message": service_message,
            "retry": true,
            "errorSource": "framework",
        })
    };
    let run = |model: &str| sub_action("run", json!({ "body": "{}", "model": model }));
    for (model, service_message) in [
        (
            "bad-input",
            "Status code: 400. Message: API Error: Bad Request - Malformed input request: #: extraneous key [foo] is not permitted",
        ),
        (
            "control-plane",
            "Status code: 400. Message: API Error: The requested operation is not recognized by the service.\n\nThe Kibana Connector in use may need to be reconfigured with an updated Amazon Bedrock endpoint, like `bedrock-runtime`.",
        ),
        (
            "unauthorized",
            "Status code: 401. Message: Unauthorized API Error",
        ),
        (
            "forbidden",
            "Status code: 403. Message: API Error: Forbidden - The security token included in the request is invalid.",
        ),
        (
            "throttled",
            "Status code: 429. Message: API Error: Too Many Requests - Too many requests, please wait before trying again.",
        ),
        (
            "broken",
            "Status code: 500. Message: API Error: Internal Server Error",
        ),
        (
            "odd",
            "Response validation failed (Error: [content]: could not parse array value from json input)",
        ),
    ] {
        assert_eq!(
            app.execute(&id, run(model)).await,
            error(&id, service_message),
            "{model}"
        );
    }
    assert_eq!(fake.requests().len(), 7);
    for request in fake.requests() {
        assert_signed(&request, "us-east-1", INVOKE_SIGNED);
    }
    assert_eq!(
        app.execute(&down, run("m")).await,
        error(
            &down,
            &format!(
                "Status code: undefined. Message: Unexpected API Error: ECONNREFUSED - connect ECONNREFUSED 127.0.0.1:{}",
                closed.port
            )
        )
    );
}

#[tokio::test]
async fn params_are_checked_and_client_send_is_refused() {
    let fake = fake_bedrock().await;
    let app = TestApp::start().await;
    let id = bedrock_connector(&app, json!({ "apiUrl": fake.url("") })).await;
    let error = |service_message: &str, source: &str| {
        json!({
            "status": "error",
            "connector_id": id,
            "message": "an error occurred while running the action",
            "service_message": service_message,
            "retry": true,
            "errorSource": source,
        })
    };
    let both = json!({ "messages": [{ "role": "user", "content": "a", "rawContent": [] }] });
    assert_eq!(
        app.execute(&id, sub_action("invokeAI", both)).await,
        error(
            "Request validation failed (Error: [messages.0]: content and rawContent can not be used at the same time)",
            "user"
        )
    );
    let neither = json!({ "messages": [{ "role": "user" }] });
    assert_eq!(
        app.execute(&id, sub_action("invokeAI", neither)).await,
        error(
            "Request validation failed (Error: [messages.0]: Must specify either content or rawContent)",
            "user"
        )
    );
    assert_eq!(
        app.execute(&id, sub_action("run", json!({ "body": "{}", "foo": 1 })))
            .await,
        error(
            "Request validation failed (Error: [foo]: definition for this key is missing)",
            "user"
        )
    );
    assert_eq!(
        app.execute(&id, sub_action("converse", json!({ "messages": "x" })))
            .await,
        error(
            "Request validation failed (Error: [messages]: could not parse array value from json input)",
            "user"
        )
    );
    let both = json!({ "messages": [{ "role": "user", "content": "a", "rawContent": [] }] });
    assert_eq!(
        app.execute(&id, sub_action("invokeStream", both)).await,
        error(
            "Request validation failed (Error: [messages.0]: content and rawContent can not be used at the same time)",
            "user"
        )
    );
    assert_eq!(
        app.execute(
            &id,
            sub_action("converseStream", json!({ "messages": "x" }))
        )
        .await,
        error(
            "Request validation failed (Error: [messages]: could not parse array value from json input)",
            "user"
        )
    );
    assert_eq!(
        app.execute(
            &id,
            sub_action("bedrockClientSend", json!({ "command": { "input": {} } }))
        )
        .await,
        error(
            "Sub action \"bedrockClientSend\" streams its answer, which the _execute API cannot return yet",
            "framework"
        )
    );
    assert_eq!(
        app.execute(&id, sub_action("nope", json!({}))).await,
        error(
            &format!(
                "Sub action \"nope\" is not registered. Connector id: {id}. Connector name: Amazon Bedrock. Connector type: .bedrock"
            ),
            "framework"
        )
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn config_and_secrets_are_validated() {
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["bedrock-runtime.us-east-1.amazonaws.com"] } } }),
    )
    .await;
    let create = |config: Value, secrets: Value| {
        app.post(
            "/api/actions/connector",
            json!({ "name": "b", "connector_type_id": ".bedrock", "config": config, "secrets": secrets }),
        )
    };
    let secrets = json!({ "accessKey": ACCESS_KEY, "secret": SECRET });
    let created = create(
        json!({ "apiUrl": "https://bedrock-runtime.us-east-1.amazonaws.com" }),
        secrets.clone(),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let created = created.json();
    assert_eq!(
        created["config"],
        json!({
            "apiUrl": "https://bedrock-runtime.us-east-1.amazonaws.com",
            "defaultModel": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        })
    );
    assert_eq!(created["connector_type_id"], ".bedrock");
    assert_error(
        &create(
            json!({ "apiUrl": "http://bedrock.mynonexistent.com" }),
            secrets.clone(),
        )
        .await,
        400,
        "error validating action type config: Error configuring Amazon Bedrock action: Error: error validating url: target url \"http://bedrock.mynonexistent.com\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
    assert_error(
        &create(
            json!({ "apiUrl": "example.com/do-something" }),
            secrets.clone(),
        )
        .await,
        400,
        "error validating action type config: Error configuring Amazon Bedrock action: Error: URL Error: Invalid URL",
    );
    assert_error(
        &create(json!({}), secrets.clone()).await,
        400,
        "error validating action type config: [apiUrl]: expected value of type [string] but got [undefined]",
    );
    assert_error(
        &create(
            json!({ "apiUrl": "https://bedrock-runtime.us-east-1.amazonaws.com", "contextWindowLength": 1000 }),
            secrets.clone(),
        )
        .await,
        400,
        "error validating action type config: [contextWindowLength]: Value must be equal to or greater than [32000].",
    );
    assert_error(
        &create(
            json!({ "apiUrl": "https://bedrock-runtime.us-east-1.amazonaws.com" }),
            json!({ "secret": SECRET }),
        )
        .await,
        400,
        "error validating action type secrets: [accessKey]: expected value of type [string] but got [undefined]",
    );
    let types = app.get("/api/actions/connector_types").await.json();
    let bedrock = types
        .as_array()
        .unwrap()
        .iter()
        .find(|it| it["id"] == ".bedrock")
        .cloned()
        .unwrap();
    assert_eq!(bedrock["name"], "Amazon Bedrock");
    assert_eq!(bedrock["minimum_license_required"], "enterprise");
    assert_eq!(
        bedrock["supported_feature_ids"],
        json!([
            "generativeAIForSecurity",
            "generativeAIForObservability",
            "generativeAIForSearchPlayground"
        ])
    );
}

#[tokio::test]
async fn a_call_waits_for_the_longer_of_its_timeout_and_the_servers() {
    let slow = FakeServer::start(|_| Reply::Hang).await;
    let app =
        TestApp::with_settings(json!({ "xpack": { "actions": { "responseTimeout": "300ms" } } }))
            .await;
    let id = bedrock_connector(&app, json!({ "apiUrl": slow.url("") })).await;
    let run = |timeout: u64| sub_action("run", json!({ "body": "{}", "timeout": timeout }));
    for (timeout, waited) in [(600, 600), (100, 300)] {
        assert_eq!(
            app.execute(&id, run(timeout)).await,
            json!({
                "status": "error",
                "connector_id": id,
                "message": "an error occurred while running the action",
                "service_message": format!(
                    "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - timeout of {waited}ms exceeded"
                ),
                "retry": true,
                "errorSource": "framework",
            })
        );
    }
}

/// CRC-32 as zlib computes it, for the event-stream frames the fake writes.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc ^ 0xFFFF_FFFF
}

/// One `application/vnd.amazon.eventstream` message with string headers.
fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded = Vec::new();
    for (name, value) in headers {
        encoded.push(name.len() as u8);
        encoded.extend_from_slice(name.as_bytes());
        encoded.push(7);
        encoded.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded.extend_from_slice(value.as_bytes());
    }
    let total = 16 + encoded.len() + payload.len();
    let mut out = (total as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32(&out).to_be_bytes());
    out.extend_from_slice(&encoded);
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32(&out).to_be_bytes());
    out
}

/// An `invoke-with-response-stream` frame carrying one Anthropic streaming event.
fn invoke_frame(chunk: &Value) -> Vec<u8> {
    let payload = json!({ "bytes": STANDARD.encode(chunk.to_string()), "p": "abcd" });
    frame(
        &[
            (":event-type", "chunk"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// A `converse-stream` frame: the event's JSON, named by its header.
fn converse_frame(event_type: &str, payload: &Value) -> Vec<u8> {
    frame(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

fn text_delta(text: &str) -> Value {
    json!({ "type": "content_block_delta", "index": 0,
            "delta": { "type": "text_delta", "text": text } })
}

fn message_stop() -> Value {
    json!({ "type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 9, "outputTokenCount": 2,
        "invocationLatency": 500, "firstByteLatency": 200 } })
}

fn sse(event: &Value) -> String {
    format!("data: {event}\n\n")
}

async fn execute_streaming(app: &TestApp, id: &str, params: Value) -> reqwest::Response {
    let response = streaming::execute_streaming(app, id, params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response
}

/// Everything after what was already seen, split into the forwarded events and
/// the final result.
async fn finish(mut response: reqwest::Response, mut seen: String) -> (String, Value) {
    read_until(&mut response, &mut seen, "event: result\n").await;
    seen.push_str(&response.text().await.unwrap());
    let (forwarded, result) = seen.split_once("event: result\ndata: ").unwrap();
    assert!(result.ends_with("\n\n"), "{result:?}");
    (
        forwarded.to_owned(),
        serde_json::from_str(result.trim_end()).unwrap(),
    )
}

fn only_request(vendor: &StreamingVendor) -> Recorded {
    let requests = vendor.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    requests[0].clone()
}

#[tokio::test]
async fn invoke_stream_reaches_the_client_frame_by_frame_with_the_final_usage() {
    let (vendor_side, receiver) = mpsc::channel(8);
    let vendor = streaming_vendor("", "application/vnd.amazon.eventstream", receiver).await;
    let app = TestApp::start().await;
    let id = bedrock_connector(
        &app,
        json!({ "apiUrl": vendor.url, "defaultModel": MODEL, "region": "eu-west-1" }),
    )
    .await;
    let start = json!({ "type": "message_start", "message": { "id": "msg_1", "role": "assistant",
                        "content": [], "usage": { "input_tokens": 9, "output_tokens": 1 } } });
    vendor_side
        .send(Bytes::from(invoke_frame(&start)))
        .await
        .unwrap();

    let mut response = execute_streaming(
        &app,
        &id,
        sub_action(
            "invokeStream",
            json!({ "messages": [{ "role": "user", "content": "Hi" }], "maxTokens": 5 }),
        ),
    )
    .await;
    let mut seen = String::new();
    // Bedrock has sent one frame and is still open: the client has its event already.
    read_until(&mut response, &mut seen, &sse(&start)).await;
    assert_eq!(seen, sse(&start));

    // The next frames arrive split across chunks in odd places.
    let rest = [
        invoke_frame(&text_delta("Hel")),
        invoke_frame(&text_delta("lo")),
        invoke_frame(&message_stop()),
    ]
    .concat();
    for piece in [&rest[..5], &rest[5..150], &rest[150..]] {
        vendor_side.send(Bytes::from(piece.to_vec())).await.unwrap();
    }
    drop(vendor_side);
    let (forwarded, result) = finish(response, seen).await;
    assert_eq!(
        forwarded,
        [
            sse(&start),
            sse(&text_delta("Hel")),
            sse(&text_delta("lo")),
            sse(&message_stop())
        ]
        .concat()
    );
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "message": "Hello",
            "usage": { "prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11 },
        } })
    );

    let request = only_request(&vendor);
    assert_eq!(request.method, reqwest::Method::POST);
    assert_eq!(
        request.path,
        format!("{MODEL_PATH}/invoke-with-response-stream")
    );
    assert_eq!(request.query, None);
    // Kibana does not pass `maxTokens` on for `invokeStream`.
    assert_eq!(
        request.body,
        r#"{"anthropic_version":"bedrock-2023-05-31","messages":[{"content":"Hi","role":"user"}],"max_tokens":8191,"temperature":0}"#
    );
    assert_eq!(
        request.header("accept"),
        Some("application/vnd.amazon.eventstream")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-amzn-bedrock-accept"), Some("*/*"));
    assert_signed(&request, "eu-west-1", CONVERSE_SIGNED);
}

#[tokio::test]
async fn converse_stream_without_accept_is_collected_into_text_and_usage() {
    let (vendor_side, receiver) = mpsc::channel(8);
    let vendor = streaming_vendor("", "application/vnd.amazon.eventstream", receiver).await;
    let app = TestApp::start().await;
    let id = bedrock_connector(&app, json!({ "apiUrl": vendor.url })).await;
    for event in [
        converse_frame("messageStart", &json!({ "role": "assistant" })),
        converse_frame(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": 0, "delta": { "text": "Hi" } }),
        ),
        converse_frame(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": 0, "delta": { "text": " there" } }),
        ),
        converse_frame("contentBlockStop", &json!({ "contentBlockIndex": 0 })),
        converse_frame("messageStop", &json!({ "stopReason": "end_turn" })),
        converse_frame(
            "metadata",
            &json!({ "usage": { "inputTokens": 5, "outputTokens": 2, "totalTokens": 7 },
                     "metrics": { "latencyMs": 100 } }),
        ),
    ] {
        vendor_side.send(Bytes::from(event)).await.unwrap();
    }
    drop(vendor_side);

    let result = app
        .execute(
            &id,
            sub_action(
                "converseStream",
                json!({ "messages": [{ "role": "user", "content": [{ "text": "Hi" }] }],
                        "model": "amazon.nova-lite-v1:0", "temperature": 0.5 }),
            ),
        )
        .await;
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "message": "Hi there",
            "usage": { "prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7 },
        } })
    );
    let request = only_request(&vendor);
    assert_eq!(
        request.path,
        "/model/amazon.nova-lite-v1%3A0/converse-stream"
    );
    assert_eq!(
        request.body,
        r#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"temperature":0.5},"modelId":"amazon.nova-lite-v1:0"}"#
    );
    // No region configured and not an AWS host: Kibana's default region.
    assert_signed(&request, "us-east-1", CONVERSE_SIGNED);
}

#[tokio::test]
async fn converse_stream_events_are_forwarded_as_the_sdk_names_them() {
    let (vendor_side, receiver) = mpsc::channel(8);
    let vendor = streaming_vendor("", "application/vnd.amazon.eventstream", receiver).await;
    let app = TestApp::start().await;
    let id = bedrock_connector(&app, json!({ "apiUrl": vendor.url, "defaultModel": MODEL })).await;
    let delta = json!({ "contentBlockIndex": 0, "delta": { "text": "Yo" } });
    vendor_side
        .send(Bytes::from(converse_frame("contentBlockDelta", &delta)))
        .await
        .unwrap();
    let mut response = execute_streaming(
        &app,
        &id,
        sub_action(
            "converseStream",
            json!({ "messages": [{ "role": "user", "content": [{ "text": "Hi" }] }] }),
        ),
    )
    .await;
    let first = sse(&json!({ "contentBlockDelta": delta }));
    let mut seen = String::new();
    read_until(&mut response, &mut seen, &first).await;
    assert_eq!(seen, first);
    let usage = json!({ "usage": { "inputTokens": 3, "outputTokens": 1, "totalTokens": 4 } });
    vendor_side
        .send(Bytes::from(converse_frame("metadata", &usage)))
        .await
        .unwrap();
    drop(vendor_side);
    let (forwarded, result) = finish(response, seen).await;
    assert_eq!(
        forwarded,
        format!("{first}{}", sse(&json!({ "metadata": usage })))
    );
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "message": "Yo",
            "usage": { "prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4 },
        } })
    );
    assert_eq!(
        only_request(&vendor).path,
        format!("{MODEL_PATH}/converse-stream")
    );
}

fn stream_failed(id: &str, service_message: &str) -> Value {
    json!({
        "status": "error", "connector_id": id, "errorSource": "framework", "retry": true,
        "message": "an error occurred while running the action",
        "service_message": service_message,
    })
}

#[tokio::test]
async fn a_corrupt_frame_ends_the_stream_with_an_error_result() {
    let (vendor_side, receiver) = mpsc::channel(8);
    let vendor = streaming_vendor("", "application/vnd.amazon.eventstream", receiver).await;
    let app = TestApp::start().await;
    let id = bedrock_connector(&app, json!({ "apiUrl": vendor.url, "defaultModel": MODEL })).await;
    vendor_side
        .send(Bytes::from(invoke_frame(&text_delta("Hel"))))
        .await
        .unwrap();
    let mut response = execute_streaming(
        &app,
        &id,
        sub_action(
            "invokeStream",
            json!({ "messages": [{ "role": "user", "content": "Hi" }] }),
        ),
    )
    .await;
    let execution_id = response.headers()["x-execution-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut seen = String::new();
    read_until(&mut response, &mut seen, &sse(&text_delta("Hel"))).await;
    let mut corrupt = invoke_frame(&text_delta("lo"));
    let byte = corrupt.len() - 10;
    corrupt[byte] ^= 0x20;
    vendor_side.send(Bytes::from(corrupt)).await.unwrap();
    let (forwarded, result) = finish(response, seen).await;
    assert_eq!(forwarded, sse(&text_delta("Hel")));
    assert_eq!(
        result,
        stream_failed(
            &id,
            "Status code: undefined. Message: invalid event stream frame: message checksum mismatch"
        )
    );
    drop(vendor_side);
    let logged = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let response = app
                .get(&format!("/api/actions/executions/{execution_id}"))
                .await;
            if response.status == 200 && response.json()["status"] != "running" {
                return response.json();
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the run is logged");
    assert_eq!(logged["status"], "failed");
}

#[tokio::test]
async fn an_exception_frame_or_a_stream_cut_inside_a_frame_is_an_error() {
    let exception = frame(
        &[
            (":message-type", "exception"),
            (":exception-type", "throttlingException"),
            (":content-type", "application/json"),
        ],
        br#"{"message":"Too many requests, please wait before trying again."}"#,
    );
    let whole = invoke_frame(&text_delta("Hel"));
    for (pushed, expected) in [
        (
            exception,
            "Status code: undefined. Message: API Error: throttlingException - Too many requests, please wait before trying again.",
        ),
        (
            whole[..whole.len() - 3].to_vec(),
            "Status code: undefined. Message: the event stream ended inside a frame",
        ),
    ] {
        let (vendor_side, receiver) = mpsc::channel(8);
        let vendor = streaming_vendor("", "application/vnd.amazon.eventstream", receiver).await;
        let app = TestApp::start().await;
        let id =
            bedrock_connector(&app, json!({ "apiUrl": vendor.url, "defaultModel": MODEL })).await;
        vendor_side.send(Bytes::from(pushed)).await.unwrap();
        drop(vendor_side);
        let response = execute_streaming(
            &app,
            &id,
            sub_action(
                "invokeStream",
                json!({ "messages": [{ "role": "user", "content": "Hi" }] }),
            ),
        )
        .await;
        let (forwarded, result) = finish(response, String::new()).await;
        assert_eq!(forwarded, "");
        assert_eq!(result, stream_failed(&id, expected));
    }
}

#[tokio::test]
async fn a_stream_refused_by_bedrock_is_an_ordinary_json_result() {
    let fake = fake_bedrock().await;
    let app = TestApp::start().await;
    let id = bedrock_connector(
        &app,
        json!({ "apiUrl": fake.url(""), "defaultModel": "bad-input" }),
    )
    .await;
    let response = app
        .request(
            reqwest::Method::POST,
            &format!("/api/actions/connector/{id}/_execute"),
        )
        .header("kbn-xsrf", "true")
        .header("accept", "text/event-stream")
        .json(&json!({ "params": sub_action(
            "converseStream",
            json!({ "messages": [{ "role": "user", "content": [{ "text": "Hi" }] }] }),
        ) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({
            "status": "error",
            "connector_id": id,
            "message": "an error occurred while running the action",
            "service_message": "Status code: 400. Message: API Error: Bad Request - Malformed input request: #: extraneous key [foo] is not permitted",
            "retry": true,
            "errorSource": "framework",
        })
    );
    let request = fake.only_request();
    assert_eq!(request.path, "/model/bad-input/converse-stream");
    assert_signed(&request, "us-east-1", CONVERSE_SIGNED);
}

#[tokio::test]
async fn a_stream_waits_between_chunks_for_the_longer_of_its_timeout_and_the_servers() {
    let app =
        TestApp::with_settings(json!({ "xpack": { "actions": { "responseTimeout": "200ms" } } }))
            .await;
    let params = sub_action(
        "invokeStream",
        json!({ "messages": [{ "role": "user", "content": "Hi" }], "timeout": 400 }),
    );
    let timed_out = |id: &str| {
        stream_failed(
            id,
            "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - timeout of 400ms exceeded",
        )
    };

    // Bedrock never answers.
    let silent = FakeServer::start(|_| Reply::Hang).await;
    let id = bedrock_connector(
        &app,
        json!({ "apiUrl": silent.url(""), "defaultModel": MODEL }),
    )
    .await;
    assert_eq!(app.execute(&id, params.clone()).await, timed_out(&id));

    // Bedrock answers one frame, then goes quiet with the connection open.
    let (vendor_side, receiver) = mpsc::channel(8);
    let vendor = streaming_vendor("", "application/vnd.amazon.eventstream", receiver).await;
    let id = bedrock_connector(&app, json!({ "apiUrl": vendor.url, "defaultModel": MODEL })).await;
    vendor_side
        .send(Bytes::from(invoke_frame(&text_delta("Hel"))))
        .await
        .unwrap();
    let response = execute_streaming(&app, &id, params).await;
    let (forwarded, result) = finish(response, String::new()).await;
    assert_eq!(forwarded, sse(&text_delta("Hel")));
    assert_eq!(result, timed_out(&id));
    drop(vendor_side);
}
