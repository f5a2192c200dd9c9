//! The store going away under a running server: 503s in Kibana's envelope within the
//! configured timeout, nothing half-written, and recovery without a restart. The test
//! runs its own PostgreSQL (initdb into a temporary folder) so stopping it disturbs
//! no other test.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::support::{TestApp, app::assert_error, database::postgres_url};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL server owned by one test.
struct OwnPostgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
}

fn as_postgres(program: &str, args: &[&str]) {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--", &format!("{BIN}/{program}")])
        .args(args)
        .output()
        .expect("runuser runs");
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl OwnPostgres {
    fn create() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let data = dir.path().join("data");
        as_postgres(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let server = Self {
            socket_dir: dir.path().to_owned(),
            _dir: dir,
            data,
            port,
        };
        server.start();
        server
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.socket_dir.display()
        );
        let log = self.socket_dir.join("postgres.log");
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl")])
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

fn postgres_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|line| line.starts_with("postgres:"))
        .expect("a postgres user exists");
    let fields: Vec<&str> = line.split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

/// Whether this machine can run a private PostgreSQL: its binaries, and root to act
/// as the postgres user.
fn can_run_own_postgres() -> bool {
    Path::new(BIN).join("initdb").exists()
        && Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|it| it.stdout == b"0\n")
}

#[tokio::test]
async fn the_api_answers_503_while_the_database_is_down_and_recovers_after() {
    // Mandatory in CI like every PostgreSQL test; skipped where there is none.
    if postgres_url("the_api_answers_503_while_the_database_is_down_and_recovers_after").is_none() {
        return;
    }
    assert!(
        can_run_own_postgres(),
        "this test needs PostgreSQL 15's binaries and root"
    );
    let postgres = Arc::new(
        tokio::task::spawn_blocking(OwnPostgres::create)
            .await
            .unwrap(),
    );
    let app = TestApp::with_settings(json!({
        "database": {
            "url": postgres.url(),
            "schema": "public",
            "connectTimeout": "1s",
            "statementTimeout": "2s",
        },
        "xpack": { "encryptedSavedObjects": { "encryptionKey": "a key of at least thirty-two characters" } },
    }))
    .await;
    let id = app
        .create_connector(json!({ "name": "survivor", "connector_type_id": ".server-log" }))
        .await;

    assert_eq!(app.get("/api/status").await.status, 200);

    blocking(&postgres, OwnPostgres::stop).await;

    // The status API says so, to anyone, in Kibana's shape.
    let status = app
        .send(app.anonymous(reqwest::Method::GET, "/api/status"))
        .await;
    assert_eq!(
        (status.status, status.json()),
        (
            503,
            json!({ "status": { "overall": { "level": "unavailable" } } })
        )
    );
    let unavailable = "The database is unavailable. Try again later.";
    let started = Instant::now();
    assert_error(
        &app.get(&format!("/api/actions/connector/{id}")).await,
        503,
        unavailable,
    );
    assert_error(&app.get("/api/actions/connectors").await, 503, unavailable);
    assert_error(
        &app.post(
            "/api/actions/connector",
            json!({ "name": "lost", "connector_type_id": ".server-log" }),
        )
        .await,
        503,
        unavailable,
    );
    assert_error(
        &app.post(
            &format!("/api/actions/connector/{id}/_execute"),
            json!({ "params": { "message": "x" } }),
        )
        .await,
        503,
        unavailable,
    );
    // Four requests, each bounded by the 1 s connect timeout (with slack for a busy machine).
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    blocking(&postgres, OwnPostgres::start).await;

    // Back without a restart, with exactly what was stored before.
    let status = app.get("/api/status").await;
    assert_eq!(
        (
            status.status,
            status.json()["status"]["overall"]["level"].clone()
        ),
        (200, json!("available"))
    );
    let fetched = app.get(&format!("/api/actions/connector/{id}")).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    let listed = app.get("/api/actions/connectors").await.json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|it| it["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["survivor"]);
}

/// Runs a blocking step (pg_ctl waits for the server) off the async threads.
async fn blocking(postgres: &Arc<OwnPostgres>, step: fn(&OwnPostgres)) {
    let postgres = postgres.clone();
    tokio::task::spawn_blocking(move || step(&postgres))
        .await
        .unwrap();
}
