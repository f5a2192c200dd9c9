//! The `Authorization` header: `Basic base64(user:password)` or Elasticsearch's
//! `ApiKey base64(id:key)`, and the making of new API keys.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};

/// What a request presented. Never logged or shown: it holds a secret.
pub enum Credentials {
    Basic { username: String, password: String },
    ApiKey { id: String, key: String },
}

impl Credentials {
    /// Reads the header; `None` when it is not one of the two schemes or is garbled.
    pub fn parse(header: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(header).ok()?;
        let (scheme, value) = text.split_once(' ')?;
        let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
        let (first, second) = decoded.split_once(':')?;
        if scheme.eq_ignore_ascii_case("basic") {
            Some(Self::Basic {
                username: first.to_owned(),
                password: second.to_owned(),
            })
        } else if scheme.eq_ignore_ascii_case("apikey") {
            Some(Self::ApiKey {
                id: first.to_owned(),
                key: second.to_owned(),
            })
        } else {
            None
        }
    }
}

/// A new API key: its id (20 characters, as Elasticsearch's) and secret (22).
pub fn new_api_key() -> (String, String) {
    use aes_gcm::aead::{OsRng, rand_core::RngCore};
    let mut id = [0u8; 15];
    let mut key = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut key);
    (URL_SAFE_NO_PAD.encode(id), URL_SAFE_NO_PAD.encode(key))
}

/// The `encoded` form clients put after `ApiKey `.
pub fn encoded(id: &str, key: &str) -> String {
    STANDARD.encode(format!("{id}:{key}"))
}

/// Elasticsearch's time values for `expiration`: `<n><unit>` with d, h, m, s, ms, the
/// same units as the settings' durations (a unit is required here).
pub fn parse_expiration(text: &str) -> Option<std::time::Duration> {
    crate::settings::duration(&serde_json::Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_schemes() {
        let basic = format!("Basic {}", STANDARD.encode("elastic:pa:ss"));
        match Credentials::parse(basic.as_bytes()) {
            Some(Credentials::Basic { username, password }) => {
                assert_eq!((username.as_str(), password.as_str()), ("elastic", "pa:ss"));
            }
            _ => panic!("not read as Basic"),
        }
        let (id, key) = new_api_key();
        assert_eq!((id.len(), key.len()), (20, 22));
        match Credentials::parse(format!("ApiKey {}", encoded(&id, &key)).as_bytes()) {
            Some(Credentials::ApiKey {
                id: read_id,
                key: read_key,
            }) => {
                assert_eq!((read_id, read_key), (id, key));
            }
            _ => panic!("not read as ApiKey"),
        }
        for garbled in ["Basic", "Basic !!!", "Bearer abc", "Basic ZWxhc3RpYw=="] {
            assert!(
                Credentials::parse(garbled.as_bytes()).is_none(),
                "{garbled}"
            );
        }
    }

    #[test]
    fn expirations_are_elasticsearch_time_values() {
        assert_eq!(parse_expiration("1d").unwrap().as_secs(), 86_400);
        assert_eq!(parse_expiration("30m").unwrap().as_secs(), 1_800);
        assert!(parse_expiration("1y").is_none());
        assert!(parse_expiration("d").is_none());
    }
}
