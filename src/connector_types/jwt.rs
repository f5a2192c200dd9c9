//! RS256-signed JWTs for OAuth 2.0 JWT bearer grants (ServiceNow's OAuth, Google
//! service accounts): RSA private keys read from PEM once per distinct key, off the
//! async threads; assertions signed with rustls's ring provider; the access tokens
//! a type's connectors were given, kept per connector until they expire; and the
//! form body the grant is posted as.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use pkcs8::{EncryptedPrivateKeyInfoRef, der::pem};
use rustls::{
    SignatureScheme,
    crypto::ring::sign::RsaSigningKey,
    pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer},
    sign::SigningKey,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Tokens and keys kept, at most, per type; beyond that the oldest go.
const MAX_ENTRIES: usize = 1024;

/// The OAuth 2.0 grant type of an assertion (RFC 7523).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A key ready to sign with.
pub type Key = Arc<dyn SigningKey>;
type KeyOutcome = Result<Key, String>;

/// A digest of JSON values, each length-prefixed: what a cached token or key is
/// checked against, so changed credentials are never served an old one.
pub fn digest(values: &[&Value]) -> [u8; 32] {
    let mut digest = Sha256::new();
    for value in values {
        let text = value.to_string();
        digest.update((text.len() as u64).to_be_bytes());
        digest.update(text.as_bytes());
    }
    digest.finalize().into()
}

/// Seconds since the epoch, as JWT claims count time.
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The private keys already read, by key and password (reading and checking an RSA
/// key, or decrypting one, is CPU work).
#[derive(Default)]
pub struct Keys {
    keys: Mutex<HashMap<[u8; 32], KeyOutcome>>,
}

impl Keys {
    /// The key in `pem`, read once per distinct key and password.
    ///
    /// # Errors
    /// Why the key cannot be used; never the key itself.
    pub async fn get(&self, pem: &str, password: Option<&str>) -> KeyOutcome {
        let key_digest = digest(&[&json!(pem), &json!(password)]);
        if let Some(outcome) = self.lock().get(&key_digest) {
            return outcome.clone();
        }
        let (pem, password) = (pem.to_owned(), password.map(str::to_owned));
        let outcome = tokio::task::spawn_blocking(move || read_key(&pem, password.as_deref()))
            .await
            .unwrap_or_else(|_| Err("the private key could not be read".to_owned()));
        let mut keys = self.lock();
        if keys.len() >= MAX_ENTRIES {
            keys.clear();
        }
        keys.insert(key_digest, outcome.clone());
        outcome
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], KeyOutcome>> {
        self.keys
            .lock()
            .expect("the key cache lock is never poisoned")
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

/// `header.claims.signature`, signed with RS256 off the async threads (an RSA
/// signature is CPU work). Header and claims are written in their keys' order.
///
/// # Errors
/// The key cannot sign with RS256.
pub async fn sign(key: Key, header: Value, claims: Value) -> Result<String, String> {
    tokio::task::spawn_blocking(move || sign_now(key.as_ref(), &header, &claims))
        .await
        .unwrap_or_else(|_| Err("the assertion could not be signed".to_owned()))
}

fn sign_now(key: &dyn SigningKey, header: &Value, claims: &Value) -> Result<String, String> {
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

struct Token {
    digest: [u8; 32],
    value: String,
    expires_at: SystemTime,
}

/// The access tokens of a type's connectors, by connector id, each with the digest
/// of the credentials it was issued for.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, Token>>,
}

impl TokenCache {
    /// The connector's token, if it was issued for these credentials and has not
    /// expired.
    pub fn get(&self, connector_id: &str, digest: &[u8; 32]) -> Option<String> {
        let tokens = self.lock();
        let token = tokens.get(connector_id)?;
        (token.digest == *digest && token.expires_at > SystemTime::now())
            .then(|| token.value.clone())
    }

    pub fn put(&self, connector_id: &str, digest: [u8; 32], value: String, expires_at: SystemTime) {
        let mut tokens = self.lock();
        if tokens.len() >= MAX_ENTRIES && !tokens.contains_key(connector_id) {
            let now = SystemTime::now();
            tokens.retain(|_, it| it.expires_at > now);
            if tokens.len() >= MAX_ENTRIES {
                tokens.clear();
            }
        }
        tokens.insert(
            connector_id.to_owned(),
            Token {
                digest,
                value,
                expires_at,
            },
        );
    }

    /// Drops the connector's token.
    pub fn forget(&self, connector_id: &str) {
        self.lock().remove(connector_id);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Token>> {
        self.tokens
            .lock()
            .expect("the token cache lock is never poisoned")
    }
}

/// `application/x-www-form-urlencoded` pairs in the order given, values
/// percent-encoded per RFC 3986 (only unreserved characters stay), as `query-string`
/// writes them.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_strictly_encoded() {
        assert_eq!(
            form_body(&[("a", "x y!*'()"), ("grant_type", JWT_BEARER_GRANT)]),
            "a=x%20y%21%2A%27%28%29&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        );
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
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            read_key(garbage, None).err().as_deref(),
            Some("the private key is not a valid RSA key")
        );
    }

    #[test]
    fn tokens_are_served_only_for_their_credentials_until_they_expire() {
        let cache = TokenCache::default();
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        cache.put("c1", [1; 32], "t1".to_owned(), later);
        assert_eq!(cache.get("c1", &[1; 32]).as_deref(), Some("t1"));
        assert_eq!(cache.get("c1", &[2; 32]), None);
        assert_eq!(cache.get("c2", &[1; 32]), None);
        cache.put("c1", [1; 32], "t2".to_owned(), SystemTime::now());
        assert_eq!(cache.get("c1", &[1; 32]), None, "expired");
        cache.put("c1", [1; 32], "t3".to_owned(), later);
        cache.forget("c1");
        assert_eq!(cache.get("c1", &[1; 32]), None);
    }
}
