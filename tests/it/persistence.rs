//! What is stored survives a restart, and secrets are never stored in plaintext.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::support::{FakeServer, Reply, TestApp};

const PASSWORD: &str = "correct-horse-battery-staple";

#[tokio::test]
async fn connectors_and_their_secrets_survive_a_restart() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let app = TestApp::start().await;
    let id = app
        .create_connector(json!({
            "name": "hook", "connector_type_id": ".webhook",
            "config": { "url": hook.url("/after-restart") },
            "secrets": { "user": "elastic", "password": PASSWORD },
        }))
        .await;
    let before = app
        .get(&format!("/api/actions/connector/{id}"))
        .await
        .json();

    let app = app.restart().await;

    assert_eq!(
        app.get(&format!("/api/actions/connector/{id}"))
            .await
            .json(),
        before
    );
    let result = app.execute(&id, json!({ "body": "still here" })).await;
    assert_eq!(result["status"], "ok");
    let request = hook.only_request();
    let expected = format!("elastic:{PASSWORD}");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {}", base64(expected.as_bytes())).as_str())
    );
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn the_database_holds_no_secret_in_plaintext() {
    let app = TestApp::start().await;
    for n in 0..3 {
        app.create_connector(json!({
            "name": format!("hook {n}"), "connector_type_id": ".webhook",
            "config": { "url": "http://127.0.0.1:9/visible-config" },
            "secrets": { "user": "elastic", "password": PASSWORD },
        }))
        .await;
    }

    if let Some((url, schema)) = app.postgres() {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(&format!(
            "SELECT config, secrets FROM \"{schema}\".connectors"
        ))
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), 3);
        for (config, secrets) in rows {
            assert!(config.contains("visible-config"));
            assert!(!contains(&secrets, PASSWORD.as_bytes()));
            assert!(!contains(&secrets, b"elastic"));
        }
        return;
    }
    let mut scanned = 0;
    for entry in std::fs::read_dir(app.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("switchboard.db")
        {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !contains(&bytes, PASSWORD.as_bytes()),
                "{} holds the password",
                path.display()
            );
            scanned += contains(&bytes, b"visible-config") as usize;
        }
    }
    // The config is stored in the clear, so the files scanned do hold the rows.
    assert!(scanned > 0, "no database file held the connectors");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|it| it == needle)
}

#[tokio::test]
async fn a_generated_key_is_kept_private_and_reused() {
    let app = TestApp::start().await;
    if app.postgres().is_some() {
        // Nodes sharing PostgreSQL must be given a key; none is generated (startup.rs).
        return;
    }
    let key_file = app.data_dir().join("encryption.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.len(), 64);

    let app = app.restart().await;

    assert_eq!(
        std::fs::read_to_string(app.data_dir().join("encryption.key")).unwrap(),
        key
    );
}

#[tokio::test]
async fn secrets_sealed_with_another_key_give_a_clear_error_result() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let app = TestApp::with_settings(json!({
        "xpack": { "encryptedSavedObjects": { "encryptionKey": "first key, at least thirty-two characters" } }
    }))
    .await;
    let id = app
        .create_connector(json!({
            "name": "hook", "connector_type_id": ".webhook",
            "config": { "url": hook.url("/") },
            "secrets": { "user": "elastic", "password": PASSWORD },
        }))
        .await;

    let app = app
        .restart_with(json!({
            "xpack": { "encryptedSavedObjects": { "encryptionKey": "second key, at least thirty-two characters" } }
        }))
        .await;
    let result = app.execute(&id, json!({ "body": "x" })).await;

    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "an error occurred while running the action",
            "errorSource": "framework",
            "connector_id": id,
            "retry": false,
            "service_message": "sealed secrets were encrypted with a key this server does not have; check xpack.encryptedSavedObjects.encryptionKey",
        })
    );
    assert!(hook.requests().is_empty());

    // With the old key kept for decryption only, the connector runs again.
    let app = app
        .restart_with(json!({
            "xpack": { "encryptedSavedObjects": {
                "encryptionKey": "second key, at least thirty-two characters",
                "keyRotation": { "decryptionOnlyKeys": ["first key, at least thirty-two characters"] },
            } }
        }))
        .await;
    assert_eq!(
        app.execute(&id, json!({ "body": "x" })).await["status"],
        "ok"
    );
}

#[tokio::test]
async fn concurrent_updates_and_runs_never_mix_config_and_secrets() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let app = TestApp::start().await;
    let body = |user: &str| {
        json!({
            "name": format!("hook for {user}"),
            "config": { "url": hook.url(&format!("/{user}")) },
            "secrets": { "user": user, "password": format!("{user}-password") },
        })
    };
    let mut create = body("x");
    create["connector_type_id"] = json!(".webhook");
    let id = app.create_connector(create).await;
    let path = format!("/api/actions/connector/{id}");

    let mut work = tokio::task::JoinSet::new();
    for n in 0..40 {
        let base = app.base_url.clone();
        let (path, update) = (path.clone(), body(if n % 2 == 0 { "x" } else { "y" }));
        work.spawn(async move {
            let client = crate::support::superuser_client();
            let request = if n % 4 == 3 {
                client
                    .post(format!("{base}{path}/_execute"))
                    .json(&json!({ "params": { "body": "x" } }))
            } else {
                client.put(format!("{base}{path}")).json(&update)
            };
            request
                .header("kbn-xsrf", "true")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    assert!(work.join_all().await.iter().all(|status| *status == 200));

    for request in hook.requests() {
        let user = request.path.trim_start_matches('/');
        let credentials = format!("{user}:{user}-password");
        assert_eq!(
            request.header("authorization"),
            Some(format!("Basic {}", base64(credentials.as_bytes())).as_str()),
            "{request:?}"
        );
    }
    assert_eq!(hook.requests().len(), 10);
}
