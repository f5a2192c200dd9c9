//! `.webhook` runs against a loopback server that checks what arrives and answers
//! as a real endpoint would, errors included.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, app::assert_error, closed_port};

async fn webhook(app: &TestApp, config: Value, secrets: Value) -> String {
    app.create_connector(json!({
        "name": "hook",
        "connector_type_id": ".webhook",
        "config": config,
        "secrets": secrets,
    }))
    .await
}

#[tokio::test]
async fn posts_the_body_as_given_with_headers_and_basic_auth() {
    let hook = FakeServer::start(|_| Reply::json(200, json!({ "received": true }))).await;
    let app = TestApp::start().await;
    let id = webhook(
        &app,
        json!({
            "url": hook.url("/hooks/alert?source=switchboard"),
            "headers": { "Content-Type": "application/json", "X-Team": "sre" },
        }),
        json!({ "user": "elastic", "password": "changeme" }),
    )
    .await;

    let result = app
        .execute(&id, json!({ "body": "{\"text\":\"disk full ✓\"}" }))
        .await;

    assert_eq!(
        result,
        json!({ "status": "ok", "data": "{\"text\":\"disk full ✓\"}", "connector_id": id })
    );
    let request = hook.only_request();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/hooks/alert");
    assert_eq!(request.query.as_deref(), Some("source=switchboard"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-team"), Some("sre"));
    // elastic:changeme
    assert_eq!(
        request.header("authorization"),
        Some("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==")
    );
    assert_eq!(request.body, "{\"text\":\"disk full ✓\"}");
}

#[tokio::test]
async fn put_without_auth_sends_no_credentials_and_a_configured_authorization_wins() {
    let hook = FakeServer::start(|_| Reply::status(204, "")).await;
    let app = TestApp::start().await;
    let no_auth = webhook(
        &app,
        json!({ "url": hook.url("/a"), "method": "put", "hasAuth": false }),
        json!({}),
    )
    .await;
    let own_header = webhook(
        &app,
        json!({ "url": hook.url("/b"), "headers": { "Authorization": "Bearer abc" } }),
        json!({ "user": "elastic", "password": "changeme" }),
    )
    .await;

    assert_eq!(
        app.execute(&no_auth, json!({})).await,
        json!({ "status": "ok", "connector_id": no_auth })
    );
    app.execute(&own_header, json!({ "body": "x" })).await;

    let requests = hook.requests();
    assert_eq!(requests[0].method, Method::PUT);
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(requests[0].body, "");
    assert_eq!(requests[1].header("authorization"), Some("Bearer abc"));
}

#[tokio::test]
async fn client_errors_are_invalid_responses_and_are_not_retried() {
    let hook =
        FakeServer::start(|_| Reply::json(400, json!({ "message": "unknown channel" }))).await;
    let app = TestApp::start().await;
    let id = webhook(&app, json!({ "url": hook.url("/") }), json!({})).await;

    let result = app.execute(&id, json!({ "body": "x" })).await;

    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "error calling webhook, invalid response",
            "errorSource": "user",
            "connector_id": id,
            "service_message": "[400] Bad Request: unknown channel",
        })
    );
}

#[tokio::test]
async fn server_errors_say_retry_later() {
    let hook = FakeServer::start(|_| Reply::status(500, "<html>oops</html>")).await;
    let app = TestApp::start().await;
    let id = webhook(&app, json!({ "url": hook.url("/") }), json!({})).await;

    let result = app.execute(&id, json!({ "body": "x" })).await;

    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "error calling webhook, retry later",
            "errorSource": "user",
            "connector_id": id,
            "retry": true,
            "service_message": "[500] Internal Server Error",
        })
    );
}

#[tokio::test]
async fn rate_limits_say_when_to_retry() {
    let hook =
        FakeServer::start(|_| Reply::status(429, "slow down").with_header("retry-after", "120"))
            .await;
    let app = TestApp::start().await;
    let id = webhook(&app, json!({ "url": hook.url("/") }), json!({})).await;
    let before = SystemTime::now();

    let result = app.execute(&id, json!({ "body": "x" })).await;

    let retry = result["retry"].as_str().expect("retry is a time");
    let message = result["message"].as_str().unwrap();
    assert_eq!(message, format!("error calling webhook, retry at {retry}"));
    let retry_at = parse_iso(retry);
    let expected = before + Duration::from_secs(120);
    let drift = retry_at
        .duration_since(expected)
        .unwrap_or_else(|error| error.duration());
    assert!(drift < Duration::from_secs(5), "retry at {retry}");
    assert_eq!(result["service_message"], "[429] Too Many Requests");

    // Without a usable Retry-After, a 429 is like a 5xx.
    let vague = FakeServer::start(|_| {
        Reply::status(429, "").with_header("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")
    })
    .await;
    let id = webhook(&app, json!({ "url": vague.url("/") }), json!({})).await;
    let result = app.execute(&id, json!({ "body": "x" })).await;
    assert_eq!(result["retry"], true);
    assert_eq!(result["message"], "error calling webhook, retry later");
}

fn parse_iso(text: &str) -> SystemTime {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|error| panic!("{text} is not ISO 8601: {error}"));
    SystemTime::from(parsed)
}

#[tokio::test]
async fn a_slow_endpoint_ends_in_a_timeout_result() {
    let hook = FakeServer::start(|_| Reply::Hang).await;
    let app =
        TestApp::with_settings(json!({ "xpack": { "actions": { "responseTimeout": "300ms" } } }))
            .await;
    let id = webhook(&app, json!({ "url": hook.url("/") }), json!({})).await;

    let result = app.execute(&id, json!({ "body": "x" })).await;

    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "error calling webhook, request failed",
            "errorSource": "user",
            "connector_id": id,
            "service_message": "[ECONNABORTED] timeout of 300ms exceeded",
        })
    );
}

#[tokio::test]
async fn a_refused_connection_is_reported_like_node_does() {
    let closed = closed_port();
    let port = closed.port;
    let app = TestApp::start().await;
    let id = webhook(
        &app,
        json!({ "url": format!("http://127.0.0.1:{port}/") }),
        json!({}),
    )
    .await;

    let result = app.execute(&id, json!({ "body": "x" })).await;

    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "error calling webhook, request failed",
            "errorSource": "user",
            "connector_id": id,
            "service_message": format!("[ECONNREFUSED] connect ECONNREFUSED 127.0.0.1:{port}"),
        })
    );
}

#[tokio::test]
async fn invalid_params_are_an_error_result_and_nothing_is_sent() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let app = TestApp::start().await;
    let id = webhook(&app, json!({ "url": hook.url("/") }), json!({})).await;

    let result = app.execute(&id, json!({ "body": 5 })).await;

    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "error validating action params: [body]: expected value of type [string] but got [number]",
            "errorSource": "user",
            "connector_id": id,
            "retry": false,
        })
    );
    let unknown = app.execute(&id, json!({ "text": "x" })).await;
    assert_eq!(
        unknown["message"],
        "error validating action params: [text]: definition for this key is missing"
    );
    assert!(hook.requests().is_empty());
}

#[tokio::test]
async fn execute_needs_params() {
    let app = TestApp::start().await;
    let id = webhook(&app, json!({ "url": "http://127.0.0.1:9/" }), json!({})).await;
    let path = format!("/api/actions/connector/{id}/_execute");

    assert_error(
        &app.post(&path, json!({})).await,
        400,
        "[request body.params]: expected value of type [object] but got [undefined]",
    );
    assert_error(
        &app.post(&path, json!({ "params": {}, "extra": 1 })).await,
        400,
        "[request body.extra]: definition for this key is missing",
    );
}

#[tokio::test]
async fn the_server_stays_responsive_while_a_webhook_hangs() {
    let slow = FakeServer::start(|_| Reply::Hang).await;
    let app =
        TestApp::with_settings(json!({ "xpack": { "actions": { "responseTimeout": "5s" } } }))
            .await;
    let id = webhook(&app, json!({ "url": slow.url("/") }), json!({})).await;

    let hanging = app.execute(&id, json!({ "body": "x" }));
    let other = async {
        // Once the vendor holds the execute, the server must still answer others.
        slow.wait_for_requests(1).await;
        let response = app.get("/api/actions/connectors").await;
        assert_eq!(response.status, 200);
        "listed"
    };
    let first = tokio::select! {
        result = hanging => panic!("execute finished first: {result}"),
        outcome = other => outcome,
    };
    assert_eq!(first, "listed");
}

#[tokio::test]
async fn a_run_after_an_update_uses_the_updated_config_and_secrets() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let app = TestApp::start().await;
    let body = |header: &str, user: &str| {
        json!({
            "name": "hook", "connector_type_id": ".webhook",
            "config": { "url": hook.url("/hook"), "headers": { "x-version": header } },
            "secrets": { "user": user, "password": "pw" },
        })
    };
    let id = app.create_connector(body("one", "first")).await;
    // Runs once, so the checked connector is remembered...
    assert_eq!(
        app.execute(&id, json!({ "body": "{}" })).await["status"],
        "ok"
    );
    // ...and an update must replace what was remembered.
    let mut update = body("two", "second");
    update.as_object_mut().unwrap().remove("connector_type_id");
    let updated = app
        .put(&format!("/api/actions/connector/{id}"), update)
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(
        app.execute(&id, json!({ "body": "{}" })).await["status"],
        "ok"
    );

    let requests = hook.requests();
    assert_eq!(requests[0].header("x-version"), Some("one"));
    assert_eq!(requests[1].header("x-version"), Some("two"));
    // second:pw
    assert_eq!(
        requests[1].header("authorization"),
        Some("Basic c2Vjb25kOnB3")
    );
}
