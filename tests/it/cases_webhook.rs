//! `.cases-webhook` against a loopback fake of a case-management API: the templates
//! rendered into URLs and bodies, every request of a push, and Kibana's errors.

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, app::assert_error, fake::Recorded, pki::TestCa};

/// `Basic base64("elastic:changeme")`.
const BASIC: &str = "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==";

/// A connector on the fake: Jira-like create, get, update and comment calls.
fn config(fake: &FakeServer) -> Value {
    json!({
        "createIncidentUrl": fake.url("/rest/api/2/issue/"),
        "createIncidentJson": r#"{"fields":{"summary":{{{case.title}}},"description":{{{case.description}}},"labels":{{{case.tags}}}}}"#,
        "createIncidentResponseKey": "data.id",
        "getIncidentUrl": fake.url("/rest/api/2/issue/{{{external.system.id}}}"),
        "getIncidentResponseExternalTitleKey": "fields.key",
        "viewIncidentUrl": fake.url("/browse/{{{external.system.title}}}"),
        "updateIncidentUrl": fake.url("/rest/api/2/issue/{{{external.system.id}}}"),
        "updateIncidentJson": r#"{"fields":{"summary":{{{case.title}}},"id":{{{external.system.id}}}}}"#,
        "createCommentUrl": fake.url("/rest/api/2/issue/{{{external.system.id}}}/comment"),
        "createCommentMethod": "post",
        "createCommentJson": r#"{"body":{{{case.comment}}},"issue":{{{external.system.id}}}}"#,
        "headers": { "X-Custom": "one" },
    })
}

fn secrets() -> Value {
    json!({ "user": "elastic", "password": "changeme", "secretHeaders": { "X-Secret": "two" } })
}

fn with(mut base: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        base[key] = value.clone();
    }
    base
}

fn push(incident: Value, comments: Value) -> Value {
    json!({ "subAction": "pushToService",
            "subActionParams": { "incident": incident, "comments": comments } })
}

/// Answers like the vendor: the case `10001` (`CASE-1`) and the case `A/1 b`.
fn vendor_reply(request: &Recorded) -> Reply {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/rest/api/2/issue") => Reply::json(201, json!({ "data": { "id": 10001 } })),
        ("GET", "/rest/api/2/issue/10001") => {
            Reply::json(200, json!({ "fields": { "key": "CASE-1" } }))
        }
        ("PUT", "/rest/api/2/issue/A%2F1%20b") => Reply::status(204, ""),
        ("GET", "/rest/api/2/issue/A%2F1%20b") => {
            Reply::json(200, json!({ "fields": { "key": "CASE 2" } }))
        }
        ("POST", path) if path.ends_with("/comment") => {
            Reply::json(201, json!({ "id": "comment-1" }))
        }
        _ => Reply::json(404, json!({ "error": "no such route" })),
    }
}

async fn vendor() -> FakeServer {
    FakeServer::start(vendor_reply).await
}

/// The method, path, query and body of a request, and that it carries every header
/// of the connector (content type, basic auth, the configured and secret headers).
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
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("authorization"), Some(BASIC));
    assert_eq!(request.header("x-custom"), Some("one"));
    assert_eq!(request.header("x-secret"), Some("two"));
}

#[track_caller]
fn pushed_date(data: &Value) -> String {
    let date = data["pushedDate"].as_str().unwrap().to_owned();
    assert_eq!(date.len(), "2024-01-01T00:00:00.000Z".len(), "{date}");
    assert!(date.ends_with('Z') && date.as_bytes()[10] == b'T', "{date}");
    date
}

fn failed(id: &str, service_message: &str) -> Value {
    json!({
        "status": "error", "message": "an error occurred while running the action",
        "errorSource": "framework", "connector_id": id, "retry": true,
        "service_message": service_message,
    })
}

#[tokio::test]
async fn creates_a_case_reads_its_title_and_adds_comments() {
    let fake = vendor().await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(".cases-webhook", config(&fake), secrets())
        .await;
    let incident = json!({ "title": "Disk \"full\"", "description": "On <host>", "tags": ["a", "b"],
                           "externalId": null });
    let comments = json!([{ "comment": "First", "commentId": "c1" },
                          { "comment": "", "commentId": "c2" }]);
    let result = app.execute(&id, push(incident, comments)).await;
    let date = pushed_date(&result["data"]);
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "10001", "title": "CASE-1", "url": fake.url("/browse/CASE-1"), "pushedDate": date,
            "comments": [{ "commentId": "c1", "pushedDate": date }],
        } })
    );
    let requests = fake.requests();
    assert_eq!(
        requests.len(),
        3,
        "the empty comment is not sent: {requests:#?}"
    );
    check_request(
        &requests[0],
        "POST",
        "/rest/api/2/issue",
        r#"{"fields":{"summary":"Disk \"full\"","description":"On <host>","labels":["a","b"]}}"#,
    );
    check_request(&requests[1], "GET", "/rest/api/2/issue/10001", "");
    check_request(
        &requests[2],
        "POST",
        "/rest/api/2/issue/10001/comment",
        r#"{"body":"First","issue":"10001"}"#,
    );
}

#[tokio::test]
async fn updates_with_the_id_url_encoded_in_urls_and_json_in_bodies() {
    let fake = vendor().await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(".cases-webhook", config(&fake), secrets())
        .await;
    let incident = json!({ "title": "T", "externalId": "A/1 b" });
    let result = app.execute(&id, push(incident, Value::Null)).await;
    let date = pushed_date(&result["data"]);
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "A/1 b", "title": "CASE 2", "url": fake.url("/browse/CASE%202"), "pushedDate": date,
        } })
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    check_request(
        &requests[0],
        "PUT",
        "/rest/api/2/issue/A%2F1%20b",
        r#"{"fields":{"summary":"T","id":"A/1 b"}}"#,
    );
    check_request(&requests[1], "GET", "/rest/api/2/issue/A%2F1%20b", "");
}

#[tokio::test]
async fn runs_the_documented_seed() {
    let fake = vendor().await;
    let app = TestApp::start().await;
    let config = with(
        config(&fake),
        json!({ "createIncidentJson": r#"{"case":{{{case.id}}},"title":{{{case.title}}},"status":{{{case.status}}},"severity":{{{case.severity}}},"tags":{{{case.tags}}},"description":{{{case.description}}}}"# }),
    );
    let id = app.create_typed(".cases-webhook", config, secrets()).await;
    let params: Value = serde_json::from_str(
        r#"{"subAction":"pushToService","subActionParams":{"comments":[{"comment":"A comment about the incident.","commentId":1}],"incident":{"id":"caseID","tags":["tag1","tag2"],"title":"Case title","status":"open","severity":"low","description":"Description of the incident."}}}"#,
    )
    .unwrap();
    let result = app.execute(&id, params).await;
    let date = pushed_date(&result["data"]);
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "10001", "title": "CASE-1", "url": fake.url("/browse/CASE-1"), "pushedDate": date,
            "comments": [{ "commentId": 1, "pushedDate": date }],
        } })
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    check_request(
        &requests[0],
        "POST",
        "/rest/api/2/issue",
        r#"{"case":"caseID","title":"Case title","status":"open","severity":"low","tags":["tag1","tag2"],"description":"Description of the incident."}"#,
    );
    check_request(&requests[1], "GET", "/rest/api/2/issue/10001", "");
    check_request(
        &requests[2],
        "POST",
        "/rest/api/2/issue/10001/comment",
        r#"{"body":"A comment about the incident.","issue":"10001"}"#,
    );
}

#[tokio::test]
async fn comments_are_not_reported_when_nothing_could_be_sent() {
    let fake = vendor().await;
    let app = TestApp::start().await;
    let config = with(config(&fake), json!({ "createCommentUrl": null }));
    let id = app.create_typed(".cases-webhook", config, secrets()).await;
    let comments = json!([{ "comment": "First", "commentId": "c1" }]);
    let result = app
        .execute(&id, push(json!({ "title": "T" }), comments))
        .await;
    let date = pushed_date(&result["data"]);
    assert_eq!(
        result["data"],
        json!({ "id": "10001", "title": "CASE-1", "url": fake.url("/browse/CASE-1"),
                "pushedDate": date, "comments": [] })
    );
    let paths: Vec<String> = fake.requests().into_iter().map(|it| it.path).collect();
    assert_eq!(paths, ["/rest/api/2/issue", "/rest/api/2/issue/10001"]);
}

/// Runs a push of `{title: "T"}` on a connector with these config changes against a
/// fake answering `reply`; returns the result and the requests.
async fn push_against(
    changes: Value,
    reply: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> (String, Value, Vec<Recorded>, FakeServer) {
    let fake = FakeServer::start(reply).await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(".cases-webhook", with(config(&fake), changes), secrets())
        .await;
    let result = app
        .execute(&id, push(json!({ "title": "T" }), Value::Null))
        .await;
    let requests = fake.requests();
    (id, result, requests, fake)
}

fn created(request: &Recorded) -> Reply {
    match request.method.as_str() {
        "POST" => Reply::json(201, json!({ "data": { "id": "7" } })),
        _ => Reply::json(200, json!({ "fields": { "key": "K" } })),
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_are_not_sent() {
    let (id, result, requests, _) = push_against(
        json!({ "createIncidentJson": r#"{"summary":{{case.title}}}"# }),
        created,
    )
    .await;
    assert_eq!(
        result,
        failed(
            &id,
            "[Action][Webhook - Case Management]: Unable to create case. Error: JSON Error: Create case JSON body must be valid JSON.  "
        )
    );
    assert!(requests.is_empty(), "{requests:#?}");
}

#[tokio::test]
async fn a_template_that_does_not_render_fails_its_check() {
    let (id, result, requests, _) = push_against(
        json!({ "getIncidentUrl": "http://127.0.0.1:1/{{{external.system.id}}" }),
        created,
    )
    .await;
    assert_eq!(
        result,
        failed(
            &id,
            "[Action][Webhook - Case Management]: Unable to create case. Error: [Action][Webhook - Case Management]: Unable to get case with id 7. Error: Invalid Get case URL: Error: Invalid URL.  .  "
        )
    );
    assert_eq!(requests.len(), 1, "only the create: {requests:#?}");
}

#[tokio::test]
async fn a_missing_response_key_is_named() {
    let (id, result, requests, _) = push_against(json!({}), |_| {
        Reply::json(201, json!({ "data": { "key": "7" } }))
    })
    .await;
    assert_eq!(
        result,
        failed(
            &id,
            "[Action][Webhook - Case Management]: Unable to create case. Error: Response is missing the expected field: data.id.  "
        )
    );
    assert_eq!(requests.len(), 1);
}

#[tokio::test]
async fn answers_must_be_json() {
    let (id, result, _, fake) = push_against(json!({}), |_| {
        Reply::status(201, "created").with_header("content-type", "text/plain")
    })
    .await;
    assert_eq!(
        result,
        failed(
            &id,
            &format!(
                "[Action][Webhook - Case Management]: Unable to create case. Error: Unsupported content type: text/plain in post {}. Supported content types: application/json.  ",
                fake.url("/rest/api/2/issue")
            )
        )
    );
    let (id, result, _, fake) = push_against(json!({}), |_| Reply::status(201, "")).await;
    assert_eq!(
        result,
        failed(
            &id,
            &format!(
                "[Action][Webhook - Case Management]: Unable to create case. Error: Missing content type header in post {}. Supported content types: application/json.  ",
                fake.url("/rest/api/2/issue")
            )
        )
    );
}

#[tokio::test]
async fn client_and_server_errors_carry_the_answer_and_reason() {
    let (id, result, _, _) = push_against(json!({}), |_| {
        Reply::json(400, json!({ "errorMessages": ["summary is required"] }))
    })
    .await;
    assert_eq!(
        result,
        failed(
            &id,
            r#"[Action][Webhook - Case Management]: Unable to create case. Error: Request failed with status code 400. {"errorMessages":["summary is required"]} Reason: Bad Request"#
        )
    );
    // A failed read of the title is wrapped by the create, which shows the answer again.
    let (id, result, requests, _) =
        push_against(json!({}), |request| match request.method.as_str() {
            "POST" => Reply::json(201, json!({ "data": { "id": "7" } })),
            _ => Reply::status(500, ""),
        })
        .await;
    assert_eq!(
        result,
        failed(
            &id,
            "[Action][Webhook - Case Management]: Unable to create case. Error: [Action][Webhook - Case Management]: Unable to get case with id 7. Error: Request failed with status code 500.  Reason: Internal Server Error.  Reason: Internal Server Error"
        )
    );
    assert_eq!(requests.len(), 2);
}

#[tokio::test]
async fn validation_refuses_what_kibana_refuses() {
    let fake = vendor().await;
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["127.0.0.1", "testing-jira.atlassian.net"] } } }),
    )
    .await;
    let create = |config: Value, secrets: Value| {
        app.post(
            "/api/actions/connector",
            json!({ "name": "cases", "connector_type_id": ".cases-webhook",
                    "config": config, "secrets": secrets }),
        )
    };
    assert_error(
        &create(config(&fake), json!({ "user": "elastic" })).await,
        400,
        "error validating action type secrets: must specify one of the following schemas: user and password; crt and key (with optional password); pfx (with optional password); or clientSecret (for OAuth2)",
    );
    assert_error(
        &create(
            with(
                config(&fake),
                json!({ "authType": "webhook-oauth2-client-credentials" }),
            ),
            json!({ "clientSecret": "s" }),
        )
        .await,
        400,
        "error validating action type config: OAuth2 authentication is not supported for cases webhook connector",
    );
    assert_error(
        &create(
            with(
                config(&fake),
                json!({ "authType": "http-authentication-query-param" }),
            ),
            json!({}),
        )
        .await,
        400,
        "error validating action type config: Query parameter authentication is not supported for cases webhook connector",
    );
    assert_error(
        &create(
            with(
                config(&fake),
                json!({ "viewIncidentUrl": "https://cases.example/{{{external.system.id}}}" }),
            ),
            secrets(),
        )
        .await,
        400,
        "error validating action type config: error configuring cases webhook action: target url \"https://cases.example/{{{external.system.id}}}\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
    assert_error(
        &create(
            with(
                config(&fake),
                json!({ "getIncidentUrl": "issue/{{{external.system.id}}}" }),
            ),
            secrets(),
        )
        .await,
        400,
        "error validating action type config: error configuring cases webhook action: unable to parse issue/{{{external.system.id}}}: TypeError: Invalid URL",
    );
    assert_error(
        &create(config(&fake), json!({})).await,
        400,
        "error validating action type connector: must specify a secrets configuration",
    );
}

#[tokio::test]
async fn accepts_the_documented_example() {
    let app = TestApp::start().await;
    let config = json!({
        "createCommentJson": "{\n  \"body\": {{{case.comment}}}\n}",
        "createCommentMethod": "post",
        "createCommentUrl": "https://testing-jira.atlassian.net/rest/api/2/issue/{{{external.system.id}}}/comment",
        "createIncidentJson": "{\n\t\"fields\": {\n\t  \"summary\": {{{case.title}}},\n\t  \"description\": {{{case.description}}},\n\t  \"labels\": {{{case.tags}}}\n\t}\n}",
        "createIncidentMethod": "post",
        "createIncidentResponseKey": "id",
        "createIncidentUrl": "https://testing-jira.atlassian.net/rest/api/2/issue",
        "getIncidentResponseExternalTitleKey": "key",
        "getIncidentUrl": "https://testing-jira.atlassian.net/rest/api/2/issue/{{{external.system.id}}}",
        "hasAuth": true,
        "headers": { "content-type": "application/json" },
        "updateIncidentJson": "{\n\t\"fields\": {\n\t  \"summary\": {{{case.title}}},\n\t  \"description\": {{{case.description}}},\n\t  \"labels\": {{{case.tags}}}\n\t}\n}",
        "updateIncidentMethod": "put",
        "updateIncidentUrl": "https://testing-jira.atlassian.net/rest/api/2/issue/{{{external.system.ID}}}",
        "viewIncidentUrl": "https://testing-jira.atlassian.net/browse/{{{external.system.title}}}",
    });
    let response = app
        .post(
            "/api/actions/connector",
            json!({ "name": "my-cases-webhook", "connector_type_id": ".cases-webhook",
                    "config": config, "secrets": { "user": "myuser", "password": "mypassword" } }),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let mut expected = config;
    expected["getIncidentMethod"] = json!("get");
    expected["getIncidentJson"] = Value::Null;
    assert_eq!(response.json()["config"], expected);
}

#[tokio::test]
async fn gets_the_title_with_a_post_body_when_configured() {
    let (id, result, requests, fake) = push_against(
        json!({ "getIncidentMethod": "post",
                "getIncidentJson": r#"{"lookup":{{{external.system.id}}}}"# }),
        |request| match request.path.as_str() {
            "/rest/api/2/issue" => Reply::json(201, json!({ "data": { "id": "7" } })),
            _ => Reply::json(200, json!({ "fields": { "key": "K" } })),
        },
    )
    .await;
    let date = pushed_date(&result["data"]);
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "7", "title": "K", "url": fake.url("/browse/K"), "pushedDate": date,
        } })
    );
    assert_eq!(requests.len(), 2, "{requests:#?}");
    check_request(
        &requests[0],
        "POST",
        "/rest/api/2/issue",
        r#"{"fields":{"summary":"T","description":"","labels":[]}}"#,
    );
    check_request(
        &requests[1],
        "POST",
        "/rest/api/2/issue/7",
        r#"{"lookup":"7"}"#,
    );
}

#[tokio::test]
async fn update_and_comment_failures_name_the_case() {
    let fake = FakeServer::start(|request| match request.method.as_str() {
        "PUT" => Reply::json(409, json!({ "message": "locked" })),
        "PATCH" => Reply::json(200, json!({})),
        "GET" => Reply::json(200, json!({ "fields": { "key": "K" } })),
        _ => Reply::status(503, "down"),
    })
    .await;
    let app = TestApp::start().await;
    let id = app
        .create_typed(".cases-webhook", config(&fake), secrets())
        .await;
    let update = app
        .execute(
            &id,
            push(json!({ "title": "T", "externalId": "9" }), Value::Null),
        )
        .await;
    assert_eq!(
        update,
        failed(
            &id,
            r#"[Action][Webhook - Case Management]: Unable to update case with id 9. Error: Request failed with status code 409. {"message":"locked"} Reason: Conflict"#
        )
    );
    let comments = json!([{ "comment": "note", "commentId": "c1" }]);
    let config = with(config(&fake), json!({ "updateIncidentMethod": "patch" }));
    let patching = app.create_typed(".cases-webhook", config, secrets()).await;
    let comment = app
        .execute(
            &patching,
            push(json!({ "title": "T", "externalId": "9" }), comments),
        )
        .await;
    assert_eq!(
        comment,
        failed(
            &patching,
            r#"[Action][Webhook - Case Management]: Unable to create comment at case with id 9. Error: Request failed with status code 503. "down" Reason: Service Unavailable"#
        )
    );
    let sent: Vec<(String, String)> = fake
        .requests()
        .into_iter()
        .map(|it| (it.method.to_string(), it.path))
        .collect();
    assert_eq!(
        sent,
        [
            ("PUT".to_owned(), "/rest/api/2/issue/9".to_owned()),
            ("PATCH".to_owned(), "/rest/api/2/issue/9".to_owned()),
            ("GET".to_owned(), "/rest/api/2/issue/9".to_owned()),
            ("POST".to_owned(), "/rest/api/2/issue/9/comment".to_owned()),
        ]
    );
}

#[tokio::test]
async fn incomplete_credentials_are_a_wrong_configuration() {
    let fake = vendor().await;
    let app = TestApp::start().await;
    let wrong = "[Action]Webhook - Case Management: Wrong configuration.";
    for (changes, secrets) in [
        (json!({}), json!({ "clientSecret": "s" })),
        (
            json!({ "authType": "webhook-authentication-ssl" }),
            json!({ "secretHeaders": { "X-Secret": "two" } }),
        ),
    ] {
        let id = app
            .create_typed(".cases-webhook", with(config(&fake), changes), secrets)
            .await;
        let result = app
            .execute(&id, push(json!({ "title": "T" }), Value::Null))
            .await;
        assert_eq!(result, failed(&id, wrong));
    }
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn presents_a_client_certificate_and_trusts_the_configured_ca() {
    let server_ca = TestCa::new("Server CA");
    let client_ca = TestCa::new("Client CA");
    let certificate = server_ca.issue(&["127.0.0.1"]);
    let mutual = FakeServer::start_tls(
        TestCa::server_config(&certificate, Some(&client_ca)),
        vendor_reply,
    )
    .await;
    let client = client_ca.issue(&["switchboard-client"]);
    let app = TestApp::start().await;
    let tls = json!({ "authType": "webhook-authentication-ssl", "certType": "ssl-crt-key",
                      "ca": server_ca.cert_base64(), "verificationMode": "full" });
    let id = app
        .create_typed(
            ".cases-webhook",
            with(config(&mutual), tls),
            json!({ "crt": client.cert_base64(), "key": client.key_base64() }),
        )
        .await;
    let result = app
        .execute(&id, push(json!({ "title": "T" }), Value::Null))
        .await;
    assert_eq!(result["data"]["title"], "CASE-1", "{result}");
    let requests = mutual.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(
        requests
            .iter()
            .all(|it| it.header("authorization").is_none())
    );

    // The CA applies without authentication too.
    let plain =
        FakeServer::start_tls(TestCa::server_config(&certificate, None), vendor_reply).await;
    let no_auth = json!({ "hasAuth": false, "ca": server_ca.cert_base64() });
    let id = app
        .create_typed(".cases-webhook", with(config(&plain), no_auth), json!({}))
        .await;
    let result = app
        .execute(&id, push(json!({ "title": "T" }), Value::Null))
        .await;
    assert_eq!(result["data"]["title"], "CASE-1", "{result}");
}
