//! Which databases the suite runs on.
//!
//! `TEST_DATABASE_URL` names a PostgreSQL database for the tests that need one (the
//! store story on PostgreSQL, several nodes, faults). With `CI=true` they fail when it
//! is missing; elsewhere they are skipped with a printed reason.
//! `TEST_API_BACKEND=postgres` runs the whole HTTP suite on that database too, each
//! test app in a schema of its own.

use std::sync::atomic::{AtomicU32, Ordering};

/// The PostgreSQL URL for tests that need one, or `None` (with a printed reason)
/// when they are to be skipped.
///
/// # Panics
/// In CI (`CI=true`) when no database is configured: those tests are mandatory there.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|it| it == "true") => {
            panic!("{test}: TEST_DATABASE_URL is not set, and PostgreSQL tests are mandatory in CI")
        }
        _ => {
            eprintln!("{test}: skipped, TEST_DATABASE_URL is not set (see .ci/start-postgres)");
            None
        }
    }
}

/// The PostgreSQL URL the whole HTTP suite runs on, when `TEST_API_BACKEND=postgres`.
pub fn api_suite_database_url() -> Option<String> {
    if std::env::var("TEST_API_BACKEND").is_ok_and(|it| it == "postgres") {
        Some(postgres_url("the HTTP suite on PostgreSQL").expect("TEST_DATABASE_URL is set"))
    } else {
        None
    }
}

/// A schema name no other test of this run uses.
pub fn fresh_schema() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Marks a SQLite database as migrated by a newer binary (version 9999).
pub async fn record_future_migration(database: &std::path::Path) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, X'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}
