//! Managing users, roles and API keys: used by the CLI, by start-up (the first
//! superuser) and by the API key routes.

use std::{sync::LazyLock, time::Duration};

use serde_json::{Value, json};

use super::{
    Principal, SUPERUSER_ROLE, Security, credentials, now_millis, password::hash_off_thread,
    principal::limited_by_snapshot,
};
use crate::{
    schema::{Schema, any, array, boolean, maybe, object, one_of, record, string},
    store::{ApiKeyRow, RoleRow, StoreError, UserRow},
};

#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `POST /_security/api_key` (or `switchboard api-keys create`) asks for.
pub struct ApiKeyRequest {
    pub name: String,
    pub expiration: Option<Duration>,
    /// Elasticsearch role descriptors by name; empty: the owner's privileges.
    pub role_descriptors: Value,
    pub metadata: Value,
}

/// A new key, the one time its secret is shown.
pub struct CreatedApiKey {
    pub id: String,
    pub name: String,
    pub expiration: Option<i64>,
    pub api_key: String,
    pub encoded: String,
}

/// The minimum Elasticsearch asks of a password.
const MIN_PASSWORD_LENGTH: usize = 6;

fn string_or_strings() -> Schema {
    one_of([string(), array(string())])
}

/// A role in the shape of Kibana's role API (`PUT /api/security/role/{name}`).
static KIBANA_ROLE: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("description", maybe(string())),
        ("metadata", maybe(record(any()))),
        ("transient_metadata", maybe(record(any()))),
        (
            "elasticsearch",
            object([
                ("cluster", array(string()).default(json!([]))),
                ("indices", array(index_privileges()).default(json!([]))),
                ("remote_indices", maybe(array(any()))),
                ("run_as", array(string()).default(json!([]))),
            ])
            .default(json!({})),
        ),
        (
            "kibana",
            array(object([
                ("base", array(string()).default(json!([]))),
                ("feature", record(array(string())).default(json!({}))),
                (
                    "spaces",
                    array(string()).default(json!(["*"])).check(at_least_one),
                ),
            ]))
            .default(json!([])),
        ),
    ])
});

/// One of Elasticsearch's role descriptors, as API keys take them.
pub(crate) static ROLE_DESCRIPTOR: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("cluster", array(string()).default(json!([]))),
        ("indices", array(index_privileges()).default(json!([]))),
        (
            "applications",
            array(object([
                ("application", string()),
                ("privileges", array(string())),
                ("resources", array(string())),
            ]))
            .default(json!([])),
        ),
        ("run_as", array(string()).default(json!([]))),
        ("metadata", maybe(record(any()))),
        ("transient_metadata", maybe(record(any()))),
        ("description", maybe(string())),
        ("remote_indices", maybe(array(any()))),
        ("remote_cluster", maybe(array(any()))),
        ("restriction", maybe(any())),
    ])
});

/// config-schema's `minSize: 1` message.
fn at_least_one(value: &Value) -> Result<(), String> {
    match value.as_array() {
        Some(items) if items.is_empty() => {
            Err("array size is [0], but cannot be smaller than [1]".to_owned())
        }
        _ => Ok(()),
    }
}

fn index_privileges() -> Schema {
    object([
        ("names", string_or_strings()),
        ("privileges", array(string())),
        ("field_security", maybe(record(any()))),
        ("query", maybe(any())),
        ("allow_restricted_indices", maybe(boolean())),
    ])
}

/// Checks a role body (Kibana's role API shape); returns it with defaults filled in.
///
/// # Errors
/// The schema's message, e.g. `[kibana.0.spaces]: expected value of type [array] ...`.
pub fn validate_role(body: &Value) -> Result<Value, String> {
    KIBANA_ROLE
        .validate(body)
        .map_err(|error| error.to_string())
}

/// Elasticsearch's rules for user and role names: 1 to 507 printable ASCII
/// characters, no space at either end. A `:` would break Basic authentication.
fn check_name(kind: &str, name: &str) -> Result<(), ManagementError> {
    let valid = (1..=507).contains(&name.len())
        && name.bytes().all(|it| (b' '..=b'~').contains(&it))
        && name.trim() == name
        && !name.contains(':');
    if valid {
        Ok(())
    } else {
        Err(ManagementError::Invalid(format!(
            "invalid {kind} name [{name}]: use 1 to 507 printable ASCII characters without ':' and without spaces at either end"
        )))
    }
}

fn check_password(password: &str) -> Result<(), ManagementError> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(ManagementError::Invalid(format!(
            "passwords must be at least [{MIN_PASSWORD_LENGTH}] characters long"
        )));
    }
    Ok(())
}

impl Security {
    /// On a store with no users, creates the superuser `elastic`, with `password` or
    /// a random one. Returns the random password, which the caller shows once.
    ///
    /// # Errors
    /// On store failure, or a given password that is too short.
    pub async fn bootstrap(
        &self,
        password: Option<&str>,
    ) -> Result<Option<String>, ManagementError> {
        if !self.enabled || self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let generated = password.is_none().then(|| super::random_secret(24));
        let chosen = password.or(generated.as_deref()).unwrap_or_default();
        check_password(chosen)?;
        let user = UserRow {
            username: "elastic".to_owned(),
            password_hash: hash_off_thread(chosen.to_owned()).await,
            roles: json!([SUPERUSER_ROLE]).to_string(),
            full_name: None,
            enabled: true,
        };
        match self.store.insert_user(&user).await {
            Ok(()) => Ok(generated),
            // Another node sharing the store made it first.
            Err(StoreError::Conflict) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// # Errors
    /// Invalid name or password, an existing user, or store failure.
    pub async fn add_user(
        &self,
        username: &str,
        password: &str,
        roles: &[String],
    ) -> Result<(), ManagementError> {
        check_name("user", username)?;
        check_password(password)?;
        let user = UserRow {
            username: username.to_owned(),
            password_hash: hash_off_thread(password.to_owned()).await,
            roles: json!(roles).to_string(),
            full_name: None,
            enabled: true,
        };
        self.store
            .insert_user(&user)
            .await
            .map_err(|error| match error {
                StoreError::Conflict => {
                    ManagementError::Conflict(format!("user [{username}] already exists"))
                }
                other => other.into(),
            })
    }

    async fn existing_user(&self, username: &str) -> Result<UserRow, ManagementError> {
        self.store
            .user(username)
            .await?
            .ok_or_else(|| ManagementError::NotFound(format!("user [{username}] does not exist")))
    }

    /// # Errors
    /// No such user, a short password, or store failure.
    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(), ManagementError> {
        check_password(password)?;
        let mut user = self.existing_user(username).await?;
        user.password_hash = hash_off_thread(password.to_owned()).await;
        self.store.update_user(&user).await?;
        self.forget_verified();
        Ok(())
    }

    /// # Errors
    /// No such user, or store failure.
    pub async fn set_roles(&self, username: &str, roles: &[String]) -> Result<(), ManagementError> {
        let mut user = self.existing_user(username).await?;
        user.roles = json!(roles).to_string();
        self.store.update_user(&user).await?;
        self.forget_verified();
        Ok(())
    }

    /// # Errors
    /// No such user, or store failure.
    pub async fn delete_user(&self, username: &str) -> Result<(), ManagementError> {
        if !self.store.delete_user(username).await? {
            return Err(ManagementError::NotFound(format!(
                "user [{username}] does not exist"
            )));
        }
        self.forget_verified();
        Ok(())
    }

    /// # Errors
    /// On store failure.
    pub async fn users(&self) -> Result<Vec<UserRow>, ManagementError> {
        Ok(self.store.users().await?)
    }

    /// Creates or replaces a role.
    ///
    /// # Errors
    /// A reserved or invalid name, an invalid body, or store failure.
    pub async fn put_role(&self, name: &str, body: &Value) -> Result<(), ManagementError> {
        check_name("role", name)?;
        if name == SUPERUSER_ROLE {
            return Err(ManagementError::Invalid(format!(
                "Role [{name}] is reserved and may not be used."
            )));
        }
        let body = validate_role(body).map_err(|message| {
            ManagementError::Invalid(format!("invalid role [{name}]: {message}"))
        })?;
        self.store
            .put_role(&RoleRow {
                name: name.to_owned(),
                body: body.to_string(),
            })
            .await?;
        self.forget_verified();
        Ok(())
    }

    /// # Errors
    /// No such role, or store failure.
    pub async fn delete_role(&self, name: &str) -> Result<(), ManagementError> {
        if !self.store.delete_role(name).await? {
            return Err(ManagementError::NotFound(format!(
                "role [{name}] does not exist"
            )));
        }
        self.forget_verified();
        Ok(())
    }

    /// # Errors
    /// On store failure.
    pub async fn roles(&self) -> Result<Vec<RoleRow>, ManagementError> {
        Ok(self.store.roles().await?)
    }

    /// Makes an API key owned by a user, limited for its whole life by the user's
    /// roles as they are now (and by its own role descriptors, if any).
    ///
    /// # Errors
    /// No such user, invalid descriptors, or store failure.
    pub async fn create_api_key_for(
        &self,
        username: &str,
        request: ApiKeyRequest,
    ) -> Result<CreatedApiKey, ManagementError> {
        let user = self.existing_user(username).await?;
        let roles: Vec<String> = serde_json::from_str(&user.roles).unwrap_or_default();
        self.create_api_key(&user.username, &roles, request).await
    }

    /// Makes an API key owned by the caller (a user, not another key), limited by
    /// the user's roles as stored now: not as remembered with the login, which may be
    /// up to [`super::CACHE_TTL`] old.
    ///
    /// # Errors
    /// The user is gone, invalid descriptors, or store failure.
    pub async fn create_api_key_as(
        &self,
        owner: &Principal,
        request: ApiKeyRequest,
    ) -> Result<CreatedApiKey, ManagementError> {
        self.create_api_key_for(&owner.username, request).await
    }

    async fn create_api_key(
        &self,
        username: &str,
        roles: &[String],
        request: ApiKeyRequest,
    ) -> Result<CreatedApiKey, ManagementError> {
        for (name, descriptor) in request.role_descriptors.as_object().into_iter().flatten() {
            ROLE_DESCRIPTOR.validate(descriptor).map_err(|error| {
                ManagementError::Invalid(format!("failed to parse role [{name}]: {error}"))
            })?;
        }
        let limited_by = limited_by_snapshot(roles, &self.role_bodies(roles).await?);
        let (id, key) = credentials::new_api_key();
        let created_at = now_millis();
        let expiration = request
            .expiration
            .map(|it| created_at.saturating_add(i64::try_from(it.as_millis()).unwrap_or(i64::MAX)));
        let row = ApiKeyRow {
            id: id.clone(),
            name: request.name.clone(),
            key_hash: hash_off_thread(key.clone()).await,
            username: username.to_owned(),
            role_descriptors: request.role_descriptors.to_string(),
            limited_by: limited_by.to_string(),
            metadata: request.metadata.to_string(),
            created_at,
            expires_at: expiration,
            invalidated_at: None,
        };
        self.store.insert_api_key(&row).await?;
        Ok(CreatedApiKey {
            encoded: credentials::encoded(&id, &key),
            id,
            name: request.name,
            expiration,
            api_key: key,
        })
    }

    /// Every API key, oldest first.
    ///
    /// # Errors
    /// On store failure.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, ManagementError> {
        Ok(self.store.api_keys().await?)
    }

    /// Invalidates keys; returns those invalidated now and those already invalid.
    ///
    /// # Errors
    /// On store failure.
    pub async fn invalidate_api_keys(
        &self,
        keys: &[ApiKeyRow],
    ) -> Result<(Vec<String>, Vec<String>), ManagementError> {
        let (mut now, mut before) = (Vec::new(), Vec::new());
        for key in keys {
            if self.store.invalidate_api_key(&key.id).await? {
                now.push(key.id.clone());
            } else {
                before.push(key.id.clone());
            }
        }
        self.forget_verified();
        Ok((now, before))
    }
}
