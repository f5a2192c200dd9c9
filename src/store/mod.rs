//! Where connectors live. SQLite is the embedded default; every backend offers the
//! same operations with the same meaning.
//!
//! The store knows SQL and nothing about connector types or HTTP. Secrets reach it
//! already sealed.

mod sqlite;

use std::path::Path;

pub use self::sqlite::SqliteStore;

/// A stored connector. `secrets` is the sealed value, opened only to execute.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectorRow {
    pub id: String,
    pub space_id: String,
    pub type_id: String,
    pub name: String,
    /// The validated config, as JSON text.
    pub config: String,
    pub secrets: Vec<u8>,
    pub is_missing_secrets: bool,
}

/// What an update may change: everything but the id, space and type.
#[derive(Debug, Clone)]
pub struct ConnectorChange {
    pub name: String,
    pub config: String,
    pub secrets: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The id is taken (in any space: ids are global, as in Kibana).
    #[error("a connector with this id already exists")]
    Conflict,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The storage backend in use.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
}

impl Store {
    /// Opens (creating if needed) the SQLite database in the data directory and
    /// applies migrations.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self::Sqlite(
            SqliteStore::open(&data_dir.join("switchboard.db")).await?,
        ))
    }

    /// # Errors
    /// [`StoreError::Conflict`] when the id exists in any space.
    pub async fn insert(&self, row: &ConnectorRow) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(store) => store.insert(row).await,
        }
    }

    /// # Errors
    /// On database failure.
    pub async fn get(&self, space_id: &str, id: &str) -> Result<Option<ConnectorRow>, StoreError> {
        match self {
            Self::Sqlite(store) => store.get(space_id, id).await,
        }
    }

    /// Every connector of a space, in no particular order.
    ///
    /// # Errors
    /// On database failure.
    pub async fn list(&self, space_id: &str) -> Result<Vec<ConnectorRow>, StoreError> {
        match self {
            Self::Sqlite(store) => store.list(space_id).await,
        }
    }

    /// Returns false when there is no such connector in the space.
    ///
    /// # Errors
    /// On database failure.
    pub async fn update(
        &self,
        space_id: &str,
        id: &str,
        change: &ConnectorChange,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Sqlite(store) => store.update(space_id, id, change).await,
        }
    }

    /// Returns false when there is no such connector in the space.
    ///
    /// # Errors
    /// On database failure.
    pub async fn delete(&self, space_id: &str, id: &str) -> Result<bool, StoreError> {
        match self {
            Self::Sqlite(store) => store.delete(space_id, id).await,
        }
    }
}
