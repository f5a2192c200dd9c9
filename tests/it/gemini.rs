//! `.gemini` against one loopback fake playing both Google's token endpoint (it
//! checks the signed assertion with the test key's public half) and Vertex AI's
//! `generateContent`: every request of each flow is checked, results pinned whole.
//! `invokeStream` runs against a Vertex AI fake that streams what the test pushes,
//! when the test pushes it.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{
    FakeServer, Reply, TestApp,
    app::assert_error,
    closed_port,
    fake::Recorded,
    rsa::{self, PKCS8_KEY},
    streaming::{execute_streaming, read_until, streaming_vendor},
};

const TOKEN_PATH: &str = "/google/token";
const GENERATE: &str = "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent";
const SAFETY: &str = r#""safety_settings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","threshold":"BLOCK_ONLY_HIGH"}]"#;

fn credentials() -> Value {
    json!({
        "type": "service_account", "project_id": "my-project", "private_key_id": "key-1",
        "private_key": PKCS8_KEY, "client_email": "gemini@my-project.iam.gserviceaccount.com",
        "client_id": "1234", "token_uri": "https://oauth2.googleapis.com/token",
    })
}

fn secrets(credentials: &Value) -> Value {
    json!({ "credentialsJson": credentials.to_string() })
}

fn config(api_url: &str) -> Value {
    json!({ "apiUrl": api_url, "gcpRegion": "us-central1", "gcpProjectID": "my-project" })
}

fn usage() -> Value {
    json!({ "promptTokenCount": 4, "candidatesTokenCount": 1, "totalTokenCount": 5 })
}

/// Vertex AI's answer for a prompt, as Google sends it.
fn generated(text: &str) -> Value {
    json!({
        "candidates": [{ "content": { "role": "model", "parts": [{ "text": text }] }, "finishReason": "STOP" }],
        "usageMetadata": usage(),
        "modelVersion": "gemini-2.5-pro",
    })
}

/// An app whose Google token endpoint is the fake's.
async fn app_for(fake: &FakeServer) -> TestApp {
    TestApp::with_settings(
        json!({ "xpack": { "actions": { "googleTokenUrl": fake.url(TOKEN_PATH) } } }),
    )
    .await
}

/// The token side: `ya29.token-<n>`, valid for `expires_in(n)` seconds.
fn token_endpoint(issued: &AtomicUsize, expires_in: impl Fn(usize) -> u64) -> Reply {
    let number = issued.fetch_add(1, Ordering::SeqCst) + 1;
    Reply::json(
        200,
        json!({ "access_token": format!("ya29.token-{number}"), "expires_in": expires_in(number),
                "token_type": "Bearer" }),
    )
}

fn run(body: &str) -> Value {
    json!({ "subAction": "run", "subActionParams": { "body": body } })
}

fn thrown(id: &str, service_message: &str) -> Value {
    json!({
        "status": "error", "connector_id": id, "message": "an error occurred while running the action",
        "service_message": service_message, "retry": true, "errorSource": "framework",
    })
}

/// Checks a token request: the exact form and an assertion signed with the test key
/// carrying the service account's claims.
#[track_caller]
fn assert_token_request(request: &Recorded, token_url: &str) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref()
        ),
        ("POST", TOKEN_PATH, None)
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.header("authorization"), None);
    let assertion = request
        .body
        .strip_prefix("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=")
        .unwrap_or_else(|| panic!("the form: {}", request.body));
    let (header, claims) = rsa::verify_rs256(assertion);
    assert_eq!(header, r#"{"alg":"RS256","typ":"JWT","kid":"key-1"}"#);
    let keys: Vec<&String> = claims.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["iss", "scope", "aud", "exp", "iat"]);
    assert_eq!(
        (&claims["iss"], &claims["scope"], &claims["aud"]),
        (
            &json!("gemini@my-project.iam.gserviceaccount.com"),
            &json!("https://www.googleapis.com/auth/cloud-platform"),
            &json!(token_url)
        )
    );
    let issued_at = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap() - issued_at, 3600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(issued_at.abs_diff(now) < 300, "iat is now");
}

/// Checks a `generateContent` call: URL, token and exact body.
#[track_caller]
fn assert_generate(request: &Recorded, path: &str, token: &str, body: &str) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref()
        ),
        ("POST", path, None)
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, body);
}

/// Vertex AI: the model named in the path picks the answer.
fn vertex(request: &Recorded) -> Reply {
    let prefix = "/v1/projects/my-project/locations/us-central1/publishers/google/models/";
    let Some(model) = request
        .path
        .strip_prefix(prefix)
        .and_then(|it| it.strip_suffix(":generateContent"))
    else {
        return Reply::json(
            404,
            json!({ "error": { "code": 404, "message": "no such path", "status": "NOT_FOUND" } }),
        );
    };
    let google_error = |status: u16, message: &str, code: &str| {
        Reply::json(
            status,
            json!({ "error": { "code": status, "message": message, "status": code } }),
        )
    };
    match model {
        "err-400" => google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"),
        "err-429" => google_error(
            429,
            "Resource exhausted. Please try again later.",
            "RESOURCE_EXHAUSTED",
        ),
        "err-500" => Reply::status(500, "<html>oops</html>"),
        "err-503" => Reply::json(503, json!({ "message": "down for maintenance" })),
        "err-unrecognised" => Reply::json(
            400,
            json!({ "message": "The requested operation is not recognized by the service." }),
        ),
        "plain-401" => Reply::json(401, json!({ "message": "who are you" })),
        "blocked" => Reply::json(
            200,
            json!({ "promptFeedback": { "blockReason": "SAFETY" }, "candidates": [], "usageMetadata": usage() }),
        ),
        "no-usage" => Reply::json(200, json!({ "candidates": [] })),
        _ => Reply::json(200, generated("Paris")),
    }
}

#[tokio::test]
async fn runs_with_a_token_from_a_signed_assertion_and_reuses_it() {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let fake = FakeServer::start(move |request| match request.path.as_str() {
        TOKEN_PATH => token_endpoint(&counter, |_| 3599),
        _ => vertex(request),
    })
    .await;
    let app = app_for(&fake).await;
    // A trailing `/` on the URL is dropped, as Kibana's request helper does.
    let id = app
        .create_typed(".gemini", config(&fake.url("/")), secrets(&credentials()))
        .await;

    let prompt = r#"{"contents":[{"role":"user","parts":[{"text":"Capital of France?"}]}]}"#;
    assert_eq!(
        app.execute(&id, run(prompt)).await,
        json!({ "status": "ok", "connector_id": id,
                "data": { "completion": "Paris", "usageMetadata": usage() } })
    );
    let invoke = |sub_action: &str| {
        json!({ "subAction": sub_action, "subActionParams": {
            "messages": [
                { "role": "user", "content": "Hi" }, { "role": "user", "content": "there" },
                { "role": "assistant", "content": "Hello" },
                { "role": "user", "parts": [{ "text": "As is" }] },
            ],
            "systemInstruction": "Be brief", "maxOutputTokens": 100, "temperature": 0.2,
            "toolConfig": { "mode": "ANY", "allowedFunctionNames": ["lookup"] },
            "tools": [{ "functionDeclarations": [] }],
            "stopSequences": ["x"], "telemetryMetadata": { "pluginId": "p" },
        } })
    };
    assert_eq!(
        app.execute(&id, invoke("invokeAI")).await,
        json!({ "status": "ok", "connector_id": id,
                "data": { "message": "Paris", "usageMetadata": usage() } })
    );
    assert_eq!(
        app.execute(&id, invoke("invokeAIRaw")).await,
        json!({ "status": "ok", "connector_id": id, "data": generated("Paris") })
    );
    let raw = json!({ "subAction": "test", "subActionParams": {
        "body": { "contents": [], "generationConfig": null }, "raw": true, "model": "gemini-2.0-flash",
        "temperature": 1, "stopSequences": ["y"],
    } });
    assert_eq!(
        app.execute(&id, raw).await,
        json!({ "status": "ok", "connector_id": id, "data": generated("Paris") })
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 5, "one token for every run: {requests:#?}");
    assert_token_request(&requests[0], &fake.url(TOKEN_PATH));
    assert_generate(&requests[1], GENERATE, "ya29.token-1", prompt);
    let built = format!(
        r#"{{"contents":[{{"role":"user","parts":[{{"text":"Hi there"}}]}},{{"role":"model","parts":[{{"text":"Hello"}}]}},{{"role":"user","parts":[{{"text":"As is"}}]}}],"generation_config":{{"temperature":0.2,"maxOutputTokens":100}},"system_instruction":{{"parts":[{{"text":"Be brief"}}]}},"tool_config":{{"function_calling_config":{{"mode":"ANY","allowed_function_names":["lookup"]}}}},{SAFETY}"#
    );
    // `invokeAI` leaves the tools out; `invokeAIRaw` sends them.
    assert_generate(
        &requests[2],
        GENERATE,
        "ya29.token-1",
        &format!("{built}}}"),
    );
    assert_generate(
        &requests[3],
        GENERATE,
        "ya29.token-1",
        &format!(r#"{built},"tools":[{{"functionDeclarations":[]}}]}}"#),
    );
    assert_generate(
        &requests[4],
        &GENERATE.replace("gemini-2.5-pro", "gemini-2.0-flash"),
        "ya29.token-1",
        r#"{"contents":[],"generationConfig":null}"#,
    );
}

#[tokio::test]
async fn tokens_are_asked_for_again_when_expired_or_refused() {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let fake = FakeServer::start(move |request| match request.path.as_str() {
        // The first token is about to expire: it is not kept.
        TOKEN_PATH => token_endpoint(&counter, |number| if number == 1 { 60 } else { 3599 }),
        _ if request.header("authorization") == Some("Bearer ya29.token-2") => Reply::json(
            401,
            json!({ "error": { "code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED" } }),
        ),
        _ => vertex(request),
    })
    .await;
    let app = app_for(&fake).await;
    let id = app
        .create_typed(".gemini", config(&fake.url("")), secrets(&credentials()))
        .await;
    let ok = json!({ "status": "ok", "connector_id": id,
                     "data": { "completion": "Paris", "usageMetadata": usage() } });

    assert_eq!(app.execute(&id, run("{}")).await, ok);
    assert_eq!(
        app.execute(&id, run("{}")).await,
        thrown(
            &id,
            "Status code: 401. Message: API Error: UNAUTHENTICATED: Request had invalid authentication credentials."
        )
    );
    assert_eq!(app.execute(&id, run("{}")).await, ok);
    assert_eq!(app.execute(&id, run("{}")).await, ok);

    let requests = fake.requests();
    let seen: Vec<(&str, Option<&str>)> = requests
        .iter()
        .map(|it| (it.path.as_str(), it.header("authorization")))
        .collect();
    assert_eq!(
        seen,
        [
            (TOKEN_PATH, None),
            (GENERATE, Some("Bearer ya29.token-1")),
            (TOKEN_PATH, None),
            (GENERATE, Some("Bearer ya29.token-2")),
            (TOKEN_PATH, None),
            (GENERATE, Some("Bearer ya29.token-3")),
            (GENERATE, Some("Bearer ya29.token-3")),
        ]
    );
    for index in [0, 2, 4] {
        assert_token_request(&requests[index], &fake.url(TOKEN_PATH));
    }
    for index in [1, 3, 5, 6] {
        assert_eq!(requests[index].body, "{}");
    }

    // New credentials get a new token.
    let mut other = credentials();
    other["client_id"] = json!("5678");
    let updated = app
        .put(
            &format!("/api/actions/connector/{id}"),
            json!({ "name": "g", "config": config(&fake.url("")), "secrets": secrets(&other) }),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(app.execute(&id, run("{}")).await, ok);
    let requests = fake.requests();
    assert_eq!(requests.len(), 9);
    assert_token_request(&requests[7], &fake.url(TOKEN_PATH));
    assert_eq!(
        requests[8].header("authorization"),
        Some("Bearer ya29.token-4")
    );
}

#[tokio::test]
async fn vertex_failures_read_like_kibanas() {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let fake = FakeServer::start(move |request| match request.path.as_str() {
        TOKEN_PATH => token_endpoint(&counter, |_| 3599),
        _ => vertex(request),
    })
    .await;
    let app = app_for(&fake).await;
    let id = app
        .create_typed(".gemini", config(&fake.url("")), secrets(&credentials()))
        .await;
    let cases = [
        (
            "err-400",
            "Status code: 400. Message: API Error: INVALID_ARGUMENT: Invalid JSON payload received.",
        ),
        (
            "err-429",
            "Status code: 429. Message: API Error: RESOURCE_EXHAUSTED: Resource exhausted. Please try again later.",
        ),
        (
            "err-500",
            "Status code: 500. Message: API Error: Internal Server Error",
        ),
        (
            "err-503",
            "Status code: 503. Message: API Error: Service Unavailable - down for maintenance",
        ),
        (
            "err-unrecognised",
            "Status code: 400. Message: API Error: The requested operation is not recognized by the service.",
        ),
        (
            "plain-401",
            "Status code: 401. Message: Unauthorized API Error: who are you",
        ),
        (
            "blocked",
            "Cannot read properties of undefined (reading 'content')",
        ),
        (
            "no-usage",
            "Response validation failed (Error: [usageMetadata.promptTokenCount]: expected value of type [number] but got [undefined])",
        ),
    ];
    for (model, message) in cases {
        let params =
            json!({ "subAction": "run", "subActionParams": { "body": "{}", "model": model } });
        assert_eq!(
            app.execute(&id, params).await,
            thrown(&id, message),
            "{model}"
        );
    }
    // A raw run returns what Google said, safety blocks included.
    let params = json!({ "subAction": "run",
                         "subActionParams": { "body": "{}", "model": "blocked", "raw": true } });
    assert_eq!(
        app.execute(&id, params).await,
        json!({ "status": "ok", "connector_id": id, "data": {
            "promptFeedback": { "blockReason": "SAFETY" }, "candidates": [], "usageMetadata": usage(),
        } })
    );
    // One token for all, but for the 401: its token is dropped.
    let tokens: Vec<usize> = fake
        .requests()
        .iter()
        .enumerate()
        .filter(|(_, it)| it.path == TOKEN_PATH)
        .map(|(index, _)| index)
        .collect();
    assert_eq!(tokens, [0, 7]);
    assert_eq!(fake.requests().len(), 1 + cases.len() + 1 + 1);

    // No answer at all.
    let closed = closed_port();
    let unreachable = app
        .create_typed(
            ".gemini",
            config(&format!("http://127.0.0.1:{}", closed.port)),
            secrets(&credentials()),
        )
        .await;
    assert_eq!(
        app.execute(&unreachable, run("{}")).await,
        thrown(
            &unreachable,
            &format!(
                "Status code: undefined. Message: Unexpected API Error: ECONNREFUSED - connect ECONNREFUSED 127.0.0.1:{}",
                closed.port
            )
        )
    );
}

#[tokio::test]
async fn token_failures_read_like_kibanas() {
    let fake = FakeServer::start(|request| {
        if request.path != TOKEN_PATH {
            return vertex(request);
        }
        let assertion = request.body.rsplit('=').next().unwrap_or_default();
        if rsa::verify_rs256(assertion).1["iss"] == "empty@my-project.iam.gserviceaccount.com" {
            return Reply::json(200, json!({ "token_type": "Bearer" }));
        }
        Reply::json(
            400,
            json!({ "error": "invalid_grant", "error_description": "Invalid JWT Signature." }),
        )
    })
    .await;
    let app = app_for(&fake).await;
    let prefix = "Unable to retrieve access token. Ensure the service account has the right permissions and the Vertex AI endpoint is enabled in the GCP project. Error: ";
    let run_with = async |credentials: Value| {
        let id = app
            .create_typed(".gemini", config(&fake.url("")), secrets(&credentials))
            .await;
        let result = app.execute(&id, run("{}")).await;
        (id, result)
    };

    let (id, result) = run_with(credentials()).await;
    assert_eq!(
        result,
        thrown(
            &id,
            &format!("{prefix}invalid_grant: Invalid JWT Signature.")
        )
    );

    // The answer has no token. (The account's email marks the request for the fake.)
    let mut empty = credentials();
    empty["client_email"] = json!("empty@my-project.iam.gserviceaccount.com");
    let (id, result) = run_with(empty).await;
    assert_eq!(
        result,
        thrown(
            &id,
            "Error occurred while retrieving the access token. Ensure that the credentials are vaild."
        )
    );
    let count = fake.requests().len();
    assert_eq!(count, 2, "token requests only");

    // Unusable accounts are refused before anything is sent.
    let mut no_email = credentials();
    no_email["client_email"] = json!("");
    let mut bad_key = credentials();
    bad_key["private_key"] = json!("-----BEGIN PRIVATE KEY----------END PRIVATE KEY-----\n");
    for (credentials, message) in [
        (
            no_email,
            "The incoming JSON object does not contain a client_email field",
        ),
        (bad_key, "the private key is not valid PEM"),
    ] {
        let (id, result) = run_with(credentials).await;
        assert_eq!(result, thrown(&id, &format!("{prefix}{message}")));
    }
    assert_eq!(fake.requests().len(), count);

    // No token endpoint at all.
    let closed = closed_port();
    let token_url = format!("http://127.0.0.1:{}/token", closed.port);
    let app =
        TestApp::with_settings(json!({ "xpack": { "actions": { "googleTokenUrl": token_url } } }))
            .await;
    let id = app
        .create_typed(".gemini", config(&fake.url("")), secrets(&credentials()))
        .await;
    assert_eq!(
        app.execute(&id, run("{}")).await,
        thrown(
            &id,
            &format!(
                "{prefix}request to {token_url} failed, reason: connect ECONNREFUSED 127.0.0.1:{}",
                closed.port
            )
        )
    );
}

/// Unlike Kibana (whose Google auth library has its own HTTP client), the token
/// request goes through the egress policy like every other call.
#[tokio::test]
async fn the_token_endpoint_must_be_an_allowed_host() {
    let fake = FakeServer::start(vertex).await;
    let token_url = format!("http://localhost:{}{TOKEN_PATH}", fake.address.port());
    let app = TestApp::with_settings(json!({ "xpack": { "actions": {
        "googleTokenUrl": token_url, "allowedHosts": ["127.0.0.1"],
    } } }))
    .await;
    let id = app
        .create_typed(".gemini", config(&fake.url("")), secrets(&credentials()))
        .await;
    assert_eq!(
        app.execute(&id, run("{}")).await,
        thrown(
            &id,
            &format!(
                "Unable to retrieve access token. Ensure the service account has the right permissions and the Vertex AI endpoint is enabled in the GCP project. Error: request to {token_url} failed, reason: target url \"{token_url}\" is not added to the Kibana config xpack.actions.allowedHosts"
            )
        )
    );
    assert!(fake.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn params_are_checked() {
    let fake = FakeServer::start(|_| Reply::json(500, json!({}))).await;
    let app = app_for(&fake).await;
    let id = app
        .create_typed(".gemini", config(&fake.url("")), secrets(&credentials()))
        .await;
    let user_error = |message: &str| {
        json!({
            "status": "error", "connector_id": id, "message": "an error occurred while running the action",
            "service_message": message, "retry": true, "errorSource": "user",
        })
    };
    assert_eq!(
        app.execute(&id, json!({})).await,
        json!({ "status": "error", "connector_id": id,
                "message": "error validating action params: [subAction]: expected value of type [string] but got [undefined]",
                "retry": false, "errorSource": "user" })
    );
    assert_eq!(
        app.execute(&id, json!({ "subAction": "run", "subActionParams": {} }))
            .await,
        user_error(
            "Request validation failed (Error: [body]: expected value of type [any] but got [undefined])"
        )
    );
    assert_eq!(
        app.execute(
            &id,
            json!({ "subAction": "invokeAI", "subActionParams": { "messages": [], "foo": 1 } })
        )
        .await,
        user_error("Request validation failed (Error: [foo]: definition for this key is missing)")
    );
    assert_eq!(
        app.execute(
            &id,
            json!({ "subAction": "invokeAI", "subActionParams": { "messages": [], "toolConfig": { "mode": "SOME" } } })
        )
        .await,
        user_error(
            "Request validation failed (Error: [toolConfig.mode]: types that failed validation:\n- [toolConfig.mode.0]: expected value to equal [AUTO]\n- [toolConfig.mode.1]: expected value to equal [ANY]\n- [toolConfig.mode.2]: expected value to equal [NONE])"
        )
    );
    assert_eq!(
        app.execute(
            &id,
            json!({ "subAction": "invokeStream", "subActionParams": { "messages": [], "foo": 1 } })
        )
        .await,
        user_error("Request validation failed (Error: [foo]: definition for this key is missing)")
    );
    assert_eq!(
        app.execute(&id, json!({ "subAction": "nope" })).await,
        thrown(
            &id,
            &format!(
                "Sub action \"nope\" is not registered. Connector id: {id}. Connector name: Google Gemini. Connector type: .gemini"
            )
        )
    );
    assert_eq!(
        app.execute(
            &id,
            json!({ "subAction": "getDashboard", "subActionParams": { "dashboardId": "d" } })
        )
        .await,
        json!({ "status": "ok", "connector_id": id, "data": { "available": false } })
    );
    assert!(fake.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_calls_timeout_is_its_own_or_the_servers() {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let fake = FakeServer::start(move |request| match request.path.as_str() {
        TOKEN_PATH => token_endpoint(&counter, |_| 3599),
        _ => Reply::Hang,
    })
    .await;
    let app = TestApp::with_settings(json!({ "xpack": { "actions": {
        "googleTokenUrl": fake.url(TOKEN_PATH), "responseTimeout": "300ms",
    } } }))
    .await;
    let id = app
        .create_typed(".gemini", config(&fake.url("")), secrets(&credentials()))
        .await;
    // The longer of the call's timeout and `responseTimeout` applies.
    let params = json!({ "subAction": "run", "subActionParams": { "body": "{}", "timeout": 100 } });
    assert_eq!(
        app.execute(&id, params).await,
        thrown(
            &id,
            "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - timeout of 300ms exceeded"
        )
    );
    let params = json!({ "subAction": "run", "subActionParams": { "body": "{}", "timeout": 500 } });
    assert_eq!(
        app.execute(&id, params).await,
        thrown(
            &id,
            "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - timeout of 500ms exceeded"
        )
    );
}

#[tokio::test]
async fn config_and_secrets_are_validated_with_kibanas_messages() {
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["aiplatform.example"] } } }),
    )
    .await;
    let create = async |config: Value, secrets: Value| {
        app.post(
            "/api/actions/connector",
            json!({ "name": "g", "connector_type_id": ".gemini", "config": config, "secrets": secrets }),
        )
        .await
    };
    let allowed = "https://aiplatform.example";
    let created = create(config(allowed), secrets(&credentials())).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let body = created.json();
    assert_eq!(
        body,
        json!({
            "id": body["id"], "name": "g", "connector_type_id": ".gemini",
            "config": { "apiUrl": allowed, "defaultModel": "gemini-2.5-pro",
                        "gcpRegion": "us-central1", "gcpProjectID": "my-project" },
            "is_preconfigured": false, "is_system_action": false, "is_deprecated": false,
            "is_missing_secrets": false, "is_connector_type_deprecated": false,
        })
    );

    let config_error = "error validating action type config: ";
    for (config, message) in [
        (json!({}), "[apiUrl]: expected value of type [string] but got [undefined]".to_owned()),
        (
            json!({ "apiUrl": allowed, "gcpRegion": "us-central1" }),
            "[gcpProjectID]: expected value of type [string] but got [undefined]".to_owned(),
        ),
        (
            json!({ "apiUrl": allowed, "gcpRegion": "r", "gcpProjectID": "p", "model": "m" }),
            "[model]: definition for this key is missing".to_owned(),
        ),
        (
            config("not a url"),
            "Error configuring Google Gemini action: Error: URL Error: Invalid URL".to_owned(),
        ),
        (
            config("ftp://aiplatform.example"),
            "Error configuring Google Gemini action: Error: URL Error: Invalid protocol".to_owned(),
        ),
        (
            config("https://other.example"),
            "Error configuring Google Gemini action: Error: error validating url: target url \"https://other.example\" is not added to the Kibana config xpack.actions.allowedHosts".to_owned(),
        ),
    ] {
        let response = create(config, secrets(&credentials())).await;
        assert_error(&response, 400, &format!("{config_error}{message}"));
    }

    let secrets_error = "error validating action type secrets: ";
    let wrapped = "Error configuring Google Gemini secrets: Error: ";
    for (secrets, message) in [
        (
            json!({}),
            "[credentialsJson]: expected value of type [string] but got [undefined]".to_owned(),
        ),
        // Refused by the route before the type sees it, as in Kibana.
        (
            json!({ "credentialsJson": "" }),
            "[request body.secrets.credentialsJson]: value '' is not valid".to_owned(),
        ),
        (
            json!({ "credentialsJson": "{ nope" }),
            format!("{wrapped}Invalid JSON format for credentials."),
        ),
        (
            json!({ "credentialsJson": r#"{"type":"external_account","credential_source":{"file":"/etc/passwd"}}"# }),
            format!(
                "{wrapped}Invalid credential type. Only \"service_account\" credentials are supported. Type was \"external_account\"."
            ),
        ),
    ] {
        let response = create(config(allowed), secrets).await;
        let message = if message.starts_with("[request body") {
            message
        } else {
            format!("{secrets_error}{message}")
        };
        assert_error(&response, 400, &message);
    }
}

const STREAM: &str = "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent";

/// Google's token endpoint alone.
async fn token_server() -> FakeServer {
    let issued = Arc::new(AtomicUsize::new(0));
    FakeServer::start(move |_| token_endpoint(&issued, |_| 3599)).await
}

/// One server-sent event as Vertex AI writes it.
fn event(parts: Value, usage: Option<Value>) -> String {
    let mut event = json!({
        "candidates": [{ "content": { "role": "model", "parts": parts } }],
        "modelVersion": "gemini-2.5-pro", "responseId": "r-1",
    });
    if let Some(usage) = usage {
        event["usageMetadata"] = usage;
    }
    format!("data: {event}\r\n\r\n")
}

fn text_event(text: &str, usage: Option<Value>) -> String {
    event(json!([{ "text": text }]), usage)
}

fn invoke_stream(extra: Value) -> Value {
    let mut params = json!({ "messages": [{ "role": "user", "content": "Capital of France?" }] });
    for (key, value) in extra.as_object().unwrap() {
        params[key] = value.clone();
    }
    json!({ "subAction": "invokeStream", "subActionParams": params })
}

const STREAM_PROMPT: &str = r#"{"contents":[{"role":"user","parts":[{"text":"Capital of France?"}]}],"generation_config":{"temperature":0}"#;

/// Checks a `streamGenerateContent` call: URL with `alt=sse`, token and exact body.
#[track_caller]
fn assert_stream_call(request: &Recorded, path: &str, token: &str, body: &str) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref()
        ),
        ("POST", path, Some("alt=sse"))
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, body);
}

fn final_usage() -> Value {
    json!({ "prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5 })
}

#[tokio::test]
async fn a_streamed_answer_reaches_the_client_before_vertex_has_finished() {
    let google = token_server().await;
    let (vertex_side, receiver) = mpsc::channel(8);
    let vertex = streaming_vendor("", "text/event-stream", receiver).await;
    let app = app_for(&google).await;
    let id = app
        .create_typed(".gemini", config(&vertex.url), secrets(&credentials()))
        .await;
    // Vertex AI's running usage: only the last chunk's counts are the answer's.
    let first = text_event(
        "Par",
        Some(json!({ "promptTokenCount": 4, "totalTokenCount": 4 })),
    );
    vertex_side.send(Bytes::from(first.clone())).await.unwrap();

    let params = invoke_stream(json!({ "tools": [{ "functionDeclarations": [] }] }));
    let mut response = execute_streaming(&app, &id, params).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    // Vertex AI has sent one chunk and is still open: the client has it already.
    read_until(&mut response, &mut seen, &first).await;
    assert_eq!(seen, first);

    let last = text_event("is", Some(usage()));
    vertex_side.send(Bytes::from(last.clone())).await.unwrap();
    drop(vertex_side);
    read_until(&mut response, &mut seen, "event: result\n").await;
    seen.push_str(&response.text().await.unwrap());

    let (forwarded, result) = seen.split_once("event: result\ndata: ").unwrap();
    // Vertex AI ends its events with CRLFs; the server separates its own event with
    // a blank line of its own, which SSE readers skip.
    assert_eq!(forwarded, format!("{first}{last}\n\n"));
    assert!(result.ends_with("\n\n"), "{result:?}");
    assert_eq!(
        serde_json::from_str::<Value>(result.trim_end()).unwrap(),
        json!({ "status": "ok", "connector_id": id,
                "data": { "message": "Paris", "usage": final_usage() } })
    );
    let token_requests = google.requests();
    assert_eq!(token_requests.len(), 1);
    assert_token_request(&token_requests[0], &google.url(TOKEN_PATH));
    let requests = vertex.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    // `invokeStream` sends the tools, as `invokeAIRaw` does.
    assert_stream_call(
        &requests[0],
        STREAM,
        "ya29.token-1",
        &format!(r#"{STREAM_PROMPT},{SAFETY},"tools":[{{"functionDeclarations":[]}}]}}"#),
    );
}

#[tokio::test]
async fn without_accept_a_stream_is_collected_into_its_text_and_usage() {
    let google = token_server().await;
    let (vertex_side, receiver) = mpsc::channel(8);
    let vertex = streaming_vendor("", "text/event-stream", receiver).await;
    let app = app_for(&google).await;
    let id = app
        .create_typed(".gemini", config(&vertex.url), secrets(&credentials()))
        .await;
    // A thought is not part of the answer; a function call has no text.
    for piece in [
        event(
            json!([{ "text": "Thinking...", "thought": true }, { "text": "Hel" }]),
            None,
        ),
        event(
            json!([{ "functionCall": { "name": "f", "args": {} } }]),
            None,
        ),
        text_event("lo", Some(usage())),
    ] {
        vertex_side.send(Bytes::from(piece)).await.unwrap();
    }
    drop(vertex_side);

    let params = invoke_stream(json!({ "model": "gemini-2.5-flash", "timeout": 1000 }));
    assert_eq!(
        app.execute(&id, params).await,
        json!({ "status": "ok", "connector_id": id,
                "data": { "message": "Hello", "usage": final_usage() } })
    );
    let requests = vertex.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_stream_call(
        &requests[0],
        &STREAM.replace("gemini-2.5-pro", "gemini-2.5-flash"),
        "ya29.token-1",
        &format!("{STREAM_PROMPT},{SAFETY}}}"),
    );

    // An answer without usage counts says so.
    let (vertex_side, receiver) = mpsc::channel(8);
    let vertex = streaming_vendor("", "text/event-stream", receiver).await;
    let id = app
        .create_typed(".gemini", config(&vertex.url), secrets(&credentials()))
        .await;
    vertex_side
        .send(Bytes::from(text_event("Paris", None)))
        .await
        .unwrap();
    drop(vertex_side);
    assert_eq!(
        app.execute(&id, invoke_stream(json!({}))).await,
        json!({ "status": "ok", "connector_id": id,
                "data": { "message": "Paris", "usage": null } })
    );
}

#[tokio::test]
async fn a_vertex_failure_before_the_stream_is_an_ordinary_json_result() {
    let issued = Arc::new(AtomicUsize::new(0));
    let fake = FakeServer::start(move |request| match request.path.as_str() {
        TOKEN_PATH => token_endpoint(&issued, |_| 3599),
        _ if request.header("authorization") == Some("Bearer ya29.token-1") => {
            Reply::json(401, json!({ "message": "token revoked" }))
        }
        _ => Reply::json(
            429,
            json!({ "error": { "code": 429, "message": "Resource exhausted. Please try again later.",
                               "status": "RESOURCE_EXHAUSTED" } }),
        ),
    })
    .await;
    let app = app_for(&fake).await;
    let id = app
        .create_typed(".gemini", config(&fake.url("")), secrets(&credentials()))
        .await;

    let response = app
        .send(execute_streaming(&app, &id, invoke_stream(json!({}))))
        .await;
    assert_eq!(
        response.json(),
        thrown(
            &id,
            "Status code: 401. Message: Unauthorized API Error: token revoked"
        )
    );
    // The refused token is not used again.
    let response = app
        .send(execute_streaming(&app, &id, invoke_stream(json!({}))))
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
            "Status code: 429. Message: API Error: RESOURCE_EXHAUSTED: Resource exhausted. Please try again later."
        )
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    for (index, token) in [(0, "ya29.token-1"), (2, "ya29.token-2")] {
        assert_token_request(&requests[index], &fake.url(TOKEN_PATH));
        assert_stream_call(
            &requests[index + 1],
            STREAM,
            token,
            &format!("{STREAM_PROMPT},{SAFETY}}}"),
        );
    }
}

#[tokio::test]
async fn vertex_breaking_off_mid_stream_ends_it_with_an_error_result() {
    let google = token_server().await;
    let (vertex_side, receiver) = mpsc::channel(8);
    let vertex = streaming_vendor("", "text/event-stream", receiver).await;
    let app = app_for(&google).await;
    let id = app
        .create_typed(".gemini", config(&vertex.url), secrets(&credentials()))
        .await;
    let first = text_event("Par", None);
    vertex_side.send(Bytes::from(first.clone())).await.unwrap();

    let mut response = execute_streaming(&app, &id, invoke_stream(json!({})))
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    read_until(&mut response, &mut seen, &first).await;
    vertex_side.send(Bytes::new()).await.unwrap();
    read_until(&mut response, &mut seen, "event: result\n").await;
    seen.push_str(&response.text().await.unwrap());

    let (forwarded, result) = seen.split_once("event: result\ndata: ").unwrap();
    assert_eq!(forwarded, format!("{first}\n\n"));
    assert_eq!(
        serde_json::from_str::<Value>(result.trim_end()).unwrap(),
        thrown(
            &id,
            "Status code: undefined. Message: Unexpected API Error: ECONNRESET - socket hang up"
        )
    );
    assert_eq!(vertex.requests.lock().unwrap().len(), 1);
}
