//! The embedded SQLite backend: one file in the data directory.

use std::{fs::File, path::Path, str::FromStr, sync::Arc};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    ConnectorChange, ConnectorRow, ConnectorSummary, DatabaseSettings, StoreError, cache::RowCache,
    known_spaces::KnownSpaces, run_migrations,
};

const COLUMNS: &str = "id, space_id, type_id, name, config, secrets, is_missing_secrets";

#[derive(Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    cache: Arc<RowCache>,
    /// Spaces known to exist (see `Store::space_exists`); exact, as one process owns
    /// the store.
    pub(super) known_spaces: Arc<KnownSpaces>,
    /// Held while the store is open: one process per data directory. `None` only for
    /// the administration commands beside a running server.
    _lock: Option<Arc<File>>,
}

impl SqliteStore {
    /// Opens the database, taking the data directory's lock. With `shared`, a lock held
    /// by a running server is no obstacle: the administration commands then touch only
    /// users, roles and keys (never cached connectors) and leave migrations to it.
    pub(super) async fn open(
        path: &Path,
        settings: &DatabaseSettings,
        shared: bool,
    ) -> Result<Self, StoreError> {
        let lock = match lock_data_dir(path) {
            Ok(lock) => Some(lock),
            Err(StoreError::Locked(_)) if shared => None,
            Err(error) => return Err(error),
        };
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            // WAL lets readers run beside the one writer; NORMAL is durable across
            // process crashes, which is what WAL needs.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(settings.statement_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.connect_timeout)
            .connect_with(options)
            .await?;
        if lock.is_some() {
            run_migrations(&sqlx::migrate!("./migrations/sqlite"), &pool).await?;
        }
        Ok(Self {
            pool,
            cache: Arc::default(),
            known_spaces: Arc::new(KnownSpaces::new(None)),
            _lock: lock.map(Arc::new),
        })
    }

    pub(super) async fn insert(&self, row: &ConnectorRow) -> Result<(), StoreError> {
        let now = crate::timestamp::iso(std::time::SystemTime::now());
        let (pool, row) = (self.pool.clone(), row.clone());
        let inserted = self.write(&row.id.clone(), async move {
            sqlx::query(
                "INSERT INTO connectors (id, space_id, type_id, name, config, secrets, is_missing_secrets, created_at, updated_at) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM spaces WHERE id = $2)",
            )
            .bind(row.id)
            .bind(row.space_id)
            .bind(row.type_id)
            .bind(row.name)
            .bind(row.config)
            .bind(row.secrets)
            .bind(row.is_missing_secrets)
            .bind(&now)
            .bind(&now)
            .execute(&pool)
            .await
        })
        .await?;
        // Nothing inserted: the space is gone (deleted since the request checked it).
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NoSuchSpace);
        }
        Ok(())
    }

    /// Runs a write to its end even if the request that asked for it goes away, then
    /// forgets the cached row. Forgetting in the request itself would be skipped when
    /// the request is cancelled after SQLite committed, leaving a stale row cached.
    async fn write<T: Send + 'static>(
        &self,
        id: &str,
        write: impl Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let cache = self.cache.clone();
        let id = id.to_owned();
        let outcome = tokio::spawn(async move {
            let outcome = write.await;
            cache.forget(&id);
            outcome
        })
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?;
        Ok(outcome?)
    }

    pub(super) async fn get(
        &self,
        space_id: &str,
        id: &str,
    ) -> Result<Option<ConnectorRow>, StoreError> {
        let generation = match self.cache.get(space_id, id) {
            Ok(row) => return Ok(Some(row)),
            Err(generation) => generation,
        };
        let row: Option<ConnectorRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM connectors WHERE id = ? AND space_id = ?"
        ))
        .bind(id)
        .bind(space_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = &row {
            self.cache.remember(generation, row);
        }
        Ok(row)
    }

    /// One row holding the whole list as a JSON array: sqlx hands SQLite rows over one
    /// by one from its worker thread, which for 100,000 connectors costs more than
    /// reading them; SQLite's own JSON functions make it one hand-over.
    pub(super) async fn list(&self, space_id: &str) -> Result<Vec<ConnectorSummary>, StoreError> {
        let (rows,): (Option<String>,) = sqlx::query_as(
            "SELECT json_group_array(json_array(id, space_id, type_id, name, config, is_missing_secrets)) \
             FROM connectors WHERE space_id = ?",
        )
        .bind(space_id)
        .fetch_one(&self.pool)
        .await?;
        let rows: Vec<(String, String, String, String, String, i64)> =
            serde_json::from_str(rows.as_deref().unwrap_or("[]"))
                .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))?;
        Ok(rows
            .into_iter()
            .map(
                |(id, space_id, type_id, name, config, is_missing_secrets)| ConnectorSummary {
                    id,
                    space_id,
                    type_id,
                    name,
                    config,
                    is_missing_secrets: is_missing_secrets != 0,
                },
            )
            .collect())
    }

    pub(super) async fn update(
        &self,
        space_id: &str,
        id: &str,
        change: &ConnectorChange,
    ) -> Result<bool, StoreError> {
        let now = crate::timestamp::iso(std::time::SystemTime::now());
        let (pool, change) = (self.pool.clone(), change.clone());
        let (key, space_id) = (id.to_owned(), space_id.to_owned());
        let result = self
            .write(id, async move {
                sqlx::query(
                    "UPDATE connectors SET name = ?, config = ?, secrets = ?, is_missing_secrets = 0, updated_at = ? \
                     WHERE id = ? AND space_id = ?",
                )
                .bind(change.name)
                .bind(change.config)
                .bind(change.secrets)
                .bind(now)
                .bind(key)
                .bind(space_id)
                .execute(&pool)
                .await
            })
            .await?;
        Ok(result.rows_affected() == 1)
    }

    pub(super) async fn delete(&self, space_id: &str, id: &str) -> Result<bool, StoreError> {
        let pool = self.pool.clone();
        let (key, space_id) = (id.to_owned(), space_id.to_owned());
        let result = self
            .write(id, async move {
                sqlx::query("DELETE FROM connectors WHERE id = ? AND space_id = ?")
                    .bind(key)
                    .bind(space_id)
                    .execute(&pool)
                    .await
            })
            .await?;
        Ok(result.rows_affected() == 1)
    }
}

impl SqliteStore {
    /// Deletes a space and its connectors in one transaction, then forgets the
    /// space's cached rows (in a task of its own, like every write: see `write`).
    pub(super) async fn delete_space(&self, id: &str) -> Result<bool, StoreError> {
        let (pool, cache, id) = (self.pool.clone(), self.cache.clone(), id.to_owned());
        let known_spaces = self.known_spaces.clone();
        // Forgotten before and after: a lookup in between is not remembered.
        self.known_spaces.forget(&id);
        tokio::spawn(async move {
            let outcome = async {
                let mut transaction = pool.begin().await?;
                sqlx::query("DELETE FROM connectors WHERE space_id = $1")
                    .bind(&id)
                    .execute(&mut *transaction)
                    .await?;
                let result = sqlx::query("DELETE FROM spaces WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok::<_, sqlx::Error>(result.rows_affected() == 1)
            }
            .await;
            cache.forget_space(&id);
            known_spaces.forget(&id);
            outcome
        })
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
        .map_err(StoreError::from)
    }
}

/// Takes an exclusive lock on `<database>.lock` beside the database file, so a second
/// process on the same data directory stops at start instead of serving stale rows.
fn lock_data_dir(database: &Path) -> Result<File, StoreError> {
    let path = database.with_extension("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| StoreError::Locked(format!("cannot open {}: {error}", path.display())))?;
    file.try_lock().map_err(|_| {
        StoreError::Locked(format!(
            "{} is in use by another Switchboard process; each process needs its own path.data (or share PostgreSQL)",
            database.display()
        ))
    })?;
    Ok(file)
}
