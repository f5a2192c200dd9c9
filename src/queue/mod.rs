//! Durable asynchronous execution: `_enqueue` stores an execution before it answers;
//! workers on every node claim due executions from the store, run them through the
//! executor, and retry as Kibana's task manager does.

mod backoff;
mod worker;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;
use tokio::sync::{Mutex, Notify};

pub use self::worker::{Worker, WorkerParts};
use crate::{
    connector_types::{self, ConnectorType},
    execution_log::Requester,
    service::{ConnectorService, ServiceError},
    settings::QueueSettings,
    store::{NewExecution, Store, StoreError},
    timestamp::epoch_millis,
};

/// Kibana's default attempts for a connector type (`DEFAULT_MAX_ATTEMPTS`).
const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// How long the count of pending executions is trusted before it is read again.
const DEPTH_REFRESH: Duration = Duration::from_secs(1);

/// One execution to queue.
pub struct EnqueueRequest {
    pub connector_id: String,
    pub params: Value,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// `xpack.actions.queued.max` would be exceeded; nothing was queued.
    #[error(
        "Cannot queue: the maximum number of queued actions has been reached (xpack.actions.queued.max: {max}). Nothing was queued; try again later."
    )]
    Full { max: u64 },
    #[error("storage failed")]
    Store(#[source] StoreError),
}

/// Queues executions.
pub struct Queue {
    service: Arc<ConnectorService>,
    store: Store,
    settings: QueueSettings,
    /// Wakes this node's worker when something was queued here.
    wake: Arc<Notify>,
    depth: Mutex<Depth>,
}

/// Executions pending in the store as last counted, plus those queued here since.
struct Depth {
    counted: i64,
    at: Option<Instant>,
    added: i64,
}

impl Queue {
    pub fn new(
        service: Arc<ConnectorService>,
        store: Store,
        settings: QueueSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            service,
            store,
            settings,
            wake,
            depth: Mutex::new(Depth {
                counted: 0,
                at: None,
                added: 0,
            }),
        }
    }

    /// Attempts for a type: `run.connectorTypeOverrides`, else `run.maxAttempts`,
    /// else Kibana's default.
    fn max_attempts(&self, type_id: &str) -> u32 {
        self.settings
            .type_overrides
            .iter()
            .find(|(id, _)| id == type_id)
            .and_then(|(_, attempts)| *attempts)
            .or(self.settings.max_attempts)
            .unwrap_or(DEFAULT_MAX_ATTEMPTS)
    }

    /// Checks and stores executions (all or none), then answers their ids in order.
    /// Each connector must exist in the space and its type be enabled; params are
    /// checked against the type, as `_execute` checks them.
    ///
    /// # Errors
    /// See [`QueueError`]. A bad item is named by its index in `items` when there
    /// are several.
    pub async fn enqueue(
        &self,
        space_id: &str,
        requester: &Requester,
        items: Vec<EnqueueRequest>,
    ) -> Result<Vec<String>, QueueError> {
        let now = epoch_millis(SystemTime::now());
        let several = items.len() > 1;
        let mut types: HashMap<String, Arc<dyn ConnectorType>> = HashMap::new();
        let mut executions = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let connector_type = match types.get(&item.connector_id) {
                Some(known) => known.clone(),
                None => {
                    let found = self
                        .service
                        .runnable_type(space_id, &item.connector_id)
                        .await?;
                    types.insert(item.connector_id.clone(), found.clone());
                    found
                }
            };
            let params = connector_types::validate_params(
                connector_type.as_ref(),
                &item.params,
                &self.service.validation,
            )
            .map_err(|error| {
                let message = if several {
                    format!("[executions.{index}]: {error}")
                } else {
                    error.to_string()
                };
                ServiceError::BadRequest(message)
            })?;
            let id = uuid::Uuid::new_v4().to_string();
            executions.push(NewExecution {
                params: self.service.seal_params(space_id, &id, &params),
                id,
                space_id: space_id.to_owned(),
                connector_id: item.connector_id,
                idempotency_key: item.idempotency_key,
                username: requester.username.clone(),
                api_key_id: requester.api_key_id.clone(),
                max_attempts: i64::from(self.max_attempts(connector_type.info().id)),
                created_at: now,
            });
        }
        self.reserve(executions.len()).await?;
        let stored = self.store.enqueue(&executions).await;
        if stored.is_err() {
            self.depth.lock().await.added -= executions.len() as i64;
        }
        let ids = stored.map_err(QueueError::Store)?;
        self.wake.notify_one();
        Ok(ids)
    }

    /// Counts `count` new executions against `queued.max`, or refuses them all.
    async fn reserve(&self, count: usize) -> Result<(), QueueError> {
        let mut depth = self.depth.lock().await;
        if depth.at.is_none_or(|at| at.elapsed() >= DEPTH_REFRESH) {
            depth.counted = self
                .store
                .count_pending()
                .await
                .map_err(QueueError::Store)?;
            depth.at = Some(Instant::now());
            depth.added = 0;
        }
        let after = depth.counted + depth.added + count as i64;
        if after > i64::try_from(self.settings.queued_max).unwrap_or(i64::MAX) {
            return Err(QueueError::Full {
                max: self.settings.queued_max,
            });
        }
        depth.added += count as i64;
        Ok(())
    }
}
