//! `.pagerduty`, `.opsgenie` and `.xmatters` against loopback fakes of their APIs.

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, app::assert_error};

fn body(request: &crate::support::fake::Recorded) -> Value {
    serde_json::from_str(&request.body).unwrap()
}

#[tokio::test]
async fn pagerduty_sends_the_documented_event_with_the_routing_key_in_a_header() {
    let pagerduty = FakeServer::start(|request| {
        if request.body.contains("\"overloaded\"") {
            Reply::json(429, json!({ "status": "throttle" }))
        } else if request.body.contains("\"broken\"") {
            Reply::json(400, json!({ "status": "invalid event" }))
        } else {
            Reply::json(
                202,
                json!({ "status": "success", "message": "Event processed", "dedup_key": "5b1c" }),
            )
        }
    })
    .await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(
            ".pagerduty",
            json!({ "apiUrl": pagerduty.url("/v2/enqueue") }),
            json!({ "routingKey": "a-32-character-integration-key-1" }),
        )
        .await;

    // The documented example, verbatim.
    let result = app
        .execute(
            &id,
            json!({
                "links": [{ "href": "http://example.com/pagerduty", "text": "An example link" }],
                "summary": "A brief event summary",
                "eventAction": "trigger",
                "customDetails": { "my_data_1": "test data" },
            }),
        )
        .await;
    assert_eq!(
        result,
        json!({
            "status": "ok",
            "data": { "status": "success", "message": "Event processed", "dedup_key": "5b1c" },
            "connector_id": id,
        })
    );
    let request = pagerduty.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v2/enqueue")
    );
    assert_eq!(
        request.header("x-routing-key"),
        Some("a-32-character-integration-key-1")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        body(&request),
        json!({
            "event_action": "trigger",
            "payload": {
                "summary": "A brief event summary", "source": format!("Kibana Action {id}"),
                "severity": "info", "custom_details": { "my_data_1": "test data" },
            },
            "links": [{ "href": "http://example.com/pagerduty", "text": "An example link" }],
        })
    );

    let resolved = app
        .execute(
            &id,
            json!({ "eventAction": "resolve", "dedupKey": "5b1c", "summary": "ignored" }),
        )
        .await;
    assert_eq!(resolved["status"], "ok");
    assert_eq!(
        body(&pagerduty.requests()[1]),
        json!({ "event_action": "resolve", "dedup_key": "5b1c" })
    );
    let timed = app
        .execute(
            &id,
            json!({ "summary": "s", "severity": "critical", "timestamp": "2024-05-01T12:30:00+02:00",
                    "component": "db", "group": "prod", "class": "disk", "source": "host-1" }),
        )
        .await;
    assert_eq!(timed["status"], "ok");
    assert_eq!(
        body(&pagerduty.requests()[2])["payload"],
        json!({ "summary": "s", "source": "host-1", "severity": "critical",
                "timestamp": "2024-05-01T10:30:00.000Z", "component": "db", "group": "prod",
                "class": "disk" })
    );

    let throttled = app.execute(&id, json!({ "summary": "overloaded" })).await;
    assert_eq!(
        throttled,
        json!({
            "status": "error", "message": "error posting pagerduty event: http status 429, retry later",
            "errorSource": "user", "connector_id": id, "retry": true,
        })
    );
    let refused = app.execute(&id, json!({ "summary": "broken" })).await;
    assert_eq!(
        refused["message"],
        "error posting pagerduty event: unexpected status 400"
    );
}

#[tokio::test]
async fn pagerduty_params_and_config_are_checked_like_kibana() {
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1"] } } }),
    )
    .await;
    assert_error(
        &app.post(
            "/api/actions/connector",
            json!({ "name": "pd", "connector_type_id": ".pagerduty", "secrets": { "routingKey": "k" } }),
        )
        .await,
        400,
        "error validating action type config: error configuring pagerduty action: target url \"https://events.pagerduty.com/v2/enqueue\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
    let created = app
        .post(
            "/api/actions/connector",
            json!({ "name": "pd", "connector_type_id": ".pagerduty",
                    "config": { "apiUrl": "http://127.0.0.1:9/" }, "secrets": { "routingKey": "k" } }),
        )
        .await;
    assert_eq!(
        created.json()["config"],
        json!({ "apiUrl": "http://127.0.0.1:9/" })
    );
    let id = created.json()["id"].as_str().unwrap().to_owned();
    for (params, message) in [
        (
            json!({ "eventAction": "acknowledge" }),
            "DedupKey is required when eventAction is \"acknowledge\"",
        ),
        (
            json!({ "timestamp": "yesterday" }),
            "error parsing timestamp \"yesterday\"",
        ),
        (
            json!({ "images": [] }),
            "[images]: definition for this key is missing",
        ),
        (
            json!({ "severity": "fatal" }),
            "[severity]: types that failed validation:\n- [severity.0]: expected value to equal [critical]\n- [severity.1]: expected value to equal [error]\n- [severity.2]: expected value to equal [warning]\n- [severity.3]: expected value to equal [info]",
        ),
    ] {
        let result = app.execute(&id, params).await;
        assert_eq!(
            result["message"],
            format!("error validating action params: {message}")
        );
    }
}

#[tokio::test]
async fn opsgenie_creates_and_closes_alerts() {
    let opsgenie = FakeServer::start(|request| {
        if request.body.contains("not processable") {
            Reply::json(
                422,
                json!({ "message": "Request body is not processable", "took": 0.001, "requestId": "r-1",
                        "errors": { "message": "Message can not be empty." } }),
            )
        } else if request.body.contains("odd answer") {
            Reply::json(200, json!({}))
        } else {
            Reply::json(
                202,
                json!({ "result": "Request will be processed", "took": 0.107,
                        "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120" }),
            )
        }
    })
    .await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(
            ".opsgenie",
            json!({ "apiUrl": opsgenie.url("") }),
            json!({ "apiKey": "genie-key" }),
        )
        .await;

    let created = app
        .execute(
            &id,
            json!({ "subAction": "createAlert", "subActionParams": {
                "message": "disk full", "alias": "rule-1:alert-1", "priority": "P2",
                "tags": ["prod"], "responders": [{ "name": "ops", "type": "team" }],
                "details": { "host": "db-1" },
            } }),
        )
        .await;
    assert_eq!(
        created,
        json!({
            "status": "ok",
            "data": { "result": "Request will be processed", "took": 0.107,
                      "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120" },
            "connector_id": id,
        })
    );
    let request = &opsgenie.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v2/alerts")
    );
    assert_eq!(request.header("authorization"), Some("GenieKey genie-key"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        body(request),
        json!({ "message": "disk full", "alias": "rule-1:alert-1", "priority": "P2",
                "tags": ["prod"], "responders": [{ "name": "ops", "type": "team" }],
                "details": { "host": "db-1" } })
    );

    let closed = app
        .execute(
            &id,
            json!({ "subAction": "closeAlert", "subActionParams": { "alias": "rule-1:alert-1", "note": "fixed" } }),
        )
        .await;
    assert_eq!(closed["status"], "ok");
    let request = &opsgenie.requests()[1];
    assert_eq!(request.path, "/v2/alerts/rule-1:alert-1/close");
    assert_eq!(request.query.as_deref(), Some("identifierType=alias"));
    assert_eq!(body(request), json!({ "note": "fixed" }));

    let long_alias = "a".repeat(600);
    app.execute(
        &id,
        json!({ "subAction": "closeAlert", "subActionParams": { "alias": long_alias } }),
    )
    .await;
    let request = &opsgenie.requests()[2];
    assert!(
        request.path.starts_with("/v2/alerts/sha-")
            && request.path.len() == "/v2/alerts/sha-/close".len() + 64,
        "{}",
        request.path
    );
    assert_eq!(body(request), json!({}));
}

#[tokio::test]
async fn opsgenie_failures_are_thrown_errors_as_in_kibana() {
    let opsgenie = FakeServer::start(|request| {
        if request.body.contains("not processable") {
            Reply::json(
                422,
                json!({ "message": "Request body is not processable", "took": 0.001, "requestId": "r-1",
                        "errors": { "message": "Message can not be empty." } }),
            )
        } else {
            Reply::json(200, json!({ "unexpected": true }))
        }
    })
    .await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(
            ".opsgenie",
            json!({ "apiUrl": opsgenie.url("/") }),
            json!({ "apiKey": "genie-key" }),
        )
        .await;
    let run = |sub_action: &str, params: Value| {
        let (app, id) = (&app, id.clone());
        let params = json!({ "subAction": sub_action, "subActionParams": params });
        async move { app.execute(&id, params).await }
    };

    assert_eq!(
        run("createAlert", json!({ "message": "not processable" })).await,
        json!({
            "status": "error", "message": "an error occurred while running the action",
            "errorSource": "framework", "connector_id": id, "retry": true,
            "service_message": "Status code: 422. Message: Request body is not processable: {\"message\":\"Message can not be empty.\"}",
        })
    );
    assert_eq!(
        run("createAlert", json!({ "message": "fine" })).await["service_message"],
        "Response validation failed (Error: [took]: expected value of type [number] but got [undefined])"
    );
    let invalid = run("createAlert", json!({ "message": "   " })).await;
    assert_eq!(
        (&invalid["service_message"], &invalid["errorSource"]),
        (
            &json!(
                "Request validation failed (Error: [message]: must be populated with a value other than just whitespace)"
            ),
            &json!("user")
        )
    );
    assert_eq!(
        run("deleteAlert", json!({})).await["service_message"],
        format!(
            "Sub action \"deleteAlert\" is not registered. Connector id: {id}. Connector name: Opsgenie. Connector type: .opsgenie"
        )
    );
    // Without `subActionParams` the sub-action sees `{}`.
    let envelope = app
        .execute(&id, json!({ "subAction": "createAlert" }))
        .await;
    assert_eq!(
        envelope["service_message"],
        "Request validation failed (Error: [message]: expected value of type [string] but got [undefined])"
    );
    assert_eq!(opsgenie.requests().len(), 2);
}

#[tokio::test]
async fn xmatters_triggers_a_flow_with_basic_auth_or_a_url_key() {
    let xmatters = FakeServer::start(|request| match request.path.as_str() {
        "/down" => Reply::status(503, ""),
        "/wrong" => Reply::status(400, ""),
        _ => Reply::status(202, ""),
    })
    .await;
    let app = TestApp::start().await;
    let basic = app
        .create_typed(
            ".xmatters",
            json!({ "configUrl": xmatters.url("/flow") }),
            json!({ "user": "robot", "password": "xm-secret" }),
        )
        .await;
    let result = app
        .execute(
            &basic,
            json!({ "severity": "Critical", "signalId": "s-1", "ruleName": "disk", "tags": "prod,db" }),
        )
        .await;
    let sent =
        json!({ "signalId": "s-1", "ruleName": "disk", "severity": "Critical", "tags": "prod,db" });
    assert_eq!(
        result,
        json!({ "status": "ok", "data": sent, "connector_id": basic })
    );
    let request = &xmatters.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/flow")
    );
    // robot:xm-secret
    assert_eq!(
        request.header("authorization"),
        Some("Basic cm9ib3Q6eG0tc2VjcmV0")
    );
    assert_eq!(body(request), sent);

    // The documented example, with its URL pointing at the fake.
    let created = app
        .post(
            "/api/actions/connector",
            json!({ "name": "my-xmatters-connector", "config": { "usesBasic": false },
                    "secrets": { "secretsUrl": xmatters.url("/flow?apiKey=xxxxx") },
                    "connector_type_id": ".xmatters" }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(
        created.json()["config"],
        json!({ "configUrl": null, "usesBasic": false })
    );
    let by_url = created.json()["id"].as_str().unwrap().to_owned();
    let result = app.execute(&by_url, json!({ "severity": "" })).await;
    assert_eq!(result["data"], json!({ "severity": "High" }));
    let request = &xmatters.requests()[1];
    assert_eq!(request.query.as_deref(), Some("apiKey=xxxxx"));
    assert_eq!(request.header("authorization"), None);

    for (path, message, retry) in [
        (
            "/down",
            "Error triggering xMatters flow: http status 503, retry later",
            json!(true),
        ),
        (
            "/wrong",
            "Error triggering xMatters flow: unexpected status 400",
            Value::Null,
        ),
    ] {
        let id = app
            .create_typed(
                ".xmatters",
                json!({ "configUrl": xmatters.url(path) }),
                json!({ "user": "robot", "password": "xm-secret" }),
            )
            .await;
        let result = app.execute(&id, json!({ "severity": "High" })).await;
        assert_eq!(result["message"], message);
        assert_eq!(result["retry"], retry);
    }
}

#[tokio::test]
async fn xmatters_settings_are_checked_in_kibanas_order_and_never_echo_the_url_key() {
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1"] } } }),
    )
    .await;
    let create = |config: Value, secrets: Value| json!({ "name": "xm", "connector_type_id": ".xmatters", "config": config, "secrets": secrets });
    for (config, secrets, message) in [
        (
            json!({ "configUrl": "http://127.0.0.1/flow" }),
            json!({}),
            "error validating action type secrets: Provide either secretsUrl link or user/password to authenticate",
        ),
        (
            json!({ "configUrl": "http://127.0.0.1/flow" }),
            json!({ "user": "u" }),
            "error validating action type secrets: Both user and password must be specified.",
        ),
        (
            json!({ "usesBasic": false }),
            json!({ "secretsUrl": "https://evil.example/flow?apiKey=the-secret-key" }),
            "error validating action type secrets: target url \"https://evil.example/...\" is not added to the Kibana config xpack.actions.allowedHosts",
        ),
        (
            json!({ "configUrl": "http://127.0.0.1/flow" }),
            json!({ "secretsUrl": "http://127.0.0.1/flow?apiKey=k" }),
            "error validating action type connector: secretsUrl should not be provided when usesBasic is true",
        ),
        (
            json!({}),
            json!({ "user": "u", "password": "p" }),
            "error validating action type connector: Provide valid configUrl",
        ),
        (
            json!({ "usesBasic": false, "configUrl": "http://127.0.0.1/flow" }),
            json!({ "secretsUrl": "http://127.0.0.1/flow?apiKey=k" }),
            "error validating action type connector: configUrl should not be provided when usesBasic is false",
        ),
        (
            json!({ "configUrl": "http://evil.example/flow" }),
            json!({ "user": "u", "password": "p" }),
            "error validating action type config: Error configuring xMatters action: target url \"http://evil.example/flow\" is not added to the Kibana config xpack.actions.allowedHosts",
        ),
    ] {
        assert_error(
            &app.post("/api/actions/connector", create(config, secrets))
                .await,
            400,
            message,
        );
    }
}

#[tokio::test]
async fn a_vendor_that_never_answers_times_out_into_a_result() {
    let silent = FakeServer::start(|_| Reply::Hang).await;
    let app =
        TestApp::with_settings(json!({ "xpack": { "actions": { "responseTimeout": "300ms" } } }))
            .await;
    let id = app
        .create_typed(
            ".pagerduty",
            json!({ "apiUrl": silent.url("/v2/enqueue") }),
            json!({ "routingKey": "k" }),
        )
        .await;
    let result = app.execute(&id, json!({ "summary": "s" })).await;
    assert_eq!(result["message"], "error posting pagerduty event");
    assert!(
        result["service_message"]
            .as_str()
            .unwrap()
            .starts_with("timeout of 300ms exceeded"),
        "{result}"
    );
    let id = app
        .create_typed(
            ".opsgenie",
            json!({ "apiUrl": silent.url("") }),
            json!({ "apiKey": "k" }),
        )
        .await;
    let result = app
        .execute(
            &id,
            json!({ "subAction": "createAlert", "subActionParams": { "message": "m" } }),
        )
        .await;
    assert_eq!(
        (&result["message"], &result["retry"]),
        (
            &json!("an error occurred while running the action"),
            &json!(true)
        )
    );
    assert!(
        result["service_message"]
            .as_str()
            .unwrap()
            .starts_with("Status code: undefined. Message: timeout of 300ms exceeded"),
        "{result}"
    );
}
