//! `.resilient` against a loopback fake of IBM Resilient's REST API: creates with
//! additional fields, updates as a change list, comments, look-ups, and failures.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, TestApp, app::assert_error, fake::Recorded};

const AUTH: &str = "Basic a2V5LWlkOmtleS1zZWNyZXQ="; // key-id:key-secret

fn push(incident: Value, comments: Value) -> Value {
    json!({ "subAction": "pushToService",
            "subActionParams": { "incident": incident, "comments": comments } })
}

fn fields() -> Value {
    json!([
        { "name": "name", "input_type": "text", "read_only": false, "required": "always",
          "text": "Name", "prefix": null, "values": [], "blank_option": false },
        { "name": "description", "input_type": "textarea", "read_only": false,
          "required": null, "text": "Description", "prefix": null, "values": [] },
        { "name": "incident_type_ids", "input_type": "multiselect", "read_only": false,
          "required": null, "text": "Incident Type", "prefix": null,
          "values": [{ "value": 17, "label": "Malware", "enabled": true, "hidden": false, "default": false },
                     { "value": 21, "label": "Phishing", "enabled": true, "hidden": false, "default": false }] },
        { "name": "severity_code", "input_type": "select", "read_only": false,
          "required": null, "text": "Severity", "prefix": null,
          "values": [{ "value": 4, "label": "Low", "enabled": true, "hidden": false, "default": true },
                     { "value": 6, "label": "High", "enabled": true, "hidden": false, "default": false }] },
        { "name": "resolution_summary", "input_type": "textarea", "read_only": false,
          "required": null, "text": "Resolution Summary", "values": [] },
        { "name": "custom_select", "input_type": "select", "read_only": false,
          "required": null, "text": "Custom select", "prefix": "properties",
          "values": [{ "value": 100, "label": "Option 1", "enabled": true, "hidden": false, "default": false },
                     { "value": 110, "label": "Option 2", "enabled": true, "hidden": false, "default": false }] },
        { "name": "custom_count", "input_type": "number", "read_only": false,
          "required": null, "text": "Custom count", "prefix": "properties" },
    ])
}

/// Resilient for org 201; org 401 refuses the key, org 500 fails with a message,
/// org `odd` answers a create without its date.
fn resilient(request: &Recorded) -> Reply {
    let path = request.path.as_str();
    if path.starts_with("/rest/orgs/401/") {
        return Reply::json(401, json!({ "success": false, "message": "bad key" }));
    }
    if path.starts_with("/rest/orgs/500/") {
        return Reply::json(500, json!({ "success": false, "message": "boom" }));
    }
    match (request.method.as_str(), path) {
        ("GET", "/rest/orgs/201/types/incident/fields") => Reply::json(200, fields()),
        ("GET", "/rest/orgs/201/types/incident/fields/incident_type_ids") => Reply::json(
            200,
            json!({ "values": [{ "value": 17, "label": "Malware", "enabled": true },
                               { "value": 21, "label": "Phishing", "enabled": true }] }),
        ),
        ("GET", "/rest/orgs/201/types/incident/fields/severity_code") => Reply::json(
            200,
            json!({ "values": [{ "value": 4, "label": "Low" }, { "value": 6, "label": "High" }] }),
        ),
        ("POST", "/rest/orgs/201/incidents") => Reply::json(
            200,
            json!({ "id": 5678, "create_date": 1_577_836_800_000_u64, "name": "Disk full" }),
        ),
        ("GET", "/rest/orgs/201/incidents/5678") => Reply::json(
            200,
            json!({ "id": 5678, "inc_last_modified_date": 1_577_923_200_000_u64,
                    "name": "old name", "description": { "format": "html", "content": "old" },
                    "severity_code": 4, "incident_type_ids": [17],
                    "properties": { "custom_count": 1 } }),
        ),
        ("PATCH", "/rest/orgs/201/incidents/5678") => {
            Reply::json(200, json!({ "success": true, "message": null }))
        }
        ("POST", "/rest/orgs/201/incidents/5678/comments") => {
            Reply::json(200, json!({ "id": 1, "text": "..." }))
        }
        ("POST", "/rest/orgs/odd/incidents") => Reply::json(200, json!({ "id": 9 })),
        _ => Reply::status(404, ""),
    }
}

async fn connector(app: &TestApp, fake: &FakeServer, org: &str) -> String {
    app.create_typed(
        ".resilient",
        // The trailing `/` is dropped from the calls and from the view URL.
        json!({ "apiUrl": fake.url("/"), "orgId": org }),
        json!({ "apiKeyId": "key-id", "apiKeySecret": "key-secret" }),
    )
    .await
}

#[track_caller]
fn assert_request(request: &Recorded, method: &str, path: &str, query: Option<&str>) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_deref()
        ),
        (method, path, query)
    );
    assert_eq!(request.header("authorization"), Some(AUTH));
    assert_eq!(request.header("content-type"), Some("application/json"));
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

const OBJECTS: Option<&str> = Some("text_content_output_format=objects_convert");

#[tokio::test]
async fn resilient_creates_an_incident_with_additional_fields_and_comments() {
    let fake = FakeServer::start(resilient).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake, "201").await;
    let before = now_millis();
    let result = app
        .execute(
            &id,
            push(
                json!({ "name": "Disk full", "description": "<b>full</b>",
                        "incidentTypes": ["17", 21], "severityCode": "6", "externalId": null,
                        "additionalFields": { "properties": { "custom_count": 3 },
                                              "custom_select": 110,
                                              "resolution_summary": "later" } }),
                json!([{ "comment": "first", "commentId": "c1" },
                       { "comment": "", "commentId": "c2" }]),
            ),
        )
        .await;
    let after = now_millis();
    let pushed = "2020-01-01T00:00:00.000Z";
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "5678", "title": "5678", "pushedDate": pushed,
            "url": fake.url("/#incidents/5678"),
            "comments": [{ "commentId": "c1", "pushedDate": pushed },
                         { "commentId": "c2", "pushedDate": pushed }],
        } })
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert_request(
        &requests[0],
        "GET",
        "/rest/orgs/201/types/incident/fields",
        None,
    );
    assert_eq!(requests[0].body, "");
    assert_request(&requests[1], "POST", "/rest/orgs/201/incidents", OBJECTS);
    let sent: Value = serde_json::from_str(&requests[1].body).unwrap();
    let discovered = sent["discovered_date"].as_u64().unwrap();
    assert!((before..=after).contains(&discovered), "{discovered}");
    assert_eq!(
        requests[1].body,
        json!({ "name": "Disk full", "discovered_date": discovered,
                "description": { "format": "html", "content": "<b>full</b>" },
                "incident_type_ids": [{ "id": 17 }, { "id": 21 }],
                "severity_code": { "id": 6 },
                "resolution_summary": "later",
                "properties": { "custom_count": 3, "custom_select": 110 } })
        .to_string()
    );
    for (request, comment) in requests[2..].iter().zip(["first", ""]) {
        assert_request(
            request,
            "POST",
            "/rest/orgs/201/incidents/5678/comments",
            None,
        );
        assert_eq!(
            request.body,
            json!({ "text": { "format": "text", "content": comment } }).to_string()
        );
    }

    // A minimal incident sends only its name and date; additional fields may come as
    // a JSON text.
    let result = app
        .execute(
            &id,
            push(
                json!({ "name": "Minimal", "additionalFields": "{\"resolution_summary\":\"x\"}" }),
                Value::Null,
            ),
        )
        .await;
    assert_eq!(
        result["data"],
        json!({ "id": "5678", "title": "5678", "pushedDate": pushed,
                "url": fake.url("/#incidents/5678") })
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 6);
    assert_request(
        &requests[4],
        "GET",
        "/rest/orgs/201/types/incident/fields",
        None,
    );
    let sent: Value = serde_json::from_str(&requests[5].body).unwrap();
    assert_eq!(
        requests[5].body,
        json!({ "name": "Minimal", "discovered_date": sent["discovered_date"],
                "resolution_summary": "x" })
        .to_string()
    );
}

#[tokio::test]
async fn resilient_updates_an_incident_with_a_change_list() {
    let fake = FakeServer::start(resilient).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake, "201").await;
    let result = app
        .execute(
            &id,
            push(
                json!({ "name": "new name", "description": "new desc", "externalId": "5678",
                        "incidentTypes": [17, 21], "severityCode": 6,
                        "additionalFields": { "custom_count": 4, "resolution_summary": "done" } }),
                json!([{ "comment": "note", "commentId": "c1" }]),
            ),
        )
        .await;
    let pushed = "2020-01-02T00:00:00.000Z";
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "5678", "title": "5678", "pushedDate": pushed,
            "url": fake.url("/#incidents/5678"),
            "comments": [{ "commentId": "c1", "pushedDate": pushed }],
        } })
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 5, "{requests:#?}");
    assert_request(
        &requests[0],
        "GET",
        "/rest/orgs/201/incidents/5678",
        OBJECTS,
    );
    assert_request(
        &requests[1],
        "GET",
        "/rest/orgs/201/types/incident/fields",
        None,
    );
    assert_request(&requests[2], "PATCH", "/rest/orgs/201/incidents/5678", None);
    assert_eq!(
        requests[2].body,
        json!({ "changes": [
            { "field": { "name": "custom_count" },
              "old_value": { "object": 1 }, "new_value": { "object": 4 } },
            { "field": { "name": "resolution_summary" },
              "old_value": { "textarea": null },
              "new_value": { "textarea": { "format": "text", "content": "done" } } },
            { "field": { "name": "name" },
              "old_value": { "text": "old name" }, "new_value": { "text": "new name" } },
            { "field": { "name": "description" },
              "old_value": { "textarea": { "format": "html", "content": "old" } },
              "new_value": { "textarea": { "format": "html", "content": "new desc" } } },
            { "field": { "name": "incident_type_ids" },
              "old_value": { "ids": [17] }, "new_value": { "ids": [17, 21] } },
            { "field": { "name": "severity_code" },
              "old_value": { "id": 4 }, "new_value": { "id": 6 } },
        ] })
        .to_string()
    );
    assert_request(
        &requests[3],
        "GET",
        "/rest/orgs/201/incidents/5678",
        OBJECTS,
    );
    assert_request(
        &requests[4],
        "POST",
        "/rest/orgs/201/incidents/5678/comments",
        None,
    );
    assert_eq!(
        requests[4].body,
        r#"{"text":{"format":"text","content":"note"}}"#
    );

    // A select value the field does not offer is refused before anything is changed.
    let result = app
        .execute(
            &id,
            push(
                json!({ "name": "n", "externalId": "5678", "severityCode": 5 }),
                Value::Null,
            ),
        )
        .await;
    assert_eq!(
        result["service_message"],
        "[Action][IBM Resilient]: Unable to update incident with id 5678. Error: Invalid values provided to severity_code: [\n  5\n]. Accepted values: 4 (for \"Low\"),6 (for \"High\")."
    );
    assert_eq!(fake.requests().len(), 7, "no PATCH");
}

#[tokio::test]
async fn resilient_lists_incident_types_severities_and_fields() {
    let fake = FakeServer::start(resilient).await;
    let app = TestApp::start().await;
    let id = connector(&app, &fake, "201").await;
    let run = |name: &str| json!({ "subAction": name });
    assert_eq!(
        app.execute(&id, run("incidentTypes")).await,
        json!({ "status": "ok", "connector_id": id,
                "data": [{ "id": "17", "name": "Malware" }, { "id": "21", "name": "Phishing" }] })
    );
    assert_eq!(
        app.execute(&id, run("severity")).await["data"],
        json!([{ "id": "4", "name": "Low" }, { "id": "6", "name": "High" }])
    );
    let listed = app.execute(&id, run("getFields")).await;
    let mut expected = fields();
    // Only Kibana's keys are kept, and only when the field has them.
    expected[0].as_object_mut().unwrap().remove("blank_option");
    assert_eq!(listed["data"], expected);
    assert_eq!(
        listed["data"][6],
        json!({ "name": "custom_count", "input_type": "number", "read_only": false,
                "required": null, "text": "Custom count", "prefix": "properties" })
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    let base = "/rest/orgs/201/types/incident/fields";
    assert_request(
        &requests[0],
        "GET",
        &format!("{base}/incident_type_ids"),
        None,
    );
    assert_request(&requests[1], "GET", &format!("{base}/severity_code"), None);
    assert_request(&requests[2], "GET", base, None);
}

#[tokio::test]
async fn resilient_reports_failures_in_kibanas_words() {
    let fake = FakeServer::start(resilient).await;
    let app = TestApp::start().await;
    let refused = connector(&app, &fake, "401").await;
    let error = |id: &str, service_message: &str, source: &str| {
        json!({ "status": "error", "connector_id": id,
                "message": "an error occurred while running the action",
                "service_message": service_message, "retry": true, "errorSource": source })
    };
    assert_eq!(
        app.execute(&refused, push(json!({ "name": "n" }), Value::Null))
            .await,
        error(
            &refused,
            "[Action][IBM Resilient]: Unable to create incident. Error: Status code: 401. Message: Unauthorized API Error.",
            "framework"
        )
    );
    assert_eq!(
        app.execute(&refused, json!({ "subAction": "incidentTypes" }))
            .await["service_message"],
        "[Action][IBM Resilient]: Unable to get incident types. Error: Status code: 401. Message: Unauthorized API Error."
    );
    let failing = connector(&app, &fake, "500").await;
    assert_eq!(
        app.execute(&failing, json!({ "subAction": "severity" }))
            .await["service_message"],
        "[Action][IBM Resilient]: Unable to get severity. Error: Status code: 500. Message: API Error: boom."
    );
    // A failed look-up inside a push is wrapped twice, as in Kibana.
    assert_eq!(
        app.execute(
            &failing,
            push(json!({ "name": "n", "externalId": "1" }), Value::Null)
        )
        .await["service_message"],
        "[Action][IBM Resilient]: Unable to update incident with id 1. Error: [Action][IBM Resilient]: Unable to get incident with id 1. Error: Status code: 500. Message: API Error: boom.."
    );
    let closed = crate::support::closed_port();
    let unreachable = app
        .create_typed(
            ".resilient",
            json!({ "apiUrl": format!("http://127.0.0.1:{}", closed.port), "orgId": "201" }),
            json!({ "apiKeyId": "key-id", "apiKeySecret": "key-secret" }),
        )
        .await;
    assert_eq!(
        app.execute(&unreachable, json!({ "subAction": "getFields" }))
            .await["service_message"],
        "[Action][IBM Resilient]: Unable to get fields. Error: Status code: undefined. Message: Unknown API Error."
    );
    let odd = connector(&app, &fake, "odd").await;
    assert_eq!(
        app.execute(&odd, push(json!({ "name": "n" }), Value::Null))
            .await["service_message"],
        "[Action][IBM Resilient]: Unable to create incident. Error: Response validation failed (Error: [create_date]: expected value of type [number] but got [undefined])."
    );

    let id = connector(&app, &fake, "201").await;
    let sent_before = fake.requests().len();
    assert_eq!(
        app.execute(
            &id,
            push(
                json!({ "name": "n", "additionalFields": { "custom_select": 1337 } }),
                Value::Null
            )
        )
        .await,
        error(
            &id,
            "[Action][IBM Resilient]: Unable to create incident. Error: Invalid values provided to custom_select: [\n  1337\n]. Accepted values: 100 (for \"Option 1\"),110 (for \"Option 2\").",
            "framework"
        )
    );
    assert_eq!(
        fake.requests().len(),
        sent_before + 1,
        "only the fields are read"
    );

    assert_eq!(
        app.execute(
            &id,
            push(
                json!({ "name": "n", "additionalFields": { "severityCode": 1 } }),
                Value::Null
            )
        )
        .await,
        error(
            &id,
            "Request validation failed (Error: [incident.additionalFields]: types that failed validation:\n- [incident.additionalFields.0.key(\"severityCode\")]: The following properties cannot be defined inside additionalFields: severityCode.\n- [incident.additionalFields.1]: expected value to equal [null])",
            "user"
        )
    );
    let many: serde_json::Map<String, Value> =
        (0..51).map(|it| (format!("f{it}"), json!(it))).collect();
    assert_eq!(
        app.execute(
            &id,
            push(
                json!({ "name": "n", "additionalFields": many }),
                Value::Null
            )
        )
        .await["service_message"],
        "Request validation failed (Error: [incident.additionalFields]: types that failed validation:\n- [incident.additionalFields.0]: A maximum of 50 fields in additionalFields can be defined at a time.\n- [incident.additionalFields.1]: expected value to equal [null])"
    );
    assert_eq!(
        app.execute(&id, json!({ "subAction": "pushToService" }))
            .await,
        error(
            &id,
            "Request validation failed (Error: [incident.name]: expected value of type [string] but got [undefined])",
            "user"
        )
    );
    assert_eq!(
        app.execute(
            &id,
            json!({ "subAction": "getFields", "subActionParams": { "x": 1 } })
        )
        .await["service_message"],
        "Request validation failed (Error: [x]: definition for this key is missing)"
    );
    assert_eq!(
        app.execute(&id, json!({ "subAction": "getIncident" }))
            .await,
        error(
            &id,
            &format!(
                "Sub action \"getIncident\" is not registered. Connector id: {id}. Connector name: IBM Resilient. Connector type: .resilient"
            ),
            "framework"
        )
    );
    assert_eq!(
        fake.requests().len(),
        sent_before + 1,
        "nothing sent for invalid params"
    );

    assert_error(
        &app.post(
            "/api/actions/connector",
            json!({ "name": "r", "connector_type_id": ".resilient",
                    "config": { "apiUrl": "https://resilient.example" },
                    "secrets": { "apiKeyId": "a", "apiKeySecret": "b" } }),
        )
        .await,
        400,
        "error validating action type config: [orgId]: expected value of type [string] but got [undefined]",
    );
    assert_error(
        &app.post(
            "/api/actions/connector",
            json!({ "name": "r", "connector_type_id": ".resilient",
                    "config": { "apiUrl": "https://resilient.example", "orgId": "1" },
                    "secrets": { "apiKeyId": "a" } }),
        )
        .await,
        400,
        "error validating action type secrets: [apiKeySecret]: expected value of type [string] but got [undefined]",
    );
}
