//! The PostgreSQL backend, for several nodes sharing one store. Every statement is a
//! single atomic write, so concurrent nodes never see half an update.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    ConnectorChange, ConnectorRow, ConnectorSummary, DatabaseSettings, SUMMARY_COLUMNS, StoreError,
    known_spaces::KnownSpaces, run_migrations,
};

const COLUMNS: &str = "id, space_id, type_id, name, config, secrets, is_missing_secrets";

#[derive(Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
    /// Spaces found recently (see `known_spaces.rs`).
    pub(super) known_spaces: std::sync::Arc<KnownSpaces>,
}

/// How long a PostgreSQL node trusts that a space it found still exists.
const KNOWN_SPACE_TTL: Duration = Duration::from_secs(5);

impl PostgresStore {
    pub(super) async fn open(url: &str, settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis());
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::InvalidUrl)?
            .application_name("switchboard")
            .options([
                ("statement_timeout", statement_timeout.as_str()),
                ("search_path", settings.schema.as_str()),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.connect_timeout)
            .idle_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await?;
        if settings.schema != "public" {
            let created = sqlx::query(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                settings.schema.replace('"', "\"\"")
            ))
            .execute(&pool)
            .await;
            // Two nodes creating it at the same moment: one of them is told it exists.
            match created.map_err(StoreError::from) {
                Ok(_) | Err(StoreError::Conflict) => {}
                Err(error) => return Err(error),
            }
        }
        run_migrations(&sqlx::migrate!("./migrations/postgres"), &pool).await?;
        Ok(Self {
            pool,
            known_spaces: std::sync::Arc::new(KnownSpaces::new(Some(KNOWN_SPACE_TTL))),
        })
    }

    pub(super) async fn insert(&self, row: &ConnectorRow) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO connectors (id, space_id, type_id, name, config, secrets, is_missing_secrets) \
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM spaces WHERE id = $2)",
        )
        .bind(&row.id)
        .bind(&row.space_id)
        .bind(&row.type_id)
        .bind(&row.name)
        .bind(&row.config)
        .bind(&row.secrets)
        .bind(row.is_missing_secrets)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NoSuchSpace);
        }
        Ok(())
    }

    pub(super) async fn get(
        &self,
        space_id: &str,
        id: &str,
    ) -> Result<Option<ConnectorRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM connectors WHERE id = $1 AND space_id = $2"
        ))
        .bind(id)
        .bind(space_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(super) async fn list(&self, space_id: &str) -> Result<Vec<ConnectorSummary>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM connectors WHERE space_id = $1"
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
        let result = sqlx::query(
            "UPDATE connectors SET name = $1, config = $2, secrets = $3, is_missing_secrets = FALSE, updated_at = now() \
             WHERE id = $4 AND space_id = $5",
        )
        .bind(&change.name)
        .bind(&change.config)
        .bind(&change.secrets)
        .bind(id)
        .bind(space_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub(super) async fn delete(&self, space_id: &str, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM connectors WHERE id = $1 AND space_id = $2")
            .bind(id)
            .bind(space_id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
