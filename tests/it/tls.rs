//! Outbound TLS on loopback with a CA made by the test: verification modes, the
//! operator's per-host CAs, and client certificates for `.webhook`.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};

use crate::support::{
    FakeServer, Reply, TestApp,
    app::assert_error,
    pki::{TestCa, encrypted_key_pem, pfx},
    proxy::TestProxy,
};

async fn tls_server(ca: &TestCa, names: &[&str], client_ca: Option<&TestCa>) -> FakeServer {
    let certificate = ca.issue(names);
    FakeServer::start_tls(TestCa::server_config(&certificate, client_ca), |_| {
        Reply::status(200, "")
    })
    .await
}

fn plain_webhook(url: &str) -> Value {
    json!({ "name": "hook", "connector_type_id": ".webhook", "config": { "url": url, "hasAuth": false } })
}

async fn run(app: &TestApp, connector: Value) -> Value {
    let id = app.create_connector(connector).await;
    app.execute(&id, json!({ "body": "{}" })).await
}

fn custom_ca(server: &FakeServer, ca: &TestCa, mode: Option<&str>) -> Value {
    let mut ssl = json!({ "certificateAuthoritiesData": ca.cert_pem });
    if let Some(mode) = mode {
        ssl["verificationMode"] = json!(mode);
    }
    json!({ "xpack": { "actions": { "customHostSettings": [
        { "url": format!("https://127.0.0.1:{}", server.address.port()), "ssl": ssl }
    ] } } })
}

#[tokio::test]
async fn an_unknown_ca_is_refused_unless_trusted_or_verification_is_off() {
    let ca = TestCa::new("Switchboard test CA");
    let server = tls_server(&ca, &["localhost", "127.0.0.1"], None).await;

    let strict = TestApp::start().await;
    let refused = run(&strict, plain_webhook(&server.url("/"))).await;
    assert_eq!(refused["message"], "error calling webhook, request failed");
    assert_eq!(
        refused["service_message"],
        "[UNABLE_TO_VERIFY_LEAF_SIGNATURE] unable to verify the first certificate"
    );
    assert!(server.requests().is_empty());

    let trusting = TestApp::with_settings(custom_ca(&server, &ca, None)).await;
    assert_eq!(
        run(&trusting, plain_webhook(&server.url("/"))).await["status"],
        "ok"
    );

    let unverified = TestApp::with_settings(json!({
        "xpack": { "actions": { "ssl": { "verificationMode": "none" } } }
    }))
    .await;
    assert_eq!(
        run(&unverified, plain_webhook(&server.url("/"))).await["status"],
        "ok"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn certificate_mode_checks_the_chain_but_not_the_name() {
    let ca = TestCa::new("Switchboard test CA");
    let server = tls_server(&ca, &["other.example"], None).await;

    let full = TestApp::with_settings(custom_ca(&server, &ca, Some("full"))).await;
    let result = run(&full, plain_webhook(&server.url("/"))).await;
    assert_eq!(
        result["service_message"],
        "[ERR_TLS_CERT_ALTNAME_INVALID] Hostname/IP does not match certificate's altnames"
    );

    let certificate = TestApp::with_settings(custom_ca(&server, &ca, Some("certificate"))).await;
    assert_eq!(
        run(&certificate, plain_webhook(&server.url("/"))).await["status"],
        "ok"
    );

    // The chain is still checked: a certificate from another CA is refused.
    let stranger = TestCa::new("Someone else");
    let other_server = tls_server(&stranger, &["other.example"], None).await;
    let result = run(&certificate, plain_webhook(&other_server.url("/"))).await;
    assert_eq!(
        result["service_message"],
        "[UNABLE_TO_VERIFY_LEAF_SIGNATURE] unable to verify the first certificate"
    );
}

fn ssl_webhook(url: &str, ca: &TestCa, cert_type: &str, secrets: Value) -> Value {
    json!({
        "name": "mutual TLS",
        "connector_type_id": ".webhook",
        "config": {
            "url": url,
            "hasAuth": true,
            "authType": "webhook-authentication-ssl",
            "certType": cert_type,
            "ca": ca.cert_base64(),
            "verificationMode": "full",
        },
        "secrets": secrets,
    })
}

#[tokio::test]
async fn client_certificates_from_pem_pfx_and_encrypted_keys_are_presented() {
    let server_ca = TestCa::new("Server CA");
    let client_ca = TestCa::new("Client CA");
    let server = tls_server(&server_ca, &["127.0.0.1"], Some(&client_ca)).await;
    let client = client_ca.issue(&["switchboard-client"]);
    let app = TestApp::start().await;
    let url = server.url("/mtls");

    let pem = run(
        &app,
        ssl_webhook(
            &url,
            &server_ca,
            "ssl-crt-key",
            json!({ "crt": client.cert_base64(), "key": client.key_base64() }),
        ),
    )
    .await;
    assert_eq!(pem["status"], "ok", "{pem}");

    let archive = BASE64.encode(pfx(&client, "pfx-password"));
    let from_pfx = run(
        &app,
        ssl_webhook(
            &url,
            &server_ca,
            "ssl-pfx",
            json!({ "pfx": archive, "password": "pfx-password" }),
        ),
    )
    .await;
    assert_eq!(from_pfx["status"], "ok", "{from_pfx}");

    let encrypted = BASE64.encode(encrypted_key_pem(&client, "key-password"));
    let from_encrypted = run(
        &app,
        ssl_webhook(
            &url,
            &server_ca,
            "ssl-crt-key",
            json!({ "crt": client.cert_base64(), "key": encrypted, "password": "key-password" }),
        ),
    )
    .await;
    assert_eq!(from_encrypted["status"], "ok", "{from_encrypted}");
    assert_eq!(server.requests().len(), 3);

    // A wrong PFX password is reported without the password.
    let wrong = run(
        &app,
        ssl_webhook(
            &url,
            &server_ca,
            "ssl-pfx",
            json!({ "pfx": archive, "password": "guess" }),
        ),
    )
    .await;
    assert_eq!(
        wrong,
        json!({
            "status": "error",
            "message": "error calling webhook, request failed",
            "errorSource": "user",
            "connector_id": wrong["connector_id"],
            "service_message": "the PFX could not be opened (wrong password, or not PKCS#12)",
        })
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_server_that_requires_a_certificate_refuses_a_connector_without_one() {
    let server_ca = TestCa::new("Server CA");
    let client_ca = TestCa::new("Client CA");
    let server = tls_server(&server_ca, &["127.0.0.1"], Some(&client_ca)).await;
    let app = TestApp::with_settings(custom_ca(&server, &server_ca, None)).await;

    let result = run(&app, plain_webhook(&server.url("/"))).await;

    assert_eq!(result["status"], "error");
    assert_eq!(result["message"], "error calling webhook, request failed");
    assert!(
        result["service_message"]
            .as_str()
            .is_some_and(|it| !it.is_empty())
    );
    assert!(server.requests().is_empty());

    // A certificate from a CA the server does not trust is refused too.
    let stranger = TestCa::new("Stranger CA").issue(&["intruder"]);
    let result = run(
        &app,
        ssl_webhook(
            &server.url("/"),
            &server_ca,
            "ssl-crt-key",
            json!({ "crt": stranger.cert_base64(), "key": stranger.key_base64() }),
        ),
    )
    .await;
    assert_eq!(result["status"], "error");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn pfx_certificates_can_be_disabled() {
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": { "webhook": { "ssl": { "pfx": { "enabled": false } } } } }
    }))
    .await;
    let ca = TestCa::new("Any CA");

    let response = app
        .post(
            "/api/actions/connector",
            ssl_webhook(
                "https://127.0.0.1:9/",
                &ca,
                "ssl-pfx",
                json!({ "pfx": "AAAA" }),
            ),
        )
        .await;

    assert_error(
        &response,
        400,
        "error validating action type config: error validation webhook action config: certType \"ssl-pfx\" is disabled",
    );
}

#[tokio::test]
async fn https_through_the_proxy_is_a_connect_tunnel_carrying_the_proxy_headers() {
    let ca = TestCa::new("Switchboard test CA");
    let server = tls_server(&ca, &["127.0.0.1"], None).await;
    let proxy = TestProxy::start().await;
    let mut settings = custom_ca(&server, &ca, None);
    settings["xpack"]["actions"]["proxyUrl"] = json!(proxy.url());
    settings["xpack"]["actions"]["proxyHeaders"] =
        json!({ "Proxy-Authorization": "Basic cHJveHk6cGFzcw==" });
    let app = TestApp::with_settings(settings).await;

    assert_eq!(
        run(&app, plain_webhook(&server.url("/tunnelled"))).await["status"],
        "ok"
    );

    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(
        seen[0].target,
        format!("127.0.0.1:{}", server.address.port())
    );
    assert_eq!(
        seen[0].header("proxy-authorization"),
        Some("Basic cHJveHk6cGFzcw==")
    );
    assert_eq!(server.only_request().path, "/tunnelled");
}
