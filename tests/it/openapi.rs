//! The OpenAPI document: it lists every route the server has (and nothing it lacks),
//! and schemathesis, run against it and against Kibana's own document, finds no
//! server error, no answer outside the document, no bad input accepted.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::json;

use crate::support::{SUPERUSER_PASSWORD, TestApp};

#[tokio::test]
async fn the_document_lists_every_route_and_every_route_is_served() {
    let app = TestApp::start().await;
    let document = app
        .send(app.anonymous(Method::GET, "/api/openapi.json"))
        .await;
    assert_eq!(document.status, 200);
    let document = document.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();

    // Request bodies come from the schemas that validate them.
    let create = &paths["/api/actions/connector"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["required"],
        json!(["name", "connector_type_id"])
    );
    assert!(
        create["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|it| it["name"] == "kbn-xsrf" && it["in"] == "header")
    );
    assert!(paths.contains_key("/s/{space_id}/api/actions/connector/{id}/_execute"));

    // Every documented operation reaches a route (the metrics label a request that
    // matched none `unmatched`).
    let mut operations = 0;
    for (path, methods) in paths {
        let concrete = path
            .replace("{space_id}", "default")
            .replace("{id}", "no-such-thing")
            .replace("{execution_id}", "no-such-thing");
        for method in methods.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let request = app.request(method, &concrete).header("kbn-xsrf", "true");
            app.send(request).await;
            operations += 1;
        }
    }
    assert!(operations >= 39, "{operations}");
    let metrics = app.get("/metrics").await.text;
    assert!(!metrics.contains(r#"route="unmatched""#), "{metrics}");
    // And a request the router does not know is labelled so.
    app.get("/api/not-a-route").await;
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains(r#"route="unmatched""#));
}

/// The schemathesis command (`SCHEMATHESIS`, installed by `.ci/run`), if any.
fn schemathesis() -> Option<PathBuf> {
    #[allow(clippy::disallowed_methods)] // Tests read their own environment.
    let configured = std::env::var("SCHEMATHESIS").ok().map(PathBuf::from);
    #[allow(clippy::disallowed_methods)]
    let in_ci = std::env::var("CI").is_ok_and(|it| it == "true");
    match configured {
        Some(path) if path.exists() => Some(path),
        _ if in_ci => panic!("CI needs schemathesis: set SCHEMATHESIS (see .ci/run)"),
        _ => None,
    }
}

/// What every run leaves out, and why:
/// - `unsupported_method`: Kibana (Hapi) answers an unknown method with 404, not 405;
///   so does Switchboard.
/// - `positive_data_acceptance`: a connector type's rules go beyond what a JSON
///   schema says (registered types, allowed hosts, URL forms, cross-field rules), so
///   schema-valid bodies are rightly refused with Kibana's 400s.
/// - `ignored_auth`: it sends many bad credentials from one address, which the login
///   throttle answers ever more slowly by design; authentication is covered by
///   `tests/it/security.rs`.
const EXCLUDED_CHECKS: &str = "unsupported_method,positive_data_acceptance,ignored_auth";

async fn run_schemathesis(
    st: &PathBuf,
    app: &TestApp,
    schema: &str,
    config: &str,
    excluded: &str,
    extra: &[&str],
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schemathesis.toml"), config).unwrap();
    // Async: the server under test runs on this test's runtime.
    let output = tokio::process::Command::new(st)
        .current_dir(dir.path())
        .args(["run", schema, "--url", &app.base_url])
        .args(["--checks", "all", "--exclude-checks", excluded])
        // A fixed seed: the same cases every run, so a failure is the server's, not luck.
        .args(["--max-examples", "5", "--seed", "20231031"])
        .args(["--workers", "2", "--max-time", "120", "--no-color"])
        .args(["--suppress-health-check", "filter_too_much"])
        .args(extra)
        .output()
        .await
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}

fn config() -> String {
    use base64::Engine;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("elastic:{SUPERUSER_PASSWORD}"));
    format!(
        r#"headers = {{ "kbn-xsrf" = "true", "Authorization" = "Basic {credentials}" }}

[parameters]
"path.space_id" = "default"
"path.spaceId" = "default"

# A body too large for server.maxPayload is refused with 413 (Kibana's too), before its
# content is looked at: that is a rejection as well.
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
"#
    )
}

/// What the run against Kibana's own document also leaves out, for what that document
/// gets wrong about Kibana:
/// - `status_code_conformance`: it lists only 200 and 401 for most operations, but
///   Kibana answers 400 (a missing `kbn-xsrf`, a body that fails validation), 403 and
///   404 too, and so does Switchboard.
/// - `response_schema_conformance`: its connector answers are a `oneOf` with a
///   discriminator on `connector_type_id` that maps no type id (`.webhook`, `.index`)
///   to a schema, so no real answer can pass; its 400 schemas are copies of its 401
///   schema (`error` must be `Unauthorized`).
/// - `negative_data_rejection`: it makes `feature_id` an enum (Kibana accepts any
///   string and lists nothing for an unknown one), and it describes `_execute` params
///   per type, which Kibana checks when the connector runs, answering 200 with
///   `status: error` rather than 400.
///
/// Only the fuzzing phase, and not the four create operations: schemathesis 4.32.5
/// crashes now and then (a hypothesis `FlakyFailure`, `KeyError` in its generator)
/// building coverage cases from the document's `oneOf` of every connector type's
/// body, and in fuzzing on the create operations. Creating connectors is covered by
/// the run against Switchboard's document and by `connectors_api.rs`.
const KIBANA_EXCLUDED_CHECKS: &str =
    "status_code_conformance,response_schema_conformance,negative_data_rejection";

/// Both runs, one after the other (each uses both cores).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong() {
    let Some(st) = schemathesis() else { return };
    let app = TestApp::start().await;
    let ours = format!("{}/api/openapi.json", app.base_url);
    run_schemathesis(
        &st,
        &app,
        &ours,
        &config(),
        EXCLUDED_CHECKS,
        &["--phases", "coverage,fuzzing"],
    )
    .await;

    let kibanas = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/docs/reference/kibana-connectors-oas.yaml"
    );
    run_schemathesis(
        &st,
        &app,
        kibanas,
        &config(),
        &format!("{EXCLUDED_CHECKS},{KIBANA_EXCLUDED_CHECKS}"),
        &[
            "--phases",
            "fuzzing",
            "--exclude-operation-id",
            "createConnector",
            "--exclude-operation-id",
            "createConnectorId",
            "--exclude-operation-id",
            "createConnectorWithSpaceId",
            "--exclude-operation-id",
            "createConnectorIdWithSpaceId",
        ],
    )
    .await;
}
