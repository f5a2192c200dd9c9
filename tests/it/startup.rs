//! The binary as an operator runs it: defaults, settings, and refusals at start-up.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::support::{
    database::record_future_migration,
    process::{ServerProcess, run_to_exit},
};

#[tokio::test]
async fn serve_with_no_configuration_keeps_its_data_under_data() {
    let dir = tempfile::tempdir().unwrap();
    // Port 0 so tests never collide; everything else is the default, the first
    // superuser's password included.
    let mut server =
        ServerProcess::serve_as_given(dir.path(), &[], &[("SWITCHBOARD_SERVER_PORT", "0")]).await;

    assert!(
        server.base_url.starts_with("http://127.0.0.1:"),
        "{}",
        server.base_url
    );
    let key = dir.path().join("data/encryption.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(dir.path().join("data/switchboard.db").exists());
    server.wait_for_line("Generated a secrets key").await;

    // Security is on: the password made up for `elastic` is printed once, and is
    // what lets a request in.
    let url = format!("{}/api/actions/connectors", server.base_url);
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    server
        .wait_for_line("Created the superuser \"elastic\"")
        .await;
    let output = server.output();
    let lines: Vec<&str> = output.lines().collect();
    let shown = lines
        .iter()
        .position(|line| line.contains("Created the superuser"))
        .unwrap();
    let password = lines[shown + 2].trim();
    assert_eq!(password.len(), 24, "{output}");
    let response = reqwest::Client::new()
        .get(&url)
        .basic_auth("elastic", Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Shown on its own line and in the example, and in no log line.
    let mentions: Vec<&&str> = lines
        .iter()
        .filter(|line| line.contains(password))
        .collect();
    assert_eq!(mentions.len(), 2, "{output}");
    assert!(mentions[1].starts_with("Try: curl -u elastic:"), "{output}");
    server.stop().await;

    // A second start keeps the user and shows no password.
    let mut again =
        ServerProcess::serve_as_given(dir.path(), &[], &[("SWITCHBOARD_SERVER_PORT", "0")]).await;
    let response = reqwest::Client::new()
        .get(format!("{}/api/actions/connectors", again.base_url))
        .basic_auth("elastic", Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    again.wait_for_line("Store opened").await;
    assert!(!again.output().contains("Created the superuser"));
    again.stop().await;
}

#[tokio::test]
async fn settings_come_from_a_yaml_file_with_kibana_names_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("switchboard.yml"),
        "server.host: 127.0.0.1\nserver:\n  port: 1\npath.data: ./elsewhere\nxpack.encryptedSavedObjects.encryptionKey: \"a key that is at least 32 characters long\"\nxpack.actions:\n  enabledActionTypes: [\".server-log\"]\n",
    )
    .unwrap();

    // The environment wins over the file (port 1 would fail to bind).
    let server = ServerProcess::serve(
        dir.path(),
        &["--config", "switchboard.yml"],
        &[("SWITCHBOARD_SERVER_PORT", "0")],
    )
    .await;

    assert!(dir.path().join("elsewhere/switchboard.db").exists());
    assert!(!dir.path().join("elsewhere/encryption.key").exists());
    let types: serde_json::Value = crate::support::superuser_client()
        .get(format!("{}/api/actions/connector_types", server.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(types[0]["enabled"], json!(true));
    assert_eq!(types[2]["enabled"], json!(false));
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_setting_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "server.port: 70000\n",
            "invalid setting server.port: must be a port number from 0 to 65535",
        ),
        (
            "xpack.encryptedSavedObjects.encryptionKey: tooshort\n",
            "invalid setting xpack.encryptedSavedObjects.encryptionKey: value has length [8] but it must have a minimum length of [32].",
        ),
        (
            "server.prot: 5601\n",
            "invalid setting server.prot: definition for this key is missing",
        ),
        (
            "xpack.actions.responseTimeout: soon\n",
            "invalid setting xpack.actions.responseTimeout: failed to parse [soon] as a duration",
        ),
        (
            "xpack.actions.preconfigured:\n  my-hook:\n    name: hook\n    actionTypeId: .webhook\n    config: {}\n",
            "invalid setting xpack.actions.preconfigured.my-hook: error validating action type config: [url]: expected value of type [string] but got [undefined]",
        ),
        (
            "xpack.actions.preconfigured:\n  my-slack:\n    name: slack\n    actionTypeId: .nope\n",
            "invalid setting xpack.actions.preconfigured.my-slack.actionTypeId: connector type \".nope\" is not supported",
        ),
    ];
    for (yaml, message) in cases {
        std::fs::write(
            dir.path().join("bad.yml"),
            format!("server.port: 0\n{yaml}"),
        )
        .unwrap();
        let (code, _, stderr) =
            run_to_exit(dir.path(), &["serve", "--config", "bad.yml"], &[]).await;
        assert_eq!(code, Some(78), "{yaml}: {stderr}");
        assert!(
            stderr.contains(message),
            "{yaml}: expected {message:?} in {stderr:?}"
        );
    }

    let (code, _, stderr) =
        run_to_exit(dir.path(), &["serve"], &[("SWITCHBOARD_SERVER_PORTT", "1")]).await;
    assert_eq!(code, Some(78));
    assert!(
        stderr.contains("SWITCHBOARD_SERVER_PORTT: not a known setting"),
        "{stderr}"
    );
}

#[tokio::test]
async fn migrate_prepares_the_store_and_serve_refuses_a_schema_from_a_newer_binary() {
    let dir = tempfile::tempdir().unwrap();

    let (code, stdout, stderr) = run_to_exit(dir.path(), &["migrate"], &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "switchboard: migrations applied (sqlite).");

    record_future_migration(&dir.path().join("data/switchboard.db")).await;

    let (code, _, stderr) =
        run_to_exit(dir.path(), &["serve"], &[("SWITCHBOARD_SERVER_PORT", "0")]).await;
    assert_eq!(code, Some(78));
    assert!(
        stderr.contains("the database schema is at version 9999, newer than this binary knows (up to 3): run a newer Switchboard"),
        "{stderr}"
    );
}

#[tokio::test]
async fn migrate_works_on_postgres_and_an_unreachable_database_stops_start_up() {
    let Some(url) = crate::support::database::postgres_url(
        "migrate_works_on_postgres_and_an_unreachable_database_stops_start_up",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = crate::support::database::fresh_schema();
    let (code, stdout, stderr) = run_to_exit(
        dir.path(),
        &["migrate"],
        &[
            ("SWITCHBOARD_DATABASE_URL", &url),
            ("SWITCHBOARD_DATABASE_SCHEMA", &schema),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "switchboard: migrations applied (postgres).");

    let closed = crate::support::closed_port();
    let unreachable = format!(
        "postgres://postgres:hunter2@127.0.0.1:{}/postgres",
        closed.port
    );
    let (code, _, stderr) = run_to_exit(
        dir.path(),
        &["serve"],
        &[
            ("SWITCHBOARD_SERVER_PORT", "0"),
            ("SWITCHBOARD_DATABASE_URL", &unreachable),
            ("SWITCHBOARD_DATABASE_CONNECTTIMEOUT", "1s"),
        ],
    )
    .await;
    assert_eq!(code, Some(78));
    assert!(
        stderr.contains("xpack.encryptedSavedObjects.encryptionKey: must be set when database.url is set, the same on every node"),
        "{stderr}"
    );
    let (code, _, stderr) = run_to_exit(
        dir.path(),
        &["serve"],
        &[
            ("SWITCHBOARD_SERVER_PORT", "0"),
            ("SWITCHBOARD_DATABASE_URL", &unreachable),
            ("SWITCHBOARD_DATABASE_CONNECTTIMEOUT", "1s"),
            (
                "SWITCHBOARD_XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY",
                "a key of at least thirty-two characters",
            ),
        ],
    )
    .await;
    assert_eq!(code, Some(78));
    assert!(
        stderr.contains("cannot open the database: the database is unavailable"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn a_second_process_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::serve(dir.path(), &[], &[("SWITCHBOARD_SERVER_PORT", "0")]).await;

    let (code, _, stderr) =
        run_to_exit(dir.path(), &["serve"], &[("SWITCHBOARD_SERVER_PORT", "0")]).await;

    assert_eq!(code, Some(78));
    assert!(
        stderr.contains("is in use by another Switchboard process; each process needs its own path.data (or share PostgreSQL)"),
        "{stderr}"
    );
    first.stop().await;
}
