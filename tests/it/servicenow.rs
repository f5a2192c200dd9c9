//! `.servicenow`, `.servicenow-sir` and `.servicenow-itom` against a loopback fake of
//! a ServiceNow instance: every request of each flow is checked (method, path, query,
//! credentials, body), and the OAuth fake checks the signed assertion with the test
//! key's public half.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use serde_json::{Value, json};

use crate::support::{
    FakeServer, Reply, TestApp,
    app::assert_error,
    fake::{Recorded, closed_port},
    rsa::{self, PKCS8_KEY},
};

const BASIC: &str = "Basic YWRtaW46cHc="; // admin:pw
const DEFAULT_KEY: &str = "{{rule.id}}:{{alert.id}}";
const JSON: Option<&str> = Some("application/json");

// The shared test key (`support::rsa`) in the two other forms ServiceNow connectors
// accept.

const PKCS1_KEY: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIIEowIBAAKCAQEAryFbJGk+0bME++Q8jDC3W4ZJhIzWm2RI7Pn6US71Q4A3IuKx\n\
dWse4UEV8TsSpE08HdpoOo1DWtX0BrpF9BF2NEQFNdidbOz5NGIkNam4eN4RvKi9\n\
qC2syoOp5UM+atDpNrLpyBzAK1LkQqEW5f3p+t+kAou8SHP0fbMi0NiTP++dYL/r\n\
5nL9eXgTDLsqbX6ZBChk/DAdXPwfWs+mZ99ZIlkPnwHdgk6OQ8E9jejR9s1P1w3S\n\
EaXLjbf0DIOA88OObPvAQPPmEqm4PJJWSzL8xCe7ZjPG/Ivm+8njiNEh4GlhQeKw\n\
SIK/fa8k3rd/d9P4ovnFhckgN7OlP1Gz5zFJFwIDAQABAoIBACquqfxvTBimlVXg\n\
0+Lk8qMzUNKl0p4PrHhZGmlT1QHNC2MMtexknaOPjc37tDjn+/lYpCN1D0/hqjZD\n\
is4HvXPSiiSL9R45iSj7rFCJ20RV9yOwSnzlGOJIgY03PMyiutwSccjMPQeyDaCx\n\
ixelsTNr8xiNvuc3n4RNNvSIfCbOErMbTuakljuZ9mT4rOpQB7KJG928/BdBrvmV\n\
+iYBjj/LduYZoAz+CaAz1sFOza4ZOCqWHE2OBCSoChWq+wqgn/LdtoJ3o0YU7nqh\n\
81y/OwAQB7eH5TUuRQ+f2eh2hbdt1FqVVWZLrXgx36BZet9Su3bCHPfGo1yX5bIW\n\
2ZVM7tUCgYEA8shdF9E8CdMCMugt5nkleXvnwgC5pfZRqbcAXeXzBvIhgj0x/Hpo\n\
EMnW3TwlUcuD0rxIuRV3r2P7LYGT/YlHcSdYIAajzrEENM2AoIfFO21HCYkCebTz\n\
dyOFgUGGDm3VS56OdLnShb59NtQI2l7eA2wb3OvejkpzhK1W6sJaKaUCgYEAuKog\n\
3/37oLZx3mWXKg3daAgjrzjFQKezhPdGH613eeQXOsh31EuLDyF30/rWW3WmAvAN\n\
U9f19E7KSG04L9i6RqW0qDsMOhHNUR1GEnSeqtcKoFpboHYfsIJ3DfHLoUrKEZvE\n\
3+CzOfs2c9YLyRMRqCl7iz4Xv92zGq4p0Ne9UwsCgYEAgQ7NndmWBsrqglE2BSwl\n\
JZ0eJ9zm0zhLVOJ5CXExbWHNOkR5i/Mt2q7Qzy4n0IFVA/Me3XRx+QQ3A4u8NayC\n\
E76MdAnTjg4/ZCpR1AQYbmy6tHDmpffw7EYvs/Q25Pixx87zf01AgeQu/7RbOGnx\n\
rvQLI7cmyZD+M2tJpuXFtBkCgYAZDWOWX8OSYw4BqPCgEO93nJsSu3XvNpEhOda2\n\
l3b8/1ezbtzq3TDJZbX2+TG5iLVz8pMsS8EfWs0QlFiqDRIAYZynshMPkbi0B2+p\n\
M08PSEs1w+xoUX4tGRYDu0jv4dCWIPbNlJNcC1uwzVod9ktP8AjFtC/OpMoWlYgw\n\
wAP8TwKBgHlkIKAiWxEmHGHT9wmgU3X9MlZXw2BagPuV0vqBjRC8UZqBfi5IAf0D\n\
StGonmQV58Hu/bxPvr1cscTHds/SL5S3rh8mE2vrNO7Ql0sfcKFYUYWWFlfBEHNc\n\
9lbESSuOmRSfUWEia06k9WUj6D8B2XQQkHUqs1L0p4CjDwW9A/u3\n\
-----END RSA PRIVATE KEY-----\n\
";

const ENCRYPTED_KEY: &str = "\
-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
MIIFLTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIg9pJmJxPtpsCAggA\n\
MAwGCCqGSIb3DQIJBQAwHQYJYIZIAWUDBAEqBBCQmJ8mriV9deejxM22UMtsBIIE\n\
0OQHEQrZ2Amocamt7ORF9Nw8jQbnC/b5Fvv3WEatfKJssJoKFuEtyYL/0lZ39frX\n\
XYDtlqUQ1VDs1eZkkJPj/8/Ij9pkeAixRX1D9Jg+EBogvwe6PCbvZXs2rGcAmeMv\n\
F4U8pgDseWxg9N16w+irya1a2mygBgGkvVTjNHQUKPRs08lqMBtoOgl2rjgAoW7w\n\
cCAtuEDj/0KPiAXJu9X69G3xZwP54xc67LD2wbcK4bGMFLiYRoysyyno1kvQNOcm\n\
6nIcPUXWsZOmjHreCjtmiNg6zBPZHIkF65MqETw+/pBFzbMiBSM0ER1K5cIXLz+r\n\
un2U3l42H4qRP5pGqwmqX4Yc8/7M+H4TFvTFq4Gmie1dGkYMdevW3dmGMWXrvdwh\n\
qhwrT2vcek2aH4ZHYcNS34EG8mAMDjLjS9vjTjhp2WmiNuD40Pn5mqYVdwnYs66I\n\
lQcmn82zxfkTp4d/Dyeed/s+aB8s2BXc2iAsLTJBRmX6qutjvV1ulEWNS6/tg6HV\n\
jUFq88ajeg/85ySgm0IWEnYY+tErzMEkxlclvIN61VMq7Ac/KlXtIS6R/vkivIMl\n\
I3tvu3MvlRB8egqGnkeCbSV7q877HLv12hkg2wuhGj3lvHGsqRCUm5+NUHPOHAOc\n\
hX3zfKsHzEgzgnRneNvN5kiiyo+k7XpO0rM/oL0HkC+Ra/hce1KmeRhZWz9KPCUR\n\
lciwrGCNeWD5J1Gsk4k/uTHAks0N+KVQtXcQV7M1+Qa073fl9OXPkHWHT7evzjd5\n\
AeYlYfbwl95adXFH30HGgLiWZj+mw8Djwrwpi/nSiPNqXVGHPaOlZ6FunrFiAWEr\n\
VxVLNI042yqb03TbwPkLSQaQ05bhOMS09uwD9kqlnCYsb0VMo/pGmPXIi9D912Qq\n\
/wsn2TgjTmh2B6vgJ4wP2fPDAo1/x8r/dXbVF9eFfazummEXLDu8VLw1bl7O10XH\n\
EKa63wytAC++x+szoOlVVZkuAUCW76je24bgmtrXCoIO4U2ut8COQ8/BsJWaI9ov\n\
XjVWnSBfrkp/eOrMMkBLLbEnanjI/WU7stvdtZbTsxJ4dw2zELnaS9y6kIi8YrBJ\n\
/fKYk0r8IYIqcDzmWqgg/vPrG6jr/HVnHouLiMt7tMRSR9oYyIifJu3bV+2MLITn\n\
a5s/1aKQ7PqiJFo+9wen7UmbH7sur6kMeG5Jhw9ffCJtbGWTpYRMY9OivZTzLtsZ\n\
G1SPU4ivYVSoWTkz5AP4IqEkOgAsI0wUR9usZRFOwQB+n+c7MxhQvMokV4ysCOnp\n\
iTAJ0FxnkAOp/eaTXF/npNI0hUMX4z9igAE1NcTFjPPkv7yBUI34BL/8ejUqgCKA\n\
41mv4rGvbPZRZkN5NX//pwu9WbiA1h1JnRrktl8GKpNpcro6neC2CDZdhjcjAerF\n\
dp3Hhcedo7v70zUH/WqGbGGACP38xOvaMk2wCSxulDXBdaBHFVEQHSwG3Nagr9k1\n\
6V9dDy5mHVWz6yJ94HcwAflHPGlVRVHLqR7iwjZNUeHquqiWhkHMDA5KEZikUwHR\n\
sdyHjM+e4loR5/65mC19MqnpTIdi3fX9bAicZlkImP7uaqY2w/Z6xPCjwK9uiMLp\n\
auT3MmceYPetJbQVAXitesaf/TUU7nSo8LY1ut6W80Ft\n\
-----END ENCRYPTED PRIVATE KEY-----\n\
";

/// A record as ServiceNow's Table API answers it.
fn record(id: &str, number: &str, state: &str) -> Value {
    json!({
        "sys_id": id, "number": number, "state": state,
        "sys_created_on": "2020-03-10 12:24:20", "sys_updated_on": "2020-03-11 08:00:00",
    })
}

fn vendor_error(status: u16, message: &str, detail: &str) -> Reply {
    Reply::json(
        status,
        json!({ "error": { "message": message, "detail": detail }, "status": "failure" }),
    )
}

/// The fake instance: the Elastic application's health and import sets, the Table
/// API, the dictionary and choice tables, the event API and the bulk observables API.
fn instance(request: &Recorded) -> Reply {
    let query = request.query.as_deref().unwrap_or_default();
    match (request.method.as_str(), request.path.as_str()) {
        (
            "GET",
            "/api/x_elas2_inc_int/elastic_api/health" | "/api/x_elas2_sir_int/elastic_api/health",
        ) => Reply::json(
            200,
            json!({ "result": { "name": "Elastic", "scope": "x_elas2_inc_int", "version": "1.0.0" } }),
        ),
        (
            "POST",
            "/api/now/import/x_elas2_inc_int_elastic_incident"
            | "/api/now/import/x_elas2_sir_int_elastic_si_incident",
        ) => {
            if request.body.contains("\"u_short_description\":\"refused\"") {
                return Reply::json(
                    200,
                    json!({ "import_set": "ISET2", "staging_table": "x", "result": [
                    { "status": "error", "error_message": "Target record not found", "sys_id": "" }
                ] }),
                );
            }
            Reply::json(
                200,
                json!({ "import_set": "ISET1", "staging_table": "x", "result": [
                { "transform_map": "Elastic Incident", "table": "incident", "display_name": "number",
                  "display_value": "INC01", "status": "inserted", "sys_id": "sys-1" }
            ] }),
            )
        }
        ("POST", "/api/now/v2/table/incident") => {
            if request.body.contains("\"short_description\":\"invalid\"") {
                return vendor_error(400, "Invalid field", "short_description is too long");
            }
            Reply::json(
                201,
                json!({ "result": { "sys_id": "sys-1", "number": "INC01" } }),
            )
        }
        ("PATCH", "/api/now/v2/table/incident/sys-1") => {
            Reply::json(200, json!({ "result": { "sys_id": "sys-1" } }))
        }
        ("GET", "/api/now/v2/table/incident/sys-1" | "/api/now/v2/table/sn_si_incident/sys-1") => {
            Reply::json(200, json!({ "result": record("sys-1", "INC01", "2") }))
        }
        ("GET", "/api/now/v2/table/incident/missing") => vendor_error(
            404,
            "No Record found",
            "Record doesn't exist or ACL restricts the record retrieval",
        ),
        ("GET", "/api/now/v2/table/incident") if query.ends_with("correlation_id=corr-closed") => {
            Reply::json(
                200,
                json!({ "result": [record("sys-2", "INC02", "7"), record("sys-0", "INC00", "7")] }),
            )
        }
        ("GET", "/api/now/v2/table/incident") if query.ends_with("correlation_id=corr-none") => {
            Reply::json(200, json!({ "result": [] }))
        }
        ("POST", "/api/x_elas2_sir_int/elastic_api/incident/sys-1/observables/bulk") => {
            Reply::json(
                200,
                json!({ "result": [{ "value": "10.0.0.1", "observable_sys_id": "o-1" }] }),
            )
        }
        ("GET", "/broken/api/now/table/sys_dictionary") => {
            Reply::json(500, json!({ "error": { "message": "Internal error" } }))
        }
        ("GET", "/api/now/table/sys_dictionary") => Reply::json(
            200,
            json!({ "result": [
            { "max_length": "40", "element": "short_description", "column_label": "Short description", "mandatory": "false" },
        ] }),
        ),
        // A hibernating developer instance answers with a web page.
        ("GET", "/api/now/table/sys_choice") if query.contains("element=asleep") => {
            Reply::status(200, "<html>Your instance is hibernating</html>")
        }
        ("POST", "/api/global/em/jsonv2") if request.body.contains("\"source\":\"fail\"") => {
            Reply::json(500, json!({ "error": { "message": "Internal error" } }))
        }
        ("GET", "/api/now/table/sys_choice") if query.contains("element=fail") => vendor_error(
            401,
            "User Not Authenticated",
            "Required to provide Auth information",
        ),
        ("GET", "/api/now/table/sys_choice") => Reply::json(
            200,
            json!({ "result": [
            { "label": "Critical", "value": "1", "element": "severity", "dependent_value": "" },
            { "label": "High", "value": 2, "element": "urgency", "dependent_value": "" },
        ] }),
        ),
        ("POST", "/api/global/em/jsonv2") => Reply::json(
            200,
            json!({ "result": { "Default Bulk Endpoint": "1 events were inserted" } }),
        ),
        _ => vendor_error(400, "Invalid path", request.path.as_str()),
    }
}

/// One expected request: method, path, query, body (`None` for no body).
type Expected<'a> = (&'a str, &'a str, Option<&'a str>, Option<String>);

#[track_caller]
fn assert_requests(requests: &[Recorded], authorization: &str, expected: &[Expected<'_>]) {
    assert_eq!(
        requests.len(),
        expected.len(),
        "requests: {:#?}",
        requests
            .iter()
            .map(|it| format!("{} {}", it.method, it.path))
            .collect::<Vec<_>>()
    );
    for (index, (request, (method, path, query, body))) in requests.iter().zip(expected).enumerate()
    {
        assert_eq!(
            (
                request.method.as_str(),
                request.path.as_str(),
                request.query.as_deref()
            ),
            (*method, *path, *query),
            "request {index}"
        );
        assert_eq!(
            request.header("authorization"),
            Some(authorization),
            "request {index}"
        );
        let content_type = body.as_ref().and(JSON);
        assert_eq!(
            request.header("content-type"),
            content_type,
            "request {index}"
        );
        assert_eq!(
            request.body,
            body.clone().unwrap_or_default(),
            "request {index}"
        );
    }
}

fn push(incident: Value, comments: Value) -> Value {
    json!({ "subAction": "pushToService", "subActionParams": { "incident": incident, "comments": comments } })
}

fn thrown(id: &str, service_message: &str) -> Value {
    json!({
        "status": "error", "connector_id": id,
        "message": "an error occurred while running the action",
        "service_message": service_message, "retry": true, "errorSource": "framework",
    })
}

async fn basic_connector(app: &TestApp, type_id: &str, config: Value) -> String {
    app.create_typed(
        type_id,
        config,
        json!({ "username": "admin", "password": "pw" }),
    )
    .await
}

#[tokio::test]
async fn itsm_import_set_push_creates_then_sends_each_comment_as_a_work_note() {
    let servicenow = FakeServer::start(instance).await;
    let app = TestApp::start().await;
    let base = servicenow.url("");
    // A trailing slash is dropped from the instance URL.
    let id = basic_connector(
        &app,
        ".servicenow",
        json!({ "apiUrl": servicenow.url("/"), "usesTableApi": false }),
    )
    .await;
    let result = app
        .execute(
            &id,
            push(
                json!({ "short_description": "title", "description": "desc", "additional_fields": { "foo": "test" } }),
                json!([{ "comment": "first", "commentId": "c1" }, { "comment": "", "commentId": "c2" }]),
            ),
        )
        .await;
    let pushed = "2020-03-10T12:24:20.000Z";
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "sys-1", "title": "INC01", "pushedDate": pushed,
            "url": format!("{base}/nav_to.do?uri=incident.do?sys_id=sys-1"),
            "comments": [
                { "commentId": "c1", "pushedDate": pushed },
                { "commentId": "c2", "pushedDate": pushed },
            ],
        } })
    );
    let fields = json!({
        "foo": "test", "u_short_description": "title", "u_description": "desc",
        "u_category": null, "u_subcategory": null, "u_correlation_id": DEFAULT_KEY,
        "u_correlation_display": null, "u_severity": null, "u_urgency": null, "u_impact": null,
    });
    let with = |extra: Value| {
        let mut body = fields.clone();
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        Some(body.to_string())
    };
    let health = ("GET", "/api/x_elas2_inc_int/elastic_api/health", None, None);
    let import = "/api/now/import/x_elas2_inc_int_elastic_incident";
    let read = ("GET", "/api/now/v2/table/incident/sys-1", None, None);
    assert_requests(
        &servicenow.requests(),
        BASIC,
        &[
            health.clone(),
            (
                "POST",
                import,
                None,
                with(json!({ "u_caller_id": "admin", "u_opened_by": "admin" })),
            ),
            read.clone(),
            health.clone(),
            (
                "POST",
                import,
                None,
                with(json!({ "u_work_notes": "first", "elastic_incident_id": "sys-1" })),
            ),
            read.clone(),
            health,
            (
                "POST",
                import,
                None,
                with(json!({ "u_work_notes": "", "elastic_incident_id": "sys-1" })),
            ),
            read,
        ],
    );
}

#[tokio::test]
async fn itsm_table_api_creates_and_patches_without_additional_fields() {
    let servicenow = FakeServer::start(instance).await;
    let app = TestApp::start().await;
    let base = servicenow.url("");
    // `usesTableApi` defaults to the legacy Table API.
    let id = basic_connector(&app, ".servicenow", json!({ "apiUrl": base })).await;
    let incident =
        json!({ "short_description": "title", "severity": "1", "correlation_id": "corr" });
    let created = app.execute(&id, push(incident.clone(), Value::Null)).await;
    assert_eq!(
        created,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "sys-1", "title": "INC01", "pushedDate": "2020-03-10T12:24:20.000Z",
            "url": format!("{base}/nav_to.do?uri=incident.do?sys_id=sys-1"),
        } })
    );
    let mut update = incident.clone();
    update["externalId"] = json!("sys-1");
    let updated = app.execute(&id, push(update, json!([]))).await;
    assert_eq!(
        updated,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "sys-1", "title": "INC01", "pushedDate": "2020-03-11T08:00:00.000Z",
            "url": format!("{base}/nav_to.do?uri=incident.do?sys_id=sys-1"),
        } })
    );
    let fields = json!({
        "short_description": "title", "description": null, "category": null, "subcategory": null,
        "correlation_id": "corr", "correlation_display": null,
        "severity": "1", "urgency": null, "impact": null,
    });
    let mut create_body = fields.clone();
    create_body["caller_id"] = json!("admin");
    create_body["opened_by"] = json!("admin");
    assert_requests(
        &servicenow.requests(),
        BASIC,
        &[
            (
                "POST",
                "/api/now/v2/table/incident",
                None,
                Some(create_body.to_string()),
            ),
            ("GET", "/api/now/v2/table/incident/sys-1", None, None),
            (
                "PATCH",
                "/api/now/v2/table/incident/sys-1",
                None,
                Some(fields.to_string()),
            ),
            ("GET", "/api/now/v2/table/incident/sys-1", None, None),
        ],
    );

    // Even an empty map of additional fields is refused by the Table API mode.
    let mut refused = incident.clone();
    refused["additional_fields"] = json!({});
    assert_eq!(
        app.execute(&id, push(refused, Value::Null)).await,
        thrown(
            &id,
            "[Action][ServiceNow]: Unable to create incident. Error: ServiceNow additional fields are not supported for deprecated connectors. [status=400] [method=post] [endpoint=table]"
        )
    );
    assert_eq!(servicenow.requests().len(), 4, "nothing sent");
}

#[tokio::test]
async fn itsm_reports_servicenow_errors_in_kibanas_words() {
    let servicenow = FakeServer::start(instance).await;
    let app = TestApp::start().await;
    let table = basic_connector(&app, ".servicenow", json!({ "apiUrl": servicenow.url("") })).await;
    assert_eq!(
        app.execute(
            &table,
            push(json!({ "short_description": "invalid" }), Value::Null)
        )
        .await,
        thrown(
            &table,
            "[Action][ServiceNow]: Unable to create incident. Error: Request failed with status code 400 Reason: Invalid field: short_description is too long [status=400] [method=post] [endpoint=table]"
        )
    );
    // The instance URL may have a path.
    let broken = basic_connector(
        &app,
        ".servicenow",
        json!({ "apiUrl": servicenow.url("/broken") }),
    )
    .await;
    assert_eq!(
        app.execute(
            &broken,
            json!({ "subAction": "getFields", "subActionParams": {} })
        )
        .await,
        thrown(
            &broken,
            "[Action][ServiceNow]: Unable to get fields. Error: Request failed with status code 500 Reason: Internal error [status=500] [method=get] [endpoint=table]"
        )
    );
    assert_requests(
        &servicenow.requests()[1..],
        BASIC,
        &[(
            "GET",
            "/broken/api/now/table/sys_dictionary",
            Some(
                "sysparm_query=name=task^ORname=incident^internal_type=string&active=true&array=false&read_only=false&sysparm_fields=max_length,element,column_label,mandatory",
            ),
            None,
        )],
    );
    // An Import Set result in error is the user's to fix.
    let import = basic_connector(
        &app,
        ".servicenow",
        json!({ "apiUrl": servicenow.url(""), "usesTableApi": false }),
    )
    .await;
    let mut refused = thrown(
        &import,
        "[Action][ServiceNow]: Unable to create incident. Error: Target record not found [status=200] [method=post] [endpoint=import_set]",
    );
    refused["errorSource"] = json!("user");
    assert_eq!(
        app.execute(
            &import,
            push(json!({ "short_description": "refused" }), Value::Null)
        )
        .await,
        refused
    );
    assert_eq!(
        app.execute(
            &import,
            json!({ "subAction": "handshake", "subActionParams": {} })
        )
        .await,
        thrown(
            &import,
            "[Action][ExternalService] subAction handshake not implemented."
        )
    );
    assert_eq!(
        app.execute(&import, choices("asleep")).await,
        thrown(
            &import,
            "[Action][ServiceNow]: Unable to get choices. Error: There is an issue with your Service Now Instance. Please check . [status=none] [method=get] [endpoint=table]"
        )
    );
    // ITOM's event errors carry no request context.
    let itom = basic_connector(
        &app,
        ".servicenow-itom",
        json!({ "apiUrl": servicenow.url("") }),
    )
    .await;
    assert_eq!(
        app.execute(
            &itom,
            json!({ "subAction": "addEvent", "subActionParams": { "source": "fail" } })
        )
        .await,
        thrown(
            &itom,
            "[Action][ServiceNow]: Unable to add event. Error: Request failed with status code 500 Reason: Internal error"
        )
    );
    let closed = closed_port();
    let unreachable = basic_connector(
        &app,
        ".servicenow",
        json!({ "apiUrl": format!("http://127.0.0.1:{}", closed.port) }),
    )
    .await;
    assert_eq!(
        app.execute(&unreachable, choices("severity")).await,
        thrown(
            &unreachable,
            &format!(
                "[Action][ServiceNow]: Unable to get choices. Error: connect ECONNREFUSED 127.0.0.1:{} [status=ECONNREFUSED] [method=get] [endpoint=table]",
                closed.port
            )
        )
    );
}

#[tokio::test]
async fn itsm_closes_incidents_by_id_or_correlation_id() {
    let servicenow = FakeServer::start(instance).await;
    let app = TestApp::start().await;
    let base = servicenow.url("");
    let id = basic_connector(&app, ".servicenow", json!({ "apiUrl": base })).await;
    let close = |incident: Value| json!({ "subAction": "closeIncident", "subActionParams": { "incident": incident } });
    let url = |sys_id: &str| format!("{base}/nav_to.do?uri=incident.do?sys_id={sys_id}");

    let closed = app
        .execute(&id, close(json!({ "externalId": "sys-1" })))
        .await;
    assert_eq!(
        closed,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "sys-1", "title": "INC01", "pushedDate": "2020-03-11T08:00:00.000Z", "url": url("sys-1"),
        } })
    );
    // Already closed: reported as it is, the newest match first.
    let already = app
        .execute(&id, close(json!({ "correlation_id": "corr-closed" })))
        .await;
    assert_eq!(
        already,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "sys-2", "title": "INC02", "pushedDate": "2020-03-11T08:00:00.000Z", "url": url("sys-2"),
        } })
    );
    let empty = json!({ "status": "ok", "connector_id": id, "data": {} });
    assert_eq!(
        app.execute(&id, close(json!({ "correlation_id": "corr-none" })))
            .await,
        empty
    );
    assert_eq!(
        app.execute(&id, close(json!({ "externalId": "missing" })))
            .await,
        empty
    );
    assert_eq!(
        app.execute(
            &id,
            close(json!({ "externalId": null, "correlation_id": null }))
        )
        .await,
        thrown(
            &id,
            "[Action][ServiceNow]: Unable to close incident. Error: No correlationId or incidentId found. [status=none] [method=patch] [endpoint=table]"
        )
    );
    let by_correlation =
        |value: &'static str| ("GET", "/api/now/v2/table/incident", Some(value), None);
    assert_requests(
        &servicenow.requests(),
        BASIC,
        &[
            ("GET", "/api/now/v2/table/incident/sys-1", None, None),
            (
                "PATCH",
                "/api/now/v2/table/incident/sys-1",
                None,
                Some(json!({ "state": "7", "close_code": "Closed/Resolved by Caller", "close_notes": "Closed by Caller" }).to_string()),
            ),
            ("GET", "/api/now/v2/table/incident/sys-1", None, None),
            by_correlation("sysparm_query=ORDERBYDESCsys_created_on^correlation_id=corr-closed"),
            by_correlation("sysparm_query=ORDERBYDESCsys_created_on^correlation_id=corr-none"),
            ("GET", "/api/now/v2/table/incident/missing", None, None),
        ],
    );
}

#[tokio::test]
async fn get_choices_passes_servicenows_values_through() {
    let servicenow = FakeServer::start(instance).await;
    let app = TestApp::start().await;
    let id = basic_connector(&app, ".servicenow", json!({ "apiUrl": servicenow.url("") })).await;
    // The seed request, verbatim.
    let response = app
        .post(
            &format!("/api/actions/connector/{id}/_execute"),
            serde_json::from_str(
                r#"{"params":{"subAction":"getChoices","subActionParams":{"fields":["severity","urgency"]}}}"#,
            )
            .unwrap(),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        json!({ "status": "ok", "connector_id": id, "data": [
            { "label": "Critical", "value": "1", "element": "severity", "dependent_value": "" },
            { "label": "High", "value": 2, "element": "urgency", "dependent_value": "" },
        ] })
    );
    assert_requests(
        &servicenow.requests(),
        BASIC,
        &[(
            "GET",
            "/api/now/table/sys_choice",
            Some(
                "sysparm_query=name=task^ORname=incident^element=severity^ORelement=urgency^language=en&sysparm_fields=label,value,dependent_value,element",
            ),
            None,
        )],
    );
}

#[tokio::test]
async fn get_incident_and_get_fields_read_servicenow() {
    let servicenow = FakeServer::start(instance).await;
    let app = TestApp::start().await;
    let id = basic_connector(
        &app,
        ".servicenow-sir",
        json!({ "apiUrl": servicenow.url("") }),
    )
    .await;
    let fields = app
        .execute(
            &id,
            json!({ "subAction": "getFields", "subActionParams": {} }),
        )
        .await;
    assert_eq!(
        fields,
        json!({ "status": "ok", "connector_id": id, "data": [
            { "max_length": "40", "element": "short_description", "column_label": "Short description", "mandatory": "false" },
        ] })
    );
    let result = app
        .execute(
            &id,
            json!({ "subAction": "getIncident", "subActionParams": { "externalId": "sys-1" } }),
        )
        .await;
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": record("sys-1", "INC01", "2") })
    );
    assert_requests(
        &servicenow.requests(),
        BASIC,
        &[
            (
                "GET",
                "/api/now/table/sys_dictionary",
                Some(
                    "sysparm_query=name=task^ORname=sn_si_incident^internal_type=string&active=true&array=false&read_only=false&sysparm_fields=max_length,element,column_label,mandatory",
                ),
                None,
            ),
            ("GET", "/api/now/v2/table/sn_si_incident/sys-1", None, None),
        ],
    );
}

#[tokio::test]
async fn sir_import_set_push_adds_observables_in_bulk() {
    let servicenow = FakeServer::start(instance).await;
    let app = TestApp::start().await;
    let base = servicenow.url("");
    let id = basic_connector(
        &app,
        ".servicenow-sir",
        json!({ "apiUrl": base, "usesTableApi": false }),
    )
    .await;
    let result = app
        .execute(
            &id,
            push(
                json!({
                    "short_description": "intrusion", "priority": "1",
                    "dest_ip": "10.0.0.1, 10.0.0.2", "source_ip": ["10.0.0.2", "10.0.0.3"],
                    "malware_hash": ["abc", "abc", ""], "malware_url": "https://bad.example",
                }),
                Value::Null,
            ),
        )
        .await;
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {
            "id": "sys-1", "title": "INC01", "pushedDate": "2020-03-10T12:24:20.000Z",
            "url": format!("{base}/nav_to.do?uri=sn_si_incident.do?sys_id=sys-1"),
        } })
    );
    let health = ("GET", "/api/x_elas2_sir_int/elastic_api/health", None, None);
    assert_requests(
        &servicenow.requests(),
        BASIC,
        &[
            health.clone(),
            (
                "POST",
                "/api/now/import/x_elas2_sir_int_elastic_si_incident",
                None,
                Some(json!({
                    "u_short_description": "intrusion", "u_description": null, "u_category": null,
                    "u_subcategory": null, "u_correlation_id": DEFAULT_KEY, "u_correlation_display": null,
                    "u_dest_ip": null, "u_malware_hash": null, "u_malware_url": null, "u_source_ip": null,
                    "u_priority": "1", "u_caller_id": "admin", "u_opened_by": "admin",
                }).to_string()),
            ),
            ("GET", "/api/now/v2/table/sn_si_incident/sys-1", None, None),
            health,
            (
                "POST",
                "/api/x_elas2_sir_int/elastic_api/incident/sys-1/observables/bulk",
                None,
                Some(json!([
                    { "value": "10.0.0.1", "type": "ipv4-addr" },
                    { "value": "10.0.0.2", "type": "ipv4-addr" },
                    { "value": "10.0.0.3", "type": "ipv4-addr" },
                    { "value": "abc", "type": "SHA256" },
                    { "value": "https://bad.example", "type": "URL" },
                ]).to_string()),
            ),
        ],
    );
}

#[tokio::test]
async fn itom_adds_events_with_servicenow_dates_and_no_empty_fields() {
    let servicenow = FakeServer::start(instance).await;
    let app = TestApp::start().await;
    let id = basic_connector(
        &app,
        ".servicenow-itom",
        json!({ "apiUrl": servicenow.url("") }),
    )
    .await;
    let result = app
        .execute(
            &id,
            json!({ "subAction": "addEvent", "subActionParams": {
                "source": "Elastic", "event_class": "Alerting", "resource": "C:", "metric_name": "disk",
                "type": "Disk space", "severity": "3", "description": "low", "additional_info": "{\"a\":1}",
                "time_of_event": " 2021-10-13T10:51:44.981Z ",
            } }),
        )
        .await;
    assert_eq!(
        result,
        json!({ "status": "ok", "connector_id": id, "data": {} })
    );
    let choices = app
        .execute(
            &id,
            json!({ "subAction": "getChoices", "subActionParams": { "fields": ["severity"] } }),
        )
        .await;
    assert_eq!(choices["status"], "ok");
    assert_requests(
        &servicenow.requests(),
        BASIC,
        &[
            (
                "POST",
                "/api/global/em/jsonv2",
                None,
                Some(json!({ "records": [{
                    "source": "Elastic", "event_class": "Alerting", "resource": "C:", "metric_name": "disk",
                    "type": "Disk space", "severity": "3", "description": "low", "additional_info": "{\"a\":1}",
                    "message_key": DEFAULT_KEY, "time_of_event": "2021-10-13 10:51:44",
                }] }).to_string()),
            ),
            (
                "GET",
                "/api/now/table/sys_choice",
                Some("sysparm_query=name=task^ORname=em_event^element=severity^language=en&sysparm_fields=label,value,dependent_value,element"),
                None,
            ),
        ],
    );
    assert_eq!(
        app.execute(
            &id,
            json!({ "subAction": "pushToService", "subActionParams": {} })
        )
        .await["message"],
        "error validating action params: [subAction]: types that failed validation:\n- [subAction.0]: expected value to equal [addEvent]\n- [subAction.1]: expected value to equal [getChoices]"
    );
}

#[tokio::test]
async fn config_secrets_and_params_are_validated_with_kibanas_messages() {
    let app = TestApp::with_settings(
        json!({ "xpack": { "actions": { "allowedHosts": ["sn.example"] } } }),
    )
    .await;
    let create = |type_id: &str, config: Value, secrets: Value| {
        app.post(
            "/api/actions/connector",
            json!({ "name": "sn", "connector_type_id": type_id, "config": config, "secrets": secrets }),
        )
    };
    let url = "https://sn.example";
    let basic = json!({ "username": "admin", "password": "pw" });
    let oauth = json!({ "clientSecret": "s", "privateKey": "k" });
    let oauth_config = json!({ "apiUrl": url, "isOAuth": true, "userIdentifierValue": "u", "clientId": "c", "jwtKeyId": "k" });
    let cases = [
        (
            ".servicenow",
            json!({ "apiUrl": "https://other.example" }),
            basic.clone(),
            "error validating action type config: error configuring connector action: target url \"https://other.example\" is not added to the Kibana config xpack.actions.allowedHosts",
        ),
        (
            ".servicenow",
            json!({ "apiUrl": url, "isOAuth": true }),
            oauth.clone(),
            "error validating action type config: userIdentifierValue must be provided when isOAuth = true",
        ),
        (
            ".servicenow-sir",
            json!({ "apiUrl": url, "isOAuth": true, "userIdentifierValue": "u" }),
            oauth.clone(),
            "error validating action type config: clientId must be provided when isOAuth = true",
        ),
        (
            ".servicenow-itom",
            json!({ "apiUrl": url, "isOAuth": true, "userIdentifierValue": "u", "clientId": "c" }),
            oauth.clone(),
            "error validating action type config: jwtKeyId must be provided when isOAuth = true",
        ),
        (
            ".servicenow-itom",
            json!({ "apiUrl": url, "usesTableApi": true }),
            basic.clone(),
            "error validating action type config: [usesTableApi]: definition for this key is missing",
        ),
        (
            ".servicenow",
            json!({ "apiUrl": url }),
            json!({}),
            "error validating action type secrets: Either basic auth or OAuth credentials must be specified",
        ),
        (
            ".servicenow",
            json!({ "apiUrl": url }),
            json!({ "username": "admin" }),
            "error validating action type secrets: username and password must both be specified",
        ),
        (
            ".servicenow",
            json!({ "apiUrl": url }),
            json!({ "privateKey": "k" }),
            "error validating action type secrets: clientSecret and privateKey must both be specified",
        ),
        (
            ".servicenow",
            oauth_config.clone(),
            basic.clone(),
            "error validating action type connector: clientSecret must be provided when isOAuth = true",
        ),
        (
            ".servicenow",
            oauth_config.clone(),
            json!({ "clientSecret": "s", "privateKey": "k", "username": "a", "password": "b" }),
            "error validating action type connector: Username and password should not be provided with isOAuth = true",
        ),
        (
            ".servicenow",
            json!({ "apiUrl": url }),
            oauth.clone(),
            "error validating action type connector: username must be provided when isOAuth = false",
        ),
        (
            ".servicenow",
            json!({ "apiUrl": url, "jwtKeyId": "k" }),
            basic.clone(),
            "error validating action type connector: clientId, clientSecret, userIdentifierValue, jwtKeyId and privateKey should not be provided with isOAuth = false",
        ),
    ];
    for (type_id, config, secrets, message) in cases {
        assert_error(&create(type_id, config, secrets).await, 400, message);
    }

    let id = app
        .create_typed(".servicenow", json!({ "apiUrl": url }), basic.clone())
        .await;
    let too_many: serde_json::Map<String, Value> = (0..21)
        .map(|index| (format!("f{index}"), json!(index)))
        .collect();
    for (additional, message) in [
        (
            Value::Object(too_many),
            "A maximum of 20 fields in additional_fields can be defined at a time.",
        ),
        (
            json!({ "short_description": "x", "impact": "1" }),
            "The following properties cannot be defined inside additional_fields: short_description.",
        ),
    ] {
        let result = app
            .execute(
                &id,
                push(
                    json!({ "short_description": "t", "additional_fields": additional }),
                    Value::Null,
                ),
            )
            .await;
        assert_eq!(
            result,
            json!({
                "status": "error", "connector_id": id, "retry": false, "errorSource": "user",
                "message": format!("error validating action params: [subActionParams.incident.additional_fields]: {message}"),
            })
        );
    }
    let result = app
        .execute(
            &id,
            json!({ "subAction": "getChoices", "subActionParams": { "fields": "severity" } }),
        )
        .await;
    assert_eq!(
        result["message"],
        "error validating action params: [subActionParams.fields]: could not parse array value from json input"
    );
}

/// The fake's OAuth side: `/oauth_token.do` issues `token-<n>` to `client-1`, and
/// refuses any other client as ServiceNow does.
fn oauth_instance(issued: Arc<AtomicUsize>) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    move |request| {
        if request.path != "/oauth_token.do" {
            return instance(request);
        }
        if !request.body.contains("&client_id=client-1&") {
            return Reply::json(
                401,
                json!({ "error_description": "User not found", "error": "invalid_grant" }),
            );
        }
        let number = issued.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::json(
            200,
            json!({
                "access_token": format!("token-{number}"), "refresh_token": "r",
                "scope": "useraccount", "token_type": "Bearer", "expires_in": 1799,
            }),
        )
    }
}

/// Checks a token request: form fields in order, the client's values, and the
/// assertion's header, RS256 signature (with the test public key) and claims.
#[track_caller]
fn assert_token_request(request: &Recorded, client_secret_encoded: &str) {
    assert_eq!(
        (request.method.as_str(), request.query.as_deref()),
        ("POST", None)
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded; charset=UTF-8")
    );
    assert_eq!(request.header("authorization"), None);
    let pairs: Vec<(&str, &str)> = request
        .body
        .split('&')
        .map(|pair| pair.split_once('=').unwrap())
        .collect();
    let keys: Vec<&str> = pairs.iter().map(|(key, _)| *key).collect();
    assert_eq!(
        keys,
        ["assertion", "client_id", "client_secret", "grant_type"]
    );
    assert_eq!(pairs[1].1, "client-1");
    assert_eq!(pairs[2].1, client_secret_encoded);
    assert_eq!(
        pairs[3].1,
        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    );

    let (header, claims) = rsa::verify_rs256(pairs[0].1);
    assert_eq!(header, r#"{"alg":"RS256","typ":"JWT","kid":"kid-1"}"#);
    let keys: Vec<&String> = claims.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["sub", "aud", "iss", "iat", "exp"]);
    assert_eq!(
        (&claims["sub"], &claims["aud"], &claims["iss"]),
        (
            &json!("user@example.com"),
            &json!("client-1"),
            &json!("client-1")
        )
    );
    let issued_at = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap() - issued_at, 3600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(issued_at.abs_diff(now) < 300, "iat is now");
}

fn oauth_config(base: &str, client_id: &str) -> Value {
    json!({
        "apiUrl": base, "isOAuth": true, "userIdentifierValue": "user@example.com",
        "clientId": client_id, "jwtKeyId": "kid-1",
    })
}

fn choices(field: &str) -> Value {
    json!({ "subAction": "getChoices", "subActionParams": { "fields": [field] } })
}

#[tokio::test]
async fn oauth_tokens_are_signed_reused_and_dropped_when_servicenow_refuses() {
    let issued = Arc::new(AtomicUsize::new(0));
    let servicenow = FakeServer::start(oauth_instance(issued.clone())).await;
    let app = TestApp::start().await;
    let base = servicenow.url("");
    let id = app
        .create_typed(
            ".servicenow",
            oauth_config(&base, "client-1"),
            json!({ "clientSecret": "s3cret/+ x", "privateKey": PKCS8_KEY }),
        )
        .await;
    for _ in 0..2 {
        assert_eq!(app.execute(&id, choices("severity")).await["status"], "ok");
    }
    assert_eq!(
        app.execute(&id, choices("fail")).await,
        thrown(
            &id,
            "[Action][ServiceNow]: Unable to get choices. Error: Request failed with status code 401 Reason: User Not Authenticated: Required to provide Auth information [status=401] [method=get] [endpoint=table]"
        )
    );
    assert_eq!(app.execute(&id, choices("severity")).await["status"], "ok");

    let requests = servicenow.requests();
    let paths: Vec<(&str, Option<&str>)> = requests
        .iter()
        .map(|it| (it.path.as_str(), it.header("authorization")))
        .collect();
    let choice = "/api/now/table/sys_choice";
    assert_eq!(
        paths,
        [
            ("/oauth_token.do", None),
            (choice, Some("Bearer token-1")),
            (choice, Some("Bearer token-1")),
            (choice, Some("Bearer token-1")),
            ("/oauth_token.do", None),
            (choice, Some("Bearer token-2")),
        ]
    );
    assert_token_request(&requests[0], "s3cret%2F%2B%20x");
    assert_token_request(&requests[4], "s3cret%2F%2B%20x");

    // New credentials get a new token.
    let updated = app
        .put(
            &format!("/api/actions/connector/{id}"),
            json!({ "name": "sn", "config": oauth_config(&base, "client-1"),
                    "secrets": { "clientSecret": "other", "privateKey": PKCS8_KEY } }),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(app.execute(&id, choices("severity")).await["status"], "ok");
    let requests = servicenow.requests();
    assert_token_request(&requests[6], "other");
    assert_eq!(requests[7].header("authorization"), Some("Bearer token-3"));
}

#[tokio::test]
async fn oauth_reads_pkcs1_and_encrypted_keys_and_reports_refusals() {
    let issued = Arc::new(AtomicUsize::new(0));
    let servicenow = FakeServer::start(oauth_instance(issued)).await;
    let app = TestApp::start().await;
    let base = servicenow.url("");
    let secrets = |key: &str, password: Value| json!({ "clientSecret": "s", "privateKey": key, "privateKeyPassword": password });
    for (key, password) in [
        (PKCS1_KEY, Value::Null),
        (ENCRYPTED_KEY, json!("secret-pass")),
    ] {
        let id = app
            .create_typed(
                ".servicenow",
                oauth_config(&base, "client-1"),
                secrets(key, password),
            )
            .await;
        assert_eq!(app.execute(&id, choices("severity")).await["status"], "ok");
        let requests = servicenow.requests();
        assert_token_request(&requests[requests.len() - 2], "s");
    }
    let count = servicenow.requests().len();

    let wrong_password = app
        .create_typed(
            ".servicenow",
            oauth_config(&base, "client-1"),
            secrets(ENCRYPTED_KEY, json!("nope")),
        )
        .await;
    assert_eq!(
        app.execute(&wrong_password, choices("severity")).await,
        thrown(
            &wrong_password,
            "[Action][ServiceNow]: Unable to get choices. Error: Unable to generate JWT token. Error: Error: the private key could not be decrypted with privateKeyPassword [status=none] [method=get] [endpoint=table]"
        )
    );
    assert_eq!(servicenow.requests().len(), count, "nothing sent");

    let unknown = app
        .create_typed(
            ".servicenow",
            json!({ "apiUrl": base, "isOAuth": true, "userIdentifierValue": "user@example.com",
                    "clientId": "client-2", "jwtKeyId": "kid-1", "usesTableApi": false }),
            secrets(PKCS8_KEY, Value::Null),
        )
        .await;
    assert_eq!(
        app.execute(
            &unknown,
            push(json!({ "short_description": "t" }), Value::Null)
        )
        .await,
        thrown(
            &unknown,
            "[Action][ServiceNow]: Unable to create incident. Error: [Action][ServiceNow]: Unable to get application version. Error: invalid_grant Reason: User not found [status=none] [method=get] [endpoint=health] [status=none] [method=post] [endpoint=import_set]"
        )
    );
    let requests = servicenow.requests();
    assert_eq!(requests.len(), count + 1, "only the token request");
    assert_eq!(requests[count].path, "/oauth_token.do");
}
