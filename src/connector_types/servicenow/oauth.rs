//! OAuth 2.0 JWT bearer grant for ServiceNow, as Kibana does it: an RS256 assertion
//! signed with the connector's private key is traded at `<apiUrl>/oauth_token.do` for
//! an access token, which is kept in memory until it expires or ServiceNow refuses a
//! request (any 4xx).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use pkcs8::{EncryptedPrivateKeyInfoRef, der::pem};
use reqwest::Method;
use rustls::{
    SignatureScheme,
    crypto::ring::sign::RsaSigningKey,
    pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer},
    sign::SigningKey,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::service::SnError;
use crate::connector_types::{
    ExecutionContext,
    itsm::{Body, call},
};

/// Tokens and keys kept, at most, per type; beyond that the oldest go.
const MAX_ENTRIES: usize = 1024;
/// Kibana's assertions are valid for an hour.
const ASSERTION_LIFETIME_SECONDS: u64 = 3600;
/// ServiceNow's default token lifetime, used when the answer has none.
const DEFAULT_EXPIRES_IN_SECONDS: f64 = 3600.0;
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

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

/// A digest of JSON values, each length-prefixed.
pub fn digest(values: &[&Value]) -> [u8; 32] {
    let mut digest = Sha256::new();
    for value in values {
        let text = value.to_string();
        digest.update((text.len() as u64).to_be_bytes());
        digest.update(text.as_bytes());
    }
    digest.finalize().into()
}

struct Token {
    digest: [u8; 32],
    /// `<token_type> <access_token>`, the `Authorization` header.
    authorization: String,
    expires_at: SystemTime,
}

type KeyOutcome = Result<Arc<dyn SigningKey>, String>;

/// The access tokens of a type's connectors, by connector id, and the private keys
/// already read (reading and checking an RSA key, or decrypting one, is CPU work).
#[derive(Default)]
pub struct Tokens {
    tokens: Mutex<HashMap<String, Token>>,
    keys: Mutex<HashMap<[u8; 32], KeyOutcome>>,
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
        if let Some(cached) = self.cached(connector_id, &credentials.digest) {
            return Ok(cached);
        }
        let jwt_failure = |error: String| {
            SnError::plain(format!(
                "Unable to generate JWT token. Error: Error: {error}"
            ))
        };
        let key = self.signing_key(credentials).await.map_err(jwt_failure)?;
        let claims = Claims {
            key_id: credentials.key_id.clone(),
            subject: credentials.user_identifier.clone(),
            client_id: credentials.client_id.clone(),
        };
        // An RSA signature is CPU work: off the async threads too.
        let assertion = tokio::task::spawn_blocking(move || assertion(key.as_ref(), &claims))
            .await
            .unwrap_or_else(|_| Err("the assertion could not be signed".to_owned()))
            .map_err(jwt_failure)?;
        let started = SystemTime::now();
        let (authorization, lifetime) = request_token(cx, credentials, &assertion).await?;
        self.store(
            connector_id,
            Token {
                digest: credentials.digest,
                authorization: authorization.clone(),
                expires_at: started + lifetime,
            },
        );
        Ok(authorization)
    }

    /// Drops the connector's token.
    pub fn forget(&self, connector_id: &str) {
        self.lock_tokens().remove(connector_id);
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Token>> {
        self.tokens
            .lock()
            .expect("the token cache lock is never poisoned")
    }

    fn cached(&self, connector_id: &str, digest: &[u8; 32]) -> Option<String> {
        let tokens = self.lock_tokens();
        let token = tokens.get(connector_id)?;
        (token.digest == *digest && token.expires_at > SystemTime::now())
            .then(|| token.authorization.clone())
    }

    fn store(&self, connector_id: &str, token: Token) {
        let mut tokens = self.lock_tokens();
        if tokens.len() >= MAX_ENTRIES && !tokens.contains_key(connector_id) {
            let now = SystemTime::now();
            tokens.retain(|_, it| it.expires_at > now);
            if tokens.len() >= MAX_ENTRIES {
                tokens.clear();
            }
        }
        tokens.insert(connector_id.to_owned(), token);
    }

    /// The connector's key, read once per distinct key and password.
    async fn signing_key(&self, credentials: &Credentials) -> KeyOutcome {
        let password = credentials.private_key_password.clone();
        let key_digest = digest(&[&json!(credentials.private_key), &json!(password)]);
        let lock = || {
            self.keys
                .lock()
                .expect("the key cache lock is never poisoned")
        };
        if let Some(outcome) = lock().get(&key_digest) {
            return outcome.clone();
        }
        let pem = credentials.private_key.clone();
        let outcome = tokio::task::spawn_blocking(move || read_key(&pem, password.as_deref()))
            .await
            .unwrap_or_else(|_| Err("the private key could not be read".to_owned()));
        let mut keys = lock();
        if keys.len() >= MAX_ENTRIES {
            keys.clear();
        }
        keys.insert(key_digest, outcome.clone());
        outcome
    }
}

/// An RSA private key from PEM: PKCS#8, PKCS#1 (`RSA PRIVATE KEY`) or encrypted
/// PKCS#8 opened with the password. Messages never include the key.
fn read_key(text: &str, password: Option<&str>) -> KeyOutcome {
    let (label, der) =
        pem::decode_vec(text.trim().as_bytes()).map_err(|_| "the private key is not valid PEM")?;
    let der = match label {
        "PRIVATE KEY" => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
        "ENCRYPTED PRIVATE KEY" => {
            let password = password
                .ok_or("the private key is encrypted and no privateKeyPassword was given")?;
            let encrypted = EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
                .map_err(|_| "the private key is not an encrypted PKCS#8 key")?;
            check_key_derivation(&encrypted.encryption_algorithm)?;
            let decrypted = encrypted
                .decrypt(password)
                .map_err(|_| "the private key could not be decrypted with privateKeyPassword")?;
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(decrypted.as_bytes().to_vec()))
        }
        _ => return Err("the private key is not an RSA private key".to_owned()),
    };
    let key = RsaSigningKey::new(&der).map_err(|_| "the private key is not a valid RSA key")?;
    Ok(Arc::new(key))
}

/// The most work a key's own encryption parameters may ask for to open it: they come
/// from the user, and unchecked could ask for billions of rounds.
fn check_key_derivation(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<(), String> {
    use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
    let acceptable = match scheme {
        EncryptionScheme::Pbes2(parameters) => match &parameters.kdf {
            Kdf::Pbkdf2(pbkdf2) => pbkdf2.iteration_count <= 10_000_000,
            Kdf::Scrypt(scrypt) => scrypt
                .cost_parameter
                .checked_mul(u64::from(scrypt.block_size))
                .and_then(|it| it.checked_mul(128))
                .is_some_and(|bytes| bytes <= 32 * 1024 * 1024 && scrypt.parallelization <= 16),
            _ => false,
        },
        _ => true,
    };
    if acceptable {
        Ok(())
    } else {
        Err("the private key's encryption asks for too costly a key derivation".to_owned())
    }
}

/// Who an assertion is for: `kid`, `sub`, and the client as `aud` and `iss`.
struct Claims {
    key_id: String,
    subject: String,
    client_id: String,
}

/// The signed JWT: header `{alg, typ, kid}`, claims `sub, aud, iss, iat, exp`.
fn assertion(key: &dyn SigningKey, claims: &Claims) -> Result<String, String> {
    let issued_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": claims.key_id });
    let claims = json!({
        "sub": claims.subject,
        "aud": claims.client_id,
        "iss": claims.client_id,
        "iat": issued_at,
        "exp": issued_at + ASSERTION_LIFETIME_SECONDS,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signer = key
        .choose_scheme(&[SignatureScheme::RSA_PKCS1_SHA256])
        .ok_or("the private key cannot sign with RS256")?;
    let signature = signer
        .sign(signing_input.as_bytes())
        .map_err(|_| "the assertion could not be signed")?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
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
        ("grant_type", GRANT_TYPE),
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
        value => super::service::js_text(value),
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

/// `query-string`'s `stringify`: keys in the order given (sorted by the caller),
/// values percent-encoded per RFC 3986 (only unreserved characters stay).
fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", strict_encode(key), strict_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn strict_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
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
    fn form_values_are_strictly_encoded() {
        assert_eq!(
            form_body(&[("a", "x y!*'()"), ("grant_type", GRANT_TYPE)]),
            "a=x%20y%21%2A%27%28%29&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        );
    }

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

    #[test]
    fn unusable_keys_are_described_without_their_content() {
        assert_eq!(
            read_key("not a key", None).err().as_deref(),
            Some("the private key is not valid PEM")
        );
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            read_key(encrypted, None).err().as_deref(),
            Some("the private key is encrypted and no privateKeyPassword was given")
        );
    }
}
