//! `.swimlane` against a loopback fake of Swimlane's record API: records built from
//! the mappings, comments on the mapped comment field, and Kibana's error texts.

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, fake::Recorded};

const CREATED: &str = "2022-09-08T16:52:27.865Z";
const MODIFIED: &str = "2022-09-09T10:00:00.000Z";

fn mapping(id: &str, field_type: &str) -> Value {
    json!({ "id": id, "key": id, "name": id, "fieldType": field_type })
}

fn config(api_url: &str, mappings: Value) -> Value {
    json!({ "apiUrl": api_url, "appId": "app1", "connectorType": "all", "mappings": mappings })
}

fn all_mappings() -> Value {
    json!({
        "caseIdConfig": mapping("f-case", "numeric"),
        "caseNameConfig": mapping("f-name", "text"),
        "commentsConfig": mapping("f-notes", "comments"),
        "severityConfig": mapping("f-sev", "text"),
        "descriptionConfig": mapping("f-desc", "text"),
    })
}

/// Swimlane's answers: the record `rec1` in application `app1`.
fn swimlane(request: &Recorded) -> Reply {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/api/app/app1/record") => Reply::json(
            200,
            json!({ "id": "rec1", "name": "Case name", "createdDate": CREATED }),
        ),
        ("PATCH", "/api/app/app1/record/rec1") => Reply::json(
            200,
            json!({ "id": "rec1", "name": "Renamed", "modifiedDate": MODIFIED }),
        ),
        ("POST", "/api/app/app1/record/rec1/f-notes/comment") => Reply::json(200, json!({})),
        _ => Reply::json(404, json!({ "ErrorCode": 1000, "Argument": "path" })),
    }
}

#[track_caller]
fn check_request(request: &Recorded, method: &str, path: &str, body: &str) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref(),
            request.body.as_str()
        ),
        (method, path, None, body)
    );
    assert_eq!(request.header("private-token"), Some("sl-token"));
    assert_eq!(request.header("content-type"), Some("application/json"));
}

fn failed(id: &str, service_message: &str) -> Value {
    json!({
        "status": "error", "message": "an error occurred while running the action",
        "errorSource": "framework", "connector_id": id, "retry": true,
        "service_message": service_message,
    })
}

async fn connector(app: &TestApp, api_url: &str, mappings: Value) -> String {
    app.create_typed(
        ".swimlane",
        config(api_url, mappings),
        json!({ "apiToken": "sl-token" }),
    )
    .await
}

#[tokio::test]
async fn runs_the_documented_seed_creating_a_record_and_its_comment() {
    let fake = FakeServer::start(swimlane).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("/"), all_mappings()).await;
    let params: Value = serde_json::from_str(
        r#"{"subAction":"pushToService","subActionParams":{"comments":[{"comment":"A comment about the incident.","commentId":1}],"incident":{"caseId":"1000","caseName":"Case name","description":"Description of the incident."}}}"#,
    )
    .unwrap();
    let result = app.execute(&id, params).await;
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    check_request(
        &requests[0],
        "POST",
        "/api/app/app1/record",
        r#"{"applicationId":"app1","values":{"f-case":1000,"f-name":"Case name","f-desc":"Description of the incident."}}"#,
    );
    let comment: Value = serde_json::from_str(&requests[1].body).unwrap();
    let created_date = comment["createdDate"].as_str().unwrap().to_owned();
    check_request(
        &requests[1],
        "POST",
        "/api/app/app1/record/rec1/f-notes/comment",
        &format!(
            r#"{{"createdDate":"{created_date}","fieldId":"f-notes","isRichText":true,"message":"A comment about the incident."}}"#
        ),
    );
    assert!(
        created_date.ends_with('Z') && created_date.len() == 24,
        "{created_date}"
    );
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "rec1", "url": fake.url("/record/app1/rec1"), "title": "Case name",
            "comments": [{ "commentId": 1, "pushedDate": created_date }],
            "pushedDate": CREATED,
        } })
    );
}

#[tokio::test]
async fn updates_a_record_under_an_api_url() {
    let fake = FakeServer::start(swimlane).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake.url("/api/"), all_mappings()).await;
    let incident = json!({ "caseName": "Renamed", "severity": "high", "externalId": "rec1",
                           "alertId": "not mapped" });
    let result = app
        .execute(
            &id,
            json!({ "subAction": "pushToService", "subActionParams": { "incident": incident } }),
        )
        .await;
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "rec1", "url": fake.url("/api/record/app1/rec1"), "title": "Renamed",
            "pushedDate": MODIFIED,
        } })
    );
    check_request(
        &fake.only_request(),
        "PATCH",
        "/api/app/app1/record/rec1",
        r#"{"applicationId":"app1","id":"rec1","values":{"f-name":"Renamed","f-sev":"high"}}"#,
    );
}

#[tokio::test]
async fn comments_need_a_mapped_comment_field() {
    let fake = FakeServer::start(swimlane).await;
    let app = TestApp::start().await;
    let id = connector(
        &app,
        &fake.url(""),
        json!({ "caseNameConfig": mapping("f-name", "text") }),
    )
    .await;
    let result = app
        .execute(
            &id,
            json!({ "subAction": "pushToService", "subActionParams": {
                "incident": { "caseName": "Case name" },
                "comments": [{ "comment": "note", "commentId": "c1" }],
            } }),
        )
        .await;
    assert_eq!(
        result,
        failed(
            &id,
            "[Action][Swimlane]: Unable to create comment in application with id app1. Status: 500. Error: No comment field mapped in Swimlane connector. Reason: unknown"
        )
    );
    check_request(
        &fake.only_request(),
        "POST",
        "/api/app/app1/record",
        r#"{"applicationId":"app1","values":{"f-name":"Case name"}}"#,
    );
}

#[tokio::test]
async fn errors_give_swimlanes_reason() {
    let fake = FakeServer::start(|request| match request.path.as_str() {
        "/refused/api/app/app1/record" => {
            Reply::json(400, json!({ "ErrorCode": 1007, "Argument": "values" }))
        }
        "/broken/api/app/app1/record" => Reply::status(502, "bad gateway"),
        _ => Reply::json(200, json!({ "id": "rec1", "name": "no date" })),
    })
    .await;
    let app = TestApp::start().await;
    let push = json!({ "subAction": "pushToService",
                       "subActionParams": { "incident": { "caseName": "n" } } });
    for (prefix, message) in [
        (
            "/refused",
            "[Action][Swimlane]: Unable to create record in application with id app1. Status: 400. Error: Request failed with status code 400. Reason: values (1007)".to_owned(),
        ),
        (
            "/broken",
            "[Action][Swimlane]: Unable to create record in application with id app1. Status: 502. Error: Request failed with status code 502. Reason: unknown".to_owned(),
        ),
        (
            "/incomplete",
            "[Action][Swimlane]: Unable to create record in application with id app1. Status: 500. Error: Response is missing at least one of the expected fields: id,name,createdDate. Reason: unknown".to_owned(),
        ),
    ] {
        let id = connector(&app, &fake.url(prefix), all_mappings()).await;
        let result = app.execute(&id, push.clone()).await;
        assert_eq!(result, failed(&id, &message), "{prefix}");
    }
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn accepts_the_documented_example_and_checks_allowed_hosts() {
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["myswimlaneinstance.com"] } } }),
    )
    .await;
    let body: Value = serde_json::from_str(
        r#"{
   "name":"my-swimlane-connector",
   "connector_type_id": ".swimlane",
   "config":{
      "connectorType":"all",
      "mappings":{
         "ruleNameConfig":{
            "id":"b6fst",
            "name":"Alert Name",
            "key":"alert-name",
            "fieldType":"text"
         }
      },
      "appId":"myAppID",
      "apiUrl":"https://myswimlaneinstance.com"
   },
   "secrets":{
      "apiToken":"myToken"
   }
}"#,
    )
    .unwrap();
    let response = app.post("/api/actions/connector", body).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.json()["config"],
        json!({ "apiUrl": "https://myswimlaneinstance.com", "appId": "myAppID",
                "connectorType": "all", "mappings": {
                    "ruleNameConfig": { "id": "b6fst", "name": "Alert Name", "key": "alert-name",
                                        "fieldType": "text" },
                    "alertIdConfig": null, "caseIdConfig": null, "caseNameConfig": null,
                    "commentsConfig": null, "severityConfig": null, "descriptionConfig": null,
                } })
    );
    crate::support::app::assert_error(
        &app.post(
            "/api/actions/connector",
            json!({ "name": "s", "connector_type_id": ".swimlane",
                    "config": config("https://swimlane.example", json!({})),
                    "secrets": { "apiToken": "t" } }),
        )
        .await,
        400,
        "error validating action type config: error configuring connector action: target url \"https://swimlane.example\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
}
