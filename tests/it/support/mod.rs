//! Test support: the server started in-process on port 0, the server started as a
//! process, and loopback fakes for the services connectors call.

pub mod app;
pub mod database;
pub mod fake;
pub mod pki;
pub mod process;
pub mod proxy;
pub mod rsa;
pub mod smtp;
pub mod streaming;

pub use self::{
    app::{TestApp, TestResponse},
    fake::{FakeServer, Reply, closed_port},
};

/// The password every test server gives its first superuser, `elastic`.
pub const SUPERUSER_PASSWORD: &str = "test-superuser-password";

/// `Authorization: Basic ...` for a user.
pub fn basic(username: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

/// A client that sends the test superuser's credentials with every request.
pub fn superuser_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value =
        reqwest::header::HeaderValue::from_str(&basic("elastic", SUPERUSER_PASSWORD)).unwrap();
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}
