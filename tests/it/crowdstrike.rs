//! `.crowdstrike` against a loopback fake of CrowdStrike Falcon's API: the OAuth2
//! token exchange and its reuse, every sub-action's request and result, failures and
//! validation.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use serde_json::{Value, json};

use crate::support::{
    FakeServer, Reply, TestApp,
    app::assert_error,
    fake::{Recorded, closed_port},
};

/// `Basic base64("client-1:secret-1")`.
const BASIC: &str = "Basic Y2xpZW50LTE6c2VjcmV0LTE=";

fn meta() -> Value {
    json!({ "query_time": 0.01, "powered_by": "device-api", "trace_id": "trace-1" })
}

/// The fake: tokens numbered in order of issue, and one answer per endpoint.
fn falcon() -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let issued = Arc::new(AtomicUsize::new(0));
    move |request: &Recorded| match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/oauth2/token") => {
            let number = issued.fetch_add(1, Ordering::SeqCst) + 1;
            Reply::json(
                201,
                json!({ "access_token": format!("token-{number}"), "expires_in": 1799, "token_type": "bearer" }),
            )
        }
        ("POST", "/devices/entities/devices-actions/v2") => Reply::json(
            202,
            json!({ "meta": meta(), "resources": [{ "id": "device-1", "path": "/devices" }], "errors": [] }),
        ),
        ("GET", "/devices/entities/devices/v2") => Reply::json(
            200,
            json!({ "meta": meta(), "resources": [{ "device_id": "device-1", "hostname": "host-a" }], "errors": [] }),
        ),
        ("GET", "/devices/entities/online-state/v1") => Reply::json(
            200,
            json!({ "meta": meta(), "resources": [{ "id": "device-1", "state": "online" }], "errors": [] }),
        ),
        ("POST", "/real-time-response/combined/batch-init-session/v1") => Reply::json(
            201,
            json!({ "meta": meta(), "batch_id": "batch-1", "resources": {}, "errors": [] }),
        ),
        ("POST", path) if path.starts_with("/real-time-response/combined/batch-") => Reply::json(
            201,
            json!({ "combined": { "resources": { "device-1": { "stdout": "done", "complete": true } } },
                    "meta": meta(), "errors": [] }),
        ),
        ("GET", "/real-time-response/entities/scripts/v1") => Reply::json(
            200,
            json!({ "meta": meta(), "resources": [{ "id": "script-1", "name": "collect" }] }),
        ),
        _ => Reply::json(
            404,
            json!({ "errors": [{ "code": 404, "message": "Not Found" }], "meta": meta() }),
        ),
    }
}

fn sub_action(name: &str, params: Value) -> Value {
    json!({ "subAction": name, "subActionParams": params })
}

async fn connector(app: &TestApp, url: &str) -> String {
    app.create_typed(
        ".crowdstrike",
        json!({ "url": url }),
        json!({ "clientId": "client-1", "clientSecret": "secret-1" }),
    )
    .await
}

fn ok(id: &str, data: Value) -> Value {
    json!({ "status": "ok", "connector_id": id, "data": data })
}

fn thrown(id: &str, service_message: &str) -> Value {
    json!({
        "status": "error", "message": "an error occurred while running the action",
        "errorSource": "framework", "connector_id": id, "retry": true,
        "service_message": service_message,
    })
}

/// The token exchange: credentials in the Basic header only, an empty form body.
#[track_caller]
fn assert_token_request(request: &Recorded) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref()
        ),
        ("POST", "/oauth2/token", None)
    );
    assert_eq!(request.header("authorization"), Some(BASIC));
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.body, "");
}

#[track_caller]
fn assert_api_request(
    request: &Recorded,
    token: &str,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &str,
) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref()
        ),
        (method, path, query)
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, body);
}

#[tokio::test]
async fn hosts_are_contained_with_one_token_for_two_runs() {
    let fake = FakeServer::start(falcon()).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;
    let contained = app
        .execute(
            &id,
            sub_action(
                "hostActions",
                json!({ "command": "contain", "ids": ["device-1", "device-2"],
                        "alertIds": ["al-1"], "comment": "isolating" }),
            ),
        )
        .await;
    let answer = json!({ "meta": meta(), "resources": [{ "id": "device-1", "path": "/devices" }], "errors": [] });
    assert_eq!(contained, ok(&id, answer.clone()));
    let lifted = app
        .execute(
            &id,
            sub_action(
                "hostActions",
                json!({ "command": "lift_containment", "ids": ["device-1"],
                        "actionParameters": { "note": "ok", "level": 2 } }),
            ),
        )
        .await;
    assert_eq!(lifted, ok(&id, answer));

    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert_token_request(&requests[0]);
    assert_api_request(
        &requests[1],
        "token-1",
        "POST",
        "/devices/entities/devices-actions/v2",
        Some("action_name=contain"),
        r#"{"ids":["device-1","device-2"]}"#,
    );
    assert_api_request(
        &requests[2],
        "token-1",
        "POST",
        "/devices/entities/devices-actions/v2",
        Some("action_name=lift_containment"),
        r#"{"ids":["device-1"],"action_parameters":[{"name":"note","value":"ok"},{"name":"level","value":2}]}"#,
    );
}

#[tokio::test]
async fn agents_are_described_and_their_state_read() {
    let fake = FakeServer::start(falcon()).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("/")).await;
    let details = app
        .execute(
            &id,
            sub_action(
                "getAgentDetails",
                json!({ "ids": ["device-1", "device 2"] }),
            ),
        )
        .await;
    assert_eq!(
        details,
        ok(
            &id,
            json!({ "meta": meta(), "resources": [{ "device_id": "device-1", "hostname": "host-a" }], "errors": [] })
        )
    );
    let online = app
        .execute(
            &id,
            sub_action("getAgentOnlineStatus", json!({ "ids": ["device-1"] })),
        )
        .await;
    assert_eq!(
        online,
        ok(
            &id,
            json!({ "meta": meta(), "resources": [{ "id": "device-1", "state": "online" }], "errors": [] })
        )
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert_token_request(&requests[0]);
    assert_api_request(
        &requests[1],
        "token-1",
        "GET",
        "/devices/entities/devices/v2",
        Some("ids=device-1%2Cdevice%202"),
        "",
    );
    assert_api_request(
        &requests[2],
        "token-1",
        "GET",
        "/devices/entities/online-state/v1",
        Some("ids=device-1"),
        "",
    );
}

#[tokio::test]
async fn real_time_response_opens_a_session_then_runs_the_script() {
    let fake = FakeServer::start(falcon()).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;
    let answer = json!({ "combined": { "resources": { "device-1": { "stdout": "done", "complete": true } } },
                         "meta": meta(), "errors": [] });
    for name in [
        "executeRTRCommand",
        "batchActiveResponderExecuteRTR",
        "batchAdminExecuteRTR",
    ] {
        let result = app
            .execute(
                &id,
                sub_action(
                    name,
                    json!({ "command": "runscript -CloudFile=collect", "endpoint_ids": ["device-1"] }),
                ),
            )
            .await;
        assert_eq!(result, ok(&id, answer.clone()), "{name}");
    }
    let scripts = app
        .execute(&id, sub_action("getRTRCloudScripts", json!({})))
        .await;
    assert_eq!(
        scripts,
        ok(
            &id,
            json!({ "meta": meta(), "resources": [{ "id": "script-1", "name": "collect" }] })
        )
    );
    let refused = app
        .execute(
            &id,
            sub_action(
                "executeRTRCommand",
                json!({ "command": "rm -rf /", "endpoint_ids": ["device-1"] }),
            ),
        )
        .await;
    assert_eq!(refused, thrown(&id, "Command not supported"));

    let requests = fake.requests();
    assert_eq!(requests.len(), 9);
    assert_token_request(&requests[0]);
    let init = |request: &Recorded| {
        assert_api_request(
            request,
            "token-1",
            "POST",
            "/real-time-response/combined/batch-init-session/v1",
            None,
            r#"{"host_ids":["device-1"]}"#,
        );
    };
    let command = r#"{"base_command":"runscript","command_string":"runscript -CloudFile=collect","batch_id":"batch-1","hosts":["device-1"],"persist_all":false}"#;
    for (index, path) in [
        (1, "batch-command/v1"),
        (3, "batch-active-responder-command/v1"),
        (5, "batch-admin-command/v1"),
    ] {
        init(&requests[index]);
        assert_api_request(
            &requests[index + 1],
            "token-1",
            "POST",
            &format!("/real-time-response/combined/{path}"),
            None,
            command,
        );
    }
    assert_api_request(
        &requests[7],
        "token-1",
        "GET",
        "/real-time-response/entities/scripts/v1",
        None,
        "",
    );
    // As in Kibana, the session is opened before the command is checked; nothing is
    // run after it.
    init(&requests[8]);
}

#[tokio::test]
async fn a_rejected_token_is_replaced_once() {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let fake = FakeServer::start(move |request| {
        if request.path == "/oauth2/token" {
            let number = counter.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::json(201, json!({ "access_token": format!("token-{number}"), "expires_in": 1799 }));
        }
        // The first token has been revoked; the second works.
        match request.header("authorization") {
            Some("Bearer token-2") => Reply::json(200, json!({ "resources": [] })),
            _ => Reply::json(401, json!({ "errors": [{ "code": 401, "message": "access denied, authorization failed" }] })),
        }
    })
    .await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;
    let first = app
        .execute(&id, sub_action("getAgentDetails", json!({ "ids": ["d"] })))
        .await;
    assert_eq!(first, ok(&id, json!({ "resources": [] })));
    let second = app
        .execute(&id, sub_action("getAgentDetails", json!({ "ids": ["d"] })))
        .await;
    assert_eq!(second, ok(&id, json!({ "resources": [] })));
    let requests = fake.requests();
    assert_eq!(requests.len(), 5);
    assert_token_request(&requests[0]);
    // token-1 is refused: the first run drops it and asks for another.
    assert_eq!(requests[1].header("authorization"), Some("Bearer token-1"));
    assert_token_request(&requests[2]);
    assert_eq!(requests[3].header("authorization"), Some("Bearer token-2"));
    // The renewed token is kept for the next run.
    assert_eq!(requests[4].header("authorization"), Some("Bearer token-2"));
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_token_refused_twice_fails_the_run() {
    let fake = FakeServer::start(|request| {
        if request.path == "/oauth2/token" {
            return Reply::json(201, json!({ "access_token": "revoked", "expires_in": 1799 }));
        }
        Reply::json(401, json!({ "errors": [{ "code": 401, "message": "access denied, authorization failed" }] }))
    })
    .await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;
    let result = app
        .execute(&id, sub_action("getAgentDetails", json!({ "ids": ["d"] })))
        .await;
    assert_eq!(
        result,
        thrown(
            &id,
            "Status code: 401. Message: access denied, authorization failed"
        )
    );
    let paths: Vec<String> = fake.requests().into_iter().map(|it| it.path).collect();
    assert_eq!(
        paths,
        [
            "/oauth2/token",
            "/devices/entities/devices/v2",
            "/oauth2/token",
            "/devices/entities/devices/v2"
        ]
    );
}

#[tokio::test]
async fn an_updated_connector_gets_a_new_token() {
    let fake = FakeServer::start(falcon()).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;
    let other = connector(&app, &fake.url("")).await;
    let run = |id: String| {
        let app = &app;
        async move {
            let result = app
                .execute(&id, sub_action("getAgentDetails", json!({ "ids": ["d"] })))
                .await;
            assert_eq!(result["status"], "ok");
        }
    };
    run(id.clone()).await;
    // Tokens are per connector.
    run(other.clone()).await;
    let updated = app
        .put(
            &format!("/api/actions/connector/{id}"),
            json!({ "name": "renamed", "config": { "url": fake.url("") },
                    "secrets": { "clientId": "client-1", "clientSecret": "secret-2" } }),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    run(id.clone()).await;
    run(other).await;
    let requests = fake.requests();
    let tokens: Vec<Option<&str>> = requests
        .iter()
        .filter(|it| it.path != "/oauth2/token")
        .map(|it| it.header("authorization"))
        .collect();
    assert_eq!(
        tokens,
        [
            Some("Bearer token-1"),
            Some("Bearer token-2"),
            Some("Bearer token-3"),
            Some("Bearer token-2")
        ]
    );
    let exchange = requests
        .iter()
        .filter(|it| it.path == "/oauth2/token")
        .map(|it| it.header("authorization").unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(exchange, [BASIC, BASIC, "Basic Y2xpZW50LTE6c2VjcmV0LTI="]);
}

#[tokio::test]
async fn failures_read_like_kibanas() {
    let fake = FakeServer::start(|request| match request.path.as_str() {
        "/badtoken/oauth2/token" => Reply::json(
            401,
            json!({ "errors": [{ "code": 401, "message": "access denied, invalid client" }] }),
        ),
        path if path.ends_with("/oauth2/token") => {
            Reply::json(201, json!({ "access_token": "t", "expires_in": 1799 }))
        }
        "/bad/devices/entities/devices/v2" => Reply::json(
            400,
            json!({ "errors": [{ "code": 400, "message": "invalid device id [x]" }], "resources": [] }),
        ),
        "/busy/devices/entities/devices/v2" => Reply::json(
            429,
            json!({ "errors": [{ "code": 429, "message": "API rate limit exceeded." }] }),
        )
        .with_header("retry-after", "30"),
        "/down/devices/entities/devices/v2" => Reply::status(503, "unavailable"),
        _ => Reply::json(500, json!({ "errors": [], "meta": {} })),
    })
    .await;
    let app = TestApp::start().await;
    let run = |url: String| {
        let app = &app;
        async move {
            let id = connector(app, &url).await;
            let result = app
                .execute(&id, sub_action("getAgentDetails", json!({ "ids": ["x"] })))
                .await;
            (id, result)
        }
    };
    let cases = [
        (
            "/badtoken",
            "Status code: 401. Message: access denied, invalid client",
        ),
        ("/bad", "Status code: 400. Message: invalid device id [x]"),
        // As in Kibana, sub-action connectors do not read `Retry-After`.
        (
            "/busy",
            "Status code: 429. Message: API rate limit exceeded.",
        ),
        (
            "/down",
            "Status code: 503. Message: API Error: \"unavailable\"",
        ),
        (
            "/other",
            "Status code: 500. Message: API Error: {\"errors\":[],\"meta\":{}}",
        ),
    ];
    for (path, message) in cases {
        let (id, result) = run(fake.url(path)).await;
        assert_eq!(result, thrown(&id, message), "{path}");
    }
    let closed = closed_port();
    let (id, refused) = run(format!("http://127.0.0.1:{}", closed.port)).await;
    assert_eq!(
        refused,
        thrown(
            &id,
            &format!(
                "Status code: undefined. Message: Connection Refused: 127.0.0.1:{}",
                closed.port
            )
        )
    );
}

#[tokio::test]
async fn params_config_and_hosts_are_checked() {
    let fake = FakeServer::start(falcon()).await;
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1"] } } }),
    )
    .await;
    let response = app
        .post(
            "/api/actions/connector",
            json!({ "name": "cs", "connector_type_id": ".crowdstrike",
                    "config": { "url": "https://api.crowdstrike.com" },
                    "secrets": { "clientId": "c", "clientSecret": "s" } }),
        )
        .await;
    assert_error(
        &response,
        400,
        "error validating action type config: error validating url: target url \"https://api.crowdstrike.com\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
    let response = app
        .post(
            "/api/actions/connector",
            json!({ "name": "cs", "connector_type_id": ".crowdstrike",
                    "config": { "url": fake.url("") }, "secrets": { "clientId": "c" } }),
        )
        .await;
    assert_error(
        &response,
        400,
        "error validating action type secrets: [clientSecret]: expected value of type [string] but got [undefined]",
    );

    let id = connector(&app, &fake.url("")).await;
    let invalid = |message: &str| {
        json!({
            "status": "error", "message": "an error occurred while running the action",
            "errorSource": "user", "connector_id": id, "retry": true,
            "service_message": format!("Request validation failed (Error: {message})"),
        })
    };
    let cases = [
        (
            "hostActions",
            json!({ "command": "kill", "ids": ["d"] }),
            "[command]: types that failed validation:\n- [command.0]: expected value to equal [contain]\n- [command.1]: expected value to equal [lift_containment]",
        ),
        (
            "hostActions",
            json!({ "command": "contain", "ids": ["d"], "extra": 1 }),
            "[extra]: definition for this key is missing",
        ),
        (
            "getAgentDetails",
            json!({}),
            "[ids]: expected value of type [array] but got [undefined]",
        ),
        (
            "getAgentOnlineStatus",
            json!({ "ids": [1] }),
            "[ids.0]: expected value of type [string] but got [number]",
        ),
        (
            "executeRTRCommand",
            json!({ "endpoint_ids": ["d"] }),
            "[command]: expected value of type [string] but got [undefined]",
        ),
        (
            "batchAdminExecuteRTR",
            json!({ "command": "runscript" }),
            "[endpoint_ids]: expected value of type [array] but got [undefined]",
        ),
    ];
    for (name, params, message) in cases {
        assert_eq!(
            app.execute(&id, sub_action(name, params)).await,
            invalid(message),
            "{name}"
        );
    }
    assert_eq!(
        app.execute(&id, sub_action("nope", json!({}))).await,
        thrown(
            &id,
            &format!(
                "Sub action \"nope\" is not registered. Connector id: {id}. Connector name: CrowdStrike. Connector type: .crowdstrike"
            )
        )
    );
    assert!(fake.requests().is_empty());
}
