//! The execution queue's rows: enqueue (with idempotency keys), claims with leases,
//! lease renewal, and the end of each attempt. Times are epoch milliseconds.
//!
//! Claims differ by backend: PostgreSQL nodes share the table and skip rows another
//! node has locked (`FOR UPDATE SKIP LOCKED`); SQLite has one process, whose single
//! claimer is the only one asking.

use super::{LogEntryRow, Store, StoreError, execution_log::LogTransaction};

/// How long an idempotency key keeps pointing at its first execution.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// An execution to queue. `params` is sealed.
#[derive(Debug, Clone)]
pub struct NewExecution {
    pub id: String,
    pub space_id: String,
    pub connector_id: String,
    pub params: Vec<u8>,
    pub idempotency_key: Option<String>,
    pub username: Option<String>,
    pub api_key_id: Option<String>,
    pub max_attempts: i64,
    pub created_at: i64,
}

/// A queued execution as its status shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExecutionRow {
    pub id: String,
    pub space_id: String,
    pub connector_id: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub username: Option<String>,
}

/// An execution this node claimed: it holds the lease until it finishes it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedExecution {
    pub id: String,
    pub space_id: String,
    pub connector_id: String,
    pub params: Vec<u8>,
    pub username: Option<String>,
    pub api_key_id: Option<String>,
    /// Counting this one.
    pub attempts: i64,
    pub max_attempts: i64,
    /// When it was due: the schedule delay is measured from here.
    pub run_at: i64,
}

/// How an attempt ended, for the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Succeeded,
    Failed,
    /// Run again at this time.
    RetryAt(i64),
    /// Not run (shutting down, or its connector is busy): back in the queue as it
    /// was, this claim not counted as an attempt, due again at this time.
    Release(i64),
}

const CLAIMED_COLUMNS: &str =
    "id, space_id, connector_id, params, username, api_key_id, attempts, max_attempts, run_at";

impl Store {
    /// Queues executions in one transaction and answers their ids in order. An item
    /// whose idempotency key (per space and connector) was used less than 24 hours ago
    /// gets the first execution's id and is not queued again.
    ///
    /// # Errors
    /// On database failure.
    pub async fn enqueue(&self, items: &[NewExecution]) -> Result<Vec<String>, StoreError> {
        // Two requests with one new key racing: the loser's insert violates the unique
        // index; the second try finds the winner's execution.
        match self.enqueue_once(items).await {
            Err(StoreError::Conflict) => self.enqueue_once(items).await,
            other => other,
        }
    }

    async fn enqueue_once(&self, items: &[NewExecution]) -> Result<Vec<String>, StoreError> {
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            // Take the write lock first: a SQLite transaction that read before writing
            // fails at once (SQLITE_BUSY_SNAPSHOT, no waiting) if another connection
            // wrote in between. A write statement locks even when it changes nothing.
            sqlx::query("UPDATE executions SET state = state WHERE 1 = 0")
                .execute(&mut *transaction)
                .await?;
            let mut ids = Vec::with_capacity(items.len());
            for item in items {
                if let Some(key) = &item.idempotency_key {
                    let earlier: Option<(String, i64)> = sqlx::query_as(
                        "SELECT id, created_at FROM executions \
                         WHERE space_id = $1 AND connector_id = $2 AND idempotency_key = $3",
                    )
                    .bind(&item.space_id)
                    .bind(&item.connector_id)
                    .bind(key)
                    .fetch_optional(&mut *transaction)
                    .await?;
                    match earlier {
                        Some((id, at)) if at > item.created_at - IDEMPOTENCY_WINDOW_MS => {
                            ids.push(id);
                            continue;
                        }
                        // Expired: the key is free for a new execution.
                        Some((id, _)) => {
                            sqlx::query(
                                "UPDATE executions SET idempotency_key = NULL WHERE id = $1",
                            )
                            .bind(id)
                            .execute(&mut *transaction)
                            .await?;
                        }
                        None => {}
                    }
                }
                sqlx::query(
                    "INSERT INTO executions (id, space_id, connector_id, params, idempotency_key, \
                     username, api_key_id, state, attempts, max_attempts, run_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $9, $9)",
                )
                .bind(&item.id)
                .bind(&item.space_id)
                .bind(&item.connector_id)
                .bind(&item.params)
                .bind(&item.idempotency_key)
                .bind(&item.username)
                .bind(&item.api_key_id)
                .bind(item.max_attempts)
                .bind(item.created_at)
                .execute(&mut *transaction)
                .await?;
                ids.push(item.id.clone());
            }
            transaction.commit().await?;
            Ok(ids)
        })
    }

    /// Executions queued or running, everywhere: what `xpack.actions.queued.max` limits.
    ///
    /// # Errors
    /// On database failure.
    pub async fn count_pending(&self) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let (count,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM executions WHERE state IN ('queued', 'running')",
            )
            .fetch_one(pool)
            .await?;
            Ok(count)
        })
    }

    /// Claims up to `limit` due executions for `owner` until `lease_until`: queued ones
    /// whose time has come, and running ones whose lease expired (their node died)
    /// while attempts remain; none of `busy_connectors`. Each claim counts as an
    /// attempt.
    ///
    /// # Errors
    /// On database failure.
    pub async fn claim(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
        busy_connectors: &[String],
    ) -> Result<Vec<ClaimedExecution>, StoreError> {
        // Only PostgreSQL has (and needs) row locks that other claimers skip.
        let locking = match self {
            Self::Sqlite(_) => "",
            Self::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        };
        let busy = busy_connectors
            .iter()
            .enumerate()
            .map(|(index, _)| format!("${}", index + 5))
            .collect::<Vec<_>>()
            .join(", ");
        let not_busy = if busy.is_empty() {
            String::new()
        } else {
            format!("AND connector_id NOT IN ({busy})")
        };
        let sql = format!(
            "UPDATE executions SET state = 'running', lease_owner = $1, lease_expires_at = $2, \
             attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM executions \
               WHERE state IN ('queued', 'running') AND run_at <= $3 \
                 AND (state = 'queued' OR (lease_expires_at < $3 AND attempts < max_attempts)) \
                 {not_busy} \
               ORDER BY run_at LIMIT $4 {locking}) \
             RETURNING {CLAIMED_COLUMNS}"
        );
        on_pool!(self, |pool| {
            // A node died during the last attempt allowed: that attempt counts, and
            // there is none left (Kibana's task manager claims only tasks with
            // attempts remaining).
            sqlx::query(
                "UPDATE executions SET state = 'failed', finished_at = $1, lease_owner = NULL, \
                 lease_expires_at = NULL \
                 WHERE state = 'running' AND lease_expires_at < $1 AND attempts >= max_attempts",
            )
            .bind(now)
            .execute(pool)
            .await?;
            let mut query = sqlx::query_as(&sql)
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .bind(limit);
            for connector in busy_connectors {
                query = query.bind(connector);
            }
            let mut claimed: Vec<ClaimedExecution> = query.fetch_all(pool).await?;
            // RETURNING gives no order; the oldest due run first.
            claimed.sort_by_key(|it| it.run_at);
            Ok(claimed)
        })
    }

    /// Extends `owner`'s leases on these executions (the ones it is running now).
    /// Returns how many it still held.
    ///
    /// # Errors
    /// On database failure.
    pub async fn renew_leases(
        &self,
        owner: &str,
        ids: &[String],
        lease_until: i64,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        on_pool!(self, |pool| {
            let mut renewed = 0;
            // Bounded statements; ids in order, as `finish` locks them (no deadlock).
            for chunk in ids.chunks(500) {
                let mut update =
                    sqlx::QueryBuilder::new("UPDATE executions SET lease_expires_at = ");
                update
                    .push_bind(lease_until)
                    .push(" WHERE state = 'running' AND lease_owner = ")
                    .push_bind(owner)
                    .push(" AND id IN (");
                let mut listed = update.separated(", ");
                for id in chunk {
                    listed.push_bind(id);
                }
                update.push(")");
                renewed += update.build().execute(pool).await?.rows_affected();
            }
            Ok(renewed)
        })
    }

    /// Records how attempts ended, and their log entries, in one transaction. An
    /// execution whose lease `owner` lost (another node took it over) is left as it is;
    /// its log entry is still written, since the attempt did run.
    ///
    /// # Errors
    /// On database failure.
    pub async fn finish(
        &self,
        owner: &str,
        now: i64,
        finished: &[(String, Finish)],
        log: &[LogEntryRow],
    ) -> Result<(), StoreError> {
        // Rows locked in id order, as lease renewal locks them: no deadlock between
        // the two on PostgreSQL.
        let mut finished: Vec<&(String, Finish)> = finished.iter().collect();
        finished.sort_by(|a, b| a.0.cmp(&b.0));
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            for (id, finish) in &finished {
                let query = match finish {
                    Finish::Succeeded | Finish::Failed => sqlx::query(
                        "UPDATE executions SET state = $1, finished_at = $2, lease_owner = NULL, \
                         lease_expires_at = NULL WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
                    )
                    .bind(if *finish == Finish::Succeeded {
                        "succeeded"
                    } else {
                        "failed"
                    })
                    .bind(now),
                    &Finish::RetryAt(at) => sqlx::query(
                        "UPDATE executions SET state = $1, run_at = $2, lease_owner = NULL, \
                         lease_expires_at = NULL WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
                    )
                    .bind("queued")
                    .bind(at),
                    &Finish::Release(at) => sqlx::query(
                        "UPDATE executions SET state = $1, run_at = $2, attempts = attempts - 1, \
                         lease_owner = NULL, lease_expires_at = NULL \
                         WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
                    )
                    .bind("queued")
                    .bind(at),
                };
                query
                    .bind(id)
                    .bind(owner)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.insert_log_rows(log).await?;
            transaction.commit().await?;
            Ok(())
        })
    }

    /// A queued execution in a space.
    ///
    /// # Errors
    /// On database failure.
    pub async fn execution(
        &self,
        space_id: &str,
        id: &str,
    ) -> Result<Option<ExecutionRow>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT id, space_id, connector_id, state, attempts, max_attempts, run_at, created_at, \
             finished_at, username FROM executions WHERE id = $1 AND space_id = $2"
        )
        .bind(id)
        .bind(space_id)
        .fetch_optional(pool)
        .await?))
    }

    /// Deletes finished executions and log entries older than `before` (executions
    /// not before their idempotency key expires), a bounded batch at a time so
    /// writers are never held up long. Returns how many rows went.
    ///
    /// # Errors
    /// On database failure.
    pub async fn prune_executions(&self, before: i64, now: i64) -> Result<u64, StoreError> {
        const BATCH: i64 = 5000;
        // Executions stay at least as long as their idempotency key holds.
        let executions_before = before.min(now - IDEMPOTENCY_WINDOW_MS);
        let mut total = 0;
        for (sql, before) in [
            (
                "DELETE FROM executions WHERE id IN (SELECT id FROM executions \
                 WHERE state IN ('succeeded', 'failed') AND finished_at < $1 LIMIT $2)",
                executions_before,
            ),
            (
                "DELETE FROM execution_log WHERE seq IN (SELECT seq FROM execution_log \
                 WHERE started_at < $1 LIMIT $2)",
                before,
            ),
        ] {
            loop {
                let deleted = on_pool!(self, |pool| sqlx::query(sql)
                    .bind(before)
                    .bind(BATCH)
                    .execute(pool)
                    .await?
                    .rows_affected());
                total += deleted;
                if deleted < BATCH as u64 {
                    break;
                }
            }
        }
        Ok(total)
    }
}

impl Store {
    /// Executions queued and running, and the due time of the oldest queued one
    /// that is due (for the queue's metrics).
    ///
    /// # Errors
    /// On database failure.
    pub async fn queue_state(&self, now: i64) -> Result<(i64, i64, Option<i64>), StoreError> {
        on_pool!(self, |pool| {
            let counts: Vec<(String, i64)> = sqlx::query_as(
                "SELECT state, COUNT(*) FROM executions \
                 WHERE state IN ('queued', 'running') GROUP BY state",
            )
            .fetch_all(pool)
            .await?;
            let (oldest,): (Option<i64>,) = sqlx::query_as(
                "SELECT MIN(run_at) FROM executions WHERE state = 'queued' AND run_at <= $1",
            )
            .bind(now)
            .fetch_one(pool)
            .await?;
            let count = |state: &str| {
                counts
                    .iter()
                    .find(|(it, _)| it == state)
                    .map_or(0, |(_, count)| *count)
            };
            Ok((count("queued"), count("running"), oldest))
        })
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }
}
