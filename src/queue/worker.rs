//! A node's worker: claims due executions (with a lease it keeps renewing), runs each
//! as whoever queued it, and records how it ended. On shutdown it stops claiming,
//! lets running attempts finish within the grace period and hands back the rest.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore, watch},
    task::JoinSet,
};

use super::backoff::next_step;
use crate::{
    execution_log::{self, Attempt, Recorder, Requester, Source},
    executor,
    security::{Operation, Principal, Security},
    service::{ConnectorService, ServiceError},
    settings::QueueSettings,
    store::{ClaimedExecution, Finish, Store, StoreError},
    timestamp::epoch_millis,
};

/// At most this many executions are claimed in one statement.
const CLAIM_BATCH: usize = 100;
/// How long who queued an execution is trusted to keep their rights (as a verified
/// login is remembered).
const PRINCIPAL_TTL: Duration = Duration::from_secs(30);

/// A username and, for API keys, the key's id.
type RequesterKey = (String, Option<String>);
/// When a requester was looked up, and who they were (`None`: gone).
type RememberedPrincipal = (Instant, Option<Arc<Principal>>);

pub struct Worker {
    store: Store,
    service: Arc<ConnectorService>,
    security: Arc<Security>,
    settings: QueueSettings,
    recorder: Recorder,
    /// This node's lease owner id.
    owner: String,
    wake: Arc<Notify>,
    principals: Mutex<HashMap<RequesterKey, RememberedPrincipal>>,
    /// Attempts running per connector, for `perConnectorConcurrency`.
    running: Mutex<HashMap<String, usize>>,
}

fn now_millis() -> i64 {
    epoch_millis(SystemTime::now())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Worker {
    pub fn new(
        store: Store,
        service: Arc<ConnectorService>,
        security: Arc<Security>,
        settings: QueueSettings,
        recorder: Recorder,
        owner: String,
        wake: Arc<Notify>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            service,
            security,
            settings,
            recorder,
            owner,
            wake,
            principals: Mutex::default(),
            running: Mutex::default(),
        })
    }

    /// Claims and runs executions until `stop` turns true, then shuts down as the
    /// module says.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency));
        let renewals = tokio::spawn(self.clone().renew_leases());
        let mut attempts = JoinSet::new();
        while !*stop.borrow() {
            while attempts.try_join_next().is_some() {}
            let free = slots.available_permits().min(CLAIM_BATCH);
            let mut more_due = false;
            if free > 0 {
                let now = now_millis();
                match self
                    .store
                    .claim(
                        &self.owner,
                        now,
                        now + millis(self.settings.lease),
                        free as i64,
                    )
                    .await
                {
                    Ok(claimed) => {
                        more_due = claimed.len() == free;
                        for execution in claimed {
                            let permit = slots
                                .clone()
                                .try_acquire_owned()
                                .expect("claimed no more than the free slots");
                            self.start(&mut attempts, execution, permit).await;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %crate::errors::chain(&error), "Cannot claim queued executions; trying again.");
                    }
                }
            }
            if more_due && slots.available_permits() > 0 {
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
        tracing::info!(
            running = attempts.len(),
            "Stopped claiming queued executions; letting running ones finish."
        );
        let finished = tokio::time::timeout(self.settings.shutdown_grace, async {
            while attempts.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            // Their leases lapse and another node (or the next start) runs them again.
            tracing::warn!(
                unfinished = attempts.len(),
                "Queued executions still running at the end of the grace period are left to run again elsewhere."
            );
            attempts.abort_all();
        }
        renewals.abort();
    }

    /// Starts an attempt, unless its connector already runs as many as allowed here:
    /// then it goes back to the queue for a moment.
    async fn start(
        self: &Arc<Self>,
        attempts: &mut JoinSet<()>,
        execution: ClaimedExecution,
        permit: OwnedSemaphorePermit,
    ) {
        if let Some(limit) = self.settings.per_connector_concurrency {
            let admitted = {
                let mut running = self.running.lock().expect("never poisoned");
                let count = running.entry(execution.connector_id.clone()).or_default();
                let admitted = *count < limit;
                if admitted {
                    *count += 1;
                }
                admitted
            };
            if !admitted {
                let later = now_millis() + millis(self.settings.poll_interval);
                self.recorder
                    .finished(execution.id, Finish::Release(later), None)
                    .await;
                return;
            }
        }
        let worker = self.clone();
        attempts.spawn(async move {
            let connector_id = execution.connector_id.clone();
            worker.attempt(execution).await;
            if worker.settings.per_connector_concurrency.is_some() {
                let mut running = worker.running.lock().expect("never poisoned");
                if let Some(count) = running.get_mut(&connector_id) {
                    *count -= 1;
                    if *count == 0 {
                        running.remove(&connector_id);
                    }
                }
            }
            drop(permit);
            // A slot is free: the claimer may take more.
            worker.wake.notify_one();
        });
    }

    async fn attempt(&self, execution: ClaimedExecution) {
        let started = now_millis();
        let requester = Requester {
            username: execution.username.clone(),
            api_key_id: execution.api_key_id.clone(),
        };
        let attempt = Attempt {
            execution_id: &execution.id,
            number: execution.attempts,
            space_id: &execution.space_id,
            connector_id: &execution.connector_id,
            source: Source::Queue,
            schedule_delay: Some(Duration::from_millis(
                u64::try_from(started - execution.run_at).unwrap_or(0),
            )),
            requester: &requester,
        };
        let (finish, entry) = match self.run_as_requester(&execution, &attempt).await {
            Ok(run) => {
                let finish = next_step(
                    run.result.status == executor::Status::Ok,
                    run.retry,
                    execution.attempts,
                    execution.max_attempts,
                    SystemTime::now(),
                    &self.settings,
                );
                (finish, Some(execution_log::entry(&attempt, &run)))
            }
            Err(Refused::Unavailable(error)) => {
                // Nothing ran: try again shortly, without counting this claim.
                tracing::warn!(error = %crate::errors::chain(&error), "Cannot run a queued execution now; it goes back to the queue.");
                let later = now_millis() + millis(self.settings.poll_interval);
                (Finish::Release(later), None)
            }
            Err(Refused::Final {
                type_id,
                name,
                message,
            }) => (
                Finish::Failed,
                Some(execution_log::refusal_entry(
                    &attempt, &type_id, &name, message,
                )),
            ),
        };
        self.recorder.finished(execution.id, finish, entry).await;
    }

    async fn run_as_requester(
        &self,
        execution: &ClaimedExecution,
        attempt: &Attempt<'_>,
    ) -> Result<executor::Run, Refused> {
        let (space, connector_id) = (&execution.space_id, &execution.connector_id);
        let params = self
            .service
            .open_params(space, &execution.id, &execution.params)
            .map_err(|error| {
                Refused::final_for(format!(
                    "the queued params could not be opened: {error}; check xpack.encryptedSavedObjects.encryptionKey"
                ))
            })?;
        let principal = self
            .principal(attempt.requester)
            .await
            .map_err(Refused::Unavailable)?;
        let type_id = self.service.type_of(space, connector_id).await;
        let Some(principal) = principal.filter(|it| it.may(space, Operation::Execute)) else {
            return Err(Refused::Final {
                type_id: type_id.clone().unwrap_or_default(),
                name: String::new(),
                message: Operation::Execute.refusal(type_id.as_deref()),
            });
        };
        match executor::run(
            &self.service,
            space,
            connector_id,
            &params,
            principal.as_ref(),
        )
        .await
        {
            Ok(run) => Ok(run),
            Err(ServiceError::Store(error)) => Err(Refused::Unavailable(error)),
            Err(error) => Err(Refused::final_for(error.to_string())),
        }
    }

    /// Whoever queued an execution, with their current rights (remembered briefly).
    async fn principal(&self, requester: &Requester) -> Result<Option<Arc<Principal>>, StoreError> {
        // Queued with security off, an execution has no user; with security on again
        // it then finds nobody and may not run.
        let username = requester.username.clone().unwrap_or_default();
        let key = (username, requester.api_key_id.clone());
        if let Some((at, principal)) = self.principals.lock().expect("never poisoned").get(&key)
            && at.elapsed() < PRINCIPAL_TTL
        {
            return Ok(principal.clone());
        }
        let principal = self
            .security
            .principal_for(&key.0, requester.api_key_id.as_deref())
            .await?;
        let mut principals = self.principals.lock().expect("never poisoned");
        if principals.len() >= 1024 {
            principals.clear();
        }
        principals.insert(key, (Instant::now(), principal.clone()));
        Ok(principal)
    }

    /// Keeps this node's leases alive while it runs their executions.
    async fn renew_leases(self: Arc<Self>) {
        let every = self.settings.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let until = now_millis() + millis(self.settings.lease);
            if let Err(error) = self.store.renew_leases(&self.owner, until).await {
                tracing::warn!(error = %crate::errors::chain(&error), "Cannot renew the leases of running executions.");
            }
        }
    }
}

/// Why a queued execution did not run.
enum Refused {
    /// The store could not answer: back to the queue.
    Unavailable(StoreError),
    /// It cannot run, now or later (its connector is gone, its requester may not).
    Final {
        type_id: String,
        name: String,
        message: String,
    },
}

impl Refused {
    fn final_for(message: String) -> Self {
        Self::Final {
            type_id: String::new(),
            name: String::new(),
            message,
        }
    }
}
