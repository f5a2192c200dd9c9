//! The create examples of Kibana's documentation page for case-management types
//! (`../shared/docs/seeds/create-connector-8x.txt`), sent as written.

use serde_json::{Value, json};

use crate::support::TestApp;

async fn create(app: &TestApp, body: Value) -> Value {
    let response = app.post("/api/actions/connector", body).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let created = response.json();
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/actions/connector/{id}")).await.json(),
        created,
        "what was created is what is read back"
    );
    created
}

#[tokio::test]
async fn the_documented_create_examples_are_accepted() {
    let app = TestApp::start().await;

    let jira = create(
        &app,
        json!({
          "name": "my-jira-connector",
          "connector_type_id": ".jira",
          "config": {
            "apiUrl": "https://elastic.atlassian.net",
            "projectKey": "ES"
          },
          "secrets": {
            "email": "myEmail",
            "apiToken": "myToken"
          }
        }),
    )
    .await;
    assert_eq!(
        jira["config"],
        json!({ "apiUrl": "https://elastic.atlassian.net", "projectKey": "ES" })
    );
    assert_eq!(jira["is_missing_secrets"], false);

    let resilient = create(
        &app,
        json!({
          "name": "my-resilient-connector",
          "connector_type_id": ".resilient",
          "config": {
            "apiUrl": "https://elastic.resilient.net",
            "orgId": "201"
          },
          "secrets": {
            "apiKeyId": "myKey",
            "apiKeySecret": "myToken"
          }
        }),
    )
    .await;
    assert_eq!(
        resilient["config"],
        json!({ "apiUrl": "https://elastic.resilient.net", "orgId": "201" })
    );

    // `isOAuth` as the string "true", and a placeholder key: Kibana reads the key only
    // when it needs a token, and so does Switchboard.
    let itom = create(
        &app,
        json!({
          "name": "my-itom-connector",
          "connector_type_id": ".servicenow-itom",
          "config": {
            "apiUrl": "https://exmaple.service-now.com/",
            "clientId": "abcdefghijklmnopqrstuvwxyzabcdef",
            "isOAuth": "true",
            "jwtKeyId": "fedcbazyxwvutsrqponmlkjihgfedcba",
            "userIdentifierValue": "testuser@email.com"
          },
          "secrets": {
            "clientSecret": "secretsecret",
            "privateKey": "-----BEGIN RSA PRIVATE KEY-----\nprivatekeyhere\n-----END RSA PRIVATE KEY-----"
          }
        }),
    )
    .await;
    assert_eq!(
        itom["config"],
        json!({
            "apiUrl": "https://exmaple.service-now.com/",
            "isOAuth": true,
            "userIdentifierValue": "testuser@email.com",
            "clientId": "abcdefghijklmnopqrstuvwxyzabcdef",
            "jwtKeyId": "fedcbazyxwvutsrqponmlkjihgfedcba",
        })
    );
    let text = serde_json::to_string(&[&jira, &resilient, &itom]).unwrap();
    for secret in ["myToken", "secretsecret", "privatekeyhere"] {
        assert!(!text.contains(secret), "{secret} answered");
    }
}
