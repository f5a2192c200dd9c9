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
    metrics::Metrics,
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
    metrics: Arc<Metrics>,
    principals: Mutex<HashMap<RequesterKey, RememberedPrincipal>>,
    running: Mutex<Running>,
}

/// What this node runs now: the executions (whose leases it renews) and how many per
/// connector (for `perConnectorConcurrency`).
#[derive(Default)]
struct Running {
    ids: std::collections::BTreeSet<String>,
    by_connector: HashMap<String, usize>,
}

impl Running {
    fn admit(&mut self, id: &str, connector_id: &str, limit: Option<usize>) -> bool {
        let count = self
            .by_connector
            .entry(connector_id.to_owned())
            .or_default();
        if limit.is_some_and(|limit| *count >= limit) {
            return false;
        }
        *count += 1;
        self.ids.insert(id.to_owned());
        true
    }

    fn remove(&mut self, id: &str, connector_id: &str) {
        self.ids.remove(id);
        if let Some(count) = self.by_connector.get_mut(connector_id) {
            *count -= 1;
            if *count == 0 {
                self.by_connector.remove(connector_id);
            }
        }
    }
}

fn now_millis() -> i64 {
    epoch_millis(SystemTime::now())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// What a worker works with.
pub struct WorkerParts {
    pub store: Store,
    pub service: Arc<ConnectorService>,
    pub security: Arc<Security>,
    pub settings: QueueSettings,
    pub recorder: Recorder,
    /// This node's lease owner id.
    pub owner: String,
    /// Notified when something was queued on this node.
    pub wake: Arc<Notify>,
    pub metrics: Arc<Metrics>,
}

impl Worker {
    pub fn new(parts: WorkerParts) -> Arc<Self> {
        let WorkerParts {
            store,
            service,
            security,
            settings,
            recorder,
            owner,
            wake,
            metrics,
        } = parts;
        Arc::new(Self {
            store,
            service,
            security,
            settings,
            recorder,
            owner,
            wake,
            metrics,
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
        // What each attempt task runs, to clean up after it (and to know, should it
        // panic, which execution it was).
        let mut tasks: HashMap<tokio::task::Id, ClaimedExecution> = HashMap::new();
        while !*stop.borrow() {
            self.reap(&mut attempts, &mut tasks).await;
            let free = slots.available_permits().min(CLAIM_BATCH);
            let mut more_due = false;
            if free > 0 {
                let now = now_millis();
                let busy = self.busy_connectors();
                match self
                    .store
                    .claim(
                        &self.owner,
                        now,
                        now + millis(self.settings.lease),
                        free as i64,
                        &busy,
                    )
                    .await
                {
                    Ok(claimed) => {
                        let mut started = 0;
                        for execution in claimed {
                            let permit = slots
                                .clone()
                                .try_acquire_owned()
                                .expect("claimed no more than the free slots");
                            if self
                                .start(&mut attempts, &mut tasks, execution, permit)
                                .await
                            {
                                started += 1;
                            }
                        }
                        more_due = started == free;
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
        let deadline = tokio::time::Instant::now() + self.settings.shutdown_grace;
        while !attempts.is_empty() {
            match tokio::time::timeout_at(deadline, attempts.join_next_with_id()).await {
                Ok(Some(joined)) => self.after(joined, &mut tasks).await,
                Ok(None) => break,
                Err(_) => {
                    // Handed back at once (this attempt not counted), so another node
                    // or the next start runs them without waiting for the lease.
                    tracing::warn!(
                        unfinished = attempts.len(),
                        "Queued executions still running at the end of the grace period are left to run again elsewhere."
                    );
                    attempts.abort_all();
                    let now = now_millis();
                    for (_, execution) in tasks.drain() {
                        self.recorder
                            .finished(execution.id, Finish::Release(now), None)
                            .await;
                    }
                    break;
                }
            }
        }
        renewals.abort();
    }

    /// Connectors at their `perConnectorConcurrency` here: not claimed for now.
    fn busy_connectors(&self) -> Vec<String> {
        let Some(limit) = self.settings.per_connector_concurrency else {
            return Vec::new();
        };
        let running = self.running.lock().expect("never poisoned");
        running
            .by_connector
            .iter()
            .filter(|(_, count)| **count >= limit)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Cleans up after the attempts that ended.
    async fn reap(
        &self,
        attempts: &mut JoinSet<()>,
        tasks: &mut HashMap<tokio::task::Id, ClaimedExecution>,
    ) {
        while let Some(joined) = attempts.try_join_next_with_id() {
            self.after(joined, tasks).await;
        }
    }

    async fn after(
        &self,
        joined: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
        tasks: &mut HashMap<tokio::task::Id, ClaimedExecution>,
    ) {
        let (task, panicked) = match &joined {
            Ok((task, ())) => (*task, false),
            Err(error) => (error.id(), error.is_panic()),
        };
        let Some(execution) = tasks.remove(&task) else {
            return;
        };
        self.running
            .lock()
            .expect("never poisoned")
            .remove(&execution.id, &execution.connector_id);
        if panicked {
            // A bug, most likely in a connector type: running it again would do the
            // same. Its outcome must still be recorded, or its lease would lapse and it
            // would run again and again.
            tracing::error!(connector_id = %execution.connector_id, "A queued execution failed unexpectedly; it is marked failed.");
            let requester = requester_of(&execution);
            let attempt = attempt_of(&execution, &requester, None);
            let entry = execution_log::refusal_entry(
                &attempt,
                "",
                "",
                "an unexpected error occurred while running the action; see the server log"
                    .to_owned(),
            );
            self.recorder
                .finished(execution.id.clone(), Finish::Failed, Some(entry))
                .await;
        }
    }

    /// Starts an attempt, unless its connector already runs as many as allowed here
    /// (several of one connector's came in one claim): then it goes back to the
    /// queue for a moment. Returns whether it started.
    async fn start(
        self: &Arc<Self>,
        attempts: &mut JoinSet<()>,
        tasks: &mut HashMap<tokio::task::Id, ClaimedExecution>,
        execution: ClaimedExecution,
        permit: OwnedSemaphorePermit,
    ) -> bool {
        let admitted = self.running.lock().expect("never poisoned").admit(
            &execution.id,
            &execution.connector_id,
            self.settings.per_connector_concurrency,
        );
        if !admitted {
            let later = now_millis() + millis(self.settings.poll_interval);
            self.recorder
                .finished(execution.id, Finish::Release(later), None)
                .await;
            return false;
        }
        let worker = self.clone();
        let claimed = execution.clone();
        let task = attempts.spawn(async move {
            worker.attempt(execution).await;
            drop(permit);
            // A slot is free: the claimer may take more.
            worker.wake.notify_one();
        });
        tasks.insert(task.id(), claimed);
        true
    }

    async fn attempt(&self, execution: ClaimedExecution) {
        let started = now_millis();
        let requester = requester_of(&execution);
        let delay = Duration::from_millis(u64::try_from(started - execution.run_at).unwrap_or(0));
        let attempt = attempt_of(&execution, &requester, Some(delay));
        let (finish, entry) = match self.run_as_requester(&execution, &attempt).await {
            Ok(run) => {
                self.metrics.observe_execution(
                    &run.type_id,
                    Source::Queue.as_str(),
                    run.result.status == executor::Status::Ok,
                    run.duration,
                );
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

    /// Keeps this node's leases alive while it runs their executions (only those: an
    /// execution whose outcome could not be recorded is left to lapse and run again).
    async fn renew_leases(self: Arc<Self>) {
        let every = self.settings.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let ids: Vec<String> = {
                let running = self.running.lock().expect("never poisoned");
                running.ids.iter().cloned().collect()
            };
            let until = now_millis() + millis(self.settings.lease);
            if let Err(error) = self.store.renew_leases(&self.owner, &ids, until).await {
                tracing::warn!(error = %crate::errors::chain(&error), "Cannot renew the leases of running executions.");
            }
        }
    }
}

fn requester_of(execution: &ClaimedExecution) -> Requester {
    Requester {
        username: execution.username.clone(),
        api_key_id: execution.api_key_id.clone(),
    }
}

/// What the log says of a queued attempt.
fn attempt_of<'a>(
    execution: &'a ClaimedExecution,
    requester: &'a Requester,
    schedule_delay: Option<Duration>,
) -> Attempt<'a> {
    Attempt {
        execution_id: &execution.id,
        number: execution.attempts,
        space_id: &execution.space_id,
        connector_id: &execution.connector_id,
        source: Source::Queue,
        schedule_delay,
        requester,
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
