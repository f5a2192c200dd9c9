//! Where connectors live. SQLite is the embedded default; every backend offers the
//! same operations with the same meaning.
//!
//! The store knows SQL and nothing about connector types or HTTP. Secrets reach it
//! already sealed.

/// Runs the same statements (one SQL text for both backends) on whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite(store) => {
                let $pool = &store.pool;
                $body
            }
            Store::Postgres(store) => {
                let $pool = &store.pool;
                $body
            }
        }
    };
}

mod cache;
mod execution_log;
mod known_spaces;
mod postgres;
mod queue;
mod security;
mod sqlite;

use std::{path::Path, time::Duration};

use sqlx::migrate::{Migrate, MigrateError, Migrator};

pub use self::{
    execution_log::{LogEntryRow, LogField, LogFilter, LogQuery, LogSort, OutcomeCounts},
    postgres::PostgresStore,
    queue::{ClaimedExecution, ExecutionRow, Finish, NewExecution},
    security::{ApiKeyRow, RoleRow, SpaceRow, UserRow},
    sqlite::SqliteStore,
};

/// How to reach the store: `database.*` settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `postgres://...` selects PostgreSQL; `None` keeps the embedded SQLite file.
    pub url: Option<String>,
    /// The PostgreSQL schema the tables live in (created if missing).
    pub schema: String,
    pub max_connections: u32,
    /// How long to wait for a connection before answering 503.
    pub connect_timeout: Duration,
    /// The longest one statement may run (PostgreSQL).
    pub statement_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            schema: "public".to_owned(),
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

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

/// A stored connector as lists show it: without its secrets, which listing never needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectorSummary {
    pub id: String,
    pub space_id: String,
    pub type_id: String,
    pub name: String,
    pub config: String,
    pub is_missing_secrets: bool,
}

const SUMMARY_COLUMNS: &str = "id, space_id, type_id, name, config, is_missing_secrets";

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
    /// The space a connector was to be written into does not exist (any more).
    #[error("the space does not exist")]
    NoSuchSpace,
    /// The database cannot be reached or is refusing work now; trying later may help.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("database.url is not a valid database URL")]
    InvalidUrl,
    #[error("{0}")]
    Locked(String),
    #[error(
        "the database schema is at version {applied}, newer than this binary knows (up to {known}): run a newer Switchboard"
    )]
    SchemaTooNew { applied: i64, known: i64 },
    #[error("database migration failed")]
    Migrate(#[source] MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::Error;
        match &error {
            Error::Database(database) if database.is_unique_violation() => Self::Conflict,
            Error::PoolTimedOut
            | Error::PoolClosed
            | Error::Io(_)
            | Error::Tls(_)
            | Error::WorkerCrashed => Self::Unavailable(error),
            // PostgreSQL's connection exceptions (08), operator interventions such as a
            // shutdown or a statement timeout (57), too many connections (53300), a
            // read-only server during a fail-over (25006); SQLite's busy and locked,
            // whose extended codes keep the primary code in the low byte (5, 6).
            Error::Database(database)
                if database.code().is_some_and(|code| {
                    code.starts_with("08")
                        || code.starts_with("57")
                        || code == "53300"
                        || code == "25006"
                        || code
                            .parse::<u32>()
                            .is_ok_and(|it| matches!(it & 0xff, 5 | 6))
                }) =>
            {
                Self::Unavailable(error)
            }
            _ => Self::Database(error),
        }
    }
}

impl From<MigrateError> for StoreError {
    fn from(error: MigrateError) -> Self {
        match error {
            MigrateError::Execute(error) => error.into(),
            other => Self::Migrate(other),
        }
    }
}

/// Applies the migrations the binary knows. A database migrated by a newer binary is
/// refused rather than used with a schema this one does not understand.
async fn run_migrations<'a, A>(migrator: &Migrator, connection: A) -> Result<(), StoreError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: Migrate,
{
    match migrator.run(connection).await {
        Err(MigrateError::VersionMissing(applied)) => Err(StoreError::SchemaTooNew {
            applied,
            known: migrator.iter().map(|it| it.version).max().unwrap_or(0),
        }),
        other => Ok(other?),
    }
}

/// The storage backend in use.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Store {
    /// Opens the store the settings name (PostgreSQL with `database.url`, else the
    /// SQLite file in the data directory) and applies migrations.
    ///
    /// # Errors
    /// When the database cannot be reached, opened or migrated.
    pub async fn open(settings: &DatabaseSettings, data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_as(settings, data_dir, false).await
    }

    /// Opens the store for the administration commands (users, roles, API keys),
    /// which may run beside a server that holds the SQLite data directory.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub async fn open_for_admin(
        settings: &DatabaseSettings,
        data_dir: &Path,
    ) -> Result<Self, StoreError> {
        Self::open_as(settings, data_dir, true).await
    }

    async fn open_as(
        settings: &DatabaseSettings,
        data_dir: &Path,
        shared: bool,
    ) -> Result<Self, StoreError> {
        match &settings.url {
            Some(url) => Ok(Self::Postgres(PostgresStore::open(url, settings).await?)),
            None => Ok(Self::Sqlite(
                SqliteStore::open(&data_dir.join("switchboard.db"), settings, shared).await?,
            )),
        }
    }

    /// Which backend this is, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// # Errors
    /// [`StoreError::Conflict`] when the id exists in any space.
    pub async fn insert(&self, row: &ConnectorRow) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(store) => store.insert(row).await,
            Self::Postgres(store) => store.insert(row).await,
        }
    }

    /// # Errors
    /// On database failure.
    pub async fn get(&self, space_id: &str, id: &str) -> Result<Option<ConnectorRow>, StoreError> {
        match self {
            Self::Sqlite(store) => store.get(space_id, id).await,
            Self::Postgres(store) => store.get(space_id, id).await,
        }
    }

    /// Every connector of a space, in no particular order.
    ///
    /// # Errors
    /// On database failure.
    pub async fn list(&self, space_id: &str) -> Result<Vec<ConnectorSummary>, StoreError> {
        match self {
            Self::Sqlite(store) => store.list(space_id).await,
            Self::Postgres(store) => store.list(space_id).await,
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
            Self::Postgres(store) => store.update(space_id, id, change).await,
        }
    }

    /// Returns false when there is no such connector in the space.
    ///
    /// # Errors
    /// On database failure.
    pub async fn delete(&self, space_id: &str, id: &str) -> Result<bool, StoreError> {
        match self {
            Self::Sqlite(store) => store.delete(space_id, id).await,
            Self::Postgres(store) => store.delete(space_id, id).await,
        }
    }
}
