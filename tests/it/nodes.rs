//! Several server processes sharing one PostgreSQL: what one node writes, every node
//! sees at once, and concurrent writes never mix.

use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{
    FakeServer, Reply,
    database::{fresh_schema, postgres_url},
    process::{ServerProcess, call},
};

const KEY: &str = "a shared key of at least thirty-two characters";

struct Cluster {
    url: String,
    schema: String,
    _dirs: Vec<TempDir>,
}

impl Cluster {
    fn new(url: String) -> Self {
        Self {
            url,
            schema: fresh_schema(),
            _dirs: Vec::new(),
        }
    }

    async fn node(&mut self, key: &str) -> ServerProcess {
        self.node_with(key, &[]).await
    }

    async fn node_with(&mut self, key: &str, extra: &[(&str, &str)]) -> ServerProcess {
        let dir = tempfile::tempdir().unwrap();
        let mut environment = vec![
            ("SWITCHBOARD_SERVER_PORT", "0"),
            ("SWITCHBOARD_DATABASE_URL", self.url.as_str()),
            ("SWITCHBOARD_DATABASE_SCHEMA", self.schema.as_str()),
            ("SWITCHBOARD_XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY", key),
        ];
        environment.extend_from_slice(extra);
        let node = ServerProcess::serve(dir.path(), &[], &environment).await;
        self._dirs.push(dir);
        node
    }
}

fn webhook(url: &str, user: &str) -> Value {
    json!({
        "name": format!("hook for {user}"),
        "connector_type_id": ".webhook",
        "config": { "url": url },
        "secrets": { "user": user, "password": format!("{user}-password") },
    })
}

fn basic(user: &str) -> String {
    use base64::Engine;
    let credentials = format!("{user}:{user}-password");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

#[tokio::test]
async fn what_one_node_writes_the_other_sees_at_once() {
    let Some(url) = postgres_url("what_one_node_writes_the_other_sees_at_once") else {
        return;
    };
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let mut cluster = Cluster::new(url);
    let a = cluster.node(KEY).await;
    let b = cluster.node(KEY).await;

    let (status, created) = a
        .call(
            Method::POST,
            "/api/actions/connector/shared",
            Some(webhook(&hook.url("/one"), "one")),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        b.call(Method::GET, "/api/actions/connector/shared", None)
            .await,
        (200, created)
    );
    let (_, listed) = b.call(Method::GET, "/api/actions/connectors", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, result) = b
        .call(
            Method::POST,
            "/api/actions/connector/shared/_execute",
            Some(json!({ "params": { "body": "x" } })),
        )
        .await;
    assert_eq!(result["status"], "ok", "{result}");

    let mut update = webhook(&hook.url("/two"), "two");
    update.as_object_mut().unwrap().remove("connector_type_id");
    let (status, _) = a
        .call(Method::PUT, "/api/actions/connector/shared", Some(update))
        .await;
    assert_eq!(status, 200);
    let (_, fetched) = b
        .call(Method::GET, "/api/actions/connector/shared", None)
        .await;
    assert_eq!(fetched["config"]["url"], hook.url("/two"));
    b.call(
        Method::POST,
        "/api/actions/connector/shared/_execute",
        Some(json!({ "params": { "body": "x" } })),
    )
    .await;
    let requests = hook.requests();
    assert_eq!(
        requests
            .iter()
            .map(|it| (
                it.path.clone(),
                it.header("authorization").unwrap().to_owned()
            ))
            .collect::<Vec<_>>(),
        [
            ("/one".to_owned(), basic("one")),
            ("/two".to_owned(), basic("two"))
        ]
    );

    assert_eq!(
        a.call(Method::DELETE, "/api/actions/connector/shared", None)
            .await
            .0,
        204
    );
    let (status, body) = b
        .call(Method::GET, "/api/actions/connector/shared", None)
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({ "statusCode": 404, "error": "Not Found", "message": "Saved object [action/shared] not found" })
        )
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_same_id_created_on_both_nodes_at_once_is_created_once() {
    let Some(url) = postgres_url("the_same_id_created_on_both_nodes_at_once_is_created_once")
    else {
        return;
    };
    let mut cluster = Cluster::new(url);
    let a = cluster.node(KEY).await;
    let b = cluster.node(KEY).await;
    let body = json!({ "name": "log", "connector_type_id": ".server-log" });

    for round in 0..20 {
        let path = format!("/api/actions/connector/race-{round}");
        let (first, second) = tokio::join!(
            a.call(Method::POST, &path, Some(body.clone())),
            b.call(Method::POST, &path, Some(body.clone())),
        );
        let mut statuses = [first.0, second.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {first:?} {second:?}");
        let conflict = if first.0 == 409 { first.1 } else { second.1 };
        assert_eq!(
            conflict,
            json!({ "statusCode": 409, "error": "Conflict", "message": format!("Saved object [action/race-{round}] conflict") })
        );
    }
    let (_, listed) = a.call(Method::GET, "/api/actions/connectors", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 20);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn concurrent_updates_never_mix_config_and_secrets() {
    let Some(url) = postgres_url("concurrent_updates_never_mix_config_and_secrets") else {
        return;
    };
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let mut cluster = Cluster::new(url);
    let a = cluster.node(KEY).await;
    let b = cluster.node(KEY).await;
    a.call(
        Method::POST,
        "/api/actions/connector/contested",
        Some(webhook(&hook.url("/x"), "x")),
    )
    .await;

    for round in 0..5 {
        let mut updates = tokio::task::JoinSet::new();
        for n in 0..16 {
            let user = if n % 2 == 0 { "x" } else { "y" };
            let node = if n % 3 == 0 {
                a.base_url.clone()
            } else {
                b.base_url.clone()
            };
            let mut body = webhook(&hook.url(&format!("/{user}")), user);
            body.as_object_mut().unwrap().remove("connector_type_id");
            updates.spawn(async move {
                call(
                    &node,
                    Method::PUT,
                    "/api/actions/connector/contested",
                    Some(body),
                )
                .await
                .0
            });
        }
        let statuses = updates.join_all().await;
        assert!(
            statuses.iter().all(|it| *it == 200),
            "round {round}: {statuses:?}"
        );

        let (_, result) = a
            .call(
                Method::POST,
                "/api/actions/connector/contested/_execute",
                Some(json!({ "params": { "body": "x" } })),
            )
            .await;
        assert_eq!(result["status"], "ok", "{result}");
    }
    // Whatever update won, the path and the credentials came from the same one.
    for request in hook.requests() {
        let user = request.path.trim_start_matches('/');
        assert_eq!(
            request.header("authorization"),
            Some(basic(user).as_str()),
            "{request:?}"
        );
    }
    assert_eq!(hook.requests().len(), 5);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_node_with_another_key_cannot_open_secrets_and_says_so() {
    let Some(url) = postgres_url("a_node_with_another_key_cannot_open_secrets_and_says_so") else {
        return;
    };
    let hook = FakeServer::start(|_| Reply::status(200, "")).await;
    let mut cluster = Cluster::new(url);
    let a = cluster.node(KEY).await;
    let stranger = cluster
        .node("another key, also at least thirty-two characters")
        .await;
    a.call(
        Method::POST,
        "/api/actions/connector/guarded",
        Some(webhook(&hook.url("/"), "x")),
    )
    .await;

    let (status, result) = stranger
        .call(
            Method::POST,
            "/api/actions/connector/guarded/_execute",
            Some(json!({ "params": { "body": "x" } })),
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "an error occurred while running the action",
            "errorSource": "framework",
            "connector_id": "guarded",
            "retry": false,
            "service_message": "sealed secrets were encrypted with a key this server does not have; check xpack.encryptedSavedObjects.encryptionKey",
        })
    );
    assert!(hook.requests().is_empty());
    let (_, result) = a
        .call(
            Method::POST,
            "/api/actions/connector/guarded/_execute",
            Some(json!({ "params": { "body": "x" } })),
        )
        .await;
    assert_eq!(result["status"], "ok");
    a.stop().await;
    stranger.stop().await;
}

/// Waits (boundedly) until every execution has finished, on whichever node answers.
async fn all_finished(node: &ServerProcess, ids: &[String]) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut finished = Vec::new();
    for id in ids {
        loop {
            let (status, body) = node
                .call(Method::GET, &format!("/api/actions/executions/{id}"), None)
                .await;
            if status == 200 && (body["status"] == "succeeded" || body["status"] == "failed") {
                finished.push(body);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} did not finish: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    finished
}

/// The numbers the sink received, in order.
fn delivered_numbers(sink: &FakeServer) -> Vec<usize> {
    let mut numbers: Vec<usize> = sink
        .requests()
        .iter()
        .map(|it| it.body.parse().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers
}

async fn enqueue_numbered(node: &ServerProcess, numbers: std::ops::Range<usize>) -> Vec<String> {
    let executions: Vec<Value> = numbers
        .map(|n| json!({ "connector_id": "sink", "params": { "body": n.to_string() } }))
        .collect();
    let (status, body) = node
        .call(
            Method::POST,
            "/api/actions/_bulk_enqueue",
            Some(json!({ "executions": executions })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| it["execution_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn sink_connector(node: &ServerProcess, url: &str) {
    let (status, body) = node
        .call(
            Method::POST,
            "/api/actions/connector/sink",
            Some(json!({ "name": "sink", "connector_type_id": ".webhook", "config": { "url": url } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn two_nodes_share_the_queue_and_run_each_execution_exactly_once() {
    let Some(url) = postgres_url("two_nodes_share_the_queue_and_run_each_execution_exactly_once")
    else {
        return;
    };
    let sink = FakeServer::start(|_| Reply::status(200, "ok")).await;
    let mut cluster = Cluster::new(url);
    let fast = [("SWITCHBOARD_XPACK_ACTIONS_QUEUE_POLLINTERVAL", "20ms")];
    let a = cluster.node_with(KEY, &fast).await;
    let b = cluster.node_with(KEY, &fast).await;
    sink_connector(&a, &sink.url("/count")).await;

    let (first, second) = tokio::join!(
        enqueue_numbered(&a, 0..500),
        enqueue_numbered(&b, 500..1000)
    );
    sink.wait_for_requests(1000).await;
    let ids: Vec<String> = first.into_iter().chain(second).collect();
    let finished = all_finished(&a, &ids).await;

    let bodies = delivered_numbers(&sink);
    assert_eq!(
        bodies,
        (0..1000).collect::<Vec<_>>(),
        "each execution arrives exactly once"
    );
    assert!(
        finished
            .iter()
            .all(|it| it["status"] == "succeeded" && it["attempts"] == 1)
    );
}

#[tokio::test]
async fn a_killed_nodes_claimed_executions_complete_on_the_other_node() {
    let Some(url) = postgres_url("a_killed_nodes_claimed_executions_complete_on_the_other_node")
    else {
        return;
    };
    // The first five requests (node a's) never get an answer; later ones do.
    let sink = FakeServer::start({
        let seen = std::sync::atomic::AtomicUsize::new(0);
        move |_| {
            if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 5 {
                Reply::Hang
            } else {
                Reply::status(200, "ok")
            }
        }
    })
    .await;
    let mut cluster = Cluster::new(url);
    let settings = [
        ("SWITCHBOARD_XPACK_ACTIONS_QUEUE_POLLINTERVAL", "20ms"),
        ("SWITCHBOARD_XPACK_ACTIONS_QUEUE_LEASEDURATION", "1s"),
    ];
    let a = cluster.node_with(KEY, &settings).await;
    sink_connector(&a, &sink.url("/count")).await;
    let ids = enqueue_numbered(&a, 0..5).await;
    sink.wait_for_requests(5).await;

    a.stop().await;
    let b = cluster.node_with(KEY, &settings).await;
    sink.wait_for_requests(10).await;
    let finished = all_finished(&b, &ids).await;

    let mut bodies: Vec<String> = sink.requests().into_iter().map(|it| it.body).collect();
    bodies.sort();
    assert_eq!(bodies, ["0", "0", "1", "1", "2", "2", "3", "3", "4", "4"]);
    for execution in &finished {
        assert_eq!(execution["status"], "succeeded", "{execution}");
        // The attempt cut short by the kill counts.
        assert_eq!(execution["attempts"], 2, "{execution}");
        assert_eq!(execution["log"].as_array().unwrap().len(), 1, "{execution}");
    }
}

#[tokio::test]
async fn a_live_nodes_long_runs_keep_their_leases() {
    let Some(url) = postgres_url("a_live_nodes_long_runs_keep_their_leases") else {
        return;
    };
    // Each call takes more than twice the lease: without renewal, the other node
    // would take the executions over and send them again.
    let sink =
        FakeServer::start(|_| Reply::Delayed(std::time::Duration::from_millis(2500), 200)).await;
    let mut cluster = Cluster::new(url);
    let settings = [
        ("SWITCHBOARD_XPACK_ACTIONS_QUEUE_POLLINTERVAL", "20ms"),
        ("SWITCHBOARD_XPACK_ACTIONS_QUEUE_LEASEDURATION", "1s"),
    ];
    let a = cluster.node_with(KEY, &settings).await;
    let b = cluster.node_with(KEY, &settings).await;
    sink_connector(&a, &sink.url("/slow")).await;

    let ids = enqueue_numbered(&b, 0..10).await;
    let finished = all_finished(&a, &ids).await;

    let bodies = delivered_numbers(&sink);
    assert_eq!(bodies, (0..10).collect::<Vec<_>>());
    assert!(
        finished
            .iter()
            .all(|it| it["status"] == "succeeded" && it["attempts"] == 1)
    );
}
