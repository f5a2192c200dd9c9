//! `switchboard connectors ...` against a real server: tables for people, `--json`
//! for scripts, clear errors and non-zero exit codes.

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, SUPERUSER_PASSWORD, TestApp, process::run_to_exit};

/// Runs `switchboard connectors <args>` against the app as the superuser.
async fn cli(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    cli_as(
        app,
        args,
        &[
            ("SWITCHBOARD_USERNAME", "elastic"),
            ("SWITCHBOARD_PASSWORD", SUPERUSER_PASSWORD),
        ],
    )
    .await
}

async fn cli_as(
    app: &TestApp,
    args: &[&str],
    credentials: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["connectors"];
    all.extend_from_slice(args);
    let mut environment = vec![("SWITCHBOARD_URL", app.base_url.as_str())];
    environment.extend_from_slice(credentials);
    run_to_exit(dir.path(), &all, &environment).await
}

#[tokio::test]
async fn the_cli_creates_lists_runs_updates_and_deletes_a_connector() {
    let sink = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let app = TestApp::start().await;
    let config = json!({ "url": sink.url("/hook") }).to_string();

    let (code, created, stderr) = cli(
        &app,
        &[
            "--json",
            "create",
            "--id",
            "cli-hook",
            "--type",
            ".webhook",
            "--name",
            "from the cli",
            "--config-json",
            &config,
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let created: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(
        (created["id"].clone(), created["name"].clone()),
        (json!("cli-hook"), json!("from the cli"))
    );

    // --url after the subcommand works too.
    let (code, table, _) = cli(&app, &["list", "--url", &app.base_url]).await;
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "ID        NAME          TYPE      PRECONFIGURED  MISSING SECRETS"
    );
    assert_eq!(
        lines[1],
        "cli-hook  from the cli  .webhook  no             no"
    );

    let (code, ran, stderr) = cli(
        &app,
        &["run", "cli-hook", "--params-json", r#"{"body":"hello"}"#],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(ran.starts_with("status          ok\n"), "{ran}");
    assert_eq!(sink.only_request().body, "hello");

    let (code, _, stderr) = cli(
        &app,
        &[
            "update",
            "cli-hook",
            "--name",
            "renamed",
            "--config-json",
            &config,
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let (_, details, _) = cli(&app, &["get", "cli-hook"]).await;
    assert!(
        details.starts_with(
            "id              cli-hook\nname            renamed\ntype            .webhook\n"
        ),
        "{details}"
    );

    let (code, deleted, _) = cli(&app, &["delete", "cli-hook"]).await;
    assert_eq!((code, deleted.as_str()), (Some(0), "Deleted cli-hook.\n"));
    let (_, listed, _) = cli(&app, &["--json", "list"]).await;
    assert_eq!(serde_json::from_str::<Value>(&listed).unwrap(), json!([]));
}

#[tokio::test]
async fn the_cli_says_what_went_wrong_and_exits_non_zero() {
    let app = TestApp::start().await;
    let refused_port = crate::support::closed_port();

    let (missing_code, _, missing) = cli(&app, &["get", "nope"]).await;
    let (invalid_code, _, invalid) = cli(
        &app,
        &[
            "create",
            "--type",
            ".webhook",
            "--name",
            "x",
            "--config-json",
            "{}",
        ],
    )
    .await;
    let (bad_json_code, _, bad_json) = cli(&app, &["run", "x", "--params-json", "{oops"]).await;
    let (anonymous_code, _, anonymous) = cli_as(&app, &["list"], &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let (down_code, _, down) = run_to_exit(
        dir.path(),
        &["connectors", "list"],
        &[(
            "SWITCHBOARD_URL",
            &format!("http://127.0.0.1:{}", refused_port.port),
        )],
    )
    .await;

    assert_eq!(
        (missing_code, missing.as_str()),
        (
            Some(1),
            "switchboard: the server answered 404: Saved object [action/nope] not found\n"
        )
    );
    assert_eq!(
        (invalid_code, invalid.as_str()),
        (
            Some(1),
            "switchboard: the server answered 400: error validating action type config: [url]: expected value of type [string] but got [undefined]\n"
        )
    );
    assert_eq!(bad_json_code, Some(1));
    assert!(
        bad_json.starts_with("switchboard: --params-json is not JSON: "),
        "{bad_json}"
    );
    assert_eq!(
        (anonymous_code, anonymous.as_str()),
        (
            Some(1),
            "switchboard: the server answered 401: Unauthorized (set SWITCHBOARD_USERNAME and SWITCHBOARD_PASSWORD, or SWITCHBOARD_API_KEY)\n"
        )
    );
    assert_eq!(down_code, Some(1));
    assert!(
        down.starts_with(&format!(
            "switchboard: cannot reach http://127.0.0.1:{}: ",
            refused_port.port
        )),
        "{down}"
    );
}

#[tokio::test]
async fn a_failed_run_exits_non_zero_and_types_are_listed() {
    let app = TestApp::start().await;
    let refused_port = crate::support::closed_port();
    let config = json!({ "url": format!("http://127.0.0.1:{}/", refused_port.port) }).to_string();
    cli(
        &app,
        &[
            "create",
            "--id",
            "down",
            "--type",
            ".webhook",
            "--name",
            "down",
            "--config-json",
            &config,
        ],
    )
    .await;

    let (code, out, err) = cli(&app, &["run", "down"]).await;
    let (types_code, types, _) = cli(&app, &["types"]).await;

    assert_eq!(code, Some(1));
    assert!(
        out.starts_with(
            "status          error\nmessage         error calling webhook, request failed\n"
        ),
        "{out}"
    );
    assert!(
        err.starts_with("switchboard: the run failed: error calling webhook, request failed: [ECONNREFUSED] connect ECONNREFUSED "),
        "{err}"
    );
    assert_eq!(types_code, Some(0));
    assert!(types.starts_with("ID "), "{types}");
    assert!(
        types
            .lines()
            .any(|line| line.starts_with(".webhook ") && line.contains("Webhook")),
        "{types}"
    );
}
