//! The embedded SQLite backend: one file in the data directory.

use std::{path::Path, str::FromStr};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{ConnectorChange, ConnectorRow, DatabaseSettings, StoreError, run_migrations};

const COLUMNS: &str = "id, space_id, type_id, name, config, secrets, is_missing_secrets";

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub(super) async fn open(path: &Path, settings: &DatabaseSettings) -> Result<Self, StoreError> {
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
        run_migrations(&sqlx::migrate!("./migrations/sqlite"), &pool).await?;
        Ok(Self { pool })
    }

    pub(super) async fn insert(&self, row: &ConnectorRow) -> Result<(), StoreError> {
        let now = crate::timestamp::iso(std::time::SystemTime::now());
        sqlx::query(
            "INSERT INTO connectors (id, space_id, type_id, name, config, secrets, is_missing_secrets, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.space_id)
        .bind(&row.type_id)
        .bind(&row.name)
        .bind(&row.config)
        .bind(&row.secrets)
        .bind(row.is_missing_secrets)
        .bind(&now)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn get(
        &self,
        space_id: &str,
        id: &str,
    ) -> Result<Option<ConnectorRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM connectors WHERE id = ? AND space_id = ?"
        ))
        .bind(id)
        .bind(space_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(super) async fn list(&self, space_id: &str) -> Result<Vec<ConnectorRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM connectors WHERE space_id = ?"
        ))
        .bind(space_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn update(
        &self,
        space_id: &str,
        id: &str,
        change: &ConnectorChange,
    ) -> Result<bool, StoreError> {
        let now = crate::timestamp::iso(std::time::SystemTime::now());
        let result = sqlx::query(
            "UPDATE connectors SET name = ?, config = ?, secrets = ?, is_missing_secrets = 0, updated_at = ? \
             WHERE id = ? AND space_id = ?",
        )
        .bind(&change.name)
        .bind(&change.config)
        .bind(&change.secrets)
        .bind(&now)
        .bind(id)
        .bind(space_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub(super) async fn delete(&self, space_id: &str, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM connectors WHERE id = ? AND space_id = ?")
            .bind(id)
            .bind(space_id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
