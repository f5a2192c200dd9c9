//! `.sentinelone` against a loopback fake of SentinelOne's management API: every
//! sub-action's request (the token as the `APIToken` query parameter), results,
//! failures, validation, and the token kept out of every result.

use serde_json::{Value, json};

use crate::support::{
    FakeServer, Reply, TestApp,
    app::assert_error,
    fake::{Recorded, closed_port},
};

/// A token with characters that must be encoded in a query.
const TOKEN: &str = "s1 secret/token";
const ENCODED_TOKEN: &str = "s1+secret%2Ftoken";

fn agent(id: &str, network_status: &str) -> Value {
    json!({ "id": id, "computerName": "host-a", "networkStatus": network_status })
}

fn agents(list: Vec<Value>) -> Value {
    json!({ "pagination": { "totalItems": list.len(), "nextCursor": null }, "errors": null, "data": list })
}

/// The fake: agents by `computerName`, and one answer per other endpoint.
fn sentinelone(request: &Recorded) -> Reply {
    let query = request.query.as_deref().unwrap_or_default();
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/web/api/v2.1/agents") if query.contains("computerName=isolated") => {
            Reply::json(200, agents(vec![agent("agent-2", "disconnected")]))
        }
        ("GET", "/web/api/v2.1/agents") if query.contains("computerName=nobody") => {
            Reply::json(200, agents(vec![]))
        }
        ("GET", "/web/api/v2.1/agents") => {
            Reply::json(200, agents(vec![agent("agent-1", "connected")]))
        }
        (
            "POST",
            "/web/api/v2.1/agents/actions/disconnect" | "/web/api/v2.1/agents/actions/connect",
        ) => Reply::json(200, json!({ "errors": null, "data": { "affected": 1 } })),
        ("GET", "/web/api/v2.1/remote-scripts") => Reply::json(
            200,
            json!({ "pagination": { "totalItems": 1 }, "data": [{ "id": "script-1" }] }),
        ),
        ("POST", "/web/api/v2.1/remote-scripts/execute") => Reply::json(
            200,
            json!({ "data": { "parentTaskId": "p-1", "pending": false, "affected": 1 } }),
        ),
        ("GET", "/web/api/v2.1/remote-scripts/status") => Reply::json(
            200,
            json!({ "pagination": { "totalItems": 1 }, "data": [{ "status": "completed" }] }),
        ),
        ("POST", "/web/api/v2.1/remote-scripts/fetch-files") => Reply::json(
            200,
            json!({ "data": { "download_links": [
                { "taskId": "t-0", "downloadUrl": "http://127.0.0.1:1/other", "fileName": "other.zip" },
                { "taskId": "t-1", "downloadUrl": format!("http://{}/files/t-1.zip?sig=abc",
                    request.header("host").unwrap_or_default()), "fileName": "t-1.zip" },
            ] }, "errors": null }),
        ),
        ("GET", "/files/t-1.zip") => {
            Reply::status(200, "PK-script-output").with_header("content-type", "application/zip")
        }
        ("POST", "/web/api/v2.1/agents/agent-1/actions/fetch-files") => {
            Reply::json(200, json!({ "data": { "success": true } }))
        }
        ("GET", "/web/api/v2.1/agents/agent-1/uploads/activity-1") => {
            Reply::status(200, "PK-agent-file").with_header("content-type", "application/zip")
        }
        ("GET", "/web/api/v2.1/activities") => Reply::json(
            200,
            json!({ "pagination": { "totalItems": 0, "nextCursor": null }, "data": [] }),
        ),
        _ => Reply::json(
            404,
            json!({ "errors": [{ "code": 4040000, "title": "Not found" }] }),
        ),
    }
}

fn sub_action(name: &str, params: Value) -> Value {
    json!({ "subAction": name, "subActionParams": params })
}

async fn connector(app: &TestApp, url: &str) -> String {
    app.create_typed(
        ".sentinelone",
        json!({ "url": url }),
        json!({ "token": TOKEN }),
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

fn invalid(id: &str, message: &str) -> Value {
    json!({
        "status": "error", "message": "an error occurred while running the action",
        "errorSource": "user", "connector_id": id, "retry": true,
        "service_message": format!("Request validation failed (Error: {message})"),
    })
}

/// Checks one request: method, path, exact query, JSON content type, no
/// `Authorization`, exact body.
#[track_caller]
fn assert_request(request: &Recorded, method: &str, path: &str, query: &str, body: &str) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref().unwrap_or_default()
        ),
        (method, path, query)
    );
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, body);
}

/// `query` followed by the token.
fn with_token(query: &str) -> String {
    if query.is_empty() {
        format!("APIToken={ENCODED_TOKEN}")
    } else {
        format!("{query}&APIToken={ENCODED_TOKEN}")
    }
}

#[track_caller]
fn assert_no_token(result: &Value) {
    let text = result.to_string();
    assert!(
        !text.contains(TOKEN) && !text.contains(ENCODED_TOKEN) && !text.contains("s1%20secret"),
        "the token leaked: {text}"
    );
}

#[tokio::test]
async fn agents_are_listed_with_the_filters_given() {
    let fake = FakeServer::start(sentinelone).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;
    let result = app
        .execute(
            &id,
            sub_action(
                "getAgents",
                json!({ "computerName": "host a", "uuids": "u-1,u-2", "alertIds": ["al:1", "al-2"] }),
            ),
        )
        .await;
    assert_eq!(result, ok(&id, agents(vec![agent("agent-1", "connected")])));
    assert_no_token(&result);
    assert_request(
        &fake.only_request(),
        "GET",
        "/web/api/v2.1/agents",
        &with_token("uuids=u-1,u-2&computerName=host+a&alertIds[]=al:1&alertIds[]=al-2"),
        "",
    );
}

#[tokio::test]
async fn hosts_are_isolated_and_released() {
    let fake = FakeServer::start(sentinelone).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("/")).await;
    let affected = json!({ "errors": null, "data": { "affected": 1 } });

    let isolated = app
        .execute(
            &id,
            sub_action(
                "isolateHost",
                json!({ "computerName": "host-a", "alertIds": ["al-1"] }),
            ),
        )
        .await;
    assert_eq!(isolated, ok(&id, affected.clone()));
    let released = app
        .execute(
            &id,
            sub_action("releaseHost", json!({ "computerName": "isolated" })),
        )
        .await;
    assert_eq!(released, ok(&id, affected));

    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    // `alertIds` is not a filter SentinelOne knows: it is not sent.
    assert_request(
        &requests[0],
        "GET",
        "/web/api/v2.1/agents",
        &with_token("computerName=host-a"),
        "",
    );
    assert_request(
        &requests[1],
        "POST",
        "/web/api/v2.1/agents/actions/disconnect",
        &with_token(""),
        r#"{"filter":{"ids":"agent-1"}}"#,
    );
    assert_request(
        &requests[2],
        "GET",
        "/web/api/v2.1/agents",
        &with_token("computerName=isolated"),
        "",
    );
    assert_request(
        &requests[3],
        "POST",
        "/web/api/v2.1/agents/actions/connect",
        &with_token(""),
        r#"{"filter":{"ids":"agent-2"}}"#,
    );
}

#[tokio::test]
async fn isolation_is_refused_in_kibanas_words() {
    let fake = FakeServer::start(sentinelone).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;
    let run = |name: &'static str, computer: &'static str| {
        let app = &app;
        let id = &id;
        async move {
            app.execute(id, sub_action(name, json!({ "computerName": computer })))
                .await
        }
    };
    assert_eq!(
        run("isolateHost", "isolated").await,
        thrown(&id, "Agent already isolated")
    );
    assert_eq!(
        run("releaseHost", "host-a").await,
        thrown(&id, "Agent not isolated")
    );
    assert_eq!(
        run("isolateHost", "nobody").await,
        thrown(&id, "No agents found")
    );
    assert_eq!(
        run("releaseHost", "nobody").await,
        thrown(&id, "No agents found")
    );
    // Only the lookups were made.
    assert!(
        fake.requests()
            .iter()
            .all(|request| request.method == "GET" && request.path == "/web/api/v2.1/agents")
    );
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn remote_scripts_are_listed_run_and_followed() {
    let fake = FakeServer::start(sentinelone).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;

    let listed = app
        .execute(
            &id,
            sub_action(
                "getRemoteScripts",
                json!({ "osTypes": "linux,windows", "isAvailableForArs": true, "limit": 5, "query": null }),
            ),
        )
        .await;
    assert_eq!(
        listed,
        ok(
            &id,
            json!({ "pagination": { "totalItems": 1 }, "data": [{ "id": "script-1" }] })
        )
    );
    let executed = app
        .execute(
            &id,
            sub_action(
                "executeScript",
                json!({ "filter": { "uuids": "u-1" },
                        "script": { "scriptId": "script-1", "inputParams": "--all" },
                        "alertIds": ["al-1"] }),
            ),
        )
        .await;
    assert_eq!(
        executed,
        ok(
            &id,
            json!({ "data": { "parentTaskId": "p-1", "pending": false, "affected": 1 } })
        )
    );
    let local = app
        .execute(
            &id,
            sub_action(
                "executeScript",
                json!({ "filter": { "ids": "agent-1" },
                        "script": { "scriptId": "script-1", "outputDestination": "Local",
                                    "passwordFromScope": { "scopeLevel": "site", "scopeId": "s-1" } } }),
            ),
        )
        .await;
    assert_eq!(local["status"], "ok");
    let status = app
        .execute(
            &id,
            sub_action(
                "getRemoteScriptStatus",
                json!({ "parentTaskId": "p-1", "anythingElse": 1 }),
            ),
        )
        .await;
    assert_eq!(
        status,
        ok(
            &id,
            json!({ "pagination": { "totalItems": 1 }, "data": [{ "status": "completed" }] })
        )
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    assert_request(
        &requests[0],
        "GET",
        "/web/api/v2.1/remote-scripts",
        &with_token("osTypes=linux,windows&isAvailableForArs=true&limit=5"),
        "",
    );
    assert_request(
        &requests[1],
        "POST",
        "/web/api/v2.1/remote-scripts/execute",
        &with_token(""),
        r#"{"data":{"outputDestination":"SentinelCloud","inputParams":"--all","scriptId":"script-1"},"filter":{"uuids":"u-1"}}"#,
    );
    assert_request(
        &requests[2],
        "POST",
        "/web/api/v2.1/remote-scripts/execute",
        &with_token(""),
        r#"{"data":{"outputDestination":"Local","passwordFromScope":{"scopeLevel":"site","scopeId":"s-1"},"scriptId":"script-1"},"filter":{"ids":"agent-1"}}"#,
    );
    assert_request(
        &requests[3],
        "GET",
        "/web/api/v2.1/remote-scripts/status",
        &with_token("parent_task_id=p-1"),
        "",
    );
}

#[tokio::test]
async fn script_results_are_fetched_and_downloaded() {
    let fake = FakeServer::start(sentinelone).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;

    let results = app
        .execute(
            &id,
            sub_action(
                "getRemoteScriptResults",
                json!({ "taskIds": ["t-0", "t-1"] }),
            ),
        )
        .await;
    assert_eq!(results["status"], "ok");
    assert_eq!(
        results["data"]["data"]["download_links"][1]["fileName"],
        "t-1.zip"
    );
    let downloaded = app
        .execute(
            &id,
            sub_action("downloadRemoteScriptResults", json!({ "taskId": "t-1" })),
        )
        .await;
    assert_eq!(
        downloaded,
        ok(
            &id,
            json!({ "contentType": "application/zip", "size": 16, "encoding": "base64",
                    "content": "UEstc2NyaXB0LW91dHB1dA==" })
        )
    );
    let missing = app
        .execute(
            &id,
            sub_action("downloadRemoteScriptResults", json!({ "taskId": "t-9" })),
        )
        .await;
    assert_eq!(
        missing,
        thrown(
            &id,
            "Download URL for script results of task id [t-9] not found"
        )
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    for (index, task_ids) in [
        (0, r#"["t-0","t-1"]"#),
        (1, r#"["t-1"]"#),
        (3, r#"["t-9"]"#),
    ] {
        assert_request(
            &requests[index],
            "POST",
            "/web/api/v2.1/remote-scripts/fetch-files",
            &with_token(""),
            &format!(r#"{{"data":{{"taskIds":{task_ids}}}}}"#),
        );
    }
    // The download link is SentinelOne's own signed URL: the token does not go with it.
    assert_request(&requests[2], "GET", "/files/t-1.zip", "sig=abc", "");
}

#[tokio::test]
async fn agent_files_are_fetched_and_downloaded() {
    let fake = FakeServer::start(sentinelone).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;

    let fetched = app
        .execute(
            &id,
            sub_action(
                "fetchAgentFiles",
                json!({ "agentId": "agent-1", "zipPassCode": "0123456789", "files": ["/var/log/a.log"] }),
            ),
        )
        .await;
    assert_eq!(fetched, ok(&id, json!({ "data": { "success": true } })));
    let downloaded = app
        .execute(
            &id,
            sub_action(
                "downloadAgentFile",
                json!({ "agentId": "agent-1", "activityId": "activity-1" }),
            ),
        )
        .await;
    assert_eq!(
        downloaded,
        ok(
            &id,
            json!({ "contentType": "application/zip", "size": 13, "encoding": "base64",
                    "content": "UEstYWdlbnQtZmlsZQ==" })
        )
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_request(
        &requests[0],
        "POST",
        "/web/api/v2.1/agents/agent-1/actions/fetch-files",
        &with_token(""),
        r#"{"data":{"password":"0123456789","files":["/var/log/a.log"]}}"#,
    );
    assert_request(
        &requests[1],
        "GET",
        "/web/api/v2.1/agents/agent-1/uploads/activity-1",
        &with_token(""),
        "",
    );
}

#[tokio::test]
async fn activities_are_listed() {
    let fake = FakeServer::start(sentinelone).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;
    let result = app
        .execute(
            &id,
            sub_action(
                "getActivities",
                json!({ "agentIds": "agent-1", "activityTypes": "80,81", "limit": 5, "countOnly": false }),
            ),
        )
        .await;
    assert_eq!(
        result,
        ok(
            &id,
            json!({ "pagination": { "totalItems": 0, "nextCursor": null }, "data": [] })
        )
    );
    let none = app
        .execute(&id, json!({ "subAction": "getActivities" }))
        .await;
    assert_eq!(none["status"], "ok");
    let requests = fake.requests();
    assert_request(
        &requests[0],
        "GET",
        "/web/api/v2.1/activities",
        &with_token("activityTypes=80,81&agentIds=agent-1&countOnly=false&limit=5"),
        "",
    );
    assert_request(
        &requests[1],
        "GET",
        "/web/api/v2.1/activities",
        &with_token(""),
        "",
    );
}

#[tokio::test]
async fn params_are_strict() {
    let fake = FakeServer::start(sentinelone).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("")).await;
    let cases = [
        (
            "getAgents",
            json!({ "hostname": "a" }),
            "[hostname]: definition for this key is missing",
        ),
        (
            "getAgents",
            json!({ "computerName": 1 }),
            "[computerName]: types that failed validation:\n- [computerName.0]: expected value of type [string] but got [number]\n- [computerName.1]: expected value to equal [null]",
        ),
        (
            "getRemoteScripts",
            json!({ "limit": 0 }),
            "[limit]: types that failed validation:\n- [limit.0]: Value must be equal to or greater than [1].\n- [limit.1]: expected value to equal [null]",
        ),
        (
            "executeScript",
            json!({ "filter": { "ids": "a" }, "script": {} }),
            "[script.scriptId]: expected value of type [string] but got [undefined]",
        ),
        (
            "executeScript",
            json!({ "filter": { "ids": "a" }, "script": { "scriptId": "s", "outputDestination": "Cloud" } }),
            "[script.outputDestination]: types that failed validation:\n- [script.outputDestination.0]: expected value to equal [Local]\n- [script.outputDestination.1]: expected value to equal [None]\n- [script.outputDestination.2]: expected value to equal [SentinelCloud]\n- [script.outputDestination.3]: expected value to equal [SingularityXDR]",
        ),
        (
            "getRemoteScriptStatus",
            json!({}),
            "[parentTaskId]: expected value of type [string] but got [undefined]",
        ),
        (
            "getRemoteScriptResults",
            json!({ "taskIds": "t-1" }),
            "[taskIds]: could not parse array value from json input",
        ),
        (
            "downloadRemoteScriptResults",
            json!({ "taskId": "" }),
            "[taskId]: value has length [0] but it must have a minimum length of [1].",
        ),
        (
            "fetchAgentFiles",
            json!({ "agentId": "a", "zipPassCode": "short", "files": ["f"] }),
            "[zipPassCode]: value has length [5] but it must have a minimum length of [10].",
        ),
        (
            "downloadAgentFile",
            json!({ "agentId": "a" }),
            "[activityId]: expected value of type [string] but got [undefined]",
        ),
        (
            "getActivities",
            json!({ "agentIds": "" }),
            "[agentIds]: value has length [0] but it must have a minimum length of [1].",
        ),
    ];
    for (name, params, message) in cases {
        assert_eq!(
            app.execute(&id, sub_action(name, params)).await,
            invalid(&id, message),
            "{name}"
        );
    }
    assert_eq!(
        app.execute(
            &id,
            sub_action(
                "executeScript",
                json!({ "filter": {}, "script": { "scriptId": "s" } })
            )
        )
        .await,
        thrown(&id, "A filter must be defined; either 'ids' or 'uuids'")
    );
    assert_eq!(
        app.execute(&id, sub_action("nope", json!({}))).await,
        thrown(
            &id,
            &format!(
                "Sub action \"nope\" is not registered. Connector id: {id}. Connector name: Sentinel One. Connector type: .sentinelone"
            )
        )
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn failures_carry_the_answer_but_never_the_token() {
    let fake = FakeServer::start(|request| match request.path.as_str() {
        "/bad/web/api/v2.1/agents" => Reply::json(
            400,
            json!({ "errors": [{ "code": 4000010, "detail": "bad filter" }] }),
        ),
        "/denied/web/api/v2.1/agents" => {
            Reply::json(401, json!({ "errors": [{ "code": 4010010 }] }))
        }
        "/busy/web/api/v2.1/agents" => Reply::status(429, "").with_header("retry-after", "30"),
        "/down/web/api/v2.1/agents" => Reply::status(500, "oops"),
        _ => Reply::status(404, ""),
    })
    .await;
    let app = TestApp::start().await;
    let run = |path: String| {
        let app = &app;
        async move {
            let id = connector(app, &path).await;
            let result = app.execute(&id, sub_action("getAgents", json!({}))).await;
            assert_no_token(&result);
            (id, result)
        }
    };
    let (id, bad) = run(fake.url("/bad")).await;
    assert_eq!(
        bad,
        thrown(
            &id,
            "Status code: 400. Message: API Error: [Bad Request] Request failed with status code 400\nResponse body: {\"errors\":[{\"code\":4000010,\"detail\":\"bad filter\"}]}"
        )
    );
    let (id, denied) = run(fake.url("/denied")).await;
    assert_eq!(
        denied,
        thrown(
            &id,
            "Status code: 401. Message: Unauthorized API Error (401)\nResponse body: {\"errors\":[{\"code\":4010010}]}"
        )
    );
    // As in Kibana, sub-action connectors do not read `Retry-After`.
    let (id, busy) = run(fake.url("/busy")).await;
    assert_eq!(
        busy,
        thrown(
            &id,
            "Status code: 429. Message: API Error: [Too Many Requests] Request failed with status code 429\nResponse body: {}"
        )
    );
    let (id, down) = run(fake.url("/down")).await;
    assert_eq!(
        down,
        thrown(
            &id,
            "Status code: 500. Message: API Error: [Internal Server Error] Request failed with status code 500\nResponse body: \"oops\""
        )
    );
    let closed = closed_port();
    let (id, refused) = run(format!("http://127.0.0.1:{}", closed.port)).await;
    assert_eq!(
        refused,
        thrown(
            &id,
            &format!(
                "Status code: undefined. Message: connect ECONNREFUSED 127.0.0.1:{}\nResponse body: {{}}",
                closed.port
            )
        )
    );
}

#[tokio::test]
async fn every_url_must_be_an_allowed_host() {
    let fake = FakeServer::start(|request| {
        Reply::json(
            200,
            json!({ "data": { "download_links": [
                { "taskId": "t-1", "downloadUrl": "https://files.s1.example/t-1.zip" },
            ] } }),
        )
        .with_header("x-path", request.path.clone())
    })
    .await;
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1"] } } }),
    )
    .await;
    let response = app
        .post(
            "/api/actions/connector",
            json!({ "name": "s1", "connector_type_id": ".sentinelone",
                    "config": { "url": "https://usea1.sentinelone.example" },
                    "secrets": { "token": TOKEN } }),
        )
        .await;
    assert_error(
        &response,
        400,
        "error validating action type config: error validating url: target url \"https://usea1.sentinelone.example\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
    let id = connector(&app, &fake.url("")).await;
    let result = app
        .execute(
            &id,
            sub_action("downloadRemoteScriptResults", json!({ "taskId": "t-1" })),
        )
        .await;
    assert_eq!(
        result,
        thrown(
            &id,
            "error configuring connector action: target url \"https://files.s1.example/t-1.zip\" is not added to the Kibana config xpack.actions.allowedHosts"
        )
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn config_and_secrets_are_checked() {
    let app = TestApp::start().await;
    let create = |config: Value, secrets: Value| {
        app.post(
            "/api/actions/connector",
            json!({ "name": "s1", "connector_type_id": ".sentinelone",
                    "config": config, "secrets": secrets }),
        )
    };
    assert_error(
        &create(json!({ "url": "https://s1.example" }), json!({})).await,
        400,
        "error validating action type secrets: [token]: expected value of type [string] but got [undefined]",
    );
    assert_error(
        &create(
            json!({ "url": "https://s1.example", "site": "x" }),
            json!({ "token": "t" }),
        )
        .await,
        400,
        "error validating action type config: [site]: definition for this key is missing",
    );
    let created = create(
        json!({ "url": "https://s1.example" }),
        json!({ "token": TOKEN }),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_no_token(&created.json());
}

/// Kibana runs response actions over HTTP only for callers with every privilege; the
/// read-only sub-action is open to whoever may execute in the space.
#[tokio::test]
async fn response_actions_need_a_superuser() {
    let fake = FakeServer::start(sentinelone).await;
    let app = crate::security::app_with_users(json!({})).await;
    let id = app
        .create_connector_in(
            "/s/space1",
            json!({ "name": "s1", "connector_type_id": ".sentinelone",
                    "config": { "url": fake.url("") }, "secrets": { "token": TOKEN } }),
        )
        .await;
    let alice = crate::support::basic("alice", crate::security::PASSWORD);
    let path = format!("/s/space1/api/actions/connector/{id}/_execute");
    let execute = |params: Value| {
        app.call_as(
            &alice,
            reqwest::Method::POST,
            &path,
            Some(json!({ "params": params })),
        )
    };

    let refused = execute(sub_action(
        "isolateHost",
        json!({ "computerName": "host-a" }),
    ))
    .await;
    assert_eq!(refused.status, 200);
    assert_eq!(
        refused.json(),
        json!({
            "status": "error", "connector_id": id,
            "message": "Unauthorized to execute a \".sentinelone\" action",
            "retry": false, "errorSource": "user",
        })
    );
    assert!(
        fake.requests().is_empty(),
        "nothing was sent to SentinelOne"
    );

    let listed = execute(sub_action("getAgents", json!({}))).await;
    assert_eq!(listed.json()["status"], "ok");
    assert_eq!(fake.requests().len(), 1);

    // The superuser may isolate.
    let isolated = app
        .post(
            &path,
            json!({ "params": sub_action("isolateHost", json!({ "computerName": "host-a" })) }),
        )
        .await
        .json();
    assert_eq!(isolated["status"], "ok", "{isolated}");
}
