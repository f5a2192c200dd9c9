//! Kibana's request rules: kbn-xsrf, JSON bodies, size limit, unknown routes, headers.

use reqwest::Method;
use serde_json::json;

use crate::support::{TestApp, TestResponse, app::assert_error};

const INDEX_BODY: &str =
    r#"{"name":"my-connector","connector_type_id":".index","config":{"index":"test-index"}}"#;

#[tokio::test]
async fn changes_need_a_kbn_xsrf_header_but_reads_do_not() {
    let app = TestApp::start().await;
    let id = app
        .create_connector(json!({ "name": "log", "connector_type_id": ".server-log" }))
        .await;
    let connector = format!("/api/actions/connector/{id}");

    for (method, path, body) in [
        (
            Method::POST,
            "/api/actions/connector".to_owned(),
            INDEX_BODY,
        ),
        (
            Method::POST,
            "/api/actions/connector/new-id".to_owned(),
            INDEX_BODY,
        ),
        (Method::PUT, connector.clone(), r#"{"name":"x"}"#),
        (Method::DELETE, connector.clone(), ""),
        (
            Method::POST,
            format!("{connector}/_execute"),
            r#"{"params":{"message":"x"}}"#,
        ),
        (
            Method::POST,
            "/s/space1/api/actions/connector".to_owned(),
            INDEX_BODY,
        ),
    ] {
        let response = app
            .send(app.request(method.clone(), &path).body(body))
            .await;
        assert_error(&response, 400, "Request must contain a kbn-xsrf header.");
    }
    assert_eq!(app.get(&connector).await.json()["name"], "log");
    let listed = app.get("/api/actions/connectors").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // Any value will do, even an empty one; kbn-version counts too.
    let empty_value = app
        .send(
            app.request(Method::POST, "/api/actions/connector")
                .header("kbn-xsrf", "")
                .body(INDEX_BODY),
        )
        .await;
    assert_eq!(empty_value.status, 200, "{}", empty_value.text);
    let kbn_version = app
        .send(
            app.request(Method::DELETE, &connector)
                .header("kbn-version", "8.15.0"),
        )
        .await;
    assert_eq!(kbn_version.status, 204);
}

async fn post_raw(app: &TestApp, body: impl Into<reqwest::Body>) -> TestResponse {
    app.send(
        app.request(Method::POST, "/api/actions/connector")
            .header("kbn-xsrf", "true")
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = TestApp::start().await;
    for body in [
        "{",
        "{\"name\": }",
        "nope",
        "{\"a\":1}{",
        "\u{feff}{}",
        "  \n",
    ] {
        assert_error(
            &post_raw(&app, body).await,
            400,
            "Invalid request payload JSON format",
        );
    }
}

#[tokio::test]
async fn bodies_that_are_not_objects_are_refused() {
    let app = TestApp::start().await;
    assert_error(
        &post_raw(&app, "[]").await,
        400,
        "[request body]: expected a plain object value, but found [Array] instead.",
    );
    assert_error(
        &post_raw(&app, "null").await,
        400,
        "[request body]: expected a plain object value, but found [null] instead.",
    );
    // An empty body reads as `{}`, as in Kibana.
    assert_error(
        &post_raw(&app, "").await,
        400,
        "[request body.name]: expected value of type [string] but got [undefined]",
    );
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let padding = "x".repeat(1024 * 1024);
    let body = format!(r#"{{"name":"{padding}","connector_type_id":".server-log"}}"#);

    let response = post_raw(&app, body).await;

    assert_error(
        &response,
        413,
        "Payload content length greater than maximum allowed: 1048576",
    );
    assert_eq!(app.get("/api/actions/connectors").await.json(), json!([]));
}

#[tokio::test]
async fn deeply_nested_json_is_refused_cleanly() {
    let app = TestApp::start().await;
    let depth = 10_000;
    let body = format!(
        r#"{{"name":"x","connector_type_id":".index","config":{{"index":"i","deep":{}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert_error(
        &post_raw(&app, body).await,
        400,
        "Invalid request payload JSON format",
    );
}

#[tokio::test]
async fn the_content_type_kibanas_docs_use_is_accepted() {
    let app = TestApp::start().await;
    let response = app
        .send(
            app.request(Method::POST, "/api/actions/connector")
                .header("kbn-xsrf", "string")
                .header(
                    "content-type",
                    "application/json; Elastic-Api-Version=2023-10-31",
                )
                .body(INDEX_BODY),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_404() {
    let app = TestApp::start().await;
    for (method, path) in [
        (Method::GET, "/api/actions/nope"),
        (Method::GET, "/"),
        (Method::POST, "/api/actions/connectors"),
        (Method::PATCH, "/api/actions/connector/x"),
        (Method::GET, "/s/space1/api/actions/nope"),
    ] {
        let response = app
            .send(app.request(method, path).header("kbn-xsrf", "true"))
            .await;
        assert_error(&response, 404, "Not Found");
    }
}

#[tokio::test]
async fn route_answers_carry_the_api_version_and_a_json_charset() {
    let app = TestApp::start().await;
    let answers = [
        app.get("/api/actions/connectors").await,
        app.get("/api/actions/connector/nope").await,
        app.post("/api/actions/connector", json!({})).await,
        app.send(app.request(Method::POST, "/api/actions/connector"))
            .await,
    ];
    for response in answers {
        assert_eq!(
            response.headers.get("elastic-api-version").unwrap(),
            "2023-10-31"
        );
        assert_eq!(
            response.headers["content-type"],
            "application/json; charset=utf-8"
        );
    }
    // Unknown routes are not Kibana's public routes: no version header there.
    let unknown = app.get("/nope").await;
    assert_eq!(unknown.headers.get("elastic-api-version"), None);
    assert_eq!(
        unknown.headers["content-type"],
        "application/json; charset=utf-8"
    );
}

#[tokio::test]
async fn the_body_is_read_before_the_xsrf_rule_as_in_kibana() {
    let app = TestApp::start().await;
    let malformed = app
        .send(
            app.request(Method::POST, "/api/actions/connector")
                .body("{"),
        )
        .await;
    assert_error(&malformed, 400, "Invalid request payload JSON format");
    let oversized = app
        .send(
            app.request(Method::POST, "/api/actions/connector")
                .body(vec![b' '; 2 * 1024 * 1024]),
        )
        .await;
    assert_error(
        &oversized,
        413,
        "Payload content length greater than maximum allowed: 1048576",
    );
}

#[tokio::test]
async fn only_kibana_space_ids_make_a_space_prefix() {
    let app = TestApp::start().await;
    for path in [
        "/s/Space/api/actions/connectors",
        "/s/sp%20ace/api/actions/connectors",
        "/s/%FF/api/actions/connectors",
    ] {
        assert_error(&app.get(path).await, 404, "Not Found");
    }
    // A well-formed id of a space that does not exist is no route either.
    assert_error(
        &app.get("/s/team_a-1/api/actions/connectors").await,
        404,
        "Not Found",
    );
    app.create_space("team_a-1").await;
    assert_eq!(
        app.get("/s/team_a-1/api/actions/connectors").await.status,
        200
    );
}
