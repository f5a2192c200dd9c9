//! Connectors defined in `xpack.actions.preconfigured`.

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, app::assert_error};

async fn app_with_preconfigured(hook_url: &str, enabled_types: Value) -> TestApp {
    TestApp::with_settings(json!({
        "xpack": { "actions": {
            "enabledActionTypes": enabled_types,
            "preconfigured": {
                "my-hook": {
                    "name": "Preconfigured hook",
                    "actionTypeId": ".webhook",
                    "config": { "url": hook_url },
                    "secrets": { "user": "robot", "password": "from-yaml" },
                },
                "shown-log": {
                    "name": "a log",
                    "actionTypeId": ".server-log",
                    "exposeConfig": true,
                },
            },
        } }
    }))
    .await
}

#[tokio::test]
async fn preconfigured_connectors_are_listed_in_every_space_without_config() {
    let app = app_with_preconfigured("http://127.0.0.1:9/", json!(["*"])).await;
    app.create_space("space1").await;
    app.create_space("other").await;
    app.create_connector_in(
        "/s/space1",
        json!({ "name": "Mine", "connector_type_id": ".server-log" }),
    )
    .await;

    let listed = app.get("/s/space1/api/actions/connectors").await.json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|it| it["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a log", "Mine", "Preconfigured hook"]);
    assert_eq!(
        listed[2],
        json!({
            "id": "my-hook",
            "name": "Preconfigured hook",
            "connector_type_id": ".webhook",
            "is_preconfigured": true,
            "is_deprecated": false,
            "is_system_action": false,
            "is_connector_type_deprecated": false,
            "referenced_by_count": 0,
        })
    );
    // exposeConfig shows the config, defaults filled in.
    assert_eq!(listed[0]["config"], json!({}));

    let default_space = app.get("/api/actions/connectors").await.json();
    assert_eq!(default_space.as_array().unwrap().len(), 2);
    let fetched = app.get("/s/other/api/actions/connector/my-hook").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json()["is_preconfigured"], true);
    assert!(!fetched.text.contains("from-yaml"));
}

#[tokio::test]
async fn preconfigured_connectors_cannot_be_changed_deleted_or_shadowed() {
    let app = app_with_preconfigured("http://127.0.0.1:9/", json!(["*"])).await;

    assert_error(
        &app.put("/api/actions/connector/my-hook", json!({ "name": "x" }))
            .await,
        400,
        "Preconfigured action my-hook can not be updated.",
    );
    assert_error(
        &app.delete("/api/actions/connector/my-hook").await,
        400,
        "Preconfigured action my-hook is not allowed to delete.",
    );
    assert_error(
        &app.post(
            "/api/actions/connector/my-hook",
            json!({ "name": "x", "connector_type_id": ".server-log" }),
        )
        .await,
        400,
        "This my-hook already exists in a preconfigured action.",
    );
}

#[tokio::test]
async fn preconfigured_connectors_run_even_when_their_type_is_disabled() {
    let hook = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let app = app_with_preconfigured(&hook.url("/pre"), json!([".server-log"])).await;

    let result = app.execute("my-hook", json!({ "body": "hi" })).await;

    assert_eq!(
        result,
        json!({ "status": "ok", "data": "hi", "connector_id": "my-hook" })
    );
    let request = hook.only_request();
    assert_eq!(request.path, "/pre");
    // robot:from-yaml
    assert_eq!(
        request.header("authorization"),
        Some("Basic cm9ib3Q6ZnJvbS15YW1s")
    );
}

#[tokio::test]
async fn stored_connectors_of_a_disabled_type_are_refused_at_run_time() {
    let hook = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let app = TestApp::start().await;
    let id = app
        .create_connector(json!({ "name": "hook", "connector_type_id": ".webhook", "config": { "url": hook.url("/") } }))
        .await;
    let app = app
        .restart_with(json!({ "xpack": { "actions": { "enabledActionTypes": [".index"] } } }))
        .await;

    let response = app
        .post(
            &format!("/api/actions/connector/{id}/_execute"),
            json!({ "params": {} }),
        )
        .await;

    assert_error(
        &response,
        403,
        "action type \".webhook\" is not enabled in the Kibana config xpack.actions.enabledActionTypes",
    );
    assert!(hook.requests().is_empty());
    // It can still be seen and deleted.
    assert_eq!(
        app.get(&format!("/api/actions/connector/{id}"))
            .await
            .status,
        200
    );
    assert_eq!(
        app.delete(&format!("/api/actions/connector/{id}"))
            .await
            .status,
        204
    );
}
