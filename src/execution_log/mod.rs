//! The execution log: one entry per attempt of every run, from `_execute` or the
//! queue. Entries are written by one task in batches, so the request path only hands
//! an entry over; a queued attempt's entry is written in the same transaction that
//! records how the attempt ended.

pub mod kql;
pub mod view;

use std::time::{Duration, SystemTime};

use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    connector_types::Retry,
    executor::{Run, Status},
    store::{Finish, LogEntryRow, Store},
    timestamp::{epoch_millis, iso},
};

/// Where a run came from, as Kibana's `kibana.action.execution.source` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    HttpRequest,
    Queue,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpRequest => "http_request",
            Self::Queue => "queue",
        }
    }
}

/// Who asked for a run.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    pub username: Option<String>,
    pub api_key_id: Option<String>,
}

/// What an entry says about the attempt, beyond the run itself.
pub struct Attempt<'a> {
    pub execution_id: &'a str,
    pub number: i64,
    pub space_id: &'a str,
    pub connector_id: &'a str,
    pub source: Source,
    /// How long after it was due the attempt started (queued runs).
    pub schedule_delay: Option<Duration>,
    pub requester: &'a Requester,
}

/// The log entry of a run.
pub fn entry(attempt: &Attempt<'_>, run: &Run) -> LogEntryRow {
    let result = &run.result;
    let failed = result.status == Status::Error;
    entry_of(
        attempt,
        Described {
            type_id: &run.type_id,
            name: &run.connector_name,
            started: run.started,
            duration: run.duration,
            failed,
            error_message: result.message.clone(),
            service_message: result.service_message.clone(),
            error_source: result.error_source,
            retry: if failed { run.retry } else { None },
        },
    )
}

/// The log entry of an attempt that could not reach the connector (it was deleted,
/// or whoever queued it may no longer run it).
pub fn refusal_entry(
    attempt: &Attempt<'_>,
    type_id: &str,
    name: &str,
    message: String,
) -> LogEntryRow {
    entry_of(
        attempt,
        Described {
            type_id,
            name,
            started: SystemTime::now(),
            duration: Duration::ZERO,
            failed: true,
            error_message: Some(message),
            service_message: None,
            error_source: Some("user"),
            retry: Some(Retry::No),
        },
    )
}

struct Described<'a> {
    type_id: &'a str,
    name: &'a str,
    started: SystemTime,
    duration: Duration,
    failed: bool,
    error_message: Option<String>,
    service_message: Option<String>,
    error_source: Option<&'static str>,
    retry: Option<Retry>,
}

fn entry_of(attempt: &Attempt<'_>, described: Described<'_>) -> LogEntryRow {
    let Described { type_id, name, .. } = described;
    // Kibana's event messages.
    let message = if described.failed {
        format!(
            "action execution failure: {type_id}:{}: {name}",
            attempt.connector_id
        )
    } else {
        format!(
            "action executed: {type_id}:{}: {name}",
            attempt.connector_id
        )
    };
    LogEntryRow {
        execution_id: attempt.execution_id.to_owned(),
        attempt: attempt.number,
        space_id: attempt.space_id.to_owned(),
        connector_id: attempt.connector_id.to_owned(),
        connector_name: name.to_owned(),
        type_id: type_id.to_owned(),
        source: attempt.source.as_str().to_owned(),
        started_at: epoch_millis(described.started),
        duration_us: i64::try_from(described.duration.as_micros()).unwrap_or(i64::MAX),
        schedule_delay_ms: attempt
            .schedule_delay
            .map(|it| i64::try_from(it.as_millis()).unwrap_or(i64::MAX)),
        outcome: if described.failed {
            "failure"
        } else {
            "success"
        }
        .to_owned(),
        message,
        error_message: described
            .error_message
            .filter(|_| described.failed)
            .map(without_nul),
        // A third party's text may hold anything, NUL included, which PostgreSQL text
        // cannot store (and which would fail the whole batch).
        service_message: described
            .service_message
            .filter(|_| described.failed)
            .map(without_nul),
        error_source: described
            .error_source
            .filter(|_| described.failed)
            .map(str::to_owned),
        retry: described.retry.map(|retry| match retry {
            Retry::No => "false".to_owned(),
            Retry::Yes => "true".to_owned(),
            Retry::At(at) => iso(at),
        }),
        username: attempt.requester.username.clone(),
        api_key_id: attempt.requester.api_key_id.clone(),
    }
}

fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text
    }
}

enum Record {
    /// A run that is not queued (`_execute`).
    Logged(LogEntryRow),
    /// A queued attempt's end, with its entry if it ran.
    Finished {
        execution_id: String,
        finish: Finish,
        entry: Option<LogEntryRow>,
    },
}

/// Hands entries and attempt ends to the writer task.
#[derive(Clone)]
pub struct Recorder {
    sender: mpsc::Sender<Record>,
}

/// Entries waiting beyond this are dropped (with a warning) rather than slowing
/// `_execute` down while the database is unavailable.
const BACKLOG: usize = 20_000;
/// At most this many records go into one transaction.
const BATCH: usize = 500;

impl Recorder {
    /// Starts the writer task. `owner` is this node's lease owner id: an attempt's
    /// end is recorded only while the node still holds its lease. The task ends once
    /// every `Recorder` is dropped and what they handed over is written.
    pub fn start(store: Store, owner: String) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(BACKLOG);
        let task = tokio::spawn(write_records(store, owner, receiver));
        (Self { sender }, task)
    }

    /// Logs a run that is not queued. Never waits: when the backlog is full the entry
    /// is dropped and a warning says so.
    pub fn log(&self, entry: LogEntryRow) {
        if self.sender.try_send(Record::Logged(entry)).is_err() {
            tracing::warn!(
                "The execution log is behind (is the database unavailable?); an entry was dropped."
            );
        }
    }

    /// Records how a queued attempt ended (waits while the backlog is full: workers
    /// slow down rather than lose an outcome).
    pub async fn finished(&self, execution_id: String, finish: Finish, entry: Option<LogEntryRow>) {
        let record = Record::Finished {
            execution_id,
            finish,
            entry,
        };
        if self.sender.send(record).await.is_err() {
            tracing::error!(
                "The execution log writer stopped; an attempt's outcome was not recorded."
            );
        }
    }
}

async fn write_records(store: Store, owner: String, mut receiver: mpsc::Receiver<Record>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let mut finished = Vec::new();
        let mut entries = Vec::with_capacity(batch.len());
        for record in batch.drain(..) {
            match record {
                Record::Logged(entry) => entries.push(entry),
                Record::Finished {
                    execution_id,
                    finish,
                    entry,
                } => {
                    finished.push((execution_id, finish));
                    entries.extend(entry);
                }
            }
        }
        // The database may be briefly unavailable: try again, then give up on this
        // batch (a queued attempt whose end is lost runs again when its lease expires).
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=8 {
            let now = epoch_millis(SystemTime::now());
            match store.finish(&owner, now, &finished, &entries).await {
                Ok(()) => break,
                Err(error) if attempt < 8 => {
                    tracing::warn!(error = %crate::errors::chain(&error), "Cannot write the execution log yet; trying again.");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(error) => {
                    tracing::error!(error = %crate::errors::chain(&error), entries = entries.len(), "Cannot write the execution log; entries dropped.");
                }
            }
        }
    }
}
