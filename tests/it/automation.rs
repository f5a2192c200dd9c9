//! `.torq`, `.tines` and `.d3security` against loopback fakes of their APIs.

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, app::assert_error};

fn sub_action(name: &str, params: Value) -> Value {
    json!({ "subAction": name, "subActionParams": params })
}

#[tokio::test]
async fn torq_sends_the_body_as_json_with_its_token() {
    let torq = FakeServer::start(|request| match request.path.as_str() {
        "/v1/triggers/401" => Reply::status(401, ""),
        "/v1/triggers/404" => Reply::status(404, ""),
        "/v1/triggers/405" => Reply::status(405, ""),
        "/v1/triggers/500" => Reply::status(500, ""),
        "/v1/triggers/429" => Reply::status(429, "").with_header("retry-after", "60"),
        "/v1/triggers/400" => Reply::json(400, json!({ "message": "bad trigger" })),
        _ => Reply::json(200, json!({ "ok": true })),
    })
    .await;
    let app = TestApp::start().await;
    let port = torq.address.port();
    let torq_url = |path: &str| format!("http://localhost:{port}/v1/triggers/{path}");
    let id = app
        .create_typed(
            ".torq",
            json!({ "webhookIntegrationUrl": torq_url("ok") }),
            json!({ "token": "torq-token" }),
        )
        .await;
    let body = r#"{"alert": "disk full", "count": 2}"#;
    let result = app.execute(&id, json!({ "body": body })).await;
    assert_eq!(
        result,
        json!({ "status": "ok", "data": body, "connector_id": id })
    );
    let request = torq.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/triggers/ok")
    );
    assert_eq!(request.header("x-torq-token"), Some("torq-token"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, r#"{"alert":"disk full","count":2}"#);

    let invalid = app.execute(&id, json!({ "body": "not json" })).await;
    assert_eq!(
        invalid["message"],
        "error triggering Torq workflow, invalid body"
    );
    assert_eq!(torq.requests().len(), 1, "nothing sent for an invalid body");

    for (path, message, service_message) in [
        (
            "401",
            "error triggering Torq workflow, unauthorised",
            "[401] Unauthorized",
        ),
        (
            "404",
            "error triggering Torq workflow, make sure the webhook URL is valid",
            "[404] Not Found",
        ),
        (
            "405",
            "error triggering Torq workflow, method is not supported",
            "[405] Method Not Allowed",
        ),
        (
            "500",
            "error triggering Torq workflow, retry later",
            "[500] Internal Server Error",
        ),
        (
            "400",
            "error triggering Torq workflow, invalid response",
            "[400] Bad Request: bad trigger",
        ),
    ] {
        let id = app
            .create_typed(
                ".torq",
                json!({ "webhookIntegrationUrl": torq_url(path) }),
                json!({ "token": "t" }),
            )
            .await;
        let result = app.execute(&id, json!({ "body": "{}" })).await;
        assert_eq!(result["message"], message, "{path}");
        assert_eq!(result["service_message"], service_message, "{path}");
    }
    let id = app
        .create_typed(
            ".torq",
            json!({ "webhookIntegrationUrl": torq_url("429") }),
            json!({ "token": "t" }),
        )
        .await;
    let result = app.execute(&id, json!({ "body": "{}" })).await;
    let at = result["retry"].as_str().unwrap();
    assert_eq!(
        result["message"],
        format!("error triggering Torq workflow, retry at {at}")
    );

    assert_error(
        &app.post(
            "/api/actions/connector",
            json!({ "name": "t", "connector_type_id": ".torq",
                    "config": { "webhookIntegrationUrl": "https://example.com/hook" },
                    "secrets": { "token": "t" } }),
        )
        .await,
        400,
        "error validating action type config: error configuring send to Torq action: url must begin with https://hooks.torq.io or https://hooks.eu.torq.io",
    );
    app.create_typed(
        ".torq",
        json!({ "webhookIntegrationUrl": "https://hooks.torq.io/v1/webhooks/abc" }),
        json!({ "token": "t" }),
    )
    .await;
}

#[tokio::test]
async fn tines_lists_stories_and_webhooks_and_runs_a_webhook() {
    let tines = FakeServer::start(|request| match request.path.as_str() {
        "/api/v1/stories" => Reply::json(
            200,
            json!({ "stories": [{ "id": 1, "name": "Triage", "published": true, "team_id": 7 }],
                    "meta": { "pages": 2 } }),
        ),
        "/api/v1/agents" => Reply::json(
            200,
            json!({ "agents": [
                { "id": 10, "name": "Alerts in", "type": "Agents::WebhookAgent", "story_id": 1,
                  "options": { "path": "p4th", "secret": "s3cret" } },
                { "id": 11, "name": "Transform", "type": "Agents::EventTransformationAgent",
                  "story_id": 1, "options": {} },
            ], "meta": { "pages": 1 } }),
        ),
        "/broken/api/v1/stories" => Reply::status(500, ""),
        _ => Reply::json(201, json!({ "status": "ok" })),
    })
    .await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(
            ".tines",
            json!({ "url": tines.url("") }),
            json!({ "email": "me@example.com", "token": "tines-token" }),
        )
        .await;

    let stories = app.execute(&id, sub_action("stories", json!({}))).await;
    assert_eq!(
        stories["data"],
        json!({ "stories": [{ "id": 1, "name": "Triage", "published": true }], "incompleteResponse": true })
    );
    let request = &tines.requests()[0];
    assert_eq!(request.query.as_deref(), Some("per_page=500"));
    assert_eq!(request.header("x-user-email"), Some("me@example.com"));
    assert_eq!(request.header("x-user-token"), Some("tines-token"));
    assert_eq!(request.header("content-type"), Some("application/json"));

    let webhooks = app
        .execute(&id, sub_action("webhooks", json!({ "storyId": 1 })))
        .await;
    let webhook =
        json!({ "id": 10, "name": "Alerts in", "storyId": 1, "path": "p4th", "secret": "s3cret" });
    assert_eq!(
        webhooks["data"],
        json!({ "webhooks": [webhook], "incompleteResponse": false })
    );
    assert_eq!(
        tines.requests()[1].query.as_deref(),
        Some("story_id=1&per_page=500")
    );

    let run = app
        .execute(
            &id,
            sub_action(
                "run",
                json!({ "webhook": webhook, "body": "{\"alert\":1}" }),
            ),
        )
        .await;
    assert_eq!(
        run,
        json!({ "status": "ok", "data": { "status": "ok" }, "connector_id": id })
    );
    let request = &tines.requests()[2];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/webhook/p4th/s3cret")
    );
    assert_eq!(request.body, "{\"alert\":1}");
    assert_eq!(request.header("x-user-token"), None);
    let by_url = app
        .execute(
            &id,
            sub_action(
                "test",
                json!({ "webhookUrl": tines.url("/webhook/other/x"), "body": "{}" }),
            ),
        )
        .await;
    assert_eq!(by_url["status"], "ok");
    assert_eq!(tines.requests()[3].path, "/webhook/other/x");

    let neither = app
        .execute(&id, sub_action("run", json!({ "body": "{}" })))
        .await;
    assert_eq!(
        neither["service_message"],
        "Invalid subActionsParams: [webhook] or [webhookUrl] expected but got none"
    );
    let broken = app
        .create_typed(
            ".tines",
            json!({ "url": tines.url("/broken") }),
            json!({ "email": "me@example.com", "token": "t" }),
        )
        .await;
    let failed = app.execute(&broken, sub_action("stories", json!({}))).await;
    assert_eq!(
        failed,
        json!({
            "status": "error", "message": "an error occurred while running the action",
            "errorSource": "framework", "connector_id": broken, "retry": true,
            "service_message": "Status code: 500. Message: API Error: Internal Server Error",
        })
    );
}

#[tokio::test]
async fn d3_security_wraps_the_event_as_kibana_does() {
    let d3 = FakeServer::start(|request| match request.path.as_str() {
        "/denied" => Reply::status(401, ""),
        "/down" => Reply::status(500, ""),
        "/odd" => Reply::json(200, json!({ "ok": true })),
        _ => Reply::json(200, json!({ "refid": "d3-1234" })),
    })
    .await;
    let app = TestApp::start().await;
    let created = app
        .post(
            "/api/actions/connector",
            json!({ "name": "d3", "connector_type_id": ".d3security",
                    "config": { "url": d3.url("/VSOC/api/data/Elastic") }, "secrets": { "token": "d3-token" } }),
        )
        .await
        .json();
    assert_eq!(
        created["config"],
        json!({ "url": d3.url("/VSOC/api/data/Elastic"), "severity": "", "eventType": "" })
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let result = app
        .execute(
            &id,
            sub_action(
                "run",
                json!({ "body": "{\"alert\":\"disk\"}", "severity": "high", "eventType": "alert" }),
            ),
        )
        .await;
    assert_eq!(
        result,
        json!({ "status": "ok", "data": { "refid": "d3-1234" }, "connector_id": id })
    );
    let request = &d3.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/VSOC/api/data/Elastic")
    );
    assert_eq!(request.header("d3key"), Some("d3-token"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&request.body).unwrap(),
        json!({ "hits": { "hits": { "_source": {
            "rawData": { "alert": "disk" }, "event.type": "alert", "kibana.alert.severity": "high",
        } } } })
    );
    app.execute(&id, sub_action("test", json!({ "body": "plain text" })))
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&d3.requests()[1].body).unwrap()["hits"]["hits"]["_source"],
        json!({ "rawData": "plain text", "event.type": "", "kibana.alert.severity": "" })
    );

    for (path, service_message) in [
        (
            "/denied",
            "Status code: 401. Message: Unauthorized API Error",
        ),
        (
            "/down",
            "Status code: 500. Message: API Error: 500 - Internal Server Error",
        ),
        (
            "/odd",
            "Response validation failed (Error: [refid]: expected value of type [string] but got [undefined])",
        ),
    ] {
        let id = app
            .create_typed(
                ".d3security",
                json!({ "url": d3.url(path) }),
                json!({ "token": "t" }),
            )
            .await;
        let result = app
            .execute(&id, sub_action("run", json!({ "body": "{}" })))
            .await;
        assert_eq!(
            result["message"],
            "an error occurred while running the action"
        );
        assert_eq!(result["service_message"], service_message, "{path}");
        assert_eq!(result["retry"], true);
    }
    assert_error(
        &TestApp::with_settings(
            json!({ "xpack": { "actions": { "allowedHosts": ["localhost"] } } }),
        )
        .await
        .post(
            "/api/actions/connector",
            json!({ "name": "d3", "connector_type_id": ".d3security",
                        "config": { "url": "https://d3.example/x" }, "secrets": { "token": "t" } }),
        )
        .await,
        400,
        "error validating action type config: error validating url: target url \"https://d3.example/x\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
}

#[tokio::test]
async fn tines_checks_answers_and_webhook_urls_like_kibanas_framework() {
    let tines = FakeServer::start(|_| {
        Reply::json(
            200,
            json!({ "agents": [{ "id": 10, "name": "hook", "type": "Agents::WebhookAgent" }],
                    "meta": { "pages": 1 } }),
        )
    })
    .await;
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1"] } } }),
    )
    .await;
    let id = app
        .create_typed(
            ".tines",
            json!({ "url": tines.url("") }),
            json!({ "email": "me@example.com", "token": "t" }),
        )
        .await;
    let webhooks = app
        .execute(&id, sub_action("webhooks", json!({ "storyId": 1 })))
        .await;
    assert_eq!(
        webhooks["service_message"],
        "Response validation failed (Error: [agents.0.story_id]: expected value of type [number] but got [undefined])"
    );
    let elsewhere = app
        .execute(
            &id,
            sub_action(
                "run",
                json!({ "webhookUrl": "https://tenant.tines.com/webhook/a/b", "body": "{}" }),
            ),
        )
        .await;
    assert_eq!(
        elsewhere["service_message"],
        "error configuring connector action: target url \"https://tenant.tines.com/webhook/a/b\" is not added to the Kibana config xpack.actions.allowedHosts"
    );
    assert_eq!(tines.requests().len(), 1);
}
