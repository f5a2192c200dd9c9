//! Authentication and Kibana's per-space feature privileges, through HTTP: who may
//! do what, in which space, with Kibana's statuses and texts.

use std::{net::IpAddr, time::Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, SUPERUSER_PASSWORD, TestApp, app::assert_error, basic};

pub const PASSWORD: &str = "a-good-password";

/// A test app with spaces `space1` and `space2`, and users made with the CLI:
/// `alice` (`all` in space1), `bob` (`read` in space1), `nobody` (no roles).
pub async fn app_with_users(extra_settings: Value) -> TestApp {
    let app = TestApp::with_settings(extra_settings).await;
    app.create_space("space1").await;
    app.create_space("space2").await;
    let role = |level: &str| {
        json!({ "kibana": [{ "feature": { "actions": [level] }, "spaces": ["space1"] }] })
            .to_string()
    };
    app.admin(&["roles", "put", "all_space1", "--json", &role("all")], "")
        .await;
    app.admin(
        &["roles", "put", "read_space1", "--json", &role("read")],
        "",
    )
    .await;
    for (user, roles) in [
        ("alice", "all_space1"),
        ("bob", "read_space1"),
        ("nobody", ""),
    ] {
        let mut args = vec!["users", "add", user, "--password-stdin"];
        if !roles.is_empty() {
            args.extend(["--roles", roles]);
        }
        app.admin(&args, &format!("{PASSWORD}\n")).await;
    }
    app
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Superuser,
    AllInSpace1,
    ReadInSpace1,
    NoPrivileges,
    WrongPassword,
    NoHeader,
    ExpiredKey,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Create,
    Update,
    Get,
    List,
    Delete,
    Execute,
    Types,
}

/// What Kibana answers: a status, and for refusals the message.
fn expected(who: Who, op: Op, space: &str) -> (u16, Option<String>) {
    let ok = match op {
        Op::Delete => 204,
        _ => 200,
    };
    let refusal = match op {
        Op::Create => "Unauthorized to create a \".server-log\" action",
        Op::Update => "Unauthorized to update actions",
        Op::Get | Op::List => "Unauthorized to get actions",
        Op::Delete => "Unauthorized to delete actions",
        Op::Execute => "Unauthorized to execute a \".server-log\" action",
        Op::Types => "",
    };
    let allowed = match who {
        Who::WrongPassword | Who::NoHeader | Who::ExpiredKey => {
            return (401, Some("Unauthorized".to_owned()));
        }
        _ if op == Op::Types => true,
        Who::Superuser => true,
        Who::AllInSpace1 => space == "space1",
        Who::ReadInSpace1 => space == "space1" && matches!(op, Op::Get | Op::List | Op::Execute),
        Who::NoPrivileges => false,
    };
    if allowed {
        (ok, None)
    } else {
        (403, Some(refusal.to_owned()))
    }
}

/// Each failing login comes from an address of its own, so the slow-down for
/// repeated failures (tested below) stays out of the matrix.
fn client_from(address: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, address]))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_privilege_matrix_matches_kibana() {
    let app = app_with_users(json!({})).await;
    let expired = app
        .post(
            "/_security/api_key",
            json!({ "name": "short-lived", "expiration": "1ms" }),
        )
        .await
        .json();
    let headers = |who: Who| -> Option<String> {
        match who {
            Who::Superuser => Some(basic("elastic", SUPERUSER_PASSWORD)),
            Who::AllInSpace1 => Some(basic("alice", PASSWORD)),
            Who::ReadInSpace1 => Some(basic("bob", PASSWORD)),
            Who::NoPrivileges => Some(basic("nobody", PASSWORD)),
            Who::WrongPassword => Some(basic("elastic", "not-the-password")),
            Who::NoHeader => None,
            Who::ExpiredKey => Some(format!("ApiKey {}", expired["encoded"].as_str().unwrap())),
        }
    };
    let mut next_address = 10u8;
    let mut cases = 0;
    for who in [
        Who::Superuser,
        Who::AllInSpace1,
        Who::ReadInSpace1,
        Who::NoPrivileges,
        Who::WrongPassword,
        Who::NoHeader,
        Who::ExpiredKey,
    ] {
        for space in ["space1", "space2"] {
            for op in [
                Op::Create,
                Op::Update,
                Op::Get,
                Op::List,
                Op::Delete,
                Op::Execute,
                Op::Types,
            ] {
                // A connector of the superuser's, made fresh for each case.
                let victim = app
                    .create_connector_in(
                        &format!("/s/{space}"),
                        json!({ "name": "victim", "connector_type_id": ".server-log" }),
                    )
                    .await;
                let base = format!("/s/{space}/api/actions");
                let (method, path, body) = match op {
                    Op::Create => (
                        Method::POST,
                        format!("{base}/connector"),
                        Some(json!({ "name": "new", "connector_type_id": ".server-log" })),
                    ),
                    Op::Update => (
                        Method::PUT,
                        format!("{base}/connector/{victim}"),
                        Some(json!({ "name": "renamed" })),
                    ),
                    Op::Get => (Method::GET, format!("{base}/connector/{victim}"), None),
                    Op::List => (Method::GET, format!("{base}/connectors"), None),
                    Op::Delete => (Method::DELETE, format!("{base}/connector/{victim}"), None),
                    Op::Execute => (
                        Method::POST,
                        format!("{base}/connector/{victim}/_execute"),
                        Some(json!({ "params": { "message": "hi" } })),
                    ),
                    Op::Types => (Method::GET, format!("{base}/connector_types"), None),
                };
                let client = if matches!(who, Who::WrongPassword | Who::ExpiredKey) {
                    next_address += 1;
                    client_from(next_address)
                } else {
                    reqwest::Client::new()
                };
                let mut request = client
                    .request(method, app.url(&path))
                    .header("kbn-xsrf", "true");
                if let Some(header) = headers(who) {
                    request = request.header("authorization", header);
                }
                if let Some(body) = body {
                    request = request.json(&body);
                }
                let response = app.send(request).await;
                let context = format!("{who:?} {op:?} in {space}: {}", response.text);
                match expected(who, op, space) {
                    (status, None) => assert_eq!(response.status, status, "{context}"),
                    (status, Some(message)) => {
                        assert_eq!(
                            response.json(),
                            json!({
                                "statusCode": status,
                                "error": if status == 401 { "Unauthorized" } else { "Forbidden" },
                                "message": message,
                            }),
                            "{context}"
                        );
                        assert_eq!(response.status, status, "{context}");
                        if status == 401 {
                            assert!(
                                response.headers.get("www-authenticate").is_some(),
                                "{context}"
                            );
                        }
                        // A refused write loses nothing.
                        let kept = app.get(&format!("{base}/connector/{victim}")).await.json();
                        assert_eq!(kept["name"], "victim", "{context}");
                    }
                }
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 98);
}

#[tokio::test]
async fn body_validation_comes_before_authorization() {
    let app = app_with_users(json!({})).await;
    let nobody = basic("nobody", PASSWORD);
    let response = app
        .call_as(
            &nobody,
            Method::POST,
            "/api/actions/connector",
            Some(json!({})),
        )
        .await;
    assert_error(
        &response,
        400,
        "[request body.name]: expected value of type [string] but got [undefined]",
    );
    let response = app
        .call_as(
            &nobody,
            Method::POST,
            "/api/actions/connector/anything/_execute",
            Some(json!({})),
        )
        .await;
    assert_error(
        &response,
        400,
        "[request body.params]: expected value of type [object] but got [undefined]",
    );
    // Without privileges, a connector that does not exist is refused, not reported
    // missing; its type cannot be named.
    let response = app
        .call_as(
            &nobody,
            Method::POST,
            "/api/actions/connector/missing/_execute",
            Some(json!({ "params": {} })),
        )
        .await;
    assert_error(&response, 403, "Unauthorized to execute actions");
}

#[tokio::test]
async fn a_user_with_privileges_elsewhere_is_refused_and_a_superuser_told_not_found() {
    let app = app_with_users(json!({})).await;
    let id = app
        .create_connector_in(
            "/s/space1",
            json!({ "name": "log", "connector_type_id": ".server-log" }),
        )
        .await;
    let path = format!("/s/space2/api/actions/connector/{id}");
    let alice = basic("alice", PASSWORD);
    assert_error(
        &app.call_as(&alice, Method::GET, &path, None).await,
        403,
        "Unauthorized to get actions",
    );
    assert_error(
        &app.get(&path).await,
        404,
        &format!("Saved object [action/{id}] not found"),
    );
}

#[tokio::test]
async fn malformed_credentials_are_unauthorized_and_answers_hold_no_secret() {
    let app = app_with_users(json!({})).await;
    for (address, header) in [
        "Basic",
        "Basic !!!not-base64",
        "Bearer something",
        "ApiKey bm8tY29sb24=",
        "Basic bm9ib2R5OmEtZ29vZC1wYXNzd29yZA== trailing",
    ]
    .into_iter()
    .enumerate()
    {
        let response = app
            .send(
                client_from(100 + address as u8)
                    .get(app.url("/api/actions/connectors"))
                    .header("authorization", header),
            )
            .await;
        assert_error(&response, 401, "Unauthorized");
    }
    let response = app
        .send(app.anonymous(Method::GET, "/api/actions/connectors"))
        .await;
    assert_error(&response, 401, "Unauthorized");
    let challenges: Vec<&str> = response
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|it| it.to_str().unwrap())
        .collect();
    assert_eq!(
        challenges,
        ["Basic realm=\"security\", charset=\"UTF-8\"", "ApiKey"]
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_answered_more_slowly() {
    let app = app_with_users(json!({})).await;
    let wrong = basic("alice", "wrong-password");
    let attacker = client_from(200);
    for _ in 0..5 {
        let response = app
            .send(
                attacker
                    .get(app.url("/api/actions/connectors"))
                    .header("authorization", &wrong),
            )
            .await;
        assert_eq!(response.status, 401);
    }
    // The sixth failure is held back at least a quarter of a second (a lower bound:
    // a sleep never ends early).
    let started = Instant::now();
    let response = app
        .send(
            attacker
                .get(app.url("/api/actions/connectors"))
                .header("authorization", &wrong),
        )
        .await;
    assert_error(&response, 401, "Unauthorized");
    assert!(started.elapsed().as_millis() >= 250);
    // Another address, with the right password, is let in.
    let response = app
        .send(
            client_from(201)
                .get(app.url("/api/actions/connectors"))
                .header("authorization", basic("alice", PASSWORD)),
        )
        .await;
    assert_eq!(response.status, 403, "{}", response.text);
}

#[tokio::test]
async fn the_index_connector_needs_the_callers_index_privileges() {
    let elasticsearch = FakeServer::start(|_| {
        Reply::json(
            200,
            json!({ "took": 1, "errors": false, "items": [{ "create": { "_index": "events-1", "status": 201 } }] }),
        )
        .with_header("x-elastic-product", "Elasticsearch")
    })
    .await;
    let app =
        app_with_users(json!({ "elasticsearch": { "hosts": [elasticsearch.url("")] } })).await;
    let role = json!({
        "elasticsearch": { "indices": [{ "names": ["events-*"], "privileges": ["index"] },
                                       { "names": ["secret"], "privileges": ["read"] }] },
        "kibana": [{ "feature": { "actions": ["read"] }, "spaces": ["space1"] }],
    });
    app.admin(&["roles", "put", "writer", "--json", &role.to_string()], "")
        .await;
    app.admin(
        &[
            "users",
            "add",
            "carol",
            "--roles",
            "writer",
            "--password-stdin",
        ],
        "carols-password\n",
    )
    .await;
    let carol = basic("carol", "carols-password");
    let mut ids = Vec::new();
    for index in ["events-1", "secret"] {
        ids.push(
            app.create_connector_in(
                "/s/space1",
                json!({ "name": index, "connector_type_id": ".index", "config": { "index": index } }),
            )
            .await,
        );
    }
    let run = |id: &str| {
        let path = format!("/s/space1/api/actions/connector/{id}/_execute");
        let carol = carol.clone();
        let app = &app;
        async move {
            app.call_as(
                &carol,
                Method::POST,
                &path,
                Some(json!({ "params": { "documents": [{ "n": 1 }] } })),
            )
            .await
        }
    };

    let refused = run(&ids[1]).await;
    assert_eq!(refused.status, 200);
    assert_eq!(
        refused.json(),
        json!({
            "status": "error",
            "message": "error indexing documents",
            "errorSource": "user",
            "connector_id": ids[1],
            "service_message": "action [indices:data/write/index:op_type/create] is unauthorized for user [carol] with effective roles [writer] on indices [secret], this action is granted by the index privileges [create_doc,create,index,write,all]",
        })
    );
    assert!(elasticsearch.requests().is_empty(), "nothing was sent");

    let written = run(&ids[0]).await;
    assert_eq!(written.json()["status"], "ok", "{}", written.text);
    assert_eq!(elasticsearch.only_request().path, "/events-1/_bulk");
}

#[tokio::test]
async fn security_can_be_turned_off() {
    let app = TestApp::with_settings(json!({ "security": { "enabled": false } })).await;
    let response = app
        .send(app.anonymous(Method::GET, "/api/actions/connectors"))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    // Any credentials, even wrong ones, are not even looked at.
    let response = app
        .call_as(
            &basic("elastic", "wrong"),
            Method::POST,
            "/api/actions/connector",
            Some(json!({ "name": "x", "connector_type_id": ".server-log" })),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
}

#[tokio::test]
async fn passwords_and_keys_are_stored_only_as_salted_hashes() {
    let app = app_with_users(json!({})).await;
    let key = app
        .post("/_security/api_key", json!({ "name": "stored" }))
        .await
        .json();
    let secret = key["api_key"].as_str().unwrap();
    let rows = stored_secrets(&app).await;
    assert!(rows.len() >= 5, "{rows:?}");
    for hash in &rows {
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(PASSWORD) && !hash.contains(SUPERUSER_PASSWORD));
        assert!(!hash.contains(secret));
    }
    let unique: std::collections::HashSet<&String> = rows.iter().collect();
    assert_eq!(unique.len(), rows.len(), "every hash has its own salt");
}

/// Every password and key hash in the store, read with SQL.
async fn stored_secrets(app: &TestApp) -> Vec<String> {
    const QUERY: &str = "SELECT password_hash FROM users UNION ALL SELECT key_hash FROM api_keys";
    match app.postgres() {
        Some((url, schema)) => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let rows: Vec<(String,)> =
                sqlx::query_as(&QUERY.replace("FROM ", &format!("FROM \"{schema}\".")))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            rows.into_iter().map(|it| it.0).collect()
        }
        None => {
            let path = app.data_dir().join("switchboard.db");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            let rows: Vec<(String,)> = sqlx::query_as(QUERY).fetch_all(&pool).await.unwrap();
            rows.into_iter().map(|it| it.0).collect()
        }
    }
}

#[tokio::test]
async fn the_cli_manages_users_and_roles_and_explains_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &'static [&'static str], input: &'static str| {
        let dir = dir.path().to_owned();
        async move { crate::support::process::run_with_input(&dir, args, &[], input).await }
    };
    let (code, stdout, stderr) = run(
        &[
            "users",
            "add",
            "dave",
            "--roles",
            "viewer,ops",
            "--password-stdin",
        ],
        "daves-password\n",
    )
    .await;
    assert_eq!(
        (code, stdout.trim()),
        (Some(0), "Added user [dave] with roles [viewer,ops]."),
        "{stderr}"
    );
    let (code, _, stderr) = run(
        &["users", "add", "dave", "--password-stdin"],
        "another-one\n",
    )
    .await;
    assert_eq!(
        (code, stderr.trim()),
        (Some(1), "switchboard: user [dave] already exists")
    );
    let (code, _, stderr) = run(&["users", "add", "eve", "--password-stdin"], "short\n").await;
    assert_eq!(
        (code, stderr.trim()),
        (
            Some(1),
            "switchboard: passwords must be at least [6] characters long"
        )
    );
    let (code, stdout, _) = run(&["users", "add", "frank"], "").await;
    assert_eq!(code, Some(0));
    let generated = stdout
        .lines()
        .last()
        .unwrap()
        .trim_start_matches("Password (shown only now): ");
    assert_eq!(generated.len(), 24, "{stdout}");

    let (code, _, stderr) = run(&["roles", "put", "superuser", "--json", "{}"], "").await;
    assert_eq!(
        (code, stderr.trim()),
        (
            Some(1),
            "switchboard: Role [superuser] is reserved and may not be used."
        )
    );
    let (code, _, stderr) = run(
        &[
            "roles",
            "put",
            "ops",
            "--json",
            r#"{"kibana":[{"spaces":"ops"}]}"#,
        ],
        "",
    )
    .await;
    assert_eq!(
        (code, stderr.trim()),
        (
            Some(1),
            "switchboard: invalid role [ops]: [kibana.0.spaces]: could not parse array value from json input"
        )
    );
    let (code, _, stderr) = run(
        &[
            "roles",
            "put",
            "nowhere",
            "--json",
            r#"{"kibana":[{"base":["all"],"spaces":[]}]}"#,
        ],
        "",
    )
    .await;
    assert_eq!(
        (code, stderr.trim()),
        (
            Some(1),
            "switchboard: invalid role [nowhere]: [kibana.0.spaces]: array size is [0], but cannot be smaller than [1]"
        )
    );
    let (code, stdout, _) = run(&["users", "list"], "").await;
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "dave\tviewer,ops\nfrank\t\n")
    );
    let (code, _, _) = run(&["users", "delete", "frank"], "").await;
    assert_eq!(code, Some(0));
    let (code, _, stderr) = run(&["users", "delete", "frank"], "").await;
    assert_eq!(
        (code, stderr.trim()),
        (Some(1), "switchboard: user [frank] does not exist")
    );
    // Key ids are URL-safe base64 and may start with a dash.
    let (code, _, stderr) = run(&["api-keys", "invalidate", "-mvLlY1L_A"], "").await;
    assert_eq!(
        (code, stderr.trim()),
        (Some(1), "switchboard: API key [-mvLlY1L_A] does not exist")
    );
}

#[tokio::test]
async fn no_password_key_or_hash_reaches_the_log() {
    use crate::support::process::{ServerProcess, run_with_input};
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::serve(
        dir.path(),
        &[],
        &[
            ("SWITCHBOARD_SERVER_PORT", "0"),
            ("SWITCHBOARD_LOGGING_ROOT_LEVEL", "trace"),
        ],
    )
    .await;
    let (code, _, stderr) = run_with_input(
        dir.path(),
        &["users", "add", "grace", "--password-stdin"],
        &[],
        "graces-secret-password\n",
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");

    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base_url);
    for password in ["graces-secret-password", "graces-wrong-password"] {
        client
            .get(url("/api/actions/connector_types"))
            .basic_auth("grace", Some(password))
            .send()
            .await
            .unwrap();
    }
    let created: Value = crate::support::superuser_client()
        .post(url("/_security/api_key"))
        .json(&json!({ "name": "logged?" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let used = client
        .get(url("/api/actions/connectors"))
        .header(
            "authorization",
            format!("ApiKey {}", created["encoded"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), 200);

    let output = server.output();
    assert!(output.contains("API key created"), "{output}");
    for secret in [
        "graces-secret-password",
        "graces-wrong-password",
        SUPERUSER_PASSWORD,
        created["api_key"].as_str().unwrap(),
        created["encoded"].as_str().unwrap(),
        "$argon2",
    ] {
        assert!(!output.contains(secret), "{secret} in:\n{output}");
    }
    server.stop().await;
}

#[tokio::test]
async fn turning_security_off_is_announced_at_every_start() {
    use crate::support::process::ServerProcess;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let mut server = ServerProcess::serve(
            dir.path(),
            &[],
            &[
                ("SWITCHBOARD_SERVER_PORT", "0"),
                ("SWITCHBOARD_SECURITY_ENABLED", "false"),
            ],
        )
        .await;
        let line = server.wait_for_line("security.enabled is false").await;
        assert!(line.contains("WARN"), "{line}");
        let anonymous = reqwest::Client::new()
            .get(format!("{}/api/actions/connectors", server.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 200);
        server.stop().await;
    }
}
