//! Spaces known to exist, so requests under `/s/<id>/` need not ask the database each
//! time. Exact for SQLite, which one process owns; for PostgreSQL, shared by nodes
//! that may delete a space, an entry is trusted for a few seconds only (connectors are
//! never written into a deleted space whatever this says: the insert itself checks).
//! A generation counter, bumped by every deletion, keeps a lookup that raced a
//! deletion from remembering what it read.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// At most this many space ids are remembered; when full, it starts over.
const CAPACITY: usize = 10_000;

pub struct KnownSpaces {
    /// How long an entry is trusted; `None`: until this process deletes the space.
    ttl: Option<Duration>,
    inner: Mutex<(HashMap<String, Instant>, u64)>,
}

impl KnownSpaces {
    pub fn new(ttl: Option<Duration>) -> Self {
        Self {
            ttl,
            inner: Mutex::default(),
        }
    }

    /// Whether the space is known; else the generation to hand to `remember`.
    pub fn lookup(&self, id: &str) -> Result<(), u64> {
        let known = self.inner.lock().expect("never poisoned");
        match (known.0.get(id), self.ttl) {
            (Some(_), None) => Ok(()),
            (Some(at), Some(ttl)) if at.elapsed() < ttl => Ok(()),
            _ => Err(known.1),
        }
    }

    pub fn remember(&self, id: &str, generation: u64) {
        let mut known = self.inner.lock().expect("never poisoned");
        if known.1 != generation {
            return;
        }
        if known.0.len() >= CAPACITY {
            known.0.clear();
        }
        known.0.insert(id.to_owned(), Instant::now());
    }

    /// Call before and after a space is deleted.
    pub fn forget(&self, id: &str) {
        let mut known = self.inner.lock().expect("never poisoned");
        known.0.remove(id);
        known.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_space_lookup_that_raced_a_deletion_is_not_remembered() {
        let known = KnownSpaces::new(None);
        let generation = known.lookup("ops").unwrap_err();
        // The space is deleted between the lookup and the remember...
        known.forget("ops");
        known.remember("ops", generation);
        assert!(known.lookup("ops").is_err());
        // ...while an undisturbed lookup is remembered until the next deletion.
        let generation = known.lookup("ops").unwrap_err();
        known.remember("ops", generation);
        assert_eq!(known.lookup("ops"), Ok(()));
        known.forget("ops");
        assert!(known.lookup("ops").is_err());
    }

    #[test]
    fn with_a_time_to_live_entries_lapse() {
        let known = KnownSpaces::new(Some(Duration::ZERO));
        let generation = known.lookup("ops").unwrap_err();
        known.remember("ops", generation);
        assert!(known.lookup("ops").is_err());
    }
}
