//! `/_security/api_key`: Elasticsearch's API key API, and keys in use.

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    security::{PASSWORD, app_with_users},
    support::{TestApp, TestResponse, app::assert_error, basic},
};

fn api_key(encoded: &Value) -> String {
    format!("ApiKey {}", encoded.as_str().unwrap())
}

/// Asserts a whole Elasticsearch error body.
#[track_caller]
fn assert_es_error(response: &TestResponse, status: u16, kind: &str, reason: &str) {
    assert_eq!(
        (response.status, response.json()),
        (
            status,
            json!({
                "error": { "root_cause": [{ "type": kind, "reason": reason }], "type": kind, "reason": reason },
                "status": status,
            })
        ),
        "{}",
        response.text
    );
}

#[tokio::test]
async fn a_key_is_created_shown_once_used_listed_and_invalidated() {
    let app = app_with_users(json!({})).await;
    let descriptors = json!({ "space1-reader": { "applications": [{
        "application": "kibana-.kibana", "privileges": ["feature_actions.read"], "resources": ["space:space1"],
    }] } });
    let created = app
        .post(
            "/_security/api_key",
            json!({ "name": "reader", "role_descriptors": descriptors, "metadata": { "team": "ops" } }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let created = created.json();
    let fields: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["id", "name", "api_key", "encoded"]);
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["api_key"].as_str().unwrap(),
    );
    assert_eq!(
        STANDARD
            .decode(created["encoded"].as_str().unwrap())
            .unwrap(),
        format!("{id}:{secret}").into_bytes()
    );

    let key = api_key(&created["encoded"]);
    let listed = app
        .call_as(&key, Method::GET, "/s/space1/api/actions/connectors", None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_error(
        &app.call_as(
            &key,
            Method::POST,
            "/s/space1/api/actions/connector",
            Some(json!({ "name": "x", "connector_type_id": ".server-log" })),
        )
        .await,
        403,
        "Unauthorized to create a \".server-log\" action",
    );
    assert_error(
        &app.call_as(&key, Method::GET, "/s/space2/api/actions/connectors", None)
            .await,
        403,
        "Unauthorized to get actions",
    );

    let shown = app.get(&format!("/_security/api_key?id={id}")).await;
    assert!(!shown.text.contains(secret) && !shown.text.contains("argon2"));
    let mut entry = shown.json()["api_keys"][0].clone();
    assert!(entry["creation"].as_i64().unwrap() > 1_700_000_000_000);
    entry["creation"] = json!("<millis>");
    assert_eq!(
        entry,
        json!({
            "id": id, "name": "reader", "type": "rest", "creation": "<millis>",
            "invalidated": false, "username": "elastic", "realm": "native", "realm_type": "native",
            "metadata": { "team": "ops" }, "role_descriptors": descriptors,
        })
    );

    let invalidated = app
        .delete_with_body("/_security/api_key", json!({ "ids": [id] }))
        .await;
    assert_eq!(
        invalidated.json(),
        json!({ "invalidated_api_keys": [id], "previously_invalidated_api_keys": [], "error_count": 0 })
    );
    // At once, though the key was verified and remembered a moment ago.
    assert_error(
        &app.call_as(&key, Method::GET, "/s/space1/api/actions/connectors", None)
            .await,
        401,
        "Unauthorized",
    );
    let again = app
        .delete_with_body("/_security/api_key", json!({ "ids": [id] }))
        .await;
    assert_eq!(
        again.json(),
        json!({ "invalidated_api_keys": [], "previously_invalidated_api_keys": [], "error_count": 0 })
    );
    let shown = app.get(&format!("/_security/api_key?id={id}")).await.json();
    assert_eq!(shown["api_keys"][0]["invalidated"], true);
    assert!(shown["api_keys"][0]["invalidation"].is_i64());
    let active = app
        .get("/_security/api_key?name=read*&active_only=true")
        .await;
    assert_eq!(active.json(), json!({ "api_keys": [] }));
}

#[tokio::test]
async fn a_key_expires_and_never_exceeds_its_owner() {
    let app = app_with_users(json!({})).await;
    let created = app
        .post(
            "/_security/api_key",
            json!({ "name": "daily", "expiration": "1d" }),
        )
        .await
        .json();
    let shown = app
        .get(&format!(
            "/_security/api_key?id={}",
            created["id"].as_str().unwrap()
        ))
        .await
        .json();
    let entry = &shown["api_keys"][0];
    assert_eq!(entry["expiration"], created["expiration"]);
    assert_eq!(
        entry["expiration"].as_i64().unwrap() - entry["creation"].as_i64().unwrap(),
        86_400_000
    );

    // Made with the CLI for alice (all in space1), asking for everything everywhere.
    let everything = json!({ "greedy": { "applications": [{
        "application": "kibana-.kibana", "privileges": ["all"], "resources": ["*"],
    }] } });
    let output = app
        .admin(
            &[
                "api-keys",
                "create",
                "--owner",
                "alice",
                "--name",
                "alice-ci",
                "--role-descriptors",
                &everything.to_string(),
            ],
            "",
        )
        .await;
    let created: Value = serde_json::from_str(output.trim()).unwrap();
    let key = api_key(&created["encoded"]);
    let made = app
        .call_as(
            &key,
            Method::POST,
            "/s/space1/api/actions/connector",
            Some(json!({ "name": "x", "connector_type_id": ".server-log" })),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    assert_error(
        &app.call_as(&key, Method::GET, "/s/space2/api/actions/connectors", None)
            .await,
        403,
        "Unauthorized to get actions",
    );
    // Keys do not manage keys.
    assert_es_error(
        &app.call_as(&key, Method::GET, "/_security/api_key", None)
            .await,
        403,
        "security_exception",
        "action [cluster:admin/xpack/security/api_key/get] is not allowed with an API key; authenticate as a user to manage API keys",
    );

    // Invalidated from the CLI before its first use: refused at once.
    let output = app
        .admin(
            &["api-keys", "create", "--owner", "bob", "--name", "bob-ci"],
            "",
        )
        .await;
    let unused: Value = serde_json::from_str(output.trim()).unwrap();
    let listed = app.admin(&["api-keys", "list"], "").await;
    assert!(listed.contains("bob-ci\tbob\tactive"), "{listed}");
    app.admin(
        &["api-keys", "invalidate", unused["id"].as_str().unwrap()],
        "",
    )
    .await;
    assert_error(
        &app.call_as(
            &api_key(&unused["encoded"]),
            Method::GET,
            "/s/space1/api/actions/connectors",
            None,
        )
        .await,
        401,
        "Unauthorized",
    );
}

#[tokio::test]
async fn requests_are_validated_then_authorized_like_elasticsearch() {
    let app = app_with_users(json!({})).await;
    let alice = basic("alice", PASSWORD);
    let call = |body: Value| {
        let alice = alice.clone();
        let app: &TestApp = &app;
        async move {
            app.call_as(&alice, Method::POST, "/_security/api_key", Some(body))
                .await
        }
    };
    assert_es_error(
        &call(json!({})).await,
        400,
        "action_request_validation_exception",
        "Validation Failed: 1: api key name is required;",
    );
    assert_es_error(
        &call(json!({ "name": "_hidden" })).await,
        400,
        "action_request_validation_exception",
        "Validation Failed: 1: api key name may not begin with an underscore;",
    );
    assert_es_error(
        &call(json!({ "name": "k", "expiration": "1y" })).await,
        400,
        "parse_exception",
        "failed to parse setting [expiration] with value [1y] as a time value: unit is missing or unrecognized",
    );
    assert_es_error(
        &call(json!({ "name": "k", "colour": "red" })).await,
        400,
        "x_content_parse_exception",
        "[api_key_request] [colour]: definition for this key is missing",
    );
    assert_es_error(
        &call(json!({ "name": "k" })).await,
        403,
        "security_exception",
        "action [cluster:admin/xpack/security/api_key/create] is unauthorized for user [alice] with effective roles [all_space1], this action is granted by the cluster privileges [manage_api_key,manage_security,all]",
    );
    assert_es_error(
        &app.delete_with_body("/_security/api_key", json!({})).await,
        400,
        "action_request_validation_exception",
        "Validation Failed: 1: One of [api key id(s), api key name, username, realm name] must be specified if [owner] flag is false;",
    );
    assert_es_error(
        &app.get("/_security/api_key?size=1").await,
        400,
        "illegal_argument_exception",
        "request [/_security/api_key] contains unrecognized parameter: [size]",
    );
    let missing = app.get("/_security/api_key?id=nope").await;
    assert_eq!(
        (missing.status, missing.json()),
        (404, json!({ "api_keys": [] }))
    );

    let anonymous = app
        .send(app.anonymous(Method::GET, "/_security/api_key"))
        .await;
    let challenge =
        json!({ "WWW-Authenticate": ["Basic realm=\"security\", charset=\"UTF-8\"", "ApiKey"] });
    let reason = "missing authentication credentials for REST request [/_security/api_key]";
    assert_eq!(
        (anonymous.status, anonymous.json()),
        (
            401,
            json!({
                "error": {
                    "root_cause": [{ "type": "security_exception", "reason": reason, "header": challenge }],
                    "type": "security_exception", "reason": reason, "header": challenge,
                },
                "status": 401,
            })
        )
    );
}

#[tokio::test]
async fn cluster_all_in_a_key_grants_no_kibana_privileges() {
    let app = app_with_users(json!({})).await;
    let created = app
        .post(
            "/_security/api_key",
            json!({ "name": "narrow", "role_descriptors": { "r": {
                "cluster": ["all"],
                "applications": [{ "application": "kibana-.kibana",
                                   "privileges": ["feature_actions.read"], "resources": ["space:space1"] }],
            } } }),
        )
        .await
        .json();
    let key = api_key(&created["encoded"]);
    assert_eq!(
        app.call_as(&key, Method::GET, "/s/space1/api/actions/connectors", None)
            .await
            .status,
        200
    );
    assert_error(
        &app.call_as(
            &key,
            Method::POST,
            "/s/space1/api/actions/connector",
            Some(json!({ "name": "x", "connector_type_id": ".server-log" })),
        )
        .await,
        403,
        "Unauthorized to create a \".server-log\" action",
    );
    assert_error(
        &app.call_as(&key, Method::GET, "/api/actions/connectors", None)
            .await,
        403,
        "Unauthorized to get actions",
    );
}
