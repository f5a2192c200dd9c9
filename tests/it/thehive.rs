//! `.thehive` against a loopback fake of TheHive's API: cases (create, update,
//! comments), alerts, and failures.

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, app::assert_error, fake::Recorded};

fn case_answer() -> Value {
    json!({
        "_id": "~123", "_type": "Case", "_createdBy": "kibana@soc", "_createdAt": 1_577_836_800_000_u64,
        "number": 7, "title": "Disk full (as stored)", "description": "d", "severity": 2,
        "severityLabel": "MEDIUM", "startDate": 1_577_836_800_000_u64, "tags": ["a"], "flag": false,
        "tlp": 3, "tlpLabel": "AMBER+STRICT", "pap": 2, "papLabel": "AMBER", "status": "New",
        "stage": "New", "assignee": null, "extraData": {}, "newDate": 1_577_836_800_000_u64,
        "timeToDetect": 0, "unknownToKibana": true,
    })
}

fn comment_answer() -> Value {
    json!({ "_id": "~9", "_type": "Comment", "createdBy": "kibana@soc",
            "createdAt": 1_577_836_800_000_u64, "message": "m", "isEdited": false, "extraData": {} })
}

fn alert_answer() -> Value {
    json!({
        "_id": "~77", "_type": "Alert", "_createdBy": "kibana@soc", "_createdAt": 1_577_836_800_000_u64,
        "type": "external", "source": "kibana", "sourceRef": "ref-1", "title": "t",
        "description": "d", "severity": 4, "severityLabel": "CRITICAL", "date": 1_577_836_800_000_u64,
        "tags": ["x"], "tlp": 2, "tlpLabel": "AMBER", "pap": 2, "papLabel": "AMBER",
        "observableCount": 1, "status": "New", "stage": "New", "extraData": {},
        "newDate": 1_577_836_800_000_u64, "timeToDetect": 0,
    })
}

fn thehive(request: &Recorded) -> Reply {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/api/v1/case") => Reply::json(201, case_answer()),
        ("PATCH", "/api/v1/case/~123") => Reply::status(204, ""),
        ("POST", "/api/v1/case/~123/comment") => Reply::json(201, comment_answer()),
        ("POST", "/api/v1/alert") => Reply::json(201, alert_answer()),
        ("POST", "/odd/api/v1/case") => Reply::json(201, json!({ "_id": "~1" })),
        _ => Reply::json(
            400,
            json!({ "type": "BadRequest", "message": "Invalid title" }),
        ),
    }
}

async fn connector(app: &TestApp, url: String, organisation: Value) -> String {
    app.create_typed(
        ".thehive",
        json!({ "url": url, "organisation": organisation }),
        json!({ "apiKey": "hive-key" }),
    )
    .await
}

#[track_caller]
fn assert_request(
    request: &Recorded,
    method: &str,
    path: &str,
    organisation: Option<&str>,
    body: &str,
) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref()
        ),
        (method, path, None)
    );
    assert_eq!(request.header("authorization"), Some("Bearer hive-key"));
    assert_eq!(request.header("x-organisation"), organisation);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, body);
}

fn push(incident: Value, comments: Value) -> Value {
    json!({ "subAction": "pushToService",
            "subActionParams": { "incident": incident, "comments": comments } })
}

#[tokio::test]
async fn thehive_creates_a_case_with_comments() {
    let fake = FakeServer::start(thehive).await;
    let app = TestApp::start().await;
    // The trailing `/` is dropped from the calls and from the case URL.
    let id = connector(&app, fake.url("/"), json!("SOC")).await;
    let result = app
        .execute(
            &id,
            push(
                json!({ "title": "Disk full", "description": "d", "severity": 2, "tlp": "3",
                        "tags": ["a"], "externalId": null }),
                json!([{ "comment": "first", "commentId": "c1" },
                       { "comment": "", "commentId": "c2" }]),
            ),
        )
        .await;
    let pushed = "2020-01-01T00:00:00.000Z";
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "~123", "title": "Disk full (as stored)", "pushedDate": pushed,
            "url": fake.url("/cases/~123/details"),
            "comments": [{ "commentId": "c1", "pushedDate": pushed },
                         { "commentId": "c2", "pushedDate": pushed }],
        } })
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_request(
        &requests[0],
        "POST",
        "/api/v1/case",
        Some("SOC"),
        r#"{"title":"Disk full","description":"d","severity":2,"tlp":3,"tags":["a"]}"#,
    );
    assert_request(
        &requests[1],
        "POST",
        "/api/v1/case/~123/comment",
        Some("SOC"),
        r#"{"message":"first"}"#,
    );
    assert_request(
        &requests[2],
        "POST",
        "/api/v1/case/~123/comment",
        Some("SOC"),
        r#"{"message":""}"#,
    );
}

#[tokio::test]
async fn thehive_without_an_organisation_sends_no_organisation_header() {
    let fake = FakeServer::start(thehive).await;
    let app = TestApp::start().await;
    let id = connector(&app, fake.url(""), Value::Null).await;
    let result = app
        .execute(
            &id,
            push(
                json!({ "title": "Disk full", "description": "d" }),
                json!([]),
            ),
        )
        .await;
    assert_eq!(
        result["data"],
        json!({ "id": "~123", "title": "Disk full (as stored)",
                "pushedDate": "2020-01-01T00:00:00.000Z",
                "url": fake.url("/cases/~123/details") })
    );
    // Nulls are not sent (Kibana 8.x drops them from sub-action bodies).
    assert_request(
        &fake.only_request(),
        "POST",
        "/api/v1/case",
        None,
        r#"{"title":"Disk full","description":"d"}"#,
    );
}

#[tokio::test]
async fn thehive_updates_a_case_by_its_external_id() {
    let fake = FakeServer::start(thehive).await;
    let app = TestApp::start().await;
    let id = connector(&app, fake.url(""), json!("SOC")).await;
    let before = std::time::SystemTime::now();
    let result = app
        .execute(
            &id,
            push(
                json!({ "title": "Renamed", "description": "d2", "severity": 3,
                        "externalId": "~123" }),
                json!([{ "comment": "note", "commentId": "c1" }]),
            ),
        )
        .await;
    let pushed = result["data"]["pushedDate"].as_str().unwrap().to_owned();
    let at = time::OffsetDateTime::parse(&pushed, &time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(std::time::SystemTime::from(at) + std::time::Duration::from_millis(1) >= before);
    assert!(std::time::SystemTime::from(at) <= std::time::SystemTime::now());
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "~123", "title": "Renamed", "pushedDate": pushed,
            "url": fake.url("/cases/~123/details"),
            "comments": [{ "commentId": "c1", "pushedDate": pushed }],
        } })
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_request(
        &requests[0],
        "PATCH",
        "/api/v1/case/~123",
        Some("SOC"),
        r#"{"title":"Renamed","description":"d2","severity":3}"#,
    );
    assert_request(
        &requests[1],
        "POST",
        "/api/v1/case/~123/comment",
        Some("SOC"),
        r#"{"message":"note"}"#,
    );
}

#[tokio::test]
async fn thehive_creates_an_alert_with_its_body_merged_over_the_params() {
    let fake = FakeServer::start(thehive).await;
    let app = TestApp::start().await;
    let id = connector(&app, fake.url(""), json!("SOC")).await;
    let alert = |body: Value| {
        json!({ "subAction": "createAlert", "subActionParams": {
            "title": "t", "description": "d", "type": "external", "source": "kibana",
            "sourceRef": "ref-1", "severity": 3, "tags": ["x"], "body": body,
        } })
    };
    let body = r#"{"severity": 4, "observables": [{"dataType": "ip", "data": "10.0.0.1"}]}"#;
    assert_eq!(
        app.execute(&id, alert(json!(body))).await,
        json!({ "status": "ok", "connector_id": id, "data": {} })
    );
    assert_request(
        &fake.only_request(),
        "POST",
        "/api/v1/alert",
        Some("SOC"),
        r#"{"title":"t","description":"d","type":"external","source":"kibana","sourceRef":"ref-1","severity":4,"isRuleSeverity":false,"tags":["x"],"observables":[{"dataType":"ip","data":"10.0.0.1"}]}"#,
    );

    let result = app.execute(&id, alert(json!("nope"))).await;
    assert_eq!(
        result,
        json!({ "status": "error", "connector_id": id,
                "message": "an error occurred while running the action",
                "service_message": "Unexpected token 'o', \"nope\" is not valid JSON",
                "retry": true, "errorSource": "framework" })
    );
    assert_eq!(fake.requests().len(), 1, "nothing sent for a bad body");
}

#[tokio::test]
async fn thehive_reports_failures_in_kibanas_words() {
    let fake = FakeServer::start(thehive).await;
    let app = TestApp::start().await;
    let error = |id: &str, service_message: &str, source: &str| {
        json!({ "status": "error", "connector_id": id,
                "message": "an error occurred while running the action",
                "service_message": service_message, "retry": true, "errorSource": source })
    };
    let bad = connector(&app, fake.url("/bad"), json!("SOC")).await;
    let alert = json!({ "subAction": "createAlert", "subActionParams": {
        "title": "t", "description": "d", "type": "external", "source": "kibana",
        "sourceRef": "ref-1" } });
    assert_eq!(
        app.execute(&bad, alert.clone()).await,
        error(
            &bad,
            "Status code: 400. Message: API Error: BadRequest - Invalid title",
            "framework"
        )
    );
    assert_request(
        &fake.only_request(),
        "POST",
        "/bad/api/v1/alert",
        Some("SOC"),
        r#"{"title":"t","description":"d","type":"external","source":"kibana","sourceRef":"ref-1","isRuleSeverity":false}"#,
    );
    let closed = crate::support::closed_port();
    let unreachable = connector(
        &app,
        format!("http://127.0.0.1:{}", closed.port),
        Value::Null,
    )
    .await;
    assert_eq!(
        app.execute(&unreachable, alert.clone()).await["service_message"],
        "Status code: undefined. Message: Unknown API Error"
    );
    let odd = connector(&app, fake.url("/odd"), json!("SOC")).await;
    assert_eq!(
        app.execute(
            &odd,
            push(json!({ "title": "t", "description": "d" }), Value::Null)
        )
        .await["service_message"],
        "Response validation failed (Error: [_type]: expected value of type [string] but got [undefined])"
    );

    let id = connector(&app, fake.url(""), json!("SOC")).await;
    let sent_before = fake.requests().len();
    assert_eq!(
        app.execute(
            &id,
            json!({ "subAction": "getIncident", "subActionParams": {} })
        )
        .await,
        error(
            &id,
            &format!(
                "Sub action \"getIncident\" is not registered. Connector id: {id}. Connector name: TheHive. Connector type: .thehive"
            ),
            "framework"
        )
    );
    assert_eq!(
        app.execute(
            &id,
            json!({ "subAction": "createAlert", "subActionParams": { "title": "t" } })
        )
        .await,
        error(
            &id,
            "Request validation failed (Error: [description]: expected value of type [string] but got [undefined])",
            "user"
        )
    );
    assert_eq!(
        app.execute(
            &id,
            push(
                json!({ "title": "t", "description": "d", "tlp": "red" }),
                Value::Null
            )
        )
        .await["service_message"],
        "Request validation failed (Error: [incident.tlp]: types that failed validation:\n- [incident.tlp.0]: expected value of type [number] but got [string]\n- [incident.tlp.1]: expected value to equal [null])"
    );
    assert_eq!(
        fake.requests().len(),
        sent_before,
        "nothing sent for invalid params"
    );

    assert_error(
        &app.post(
            "/api/actions/connector",
            json!({ "name": "h", "connector_type_id": ".thehive",
                    "config": { "organisation": "SOC" }, "secrets": { "apiKey": "k" } }),
        )
        .await,
        400,
        "error validating action type config: [url]: expected value of type [string] but got [undefined]",
    );
}
