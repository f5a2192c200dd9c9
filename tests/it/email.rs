//! `.email` against a real SMTP server on loopback (plain, STARTTLS, TLS on connect,
//! AUTH), and Exchange through loopback fakes of the token endpoint and Graph.

use serde_json::{Value, json};

use crate::support::{
    FakeServer, Reply, TestApp,
    app::assert_error,
    closed_port,
    pki::TestCa,
    smtp::{SmtpServer, SmtpTls},
};

fn smtp_connector(port: u16, extra_config: Value, secrets: Value) -> Value {
    let mut config = json!({ "from": "alerts@example.com", "service": "other", "host": "127.0.0.1", "port": port });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra_config.as_object().unwrap().clone());
    json!({ "name": "mail", "connector_type_id": ".email", "config": config, "secrets": secrets })
}

/// A `customHostSettings` entry trusting `ca` for the loopback SMTP server on `port`.
fn trust_ca(port: u16, ca: &TestCa) -> Value {
    json!({ "url": format!("smtp://127.0.0.1:{port}"), "ssl": { "certificateAuthoritiesData": ca.cert_pem } })
}

fn alert() -> Value {
    json!({
        "to": ["ops@example.com"],
        "cc": ["lead@example.com"],
        "bcc": ["audit@example.com"],
        "subject": "Disk alert",
        "message": "The **disk** is full.",
    })
}

#[tokio::test]
async fn sends_a_message_with_text_and_html_parts_and_bcc_only_in_the_envelope() {
    let smtp = SmtpServer::start(SmtpTls::None, None).await;
    let app = TestApp::start().await;
    let id = app
        .create_connector(smtp_connector(
            smtp.address.port(),
            json!({ "hasAuth": false }),
            json!({}),
        ))
        .await;

    let result = app.execute(&id, alert()).await;

    assert_eq!(result["status"], "ok", "{result}");
    let data = &result["data"];
    assert_eq!(
        data["accepted"],
        json!(["ops@example.com", "lead@example.com", "audit@example.com"])
    );
    assert_eq!(data["rejected"], json!([]));
    assert_eq!(
        data["envelope"],
        json!({ "from": "alerts@example.com", "to": ["ops@example.com", "lead@example.com", "audit@example.com"] })
    );
    assert_eq!(data["response"], "250 2.0.0 Ok: queued as TEST42");
    assert!(
        data["messageTime"].is_u64() && data["envelopeTime"].is_u64(),
        "{data}"
    );
    let message_id = data["messageId"].as_str().unwrap();
    assert!(
        message_id.starts_with('<') && message_id.ends_with("@example.com>"),
        "{message_id}"
    );

    let received = smtp.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.mail_from, "alerts@example.com");
    assert_eq!(
        mail.rcpt_to,
        ["ops@example.com", "lead@example.com", "audit@example.com"]
    );
    assert!(!mail.over_tls);
    let data = &mail.data;
    // The size reported is what was sent (the test server ends the last line with CRLF).
    let size = result["data"]["messageSize"].as_u64().unwrap();
    assert!(
        (data.len() as u64).abs_diff(size) <= 2,
        "{size} vs {}",
        data.len()
    );
    for expected in [
        "From: alerts@example.com",
        "To: ops@example.com",
        "Cc: lead@example.com",
        "Subject: Disk alert",
        &format!("Message-ID: {message_id}"),
        "Content-Type: multipart/alternative",
        "Content-Type: text/plain; charset=utf-8",
        "The **disk** is full.\r\n\r\n---\r\n\r\nThis message was sent by Elastic.",
        "Content-Type: text/html; charset=utf-8",
        "<p>The <strong>disk</strong> is full.</p>",
    ] {
        assert!(
            data.contains(expected),
            "{expected:?} missing from:\n{data}"
        );
    }
    assert!(
        !data.contains("audit@example.com"),
        "Bcc leaked into the message:\n{data}"
    );
}

#[tokio::test]
async fn starttls_and_auth_with_a_ca_given_for_the_smtp_host() {
    let ca = TestCa::new("Mail CA");
    let certificate = ca.issue(&["127.0.0.1"]);
    let smtp = SmtpServer::start(
        SmtpTls::StartTls(TestCa::server_config(&certificate, None)),
        Some(("mailer", "s3cret-mail-password")),
    )
    .await;
    let port = smtp.address.port();
    let credentials = json!({ "user": "mailer", "password": "s3cret-mail-password" });

    // Authenticated, so the certificate must verify: unknown CA first.
    let strict = TestApp::start().await;
    let id = strict
        .create_connector(smtp_connector(port, json!({}), credentials.clone()))
        .await;
    let refused = strict.execute(&id, alert()).await;
    assert_eq!(refused["status"], "error");
    assert_eq!(refused["message"], "error sending email");
    let reason = refused["service_message"].as_str().unwrap().to_lowercase();
    assert!(
        reason.contains("certificate") || reason.contains("unknownissuer"),
        "{reason}"
    );
    assert!(smtp.received().is_empty());

    let trusting = TestApp::with_settings(
        json!({ "xpack": { "actions": { "customHostSettings": [trust_ca(port, &ca)] } } }),
    )
    .await;
    let id = trusting
        .create_connector(smtp_connector(port, json!({}), credentials))
        .await;
    let result = trusting.execute(&id, alert()).await;

    assert_eq!(result["status"], "ok", "{result}");
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].over_tls);
    assert_eq!(received[0].authenticated_as.as_deref(), Some("mailer"));
}

#[tokio::test]
async fn tls_on_connect_when_secure() {
    let ca = TestCa::new("Mail CA");
    let certificate = ca.issue(&["127.0.0.1"]);
    let smtp = SmtpServer::start(
        SmtpTls::OnConnect(TestCa::server_config(&certificate, None)),
        None,
    )
    .await;
    let port = smtp.address.port();
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "customHostSettings": [trust_ca(port, &ca)] } } }),
    )
    .await;
    let id = app
        .create_connector(smtp_connector(
            port,
            json!({ "secure": true, "hasAuth": false }),
            json!({}),
        ))
        .await;

    assert_eq!(app.execute(&id, alert()).await["status"], "ok");
    assert!(smtp.received()[0].over_tls);
}

#[tokio::test]
async fn smtp_failures_are_error_results_without_secrets() {
    let smtp = SmtpServer::start(SmtpTls::None, Some(("mailer", "right-password"))).await;
    let app = TestApp::start().await;

    // Refused credentials (AUTH over plain text only because the test server allows it).
    let wrong = app
        .create_connector(smtp_connector(
            smtp.address.port(),
            json!({}),
            json!({ "user": "mailer", "password": "wrong-password-value" }),
        ))
        .await;
    let result = app.execute(&wrong, alert()).await;
    assert_eq!(result["status"], "error");
    assert_eq!(result["message"], "error sending email");
    let service_message = result["service_message"].as_str().unwrap();
    assert!(service_message.contains("535"), "{service_message}");
    assert!(!result.to_string().contains("wrong-password-value"));

    // A recipient the server refuses.
    let right = app
        .create_connector(smtp_connector(
            smtp.address.port(),
            json!({}),
            json!({ "user": "mailer", "password": "right-password" }),
        ))
        .await;
    // A refused recipient among others: the rest get the message, as with nodemailer.
    let mut params = alert();
    params["to"] = json!(["refused@example.com"]);
    let result = app.execute(&right, params).await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["data"]["rejected"], json!(["refused@example.com"]));
    assert_eq!(
        result["data"]["accepted"],
        json!(["lead@example.com", "audit@example.com"])
    );
    assert_eq!(
        smtp.received()[0].rcpt_to,
        ["lead@example.com", "audit@example.com"]
    );

    // Every recipient refused: nothing is sent.
    let only_refused = json!({ "to": ["refused@example.com"], "subject": "s", "message": "m" });
    let result = app.execute(&right, only_refused).await;
    assert_eq!(result["message"], "error sending email");
    let service_message = result["service_message"].as_str().unwrap();
    assert!(
        service_message.starts_with("Can't send mail - all recipients were rejected: ")
            && service_message.contains("550"),
        "{service_message}"
    );
    assert_eq!(smtp.received().len(), 1);

    // Nobody listening.
    let closed = closed_port();
    let down = app
        .create_connector(smtp_connector(
            closed.port,
            json!({ "hasAuth": false }),
            json!({}),
        ))
        .await;
    let result = app.execute(&down, alert()).await;
    assert_eq!(result["message"], "error sending email");
    assert!(
        result["service_message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("refused"),
        "{result}"
    );
}

#[tokio::test]
async fn params_and_allowed_domains_are_checked_with_kibanas_messages() {
    let smtp = SmtpServer::start(SmtpTls::None, None).await;
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": { "email": { "domain_allowlist": ["example.com"] } } }
    }))
    .await;

    let mut outsider = smtp_connector(smtp.address.port(), json!({ "hasAuth": false }), json!({}));
    outsider["config"]["from"] = json!("alerts@elsewhere.org");
    assert_error(
        &app.post("/api/actions/connector", outsider).await,
        400,
        "error validating action type config: [from]: not allowed emails: alerts@elsewhere.org",
    );

    let id = app
        .create_connector(smtp_connector(
            smtp.address.port(),
            json!({ "hasAuth": false }),
            json!({}),
        ))
        .await;
    let cases = [
        (
            json!({ "subject": "s", "message": "m" }),
            "error validating action params: no [to], [cc], or [bcc] entries",
        ),
        (
            json!({ "to": ["ok@example.com", "x@elsewhere.org", "nope"], "subject": "s", "message": "m" }),
            "error validating action params: [to/cc/bcc]: not valid emails: nope; not allowed emails: x@elsewhere.org",
        ),
        (
            json!({ "to": ["ok@example.com"], "message": "m" }),
            "error validating action params: [subject]: expected value of type [string] but got [undefined]",
        ),
    ];
    for (params, message) in cases {
        let result = app.execute(&id, params).await;
        assert_eq!(result["message"], message);
        assert_eq!(result["retry"], false);
    }
    let mut html = alert();
    html["messageHTML"] = json!("<b>hi</b>");
    let result = app.execute(&id, html).await;
    assert_eq!(
        result["message"],
        "HTML email can only be sent via notifications"
    );
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn the_documented_examples_work() {
    let smtp = SmtpServer::start(SmtpTls::None, Some(("username", "password"))).await;
    let app = TestApp::start().await;
    // create-connector-with-id.txt, as written.
    let response = app
        .post(
            "/api/actions/connector/email-connector-1",
            json!({
                "name": "email-connector-1",
                "config": { "from": "tester@example.com", "host": "https://example.com", "port": 1025, "secure": false, "hasAuth": true, "service": "other" },
                "secrets": { "user": "username", "password": "password" },
                "connector_type_id": ".email",
            }),
        )
        .await;
    assert_eq!(
        response.json(),
        json!({
            "id": "email-connector-1",
            "name": "email-connector-1",
            "config": {
                "from": "tester@example.com", "host": "https://example.com", "port": 1025, "secure": false,
                "hasAuth": true, "service": "other", "clientId": null, "tenantId": null, "oauthTokenUrl": null,
            },
            "connector_type_id": ".email",
            "is_missing_secrets": false,
            "is_preconfigured": false,
            "is_deprecated": false,
            "is_system_action": false,
            "is_connector_type_deprecated": false,
        })
    );
    // run-connector.txt's email params, against the loopback server.
    let id = app
        .create_connector(smtp_connector(
            smtp.address.port(),
            json!({ "from": "tester@example.com" }),
            json!({ "user": "username", "password": "password" }),
        ))
        .await;
    let result = app
        .execute(
            &id,
            json!({
                "cc": ["user2@example.com", "user3@example.com"],
                "to": ["user4@example.com"],
                "bcc": ["user1@example.com"],
                "message": "Test email message.",
                "subject": "Test message subject",
            }),
        )
        .await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["data"]["envelope"]["from"], "tester@example.com");
    assert_eq!(result["data"]["accepted"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn exchange_gets_a_token_once_and_sends_through_graph() {
    let token_requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = token_requests.clone();
    let microsoft = FakeServer::start(move |request| {
        if request.path.ends_with("/oauth2/v2.0/token") {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Reply::json(200, json!({ "token_type": "Bearer", "access_token": format!("token-{n}"), "expires_in": 3600 }))
        } else if request.body.contains("\"refuse me\"") {
            Reply::json(401, json!({ "error": { "code": "InvalidAuthenticationToken", "message": "expired" } }))
        } else {
            Reply::status(202, "")
        }
    })
    .await;
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": {
            "microsoftExchangeUrl": microsoft.url(""),
            "microsoftGraphApiUrl": microsoft.url("/v1.0"),
        } }
    }))
    .await;
    let id = app
        .create_connector(json!({
            "name": "exchange", "connector_type_id": ".email",
            "config": { "service": "exchange_server", "from": "alerts@example.com", "clientId": "client-1", "tenantId": "tenant-1" },
            "secrets": { "clientSecret": "very-secret-client" },
        }))
        .await;

    assert_eq!(
        app.execute(&id, alert()).await,
        json!({ "status": "ok", "data": "", "connector_id": id })
    );
    assert_eq!(app.execute(&id, alert()).await["status"], "ok");

    let requests = microsoft.requests();
    assert_eq!(requests.len(), 3, "one token, two sends: {requests:#?}");
    let token = &requests[0];
    assert_eq!(token.path, "/tenant-1/oauth2/v2.0/token");
    assert_eq!(
        token.header("content-type"),
        Some("application/x-www-form-urlencoded; charset=UTF-8")
    );
    assert_eq!(
        token.body,
        "client_id=client-1&client_secret=very-secret-client&grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
    );
    let send = &requests[1];
    assert_eq!(send.path, "/v1.0/users/alerts@example.com/sendMail");
    assert_eq!(send.header("authorization"), Some("Bearer token-0"));
    let body: Value = serde_json::from_str(&send.body).unwrap();
    assert_eq!(body["message"]["subject"], "Disk alert");
    assert_eq!(body["message"]["body"]["contentType"], "HTML");
    assert!(
        body["message"]["body"]["content"]
            .as_str()
            .unwrap()
            .contains("<strong>disk</strong>")
    );
    assert_eq!(
        body["message"]["toRecipients"],
        json!([{ "emailAddress": { "address": "ops@example.com" } }])
    );
    assert_eq!(
        body["message"]["bccRecipients"],
        json!([{ "emailAddress": { "address": "audit@example.com" } }])
    );
    assert_eq!(requests[2].header("authorization"), Some("Bearer token-0"));

    // A 4xx from Graph is an error with its body, and the token is dropped.
    let mut refused = alert();
    refused["subject"] = json!("refuse me");
    let result = app.execute(&id, refused).await;
    assert_eq!(result["message"], "error sending email");
    assert_eq!(
        result["service_message"],
        r#"{"error":{"code":"InvalidAuthenticationToken","message":"expired"}}"#
    );
    app.execute(&id, alert()).await;
    assert_eq!(token_requests.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(!result.to_string().contains("very-secret-client"));
}

#[tokio::test]
async fn the_egress_policy_applies_to_smtp() {
    let smtp = SmtpServer::start(SmtpTls::None, None).await;
    let port = smtp.address.port();

    let blocking = TestApp::with_settings(
        json!({ "xpack": { "actions": { "blockPrivateAddresses": true } } }),
    )
    .await;
    let id = blocking
        .create_connector(smtp_connector(
            port,
            json!({ "host": "localhost", "hasAuth": false }),
            json!({}),
        ))
        .await;
    let result = blocking.execute(&id, alert()).await;
    assert_eq!(result["message"], "error sending email");
    let service_message = result["service_message"].as_str().unwrap();
    assert!(
        service_message.starts_with("target hostname \"localhost\" resolves to ")
            && service_message.ends_with("which xpack.actions.blockPrivateAddresses refuses"),
        "{service_message}"
    );

    let restricted = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["mail.example.com"] } } }),
    )
    .await;
    assert_error(
        &restricted
            .post(
                "/api/actions/connector",
                smtp_connector(port, json!({ "hasAuth": false }), json!({})),
            )
            .await,
        400,
        "error validating action type config: [host] value '127.0.0.1' is not in the allowedHosts configuration",
    );

    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn mail_goes_through_the_proxy_in_a_connect_tunnel_with_starttls_or_tls_on_connect() {
    let ca = TestCa::new("Mail CA");
    let certificate = ca.issue(&["127.0.0.1"]);
    let starttls = SmtpServer::start(
        SmtpTls::StartTls(TestCa::server_config(&certificate, None)),
        Some(("mailer", "tunnel-password")),
    )
    .await;
    let on_connect = SmtpServer::start(
        SmtpTls::OnConnect(TestCa::server_config(&certificate, None)),
        None,
    )
    .await;
    let plain = SmtpServer::start(SmtpTls::None, None).await;
    let proxy = crate::support::proxy::TestProxy::start().await;
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": {
            "proxyUrl": proxy.url(),
            "proxyHeaders": { "X-Proxy-Token": "mail-tunnel" },
            "customHostSettings": [trust_ca(starttls.address.port(), &ca), trust_ca(on_connect.address.port(), &ca)],
        } }
    }))
    .await;

    let through_starttls = app
        .create_connector(smtp_connector(
            starttls.address.port(),
            json!({}),
            json!({ "user": "mailer", "password": "tunnel-password" }),
        ))
        .await;
    let result = app.execute(&through_starttls, alert()).await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["data"]["response"], "250 2.0.0 Ok: queued as TEST42");
    let received = starttls.received();
    assert!(received[0].over_tls);
    assert_eq!(received[0].authenticated_as.as_deref(), Some("mailer"));
    assert!(received[0].data.contains("Subject: Disk alert"));

    let through_tls = app
        .create_connector(smtp_connector(
            on_connect.address.port(),
            json!({ "secure": true, "hasAuth": false }),
            json!({}),
        ))
        .await;
    assert_eq!(app.execute(&through_tls, alert()).await["status"], "ok");
    assert!(on_connect.received()[0].over_tls);

    let through_plain = app
        .create_connector(smtp_connector(
            plain.address.port(),
            json!({ "hasAuth": false }),
            json!({}),
        ))
        .await;
    assert_eq!(app.execute(&through_plain, alert()).await["status"], "ok");
    assert!(!plain.received()[0].over_tls);

    let seen = proxy.seen();
    let targets: Vec<&str> = seen.iter().map(|it| it.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            format!("127.0.0.1:{}", starttls.address.port()),
            format!("127.0.0.1:{}", on_connect.address.port()),
            format!("127.0.0.1:{}", plain.address.port()),
        ]
    );
    assert!(
        seen.iter()
            .all(|it| it.method == "CONNECT" && it.header("x-proxy-token") == Some("mail-tunnel"))
    );
}

#[tokio::test]
async fn the_json_service_returns_the_composed_message_without_sending() {
    let app = TestApp::start().await;
    let id = app
        .create_connector(json!({
            "name": "test transport", "connector_type_id": ".email",
            "config": { "service": "__json", "from": "alerts@example.com", "hasAuth": false },
        }))
        .await;

    let result = app.execute(&id, alert()).await;

    assert_eq!(result["status"], "ok", "{result}");
    let data = &result["data"];
    assert_eq!(
        data["envelope"],
        json!({ "from": "alerts@example.com", "to": ["ops@example.com", "lead@example.com", "audit@example.com"] })
    );
    assert_eq!(data["message"]["subject"], "Disk alert");
    assert_eq!(
        data["message"]["bcc"],
        json!([{ "address": "audit@example.com" }])
    );
    assert_eq!(
        data["message"]["text"],
        "The **disk** is full.\n\n---\n\nThis message was sent by Elastic."
    );
    assert_eq!(
        data["message"]["html"],
        "<p>The <strong>disk</strong> is full.</p>\n<hr />\n<p>This message was sent by Elastic.</p>\n"
    );
}

#[tokio::test]
async fn a_silent_server_behind_the_proxy_ends_in_a_timeout() {
    // Accepts connections (the kernel does) and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = crate::support::proxy::TestProxy::start().await;
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": { "proxyUrl": proxy.url(), "responseTimeout": "300ms" } }
    }))
    .await;
    let id = app
        .create_connector(smtp_connector(
            silent.local_addr().unwrap().port(),
            json!({ "hasAuth": false }),
            json!({}),
        ))
        .await;

    let result = app.execute(&id, alert()).await;

    assert_eq!(result["message"], "error sending email");
    assert_eq!(result["service_message"], "timeout of 300ms exceeded");
}

#[tokio::test]
async fn an_unauthenticated_relay_may_present_any_certificate_as_in_kibana() {
    // A relay offering STARTTLS with a certificate nobody trusts (maildev and friends).
    let stranger = TestCa::new("Nobody trusts this CA").issue(&["127.0.0.1"]);
    let relay = SmtpServer::start(
        SmtpTls::StartTls(TestCa::server_config(&stranger, None)),
        None,
    )
    .await;
    let app = TestApp::start().await;
    let id = app
        .create_connector(smtp_connector(
            relay.address.port(),
            json!({ "hasAuth": false }),
            json!({}),
        ))
        .await;

    assert_eq!(app.execute(&id, alert()).await["status"], "ok");
    assert!(relay.received()[0].over_tls);
}

#[tokio::test]
async fn a_changed_client_secret_gets_a_new_token() {
    let token_requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = token_requests.clone();
    let microsoft = FakeServer::start(move |request| {
        if request.path.ends_with("/token") {
            seen.lock().unwrap().push(request.body.clone());
            Reply::json(
                200,
                json!({ "token_type": "Bearer", "access_token": "t", "expires_in": "3600" }),
            )
        } else {
            Reply::status(202, "")
        }
    })
    .await;
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": { "microsoftExchangeUrl": microsoft.url(""), "microsoftGraphApiUrl": microsoft.url("/v1.0") } }
    }))
    .await;
    let config = json!({ "service": "exchange_server", "from": "alerts@example.com", "clientId": "c", "tenantId": "t" });
    let id = app
        .create_connector(json!({
            "name": "exchange", "connector_type_id": ".email", "config": config,
            "secrets": { "clientSecret": "first-secret" },
        }))
        .await;
    app.execute(&id, alert()).await;
    app.execute(&id, alert()).await;
    app.put(
        &format!("/api/actions/connector/{id}"),
        json!({ "name": "exchange", "config": config, "secrets": { "clientSecret": "second-secret" } }),
    )
    .await;
    app.execute(&id, alert()).await;

    let bodies = token_requests.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[0].contains("client_secret=first-secret"));
    assert!(bodies[1].contains("client_secret=second-secret"));
}

#[tokio::test]
async fn a_host_that_would_break_the_connect_line_is_refused() {
    let proxy = crate::support::proxy::TestProxy::start().await;
    let app =
        TestApp::with_settings(json!({ "xpack": { "actions": { "proxyUrl": proxy.url() } } }))
            .await;
    let id = app
        .create_connector(smtp_connector(
            25,
            json!({ "host": "mail\r\nX-Injected: yes", "hasAuth": false }),
            json!({}),
        ))
        .await;

    let result = app.execute(&id, alert()).await;

    assert_eq!(
        result["service_message"],
        "invalid SMTP host \"mail\\r\\nX-Injected: yes\""
    );
    assert!(proxy.seen().is_empty());
}

#[tokio::test]
async fn mail_goes_through_an_https_proxy_checked_per_proxy_verification_mode() {
    let ca = TestCa::new("Proxy and mail CA");
    let proxy_certificate = ca.issue(&["127.0.0.1"]);
    let proxy = crate::support::proxy::TestProxy::start_tls(TestCa::server_config(
        &proxy_certificate,
        None,
    ))
    .await;
    let smtp = SmtpServer::start(SmtpTls::None, None).await;
    // The proxy's certificate is from a CA the server does not know: only "none" lets it pass.
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": {
            "proxyUrl": proxy.url(),
            "ssl": { "proxyVerificationMode": "none", "verificationMode": "none" },
        } }
    }))
    .await;
    let id = app
        .create_connector(smtp_connector(
            smtp.address.port(),
            json!({ "hasAuth": false }),
            json!({}),
        ))
        .await;

    assert_eq!(app.execute(&id, alert()).await["status"], "ok");
    assert_eq!(proxy.seen()[0].method, "CONNECT");
    assert_eq!(smtp.received().len(), 1);

    let strict =
        TestApp::with_settings(json!({ "xpack": { "actions": { "proxyUrl": proxy.url() } } }))
            .await;
    let id = strict
        .create_connector(smtp_connector(
            smtp.address.port(),
            json!({ "hasAuth": false }),
            json!({}),
        ))
        .await;
    let result = strict.execute(&id, alert()).await;
    assert_eq!(result["status"], "error");
    assert!(
        result["service_message"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach the proxy"),
        "{result}"
    );
    assert_eq!(proxy.seen().len(), 1);
}
