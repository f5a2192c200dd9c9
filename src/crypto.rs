//! Encryption of connector secrets at rest.
//!
//! AES-256-GCM with a data key derived once, at start-up, from the configured
//! `xpack.encryptedSavedObjects.encryptionKey` (HKDF-SHA256): opening a value costs one
//! AEAD pass, not a key derivation. Layout of a sealed value:
//! `[version: u8 = 1][key id: 4 bytes][nonce: 12 bytes][ciphertext + tag]`.
//! The associated data is the connector's (space, id, type), so a sealed value copied
//! onto another row does not open. The key id lets old keys keep opening values
//! after a rotation (`keyRotation.decryptionOnlyKeys`).

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng, Payload},
};
use hkdf::Hkdf;
use sha2::Sha256;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("sealed secrets are truncated")]
    Truncated,
    #[error("sealed secrets have unknown version {0}")]
    UnknownVersion(u8),
    #[error("sealed secrets were encrypted with a key this server does not have")]
    UnknownKey,
    /// Wrong connector, or tampered data; AEAD cannot tell which.
    #[error("secrets could not be decrypted")]
    Decrypt,
}

/// What a sealed value belongs to; bound into the ciphertext as associated data.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub space_id: &'a str,
    pub connector_id: &'a str,
    pub type_id: &'a str,
}

impl Binding<'_> {
    /// Each part length-prefixed, so no two different bindings share bytes.
    fn associated_data(&self) -> Vec<u8> {
        let parts = [self.space_id, self.connector_id, self.type_id];
        let mut data = Vec::with_capacity(parts.iter().map(|it| it.len() + 4).sum());
        for part in parts {
            data.extend_from_slice(&(part.len() as u32).to_be_bytes());
            data.extend_from_slice(part.as_bytes());
        }
        data
    }
}

struct DataKey {
    id: [u8; KEY_ID_LEN],
    cipher: Aes256Gcm,
}

impl DataKey {
    fn derive(encryption_key: &str) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"switchboard secrets"), encryption_key.as_bytes());
        let mut key = [0u8; 32];
        let mut id = [0u8; KEY_ID_LEN];
        hkdf.expand(b"aes-256-gcm data key v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        hkdf.expand(b"key id v1", &mut id)
            .expect("4 bytes is a valid HKDF-SHA256 output length");
        Self {
            id,
            cipher: Aes256Gcm::new(&key.into()),
        }
    }
}

/// Seals with the primary key; opens with the primary or any decryption-only key.
pub struct SecretBox {
    primary: DataKey,
    decryption_only: Vec<DataKey>,
}

impl SecretBox {
    /// Derives the data keys. Done once, at start-up.
    pub fn new(encryption_key: &str, decryption_only_keys: &[String]) -> Self {
        Self {
            primary: DataKey::derive(encryption_key),
            decryption_only: decryption_only_keys
                .iter()
                .map(|key| DataKey::derive(key))
                .collect(),
        }
    }

    pub fn seal(&self, binding: Binding<'_>, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = binding.associated_data();
        let ciphertext = self
            .primary
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption only fails for inputs over 64 GiB");
        let mut sealed = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&self.primary.id);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// # Errors
    /// When the value is damaged, belongs to another connector, or was sealed with a
    /// key this server does not have.
    pub fn open(&self, binding: Binding<'_>, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::Truncated)?;
        if version != VERSION {
            return Err(CryptoError::UnknownVersion(version));
        }
        if rest.len() < KEY_ID_LEN + NONCE_LEN {
            return Err(CryptoError::Truncated);
        }
        let (key_id, rest) = rest.split_at(KEY_ID_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let key = std::iter::once(&self.primary)
            .chain(&self.decryption_only)
            .find(|key| key.id == key_id)
            .ok_or(CryptoError::UnknownKey)?;
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &binding.associated_data(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "an encryption key of at least 32 characters";

    fn binding(connector_id: &str) -> Binding<'_> {
        Binding {
            space_id: "default",
            connector_id,
            type_id: ".webhook",
        }
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let secret_box = SecretBox::new(KEY, &[]);
        let sealed = secret_box.seal(binding("a"), b"{\"password\":\"hunter2\"}");
        assert!(!sealed.windows(7).any(|it| it == b"hunter2"));
        assert_eq!(
            secret_box.open(binding("a"), &sealed).unwrap(),
            b"{\"password\":\"hunter2\"}"
        );
    }

    #[test]
    fn value_moved_to_another_connector_does_not_open() {
        let secret_box = SecretBox::new(KEY, &[]);
        let sealed = secret_box.seal(binding("a"), b"secret");
        assert_eq!(
            secret_box.open(binding("b"), &sealed),
            Err(CryptoError::Decrypt)
        );
        let other_space = Binding {
            space_id: "other",
            ..binding("a")
        };
        assert_eq!(
            secret_box.open(other_space, &sealed),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn rotated_keys_still_open_old_values() {
        let old = SecretBox::new(KEY, &[]);
        let sealed = old.seal(binding("a"), b"secret");
        let rotated = SecretBox::new(
            "a brand new key, also 32 characters long",
            &[KEY.to_owned()],
        );
        assert_eq!(rotated.open(binding("a"), &sealed).unwrap(), b"secret");
        let without_old_key = SecretBox::new("a brand new key, also 32 characters long", &[]);
        assert_eq!(
            without_old_key.open(binding("a"), &sealed),
            Err(CryptoError::UnknownKey)
        );
    }

    #[test]
    fn damaged_values_are_refused() {
        let secret_box = SecretBox::new(KEY, &[]);
        let mut sealed = secret_box.seal(binding("a"), b"secret");
        assert_eq!(
            secret_box.open(binding("a"), &sealed[..5]),
            Err(CryptoError::Truncated)
        );
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(
            secret_box.open(binding("a"), &sealed),
            Err(CryptoError::Decrypt)
        );
    }
}
