//! The connector operations Kibana's actions client offers (create, update, get,
//! delete, list, types, execute), with Kibana's rules and messages, independent of
//! HTTP. The API layer turns [`ServiceError`] into statuses.

use std::{collections::BTreeMap, sync::Arc};

use serde_json::{Value, value::RawValue};

use crate::{
    connector_types::{
        self, ConnectorType, ExecutionContext, InvalidConnector, Registry, TypeInfo,
        ValidConnector, ValidationContext,
    },
    crypto::{Binding, CryptoError, SecretBox},
    settings::Preconfigured,
    store::{ConnectorChange, ConnectorRow, Store, StoreError},
};

/// Why an operation was refused. Messages are Kibana's.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    InvalidConnector(#[from] InvalidConnector),
    #[error("{0}")]
    Forbidden(String),
    #[error("Saved object [action/{0}] not found")]
    NotFound(String),
    #[error("Saved object [action/{0}] conflict")]
    Conflict(String),
    /// The space was deleted while the request was on its way.
    #[error("Not Found")]
    SpaceNotFound,
    #[error("storage failed")]
    Store(#[source] StoreError),
    #[error("stored connector {id} is damaged: {reason}")]
    Corrupt { id: String, reason: String },
}

/// A connector as the API shows it: no secrets, ever.
#[derive(Debug, Clone)]
pub struct ConnectorView {
    pub id: String,
    pub name: String,
    pub type_id: String,
    /// `None` for preconfigured connectors that do not expose their config. Kept as
    /// JSON text: lists of many connectors pass it through without parsing it.
    pub config: Option<Box<RawValue>>,
    pub is_preconfigured: bool,
    pub is_missing_secrets: bool,
}

/// A connector ready to run: config and opened secrets, or, when an earlier run
/// already checked this very version, the checked result itself.
pub struct LoadedConnector {
    pub id: String,
    pub name: String,
    pub type_id: String,
    pub config: Value,
    pub secrets: Result<Value, CryptoError>,
    pub is_preconfigured: bool,
    /// Set when this version was opened and validated before (config and secrets are
    /// then left empty).
    pub validated: Option<Arc<ValidConnector>>,
    /// The stored version, to remember once validated (stored connectors only).
    version: Option<StoredVersion>,
}

/// What identifies a stored connector's version: its config text and sealed secrets
/// (a new seal has a new nonce, so every update changes it).
#[derive(Clone, PartialEq, Eq)]
struct StoredVersion {
    space_id: String,
    config: String,
    sealed: Vec<u8>,
}

/// Stored connectors already opened and checked against the current settings (which
/// cannot change while the server runs), by id, so a run skips decryption, JSON
/// parsing and validation. Holds opened secrets in memory, like a run does.
#[derive(Default)]
struct PreparedConnectors {
    entries:
        std::sync::Mutex<std::collections::HashMap<String, (StoredVersion, Arc<ValidConnector>)>>,
}

/// At most this many prepared connectors are kept; when full, it starts over.
const PREPARED_CAPACITY: usize = 4096;

impl PreparedConnectors {
    fn get(&self, id: &str, version: &StoredVersion) -> Option<Arc<ValidConnector>> {
        let entries = self.entries.lock().expect("never poisoned");
        let (known, valid) = entries.get(id)?;
        (known == version).then(|| valid.clone())
    }

    /// Drops what was kept of connectors that are gone, so their opened secrets do not
    /// linger in memory.
    fn forget(&self, gone: impl Fn(&str, &StoredVersion) -> bool) {
        let mut entries = self.entries.lock().expect("never poisoned");
        entries.retain(|id, (version, _)| !gone(id, version));
    }

    fn remember(&self, id: &str, version: StoredVersion, valid: Arc<ValidConnector>) {
        let mut entries = self.entries.lock().expect("never poisoned");
        if entries.len() >= PREPARED_CAPACITY {
            entries.clear();
        }
        entries.insert(id.to_owned(), (version, valid));
    }
}

/// What create and update receive, already through request validation.
pub struct ConnectorInput {
    pub name: String,
    pub config: Value,
    pub secrets: Value,
}

/// A connector type as `GET /api/actions/connector_types` lists it.
pub struct TypeView {
    pub info: TypeInfo,
    pub enabled_in_config: bool,
}

pub struct ConnectorService {
    store: Store,
    secret_box: SecretBox,
    registry: Registry,
    preconfigured: BTreeMap<String, Preconfigured>,
    enabled_action_types: Vec<String>,
    pub(crate) validation: ValidationContext,
    pub(crate) execution: ExecutionContext,
    prepared: PreparedConnectors,
}

impl ConnectorService {
    pub fn new(
        store: Store,
        secret_box: SecretBox,
        registry: Registry,
        preconfigured: BTreeMap<String, Preconfigured>,
        enabled_action_types: Vec<String>,
        validation: ValidationContext,
        execution: ExecutionContext,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            secret_box,
            registry,
            preconfigured,
            enabled_action_types,
            validation,
            execution,
            prepared: PreparedConnectors::default(),
        })
    }

    /// Forgets the checked connectors of a deleted space.
    pub fn forget_space(&self, space_id: &str) {
        self.prepared
            .forget(|_, version| version.space_id == space_id);
    }

    /// Keeps a stored connector's checked config and secrets for its next runs (called
    /// once per stored version, on the first run after it changed).
    pub fn remember_validated(&self, connector: &LoadedConnector, valid: &Arc<ValidConnector>) {
        if let Some(version) = &connector.version {
            self.prepared
                .remember(&connector.id, version.clone(), valid.clone());
        }
    }

    fn is_type_enabled(&self, type_id: &str) -> bool {
        self.enabled_action_types
            .iter()
            .any(|it| it == "*" || it == type_id)
    }

    fn ensure_type_enabled(&self, type_id: &str) -> Result<(), ServiceError> {
        if self.is_type_enabled(type_id) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "action type \"{type_id}\" is not enabled in the Kibana config xpack.actions.enabledActionTypes"
            )))
        }
    }

    fn connector_type(&self, type_id: &str) -> Result<&Arc<dyn ConnectorType>, ServiceError> {
        self.registry.get(type_id).ok_or_else(|| {
            ServiceError::BadRequest(format!("Action type \"{type_id}\" is not registered."))
        })
    }

    pub async fn create(
        &self,
        space_id: &str,
        id: Option<String>,
        type_id: &str,
        input: ConnectorInput,
    ) -> Result<ConnectorView, ServiceError> {
        if let Some(id) = id
            .as_deref()
            .filter(|id| self.preconfigured.contains_key(*id))
        {
            return Err(ServiceError::BadRequest(format!(
                "This {id} already exists in a preconfigured action."
            )));
        }
        let connector_type = self.connector_type(type_id)?;
        let valid = connector_types::validate_connector(
            connector_type.as_ref(),
            &input.config,
            &input.secrets,
            &self.validation,
        )?;
        self.ensure_type_enabled(type_id)?;

        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let secrets = self.seal(space_id, &id, type_id, &valid.secrets);
        let row = ConnectorRow {
            id: id.clone(),
            space_id: space_id.to_owned(),
            type_id: type_id.to_owned(),
            name: input.name,
            config: valid.config.to_string(),
            secrets,
            is_missing_secrets: false,
        };
        self.store.insert(&row).await.map_err(|error| match error {
            StoreError::Conflict => ServiceError::Conflict(id.clone()),
            StoreError::NoSuchSpace => ServiceError::SpaceNotFound,
            other => ServiceError::Store(other),
        })?;
        tracing::info!(connector_id = %id, space_id, type_id, "Connector created.");
        Ok(ConnectorView {
            id,
            name: row.name,
            type_id: row.type_id,
            config: Some(raw_json(&valid.config)),
            is_preconfigured: false,
            is_missing_secrets: false,
        })
    }

    pub async fn update(
        &self,
        space_id: &str,
        id: &str,
        input: ConnectorInput,
    ) -> Result<ConnectorView, ServiceError> {
        if self.preconfigured.contains_key(id) {
            return Err(ServiceError::BadRequest(format!(
                "Preconfigured action {id} can not be updated."
            )));
        }
        let existing = self.stored(space_id, id).await?;
        let connector_type = self.connector_type(&existing.type_id)?;
        let valid = connector_types::validate_connector(
            connector_type.as_ref(),
            &input.config,
            &input.secrets,
            &self.validation,
        )?;
        self.ensure_type_enabled(&existing.type_id)?;

        let change = ConnectorChange {
            name: input.name,
            config: valid.config.to_string(),
            secrets: self.seal(space_id, id, &existing.type_id, &valid.secrets),
        };
        let updated = self
            .store
            .update(space_id, id, &change)
            .await
            .map_err(ServiceError::Store)?;
        if !updated {
            return Err(ServiceError::NotFound(id.to_owned()));
        }
        tracing::info!(connector_id = %id, space_id, "Connector updated.");
        Ok(ConnectorView {
            id: id.to_owned(),
            name: change.name,
            type_id: existing.type_id,
            config: Some(raw_json(&valid.config)),
            is_preconfigured: false,
            is_missing_secrets: false,
        })
    }

    pub async fn get(&self, space_id: &str, id: &str) -> Result<ConnectorView, ServiceError> {
        if let Some(preconfigured) = self.preconfigured.get(id) {
            return Ok(preconfigured_view(id, preconfigured));
        }
        let row = self.stored(space_id, id).await?;
        stored_view(
            row.id,
            row.name,
            row.type_id,
            row.config,
            row.is_missing_secrets,
        )
    }

    pub async fn delete(&self, space_id: &str, id: &str) -> Result<(), ServiceError> {
        if self.preconfigured.contains_key(id) {
            return Err(ServiceError::BadRequest(format!(
                "Preconfigured action {id} is not allowed to delete."
            )));
        }
        let deleted = self
            .store
            .delete(space_id, id)
            .await
            .map_err(ServiceError::Store)?;
        if !deleted {
            return Err(ServiceError::NotFound(id.to_owned()));
        }
        self.prepared.forget(|known, _| known == id);
        tracing::info!(connector_id = %id, space_id, "Connector deleted.");
        Ok(())
    }

    /// The space's connectors and every preconfigured one, sorted by name the way
    /// Kibana's `localeCompare` does for most names: ignoring case and accents.
    pub async fn list(&self, space_id: &str) -> Result<Vec<ConnectorView>, ServiceError> {
        let rows = self
            .store
            .list(space_id)
            .await
            .map_err(ServiceError::Store)?;
        let mut views = Vec::with_capacity(rows.len() + self.preconfigured.len());
        for row in rows {
            views.push(stored_view(
                row.id,
                row.name,
                row.type_id,
                row.config,
                row.is_missing_secrets,
            )?);
        }
        views.extend(
            self.preconfigured
                .iter()
                .map(|(id, preconfigured)| preconfigured_view(id, preconfigured)),
        );
        views.sort_by_cached_key(|view| (collation_key(&view.name), case_tie_breaker(&view.name)));
        Ok(views)
    }

    /// The schemas of a registered type (for the console's forms).
    pub fn type_schemas(&self, type_id: &str) -> Option<&crate::connector_types::Schemas> {
        self.registry
            .get(type_id)
            .map(|connector_type| connector_type.schemas())
    }

    pub fn types(&self, feature_id: Option<&str>) -> Vec<TypeView> {
        self.registry
            .iter()
            .map(|connector_type| connector_type.info())
            .filter(|info| {
                feature_id.is_none_or(|feature| info.supported_feature_ids.contains(&feature))
            })
            .map(|info| TypeView {
                enabled_in_config: self.is_type_enabled(info.id),
                info,
            })
            .collect()
    }

    /// Finds a connector to run and opens its secrets. Refuses types that are
    /// disabled by `enabledActionTypes`, except for preconfigured connectors.
    pub async fn load_for_execution(
        &self,
        space_id: &str,
        id: &str,
    ) -> Result<(LoadedConnector, Arc<dyn ConnectorType>), ServiceError> {
        let loaded = if let Some(preconfigured) = self.preconfigured.get(id) {
            LoadedConnector {
                id: id.to_owned(),
                name: preconfigured.name.clone(),
                type_id: preconfigured.action_type_id.clone(),
                config: preconfigured.config.clone(),
                secrets: Ok(preconfigured.secrets.clone()),
                is_preconfigured: true,
                validated: None,
                version: None,
            }
        } else {
            let row = self.stored(space_id, id).await?;
            let version = StoredVersion {
                space_id: space_id.to_owned(),
                config: row.config,
                sealed: row.secrets,
            };
            if let Some(valid) = self.prepared.get(&row.id, &version) {
                let connector = LoadedConnector {
                    id: row.id,
                    name: row.name,
                    type_id: row.type_id,
                    config: Value::Null,
                    secrets: Ok(Value::Null),
                    is_preconfigured: false,
                    validated: Some(valid),
                    version: None,
                };
                let connector_type = self.connector_type(&connector.type_id)?.clone();
                self.ensure_type_enabled(&connector.type_id)?;
                return Ok((connector, connector_type));
            }
            let binding = Binding {
                space_id,
                connector_id: &row.id,
                type_id: &row.type_id,
            };
            let secrets = self
                .secret_box
                .open(binding, &version.sealed)
                .and_then(|plaintext| {
                    serde_json::from_slice(&plaintext).map_err(|_| CryptoError::Decrypt)
                });
            LoadedConnector {
                config: parse_config(&row.id, &version.config)?,
                id: row.id,
                name: row.name,
                type_id: row.type_id,
                secrets,
                is_preconfigured: false,
                validated: None,
                version: Some(version),
            }
        };
        let connector_type = self.connector_type(&loaded.type_id)?.clone();
        if !loaded.is_preconfigured {
            self.ensure_type_enabled(&loaded.type_id)?;
        }
        Ok((loaded, connector_type))
    }

    /// The type of a connector, if it exists (for naming it in a refusal).
    pub async fn type_of(&self, space_id: &str, id: &str) -> Option<String> {
        if let Some(preconfigured) = self.preconfigured.get(id) {
            return Some(preconfigured.action_type_id.clone());
        }
        self.store
            .get(space_id, id)
            .await
            .ok()
            .flatten()
            .map(|row| row.type_id)
    }

    /// The type of a connector that may run in a space: it exists, its type is
    /// registered and enabled. Nothing is decrypted (queueing checks params only).
    ///
    /// # Errors
    /// As [`ConnectorService::load_for_execution`].
    pub async fn runnable_type(
        &self,
        space_id: &str,
        id: &str,
    ) -> Result<Arc<dyn ConnectorType>, ServiceError> {
        let type_id = match self.preconfigured.get(id) {
            Some(preconfigured) => preconfigured.action_type_id.clone(),
            None => self.stored(space_id, id).await?.type_id,
        };
        let connector_type = self.connector_type(&type_id)?.clone();
        // Preconfigured connectors run whatever enabledActionTypes says, as in Kibana.
        if !self.preconfigured.contains_key(id) {
            self.ensure_type_enabled(&type_id)?;
        }
        Ok(connector_type)
    }

    /// Seals a queued execution's params (they may hold personal data), bound to the
    /// execution so they open for it alone.
    pub fn seal_params(&self, space_id: &str, execution_id: &str, params: &Value) -> Vec<u8> {
        self.seal(space_id, execution_id, QUEUED_PARAMS, params)
    }

    /// # Errors
    /// When the params were sealed with another key or tampered with.
    pub fn open_params(
        &self,
        space_id: &str,
        execution_id: &str,
        sealed: &[u8],
    ) -> Result<Value, CryptoError> {
        let binding = Binding {
            space_id,
            connector_id: execution_id,
            type_id: QUEUED_PARAMS,
        };
        let plaintext = self.secret_box.open(binding, sealed)?;
        serde_json::from_slice(&plaintext).map_err(|_| CryptoError::Decrypt)
    }

    async fn stored(&self, space_id: &str, id: &str) -> Result<ConnectorRow, ServiceError> {
        self.store
            .get(space_id, id)
            .await
            .map_err(ServiceError::Store)?
            .ok_or_else(|| ServiceError::NotFound(id.to_owned()))
    }

    fn seal(&self, space_id: &str, id: &str, type_id: &str, secrets: &Value) -> Vec<u8> {
        let binding = Binding {
            space_id,
            connector_id: id,
            type_id,
        };
        self.secret_box
            .seal(binding, secrets.to_string().as_bytes())
    }
}

/// The binding's third part for sealed params, where a connector's type goes for its
/// secrets; no connector type id starts without a dot, so the two never collide.
const QUEUED_PARAMS: &str = "queued-params";

/// A name's primary collation key: lower case, accents removed (`Änderung` sorts with
/// `anderung`, as ICU's root collation puts it).
fn collation_key(name: &str) -> String {
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    name.nfd()
        .filter(|it| !is_combining_mark(*it))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Between names equal but for case, lower case first, as ICU orders them.
fn case_tie_breaker(name: &str) -> String {
    name.chars()
        .map(|it| {
            if it.is_lowercase() {
                it.to_uppercase().next().unwrap_or(it)
            } else {
                it.to_lowercase().next().unwrap_or(it)
            }
        })
        .collect()
}

fn parse_config(id: &str, config: &str) -> Result<Value, ServiceError> {
    serde_json::from_str(config).map_err(|error| ServiceError::Corrupt {
        id: id.to_owned(),
        reason: error.to_string(),
    })
}

fn stored_view(
    id: String,
    name: String,
    type_id: String,
    config: String,
    is_missing_secrets: bool,
) -> Result<ConnectorView, ServiceError> {
    let config = RawValue::from_string(config).map_err(|error| ServiceError::Corrupt {
        id: id.clone(),
        reason: error.to_string(),
    })?;
    Ok(ConnectorView {
        id,
        name,
        type_id,
        config: Some(config),
        is_preconfigured: false,
        is_missing_secrets,
    })
}

fn raw_json(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("a JSON value always serialises")
}

fn preconfigured_view(id: &str, preconfigured: &Preconfigured) -> ConnectorView {
    ConnectorView {
        id: id.to_owned(),
        name: preconfigured.name.clone(),
        type_id: preconfigured.action_type_id.clone(),
        config: preconfigured
            .expose_config
            .then(|| raw_json(&preconfigured.config)),
        is_preconfigured: true,
        is_missing_secrets: false,
    }
}
