-- Queued executions: one row per execution enqueued, kept after it ends (for its
-- status and its idempotency key) until the execution log's retention removes it.
-- Times are epoch milliseconds.
CREATE TABLE executions (
    id               TEXT    NOT NULL PRIMARY KEY,
    space_id         TEXT    NOT NULL,
    connector_id     TEXT    NOT NULL,
    -- The params as JSON, sealed by crypto::SecretBox (they may hold personal data).
    params           BLOB    NOT NULL,
    idempotency_key  TEXT,
    -- Who queued it: the run acts with this user's (or API key's) current rights.
    username         TEXT,
    api_key_id       TEXT,
    -- queued, running, succeeded or failed.
    state            TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER
) STRICT;

-- Claims look only at what is pending, oldest due first.
CREATE INDEX executions_pending ON executions (run_at) WHERE state IN ('queued', 'running');
CREATE UNIQUE INDEX executions_idempotency ON executions (space_id, connector_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX executions_by_creation ON executions (created_at);

-- The execution log: one row per attempt of every run, from _execute or the queue.
CREATE TABLE execution_log (
    seq               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    execution_id      TEXT    NOT NULL,
    attempt           INTEGER NOT NULL,
    space_id          TEXT    NOT NULL,
    connector_id      TEXT    NOT NULL,
    connector_name    TEXT    NOT NULL,
    type_id           TEXT    NOT NULL,
    -- http_request or queue.
    source            TEXT    NOT NULL,
    started_at        INTEGER NOT NULL,
    duration_us       INTEGER NOT NULL,
    schedule_delay_ms INTEGER,
    -- success or failure.
    outcome           TEXT    NOT NULL,
    message           TEXT    NOT NULL,
    error_message     TEXT,
    service_message   TEXT,
    error_source      TEXT,
    -- false, true or an ISO time; NULL on success.
    retry             TEXT,
    username          TEXT,
    api_key_id        TEXT
) STRICT;

CREATE INDEX execution_log_by_time ON execution_log (started_at);
CREATE INDEX execution_log_by_connector ON execution_log (connector_id, started_at);
CREATE INDEX execution_log_by_execution ON execution_log (execution_id);
