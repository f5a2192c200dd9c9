//! The execution log's rows: one per attempt, written in batches, read back filtered,
//! sorted and paged.

use sqlx::QueryBuilder;

use super::{Store, StoreError};

/// One attempt of one run. Times are epoch milliseconds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogEntryRow {
    pub execution_id: String,
    pub attempt: i64,
    pub space_id: String,
    pub connector_id: String,
    pub connector_name: String,
    pub type_id: String,
    pub source: String,
    pub started_at: i64,
    pub duration_us: i64,
    pub schedule_delay_ms: Option<i64>,
    pub outcome: String,
    pub message: String,
    pub error_message: Option<String>,
    pub service_message: Option<String>,
    pub error_source: Option<String>,
    pub retry: Option<String>,
    pub username: Option<String>,
    pub api_key_id: Option<String>,
}

const LOG_COLUMNS: &str = "execution_id, attempt, space_id, connector_id, connector_name, type_id, \
    source, started_at, duration_us, schedule_delay_ms, outcome, message, error_message, \
    service_message, error_source, retry, username, api_key_id";

/// What to read from the log. `None` means no restriction.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// The spaces the reader may see; never empty.
    pub space_ids: Vec<String>,
    pub connector_id: Option<String>,
    pub execution_id: Option<String>,
    /// `started_at` in `[from, to]`.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub outcome: Option<String>,
    pub filter: Option<LogFilter>,
    pub sort: Vec<(LogSort, bool)>,
    pub offset: i64,
    pub limit: i64,
}

/// Sort keys; the flag beside one says descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSort {
    Timestamp,
    Duration,
    ScheduleDelay,
}

/// A condition on log rows (what a KQL filter becomes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFilter {
    All(Vec<LogFilter>),
    Any(Vec<LogFilter>),
    Not(Box<LogFilter>),
    /// The column, lower-cased, is `LIKE` this lower-case pattern (`\\` escapes).
    Like(LogField, String),
    /// The column has a value.
    Exists(LogField),
    /// Matches nothing (a field the log does not have).
    Never,
}

/// Log columns a filter may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogField {
    Outcome,
    Message,
    ErrorMessage,
    ServiceMessage,
    ConnectorId,
    ConnectorName,
    TypeId,
    ExecutionId,
    Source,
    SpaceId,
    Username,
}

impl LogField {
    fn column(self) -> &'static str {
        match self {
            Self::Outcome => "outcome",
            Self::Message => "message",
            Self::ErrorMessage => "error_message",
            Self::ServiceMessage => "service_message",
            Self::ConnectorId => "connector_id",
            Self::ConnectorName => "connector_name",
            Self::TypeId => "type_id",
            Self::ExecutionId => "execution_id",
            Self::Source => "source",
            Self::SpaceId => "space_id",
            Self::Username => "username",
        }
    }
}

/// Appends a filter as SQL, its values bound.
fn push_filter<'a, DB>(builder: &mut QueryBuilder<'a, DB>, filter: &LogFilter)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    match filter {
        LogFilter::All(parts) | LogFilter::Any(parts) if parts.is_empty() => {
            builder.push(if matches!(filter, LogFilter::All(_)) {
                "1 = 1"
            } else {
                "1 = 0"
            });
        }
        LogFilter::All(parts) | LogFilter::Any(parts) => {
            let joiner = if matches!(filter, LogFilter::All(_)) {
                " AND "
            } else {
                " OR "
            };
            builder.push("(");
            for (index, part) in parts.iter().enumerate() {
                if index > 0 {
                    builder.push(joiner);
                }
                push_filter(builder, part);
            }
            builder.push(")");
        }
        LogFilter::Not(inner) => {
            // A missing value neither matches nor fails to: NOT must still match it.
            builder.push("(NOT COALESCE(");
            push_filter(builder, inner);
            builder.push(", FALSE))");
        }
        LogFilter::Like(field, pattern) => {
            builder
                .push(format!("(LOWER({}) LIKE ", field.column()))
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\')");
        }
        LogFilter::Exists(field) => {
            builder.push(format!("({} IS NOT NULL)", field.column()));
        }
        LogFilter::Never => {
            builder.push("1 = 0");
        }
    }
}

/// Attempts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    pub success: i64,
    pub failure: i64,
}

/// Inserts log rows on a transaction of either backend, as one statement per batch.
macro_rules! push_log_rows {
    ($transaction:expr, $rows:expr) => {{
        // Bind parameters are limited per statement (SQLite: 32766); 18 per row.
        for chunk in $rows.chunks(500) {
            let mut insert =
                QueryBuilder::new(format!("INSERT INTO execution_log ({LOG_COLUMNS}) "));
            insert.push_values(chunk, |mut row, entry| {
                row.push_bind(&entry.execution_id)
                    .push_bind(entry.attempt)
                    .push_bind(&entry.space_id)
                    .push_bind(&entry.connector_id)
                    .push_bind(&entry.connector_name)
                    .push_bind(&entry.type_id)
                    .push_bind(&entry.source)
                    .push_bind(entry.started_at)
                    .push_bind(entry.duration_us)
                    .push_bind(entry.schedule_delay_ms)
                    .push_bind(&entry.outcome)
                    .push_bind(&entry.message)
                    .push_bind(&entry.error_message)
                    .push_bind(&entry.service_message)
                    .push_bind(&entry.error_source)
                    .push_bind(&entry.retry)
                    .push_bind(&entry.username)
                    .push_bind(&entry.api_key_id);
            });
            insert.build().execute(&mut **$transaction).await?;
        }
    }};
}

/// A transaction of either backend that can take log rows (written inside a
/// transaction the caller commits).
pub(super) trait LogTransaction {
    async fn insert_log_rows(&mut self, rows: &[LogEntryRow]) -> Result<(), sqlx::Error>;
}

impl LogTransaction for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn insert_log_rows(&mut self, rows: &[LogEntryRow]) -> Result<(), sqlx::Error> {
        push_log_rows!(self, rows);
        Ok(())
    }
}

impl LogTransaction for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn insert_log_rows(&mut self, rows: &[LogEntryRow]) -> Result<(), sqlx::Error> {
        push_log_rows!(self, rows);
        Ok(())
    }
}

/// Appends the WHERE clause of a log query.
macro_rules! push_filters {
    ($builder:expr, $query:expr) => {{
        let query = $query;
        $builder.push(" WHERE space_id IN (");
        let mut spaces = $builder.separated(", ");
        for space in &query.space_ids {
            spaces.push_bind(space.clone());
        }
        $builder.push(")");
        if let Some(id) = &query.connector_id {
            $builder.push(" AND connector_id = ").push_bind(id.clone());
        }
        if let Some(id) = &query.execution_id {
            $builder.push(" AND execution_id = ").push_bind(id.clone());
        }
        if let Some(from) = query.from {
            $builder.push(" AND started_at >= ").push_bind(from);
        }
        if let Some(to) = query.to {
            $builder.push(" AND started_at <= ").push_bind(to);
        }
        if let Some(outcome) = &query.outcome {
            $builder.push(" AND outcome = ").push_bind(outcome.clone());
        }
        if let Some(filter) = &query.filter {
            $builder.push(" AND ");
            push_filter(&mut $builder, filter);
        }
    }};
}

impl Store {
    /// Writes log rows (runs that are not queued: `_execute`).
    ///
    /// # Errors
    /// On database failure.
    pub async fn insert_log(&self, rows: &[LogEntryRow]) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            transaction.insert_log_rows(rows).await?;
            transaction.commit().await?;
            Ok(())
        })
    }

    /// The rows a query selects (one page) and how many it selects in all.
    ///
    /// # Errors
    /// On database failure.
    pub async fn read_log(&self, query: &LogQuery) -> Result<(i64, Vec<LogEntryRow>), StoreError> {
        on_pool!(self, |pool| {
            let mut count = QueryBuilder::new("SELECT COUNT(*) FROM execution_log");
            push_filters!(count, query);
            let (total,): (i64,) = count.build_query_as().fetch_one(pool).await?;
            let mut select = QueryBuilder::new(format!("SELECT {LOG_COLUMNS} FROM execution_log"));
            push_filters!(select, query);
            select.push(" ORDER BY ");
            for (key, descending) in &query.sort {
                select.push(match key {
                    LogSort::Timestamp => "started_at",
                    LogSort::Duration => "duration_us",
                    LogSort::ScheduleDelay => "COALESCE(schedule_delay_ms, 0)",
                });
                select.push(if *descending { " DESC, " } else { " ASC, " });
            }
            // The insertion order breaks ties, so pages never overlap.
            select.push("seq DESC LIMIT ");
            select.push_bind(query.limit);
            select.push(" OFFSET ");
            select.push_bind(query.offset);
            let rows = select.build_query_as().fetch_all(pool).await?;
            Ok((total, rows))
        })
    }

    /// How many attempts a query selects, per outcome.
    ///
    /// # Errors
    /// On database failure.
    pub async fn count_log_outcomes(&self, query: &LogQuery) -> Result<OutcomeCounts, StoreError> {
        on_pool!(self, |pool| {
            let mut select = QueryBuilder::new("SELECT outcome, COUNT(*) FROM execution_log");
            push_filters!(select, query);
            select.push(" GROUP BY outcome");
            let rows: Vec<(String, i64)> = select.build_query_as().fetch_all(pool).await?;
            let mut counts = OutcomeCounts::default();
            for (outcome, count) in rows {
                match outcome.as_str() {
                    "success" => counts.success = count,
                    _ => counts.failure += count,
                }
            }
            Ok(counts)
        })
    }
}
