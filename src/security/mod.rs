//! Who may call, and what they may do. Users, roles and API keys as Elasticsearch
//! keeps them, with Kibana's "Actions and Connectors" feature privileges per space.
//!
//! Verifying a password or key is slow on purpose (Argon2id), so a verified
//! `Authorization` header is remembered for [`CACHE_TTL`], keyed by its SHA-256 digest
//! (the header itself is never kept), and concurrent requests with one header share
//! one check. Changes made through this process's HTTP API
//! clear that memory at once; changes made by the CLI or another node take effect
//! within [`CACHE_TTL`].

mod credentials;
mod management;
mod password;
mod principal;
mod privileges;
mod sessions;
mod throttle;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use self::{credentials::Credentials, sessions::Sessions, throttle::Throttle};
pub use self::{
    credentials::{encoded as encoded_api_key, parse_expiration},
    management::{ApiKeyRequest, CreatedApiKey, ManagementError, validate_role},
    password::random_secret,
    principal::Principal,
    privileges::{Level, Operation, Privileges},
};
use crate::store::{ApiKeyRow, Store, StoreError, UserRow};

/// How long a verified credential is trusted without checking the store again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// At most this many verified credentials are remembered; when full, it starts over.
const CACHE_CAPACITY: usize = 10_000;

/// The built-in role that may do everything.
pub const SUPERUSER_ROLE: &str = "superuser";

/// Why a request is not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials")]
    Missing,
    #[error("wrong credentials")]
    Refused,
    #[error("cannot check credentials")]
    Store(#[from] StoreError),
}

/// One `Authorization` header being verified or verified: concurrent requests with
/// the same header share one check (wait for it) rather than each paying the hash.
struct Verification {
    outcome: OnceCell<Option<Arc<Principal>>>,
    started: Instant,
}

pub struct Security {
    store: Store,
    /// `security.enabled`: when false every request acts as a superuser.
    enabled: bool,
    unrestricted: Arc<Principal>,
    /// By the header's SHA-256 digest; the header itself is never kept.
    verified: Mutex<HashMap<[u8; 32], Arc<Verification>>>,
    throttle: Throttle,
    sessions: Sessions,
}

/// `security.session.idleTimeout`'s default, as Kibana's.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 60 * 60);

impl Security {
    pub fn new(store: Store, enabled: bool) -> Self {
        Self::with_idle_timeout(store, enabled, DEFAULT_IDLE_TIMEOUT)
    }

    pub fn with_idle_timeout(store: Store, enabled: bool, idle_timeout: Duration) -> Self {
        Self {
            store,
            enabled,
            unrestricted: Arc::new(Principal::unrestricted()),
            verified: Mutex::default(),
            throttle: Throttle::default(),
            sessions: Sessions::new(idle_timeout),
        }
    }

    /// Signs a user in with their password, checked exactly as a `Basic` header is
    /// (same cache, same throttle), and opens a session. Returns the session id, for
    /// the cookie only.
    ///
    /// # Errors
    /// See [`AuthError`]; API keys cannot sign in.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(String, Arc<Principal>), AuthError> {
        use base64::{Engine, engine::general_purpose::STANDARD};
        let header = format!(
            "Basic {}",
            STANDARD.encode(format!("{username}:{password}"))
        );
        let principal = self.authenticate(Some(header.as_bytes()), client).await?;
        Ok((self.sessions.create(&principal.username), principal))
    }

    /// Who a session cookie stands for, with their rights as the store has them now.
    ///
    /// # Errors
    /// `Refused` for an unknown or expired session, or a user since removed or disabled.
    pub async fn authenticate_session(&self, id: &str) -> Result<Arc<Principal>, AuthError> {
        if !self.enabled {
            return Ok(self.unrestricted.clone());
        }
        let username = self.sessions.resolve(id).ok_or(AuthError::Refused)?;
        match self.principal_for(&username, None).await? {
            Some(principal) => Ok(principal),
            None => {
                self.sessions.end(id);
                Err(AuthError::Refused)
            }
        }
    }

    /// Signs out: the session id stops working at once.
    pub fn logout(&self, id: &str) {
        self.sessions.end(id);
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Who sent a request with this `Authorization` header (if any) from this address.
    /// Failures from one address beyond a few are answered ever more slowly.
    ///
    /// # Errors
    /// See [`AuthError`].
    pub async fn authenticate(
        &self,
        header: Option<&[u8]>,
        client: IpAddr,
    ) -> Result<Arc<Principal>, AuthError> {
        if !self.enabled {
            return Ok(self.unrestricted.clone());
        }
        let header = header.ok_or(AuthError::Missing)?;
        let digest: [u8; 32] = Sha256::digest(header).into();
        if let Some(principal) = self.remembered(&digest) {
            return Ok(principal);
        }
        // A client that kept failing waits before its credentials are even checked, so
        // it cannot make the server hash faster by opening more connections.
        let delay = self.throttle.penalty(client);
        if !delay.is_zero() {
            tracing::warn!(client = %client, delay_ms = delay.as_millis() as u64, "Repeated failed logins; slowing this client down.");
            tokio::time::sleep(delay).await;
        }
        let verification = self.verification(digest);
        let outcome = verification
            .outcome
            .get_or_try_init(|| async {
                let principal = match Credentials::parse(header) {
                    Some(credentials) => self.verify(credentials).await?,
                    None => None,
                };
                Ok::<_, StoreError>(principal.map(Arc::new))
            })
            .await?;
        match outcome {
            Some(principal) if principal.expires_at.is_none_or(|at| at > now_millis()) => {
                Ok(principal.clone())
            }
            _ => {
                self.forget(&digest, &verification);
                self.throttle.failed(client);
                Err(AuthError::Refused)
            }
        }
    }

    /// A verified, still valid login for this header, without waiting for anything.
    fn remembered(&self, digest: &[u8; 32]) -> Option<Arc<Principal>> {
        let verified = self.verified.lock().expect("never poisoned");
        let verification = verified.get(digest)?;
        let principal = verification.outcome.get()?.as_ref()?;
        let fresh = verification.started.elapsed() < CACHE_TTL
            && principal.expires_at.is_none_or(|at| at > now_millis());
        fresh.then(|| principal.clone())
    }

    /// The verification of a header: a fresh one remembered, or a new one.
    fn verification(&self, digest: [u8; 32]) -> Arc<Verification> {
        let mut verified = self.verified.lock().expect("never poisoned");
        if let Some(existing) = verified
            .get(&digest)
            .filter(|it| it.started.elapsed() < CACHE_TTL)
        {
            return existing.clone();
        }
        if verified.len() >= CACHE_CAPACITY {
            // Checks still running or lapsed go first; valid logins stay if they can.
            verified.retain(|_, it| {
                it.started.elapsed() < CACHE_TTL && it.outcome.get().is_some_and(Option::is_some)
            });
            if verified.len() >= CACHE_CAPACITY {
                verified.clear();
            }
        }
        let fresh = Arc::new(Verification {
            outcome: OnceCell::new(),
            started: Instant::now(),
        });
        verified.insert(digest, fresh.clone());
        fresh
    }

    /// Drops a failed verification, so the next attempt checks again.
    fn forget(&self, digest: &[u8; 32], failed: &Arc<Verification>) {
        let mut verified = self.verified.lock().expect("never poisoned");
        if verified
            .get(digest)
            .is_some_and(|current| Arc::ptr_eq(current, failed))
        {
            verified.remove(digest);
        }
    }

    /// Forgets every verified credential: after a change that may revoke some.
    pub fn forget_verified(&self) {
        self.verified.lock().expect("never poisoned").clear();
    }

    async fn verify(&self, credentials: Credentials) -> Result<Option<Principal>, StoreError> {
        match credentials {
            Credentials::Basic { username, password } => {
                let user = self.store.user(&username).await?.filter(|it| it.enabled);
                let hash = user.as_ref().map(|it| it.password_hash.clone());
                if !password::verify_off_thread(password, hash).await {
                    return Ok(None);
                }
                let Some(user) = user else { return Ok(None) };
                Ok(Some(self.user_principal(user).await?))
            }
            Credentials::ApiKey { id, key } => {
                let row = self.store.api_key(&id).await?;
                let hash = row.as_ref().map(|it| it.key_hash.clone());
                if !password::verify_off_thread(key, hash).await {
                    return Ok(None);
                }
                let Some(row) = row else { return Ok(None) };
                Ok(api_key_principal(row))
            }
        }
    }

    /// Who queued an execution, as they are now (their current roles; the key's
    /// limits), to run it with their rights. `None` when the user is gone or
    /// disabled, or the key expired or was invalidated.
    ///
    /// # Errors
    /// On database failure.
    pub async fn principal_for(
        &self,
        username: &str,
        api_key_id: Option<&str>,
    ) -> Result<Option<Arc<Principal>>, StoreError> {
        if !self.enabled {
            return Ok(Some(self.unrestricted.clone()));
        }
        let principal = match api_key_id {
            Some(id) => self
                .store
                .api_key(id)
                .await?
                .filter(|row| row.username == username)
                .and_then(api_key_principal),
            None => match self.store.user(username).await?.filter(|it| it.enabled) {
                Some(user) => Some(self.user_principal(user).await?),
                None => None,
            },
        };
        Ok(principal.map(Arc::new))
    }

    async fn user_principal(&self, user: UserRow) -> Result<Principal, StoreError> {
        let roles: Vec<String> = serde_json::from_str(&user.roles).unwrap_or_default();
        let privileges = self.privileges_of(&roles).await?;
        Ok(Principal::new(
            user.username,
            roles,
            None,
            vec![privileges],
            None,
        ))
    }

    /// What a list of role names grants together. Unknown names grant nothing.
    async fn privileges_of(&self, roles: &[String]) -> Result<Privileges, StoreError> {
        let mut privileges = Privileges::default();
        if roles.iter().any(|it| it == SUPERUSER_ROLE) {
            privileges.merge(Privileges::superuser());
        }
        for (_, body) in self.role_bodies(roles).await? {
            privileges.merge(Privileges::from_kibana_role(&body));
        }
        Ok(privileges)
    }

    /// The stored bodies of the named roles.
    async fn role_bodies(&self, roles: &[String]) -> Result<Vec<(String, Value)>, StoreError> {
        if roles.iter().all(|it| it == SUPERUSER_ROLE) {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .roles()
            .await?
            .into_iter()
            .filter(|row| roles.contains(&row.name))
            .filter_map(|row| Some((row.name, serde_json::from_str(&row.body).ok()?)))
            .collect())
    }
}

fn now_millis() -> i64 {
    crate::timestamp::epoch_millis(std::time::SystemTime::now())
}

/// An API key's rights: its owner's roles when it was made, limited by its own role
/// descriptors. `None` when it expired or was invalidated.
fn api_key_principal(row: ApiKeyRow) -> Option<Principal> {
    let now = now_millis();
    if row.invalidated_at.is_some() || row.expires_at.is_some_and(|at| at <= now) {
        return None;
    }
    let limited_by: Value = serde_json::from_str(&row.limited_by).unwrap_or_default();
    let owner_roles: Vec<String> =
        serde_json::from_value(limited_by["roles"].clone()).unwrap_or_default();
    let mut owner = Privileges::default();
    for role in &owner_roles {
        if role == SUPERUSER_ROLE {
            owner.merge(Privileges::superuser());
        } else if let Some(body) = limited_by["descriptors"].get(role) {
            owner.merge(Privileges::from_kibana_role(body));
        }
    }
    let mut layers = vec![owner];
    let descriptors: Value = serde_json::from_str(&row.role_descriptors).unwrap_or_default();
    if let Some(descriptors) = descriptors.as_object().filter(|it| !it.is_empty()) {
        let mut own = Privileges::default();
        for descriptor in descriptors.values() {
            own.merge(Privileges::from_role_descriptor(descriptor));
        }
        layers.push(own);
    }
    let roles = descriptors
        .as_object()
        .map(|it| it.keys().cloned().collect())
        .unwrap_or_default();
    Some(Principal::new(
        row.username,
        roles,
        Some(row.id),
        layers,
        row.expires_at,
    ))
}
