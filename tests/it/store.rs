//! The storage story, written once and run on SQLite and on PostgreSQL.

use switchboard::store::{
    ConnectorChange, ConnectorRow, DatabaseSettings, SpaceRow, Store, StoreError,
};

use crate::support::database::{fresh_schema, postgres_url, record_future_migration};

fn row(id: &str, space_id: &str, secrets: Vec<u8>) -> ConnectorRow {
    ConnectorRow {
        id: id.to_owned(),
        space_id: space_id.to_owned(),
        type_id: ".webhook".to_owned(),
        name: format!("connector {id} ✓"),
        config: r#"{"url":"http://127.0.0.1:9/"}"#.to_owned(),
        secrets,
        is_missing_secrets: false,
    }
}

async fn add_spaces(store: &Store) {
    for id in ["space1", "space2"] {
        let space = SpaceRow {
            id: id.to_owned(),
            attributes: format!(r#"{{"name":"{id}"}}"#),
        };
        store.insert_space(&space).await.unwrap();
    }
}

async fn store_story(store: Store) {
    // A connector goes only into a space that exists.
    assert!(matches!(
        store.insert(&row("early", "space1", vec![1])).await,
        Err(StoreError::NoSuchSpace)
    ));
    add_spaces(&store).await;
    let every_byte: Vec<u8> = (0..=255).collect();
    let first = row("first", "space1", every_byte.clone());
    store.insert(&first).await.unwrap();

    // Ids are global: the same id is a conflict in any space.
    assert!(matches!(
        store.insert(&first).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store.insert(&row("first", "space2", vec![1])).await,
        Err(StoreError::Conflict)
    ));

    let fetched = store.get("space1", "first").await.unwrap().unwrap();
    assert_eq!(
        (
            fetched.name.as_str(),
            fetched.type_id.as_str(),
            fetched.config.as_str()
        ),
        (
            "connector first ✓",
            ".webhook",
            r#"{"url":"http://127.0.0.1:9/"}"#
        )
    );
    assert_eq!(fetched.secrets, every_byte);
    assert!(!fetched.is_missing_secrets);
    assert!(store.get("space2", "first").await.unwrap().is_none());

    store
        .insert(&row("second", "space1", vec![2]))
        .await
        .unwrap();
    store
        .insert(&row("elsewhere", "space2", vec![3]))
        .await
        .unwrap();
    let mut ids: Vec<String> = store
        .list("space1")
        .await
        .unwrap()
        .into_iter()
        .map(|it| it.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["first", "second"]);
    assert!(store.list("space3").await.unwrap().is_empty());

    let change = ConnectorChange {
        name: "renamed".to_owned(),
        config: r#"{"url":"http://127.0.0.1:9/new"}"#.to_owned(),
        secrets: vec![9, 9, 9],
    };
    assert!(!store.update("space2", "first", &change).await.unwrap());
    assert!(store.update("space1", "first", &change).await.unwrap());
    let updated = store.get("space1", "first").await.unwrap().unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.config.as_str(),
            updated.secrets.as_slice()
        ),
        (
            "renamed",
            r#"{"url":"http://127.0.0.1:9/new"}"#,
            [9, 9, 9].as_slice()
        )
    );
    assert!(!store.update("space1", "missing", &change).await.unwrap());

    assert!(!store.delete("space2", "first").await.unwrap());
    assert!(store.delete("space1", "first").await.unwrap());
    assert!(store.get("space1", "first").await.unwrap().is_none());
    assert!(!store.delete("space1", "first").await.unwrap());
    // The id is free again.
    store
        .insert(&row("first", "space2", vec![4]))
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_store_story() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&DatabaseSettings::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(store.backend(), "sqlite");
    store_story(store).await;
}

fn postgres_settings(url: String) -> DatabaseSettings {
    DatabaseSettings {
        url: Some(url),
        schema: fresh_schema(),
        ..DatabaseSettings::default()
    }
}

#[tokio::test]
async fn postgres_store_story() {
    let Some(url) = postgres_url("postgres_store_story") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&postgres_settings(url), dir.path())
        .await
        .unwrap();
    assert_eq!(store.backend(), "postgres");
    store_story(store).await;
}

#[tokio::test]
async fn a_sqlite_schema_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(
        Store::open(&DatabaseSettings::default(), dir.path())
            .await
            .unwrap(),
    );
    record_future_migration(&dir.path().join("switchboard.db")).await;

    let error = Store::open(&DatabaseSettings::default(), dir.path())
        .await
        .err()
        .unwrap();

    assert_eq!(
        error.to_string(),
        "the database schema is at version 9999, newer than this binary knows (up to 3): run a newer Switchboard"
    );
}

#[tokio::test]
async fn a_postgres_schema_newer_than_the_binary_is_refused() {
    let Some(url) = postgres_url("a_postgres_schema_newer_than_the_binary_is_refused") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = postgres_settings(url.clone());
    drop(Store::open(&settings, dir.path()).await.unwrap());
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!(
        "INSERT INTO \"{}\"._sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, '\\x00'::bytea, 0)",
        settings.schema
    ))
    .execute(&pool)
    .await
    .unwrap();

    let error = Store::open(&settings, dir.path()).await.err().unwrap();

    assert!(
        matches!(
            error,
            StoreError::SchemaTooNew {
                applied: 9999,
                known: 3
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_sqlite_write_abandoned_by_its_caller_still_completes_and_is_not_hidden_by_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&DatabaseSettings::default(), dir.path())
        .await
        .unwrap();
    add_spaces(&store).await;
    store
        .insert(&row("cached", "space1", vec![1]))
        .await
        .unwrap();
    // Read once, so the row sits in the cache.
    assert_eq!(
        store
            .get("space1", "cached")
            .await
            .unwrap()
            .unwrap()
            .secrets,
        [1]
    );

    let change = ConnectorChange {
        name: "changed".to_owned(),
        config: "{}".to_owned(),
        secrets: vec![2],
    };
    let mut update = Box::pin(store.update("space1", "cached", &change));
    // Poll the update once, then drop it: a request cancelled mid-write.
    tokio::select! {
        biased;
        _ = &mut update => {}
        () = std::future::ready(()) => {}
    }
    drop(update);

    // The write runs to its end on its own, and the cache then lets it show.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let fetched = store.get("space1", "cached").await.unwrap().unwrap();
        if fetched.name == "changed" {
            assert_eq!(fetched.secrets, [2]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {:?}",
            fetched.name
        );
        tokio::task::yield_now().await;
    }
}
