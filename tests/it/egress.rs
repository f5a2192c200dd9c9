//! The egress policy on the wire: allowed hosts, redirects, private addresses,
//! answer size, and the proxy.

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, app::assert_error, proxy::TestProxy};

fn webhook_body(url: &str) -> Value {
    json!({ "name": "hook", "connector_type_id": ".webhook", "config": { "url": url, "hasAuth": false } })
}

async fn execute(app: &TestApp, id: &str) -> Value {
    app.execute(id, json!({ "body": "x" })).await
}

#[tokio::test]
async fn allowed_hosts_are_checked_on_create_update_and_every_run() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let allowed = json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1"] } } });
    let app = TestApp::with_settings(allowed.clone()).await;
    let refused_url = format!("http://localhost:{}/", hook.address.port());
    let refused_message = format!(
        "error validating action type config: error configuring webhook action: target url \"{refused_url}\" is not added to the Kibana config xpack.actions.allowedHosts"
    );

    assert_error(
        &app.post("/api/actions/connector", webhook_body(&refused_url))
            .await,
        400,
        &refused_message,
    );
    let id = app.create_connector(webhook_body(&hook.url("/"))).await;
    assert_error(
        &app.put(
            &format!("/api/actions/connector/{id}"),
            json!({ "name": "hook", "config": { "url": refused_url, "hasAuth": false } }),
        )
        .await,
        400,
        &refused_message,
    );
    assert_eq!(execute(&app, &id).await["status"], "ok");

    // The list shrinks: the stored connector is refused at run time, before any call.
    let app = app
        .restart_with(json!({ "xpack": { "actions": { "allowedHosts": ["hooks.example.com"] } } }))
        .await;
    let result = execute(&app, &id).await;
    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": format!("error validating action type config: error configuring webhook action: target url \"{}\" is not added to the Kibana config xpack.actions.allowedHosts", hook.url("/")),
            "errorSource": "framework",
            "connector_id": id,
            "retry": false,
        })
    );
    assert_eq!(hook.requests().len(), 1);
}

#[tokio::test]
async fn wildcards_and_address_ranges_may_be_allowed() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": { "allowedHosts": ["*.example.com", "127.0.0.0/8"] } }
    }))
    .await;

    let by_range = app.create_connector(webhook_body(&hook.url("/"))).await;
    assert_eq!(execute(&app, &by_range).await["status"], "ok");
    let by_wildcard = app
        .post(
            "/api/actions/connector",
            webhook_body("https://hooks.example.com/alert"),
        )
        .await;
    assert_eq!(by_wildcard.status, 200, "{}", by_wildcard.text);
    let apex = app
        .post(
            "/api/actions/connector",
            webhook_body("https://example.com/alert"),
        )
        .await;
    assert_eq!(apex.status, 400);
    let by_name = app
        .post(
            "/api/actions/connector",
            webhook_body(&format!("http://localhost:{}/", hook.address.port())),
        )
        .await;
    assert_eq!(by_name.status, 400);
}

#[tokio::test]
async fn redirects_are_followed_only_to_allowed_hosts() {
    let elsewhere = FakeServer::start(|_| Reply::status(200, "reached")).await;
    let target = format!("http://localhost:{}/landing", elsewhere.address.port());
    let bouncer = FakeServer::start(move |request| {
        if request.path == "/to-localhost" {
            Reply::status(302, "").with_header("location", target.clone())
        } else {
            Reply::status(200, "")
        }
    })
    .await;
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1"] } } }),
    )
    .await;
    let id = app
        .create_connector(webhook_body(&bouncer.url("/to-localhost")))
        .await;

    let result = execute(&app, &id).await;

    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "error calling webhook, request failed",
            "errorSource": "user",
            "connector_id": id,
            "service_message": "target hostname \"localhost\" is not added to the Kibana config xpack.actions.allowedHosts",
        })
    );
    assert!(elsewhere.requests().is_empty());

    // A redirect to an allowed host is followed.
    let allowed_target = elsewhere.url("/landing");
    let friendly = FakeServer::start(move |_| {
        Reply::status(307, "").with_header("location", allowed_target.clone())
    })
    .await;
    let id = app.create_connector(webhook_body(&friendly.url("/"))).await;
    assert_eq!(execute(&app, &id).await["status"], "ok");
    assert_eq!(elsewhere.only_request().path, "/landing");
}

#[tokio::test]
async fn private_addresses_are_refused_after_resolution_when_asked() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let elasticsearch =
        FakeServer::start(|_| Reply::json(200, json!({ "took": 1, "errors": false, "items": [] })))
            .await;
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": { "blockPrivateAddresses": true } },
        "elasticsearch": { "hosts": elasticsearch.url("") },
    }))
    .await;
    let port = hook.address.port();

    // A name that resolves to loopback is caught after DNS, before connecting.
    let by_name = app
        .create_connector(webhook_body(&format!("http://localhost:{port}/")))
        .await;
    let result = execute(&app, &by_name).await;
    assert_eq!(result["message"], "error calling webhook, request failed");
    let service_message = result["service_message"].as_str().unwrap();
    assert!(
        service_message.starts_with("target hostname \"localhost\" resolves to ")
            && service_message.ends_with(", a loopback, private or link-local address, which xpack.actions.blockPrivateAddresses refuses"),
        "{service_message}"
    );
    // So is an address written in the URL.
    let literal = app.create_connector(webhook_body(&hook.url("/"))).await;
    assert_eq!(
        execute(&app, &literal).await["service_message"],
        "target hostname \"127.0.0.1\" resolves to 127.0.0.1, a loopback, private or link-local address, which xpack.actions.blockPrivateAddresses refuses"
    );
    assert!(hook.requests().is_empty());

    // The operator's own Elasticsearch cluster is not a connector target.
    let index = app
        .create_connector(
            json!({ "name": "i", "connector_type_id": ".index", "config": { "index": "i" } }),
        )
        .await;
    assert_eq!(
        app.execute(&index, json!({ "documents": [{}] })).await["status"],
        "ok"
    );
}

#[tokio::test]
async fn answers_over_the_size_limit_end_the_call() {
    let big = "x".repeat(4096);
    let sized = big.clone();
    let hook = FakeServer::start(move |request| match request.path.as_str() {
        "/sized" => Reply::status(200, sized.clone()),
        "/streamed" => Reply::Chunked {
            status: 200,
            body: big.clone(),
        },
        _ => Reply::status(200, "small"),
    })
    .await;
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "maxResponseContentLength": "1kb" } } }),
    )
    .await;

    for path in ["/sized", "/streamed"] {
        let id = app.create_connector(webhook_body(&hook.url(path))).await;
        let result = execute(&app, &id).await;
        assert_eq!(
            result,
            json!({
                "status": "error",
                "message": "error calling webhook, request failed",
                "errorSource": "user",
                "connector_id": id,
                "service_message": "[ERR_BAD_RESPONSE] maxContentLength size of 1024 exceeded",
            }),
            "{path}"
        );
    }
    let small = app
        .create_connector(webhook_body(&hook.url("/small")))
        .await;
    assert_eq!(execute(&app, &small).await["status"], "ok");
}

#[tokio::test]
async fn the_proxy_carries_calls_with_its_headers_except_for_bypassed_hosts() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let proxy = TestProxy::start().await;
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": {
            "proxyUrl": proxy.url(),
            "proxyHeaders": { "X-Proxy-Token": "let-me-through" },
            "proxyBypassHosts": ["localhost"],
        } }
    }))
    .await;
    let proxied = app
        .create_connector(webhook_body(&hook.url("/via-proxy")))
        .await;
    let direct = app
        .create_connector(webhook_body(&format!(
            "http://localhost:{}/direct",
            hook.address.port()
        )))
        .await;

    assert_eq!(execute(&app, &proxied).await["status"], "ok");
    assert_eq!(execute(&app, &direct).await["status"], "ok");

    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, hook.url("/via-proxy"));
    assert_eq!(seen[0].header("x-proxy-token"), Some("let-me-through"));
    let paths: Vec<String> = hook.requests().into_iter().map(|it| it.path).collect();
    assert_eq!(paths, ["/via-proxy", "/direct"]);
}

#[tokio::test]
async fn proxy_only_hosts_limit_the_proxy_to_them() {
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let proxy = TestProxy::start().await;
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": { "proxyUrl": proxy.url(), "proxyOnlyHosts": ["localhost"] } }
    }))
    .await;
    let direct = app
        .create_connector(webhook_body(&hook.url("/direct")))
        .await;
    let proxied = app
        .create_connector(webhook_body(&format!(
            "http://localhost:{}/proxied",
            hook.address.port()
        )))
        .await;

    assert_eq!(execute(&app, &direct).await["status"], "ok");
    assert_eq!(execute(&app, &proxied).await["status"], "ok");

    let targets: Vec<String> = proxy.seen().into_iter().map(|it| it.target).collect();
    assert_eq!(
        targets,
        [format!("http://localhost:{}/proxied", hook.address.port())]
    );
}

#[tokio::test]
async fn egress_settings_are_checked_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "xpack.actions.allowedHosts: ['ok.example', 'not a host']\n",
            "invalid setting xpack.actions.allowedHosts: \"not a host\" is not a hostname, \"*\", \"*.<domain>\", an IP address or a CIDR range",
        ),
        (
            "xpack.actions.proxyUrl: ftp://proxy\n",
            "invalid setting xpack.actions.proxyUrl: must be an http or https URL",
        ),
        (
            "xpack.actions.ssl.verificationMode: sometimes\n",
            "invalid setting xpack.actions.ssl.verificationMode: types that failed validation:",
        ),
        (
            "xpack.actions.customHostSettings:\n  - url: https://127.0.0.1:9443\n    ssl:\n      certificateAuthoritiesFiles: /nonexistent/ca.pem\n",
            "invalid setting xpack.actions.customHostSettings.0.ssl.certificateAuthoritiesFiles: cannot read /nonexistent/ca.pem",
        ),
    ];
    for (yaml, message) in cases {
        std::fs::write(
            dir.path().join("bad.yml"),
            format!("server.port: 0\n{yaml}"),
        )
        .unwrap();
        let (code, _, stderr) = crate::support::process::run_to_exit(
            dir.path(),
            &["serve", "--config", "bad.yml"],
            &[],
        )
        .await;
        assert_eq!(code, Some(78), "{yaml}: {stderr}");
        assert!(
            stderr.contains(message),
            "{yaml}: expected {message:?} in {stderr:?}"
        );
    }
}
