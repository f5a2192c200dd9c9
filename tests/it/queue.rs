//! Queued executions through the real server: `_enqueue` and `_bulk_enqueue`, the
//! workers' retries, the queue limit, idempotency keys, and the execution log's
//! endpoints with their shapes, filters and paging.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, app::assert_error};

/// Short waits, so retries happen within a test.
fn fast_queue() -> Value {
    json!({ "xpack": { "actions": { "queue": {
        "pollInterval": "20ms",
        "backoff": { "first": "30ms", "base": "30ms", "max": "60ms" },
    } } } })
}

async fn app_with(extra: Value) -> TestApp {
    let mut settings = fast_queue();
    crate::support::app::deep_merge(&mut settings, &extra);
    TestApp::with_settings(settings).await
}

/// A sink answering `failure()` to its first `times` calls, then 200.
async fn failing_first(
    times: usize,
    failure: impl Fn() -> Reply + Send + Sync + 'static,
) -> FakeServer {
    let calls = AtomicUsize::new(0);
    FakeServer::start(move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) < times {
            failure()
        } else {
            Reply::status(200, "ok")
        }
    })
    .await
}

async fn webhook(app: &TestApp, sink: &FakeServer) -> String {
    app.create_connector(json!({
        "name": "queued hook",
        "connector_type_id": ".webhook",
        "config": { "url": sink.url("/hook"), "hasAuth": true },
        "secrets": { "user": "hook-user", "password": "hook-password-never-shown" },
    }))
    .await
}

async fn enqueue(app: &TestApp, id: &str, body: Value) -> String {
    let response = app
        .post(&format!("/api/actions/connector/{id}/_enqueue"), body)
        .await;
    assert_eq!(response.status, 202, "{}", response.text);
    response.json()["execution_id"].as_str().unwrap().to_owned()
}

/// Polls an execution until it reaches a final state (bounded).
async fn finished(app: &TestApp, execution_id: &str) -> Value {
    finished_in(app, "", execution_id).await
}

async fn finished_in(app: &TestApp, space_prefix: &str, execution_id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = app
            .get(&format!(
                "{space_prefix}/api/actions/executions/{execution_id}"
            ))
            .await;
        if response.status == 200 {
            let body = response.json();
            if body["status"] == "succeeded" || body["status"] == "failed" {
                return body;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "execution {execution_id} did not finish: {}",
            response.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn outcomes(execution: &Value) -> Vec<(i64, String, Value)> {
    execution["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| {
            (
                it["attempt"].as_i64().unwrap(),
                it["outcome"].as_str().unwrap().to_owned(),
                it["retry"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_enqueued_execution_is_sent_once_and_its_status_and_log_say_so() {
    let sink = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let app = app_with(json!({})).await;
    let id = webhook(&app, &sink).await;

    let execution_id = enqueue(&app, &id, json!({ "params": { "body": "{\"n\":1}" } })).await;
    let execution = finished(&app, &execution_id).await;

    let request = sink.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/hook")
    );
    assert_eq!(request.body, "{\"n\":1}");
    assert_eq!(execution["status"], "succeeded");
    assert_eq!(execution["source"], "queue");
    assert_eq!(
        (
            execution["attempts"].clone(),
            execution["max_attempts"].clone()
        ),
        (json!(1), json!(3))
    );
    assert_eq!(execution["user"], "elastic");
    let entry = &execution["log"][0];
    assert_eq!(entry["outcome"], "success");
    assert_eq!(
        entry["message"],
        format!("action executed: .webhook:{id}: queued hook")
    );
    assert_eq!(entry["connector_type_id"], ".webhook");
    assert_eq!(entry["source"], "queue");
    assert!(entry["schedule_delay_ms"].is_i64());
    assert!(!execution.to_string().contains("hook-password-never-shown"));
}

#[tokio::test]
async fn server_errors_are_retried_on_the_backoff_until_one_succeeds() {
    let sink = failing_first(2, || Reply::status(500, "down")).await;
    let app = app_with(json!({})).await;
    let id = webhook(&app, &sink).await;

    let execution_id = enqueue(&app, &id, json!({ "params": { "body": "x" } })).await;
    let execution = finished(&app, &execution_id).await;

    assert_eq!(execution["status"], "succeeded");
    assert_eq!(
        outcomes(&execution),
        vec![
            (1, "failure".to_owned(), json!(true)),
            (2, "failure".to_owned(), json!(true)),
            (3, "success".to_owned(), Value::Null),
        ]
    );
    assert_eq!(
        execution["log"][0]["error_message"],
        "error calling webhook, retry later"
    );
    assert_eq!(sink.requests().len(), 3);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sink = failing_first(1, || {
        Reply::status(429, "slow down").with_header("retry-after", "1")
    })
    .await;
    let app = app_with(json!({})).await;
    let id = webhook(&app, &sink).await;

    let execution_id = enqueue(&app, &id, json!({ "params": { "body": "x" } })).await;
    let execution = finished(&app, &execution_id).await;

    assert_eq!(execution["status"], "succeeded");
    let first = &execution["log"][0];
    let retry_at = first["retry"].as_str().expect("a retry time");
    assert!(
        first["error_message"]
            .as_str()
            .unwrap()
            .starts_with("error calling webhook, retry at ")
    );
    let second_started = execution["log"][1]["timestamp"].as_str().unwrap();
    // The second attempt starts no earlier than the time the service asked for.
    assert!(second_started >= retry_at, "{second_started} < {retry_at}");
}

#[tokio::test]
async fn a_client_error_stops_at_once_and_max_attempts_are_respected() {
    let refusing = FakeServer::start(|_| Reply::status(400, "bad")).await;
    let failing = FakeServer::start(|_| Reply::status(503, "down")).await;
    let app = app_with(json!({ "xpack": { "actions": { "run": { "maxAttempts": 2 } } } })).await;
    let refused = webhook(&app, &refusing).await;
    let down = webhook(&app, &failing).await;

    let once = finished(
        &app,
        &enqueue(&app, &refused, json!({ "params": { "body": "x" } })).await,
    )
    .await;
    let twice = finished(
        &app,
        &enqueue(&app, &down, json!({ "params": { "body": "x" } })).await,
    )
    .await;

    assert_eq!(once["status"], "failed");
    assert_eq!(
        outcomes(&once),
        vec![(1, "failure".to_owned(), Value::Null)]
    );
    assert_eq!(refusing.requests().len(), 1);
    assert_eq!(twice["status"], "failed");
    assert_eq!(twice["max_attempts"], 2);
    assert_eq!(
        outcomes(&twice),
        vec![
            (1, "failure".to_owned(), json!(true)),
            (2, "failure".to_owned(), json!(true)),
        ]
    );
    assert_eq!(failing.requests().len(), 2);
}

#[tokio::test]
async fn a_connector_type_override_wins_over_max_attempts() {
    let failing = FakeServer::start(|_| Reply::status(500, "down")).await;
    let app = app_with(json!({ "xpack": { "actions": { "run": {
        "maxAttempts": 5,
        "connectorTypeOverrides": [{ "id": ".webhook", "maxAttempts": 1 }],
    } } } }))
    .await;
    let id = webhook(&app, &failing).await;

    let execution = finished(
        &app,
        &enqueue(&app, &id, json!({ "params": { "body": "x" } })).await,
    )
    .await;

    assert_eq!(
        (
            execution["status"].clone(),
            execution["max_attempts"].clone()
        ),
        (json!("failed"), json!(1))
    );
    assert_eq!(failing.requests().len(), 1);
}

#[tokio::test]
async fn beyond_queued_max_enqueue_answers_429_and_drops_nothing() {
    let sink = FakeServer::start(|_| Reply::Hang).await;
    let app = app_with(json!({ "xpack": { "actions": { "queued": { "max": 2 } } } })).await;
    let id = webhook(&app, &sink).await;
    let first = enqueue(&app, &id, json!({ "params": { "body": "1" } })).await;
    let second = enqueue(&app, &id, json!({ "params": { "body": "2" } })).await;

    let refused = app
        .post(
            &format!("/api/actions/connector/{id}/_enqueue"),
            json!({ "params": { "body": "3" } }),
        )
        .await;
    let bulk = app
        .post(
            "/api/actions/_bulk_enqueue",
            json!({ "executions": [{ "connector_id": id, "params": { "body": "4" } }] }),
        )
        .await;

    let message = "Cannot queue: the maximum number of queued actions has been reached (xpack.actions.queued.max: 2). Nothing was queued; try again later.";
    assert_error(&refused, 429, message);
    assert_error(&bulk, 429, message);
    sink.wait_for_requests(2).await;
    for execution_id in [first, second] {
        let response = app
            .get(&format!("/api/actions/executions/{execution_id}"))
            .await;
        assert_eq!(response.json()["status"], "running", "{}", response.text);
    }
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_execution_and_runs_it_once() {
    let sink = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let app = app_with(json!({})).await;
    let id = webhook(&app, &sink).await;
    let other = webhook(&app, &sink).await;
    let body = json!({ "params": { "body": "once" }, "idempotency_key": "alert-42" });

    let first = enqueue(&app, &id, body.clone()).await;
    let again = enqueue(&app, &id, body.clone()).await;
    let bulk = app
        .post(
            "/api/actions/_bulk_enqueue",
            json!({ "executions": [
                { "connector_id": id, "params": { "body": "once" }, "idempotency_key": "alert-42" },
                { "connector_id": other, "params": { "body": "other" }, "idempotency_key": "alert-42" },
            ] }),
        )
        .await;
    finished(&app, &first).await;

    assert_eq!(first, again);
    assert_eq!(bulk.status, 202, "{}", bulk.text);
    let ids = bulk.json()["executions"].clone();
    assert_eq!(ids[0]["execution_id"], first);
    let for_other = ids[1]["execution_id"].as_str().unwrap().to_owned();
    assert_ne!(for_other, first);
    finished(&app, &for_other).await;
    let bodies: Vec<String> = sink.requests().into_iter().map(|it| it.body).collect();
    assert_eq!(
        bodies.iter().filter(|it| *it == "once").count(),
        1,
        "{bodies:?}"
    );
    assert_eq!(
        bodies.iter().filter(|it| *it == "other").count(),
        1,
        "{bodies:?}"
    );
}

#[tokio::test]
async fn enqueue_refuses_what_execute_would_with_kibanas_messages() {
    let sink = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let app = app_with(json!({})).await;
    let id = webhook(&app, &sink).await;
    let log = app.create_typed(".server-log", json!({}), json!({})).await;

    let no_params = app
        .post(&format!("/api/actions/connector/{id}/_enqueue"), json!({}))
        .await;
    let unknown_key = app
        .post(
            &format!("/api/actions/connector/{id}/_enqueue"),
            json!({ "params": {}, "when": "now" }),
        )
        .await;
    let bad_params = app
        .post(
            &format!("/api/actions/connector/{log}/_enqueue"),
            json!({ "params": { "message": 5 } }),
        )
        .await;
    let missing = app
        .post(
            "/api/actions/connector/nope/_enqueue",
            json!({ "params": {} }),
        )
        .await;
    let bulk_bad_item = app
        .post(
            "/api/actions/_bulk_enqueue",
            json!({ "executions": [
                { "connector_id": log, "params": { "message": "fine" } },
                { "connector_id": log, "params": {} },
            ] }),
        )
        .await;
    let bulk_empty = app
        .post("/api/actions/_bulk_enqueue", json!({ "executions": [] }))
        .await;

    assert_error(
        &no_params,
        400,
        "[request body.params]: expected value of type [object] but got [undefined]",
    );
    assert_error(
        &unknown_key,
        400,
        "[request body.when]: definition for this key is missing",
    );
    assert_error(
        &bad_params,
        400,
        "error validating action params: [message]: expected value of type [string] but got [number]",
    );
    assert_error(&missing, 404, "Saved object [action/nope] not found");
    assert_error(
        &bulk_bad_item,
        400,
        "[executions.1]: error validating action params: [message]: expected value of type [string] but got [undefined]",
    );
    assert_error(
        &bulk_empty,
        400,
        "[request body.executions]: array size is [0], but cannot be smaller than [1]",
    );
    // Nothing was queued by the refused bulk request: its valid first item neither.
    let log_entries = app
        .get(&format!("/api/actions/connector/{log}/_execution_log"))
        .await;
    assert_eq!(log_entries.json()["total"], 0);
}

#[tokio::test]
async fn execute_runs_are_logged_under_the_id_in_their_header() {
    let app = app_with(json!({})).await;
    let id = app.create_typed(".server-log", json!({}), json!({})).await;

    let response = app
        .post(
            &format!("/api/actions/connector/{id}/_execute"),
            json!({ "params": { "message": "hello" } }),
        )
        .await;
    let execution_id = response.headers["x-execution-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let execution = finished(&app, &execution_id).await;

    assert_eq!(execution["status"], "succeeded");
    assert_eq!(execution["source"], "http_request");
    assert_eq!(
        execution["log"][0]["message"],
        format!("action executed: .server-log:{id}: my .server-log")
    );
    let unknown = app.get("/api/actions/executions/not-an-execution").await;
    assert_error(&unknown, 404, "Execution [not-an-execution] not found");
    // Another space does not see it.
    app.create_space("elsewhere").await;
    let elsewhere = app
        .get(&format!(
            "/s/elsewhere/api/actions/executions/{execution_id}"
        ))
        .await;
    assert_error(
        &elsewhere,
        404,
        &format!("Execution [{execution_id}] not found"),
    );
}

/// Runs `count` executions of a server-log connector over `_execute`, alternating
/// valid and invalid params (failures), and waits until the log holds them all.
async fn logged_runs(app: &TestApp, id: &str, count: usize) {
    for index in 0..count {
        let params = if index % 2 == 0 {
            json!({ "message": format!("run {index}") })
        } else {
            json!({})
        };
        app.execute(id, params).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = app
            .get(&format!("/api/actions/connector/{id}/_execution_log"))
            .await;
        if log.json()["total"] == count {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", log.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_connector_log_filters_sorts_and_pages() {
    let app = app_with(json!({})).await;
    let id = app.create_typed(".server-log", json!({}), json!({})).await;
    logged_runs(&app, &id, 5).await;

    let failures = app
        .get(&format!(
            "/api/actions/connector/{id}/_execution_log?outcome=failure"
        ))
        .await
        .json();
    let page_two = app
        .get(&format!(
            "/api/actions/connector/{id}/_execution_log?per_page=2&page=2&sort_order=asc"
        ))
        .await
        .json();
    let all_ascending = app
        .get(&format!(
            "/api/actions/connector/{id}/_execution_log?sort_order=asc"
        ))
        .await
        .json();
    let kql = app
        .get(&format!(
            "/api/actions/connector/{id}/_execution_log?filter=error.message%3A%20%22message%5D%22"
        ))
        .await
        .json();

    assert_eq!(failures["total"], 2);
    assert!(
        failures["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|it| it["outcome"] == "failure")
    );
    assert_eq!(
        failures["data"][0]["error_message"],
        "error validating action params: [message]: expected value of type [string] but got [undefined]"
    );
    assert_eq!(failures["data"][0]["retry"], false);
    assert_eq!(
        (
            page_two["page"].clone(),
            page_two["per_page"].clone(),
            page_two["total"].clone()
        ),
        (json!(2), json!(2), json!(5))
    );
    assert_eq!(page_two["data"].as_array().unwrap().len(), 2);
    assert_eq!(page_two["data"][0], all_ascending["data"][2]);
    assert_eq!(page_two["data"][1], all_ascending["data"][3]);
    assert_eq!(kql["total"], 2);

    let bad_page = app
        .get(&format!(
            "/api/actions/connector/{id}/_execution_log?per_page=0"
        ))
        .await;
    let bad_outcome = app
        .get(&format!(
            "/api/actions/connector/{id}/_execution_log?outcome=maybe"
        ))
        .await;
    let bad_date = app
        .get(&format!(
            "/api/actions/connector/{id}/_execution_log?date_start=yesterday"
        ))
        .await;
    assert_error(
        &bad_page,
        400,
        "[request query.per_page]: Value must be equal to or greater than [1].",
    );
    assert_eq!(bad_outcome.status, 400, "{}", bad_outcome.text);
    assert!(
        bad_outcome.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("[request query.outcome]: types that failed validation:")
    );
    assert_error(
        &bad_date,
        400,
        "Invalid date for parameter dateStart: \"yesterday\"",
    );
}

#[tokio::test]
async fn kibanas_global_log_and_kpi_routes_answer_in_kibanas_shapes() {
    let app = app_with(json!({})).await;
    let id = app.create_typed(".server-log", json!({}), json!({})).await;
    logged_runs(&app, &id, 3).await;

    let logs = app
        .post(
            "/internal/actions/_global_connector_execution_logs",
            json!({ "date_start": "1d", "per_page": 10, "page": 1,
                    "sort": "[{\"timestamp\":{\"order\":\"asc\"}}]" }),
        )
        .await;
    let failed_only = app
        .post(
            "/internal/actions/_global_connector_execution_logs",
            json!({ "date_start": "2020-01-01T00:00:00.000Z",
                    "filter": "(event.outcome: failure)" }),
        )
        .await;
    let kpi = app
        .post(
            "/internal/actions/_global_connector_execution_kpi",
            json!({ "date_start": "1h", "namespaces": ["default"] }),
        )
        .await;

    assert_eq!(logs.status, 200, "{}", logs.text);
    let logs = logs.json();
    assert_eq!(logs["total"], 3);
    let first = logs["data"][0].as_object().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "timestamp",
            "duration_ms",
            "status",
            "message",
            "version",
            "source",
            "schedule_delay_ms",
            "space_ids",
            "connector_name",
            "connector_id",
            "timed_out"
        ]
    );
    assert_eq!(first["status"], "success");
    assert_eq!(
        first["message"],
        format!("action executed: .server-log:{id}: my .server-log")
    );
    assert_eq!(first["source"], "http_request");
    assert_eq!(first["space_ids"], json!(["default"]));
    assert_eq!(first["timed_out"], false);
    let failed_only = failed_only.json();
    assert_eq!(failed_only["total"], 1);
    assert_eq!(
        failed_only["data"][0]["message"],
        format!(
            "action execution failure: .server-log:{id}: my .server-log - error validating action params: [message]: expected value of type [string] but got [undefined]"
        )
    );
    assert_eq!(
        kpi.json(),
        json!({ "success": 2, "unknown": 0, "failure": 1, "warning": 0 })
    );

    let bad_date = app
        .post(
            "/internal/actions/_global_connector_execution_kpi",
            json!({ "date_start": "now-1d" }),
        )
        .await;
    let bad_filter = app
        .post(
            "/internal/actions/_global_connector_execution_logs",
            json!({ "date_start": "1d", "filter": "foo:(" }),
        )
        .await;
    let bad_page = app
        .post(
            "/internal/actions/_global_connector_execution_logs",
            json!({ "date_start": "1d", "page": 0 }),
        )
        .await;
    let no_start = app
        .post(
            "/internal/actions/_global_connector_execution_kpi",
            json!({}),
        )
        .await;
    assert_error(
        &bad_date,
        400,
        "Invalid date for parameter dateStart: \"now-1d\"",
    );
    assert_error(
        &bad_filter,
        400,
        "Invalid kuery syntax for filter foo:( AND (event.provider: actions AND NOT event.action: execute-start)",
    );
    assert_error(
        &bad_page,
        400,
        "[request body.page]: Value must be equal to or greater than [1].",
    );
    assert_error(
        &no_start,
        400,
        "[request body.date_start]: expected value of type [string] but got [undefined]",
    );
}

#[tokio::test]
async fn old_log_entries_are_pruned_after_the_retention() {
    let app =
        app_with(json!({ "xpack": { "actions": { "executionLog": { "retention": "1s" } } } }))
            .await;
    let id = app.create_typed(".server-log", json!({}), json!({})).await;
    logged_runs(&app, &id, 1).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = app
            .get(&format!("/api/actions/connector/{id}/_execution_log"))
            .await;
        if log.json()["total"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never pruned: {}",
            log.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn concurrent_enqueues_with_keys_are_all_accepted_while_workers_write() {
    let sink = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let app = Arc::new(app_with(json!({})).await);
    let id = webhook(&app, &sink).await;

    let mut requests = tokio::task::JoinSet::new();
    for n in 0..40 {
        let (app, id) = (app.clone(), id.clone());
        requests.spawn(async move {
            let body = json!({ "params": { "body": n.to_string() }, "idempotency_key": format!("key-{}", n % 20) });
            app.post(&format!("/api/actions/connector/{id}/_enqueue"), body)
                .await
        });
    }
    let mut ids = std::collections::BTreeSet::new();
    for response in requests.join_all().await {
        assert_eq!(response.status, 202, "{}", response.text);
        ids.insert(response.json()["execution_id"].as_str().unwrap().to_owned());
    }

    // Twenty keys: twenty executions, each run once.
    assert_eq!(ids.len(), 20);
    for execution_id in &ids {
        assert_eq!(finished(&app, execution_id).await["status"], "succeeded");
    }
    assert_eq!(sink.requests().len(), 20);
}

#[tokio::test]
async fn per_connector_concurrency_holds_back_one_connector_but_not_the_others() {
    let hung = FakeServer::start(|_| Reply::Hang).await;
    let other = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let app =
        app_with(json!({ "xpack": { "actions": { "queue": { "perConnectorConcurrency": 1 } } } }))
            .await;
    let slow = webhook(&app, &hung).await;
    let quick = webhook(&app, &other).await;

    let held: Vec<String> = [
        enqueue(&app, &slow, json!({ "params": { "body": "1" } })).await,
        enqueue(&app, &slow, json!({ "params": { "body": "2" } })).await,
        enqueue(&app, &slow, json!({ "params": { "body": "3" } })).await,
    ]
    .into();
    hung.wait_for_requests(1).await;
    let ran = finished(
        &app,
        &enqueue(&app, &quick, json!({ "params": { "body": "q" } })).await,
    )
    .await;

    assert_eq!(ran["status"], "succeeded");
    // Meanwhile the hung connector's other executions were claimed and handed back
    // again and again (every poll), never run beside the first.
    assert_eq!(hung.requests().len(), 1);
    for id in &held {
        let execution = app
            .get(&format!("/api/actions/executions/{id}"))
            .await
            .json();
        // Waiting, or claimed for a moment before being handed back; a claim handed
        // back is not an attempt.
        assert!(
            execution["status"] == "queued" || execution["status"] == "running",
            "{execution}"
        );
        assert!(execution["attempts"].as_i64().unwrap() <= 1, "{execution}");
    }
}

#[tokio::test]
async fn a_nul_in_a_services_answer_is_logged_without_it() {
    let sink = FakeServer::start(|_| Reply::json(400, json!({ "message": "bad\u{0}input" }))).await;
    let app = app_with(json!({})).await;
    let id = webhook(&app, &sink).await;

    let execution = finished(
        &app,
        &enqueue(&app, &id, json!({ "params": { "body": "x" } })).await,
    )
    .await;

    assert_eq!(execution["status"], "failed");
    assert_eq!(
        execution["log"][0]["service_message"],
        "[400] Bad Request: badinput"
    );
    assert_eq!(
        execution["log"][0]["error_message"],
        "error calling webhook, invalid response"
    );
}

#[tokio::test]
async fn a_bulk_request_crossing_queued_max_queues_nothing() {
    let sink = FakeServer::start(|_| Reply::Hang).await;
    let app = app_with(json!({ "xpack": { "actions": { "queued": { "max": 3 } } } })).await;
    let id = webhook(&app, &sink).await;
    let first = enqueue(&app, &id, json!({ "params": { "body": "0" } })).await;

    let four: Vec<Value> = (1..=4)
        .map(|n| json!({ "connector_id": id, "params": { "body": n.to_string() }, "idempotency_key": format!("k{n}") }))
        .collect();
    let refused = app
        .post("/api/actions/_bulk_enqueue", json!({ "executions": four }))
        .await;
    let two: Vec<Value> = four[..2].to_vec();
    let accepted = app
        .post("/api/actions/_bulk_enqueue", json!({ "executions": two }))
        .await;

    assert_eq!(refused.status, 429, "{}", refused.text);
    // The keys of the refused request were not used: the accepted request got new
    // executions for them, and the queue holds exactly three.
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    sink.wait_for_requests(3).await;
    let bodies: std::collections::BTreeSet<String> =
        sink.requests().into_iter().map(|it| it.body).collect();
    assert_eq!(bodies, ["0", "1", "2"].map(str::to_owned).into());
    assert_eq!(finished_or_running(&app, &first).await, "running");
}

async fn finished_or_running(app: &TestApp, id: &str) -> String {
    let body = app
        .get(&format!("/api/actions/executions/{id}"))
        .await
        .json();
    body["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_global_log_reads_only_the_spaces_the_caller_may_read() {
    let app = crate::security::app_with_users(fast_queue()).await;
    for space in ["space1", "space2"] {
        let id = app
            .create_connector_in(
                &format!("/s/{space}"),
                json!({ "name": format!("log in {space}"), "connector_type_id": ".server-log" }),
            )
            .await;
        let response = app
            .post(
                &format!("/s/{space}/api/actions/connector/{id}/_execute"),
                json!({ "params": { "message": space } }),
            )
            .await;
        let execution_id = response.headers["x-execution-id"]
            .to_str()
            .unwrap()
            .to_owned();
        finished_in(&app, &format!("/s/{space}"), &execution_id).await;
    }
    let bob = crate::support::basic("bob", crate::security::PASSWORD);

    let everything = app
        .post(
            "/internal/actions/_global_connector_execution_logs",
            json!({ "date_start": "1d", "namespaces": [] }),
        )
        .await
        .json();
    let own = app
        .call_as(
            &bob,
            reqwest::Method::POST,
            "/s/space1/internal/actions/_global_connector_execution_logs",
            Some(json!({ "date_start": "1d", "namespaces": ["space1", "space2"] })),
        )
        .await;
    let refused = app
        .call_as(
            &bob,
            reqwest::Method::POST,
            "/s/space2/internal/actions/_global_connector_execution_kpi",
            Some(json!({ "date_start": "1d" })),
        )
        .await;

    let spaces = |body: &Value| -> Vec<String> {
        let mut spaces: Vec<String> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|it| it["space_ids"][0].as_str().unwrap().to_owned())
            .collect();
        spaces.sort();
        spaces
    };
    assert_eq!(spaces(&everything), ["space1", "space2"]);
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(spaces(&own.json()), ["space1"]);
    assert_error(&refused, 403, "Unauthorized to get actions");
}
