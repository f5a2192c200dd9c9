//! The web console (`/app/connectors`): the page served from the binary, Kibana's
//! address redirecting to it, and browser sessions (cookie) through the real server.
//! `browser_end_to_end` drives the page in Debian's chromium (tests/browser/).

use reqwest::{Method, header::COOKIE};
use serde_json::{Value, json};

use crate::{
    security::{PASSWORD, app_with_users},
    support::{FakeServer, Reply, SUPERUSER_PASSWORD, TestApp, TestResponse, app::assert_error},
};

fn login_body(username: &str, password: &str) -> Value {
    json!({
        "providerType": "basic",
        "providerName": "basic",
        "currentURL": "/app/connectors",
        "params": { "username": username, "password": password },
    })
}

async fn login(app: &TestApp, username: &str, password: &str) -> TestResponse {
    app.send(
        app.anonymous(Method::POST, "/internal/security/login")
            .header("kbn-xsrf", "true")
            .json(&login_body(username, password)),
    )
    .await
}

/// Signs in and returns the `Cookie` header value to send back.
async fn session(app: &TestApp, username: &str, password: &str) -> String {
    let response = login(app, username, password).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let set_cookie = response.headers["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_page_and_its_files_come_from_the_binary() {
    let app = TestApp::start().await;
    let page = app
        .send(app.anonymous(Method::GET, "/app/connectors"))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert!(page.text.contains("/app/connectors/assets/console.js"));
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    for (path, content_type) in [
        (
            "/app/connectors/assets/console.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/app/connectors/assets/console.css",
            "text/css; charset=utf-8",
        ),
        ("/app/connectors/assets/icon.svg", "image/svg+xml"),
    ] {
        let file = app.send(app.anonymous(Method::GET, path)).await;
        assert_eq!(
            (file.status, file.headers["content-type"].to_str().unwrap()),
            (200, content_type),
            "{path}"
        );
        assert!(!file.text.is_empty(), "{path}");
        // Nothing is fetched from elsewhere (the SVG's XML namespace is a name, not a fetch).
        let text = file.text.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
            "{path}"
        );
    }
    assert!(!page.text.contains("http://") && !page.text.contains("https://"));

    // Under a space that exists, and 404 (Kibana's envelope) under one that does not.
    app.create_space("ops").await;
    let in_space = app
        .send(app.anonymous(Method::GET, "/s/ops/app/connectors"))
        .await;
    assert_eq!(in_space.status, 200);
    let missing = app
        .send(app.anonymous(Method::GET, "/s/missing/app/connectors"))
        .await;
    assert_error(&missing, 404, "Not Found");
}

#[tokio::test]
async fn kibanas_address_of_the_page_redirects_to_it() {
    let app = TestApp::start().await;
    app.create_space("ops").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, location) in [
        (
            "/app/management/insightsAndAlerting/triggersActionsConnectors",
            "/app/connectors",
        ),
        (
            "/s/ops/app/management/insightsAndAlerting/triggersActionsConnectors",
            "/s/ops/app/connectors",
        ),
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 302, "{path}");
        assert_eq!(response.headers()["location"], location);
    }
}

#[tokio::test]
async fn a_session_cookie_signs_in_and_out() {
    let app = app_with_users(json!({})).await;

    // Wrong password: Kibana's 401, no cookie.
    let refused = login(&app, "alice", "not-her-password").await;
    assert_error(&refused, 401, "Unauthorized");
    assert!(!refused.headers.contains_key("set-cookie"));
    assert!(!refused.headers.contains_key("www-authenticate"));
    // A body without the credentials is refused like any invalid body.
    let bad = app
        .send(
            app.anonymous(Method::POST, "/internal/security/login")
                .header("kbn-xsrf", "true")
                .json(&json!({ "providerType": "basic", "providerName": "basic", "currentURL": "/", "params": {} })),
        )
        .await;
    assert_error(
        &bad,
        400,
        "[request body.params.username]: expected value of type [string] but got [undefined]",
    );
    // kbn-xsrf is required to sign in too (a forged cross-site login).
    let forged = app
        .send(
            app.anonymous(Method::POST, "/internal/security/login")
                .json(&login_body("alice", PASSWORD)),
        )
        .await;
    assert_error(&forged, 400, "Request must contain a kbn-xsrf header.");

    let response = login(&app, "alice", PASSWORD).await;
    assert_eq!(
        (response.status, response.json()),
        (200, json!({ "location": "/app/connectors" }))
    );
    let set_cookie = response.headers["set-cookie"].to_str().unwrap();
    assert!(set_cookie.starts_with("sid="), "{set_cookie}");
    assert!(
        set_cookie.contains("; HttpOnly")
            && set_cookie.contains("; SameSite=Strict")
            && set_cookie.contains("; Path=/"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    // The id is not in the body.
    assert!(!response.text.contains(&cookie[4..]));

    // The cookie reads the API, as Basic does, with the user's own rights.
    let me = app
        .send(
            app.anonymous(Method::GET, "/internal/security/me")
                .header(COOKIE, &cookie),
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(
        (me.json()["username"].clone(), me.json()["roles"].clone()),
        (json!("alice"), json!(["all_space1"]))
    );
    let list = app
        .send(
            app.anonymous(Method::GET, "/s/space1/api/actions/connectors")
                .header(COOKIE, &cookie),
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let other_space = app
        .send(
            app.anonymous(Method::GET, "/s/space2/api/actions/connectors")
                .header(COOKIE, &cookie),
        )
        .await;
    assert_error(&other_space, 403, "Unauthorized to get actions");
    let capabilities = app
        .send(
            app.anonymous(Method::GET, "/s/space1/internal/console/capabilities")
                .header(COOKIE, &cookie),
        )
        .await;
    assert_eq!(
        capabilities.json()["actions"],
        json!({ "show": true, "execute": true, "save": true, "delete": true })
    );

    // A write with the cookie still needs kbn-xsrf.
    let body = json!({ "name": "log", "connector_type_id": ".server-log" });
    let no_xsrf = app
        .send(
            app.anonymous(Method::POST, "/s/space1/api/actions/connector")
                .header(COOKIE, &cookie)
                .json(&body),
        )
        .await;
    assert_error(&no_xsrf, 400, "Request must contain a kbn-xsrf header.");
    let created = app
        .send(
            app.anonymous(Method::POST, "/s/space1/api/actions/connector")
                .header(COOKIE, &cookie)
                .header("kbn-xsrf", "true")
                .json(&body),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    // Not on Elasticsearch's routes, which have no kbn-xsrf rule.
    let keys = app
        .send(
            app.anonymous(Method::GET, "/_security/api_key")
                .header(COOKIE, &cookie),
        )
        .await;
    assert_eq!(keys.status, 401);

    // A forged or unknown session is no session.
    let forged = app
        .send(
            app.anonymous(Method::GET, "/internal/security/me")
                .header(COOKIE, "sid=forged"),
        )
        .await;
    assert_error(&forged, 401, "Unauthorized");

    // Sign-out ends it on the server (a copied cookie stops working) and clears it.
    let out = app
        .send(
            app.anonymous(Method::POST, "/api/security/logout")
                .header(COOKIE, &cookie)
                .header("kbn-xsrf", "true"),
        )
        .await;
    assert_eq!(out.status, 204);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = app
        .send(
            app.anonymous(Method::GET, "/internal/security/me")
                .header(COOKIE, &cookie),
        )
        .await;
    assert_error(&after, 401, "Unauthorized");

    // Kibana's GET logout too, back to the page.
    let cookie = session(&app, "bob", PASSWORD).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let out = client
        .get(app.url("/api/security/logout"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            out.status().as_u16(),
            out.headers()["location"].to_str().unwrap()
        ),
        (302, "/app/connectors")
    );
    let after = app
        .send(
            app.anonymous(Method::GET, "/internal/security/me")
                .header(COOKIE, &cookie),
        )
        .await;
    assert_eq!(after.status, 401);
}

#[tokio::test]
async fn a_read_user_sees_but_cannot_change() {
    let app = app_with_users(json!({})).await;
    let cookie = session(&app, "bob", PASSWORD).await;
    let capabilities = app
        .send(
            app.anonymous(Method::GET, "/s/space1/internal/console/capabilities")
                .header(COOKIE, &cookie),
        )
        .await;
    assert_eq!(
        capabilities.json()["actions"],
        json!({ "show": true, "execute": true, "save": false, "delete": false })
    );
    let forged = app
        .send(
            app.anonymous(Method::POST, "/s/space1/api/actions/connector")
                .header(COOKIE, &cookie)
                .header("kbn-xsrf", "true")
                .json(&json!({ "name": "log", "connector_type_id": ".server-log" })),
        )
        .await;
    assert_error(
        &forged,
        403,
        "Unauthorized to create a \".server-log\" action",
    );
}

#[tokio::test]
async fn an_idle_session_expires() {
    // With no idle time allowed, a session has lapsed by its first use: the rule that
    // ends idle sessions, without waiting for a clock in the test.
    let app = app_with_users(json!({ "security": { "session": { "idleTimeout": 0 } } })).await;
    let cookie = session(&app, "alice", PASSWORD).await;
    let expired = app
        .send(
            app.anonymous(Method::GET, "/internal/security/me")
                .header(COOKIE, &cookie),
        )
        .await;
    assert_error(&expired, 401, "Unauthorized");
}

#[tokio::test]
async fn with_security_off_there_is_no_sign_in() {
    let app = TestApp::with_settings(json!({ "security": { "enabled": false } })).await;
    let capabilities = app
        .send(app.anonymous(Method::GET, "/internal/console/capabilities"))
        .await;
    assert_eq!(capabilities.status, 200, "{}", capabilities.text);
    assert_eq!(capabilities.json()["security_enabled"], false);
    assert_eq!(capabilities.json()["actions"]["save"], true);
    let login = login(&app, "elastic", SUPERUSER_PASSWORD).await;
    assert_error(&login, 404, "Not Found");
}

#[tokio::test]
async fn the_cookie_is_secure_under_https() {
    use crate::support::pki::TestCa;
    let ca = TestCa::new("Switchboard test CA");
    let server = ca.issue(&["127.0.0.1", "localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::write(&certificate, &server.cert_pem).unwrap();
    std::fs::write(&key, &server.key_pem).unwrap();
    let app = TestApp::with_settings(json!({ "server": { "ssl": {
        "enabled": true, "certificate": certificate.to_str().unwrap(), "key": key.to_str().unwrap(),
    } } }))
    .await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = client
        .post(app.url("/internal/security/login"))
        .header("kbn-xsrf", "true")
        .json(&login_body("elastic", SUPERUSER_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
}

/// The console in a real browser: `tests/browser/console.test.mjs` (playwright-core
/// and Debian's chromium) against this server, with a loopback sink for the webhook.
/// Skipped, saying why, when chromium or `tests/browser/node_modules` is missing,
/// unless `CI` is set: then it must run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_end_to_end() {
    let browser_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let ready = std::path::Path::new(&chromium).exists()
        && browser_dir.join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but the browser test cannot run: install chromium (apt-get install -y chromium) and run `npm ci` in tests/browser"
        );
        eprintln!(
            "SKIPPED browser_end_to_end: needs {chromium} and tests/browser/node_modules (apt-get install -y chromium; cd tests/browser && npm ci)"
        );
        return;
    }
    let app = app_with_users(json!({})).await;
    let sink = FakeServer::start(|_| Reply::status(200, "received")).await;
    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(180),
        tokio::process::Command::new("node")
            .arg("console.test.mjs")
            .current_dir(&browser_dir)
            .env("BASE_URL", &app.base_url)
            .env("SPACE", "space1")
            .env("SINK_URL", sink.url("/hook"))
            .env("PASSWORD", PASSWORD)
            .env("CHROMIUM", &chromium)
            .env("SCREENSHOTS", &screenshots)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser test finishes within 3 minutes")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.contains("console end-to-end: all steps passed"),
        "{stdout}"
    );

    // The test run reached the sink with the body typed in the page.
    let received = sink.requests();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        (received[0].path.as_str(), received[0].body.as_str()),
        ("/hook", r#"{"from":"the console test"}"#)
    );
    // And the connector is gone.
    let left = app.get("/s/space1/api/actions/connectors").await;
    assert_eq!(left.json(), json!([]));
}

#[tokio::test]
async fn the_page_gets_no_basic_challenge() {
    let app = TestApp::start().await;
    let plain = app
        .send(app.anonymous(Method::GET, "/internal/security/me"))
        .await;
    assert!(plain.headers.contains_key("www-authenticate"));
    let from_page = app
        .send(
            app.anonymous(Method::GET, "/internal/security/me")
                .header("x-elastic-internal-origin", "Kibana"),
        )
        .await;
    assert_error(&from_page, 401, "Unauthorized");
    assert!(!from_page.headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn a_types_form_is_its_json_schema() {
    let app = app_with_users(json!({})).await;
    let form = app
        .get("/internal/console/connector_types/.server-log/form")
        .await;
    assert_eq!(form.status, 200, "{}", form.text);
    let empty = json!({
        "type": "object", "properties": {}, "additionalProperties": false, "default": {},
    });
    assert_eq!(
        form.json(),
        json!({
            "id": ".server-log",
            "config": empty,
            "secrets": empty,
            "params": {
                "type": "object",
                "properties": {
                    "message": { "type": "string" },
                    "level": {
                        "anyOf": [
                            { "const": "trace" }, { "const": "debug" }, { "const": "info" },
                            { "const": "warn" }, { "const": "error" }, { "const": "fatal" },
                        ],
                        "default": "info",
                    },
                },
                "additionalProperties": false,
                "required": ["message"],
            },
        })
    );

    // The webhook's config: required url, a choice with a default, a nullable record.
    let webhook = app
        .get("/s/space1/internal/console/connector_types/.webhook/form")
        .await;
    assert_eq!(webhook.status, 200, "{}", webhook.text);
    let config = &webhook.json()["config"];
    assert_eq!(config["properties"]["url"], json!({ "type": "string" }));
    assert_eq!(
        config["properties"]["method"],
        json!({ "anyOf": [{ "const": "post" }, { "const": "put" }], "default": "post" })
    );
    assert_eq!(
        config["properties"]["headers"],
        json!({
            "anyOf": [
                { "type": "object", "additionalProperties": { "type": "string" } },
                { "type": "null" },
            ],
            "default": null,
        })
    );
    assert!(
        config["required"]
            .as_array()
            .unwrap()
            .contains(&json!("url"))
    );

    let unknown = app
        .get("/internal/console/connector_types/.nope/form")
        .await;
    assert_error(&unknown, 404, "Action type \".nope\" is not registered.");
    let anonymous = app
        .send(app.anonymous(
            Method::GET,
            "/internal/console/connector_types/.server-log/form",
        ))
        .await;
    assert_eq!(anonymous.status, 401);
}
