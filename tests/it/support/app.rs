//! The real server, built from real settings, listening on 127.0.0.1 port 0.

use std::sync::Arc;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use switchboard::{app::Application, settings::Settings};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

pub struct TestApp {
    pub base_url: String,
    /// Sends the test superuser's credentials.
    client: reqwest::Client,
    /// Sends none of its own.
    anonymous: reqwest::Client,
    data_dir: Arc<TempDir>,
    /// The store every start of this app uses: SQLite in the data directory, or a
    /// PostgreSQL schema of its own when the suite runs on PostgreSQL.
    database: Value,
    extra_settings: Value,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl TestResponse {
    /// The body as JSON.
    ///
    /// # Panics
    /// When the body is not JSON; the message shows it.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {:?}", self.text))
    }
}

impl TestApp {
    pub async fn start() -> Self {
        Self::with_settings(json!({})).await
    }

    /// Starts with settings (nested, kibana.yml names) over the test defaults.
    pub async fn with_settings(extra_settings: Value) -> Self {
        let data_dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        let database = match super::database::api_suite_database_url() {
            Some(url) => json!({
                "database": { "url": url, "schema": super::database::fresh_schema() },
                "xpack": { "encryptedSavedObjects": {
                    "encryptionKey": "the key every test app on PostgreSQL shares"
                } },
            }),
            None => json!({}),
        };
        Self::launch(data_dir, database, extra_settings).await
    }

    async fn launch(data_dir: Arc<TempDir>, database: Value, extra_settings: Value) -> Self {
        let mut tree = json!({
            "server": { "host": "127.0.0.1", "port": 0 },
            "path": { "data": data_dir.path().to_str().unwrap() },
            "security": { "elasticPassword": super::SUPERUSER_PASSWORD },
        });
        deep_merge(&mut tree, &database);
        deep_merge(&mut tree, &extra_settings);
        let settings = Settings::from_tree(&tree).expect("valid test settings");
        let application = Application::build(settings)
            .await
            .expect("the server starts");
        let base_url = format!("{}://{}", application.scheme(), application.local_addr());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            application
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
                .expect("the server runs");
        });
        Self {
            base_url,
            client: super::superuser_client(),
            anonymous: reqwest::Client::new(),
            data_dir,
            database,
            extra_settings,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// The PostgreSQL URL and schema this app stores in, if it is on PostgreSQL.
    pub fn postgres(&self) -> Option<(String, String)> {
        let database = &self.database["database"];
        Some((
            database["url"].as_str()?.to_owned(),
            database["schema"].as_str()?.to_owned(),
        ))
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(self) -> Self {
        let extra = self.extra_settings.clone();
        self.restart_with(extra).await
    }

    /// Stops the server and starts a new one on the same data directory with other settings.
    pub async fn restart_with(mut self, extra_settings: Value) -> Self {
        self.stop().await;
        Self::launch(self.data_dir.clone(), self.database.clone(), extra_settings).await
    }

    async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> TestResponse {
        let response = request.send().await.expect("the server answers");
        TestResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.expect("a readable body"),
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send(
            self.client
                .post(self.url(path))
                .header("kbn-xsrf", "true")
                .json(&body),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> TestResponse {
        self.send(
            self.client
                .put(self.url(path))
                .header("kbn-xsrf", "true")
                .json(&body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(
            self.client
                .delete(self.url(path))
                .header("kbn-xsrf", "true"),
        )
        .await
    }

    /// A `DELETE` with a JSON body, as the superuser.
    pub async fn delete_with_body(&self, path: &str, body: Value) -> TestResponse {
        self.send(
            self.client
                .delete(self.url(path))
                .header("kbn-xsrf", "true")
                .json(&body),
        )
        .await
    }

    /// A request of any shape, for the tests of request rules, as the superuser.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request with no credentials but those the test adds.
    pub fn anonymous(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.anonymous.request(method, self.url(path))
    }

    /// A request with this `Authorization` header (and `kbn-xsrf`), body optional.
    pub async fn call_as(
        &self,
        authorization: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> TestResponse {
        let mut request = self
            .anonymous(method, path)
            .header("kbn-xsrf", "true")
            .header(reqwest::header::AUTHORIZATION, authorization);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// Runs `switchboard <args>` on this app's store (beside the running server), with
    /// `input` on standard input. Panics unless it succeeds; returns its stdout.
    pub async fn admin(&self, args: &[&str], input: &str) -> String {
        let data = self.data_dir().to_str().unwrap().to_owned();
        let mut environment = vec![("SWITCHBOARD_PATH_DATA", data)];
        if let Some((url, schema)) = self.postgres() {
            environment.push(("SWITCHBOARD_DATABASE_URL", url));
            environment.push(("SWITCHBOARD_DATABASE_SCHEMA", schema));
        }
        let environment: Vec<(&str, &str)> = environment
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let (code, stdout, stderr) =
            super::process::run_with_input(self.data_dir(), args, &environment, input).await;
        assert_eq!(code, Some(0), "switchboard {args:?} failed: {stderr}");
        stdout
    }

    /// Creates a space as the superuser.
    pub async fn create_space(&self, id: &str) {
        let response = self
            .post("/api/spaces/space", json!({ "id": id, "name": id }))
            .await;
        assert_eq!(response.status, 200, "space not created: {}", response.text);
    }

    /// Creates a connector in a space (`""` for the default) and returns its id.
    pub async fn create_connector_in(&self, space_prefix: &str, body: Value) -> String {
        let response = self
            .post(&format!("{space_prefix}/api/actions/connector"), body)
            .await;
        assert_eq!(response.status, 200, "create failed: {}", response.text);
        response.json()["id"].as_str().unwrap().to_owned()
    }

    /// Creates a connector of a type with this config and secrets; returns its id.
    pub async fn create_typed(&self, type_id: &str, config: Value, secrets: Value) -> String {
        self.create_connector(json!({
            "name": format!("my {type_id}"), "connector_type_id": type_id,
            "config": config, "secrets": secrets,
        }))
        .await
    }

    pub async fn create_connector(&self, body: Value) -> String {
        self.create_connector_in("", body).await
    }

    /// Runs a connector and returns the 200 result.
    pub async fn execute(&self, id: &str, params: Value) -> Value {
        let response = self
            .post(
                &format!("/api/actions/connector/{id}/_execute"),
                json!({ "params": params }),
            )
            .await;
        assert_eq!(response.status, 200, "execute failed: {}", response.text);
        response.json()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Merges `extra` into `base`, objects key by key.
pub fn deep_merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(base), Value::Object(extra)) => {
            for (key, value) in extra {
                deep_merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, extra) => *base = extra.clone(),
    }
}

/// Asserts a whole error body, Kibana's envelope.
#[track_caller]
pub fn assert_error(response: &TestResponse, status: u16, message: &str) {
    let error = reqwest::StatusCode::from_u16(status)
        .unwrap()
        .canonical_reason()
        .unwrap()
        .to_owned();
    assert_eq!(
        (response.status, response.json()),
        (
            status,
            json!({ "statusCode": status, "error": error, "message": message })
        ),
        "body: {}",
        response.text
    );
}
