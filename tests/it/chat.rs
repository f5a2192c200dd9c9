//! `.slack`, `.slack_api` and `.teams` against loopback fakes of Slack and Teams.

use serde_json::{Value, json};

use crate::support::{
    FakeServer, Reply, TestApp, app::assert_error, closed_port, pki::TestCa, proxy::TestProxy,
};

/// Asserts a `retry at <time>` result: the message names the time `retry` holds.
#[track_caller]
fn assert_retry_at(result: &Value, prefix: &str) {
    let at = result["retry"].as_str().expect("retry is a time");
    assert_eq!(result["message"], format!("{prefix}, retry at {at}"));
    assert!(at.ends_with('Z') && at.len() == 24, "{at}");
}

#[tokio::test]
async fn slack_posts_the_message_to_the_webhook() {
    let slack = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(
            ".slack",
            json!({}),
            json!({ "webhookUrl": slack.url("/services/T1/B2/x") }),
        )
        .await;

    let result = app.execute(&id, json!({ "message": "disk full" })).await;

    assert_eq!(
        result,
        json!({ "status": "ok", "data": { "text": "ok" }, "connector_id": id })
    );
    let request = slack.only_request();
    assert_eq!(request.method, reqwest::Method::POST);
    assert_eq!(request.path, "/services/T1/B2/x");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("@slack:webhook/")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&request.body).unwrap(),
        json!({ "text": "disk full" })
    );
}

#[tokio::test]
async fn slack_failures_are_kibanas_results() {
    let slack = FakeServer::start(|request| match request.path.as_str() {
        "/down" => Reply::status(503, "unavailable"),
        "/slow" => Reply::status(429, "slow down").with_header("retry-after", "30"),
        "/gone" => Reply::status(403, "no"),
        _ => Reply::status(200, "invalid_payload"),
    })
    .await;
    let app = TestApp::start().await;
    let run = |path: &'static str| {
        let (app, url) = (&app, slack.url(path));
        async move {
            let id = app
                .create_typed(".slack", json!({}), json!({ "webhookUrl": url }))
                .await;
            (app.execute(&id, json!({ "message": "x" })).await, id)
        }
    };

    let (result, id) = run("/down").await;
    assert_eq!(
        result,
        json!({
            "status": "error", "message": "error posting a slack message, retry later",
            "errorSource": "framework", "connector_id": id, "retry": true,
            "service_message": "An HTTP protocol error occurred: statusCode = 503",
        })
    );
    let (result, _) = run("/slow").await;
    assert_retry_at(&result, "error posting a slack message");
    assert_eq!(
        result["service_message"],
        "An HTTP protocol error occurred: statusCode = 429"
    );
    let (result, id) = run("/gone").await;
    assert_eq!(
        result,
        json!({
            "status": "error", "message": "unexpected http response from slack: 403 Forbidden",
            "errorSource": "user", "connector_id": id,
        })
    );
    let (result, _) = run("/odd").await;
    assert_eq!(result["message"], "error posting slack message");
    assert_eq!(result["service_message"], "invalid_payload");

    let closed = closed_port();
    let id = app
        .create_typed(
            ".slack",
            json!({}),
            json!({ "webhookUrl": format!("http://127.0.0.1:{}/x", closed.port) }),
        )
        .await;
    let result = app.execute(&id, json!({ "message": "x" })).await;
    assert_eq!(result["message"], "error posting slack message");
    assert!(
        result["service_message"]
            .as_str()
            .unwrap()
            .starts_with("A request error occurred: connect ECONNREFUSED 127.0.0.1:"),
        "{result}"
    );
}

#[tokio::test]
async fn slack_and_teams_check_their_webhook_urls_and_params() {
    let app = TestApp::with_settings(json!({ "xpack": { "actions": {
        "allowedHosts": ["hooks.slack.com", "127.0.0.1"],
    } } }))
    .await;
    for (type_id, kind) in [(".slack", "slack"), (".teams", "teams")] {
        let create = |url: &str| json!({ "name": "x", "connector_type_id": type_id, "secrets": { "webhookUrl": url } });
        assert_error(
            &app.post("/api/actions/connector", create("not a url"))
                .await,
            400,
            &format!(
                "error validating action type secrets: error configuring {kind} action: unable to parse host name from webhookUrl"
            ),
        );
        assert_error(
            &app.post(
                "/api/actions/connector",
                create("https://evil.example/hook"),
            )
            .await,
            400,
            &format!(
                "error validating action type secrets: error configuring {kind} action: target url \"https://evil.example/hook\" is not added to the Kibana config xpack.actions.allowedHosts"
            ),
        );
        let id = app
            .create_connector(create("https://hooks.slack.com/services/x"))
            .await;
        let result = app.execute(&id, json!({ "message": "" })).await;
        assert_eq!(
            result,
            json!({
                "status": "error",
                "message": "error validating action params: [message]: value has length [0] but it must have a minimum length of [1].",
                "errorSource": "user", "connector_id": id, "retry": false,
            })
        );
    }
}

#[tokio::test]
async fn teams_posts_the_message_and_reads_throttling_from_a_200() {
    let teams = FakeServer::start(|request| match request.path.as_str() {
        "/throttled" => Reply::status(
            200,
            "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi,cv=1.0 ErrorCode:ApplicationThrottled",
        )
        .with_header("retry-after", "12"),
        "/down" => Reply::status(502, "bad gateway"),
        "/missing" => Reply::status(404, "no such hook"),
        _ => Reply::status(200, "1"),
    })
    .await;
    let app = TestApp::start().await;
    let run = |path: &'static str| {
        let (app, url) = (&app, teams.url(path));
        async move {
            let id = app
                .create_typed(".teams", json!({}), json!({ "webhookUrl": url }))
                .await;
            (
                app.execute(&id, json!({ "message": "disk full" })).await,
                id,
            )
        }
    };

    let (result, id) = run("/ok").await;
    assert_eq!(
        result,
        json!({ "status": "ok", "data": { "text": "disk full" }, "connector_id": id })
    );
    let request = &teams.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/ok")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, r#"{"text":"disk full"}"#);

    let (result, _) = run("/throttled").await;
    assert_retry_at(&result, "error posting a Microsoft Teams message");
    assert_eq!(result["service_message"], "disk full");
    let (result, id) = run("/down").await;
    assert_eq!(
        result,
        json!({
            "status": "error", "message": "error posting a Microsoft Teams message, retry later",
            "errorSource": "user", "connector_id": id, "retry": true,
        })
    );
    let (result, id) = run("/missing").await;
    assert_eq!(
        result,
        json!({
            "status": "error", "message": "error posting to Microsoft Teams, invalid response",
            "errorSource": "user", "connector_id": id, "service_message": "[404] Not Found",
        })
    );
}

/// A fake of `https://slack.com/api/`, reached as Kibana reaches it (by that name, over
/// TLS) through a proxy that tunnels `slack.com:443` to the fake; its certificate is
/// trusted through `customHostSettings`.
struct FakeSlackApi {
    server: FakeServer,
    app: TestApp,
    _proxy: TestProxy,
}

async fn fake_slack_api(extra_config: Value) -> FakeSlackApi {
    let ca = TestCa::new("Slack test CA");
    let certificate = ca.issue(&["slack.com"]);
    let server = FakeServer::start_tls(
        TestCa::server_config(&certificate, None),
        |request| match (request.path.as_str(), request.query.as_deref()) {
            ("/api/conversations.info", Some("channel=C404")) => {
                Reply::json(200, json!({ "ok": false, "error": "channel_not_found" }))
            }
            ("/api/conversations.info", _) => Reply::json(
                200,
                json!({ "ok": true, "channel": { "id": "C123ABC456", "name": "general" } }),
            ),
            ("/api/chat.postMessage", _) if request.body.contains("C429") => {
                Reply::status(429, "").with_header("retry-after", "3")
            }
            ("/api/chat.postMessage", _) => Reply::json(
                200,
                json!({ "ok": true, "ts": "1234567890.123456", "channel": "C123ABC456",
                        "message": { "text": "A test message" } }),
            ),
            _ => Reply::status(404, ""),
        },
    )
    .await;
    let proxy = TestProxy::start().await;
    proxy.route("slack.com:443", server.address);
    let mut settings = json!({ "xpack": { "actions": {
        "proxyUrl": proxy.url(),
        "customHostSettings": [{ "url": "https://slack.com:443",
                                 "ssl": { "certificateAuthoritiesData": ca.cert_pem } }],
    } } });
    crate::support::app::deep_merge(&mut settings, &extra_config);
    FakeSlackApi {
        server,
        app: TestApp::with_settings(settings).await,
        _proxy: proxy,
    }
}

#[tokio::test]
async fn slack_api_posts_messages_and_blocks_and_checks_channels() {
    let FakeSlackApi { server, app, .. } = fake_slack_api(json!({})).await;
    let id = app
        .create_typed(
            ".slack_api",
            json!({}),
            json!({ "token": "xoxb-test-token" }),
        )
        .await;

    // The documented example, verbatim.
    let result = app
        .execute(
            &id,
            json!({ "subAction": "postMessage",
                    "subActionParams": { "text": "A test message.", "channelIds": ["C123ABC456"] } }),
        )
        .await;
    assert_eq!(
        result,
        json!({
            "status": "ok",
            "data": { "ok": true, "ts": "1234567890.123456", "channel": "C123ABC456",
                      "message": { "text": "A test message" } },
            "connector_id": ".slack_api",
        })
    );
    let request = server.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/api/chat.postMessage")
    );
    assert_eq!(
        request.header("authorization"),
        Some("Bearer xoxb-test-token")
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&request.body).unwrap(),
        json!({ "channel": "C123ABC456", "text": "A test message." })
    );

    let blocks =
        json!({ "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": "*hi*" } }] });
    let result = app
        .execute(
            &id,
            json!({ "subAction": "postBlockkit",
                    "subActionParams": { "text": blocks.to_string(), "channels": ["general"] } }),
        )
        .await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        serde_json::from_str::<Value>(&server.requests()[1].body).unwrap(),
        json!({ "channel": "general", "blocks": blocks["blocks"] })
    );

    let valid = app
        .execute(
            &id,
            json!({ "subAction": "validChannelId", "subActionParams": { "channelId": "C123ABC456" } }),
        )
        .await;
    assert_eq!(valid["data"]["channel"]["name"], "general");
    assert_eq!(
        server.requests()[2].query.as_deref(),
        Some("channel=C123ABC456")
    );
    let missing = app
        .execute(
            &id,
            json!({ "subAction": "validChannelId", "subActionParams": { "channelId": "C404" } }),
        )
        .await;
    assert_eq!(
        missing,
        json!({
            "status": "error", "message": "error posting slack message", "errorSource": "user",
            "connector_id": ".slack_api", "service_message": "channel_not_found",
        })
    );
    let slow = app
        .execute(
            &id,
            json!({ "subAction": "postMessage", "subActionParams": { "text": "x", "channelIds": ["C429"] } }),
        )
        .await;
    assert_retry_at(&slow, "error posting a slack message");
}

#[tokio::test]
async fn slack_api_refuses_channels_outside_the_allowed_list_and_bad_blocks() {
    let FakeSlackApi { server, app, .. } = fake_slack_api(json!({})).await;
    let id = app
        .create_typed(
            ".slack_api",
            json!({ "allowedChannels": [{ "id": "C1", "name": "general" }] }),
            json!({ "token": "xoxb-test-token" }),
        )
        .await;
    let refused = app
        .execute(
            &id,
            json!({ "subAction": "postMessage", "subActionParams": { "text": "x", "channelIds": ["C2"] } }),
        )
        .await;
    assert_eq!(refused["message"], "error posting slack message");
    assert_eq!(
        refused["service_message"],
        "One of channel ids \"C2\" is not included in the allowed channels list \"C1\""
    );
    let nowhere = app
        .execute(
            &id,
            json!({ "subAction": "postMessage", "subActionParams": { "text": "x" } }),
        )
        .await;
    assert_eq!(nowhere["service_message"], "The channel is empty\"");
    let bad_blocks = app
        .execute(
            &id,
            json!({ "subAction": "postBlockkit", "subActionParams": { "text": "{\"text\":1}" } }),
        )
        .await;
    let message = bad_blocks["message"].as_str().unwrap();
    assert!(
        message.starts_with("error validating action params: types that failed validation:")
            && message.contains("block kit body must contain field \"blocks\""),
        "{message}"
    );
    assert!(server.requests().is_empty());

    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1"] } } }),
    )
    .await;
    assert_error(
        &app.post(
            "/api/actions/connector",
            json!({ "name": "x", "connector_type_id": ".slack_api", "secrets": { "token": "t" } }),
        )
        .await,
        400,
        "error validating action type secrets: error configuring slack action: target url \"https://slack.com/api/\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
}
