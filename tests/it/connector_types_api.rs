//! `GET /api/actions/connector_types`.

use serde_json::{Value, json};

use crate::support::{TestApp, app::assert_error};

#[tokio::test]
async fn lists_the_implemented_types_in_registration_order() {
    let app = TestApp::start().await;

    let response = app.get("/api/actions/connector_types").await;

    assert_eq!(response.status, 200);
    let types = response.json();
    assert_eq!(
        types[0],
        json!({
            "id": ".server-log",
            "name": "Server log",
            "enabled": true,
            "enabled_in_config": true,
            "enabled_in_license": true,
            "minimum_license_required": "basic",
            "supported_feature_ids": ["alerting", "uptime", "siem"],
            "is_system_action_type": false,
            "is_deprecated": false,
        })
    );
    let summary: Vec<(&str, &str, &str)> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|it| {
            (
                it["id"].as_str().unwrap(),
                it["name"].as_str().unwrap(),
                it["minimum_license_required"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (".server-log", "Server log", "basic"),
            (".index", "Index", "basic"),
            (".webhook", "Webhook", "gold"),
            (".email", "Email", "gold"),
            (".pagerduty", "PagerDuty", "gold"),
            (".slack", "Slack", "gold"),
            (".slack_api", "Slack API", "gold"),
            (".xmatters", "xMatters", "gold"),
            (".teams", "Microsoft Teams", "gold"),
            (".torq", "Torq", "gold"),
            (".opsgenie", "Opsgenie", "platinum"),
            (".tines", "Tines", "gold"),
            (".d3security", "D3 Security", "gold"),
            (".jira", "Jira", "gold"),
            (".servicenow", "ServiceNow ITSM", "platinum"),
            (".servicenow-sir", "ServiceNow SecOps", "platinum"),
            (".servicenow-itom", "ServiceNow ITOM", "platinum"),
            (".resilient", "IBM Resilient", "platinum"),
            (".swimlane", "Swimlane", "gold"),
            (".cases-webhook", "Webhook - Case Management", "gold"),
            (".thehive", "TheHive", "platinum"),
            (".gen-ai", "OpenAI", "enterprise"),
            (".bedrock", "Amazon Bedrock", "enterprise"),
            (".gemini", "Google Gemini", "enterprise"),
            (".sentinelone", "Sentinel One", "enterprise"),
            (".crowdstrike", "CrowdStrike", "enterprise"),
        ]
    );
}

#[tokio::test]
async fn feature_id_filters_and_unknown_query_keys_are_refused() {
    let app = TestApp::start().await;

    let siem = app
        .get("/api/actions/connector_types?feature_id=siem")
        .await
        .json();
    assert_eq!(siem.as_array().unwrap().len(), 20);
    let uptime: Vec<String> = app
        .get("/api/actions/connector_types?feature_id=uptime")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|it| it["id"].as_str().unwrap().to_owned())
        .collect();
    // xMatters, Tines, D3 Security and most case-management types are not offered to
    // Uptime, as in Kibana.
    assert_eq!(
        uptime,
        [
            ".server-log",
            ".index",
            ".webhook",
            ".email",
            ".pagerduty",
            ".slack",
            ".slack_api",
            ".teams",
            ".torq",
            ".opsgenie",
            ".jira",
            ".servicenow",
            ".thehive",
        ]
    );
    let ids = |types: Value| -> Vec<String> {
        types
            .as_array()
            .unwrap()
            .iter()
            .map(|it| it["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let cases = app
        .get("/api/actions/connector_types?feature_id=cases")
        .await
        .json();
    assert_eq!(
        ids(cases),
        [
            ".jira",
            ".servicenow",
            ".servicenow-sir",
            ".resilient",
            ".swimlane",
            ".cases-webhook",
            ".thehive",
        ]
    );

    assert_error(
        &app.get("/api/actions/connector_types?foo=bar").await,
        400,
        "[request query.foo]: definition for this key is missing",
    );
    assert_error(
        &app.get(&format!(
            "/api/actions/connector_types?feature_id={}",
            "a".repeat(101)
        ))
        .await,
        400,
        "[request query.feature_id]: value has length [101] but it must have a maximum length of [100].",
    );
    // Other routes have no query schema: Kibana ignores their query strings.
    assert_eq!(app.get("/api/actions/connectors?foo=bar").await.status, 200);
}

#[tokio::test]
async fn types_disabled_in_settings_are_listed_as_disabled_and_refused() {
    let app = TestApp::with_settings(json!({
        "xpack": { "actions": { "enabledActionTypes": [".server-log", ".index"] } }
    }))
    .await;

    let types = app.get("/api/actions/connector_types").await.json();
    let webhook = &types[2];
    assert_eq!(
        (
            webhook["id"].as_str(),
            webhook["enabled"].as_bool(),
            webhook["enabled_in_config"].as_bool()
        ),
        (Some(".webhook"), Some(false), Some(false))
    );

    let response = app
        .post(
            "/api/actions/connector",
            json!({ "name": "hook", "connector_type_id": ".webhook", "config": { "url": "http://127.0.0.1:9/" } }),
        )
        .await;
    assert_error(
        &response,
        403,
        "action type \".webhook\" is not enabled in the Kibana config xpack.actions.enabledActionTypes",
    );
}
