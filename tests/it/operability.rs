//! What operators look at: `/api/status`, `/metrics`, request ids, JSON logs.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, closed_port, process::ServerProcess};

#[tokio::test]
async fn status_shows_the_level_to_anyone_and_the_rest_to_users() {
    let app = TestApp::start().await;

    let anonymous = app.send(app.anonymous(Method::GET, "/api/status")).await;
    let wrong = app
        .send(
            app.anonymous(Method::GET, "/api/status")
                .basic_auth("elastic", Some("wrong")),
        )
        .await;
    let full = app.get("/api/status").await;

    let redacted = json!({ "status": { "overall": { "level": "available" } } });
    assert_eq!(
        (anonymous.status, anonymous.json()),
        (200, redacted.clone())
    );
    assert_eq!((wrong.status, wrong.json()), (200, redacted));
    assert_eq!(full.status, 200);
    let body = full.json();
    assert_eq!(body["name"], "switchboard");
    assert_eq!(body["version"]["number"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["version"]["build_flavor"], "traditional");
    assert_eq!(
        body["status"]["overall"],
        json!({ "level": "available", "summary": "All services are available" })
    );
    assert_eq!(body["status"]["core"]["savedObjects"]["level"], "available");
    assert!(body["uuid"].as_str().is_some_and(|it| it.len() == 36));
    // Nothing of the settings: not the data directory, not the generated key.
    let text = full.text;
    let data_dir = app.data_dir().to_str().unwrap().to_owned();
    let key = std::fs::read_to_string(app.data_dir().join("encryption.key")).unwrap_or_default();
    assert!(!text.contains(&data_dir), "{text}");
    assert!(
        key.trim().is_empty() || !text.contains(key.trim()),
        "{text}"
    );
}

fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_executions_outbound_errors_and_the_queue() {
    let hung = FakeServer::start(|_| Reply::Hang).await;
    let refused = closed_port();
    let app = TestApp::with_settings(json!({ "xpack": { "actions": {
        "responseTimeout": "300ms",
        "queue": { "pollInterval": "20ms" },
    } } }))
    .await;
    let log = app.create_typed(".server-log", json!({}), json!({})).await;
    let down = app
        .create_typed(
            ".webhook",
            json!({ "url": format!("http://127.0.0.1:{}/", refused.port) }),
            json!({}),
        )
        .await;
    let slow = app
        .create_typed(".webhook", json!({ "url": hung.url("/") }), json!({}))
        .await;

    app.execute(&log, json!({ "message": "one" })).await;
    app.execute(&log, json!({ "message": "two" })).await;
    app.execute(&log, json!({})).await;
    app.execute(&down, json!({ "body": "x" })).await;
    app.execute(&slow, json!({ "body": "x" })).await;
    // Held by the hanging sink: running, in the queue's depth.
    let held = app
        .post(
            &format!("/api/actions/connector/{slow}/_enqueue"),
            json!({ "params": { "body": "q" } }),
        )
        .await;
    assert_eq!(held.status, 202);
    hung.wait_for_requests(2).await;
    let anonymous = app.send(app.anonymous(Method::GET, "/metrics")).await;
    let scraped = app.get("/metrics").await;

    assert_eq!(anonymous.status, 401);
    assert_eq!(scraped.status, 200);
    assert_eq!(
        scraped.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let metrics = scraped.text;
    let execute_route = r#"route="/api/actions/connector/{id}/_execute""#;
    assert_eq!(
        sample(
            &metrics,
            &format!(r#"http_requests_total{{method="POST",{execute_route},status="200"}}"#)
        ),
        Some(5.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            &format!(
                r#"http_request_duration_seconds_count{{method="POST",{execute_route},status="200"}}"#
            )
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"switchboard_executions_total{connector_type=".server-log",source="http_request",outcome="success"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"switchboard_executions_total{connector_type=".server-log",source="http_request",outcome="failure"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"switchboard_outbound_errors_total{kind="refused"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"switchboard_outbound_errors_total{kind="timeout"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, r#"switchboard_queue_depth{state="running"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, r#"switchboard_queue_depth{state="queued"}"#),
        Some(0.0)
    );
    // No ids or URLs in any label.
    for id in [&log, &down, &slow] {
        assert!(!metrics.contains(id.as_str()), "{id} in {metrics}");
    }
    assert!(!metrics.contains("127.0.0.1"));
}

#[tokio::test]
async fn a_redirect_to_a_host_not_allowed_counts_as_not_allowed() {
    let target = FakeServer::start(|_| Reply::status(200, "")).await;
    let redirect_to = format!("http://localhost:{}/", target.address.port());
    let sink = FakeServer::start(move |_| {
        Reply::status(302, "").with_header("location", redirect_to.clone())
    })
    .await;
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1"] } } }),
    )
    .await;
    let hook = app
        .create_typed(".webhook", json!({ "url": sink.url("/") }), json!({}))
        .await;

    let result = app.execute(&hook, json!({ "body": "x" })).await;

    assert_eq!(result["status"], "error");
    let metrics = app.get("/metrics").await.text;
    assert_eq!(
        sample(
            &metrics,
            r#"switchboard_outbound_errors_total{kind="not_allowed"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::start().await;

    let generated = app.get("/api/actions/connectors").await;
    let kept = app
        .send(
            app.request(Method::GET, "/api/actions/connectors")
                .header("x-request-id", "trace-42:a.b_c"),
        )
        .await;
    let replaced = app
        .send(
            app.request(Method::GET, "/api/actions/connectors")
                .header("x-request-id", "bad id\twith spaces"),
        )
        .await;
    let not_found = app.get("/no/such/route").await;

    let id = |response: &crate::support::TestResponse| {
        response.headers["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(id(&generated).len(), 36);
    assert_eq!(id(&kept), "trace-42:a.b_c");
    assert_eq!(id(&replaced).len(), 36);
    assert_eq!(id(&not_found).len(), 36);
}

#[tokio::test]
async fn json_logs_are_ecs_lines_carrying_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = ServerProcess::serve(
        dir.path(),
        &[],
        &[
            ("SWITCHBOARD_SERVER_PORT", "0"),
            ("SWITCHBOARD_LOGGING_JSON", "true"),
            // The layer that names the request set to warn: its lines still carry the id.
            (
                "SWITCHBOARD_LOGGING_LOGGERS",
                r#"[{"name": "http", "level": "debug"}, {"name": "api", "level": "warn"}]"#,
            ),
        ],
    )
    .await;
    let response = crate::support::superuser_client()
        .get(format!("{}/api/actions/connectors", node.base_url))
        .header("x-request-id", "find-me-in-the-log")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let refused = closed_port();
    let (_, created) = node
        .call(
            Method::POST,
            "/api/actions/connector/down",
            Some(json!({ "name": "down", "connector_type_id": ".webhook",
                         "config": { "url": format!("http://127.0.0.1:{}/", refused.port) } })),
        )
        .await;
    assert_eq!(created["id"], "down");
    let failing = crate::support::superuser_client()
        .post(format!(
            "{}/api/actions/connector/down/_execute",
            node.base_url
        ))
        .header("kbn-xsrf", "true")
        .header("x-request-id", "the-failing-run")
        .json(&json!({ "params": { "body": "x" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(failing.status(), 200);
    let warning = node.wait_for_line("Connector run failed.").await;
    let warning: Value = serde_json::from_str(&warning).unwrap();
    assert_eq!(warning["http"]["request"]["id"], "the-failing-run");
    assert_eq!(warning["log"]["level"], "WARN");
    assert_eq!(
        warning["error"]["message"],
        "error calling webhook, request failed"
    );

    let line = node.wait_for_line("find-me-in-the-log").await;
    let entry: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["http"]["request"]["method"], "GET");
    assert_eq!(entry["url"]["path"], "/api/actions/connectors");
    assert_eq!(entry["http"]["response"]["status_code"], 200);
    assert_eq!(entry["http"]["request"]["id"], "find-me-in-the-log");
    assert_eq!(entry["log"]["logger"], "switchboard.http");
    assert_eq!(entry["log"]["level"], "DEBUG");
    // `GET /api/actions/connectors 200 3ms`, as Kibana's response log words it.
    let message = entry["message"].as_str().unwrap();
    assert!(message.starts_with("GET /api/actions/connectors 200 ") && message.ends_with("ms"));
    assert!(entry["@timestamp"].is_string());
    assert!(entry["ecs"]["version"].is_string());
    assert!(entry["process"]["pid"].is_u64());
    // Every line of the output is JSON.
    for line in node.output().lines().filter(|it| !it.trim().is_empty()) {
        if line.starts_with("stderr: ") {
            continue;
        }
        serde_json::from_str::<Value>(line).unwrap_or_else(|error| panic!("{error}: {line}"));
    }
    node.stop().await;
}

#[tokio::test]
async fn smtp_transport_failures_are_counted_and_mail_server_refusals_are_not() {
    let refused = closed_port();
    let app = TestApp::start().await;
    let mail = app
        .create_connector(json!({
            "name": "mail", "connector_type_id": ".email",
            "config": { "from": "alerts@example.com", "service": "other",
                        "host": "127.0.0.1", "port": refused.port, "hasAuth": false },
        }))
        .await;

    let result = app
        .execute(
            &mail,
            json!({ "to": ["ops@example.com"], "subject": "s", "message": "m" }),
        )
        .await;

    assert_eq!(result["status"], "error");
    let metrics = app.get("/metrics").await.text;
    assert_eq!(
        sample(
            &metrics,
            r#"switchboard_outbound_errors_total{kind="refused"}"#
        ),
        Some(1.0),
        "{}\n{metrics}",
        result["service_message"]
    );
}
