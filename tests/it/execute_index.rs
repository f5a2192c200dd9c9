//! `.index` runs against a loopback fake of Elasticsearch's `_bulk` API.

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, closed_port};

fn bulk_created(index: &str, count: usize) -> Reply {
    let items: Vec<Value> = (0..count)
        .map(|n| {
            json!({ "create": {
                "_index": index, "_id": format!("id-{n}"), "_version": 1, "result": "created",
                "_shards": { "total": 2, "successful": 1, "failed": 0 },
                "_seq_no": n, "_primary_term": 1, "status": 201,
            } })
        })
        .collect();
    Reply::json(200, json!({ "took": 7, "errors": false, "items": items }))
        .with_header("x-elastic-product", "Elasticsearch")
}

async fn app_for(elasticsearch: &FakeServer) -> TestApp {
    TestApp::with_settings(json!({
        "elasticsearch": {
            "hosts": [elasticsearch.url("")],
            "username": "kibana_system",
            "password": "es-password",
        }
    }))
    .await
}

#[tokio::test]
async fn documents_are_bulk_created_in_the_configured_index() {
    let elasticsearch = FakeServer::start(|_| bulk_created("my-index", 2)).await;
    let app = app_for(&elasticsearch).await;
    let id = app
        .create_connector(json!({
            "name": "index", "connector_type_id": ".index",
            "config": { "index": "my-index", "refresh": true },
        }))
        .await;

    let result = app
        .execute(
            &id,
            json!({ "documents": [{ "id": "my_doc_id", "message": "hello, world" }, { "n": 2 }] }),
        )
        .await;

    assert_eq!(result["status"], "ok");
    assert_eq!(result["connector_id"], id);
    assert_eq!(result["data"]["errors"], false);
    assert_eq!(result["data"]["items"][1]["create"]["status"], 201);
    let request = elasticsearch.only_request();
    assert_eq!(request.method, reqwest::Method::POST);
    assert_eq!(request.path, "/my-index/_bulk");
    assert_eq!(request.query.as_deref(), Some("refresh=true"));
    assert_eq!(request.header("content-type"), Some("application/x-ndjson"));
    // kibana_system:es-password
    assert_eq!(
        request.header("authorization"),
        Some("Basic a2liYW5hX3N5c3RlbTplcy1wYXNzd29yZA==")
    );
    assert_eq!(
        request.body,
        concat!(
            "{\"index\":{\"op_type\":\"create\"}}\n",
            "{\"id\":\"my_doc_id\",\"message\":\"hello, world\"}\n",
            "{\"index\":{\"op_type\":\"create\"}}\n",
            "{\"n\":2}\n",
        )
    );
}

#[tokio::test]
async fn the_execution_time_field_is_stamped_on_every_document() {
    let elasticsearch = FakeServer::start(|_| bulk_created("timed", 1)).await;
    let app = app_for(&elasticsearch).await;
    let id = app
        .create_connector(json!({
            "name": "index", "connector_type_id": ".index",
            "config": { "index": "timed", "executionTimeField": " @timestamp " },
        }))
        .await;

    app.execute(
        &id,
        json!({ "documents": [{ "a": 1, "@timestamp": "old" }] }),
    )
    .await;

    let request = elasticsearch.only_request();
    assert_eq!(request.query.as_deref(), Some("refresh=false"));
    let document: Value = serde_json::from_str(request.body.lines().nth(1).unwrap()).unwrap();
    let stamp = document["@timestamp"].as_str().unwrap();
    assert_ne!(stamp, "old");
    assert!(
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).is_ok()
            && stamp.ends_with('Z')
            && stamp.len() == "2024-01-01T00:00:00.000Z".len(),
        "{stamp}"
    );
}

#[tokio::test]
async fn item_errors_become_an_error_result() {
    let elasticsearch = FakeServer::start(|_| {
        Reply::json(200, json!({
            "took": 3, "errors": true,
            "items": [
                { "create": { "_index": "i", "status": 400, "error": {
                    "type": "document_parsing_exception",
                    "reason": "[1:8] failed to parse field [n] of type [long]",
                    "caused_by": { "type": "illegal_argument_exception", "reason": "For input string: \"x\"" } } } },
                { "create": { "_index": "i", "status": 201, "result": "created" } },
            ],
        }))
    })
    .await;
    let app = app_for(&elasticsearch).await;
    let id = app
        .create_connector(
            json!({ "name": "i", "connector_type_id": ".index", "config": { "index": "i" } }),
        )
        .await;

    let result = app
        .execute(&id, json!({ "documents": [{ "n": "x" }, { "n": 1 }] }))
        .await;

    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "error indexing documents",
            "errorSource": "user",
            "connector_id": id,
            "service_message": "[1:8] failed to parse field [n] of type [long] (For input string: \"x\")",
        })
    );
}

#[tokio::test]
async fn an_elasticsearch_refusal_is_reported_with_its_reason() {
    let elasticsearch = FakeServer::start(|_| {
        Reply::json(403, json!({
            "error": {
                "root_cause": [{ "type": "security_exception", "reason": "action [indices:data/write/bulk] is unauthorized" }],
                "type": "security_exception",
                "reason": "action [indices:data/write/bulk] is unauthorized",
            },
            "status": 403,
        }))
    })
    .await;
    let app = app_for(&elasticsearch).await;
    let id = app
        .create_connector(
            json!({ "name": "i", "connector_type_id": ".index", "config": { "index": "i" } }),
        )
        .await;

    let result = app.execute(&id, json!({ "documents": [{}] })).await;

    assert_eq!(result["message"], "error indexing documents");
    assert_eq!(
        result["service_message"],
        "security_exception\n\tRoot causes:\n\t\tsecurity_exception: action [indices:data/write/bulk] is unauthorized"
    );
}

#[tokio::test]
async fn an_unreachable_cluster_is_an_error_result() {
    let closed = closed_port();
    let port = closed.port;
    let app = TestApp::with_settings(json!({
        "elasticsearch": { "hosts": format!("http://127.0.0.1:{port}") }
    }))
    .await;
    let id = app
        .create_connector(
            json!({ "name": "i", "connector_type_id": ".index", "config": { "index": "i" } }),
        )
        .await;

    let result = app.execute(&id, json!({ "documents": [{ "a": 1 }] })).await;

    assert_eq!(
        result,
        json!({
            "status": "error",
            "message": "error indexing documents",
            "errorSource": "user",
            "connector_id": id,
            "service_message": format!("connect ECONNREFUSED 127.0.0.1:{port}"),
        })
    );
}

#[tokio::test]
async fn index_params_are_validated() {
    let elasticsearch = FakeServer::start(|_| bulk_created("i", 0)).await;
    let app = app_for(&elasticsearch).await;
    let id = app
        .create_connector(
            json!({ "name": "i", "connector_type_id": ".index", "config": { "index": "i" } }),
        )
        .await;

    let cases = [
        (
            json!({}),
            "error validating action params: [documents]: expected value of type [array] but got [undefined]",
        ),
        (
            json!({ "documents": [1] }),
            "error validating action params: [documents.0]: expected value of type [object] but got [number]",
        ),
        (
            json!({ "documents": [], "indexOverride": "other" }),
            "error validating action params: [indexOverride]: types that failed validation:\n- [indexOverride.0]: index must start with \"kibana-alert-history-\"\n- [indexOverride.1]: expected value to equal [null]",
        ),
    ];
    for (params, message) in cases {
        let result = app.execute(&id, params).await;
        assert_eq!(result["message"], message);
        assert_eq!(result["retry"], false);
    }
    assert!(elasticsearch.requests().is_empty());
}

#[tokio::test]
async fn an_api_key_authenticates_to_the_cluster() {
    let elasticsearch = FakeServer::start(|_| bulk_created("i", 1)).await;
    let app = TestApp::with_settings(json!({
        "elasticsearch": { "hosts": elasticsearch.url("/"), "apiKey": "aWQ6a2V5" }
    }))
    .await;
    let id = app
        .create_connector(json!({ "name": "i", "connector_type_id": ".index", "config": { "index": "logs-app" } }))
        .await;

    assert_eq!(
        app.execute(&id, json!({ "documents": [{}] })).await["status"],
        "ok"
    );

    let request = elasticsearch.only_request();
    assert_eq!(request.path, "/logs-app/_bulk");
    assert_eq!(request.header("authorization"), Some("ApiKey aWQ6a2V5"));
}
