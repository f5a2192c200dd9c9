//! Spaces: a connector lives in one space and is invisible (the same 404) elsewhere.

use reqwest::Method;
use serde_json::{Value, json};

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

#[tokio::test]
async fn the_spaces_api_creates_gets_updates_and_lists_like_kibana() {
    let app = TestApp::start().await;
    let default_space = json!({
        "id": "default", "name": "Default", "description": "This is your default space!",
        "color": "#00bfb3", "disabledFeatures": [], "_reserved": true,
    });
    assert_eq!(
        app.get("/api/spaces/space").await.json(),
        json!([default_space])
    );

    let created = app
        .post(
            "/api/spaces/space",
            json!({ "id": "ops", "name": "Operations", "initials": "OP", "color": "#AA00ff",
                    "_reserved": true }),
        )
        .await;
    let ops = json!({ "id": "ops", "name": "Operations", "color": "#AA00ff", "initials": "OP",
                      "disabledFeatures": [] });
    assert_eq!((created.status, created.json()), (200, ops.clone()));
    assert_error(
        &app.post("/api/spaces/space", json!({ "id": "ops", "name": "again" }))
            .await,
        409,
        "A space with the identifier ops already exists.",
    );
    assert_eq!(app.get("/api/spaces/space/ops").await.json(), ops);
    assert_error(&app.get("/api/spaces/space/nope").await, 404, "Not Found");

    // An update replaces what it names and keeps what it leaves out; the path names
    // the space.
    let updated = app
        .put(
            "/api/spaces/space/ops",
            json!({ "id": "ignored", "name": "Ops", "description": "on call" }),
        )
        .await;
    assert_eq!(
        updated.json(),
        json!({ "id": "ops", "name": "Ops", "description": "on call", "color": "#AA00ff",
                "initials": "OP", "disabledFeatures": [] })
    );
    assert_error(
        &app.put(
            "/api/spaces/space/nope",
            json!({ "id": "nope", "name": "x" }),
        )
        .await,
        404,
        "Not Found",
    );
    let names: Vec<Value> = app
        .get("/api/spaces/space")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|space| space["id"].clone())
        .collect();
    assert_eq!(names, [json!("default"), json!("ops")]);
}

#[tokio::test]
async fn space_bodies_are_validated_with_kibanas_messages() {
    let app = TestApp::start().await;
    for (body, message) in [
        (
            json!({ "id": "Ops", "name": "x" }),
            "[request body.id]: must be lower case, a-z, 0-9, '_', and '-' are allowed",
        ),
        (
            json!({ "id": "ops", "name": "" }),
            "[request body.name]: value has length [0] but it must have a minimum length of [1].",
        ),
        (
            json!({ "id": "ops", "name": "x", "initials": "ABC" }),
            "[request body.initials]: value has length [3] but it must have a maximum length of [2].",
        ),
        (
            json!({ "id": "ops", "name": "x", "color": "red" }),
            "[request body.color]: must be a 6 digit hex color, starting with a #",
        ),
        (
            json!({ "id": "ops", "name": "x", "imageUrl": "http://x/y.png" }),
            "[request body.imageUrl]: must start with 'data:image'",
        ),
        (
            json!({ "id": "ops", "name": "x", "owner": "me" }),
            "[request body.owner]: definition for this key is missing",
        ),
        (
            json!({ "name": "x" }),
            "[request body.id]: expected value of type [string] but got [undefined]",
        ),
    ] {
        assert_error(&app.post("/api/spaces/space", body).await, 400, message);
    }
    assert_error(
        &app.get("/api/spaces/space?include_authorized_purposes=true&purpose=any")
            .await,
        400,
        "[request query.include_authorized_purposes]: expected value to equal [false]",
    );
    assert_error(
        &app.get("/api/spaces/space?color=1").await,
        400,
        "[request query.color]: definition for this key is missing",
    );
    assert_eq!(
        app.get("/api/spaces/space")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn deleting_a_space_deletes_its_connectors_and_the_default_space_stays() {
    let app = TestApp::start().await;
    app.create_space("ops").await;
    let id = app
        .create_connector_in(
            "/s/ops",
            json!({ "name": "log", "connector_type_id": ".server-log" }),
        )
        .await;
    let kept = app
        .create_connector(json!({ "name": "kept", "connector_type_id": ".server-log" }))
        .await;
    // Read once, so a cached copy would show if deletion left one behind.
    assert_eq!(
        app.get(&format!("/s/ops/api/actions/connector/{id}"))
            .await
            .status,
        200
    );

    assert_error(
        &app.delete("/api/spaces/space/default").await,
        400,
        "The default space cannot be deleted because it is reserved.",
    );
    assert_error(
        &app.delete("/api/spaces/space/nope").await,
        404,
        "Not Found",
    );
    let deleted = app.delete("/api/spaces/space/ops").await;
    assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));

    assert_error(
        &app.get(&format!("/s/ops/api/actions/connector/{id}")).await,
        404,
        "Not Found",
    );
    app.create_space("ops").await;
    assert_error(
        &app.get(&format!("/s/ops/api/actions/connector/{id}")).await,
        404,
        &format!("Saved object [action/{id}] not found"),
    );
    assert_eq!(
        app.get("/s/ops/api/actions/connectors").await.json(),
        json!([])
    );
    assert_eq!(
        app.get(&format!("/api/actions/connector/{kept}"))
            .await
            .json()["name"],
        "kept"
    );
}

#[tokio::test]
async fn managing_spaces_needs_the_global_all_privilege() {
    let app = crate::security::app_with_users(json!({})).await;
    let alice = crate::support::basic("alice", crate::security::PASSWORD);
    let nobody = crate::support::basic("nobody", crate::security::PASSWORD);
    let as_alice = |method: Method, path: &str, body: Option<Value>| {
        let (alice, path) = (alice.clone(), path.to_owned());
        let app = &app;
        async move { app.call_as(&alice, method, &path, body).await }
    };
    let space = json!({ "id": "mine", "name": "Mine" });
    assert_error(
        &as_alice(Method::POST, "/api/spaces/space", Some(space.clone())).await,
        403,
        "Unauthorized to create spaces",
    );
    assert_error(
        &as_alice(
            Method::PUT,
            "/api/spaces/space/space1",
            Some(json!({ "id": "space1", "name": "x" })),
        )
        .await,
        403,
        "Unauthorized to update spaces",
    );
    assert_error(
        &as_alice(Method::DELETE, "/api/spaces/space/space1", None).await,
        403,
        "Unauthorized to delete spaces",
    );
    // She sees the one space she has a privilege in.
    let listed = as_alice(Method::GET, "/api/spaces/space", None)
        .await
        .json();
    assert_eq!(
        listed,
        json!([{ "id": "space1", "name": "space1", "disabledFeatures": [] }])
    );
    assert_error(
        &as_alice(Method::GET, "/api/spaces/space/space2", None).await,
        403,
        "Unauthorized to get space2 space",
    );
    assert_error(
        &app.call_as(&nobody, Method::GET, "/api/spaces/space", None)
            .await,
        403,
        "Forbidden",
    );

    // Kibana's base `all` in every space is what manages spaces.
    let admin = json!({ "kibana": [{ "base": ["all"], "spaces": ["*"] }] });
    app.admin(
        &["roles", "put", "space_admin", "--json", &admin.to_string()],
        "",
    )
    .await;
    app.admin(&["users", "roles", "alice", "--roles", "space_admin"], "")
        .await;
    // The CLI's change reaches the server once alice's remembered login lapses; a
    // password change made through the CLI is the same. Here she logs in afresh
    // under another password, which is never remembered from before.
    app.admin(
        &["users", "passwd", "alice", "--password-stdin"],
        "alices-new-password\n",
    )
    .await;
    let alice = crate::support::basic("alice", "alices-new-password");
    let created = app
        .call_as(&alice, Method::POST, "/api/spaces/space", Some(space))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
}
