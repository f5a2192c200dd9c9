//! Slow salted hashes for passwords and API keys: Argon2id in PHC string form.
//!
//! Each hash takes milliseconds of CPU and 7 MiB of memory on purpose, so the async
//! functions run them on the blocking pool, at most one per core at a time: a flood
//! of logins (or of wrong passwords) queues up instead of taking all memory.

use std::sync::LazyLock;

use aes_gcm::aead::OsRng;
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use tokio::sync::Semaphore;

/// Argon2id with 7 MiB and 5 passes: one of OWASP's equivalent recommended settings,
/// the one with the least memory. Hashes keep their parameters, so verifying works
/// whatever they were made with.
fn argon2() -> Argon2<'static> {
    let params = Params::new(7 * 1024, 5, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a secret with a fresh salt.
pub fn hash(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(secret.as_bytes(), &salt)
        .expect("Argon2 with valid parameters accepts any input")
        .to_string()
}

/// Whether the secret matches the hash. The comparison is constant-time.
pub fn verify(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| argon2().verify_password(secret.as_bytes(), &parsed).is_ok())
}

/// One hash at a time per core.
static SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)));

/// [`verify`] (or, with no hash, [`verify_nothing`]) on the blocking pool.
pub async fn verify_off_thread(secret: String, hash: Option<String>) -> bool {
    // The slot goes with the work: a client that hangs up does not free it early.
    let slot = SLOTS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        match hash {
            Some(hash) => verify(&secret, &hash),
            None => verify_nothing(&secret),
        }
    })
    .await
    .unwrap_or(false)
}

/// [`hash`] on the blocking pool.
pub async fn hash_off_thread(secret: String) -> String {
    let slot = SLOTS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        hash(&secret)
    })
    .await
    .expect("hashing does not panic")
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
