//! Browser sessions for the web console: a random id in an `HttpOnly` cookie stands
//! for a user who signed in with their password.
//!
//! Kept in this process's memory, not in the store: a restart signs everybody out,
//! and with several nodes a session works only on the node that made it (a load
//! balancer must keep a browser on one node). Only the id's SHA-256 digest is kept,
//! so a memory dump does not hand out live sessions. The user's rights are read from
//! the store on each request, so a role change applies at once.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// At most this many live sessions; when full, expired ones go, then the oldest.
const CAPACITY: usize = 100_000;

pub struct Sessions {
    /// `security.session.idleTimeout`: a session unused this long is gone.
    idle_timeout: Duration,
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
}

struct Session {
    username: String,
    last_seen: Instant,
}

impl Sessions {
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            by_digest: Mutex::default(),
        }
    }

    /// A new session for this user; the id goes to the browser and nowhere else.
    pub fn create(&self, username: &str) -> String {
        use aes_gcm::aead::{OsRng, rand_core::RngCore};
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut sessions = self.by_digest.lock().expect("never poisoned");
        if sessions.len() >= CAPACITY {
            sessions.retain(|_, it| now.duration_since(it.last_seen) < self.idle_timeout);
            if sessions.len() >= CAPACITY {
                let oldest = sessions
                    .iter()
                    .min_by_key(|(_, it)| it.last_seen)
                    .map(|(digest, _)| *digest);
                if let Some(oldest) = oldest {
                    sessions.remove(&oldest);
                }
            }
        }
        sessions.insert(
            digest(&id),
            Session {
                username: username.to_owned(),
                last_seen: now,
            },
        );
        id
    }

    /// The user of a live session, which counts as use (the idle timer starts again).
    pub fn resolve(&self, id: &str) -> Option<String> {
        let key = digest(id);
        let mut sessions = self.by_digest.lock().expect("never poisoned");
        let session = sessions.get_mut(&key)?;
        if session.last_seen.elapsed() >= self.idle_timeout {
            sessions.remove(&key);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.username.clone())
    }

    /// Ends a session (sign-out). Unknown ids are ignored.
    pub fn end(&self, id: &str) {
        self.by_digest
            .lock()
            .expect("never poisoned")
            .remove(&digest(id));
    }
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_resolve_until_ended_or_idle() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.create("alice");
        assert_eq!(id.len(), 43);
        assert_eq!(sessions.resolve(&id).as_deref(), Some("alice"));
        assert_eq!(sessions.resolve("forged"), None);
        sessions.end(&id);
        assert_eq!(sessions.resolve(&id), None);
        // Unused for as long as the idle timeout allows: gone.
        let lapsing = Sessions::new(Duration::ZERO);
        let id = lapsing.create("bob");
        assert_eq!(lapsing.resolve(&id), None);
    }
}
