//! `.jira` against a loopback fake of Jira's REST API v2: every request is checked
//! (method, path, query, basic auth, content type, body as sent), and the fake answers
//! as Jira Cloud or Data Center does, errors included.

use serde_json::{Value, json};

use crate::support::{
    FakeServer, Reply, TestApp, app::assert_error, basic, closed_port, fake::Recorded,
};

const EMAIL: &str = "me@example.com";
const TOKEN: &str = "jira-api-token";

/// An issue as Jira answers `GET /rest/api/2/issue/<id>` (trimmed).
fn issue(id: &str, key: &str) -> Value {
    json!({
        "id": id, "key": key, "self": format!("https://jira.example/rest/api/2/issue/{id}"),
        "fields": {
            "summary": "title, howdy, test",
            "created": "2021-10-20T19:41:02.754+0300",
            "updated": "2021-10-21T08:00:00.000+0000",
            "labels": ["kibana"],
        },
    })
}

/// One field of a createmeta answer (Cloud's `fields`, Data Center's `values`).
fn field(id: &str, name: &str, extra: Value) -> Value {
    let mut field = json!({
        "fieldId": id, "key": id, "name": name, "required": false,
        "schema": { "type": "string", "system": id }, "operations": ["set"],
    });
    for (key, value) in extra.as_object().unwrap() {
        field[key] = value.clone();
    }
    field
}

fn priority_field(default_name: &str) -> Value {
    field(
        "priority",
        "Priority",
        json!({
            "allowedValues": [{ "id": "1", "name": "Highest" }, { "id": "3", "name": "Medium" }],
            "defaultValue": { "id": "3", "name": default_name },
        }),
    )
}

/// Jira: `/cloud` and `/dc` answer as Cloud and Data Center, `/numeric` gives number
/// ids, `/errors` fails in Jira's ways.
fn jira(request: &Recorded) -> Reply {
    let Some((site, api)) = request.path[1..].split_once("/rest/api/2/") else {
        return Reply::status(404, "");
    };
    match (request.method.as_str(), site, api) {
        ("GET", "cloud", "issue/createmeta/CK/issuetypes") => Reply::json(
            200,
            json!({ "maxResults": 50, "startAt": 0, "total": 2, "issueTypes": [
                { "id": "10024", "name": "Improvement", "subtask": false, "description": "An improvement" },
                { "id": "10006", "name": "Task", "subtask": false },
            ] }),
        ),
        ("GET", "dc", "issue/createmeta/CK/issuetypes") => Reply::json(
            200,
            json!({ "maxResults": 50, "startAt": 0, "total": 1, "isLast": true,
                    "values": [{ "id": "10006", "name": "Task", "self": "https://jira.example/x" }] }),
        ),
        ("GET", "numeric", "issue/createmeta/CK/issuetypes") => Reply::json(
            200,
            json!({ "issueTypes": [{ "id": 10024, "name": "Improvement" }, { "name": "No id" }] }),
        ),
        ("GET", "cloud", "issue/createmeta/CK/issuetypes/10024") => Reply::json(
            200,
            json!({ "fields": [
                field("summary", "Summary", json!({ "required": true })),
                priority_field("Medium"),
                field("labels", "Labels", json!({})),
            ] }),
        ),
        ("GET", "cloud", "issue/createmeta/CK/issuetypes/10006") => Reply::json(
            200,
            json!({ "fields": [
                priority_field("High"),
                field("summary", "Summary", json!({ "required": true })),
                field("description", "Description", json!({})),
            ] }),
        ),
        ("GET", "dc", "issue/createmeta/CK/issuetypes/10006") => Reply::json(
            200,
            json!({ "values": [field("summary", "Summary", json!({ "required": true, "defaultValue": null }))] }),
        ),
        ("POST", "cloud", "issue") => Reply::json(
            201,
            json!({ "id": "10010", "key": "CK-1", "self": "https://jira.example/rest/api/2/issue/10010" }),
        ),
        ("GET", "cloud", "issue/10010") => Reply::json(200, issue("10010", "CK-1")),
        ("PUT", "cloud", "issue/CK-1") => Reply::status(204, ""),
        ("GET", "cloud", "issue/CK-1") => Reply::json(200, issue("10010", "CK-1")),
        ("POST", "cloud", "issue/10010/comment") => Reply::json(
            201,
            json!({ "id": "20001", "created": "2021-10-20T19:45:00.120+0300", "body": "ignored" }),
        ),
        ("GET", "cloud", "search/jql") => Reply::json(
            200,
            json!({ "isLast": true, "issues": [
                { "id": "10010", "key": "CK-1", "fields": { "summary": "Javascript's bug" } },
                { "id": "10011", "key": "CK-2", "fields": {} },
            ] }),
        ),
        ("GET", "errors", "issue/bad-request") => Reply::json(
            400,
            json!({ "errorMessages": ["Issue does not exist or you do not have permission to see it.", "Really."], "errors": {} }),
        ),
        ("GET", "errors", "issue/server") => Reply::json(
            500,
            json!({ "errorMessages": [], "errors": { "summary": "Summary is wrong.", "priority": "Priority too." } }),
        ),
        ("GET", "errors", "issue/throttled") => Reply::status(429, ""),
        // A proxy in front of Jira that repeats the credentials it was sent.
        ("GET", "errors", "issue/echo") => Reply::json(
            401,
            json!({ "errorMessages": [format!("Token {TOKEN} refused for {EMAIL}")] }),
        ),
        ("GET", "errors", "issue/html") => Reply::Respond {
            status: 200,
            headers: vec![("content-type", "text/html;charset=UTF-8".to_owned())],
            body: "<html>login</html>".to_owned(),
        },
        ("POST", "errors", "issue") => Reply::json(
            400,
            json!({ "errorMessages": [], "errors": {
                "customfield_1": "Field 'customfield_1' cannot be set.", "labels": "Labels are off." } }),
        ),
        ("POST", "vanishing", "issue") => Reply::json(201, json!({ "id": "404", "key": "CK-404" })),
        ("GET", "vanishing", "issue/404") => Reply::json(
            404,
            json!({ "errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {} }),
        ),
        ("GET", "errors", "issue/createmeta/CK/issuetypes") => {
            Reply::json(200, json!({ "startAt": 0 }))
        }
        ("GET", "errors", "issue/keyless") => Reply::json(200, json!({ "id": "1", "fields": {} })),
        ("PUT", "errors", "issue/CK-2") => Reply::status(204, ""),
        ("GET", "errors", "issue/CK-2") => Reply::json(200, issue("10012", "CK-2")),
        ("POST", "errors", "issue/10012/comment") => Reply::json(
            403,
            json!({ "errorMessages": ["You do not have the permission to comment on this issue."], "errors": {} }),
        ),
        _ => Reply::json(
            404,
            json!({ "errorMessages": ["no such route"], "errors": {} }),
        ),
    }
}

/// A call as the fake saw it: `(method, path?query, body)`; checks the credentials and
/// that a body, and only a body, comes with `Content-Type: application/json`.
#[track_caller]
fn calls(fake: &FakeServer) -> Vec<(String, String, String)> {
    let authorization = basic(EMAIL, TOKEN);
    fake.requests()
        .into_iter()
        .map(|request| {
            assert_eq!(
                request.header("authorization"),
                Some(authorization.as_str())
            );
            let content_type = if request.body.is_empty() {
                None
            } else {
                Some("application/json")
            };
            assert_eq!(request.header("content-type"), content_type, "{request:?}");
            let target = match &request.query {
                Some(query) => format!("{}?{query}", request.path),
                None => request.path.clone(),
            };
            (request.method.to_string(), target, request.body)
        })
        .collect()
}

fn call(method: &str, target: &str, body: Option<Value>) -> (String, String, String) {
    (
        method.to_owned(),
        target.to_owned(),
        body.map(|it| it.to_string()).unwrap_or_default(),
    )
}

async fn start() -> (FakeServer, TestApp) {
    (FakeServer::start(jira).await, TestApp::start().await)
}

async fn connector(app: &TestApp, fake: &FakeServer, site: &str) -> String {
    app.create_typed(
        ".jira",
        json!({ "apiUrl": fake.url(site), "projectKey": "CK" }),
        json!({ "email": EMAIL, "apiToken": TOKEN }),
    )
    .await
}

fn sub_action(name: &str, params: Value) -> Value {
    json!({ "subAction": name, "subActionParams": params })
}

#[tokio::test]
async fn issue_types_without_sub_action_params_as_the_seed_asks() {
    let (fake, app) = start().await;
    let id = connector(&app, &fake, "/cloud").await;
    let response = app
        .post(
            &format!("/api/actions/connector/{id}/_execute"),
            json!({ "params": { "subAction": "issueTypes" } }),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.json(),
        json!({ "status": "ok", "connector_id": id, "data": [
            { "id": "10024", "name": "Improvement" }, { "id": "10006", "name": "Task" },
        ] })
    );
    assert_eq!(
        calls(&fake),
        [call(
            "GET",
            "/cloud/rest/api/2/issue/createmeta/CK/issuetypes",
            None
        )]
    );

    // Data Center lists them as `values`; ids are given back as Jira sent them.
    let dc = connector(&app, &fake, "/dc").await;
    assert_eq!(
        app.execute(&dc, sub_action("issueTypes", json!({}))).await,
        json!({ "status": "ok", "connector_id": dc, "data": [{ "id": "10006", "name": "Task" }] })
    );
    let numeric = connector(&app, &fake, "/numeric/").await;
    assert_eq!(
        app.execute(&numeric, sub_action("issueTypes", json!({})))
            .await,
        json!({ "status": "ok", "connector_id": numeric, "data": [
            { "id": 10024, "name": "Improvement" }, { "name": "No id" },
        ] })
    );
    assert_eq!(
        calls(&fake)[1..],
        [
            call("GET", "/dc/rest/api/2/issue/createmeta/CK/issuetypes", None),
            call(
                "GET",
                "/numeric/rest/api/2/issue/createmeta/CK/issuetypes",
                None
            ),
        ]
    );
}

#[tokio::test]
async fn push_creates_an_issue_of_the_first_type_and_adds_the_comments() {
    let (fake, app) = start().await;
    // One trailing slash of the URL is dropped.
    let id = connector(&app, &fake, "/cloud/").await;
    let result = app
        .execute(
            &id,
            sub_action(
                "pushToService",
                json!({
                    "incident": {
                        "summary": "title \n \n howdy \r test",
                        "description": "the description",
                        "labels": ["kibana", "case"],
                        "priority": "High",
                        "parent": "CK-0",
                        "otherFields": r#"{"customfield_10010": "x", "issuetype": {"id": "10006"}}"#,
                    },
                    "comments": [
                        { "comment": "", "commentId": "c1" },
                        { "comment": "first comment", "commentId": "c2" },
                    ],
                }),
            ),
        )
        .await;
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "10010", "title": "CK-1", "pushedDate": "2021-10-20T16:41:02.754Z",
            "url": fake.url("/cloud/browse/CK-1"),
            "comments": [{ "commentId": "c2", "pushedDate": "2021-10-20T16:45:00.120Z" }],
        } })
    );
    assert_eq!(
        calls(&fake),
        [
            call(
                "GET",
                "/cloud/rest/api/2/issue/createmeta/CK/issuetypes",
                None
            ),
            call(
                "POST",
                "/cloud/rest/api/2/issue",
                Some(json!({ "fields": {
                    "summary": "title, howdy, test",
                    "project": { "key": "CK" },
                    "issuetype": { "id": "10006" },
                    "description": "the description",
                    "labels": ["kibana", "case"],
                    "priority": { "name": "High" },
                    "parent": { "key": "CK-0" },
                    "customfield_10010": "x",
                } }))
            ),
            call("GET", "/cloud/rest/api/2/issue/10010", None),
            call(
                "POST",
                "/cloud/rest/api/2/issue/10010/comment",
                Some(json!({ "body": "first comment" }))
            ),
        ]
    );
}

#[tokio::test]
async fn push_with_an_issue_type_creates_without_asking_for_types() {
    let (fake, app) = start().await;
    let id = connector(&app, &fake, "/cloud").await;
    let result = app
        .execute(
            &id,
            sub_action(
                "pushToService",
                json!({ "incident": { "summary": "one", "issueType": "10006", "description": "", "labels": [] } }),
            ),
        )
        .await;
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "10010", "title": "CK-1", "pushedDate": "2021-10-20T16:41:02.754Z",
            "url": fake.url("/cloud/browse/CK-1"),
        } })
    );
    assert_eq!(
        calls(&fake),
        [
            call(
                "POST",
                "/cloud/rest/api/2/issue",
                Some(json!({ "fields": {
                    "summary": "one", "project": { "key": "CK" },
                    "issuetype": { "id": "10006" }, "labels": [],
                } }))
            ),
            call("GET", "/cloud/rest/api/2/issue/10010", None),
        ]
    );
}

#[tokio::test]
async fn push_with_an_external_id_updates_the_issue() {
    let (fake, app) = start().await;
    let id = connector(&app, &fake, "/cloud").await;
    let result = app
        .execute(
            &id,
            sub_action(
                "pushToService",
                json!({
                    "incident": { "summary": "new title", "externalId": "CK-1", "priority": "Low", "labels": null },
                    "comments": [{ "comment": "", "commentId": "c1" }],
                }),
            ),
        )
        .await;
    // Updated: the date is the issue's `updated`; empty comments are skipped.
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "10010", "title": "CK-1", "pushedDate": "2021-10-21T08:00:00.000Z",
            "url": fake.url("/cloud/browse/CK-1"), "comments": [],
        } })
    );
    assert_eq!(
        calls(&fake),
        [
            call(
                "PUT",
                "/cloud/rest/api/2/issue/CK-1",
                Some(json!({ "fields": {
                    "summary": "new title", "project": { "key": "CK" }, "priority": { "name": "Low" },
                } }))
            ),
            call("GET", "/cloud/rest/api/2/issue/CK-1", None),
        ]
    );
}

#[tokio::test]
async fn lookups_read_incidents_fields_and_issues() {
    let (fake, app) = start().await;
    let id = connector(&app, &fake, "/cloud").await;
    let ok = |data: Value| json!({ "status": "ok", "connector_id": id, "data": data });

    let incident = app
        .execute(
            &id,
            sub_action("getIncident", json!({ "externalId": "CK-1" })),
        )
        .await;
    assert_eq!(
        incident,
        ok(json!({
            "id": "10010", "key": "CK-1",
            "created": "2021-10-20T19:41:02.754+0300", "updated": "2021-10-21T08:00:00.000+0000",
            "summary": "title, howdy, test", "labels": ["kibana"],
        }))
    );

    let summary = json!({
        "required": true, "allowedValues": [], "defaultValue": {},
        "schema": { "type": "string", "system": "summary" }, "name": "Summary",
    });
    let priority = |default_name: &str| {
        json!({
            "required": false,
            "allowedValues": [{ "id": "1", "name": "Highest" }, { "id": "3", "name": "Medium" }],
            "defaultValue": { "id": "3", "name": default_name },
            "schema": { "type": "string", "system": "priority" }, "name": "Priority",
        })
    };
    let by_type = app
        .execute(
            &id,
            sub_action("fieldsByIssueType", json!({ "id": "10024" })),
        )
        .await;
    assert_eq!(
        by_type,
        ok(json!({
            "summary": summary, "priority": priority("Medium"),
            "labels": { "required": false, "allowedValues": [], "defaultValue": {},
                        "schema": { "type": "string", "system": "labels" }, "name": "Labels" },
        }))
    );

    // The fields of every type, as the first type describes them.
    let common = app.execute(&id, sub_action("getFields", json!({}))).await;
    assert_eq!(
        common,
        ok(json!({ "summary": summary, "priority": priority("Medium") }))
    );

    let issues = app
        .execute(
            &id,
            sub_action(
                "issues",
                json!({ "title": r#"[th!s^is()a-te+st-{~is*s&ue?or|and\bye:}]"}]"# }),
            ),
        )
        .await;
    assert_eq!(
        issues,
        ok(json!([
            { "id": "10010", "key": "CK-1", "title": "Javascript's bug" },
            { "id": "10011", "key": "CK-2", "title": null },
        ]))
    );

    let one = app
        .execute(&id, sub_action("issue", json!({ "id": "CK-1" })))
        .await;
    assert_eq!(
        one,
        ok(json!({ "id": "10010", "key": "CK-1", "title": "title, howdy, test" }))
    );

    assert_eq!(
        calls(&fake),
        [
            call("GET", "/cloud/rest/api/2/issue/CK-1", None),
            call(
                "GET",
                "/cloud/rest/api/2/issue/createmeta/CK/issuetypes/10024",
                None
            ),
            call(
                "GET",
                "/cloud/rest/api/2/issue/createmeta/CK/issuetypes",
                None
            ),
            call(
                "GET",
                "/cloud/rest/api/2/issue/createmeta/CK/issuetypes/10024",
                None
            ),
            call(
                "GET",
                "/cloud/rest/api/2/issue/createmeta/CK/issuetypes/10006",
                None
            ),
            call(
                "GET",
                "/cloud/rest/api/2/search/jql?jql=project%3D%22CK%22%20and%20summary%20~%22%5C%5C%5Bth%5C%5C!s%5C%5C%5Eis%5C%5C(%5C%5C)a%5C%5C-te%5C%5C%2Bst%5C%5C-%5C%5C%7B%5C%5C~is%5C%5C*s%5C%5C%26ue%5C%5C%3For%5C%5C%7Cand%5C%5Cbye%5C%5C%3A%5C%5C%7D%5C%5C%5D%5C%5C%7D%5C%5C%5D%22&fields=summary,key",
                None
            ),
            call("GET", "/cloud/rest/api/2/issue/CK-1", None),
        ]
    );
}

#[tokio::test]
async fn data_center_fields_are_read_from_values() {
    let (fake, app) = start().await;
    let id = connector(&app, &fake, "/dc").await;
    let result = app.execute(&id, sub_action("getFields", json!({}))).await;
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": { "summary": {
            "required": true, "allowedValues": [], "defaultValue": {},
            "schema": { "type": "string", "system": "summary" }, "name": "Summary",
        } } })
    );
    assert_eq!(
        calls(&fake),
        [
            call("GET", "/dc/rest/api/2/issue/createmeta/CK/issuetypes", None),
            call(
                "GET",
                "/dc/rest/api/2/issue/createmeta/CK/issuetypes/10006",
                None
            ),
        ]
    );
}

#[tokio::test]
async fn jira_errors_carry_jiras_reasons() {
    let (fake, app) = start().await;
    let id = connector(&app, &fake, "/errors").await;
    let failed = |service_message: String, source: &str| {
        json!({
            "status": "error", "connector_id": id,
            "message": "an error occurred while running the action",
            "service_message": service_message, "retry": true, "errorSource": source,
        })
    };
    let issue = |issue_id: &str| sub_action("issue", json!({ "id": issue_id }));

    assert_eq!(
        app.execute(&id, issue("bad-request")).await,
        failed(
            "[Action][Jira]: Unable to get issue with id bad-request. Error: Request failed with status code 400. Reason: Issue does not exist or you do not have permission to see it., Really.".to_owned(),
            "user"
        )
    );
    assert_eq!(
        app.execute(&id, issue("server")).await,
        failed(
            "[Action][Jira]: Unable to get issue with id server. Error: Request failed with status code 500. Reason: Summary is wrong. Priority too.".to_owned(),
            "framework"
        )
    );
    assert_eq!(
        app.execute(&id, issue("throttled")).await,
        failed(
            "[Action][Jira]: Unable to get issue with id throttled. Error: Request failed with status code 429. Reason: unknown: errorResponse.errors was null".to_owned(),
            "user"
        )
    );
    // A secret the vendor echoes is blanked out of the result (and the log).
    assert_eq!(
        app.execute(&id, issue("echo")).await,
        failed(
            // The email is one of Jira's secrets too.
            "[Action][Jira]: Unable to get issue with id echo. Error: Request failed with status code 401. Reason: Token [redacted] refused for [redacted]".to_owned(),
            "framework"
        )
    );
    assert_eq!(
        app.execute(&id, issue("html")).await,
        failed(
            format!(
                "[Action][Jira]: Unable to get issue with id html. Error: Unsupported content type: text/html;charset=UTF-8 in get {}. Supported content types: application/json. Reason: unknown: errorResponse was null",
                fake.url("/errors/rest/api/2/issue/html")
            ),
            "framework"
        )
    );
    let create = sub_action(
        "pushToService",
        json!({ "incident": { "summary": "s", "issueType": "10006" } }),
    );
    assert_eq!(
        app.execute(&id, create.clone()).await,
        failed(
            "[Action][Jira]: Unable to create incident. Error: Request failed with status code 400. Reason: Field 'customfield_1' cannot be set. Labels are off.".to_owned(),
            "user"
        )
    );
    // Reading the new issue back fails: the inner error is nested in the outer one.
    let vanishing = connector(&app, &fake, "/vanishing").await;
    let result = app.execute(&vanishing, create).await;
    assert_eq!(
        result["service_message"],
        "[Action][Jira]: Unable to create incident. Error: [Action][Jira]: Unable to get incident with id 404. Error: Request failed with status code 404. Reason: Issue does not exist or you do not have permission to see it.. Reason: unknown: errorResponse was null"
    );
    assert_eq!(result["errorSource"], "framework");

    assert_eq!(
        app.execute(&id, sub_action("getIncident", json!({ "externalId": "keyless" }))).await,
        failed(
            "[Action][Jira]: Unable to get incident with id keyless. Error: Response is missing at least one of the expected fields: id,key. Reason: unknown: errorResponse was null".to_owned(),
            "framework"
        )
    );
    let update = sub_action(
        "pushToService",
        json!({ "incident": { "summary": "s", "externalId": "CK-2" },
                "comments": [{ "comment": "no rights", "commentId": "c1" }] }),
    );
    assert_eq!(
        app.execute(&id, update).await,
        failed(
            "[Action][Jira]: Unable to create comment at incident with id 10012. Error: Request failed with status code 403. Reason: You do not have the permission to comment on this issue.".to_owned(),
            "framework"
        )
    );

    // An answer without a list fails as Kibana's code does on it.
    assert_eq!(
        app.execute(&id, sub_action("issueTypes", json!({}))).await,
        failed(
            "[Action][Jira]: Unable to get issue types. Error: Cannot read properties of undefined (reading 'map'). Reason: unknown: errorResponse was null".to_owned(),
            "framework"
        )
    );

    let issue_fields = |issue_id: &str| format!("/errors/rest/api/2/issue/{issue_id}");
    assert_eq!(
        calls(&fake),
        [
            call("GET", &issue_fields("bad-request"), None),
            call("GET", &issue_fields("server"), None),
            call("GET", &issue_fields("throttled"), None),
            call("GET", &issue_fields("echo"), None),
            call("GET", &issue_fields("html"), None),
            call(
                "POST",
                "/errors/rest/api/2/issue",
                Some(json!({ "fields": {
                    "summary": "s", "project": { "key": "CK" }, "issuetype": { "id": "10006" },
                } }))
            ),
            call(
                "POST",
                "/vanishing/rest/api/2/issue",
                Some(json!({ "fields": {
                    "summary": "s", "project": { "key": "CK" }, "issuetype": { "id": "10006" },
                } }))
            ),
            call("GET", "/vanishing/rest/api/2/issue/404", None),
            call("GET", &issue_fields("keyless"), None),
            call(
                "PUT",
                &issue_fields("CK-2"),
                Some(json!({ "fields": { "summary": "s", "project": { "key": "CK" } } }))
            ),
            call("GET", &issue_fields("CK-2"), None),
            call(
                "POST",
                &issue_fields("10012/comment"),
                Some(json!({ "body": "no rights" }))
            ),
            call("GET", &issue_fields("createmeta/CK/issuetypes"), None),
        ]
    );
}

#[tokio::test]
async fn an_unreachable_jira_is_reported_as_nodejs_would() {
    let closed = closed_port();
    let app = TestApp::start().await;
    let url = format!("http://127.0.0.1:{}", closed.port);
    let id = app
        .create_typed(
            ".jira",
            json!({ "apiUrl": url, "projectKey": "CK" }),
            json!({ "email": EMAIL, "apiToken": TOKEN }),
        )
        .await;
    let result = app.execute(&id, sub_action("issueTypes", json!({}))).await;
    assert_eq!(
        result,
        json!({
            "status": "error", "connector_id": id,
            "message": "an error occurred while running the action",
            "service_message": format!(
                "[Action][Jira]: Unable to get issue types. Error: connect ECONNREFUSED 127.0.0.1:{}. Reason: unknown: errorResponse was null",
                closed.port
            ),
            "retry": true, "errorSource": "framework",
        })
    );
}

#[tokio::test]
async fn handshake_and_empty_settings_fail_before_calling_jira() {
    let fake = FakeServer::start(jira).await;
    // The API refuses blank strings; kibana.yml can still hold one.
    let app = TestApp::with_settings(json!({ "xpack": { "actions": { "preconfigured": {
        "blank-jira": {
            "name": "Blank project", "actionTypeId": ".jira",
            "config": { "apiUrl": fake.url("/cloud"), "projectKey": "" },
            "secrets": { "email": EMAIL, "apiToken": TOKEN },
        },
    } } } }))
    .await;
    let id = connector(&app, &fake, "/cloud").await;
    assert_eq!(
        app.execute(&id, sub_action("handshake", json!({}))).await,
        json!({
            "status": "error", "connector_id": id,
            "message": "an error occurred while running the action",
            "service_message": "[Action][ExternalService] subAction handshake not implemented.",
            "retry": true, "errorSource": "framework",
        })
    );
    assert_eq!(
        app.execute("blank-jira", sub_action("issueTypes", json!({})))
            .await,
        json!({
            "status": "error", "connector_id": "blank-jira",
            "message": "an error occurred while running the action",
            "service_message": "[Action]Jira: Wrong configuration.",
            "retry": true, "errorSource": "framework",
        })
    );
    assert!(fake.requests().is_empty());
}

/// Kibana's list of the union's alternatives, with this line for `pushToService`.
fn union_error(push_line: &str) -> String {
    format!(
        "error validating action params: types that failed validation:\n- [0.subAction]: expected value to equal [getFields]\n- [1.subAction]: expected value to equal [getIncident]\n- [2.subAction]: expected value to equal [handshake]\n- {push_line}\n- [4.subAction]: expected value to equal [issueTypes]\n- [5.subAction]: expected value to equal [fieldsByIssueType]\n- [6.subAction]: expected value to equal [issues]\n- [7.subAction]: expected value to equal [issue]"
    )
}

#[tokio::test]
async fn invalid_params_are_refused_with_kibanas_messages() {
    let (fake, app) = start().await;
    let id = connector(&app, &fake, "/cloud").await;
    let refused = |message: String| {
        json!({
            "status": "error", "connector_id": id, "message": message,
            "retry": false, "errorSource": "user",
        })
    };
    assert_eq!(
        app.execute(&id, sub_action("nope", json!({}))).await,
        refused(union_error(
            "[3.subAction]: expected value to equal [pushToService]"
        ))
    );
    let push = |incident: Value| sub_action("pushToService", json!({ "incident": incident }));
    assert_eq!(
        app.execute(
            &id,
            push(json!({ "summary": "s", "labels": ["ok", "not ok"] }))
        )
        .await,
        refused(union_error(
            "[3.subActionParams.incident.labels]: types that failed validation:\n - [3.subActionParams.incident.labels.0.1]: The label not ok cannot contain spaces\n - [3.subActionParams.incident.labels.1]: expected value to equal [null]"
        ))
    );
    assert_eq!(
        app.execute(
            &id,
            push(json!({ "summary": "s", "otherFields": { "custom": 1, "summary": "x" } }))
        )
        .await,
        refused(union_error(
            "[3.subActionParams.incident.otherFields]: types that failed validation:\n - [3.subActionParams.incident.otherFields.0]: The following properties cannot be defined inside otherFields: summary.\n - [3.subActionParams.incident.otherFields.1]: expected value to equal [null]"
        ))
    );
    let many: serde_json::Map<String, Value> = (0..21)
        .map(|i| (format!("customfield_{i}"), json!(i)))
        .collect();
    assert_eq!(
        app.execute(&id, push(json!({ "summary": "s", "otherFields": many })))
            .await,
        refused(union_error(
            "[3.subActionParams.incident.otherFields]: types that failed validation:\n - [3.subActionParams.incident.otherFields.0]: A maximum of 20 fields in otherFields can be defined at a time.\n - [3.subActionParams.incident.otherFields.1]: expected value to equal [null]"
        ))
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn invalid_connectors_are_refused() {
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["jira.example"] } } }),
    )
    .await;
    let create = |config: Value, secrets: Value| json!({ "name": "jira", "connector_type_id": ".jira", "config": config, "secrets": secrets });
    let secrets = json!({ "email": EMAIL, "apiToken": TOKEN });
    assert_error(
        &app.post(
            "/api/actions/connector",
            create(json!({ "projectKey": "CK" }), secrets.clone()),
        )
        .await,
        400,
        "error validating action type config: [apiUrl]: expected value of type [string] but got [undefined]",
    );
    assert_error(
        &app.post(
            "/api/actions/connector",
            create(
                json!({ "apiUrl": "https://elsewhere.example", "projectKey": "CK" }),
                secrets.clone(),
            ),
        )
        .await,
        400,
        "error validating action type config: error configuring connector action: target url \"https://elsewhere.example\" is not added to the Kibana config xpack.actions.allowedHosts",
    );
    assert_error(
        &app.post(
            "/api/actions/connector",
            create(
                json!({ "apiUrl": "https://jira.example", "projectKey": "CK" }),
                json!({ "email": EMAIL }),
            ),
        )
        .await,
        400,
        "error validating action type secrets: [apiToken]: expected value of type [string] but got [undefined]",
    );
    app.create_typed(
        ".jira",
        json!({ "apiUrl": "https://jira.example/", "projectKey": "CK" }),
        secrets,
    )
    .await;
}
