//! Users, roles, API keys and spaces. The same SQL serves both backends (`$n`
//! placeholders work in SQLite too); only connector deletion with a space needs each
//! backend's own code, for SQLite's row cache.

use super::{Store, StoreError};

/// A user of the native realm. `roles` is a JSON array of role names.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub username: String,
    pub password_hash: String,
    pub roles: String,
    pub full_name: Option<String>,
    pub enabled: bool,
}

/// A role: its name and body in Kibana's role API shape, as JSON text.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleRow {
    pub name: String,
    pub body: String,
}

/// An API key. Times are epoch milliseconds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub username: String,
    pub role_descriptors: String,
    pub limited_by: String,
    pub metadata: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub invalidated_at: Option<i64>,
}

/// A space: its id and its attributes as Kibana's Spaces API shows them, as JSON text.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SpaceRow {
    pub id: String,
    pub attributes: String,
}

const API_KEY_COLUMNS: &str = "id, name, key_hash, username, role_descriptors, limited_by, metadata, created_at, expires_at, invalidated_at";

fn now_millis() -> i64 {
    crate::timestamp::epoch_millis(std::time::SystemTime::now())
}

impl Store {
    /// # Errors
    /// On database failure.
    pub async fn count_users(&self) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await?;
            Ok(count)
        })
    }

    /// # Errors
    /// On database failure.
    pub async fn user(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT username, password_hash, roles, full_name, enabled FROM users WHERE username = $1"
        )
        .bind(username)
        .fetch_optional(pool)
        .await?)
        })
    }

    /// # Errors
    /// On database failure.
    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT username, password_hash, roles, full_name, enabled FROM users ORDER BY username"
        )
        .fetch_all(pool)
        .await?))
    }

    /// # Errors
    /// [`StoreError::Conflict`] when the user exists.
    pub async fn insert_user(&self, user: &UserRow) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO users (username, password_hash, roles, full_name, enabled, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&user.username)
            .bind(&user.password_hash)
            .bind(&user.roles)
            .bind(&user.full_name)
            .bind(user.enabled)
            .bind(now_millis())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Replaces a user's password hash, roles, name and enabled flag. False when
    /// there is no such user.
    ///
    /// # Errors
    /// On database failure.
    pub async fn update_user(&self, user: &UserRow) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let result = sqlx::query(
                "UPDATE users SET password_hash = $1, roles = $2, full_name = $3, enabled = $4 \
                 WHERE username = $5",
            )
            .bind(&user.password_hash)
            .bind(&user.roles)
            .bind(&user.full_name)
            .bind(user.enabled)
            .bind(&user.username)
            .execute(pool)
            .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    /// # Errors
    /// On database failure.
    pub async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let result = sqlx::query("DELETE FROM users WHERE username = $1")
                .bind(username)
                .execute(pool)
                .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    /// # Errors
    /// On database failure.
    pub async fn roles(&self) -> Result<Vec<RoleRow>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT name, body FROM roles ORDER BY name"
        )
        .fetch_all(pool)
        .await?))
    }

    /// Creates or replaces a role.
    ///
    /// # Errors
    /// On database failure.
    pub async fn put_role(&self, role: &RoleRow) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO roles (name, body, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            )
            .bind(&role.name)
            .bind(&role.body)
            .bind(now_millis())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// # Errors
    /// On database failure.
    pub async fn delete_role(&self, name: &str) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let result = sqlx::query("DELETE FROM roles WHERE name = $1")
                .bind(name)
                .execute(pool)
                .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    /// # Errors
    /// On database failure.
    pub async fn insert_api_key(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(&format!(
                "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ))
            .bind(&key.id)
            .bind(&key.name)
            .bind(&key.key_hash)
            .bind(&key.username)
            .bind(&key.role_descriptors)
            .bind(&key.limited_by)
            .bind(&key.metadata)
            .bind(key.created_at)
            .bind(key.expires_at)
            .bind(key.invalidated_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// # Errors
    /// On database failure.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    /// Every API key, oldest first.
    ///
    /// # Errors
    /// On database failure.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
        ))
        .fetch_all(pool)
        .await?))
    }

    /// Marks a key invalidated; false when it was already (or does not exist).
    ///
    /// # Errors
    /// On database failure.
    pub async fn invalidate_api_key(&self, id: &str) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let result = sqlx::query(
                "UPDATE api_keys SET invalidated_at = $1 WHERE id = $2 AND invalidated_at IS NULL",
            )
            .bind(now_millis())
            .bind(id)
            .execute(pool)
            .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    /// # Errors
    /// On database failure.
    pub async fn spaces(&self) -> Result<Vec<SpaceRow>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT id, attributes FROM spaces"
        )
        .fetch_all(pool)
        .await?))
    }

    /// # Errors
    /// On database failure.
    pub async fn space(&self, id: &str) -> Result<Option<SpaceRow>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT id, attributes FROM spaces WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    /// Whether a space exists; spaces found are remembered (see `known_spaces.rs`).
    ///
    /// # Errors
    /// On database failure.
    pub async fn space_exists(&self, id: &str) -> Result<bool, StoreError> {
        let known_spaces = match self {
            Self::Sqlite(store) => &store.known_spaces,
            Self::Postgres(store) => &store.known_spaces,
        };
        let generation = match known_spaces.lookup(id) {
            Ok(()) => return Ok(true),
            Err(generation) => generation,
        };
        let found = on_pool!(self, |pool| {
            let found: Option<(String,)> = sqlx::query_as("SELECT id FROM spaces WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok::<_, StoreError>(found.is_some())
        })?;
        if found {
            known_spaces.remember(id, generation);
        }
        Ok(found)
    }

    /// # Errors
    /// [`StoreError::Conflict`] when the id is taken.
    pub async fn insert_space(&self, space: &SpaceRow) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO spaces (id, attributes, created_at) VALUES ($1, $2, $3)")
                .bind(&space.id)
                .bind(&space.attributes)
                .bind(now_millis())
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// False when there is no such space.
    ///
    /// # Errors
    /// On database failure.
    pub async fn update_space(&self, space: &SpaceRow) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let result = sqlx::query("UPDATE spaces SET attributes = $1 WHERE id = $2")
                .bind(&space.attributes)
                .bind(&space.id)
                .execute(pool)
                .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    /// Deletes a space and every connector in it, in one transaction. False when
    /// there is no such space.
    ///
    /// # Errors
    /// On database failure.
    pub async fn delete_space(&self, id: &str) -> Result<bool, StoreError> {
        match self {
            Self::Sqlite(store) => store.delete_space(id).await,
            Self::Postgres(store) => {
                store.known_spaces.forget(id);
                let mut transaction = store.pool.begin().await?;
                sqlx::query("DELETE FROM connectors WHERE space_id = $1")
                    .bind(id)
                    .execute(&mut *transaction)
                    .await?;
                let result = sqlx::query("DELETE FROM spaces WHERE id = $1")
                    .bind(id)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                store.known_spaces.forget(id);
                Ok(result.rows_affected() == 1)
            }
        }
    }
}
