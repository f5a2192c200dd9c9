//! Microsoft Exchange through Microsoft Graph: an OAuth2 client-credentials token
//! (kept per connector until it expires, dropped after any 4xx), then `sendMail`,
//! where only 202 counts as sent.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{EmailSettings, Mail};
use crate::connector_types::{Connector, ExecutionContext, outbound::TlsOverrides};

/// Tokens by connector and the credentials they were issued for:
/// `"<token_type> <access_token>"` and when it expires. Keyed on the credentials too,
/// so a connector re-created or changed under the same id never uses an old token.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// The longest a token is kept, whatever the endpoint says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

fn token_url(settings: &EmailSettings, connector: &Connector<'_>) -> String {
    match connector.config["oauthTokenUrl"].as_str() {
        Some(url) => url.to_owned(),
        None => format!(
            "{}/{}/oauth2/v2.0/token",
            settings.exchange_url.trim_end_matches('/'),
            connector.config["tenantId"].as_str().unwrap_or_default()
        ),
    }
}

fn cache_key(connector: &Connector<'_>, url: &str, scope: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for part in [
        connector.id,
        connector.config["clientId"].as_str().unwrap_or_default(),
        url,
        scope,
        connector.secrets["clientSecret"]
            .as_str()
            .unwrap_or_default(),
    ] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    let digest: [u8; 32] = digest.finalize().into();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.tokens
            .lock()
            .expect("the token cache lock is never poisoned")
    }

    fn valid(&self, connector_id: &str) -> Option<String> {
        let tokens = self.lock();
        let (token, expires) = tokens.get(connector_id)?;
        (Instant::now() < *expires).then(|| token.clone())
    }

    fn keep(&self, connector_id: &str, token: String, expires: Instant) {
        self.lock()
            .insert(connector_id.to_owned(), (token, expires));
    }

    fn forget(&self, connector_id: &str) {
        self.lock().remove(connector_id);
    }
}

async fn token(
    cx: &ExecutionContext,
    settings: &EmailSettings,
    tokens: &TokenCache,
    connector: &Connector<'_>,
) -> Result<String, String> {
    let config = connector.config;
    let url = token_url(settings, connector);
    let key = cache_key(connector, &url, &settings.graph_api_scope);
    if let Some(token) = tokens.valid(&key) {
        return Ok(token);
    }
    let unavailable = || {
        format!(
            "Unable to retrieve access token for connectorId: {}",
            connector.id
        )
    };
    // Kibana sorts the form's keys.
    let form = [
        ("client_id", config["clientId"].as_str().unwrap_or_default()),
        (
            "client_secret",
            connector.secrets["clientSecret"]
                .as_str()
                .unwrap_or_default(),
        ),
        ("grant_type", "client_credentials"),
        ("scope", settings.graph_api_scope.as_str()),
    ];
    let started = Instant::now();
    let encoded = reqwest::Url::parse_with_params("http://form.invalid/", &form)
        .map_err(|_| unavailable())?
        .query()
        .unwrap_or_default()
        .to_owned();
    let request = cx
        .http
        .request(Method::POST, &url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(encoded);
    let response = cx
        .http
        .send(request, &TlsOverrides::default())
        .await
        .map_err(|_| unavailable())?;
    if response.status() != StatusCode::OK {
        tracing::warn!(connector_id = connector.id, status = %response.status(), "The token endpoint refused the client credentials.");
        return Err(unavailable());
    }
    let body = cx
        .http
        .read_body(response)
        .await
        .map_err(|_| unavailable())?;
    let (Some(kind), Some(access)) = (body["token_type"].as_str(), body["access_token"].as_str())
    else {
        return Err(unavailable());
    };
    let token = format!("{kind} {access}");
    // Some endpoints send the lifetime as a string.
    let seconds = match &body["expires_in"] {
        Value::String(text) => text.trim().parse().unwrap_or(0),
        other => other.as_u64().unwrap_or(0),
    };
    let lifetime = Duration::from_secs(seconds).min(MAX_TOKEN_LIFETIME);
    tokens.keep(&key, token.clone(), started + lifetime);
    Ok(token)
}

pub(super) async fn send(
    cx: &ExecutionContext,
    settings: &EmailSettings,
    tokens: &TokenCache,
    connector: &Connector<'_>,
    mail: &Mail<'_>,
) -> Result<Value, String> {
    let authorization = token(cx, settings, tokens, connector).await?;
    let recipients = |addresses: &[&str]| -> Vec<Value> {
        addresses
            .iter()
            .map(|address| json!({ "emailAddress": { "address": address } }))
            .collect()
    };
    let body = json!({
        "message": {
            "subject": mail.subject,
            "body": { "contentType": "HTML", "content": mail.html },
            "toRecipients": recipients(&mail.to),
            "ccRecipients": recipients(&mail.cc),
            "bccRecipients": recipients(&mail.bcc),
        }
    });
    // The `from` address goes into the path as it is, as in Kibana.
    let url = format!(
        "{}/users/{}/sendMail",
        settings.graph_api_url.trim_end_matches('/'),
        mail.from
    );
    let mut authorization =
        reqwest::header::HeaderValue::from_str(&authorization).map_err(|_| {
            format!(
                "Unable to retrieve access token for connectorId: {}",
                connector.id
            )
        })?;
    authorization.set_sensitive(true);
    let request = cx
        .http
        .request(Method::POST, &url)
        .header("content-type", "application/json")
        .header(reqwest::header::AUTHORIZATION, authorization)
        .body(body.to_string());
    let response = cx
        .http
        .send(request, &TlsOverrides::default())
        .await
        .map_err(|failure| failure.to_string())?;
    let status = response.status();
    let answer = cx
        .http
        .read_body(response)
        .await
        .map_err(|failure| failure.to_string())?;
    if status == StatusCode::ACCEPTED {
        return Ok(match answer {
            Value::Null => Value::String(String::new()),
            other => other,
        });
    }
    if status.is_client_error() {
        let url = token_url(settings, connector);
        tokens.forget(&cache_key(connector, &url, &settings.graph_api_scope));
    }
    Err(match answer {
        // Kibana serialises the body; an empty one is "".
        Value::Null => "\"\"".to_owned(),
        other => other.to_string(),
    })
}
