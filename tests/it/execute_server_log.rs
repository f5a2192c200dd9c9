//! `.server-log` writes to the server's own log: seen on the process's output.

use serde_json::{Value, json};

use crate::support::process::ServerProcess;

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Value {
    client
        .request(method, url)
        .header("kbn-xsrf", "true")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn messages_are_logged_at_their_level_on_one_line_and_secrets_never_are() {
    let dir = tempfile::tempdir().unwrap();
    let mut server =
        ServerProcess::serve(dir.path(), &[], &[("SWITCHBOARD_SERVER_PORT", "0")]).await;
    let client = crate::support::superuser_client();
    let base = server.base_url.clone();

    let created = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/actions/connector"),
        json!({ "name": "log", "connector_type_id": ".server-log" }),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let result = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/actions/connector/{id}/_execute"),
        json!({ "params": { "level": "warn", "message": "disk full\nFAKE ERROR forged line" } }),
    )
    .await;
    assert_eq!(result, json!({ "status": "ok", "connector_id": id }));

    let line = server.wait_for_line("Server log: disk full").await;
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("Server log: disk full;FAKE ERROR forged line"),
        "{line}"
    );

    let info = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/actions/connector/{id}/_execute"),
        json!({ "params": { "message": "default level" } }),
    )
    .await;
    assert_eq!(info["status"], "ok");
    assert!(
        server
            .wait_for_line("Server log: default level")
            .await
            .contains("INFO")
    );

    // A webhook whose call fails: its password must not show up in the log.
    let hook = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/actions/connector"),
        json!({
            "name": "hook", "connector_type_id": ".webhook",
            "config": { "url": "http://127.0.0.1:9/" },
            "secrets": { "user": "elastic", "password": "never-log-this-password" },
        }),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap();
    let failed = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/actions/connector/{hook_id}/_execute"),
        json!({ "params": { "body": "x" } }),
    )
    .await;
    assert_eq!(failed["status"], "error");
    server.wait_for_line("Connector run failed.").await;
    let output = server.output();
    assert!(!output.contains("never-log-this-password"));
    // Nor in the form it takes on the wire (base64 of elastic:never-log-this-password).
    assert!(!output.contains("ZWxhc3RpYzpuZXZlci1sb2ctdGhpcy1wYXNzd29yZA"));
    server.stop().await;
}
