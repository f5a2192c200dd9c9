//! Spaces: a connector lives in one space and is invisible (the same 404) elsewhere.

use serde_json::json;

use crate::support::{TestApp, app::assert_error};

#[tokio::test]
async fn a_connector_is_invisible_from_other_spaces() {
    let app = TestApp::start().await;
    app.create_space("space1").await;
    app.create_space("space2").await;
    let id = app
        .create_connector_in(
            "/s/space1",
            json!({ "name": "log", "connector_type_id": ".server-log" }),
        )
        .await;
    let not_found = format!("Saved object [action/{id}] not found");

    for prefix in ["", "/s/default", "/s/space2"] {
        let path = format!("{prefix}/api/actions/connector/{id}");
        assert_error(&app.get(&path).await, 404, &not_found);
        assert_error(
            &app.put(&path, json!({ "name": "stolen" })).await,
            404,
            &not_found,
        );
        assert_error(
            &app.post(
                &format!("{path}/_execute"),
                json!({ "params": { "message": "x" } }),
            )
            .await,
            404,
            &not_found,
        );
        assert_error(&app.delete(&path).await, 404, &not_found);
        assert_eq!(
            app.get(&format!("{prefix}/api/actions/connectors"))
                .await
                .json(),
            json!([])
        );
    }

    let own = app
        .get(&format!("/s/space1/api/actions/connector/{id}"))
        .await;
    assert_eq!(own.status, 200);
    assert_eq!(own.json()["name"], "log");
    let listed = app.get("/s/space1/api/actions/connectors").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let result = app
        .post(
            &format!("/s/space1/api/actions/connector/{id}/_execute"),
            json!({ "params": { "message": "hello" } }),
        )
        .await;
    assert_eq!(result.json(), json!({ "status": "ok", "connector_id": id }));
}

#[tokio::test]
async fn the_default_space_is_also_reachable_by_its_prefix() {
    let app = TestApp::start().await;
    let id = app
        .create_connector(json!({ "name": "log", "connector_type_id": ".server-log" }))
        .await;

    let response = app
        .get(&format!("/s/default/api/actions/connector/{id}"))
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(response.json()["id"], id);
}
