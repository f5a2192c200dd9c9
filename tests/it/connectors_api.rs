//! Create, update, get, delete and list through HTTP, with Kibana's bodies and errors.

use serde_json::{Value, json};

use crate::support::{TestApp, app::assert_error};

fn without_id(mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("id");
    body
}

fn index_connector() -> Value {
    json!({ "name": "my-connector", "connector_type_id": ".index", "config": { "index": "test-index" } })
}

#[tokio::test]
async fn create_answers_the_connector_with_config_defaults_filled_in() {
    let app = TestApp::start().await;

    let response = app.post("/api/actions/connector", index_connector()).await;

    assert_eq!(response.status, 200);
    let body = response.json();
    let id = body["id"].as_str().unwrap();
    assert_eq!(uuid_version(id), Some('4'), "id: {id}");
    assert_eq!(
        without_id(body),
        json!({
            "name": "my-connector",
            "config": { "index": "test-index", "refresh": false, "executionTimeField": null },
            "connector_type_id": ".index",
            "is_missing_secrets": false,
            "is_preconfigured": false,
            "is_deprecated": false,
            "is_system_action": false,
            "is_connector_type_deprecated": false,
        })
    );
}

fn uuid_version(id: &str) -> Option<char> {
    (id.len() == 36).then(|| id.chars().nth(14)).flatten()
}

#[tokio::test]
async fn create_with_id_uses_it_and_a_second_create_conflicts() {
    let app = TestApp::start().await;

    let first = app
        .post("/api/actions/connector/my-index", index_connector())
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["id"], "my-index");

    let second = app
        .post("/api/actions/connector/my-index", index_connector())
        .await;
    assert_error(&second, 409, "Saved object [action/my-index] conflict");

    // Ids are global, as Kibana's are: another space cannot take it either.
    app.create_space("other").await;
    let other_space = app
        .post("/s/other/api/actions/connector/my-index", index_connector())
        .await;
    assert_error(&other_space, 409, "Saved object [action/my-index] conflict");
    assert_eq!(
        app.get("/api/actions/connector/my-index").await.json()["name"],
        "my-connector"
    );
}

#[tokio::test]
async fn get_answers_what_create_answered() {
    let app = TestApp::start().await;
    let created = app
        .post("/api/actions/connector", index_connector())
        .await
        .json();
    let id = created["id"].as_str().unwrap();

    let fetched = app.get(&format!("/api/actions/connector/{id}")).await;

    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), created);
}

#[tokio::test]
async fn missing_connectors_are_404_with_kibanas_message() {
    let app = TestApp::start().await;

    assert_error(
        &app.get("/api/actions/connector/nope").await,
        404,
        "Saved object [action/nope] not found",
    );
    assert_error(
        &app.put("/api/actions/connector/nope", json!({ "name": "x" }))
            .await,
        404,
        "Saved object [action/nope] not found",
    );
    assert_error(
        &app.delete("/api/actions/connector/nope").await,
        404,
        "Saved object [action/nope] not found",
    );
    assert_error(
        &app.post(
            "/api/actions/connector/nope/_execute",
            json!({ "params": {} }),
        )
        .await,
        404,
        "Saved object [action/nope] not found",
    );
}

#[tokio::test]
async fn delete_answers_204_with_an_empty_body_and_the_connector_is_gone() {
    let app = TestApp::start().await;
    let id = app.create_connector(index_connector()).await;

    let response = app.delete(&format!("/api/actions/connector/{id}")).await;

    assert_eq!(response.status, 204);
    assert_eq!(response.text, "");
    assert_error(
        &app.get(&format!("/api/actions/connector/{id}")).await,
        404,
        &format!("Saved object [action/{id}] not found"),
    );
    assert_eq!(app.get("/api/actions/connectors").await.json(), json!([]));
}

#[tokio::test]
async fn update_replaces_name_config_and_secrets() {
    let app = TestApp::start().await;
    let id = app
        .create_connector(json!({
            "name": "hook",
            "connector_type_id": ".webhook",
            "config": { "url": "http://127.0.0.1:9/a", "headers": { "x-a": "1" } },
            "secrets": { "user": "elastic", "password": "changeme" },
        }))
        .await;

    let response = app
        .put(
            &format!("/api/actions/connector/{id}"),
            json!({ "name": "renamed", "config": { "url": "http://127.0.0.1:9/b", "method": "put", "hasAuth": false } }),
        )
        .await;

    assert_eq!(response.status, 200, "{}", response.text);
    let expected = json!({
        "id": id,
        "name": "renamed",
        "config": { "url": "http://127.0.0.1:9/b", "method": "put", "headers": null, "hasAuth": false },
        "connector_type_id": ".webhook",
        "is_missing_secrets": false,
        "is_preconfigured": false,
        "is_deprecated": false,
        "is_system_action": false,
        "is_connector_type_deprecated": false,
    });
    assert_eq!(response.json(), expected);
    assert_eq!(
        app.get(&format!("/api/actions/connector/{id}"))
            .await
            .json(),
        expected
    );
}

#[tokio::test]
async fn update_refuses_a_type_change_and_bad_bodies_and_keeps_the_connector() {
    let app = TestApp::start().await;
    let id = app.create_connector(index_connector()).await;
    let path = format!("/api/actions/connector/{id}");
    let before = app.get(&path).await.json();

    assert_error(
        &app.put(
            &path,
            json!({ "name": "x", "connector_type_id": ".webhook" }),
        )
        .await,
        400,
        "[request body.connector_type_id]: definition for this key is missing",
    );
    assert_error(
        &app.put(&path, json!({ "name": "x", "config": null })).await,
        400,
        "[request body.config]: expected value of type [object] but got [null]",
    );
    assert_error(
        &app.put(&path, json!({})).await,
        400,
        "[request body.name]: expected value of type [string] but got [undefined]",
    );
    // Update is a full replace: without `index` the config is invalid.
    assert_error(
        &app.put(&path, json!({ "name": "x" })).await,
        400,
        "error validating action type config: [index]: expected value of type [string] but got [undefined]",
    );
    assert_eq!(app.get(&path).await.json(), before);
}

#[tokio::test]
async fn create_validates_the_body_with_kibanas_messages() {
    let app = TestApp::start().await;
    let cases = [
        (
            json!({}),
            "[request body.name]: expected value of type [string] but got [undefined]",
        ),
        (
            json!({ "name": "x" }),
            "[request body.connector_type_id]: expected value of type [string] but got [undefined]",
        ),
        (
            json!({ "name": 5, "connector_type_id": ".index" }),
            "[request body.name]: expected value of type [string] but got [number]",
        ),
        (
            json!({ "name": "  ", "connector_type_id": ".index" }),
            "[request body.name]: value '' is not valid",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".index", "config": { "index": "" } }),
            "[request body.config.index]: value '' is not valid",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".webhook", "config": { "url": "http://127.0.0.1/", "headers": { "a": " " } } }),
            "[request body.config.headers]: value '' is not valid",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".webhook", "config": { "url": "http://127.0.0.1/" }, "secrets": { "user": "" } }),
            "[request body.secrets.user]: value '' is not valid",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".index", "config": [] }),
            "[request body.config]: expected value of type [object] but got [Array]",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".index", "extra": true }),
            "[request body.extra]: definition for this key is missing",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".nope" }),
            "Action type \".nope\" is not registered.",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".index" }),
            "error validating action type config: [index]: expected value of type [string] but got [undefined]",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".index", "config": { "index": "i", "refresh": "sometimes" } }),
            "error validating action type config: [refresh]: expected value of type [boolean] but got [string]",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".index", "config": { "index": "i", "shards": 1 } }),
            "error validating action type config: [shards]: definition for this key is missing",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".index", "config": { "index": "i" }, "secrets": { "a": "b" } }),
            "error validating action type secrets: [a]: definition for this key is missing",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".webhook", "config": { "url": "http://127.0.0.1/" }, "secrets": { "user": "u" } }),
            "error validating action type secrets: must specify one of the following schemas: user and password; crt and key (with optional password); or pfx (with optional password)",
        ),
        (
            json!({ "name": "x", "connector_type_id": ".webhook", "config": { "url": "nope" } }),
            "error validating action type config: error configuring webhook action: unable to parse url: TypeError: Invalid URL",
        ),
    ];
    for (body, message) in cases {
        let response = app.post("/api/actions/connector", body.clone()).await;
        assert_error(&response, 400, message);
    }
    assert_eq!(app.get("/api/actions/connectors").await.json(), json!([]));
}

#[tokio::test]
async fn values_kibana_coerces_are_stored_in_their_proper_type() {
    let app = TestApp::start().await;

    let response = app
        .post(
            "/api/actions/connector",
            json!({ "name": "x", "connector_type_id": ".index", "config": { "index": "i", "refresh": "true" } }),
        )
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(response.json()["config"]["refresh"], true);
}

#[tokio::test]
async fn list_sorts_by_name_ignoring_case_and_accents_and_counts_references() {
    let app = TestApp::start().await;
    for name in ["b connector", "Änderung", "A connector", "c connector"] {
        app.create_connector(json!({ "name": name, "connector_type_id": ".server-log" }))
            .await;
    }

    let response = app.get("/api/actions/connectors").await;

    assert_eq!(response.status, 200);
    let list = response.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|it| it["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["A connector", "Änderung", "b connector", "c connector"]
    );
    assert_eq!(list[0]["referenced_by_count"], 0);
    assert_eq!(list[0]["config"], json!({}));
    assert_eq!(list[0]["is_missing_secrets"], false);
}

#[tokio::test]
async fn unicode_round_trips() {
    let app = TestApp::start().await;
    let name = "Алерт 🚨 \u{2028} \"quoted\" \u{1}";
    let id = app
        .create_connector(json!({
            "name": name,
            "connector_type_id": ".webhook",
            "config": { "url": "http://127.0.0.1:9/ünïcode", "headers": { "x-note": "日本語" } },
        }))
        .await;

    let fetched = app
        .get(&format!("/api/actions/connector/{id}"))
        .await
        .json();

    assert_eq!(fetched["name"], name);
    assert_eq!(fetched["config"]["headers"]["x-note"], "日本語");
}

#[tokio::test]
async fn nul_characters_are_refused_in_names_and_ids_on_every_backend() {
    let app = TestApp::start().await;
    assert_error(
        &app.post(
            "/api/actions/connector",
            json!({ "name": "a\u{0}b", "connector_type_id": ".server-log" }),
        )
        .await,
        400,
        "[request body.name]: value must not contain the NUL character",
    );
    assert_error(
        &app.get("/api/actions/connector/a%00b").await,
        400,
        "[request params.id]: value must not contain the NUL character",
    );
    // Elsewhere (config) it is kept, JSON-escaped.
    let id = app
        .create_connector(json!({
            "name": "x", "connector_type_id": ".webhook",
            "config": { "url": "http://127.0.0.1:9/", "headers": { "x-odd": "a\u{0}b" } },
        }))
        .await;
    let fetched = app
        .get(&format!("/api/actions/connector/{id}"))
        .await
        .json();
    assert_eq!(fetched["config"]["headers"]["x-odd"], "a\u{0}b");
}

#[tokio::test]
async fn huge_arrays_are_answered_cleanly() {
    let app = TestApp::start().await;
    let huge: Vec<Value> = (0..100_000).map(Value::from).collect();

    let response = app
        .post(
            "/api/actions/connector",
            json!({ "name": "x", "connector_type_id": ".index", "config": { "index": "i", "shards": huge } }),
        )
        .await;

    assert_error(
        &response,
        400,
        "error validating action type config: [shards]: definition for this key is missing",
    );
    assert_eq!(app.get("/api/actions/connectors").await.json(), json!([]));
}

#[tokio::test]
async fn secrets_are_never_in_a_response() {
    let app = TestApp::start().await;
    let secret = "hunter2-very-secret";
    let created = app
        .post(
            "/api/actions/connector",
            json!({
                "name": "hook",
                "connector_type_id": ".webhook",
                "config": { "url": "http://127.0.0.1:9/" },
                "secrets": { "user": "elastic", "password": secret },
            }),
        )
        .await;
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let updated = app
        .put(
            &format!("/api/actions/connector/{id}"),
            json!({ "name": "hook", "config": { "url": "http://127.0.0.1:9/" }, "secrets": { "user": "elastic", "password": secret } }),
        )
        .await;
    let fetched = app.get(&format!("/api/actions/connector/{id}")).await;
    let listed = app.get("/api/actions/connectors").await;

    for response in [&created, &updated, &fetched, &listed] {
        assert_eq!(response.status, 200);
        assert!(!response.text.contains(secret), "{}", response.text);
        assert!(!response.text.contains("\"secrets\""), "{}", response.text);
    }
}
