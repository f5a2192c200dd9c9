//! Slow salted hashes for passwords and API keys: Argon2id in PHC string form. Both
//! functions are CPU-heavy by design; call them off the async threads.

use std::sync::LazyLock;

use aes_gcm::aead::OsRng;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};

/// Hashes a secret with a fresh salt.
pub fn hash(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("Argon2 with default parameters accepts any input")
        .to_string()
}

/// Whether the secret matches the hash. The comparison is constant-time.
pub fn verify(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Costs as much as [`verify`] and always fails: for unknown users, so that timing
/// does not tell which user names exist.
pub fn verify_nothing(secret: &str) -> bool {
    static NOBODY: LazyLock<String> = LazyLock::new(|| hash("no user has this password"));
    let _ = verify(secret, &NOBODY);
    false
}

/// A random secret of `length` characters from an unambiguous alphabet.
pub fn random_secret(length: usize) -> String {
    use aes_gcm::aead::rand_core::RngCore;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = vec![0u8; length];
    OsRng.fill_bytes(&mut bytes);
    // 256 % 57 leaves a tiny bias; at 24 characters it still gives > 130 bits.
    bytes
        .iter()
        .map(|byte| ALPHABET[usize::from(*byte) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_and_verify() {
        let (first, second) = (hash("s3cret-pass"), hash("s3cret-pass"));
        assert_ne!(first, second, "each hash has its own salt");
        assert!(first.starts_with("$argon2id$"));
        assert!(!first.contains("s3cret-pass"));
        assert!(verify("s3cret-pass", &first));
        assert!(!verify("s3cret-pasS", &first));
        assert!(!verify("s3cret-pass", "not a hash"));
        assert!(!verify_nothing("s3cret-pass"));
    }

    #[test]
    fn random_secrets_have_the_length_asked_for() {
        let secret = random_secret(24);
        assert_eq!(secret.len(), 24);
        assert_ne!(secret, random_secret(24));
    }
}
