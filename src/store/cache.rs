//! Rows recently read, kept in memory so `_execute` does not go to SQLite each time.
//!
//! Only for the embedded SQLite store, which one process owns (the data directory is
//! locked): every write passes through this process, so the cache can be kept exact.
//! PostgreSQL, shared by several nodes, has no cache at all.

use std::{collections::HashMap, sync::Mutex};

use super::ConnectorRow;

/// At most this many rows are kept; when full, it starts over (a hot set refills fast).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct RowCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rows: HashMap<String, ConnectorRow>,
    /// Bumped by every write, so a read that raced a write does not cache what it read.
    generation: u64,
}

impl RowCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("the row cache lock is never poisoned")
    }

    /// The cached row for this id in this space, and the generation to hand back to
    /// [`RowCache::remember`] after reading the database on a miss.
    pub fn get(&self, space_id: &str, id: &str) -> Result<ConnectorRow, u64> {
        let inner = self.lock();
        match inner.rows.get(id) {
            Some(row) if row.space_id == space_id => Ok(row.clone()),
            _ => Err(inner.generation),
        }
    }

    /// Keeps a row read from the database, unless a write happened since `generation`.
    pub fn remember(&self, generation: u64, row: &ConnectorRow) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.rows.len() >= CAPACITY {
            inner.rows.clear();
        }
        inner.rows.insert(row.id.clone(), row.clone());
    }

    /// Call after every write of this id has reached the database.
    pub fn forget(&self, id: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.rows.remove(id);
    }

    /// Call after a space and its connectors were deleted.
    pub fn forget_space(&self, space_id: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.rows.retain(|_, row| row.space_id != space_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str) -> ConnectorRow {
        ConnectorRow {
            id: id.to_owned(),
            space_id: "default".to_owned(),
            type_id: ".server-log".to_owned(),
            name: name.to_owned(),
            config: "{}".to_owned(),
            secrets: Vec::new(),
            is_missing_secrets: false,
        }
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let cache = RowCache::default();
        let generation = cache.get("default", "a").unwrap_err();
        // A write lands between the read and the remember...
        cache.forget("a");
        cache.remember(generation, &row("a", "stale"));
        assert!(cache.get("default", "a").is_err());
    }

    #[test]
    fn rows_are_kept_per_space_until_written() {
        let cache = RowCache::default();
        let generation = cache.get("default", "a").unwrap_err();
        cache.remember(generation, &row("a", "fresh"));
        assert_eq!(cache.get("default", "a").unwrap().name, "fresh");
        assert!(cache.get("other", "a").is_err());
        cache.forget("a");
        assert!(cache.get("default", "a").is_err());
    }
}
