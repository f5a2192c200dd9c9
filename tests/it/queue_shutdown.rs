//! A node told to stop (SIGTERM) stops claiming, lets running executions finish
//! within the grace period, and leaves what did not finish to run again.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, process::ServerProcess};

async fn serve(dir: &std::path::Path) -> ServerProcess {
    ServerProcess::serve(
        dir,
        &[],
        &[
            ("SWITCHBOARD_SERVER_PORT", "0"),
            ("SWITCHBOARD_XPACK_ACTIONS_QUEUE_POLLINTERVAL", "20ms"),
            ("SWITCHBOARD_XPACK_ACTIONS_QUEUE_LEASEDURATION", "1s"),
            ("SWITCHBOARD_XPACK_ACTIONS_QUEUE_SHUTDOWNGRACEPERIOD", "3s"),
        ],
    )
    .await
}

async fn status_of(node: &ServerProcess, id: &str) -> Value {
    let (status, body) = node
        .call(Method::GET, &format!("/api/actions/executions/{id}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn enqueue(node: &ServerProcess, connector: &str) -> String {
    let (status, body) = node
        .call(
            Method::POST,
            &format!("/api/actions/connector/{connector}/_enqueue"),
            Some(json!({ "params": { "body": connector } })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["execution_id"].as_str().unwrap().to_owned()
}

async fn webhook(node: &ServerProcess, id: &str, url: &str) {
    let (status, body) = node
        .call(
            Method::POST,
            &format!("/api/actions/connector/{id}"),
            Some(json!({ "name": id, "connector_type_id": ".webhook", "config": { "url": url } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn sigterm_lets_running_executions_finish_and_leaves_hung_ones_to_run_again() {
    let slow = FakeServer::start(|_| Reply::Delayed(Duration::from_millis(700), 200)).await;
    let hung = FakeServer::start(|_| Reply::Hang).await;
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    webhook(&node, "slow", &slow.url("/slow")).await;
    webhook(&node, "hung", &hung.url("/hung")).await;
    let finishing = enqueue(&node, "slow").await;
    let abandoned = enqueue(&node, "hung").await;
    slow.wait_for_requests(1).await;
    hung.wait_for_requests(1).await;

    let (exit, output) = node.terminate().await;

    assert!(exit.success(), "{output}");
    assert!(output.contains("left to run again elsewhere"), "{output}");
    // Started again on the same data: the finished one stays finished, the abandoned
    // one is claimed again once its lease lapses (and hangs again: still running).
    let node = serve(dir.path()).await;
    let done = status_of(&node, &finishing).await;
    assert_eq!(
        (done["status"].clone(), done["attempts"].clone()),
        (json!("succeeded"), json!(1))
    );
    hung.wait_for_requests(2).await;
    let again = status_of(&node, &abandoned).await;
    assert_eq!(again["status"], "running", "{again}");
    assert_eq!(slow.requests().len(), 1);
}
