//! OAuth 2.0 JWT bearer grant for ServiceNow, as Kibana does it: an RS256 assertion
//! signed with the connector's private key is traded at `<apiUrl>/oauth_token.do` for
//! an access token, which is kept in memory until it expires or ServiceNow refuses a
//! request (any 4xx). Keys, signing and the token cache are [`crate::connector_types::jwt`]'s.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{Value, json};

pub use crate::connector_types::jwt::digest;

use super::service::SnError;
use crate::connector_types::{
    ExecutionContext,
    itsm::{Body, call},
    jwt::{self, JWT_BEARER_GRANT, Keys, TokenCache, form_body},
};

/// Kibana's assertions are valid for an hour.
const ASSERTION_LIFETIME_SECONDS: u64 = 3600;
/// ServiceNow's default token lifetime, used when the answer has none.
const DEFAULT_EXPIRES_IN_SECONDS: f64 = 3600.0;

/// What a token request needs, from the connector's config and secrets.
pub struct Credentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub user_identifier: String,
    pub key_id: String,
    pub private_key: String,
    pub private_key_password: Option<String>,
    /// Of the connector's config and secrets: a token is only reused for the
    /// credentials it was issued for, so an updated connector asks again.
    pub digest: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The access tokens of a type's connectors, by connector id, and the private keys
/// already read.
#[derive(Default)]
pub struct Tokens {
    tokens: TokenCache,
    keys: Keys,
}

impl Tokens {
    /// The `Authorization` header for the connector: its cached token while valid,
    /// else a new one.
    ///
    /// # Errors
    /// The key cannot be used, or ServiceNow refused the assertion (the error's
    /// message is then its answer as JSON text).
    pub async fn authorization(
        &self,
        cx: &ExecutionContext,
        connector_id: &str,
        credentials: &Credentials,
    ) -> Result<String, SnError> {
        if let Some(cached) = self.tokens.get(connector_id, &credentials.digest) {
            return Ok(cached);
        }
        let jwt_failure = |error: String| {
            SnError::plain(format!(
                "Unable to generate JWT token. Error: Error: {error}"
            ))
        };
        let key = self
            .keys
            .get(
                &credentials.private_key,
                credentials.private_key_password.as_deref(),
            )
            .await
            .map_err(jwt_failure)?;
        let (header, claims) = assertion_parts(credentials);
        let assertion = jwt::sign(key, header, claims).await.map_err(jwt_failure)?;
        let started = SystemTime::now();
        let (authorization, lifetime) = request_token(cx, credentials, &assertion).await?;
        self.tokens.put(
            connector_id,
            credentials.digest,
            authorization.clone(),
            started + lifetime,
        );
        Ok(authorization)
    }

    /// Drops the connector's token.
    pub fn forget(&self, connector_id: &str) {
        self.tokens.forget(connector_id);
    }
}

/// The JWT's header `{alg, typ, kid}` and claims `sub, aud, iss, iat, exp`: the
/// client is both audience and issuer.
fn assertion_parts(credentials: &Credentials) -> (Value, Value) {
    let issued_at = jwt::now_seconds();
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": credentials.key_id });
    let claims = json!({
        "sub": credentials.user_identifier,
        "aud": credentials.client_id,
        "iss": credentials.client_id,
        "iat": issued_at,
        "exp": issued_at + ASSERTION_LIFETIME_SECONDS,
    });
    (header, claims)
}

/// Trades the assertion for a token. Only a 200 is a success; any other answer is
/// an error whose message is the answer as key-sorted JSON.
async fn request_token(
    cx: &ExecutionContext,
    credentials: &Credentials,
    assertion: &str,
) -> Result<(String, Duration), SnError> {
    let form = form_body(&[
        ("assertion", assertion),
        ("client_id", &credentials.client_id),
        ("client_secret", &credentials.client_secret),
        ("grant_type", JWT_BEARER_GRANT),
    ]);
    let content_type = "application/x-www-form-urlencoded; charset=UTF-8";
    let sent = call(
        cx,
        Method::POST,
        &credentials.token_url,
        &[],
        Body::Text(&form, content_type),
    )
    .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(failure) => match failure.answer {
            Some(answer) => answer,
            None => return Err(failure.into()),
        },
    };
    if answer.status.as_u16() != 200 {
        return Err(SnError::plain(stable_stringify(&answer.body)));
    }
    let text = |key: &str| match &answer.body[key] {
        Value::Null => "undefined".to_owned(),
        value => crate::connector_types::js::text(value),
    };
    let expires_in = match &answer.body["expires_in"] {
        Value::Number(seconds) => seconds.as_f64(),
        Value::String(seconds) => seconds.trim().parse().ok(),
        _ => None,
    }
    .unwrap_or(DEFAULT_EXPIRES_IN_SECONDS);
    let lifetime = Duration::try_from_secs_f64(expires_in).unwrap_or_default();
    Ok((
        format!("{} {}", text("token_type"), text("access_token")),
        lifetime,
    ))
}

/// JSON text with every object's keys sorted (`stableStringify`); an empty answer
/// is axios's empty string.
fn stable_stringify(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key.clone(), sorted(value)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    match value {
        Value::Null => "\"\"".to_owned(),
        other => sorted(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_key_sorted_json() {
        assert_eq!(
            stable_stringify(
                &json!({ "error_description": "User not found", "error": "invalid_grant", "x": { "b": 1, "a": [ { "d": 1, "c": 2 } ] } })
            ),
            r#"{"error":"invalid_grant","error_description":"User not found","x":{"a":[{"c":2,"d":1}],"b":1}}"#
        );
        assert_eq!(stable_stringify(&Value::Null), r#""""#);
    }
}
