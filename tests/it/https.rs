//! `server.ssl.*`: the API over HTTPS.

use serde_json::json;

use crate::support::{SUPERUSER_PASSWORD, TestApp, pki::TestCa};

#[tokio::test]
async fn the_api_is_served_over_https_with_the_configured_certificate() {
    let ca = TestCa::new("Switchboard test CA");
    let server = ca.issue(&["127.0.0.1", "localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::write(&certificate, &server.cert_pem).unwrap();
    std::fs::write(&key, &server.key_pem).unwrap();
    let app = TestApp::with_settings(json!({ "server": { "ssl": {
        "enabled": true,
        "certificate": certificate.to_str().unwrap(),
        "key": key.to_str().unwrap(),
    } } }))
    .await;
    assert!(
        app.base_url.starts_with("https://127.0.0.1:"),
        "{}",
        app.base_url
    );

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = trusting
        .get(app.url("/api/actions/connector_types"))
        .basic_auth("elastic", Some(SUPERUSER_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()[0]["id"],
        ".server-log"
    );

    // A client that does not trust the CA cannot connect, and plain HTTP gets no answer.
    assert!(
        reqwest::get(app.url("/api/actions/connector_types"))
            .await
            .is_err()
    );
    let plain = app.base_url.replacen("https://", "http://", 1);
    assert!(
        reqwest::get(format!("{plain}/api/actions/connector_types"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn https_without_its_files_stops_start_up_naming_the_setting() {
    let tree = json!({ "server": { "ssl": { "enabled": true, "key": "/nonexistent.key" } } });
    let error = switchboard::settings::Settings::from_tree(&tree)
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "invalid setting server.ssl.certificate: must be set when server.ssl.enabled is true"
    );
}
