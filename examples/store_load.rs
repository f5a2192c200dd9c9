//! Store throughput for the benchmark (`bench/run.sh`): create, get and list through
//! the HTTP API of a release server with 10,000 and 100,000 connectors in one space,
//! queued executions per second through one node to a loopback sink, and the cost
//! of opening one connector's secrets.
//!
//! `store_load sqlite <scratch dir>` or `store_load postgres <database URL>`.

// A load generator is a client, not the server's egress.
#![allow(clippy::disallowed_methods)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use switchboard::crypto::{Binding, SecretBox};

const SIZES: [usize; 2] = [10_000, 100_000];
const CREATORS: usize = 32;
const GETS: usize = 2_000;
const LISTS: usize = 5;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (backend, target) = match args.as_slice() {
        [_, backend, target] if backend == "sqlite" || backend == "postgres" => {
            (backend.clone(), target.clone())
        }
        _ => {
            eprintln!(
                "usage: store_load sqlite <scratch dir> | store_load postgres <database URL>"
            );
            std::process::exit(2);
        }
    };
    println!("-- {backend}");
    // BENCH_QUEUE_ONLY=1 measures the queue alone.
    let sizes = if std::env::var("BENCH_QUEUE_ONLY").is_ok_and(|it| it == "1") {
        &[][..]
    } else {
        &SIZES[..]
    };
    for &size in sizes {
        let server = Server::start(&backend, &target, size);
        measure(&server, size).await;
    }
    let server = Server::start(&backend, &target, 0);
    measure_queue(&server).await;
    if backend == "sqlite" {
        measure_secrets();
    }
}

struct Server {
    child: Child,
    base: String,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

impl Server {
    fn start(backend: &str, target: &str, size: usize) -> Self {
        let binary = std::env::current_exe()
            .unwrap()
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join("switchboard");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // SQLite keeps its file in the data directory; PostgreSQL only the key file.
        let data = match backend {
            "sqlite" => Path::new(target).join(format!("{size}")),
            _ => std::env::temp_dir().join(format!(
                "switchboard-store-load-{}-{size}",
                std::process::id()
            )),
        };
        let _ = std::fs::remove_dir_all(&data);
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("SWITCHBOARD_SERVER_PORT", port.to_string())
            .env("SWITCHBOARD_PATH_DATA", &data)
            .env("SWITCHBOARD_LOGGING_ROOT_LEVEL", "warn")
            // Security stays on, as by default; the client logs in as this superuser.
            .env("SWITCHBOARD_SECURITY_ELASTICPASSWORD", "bench-password")
            .stdout(Stdio::null());
        if backend == "postgres" {
            command
                .env("SWITCHBOARD_DATABASE_URL", target)
                // Required with a shared database: every node must use the same key.
                .env(
                    "SWITCHBOARD_XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY",
                    "the benchmark's key of at least thirty-two characters",
                )
                .env(
                "SWITCHBOARD_DATABASE_SCHEMA",
                format!("load_{}_{size}", std::process::id()),
            );
        }
        let child = command.spawn().expect("the release binary starts");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        Self { child, base, data }
    }
}

async fn measure(server: &Server, size: usize) {
    let client = bench_client();
    let space = client
        .post(format!("{}/api/spaces/space", server.base))
        .header("kbn-xsrf", "true")
        .json(&json!({ "id": "bench", "name": "bench" }))
        .send()
        .await
        .expect("the server answers");
    assert!(
        space.status().is_success(),
        "space not created: {}",
        space.status()
    );
    let created = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..CREATORS {
        let client = client.clone();
        let created = created.clone();
        let url = format!("{}/s/bench/api/actions/connector", server.base);
        workers.spawn(async move {
            let mut ids = Vec::new();
            while created.fetch_add(1, Ordering::Relaxed) < size {
                let response: Value = client
                    .post(&url)
                    .header("kbn-xsrf", "true")
                    .json(&json!({
                        "name": format!("hook {worker}-{}", ids.len()),
                        "connector_type_id": ".webhook",
                        "config": { "url": "http://127.0.0.1:9/hook", "headers": { "Content-Type": "application/json" } },
                        "secrets": { "user": "elastic", "password": "changeme" },
                    }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                ids.push(response["id"].as_str().expect("created").to_owned());
            }
            ids
        });
    }
    let ids: Vec<String> = workers.join_all().await.into_iter().flatten().collect();
    let create_seconds = started.elapsed().as_secs_f64();
    println!(
        "{size:>7} connectors: create {:>6.0}/s ({CREATORS} concurrent clients)",
        ids.len() as f64 / create_seconds
    );

    let mut latencies = Vec::with_capacity(GETS);
    for n in 0..GETS {
        let id = &ids[(n * 7919) % ids.len()];
        let started = Instant::now();
        let response = client
            .get(format!(
                "{}/s/bench/api/actions/connector/{id}",
                server.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "{size:>7} connectors: get one p50 {:.3} ms, p99 {:.3} ms (sequential, {GETS} gets)",
        millis(latencies[GETS / 2]),
        millis(latencies[GETS * 99 / 100])
    );

    let mut lists = Vec::with_capacity(LISTS);
    let mut bytes = 0;
    for _ in 0..LISTS {
        let started = Instant::now();
        let body = client
            .get(format!("{}/s/bench/api/actions/connectors", server.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        lists.push(started.elapsed());
        bytes = body.len();
    }
    lists.sort();
    println!(
        "{size:>7} connectors: list all median {:.0} ms ({:.1} MB of JSON)",
        millis(lists[LISTS / 2]),
        bytes as f64 / 1_048_576.0
    );
}

/// Executions queued through one node.
const QUEUED: usize = 20_000;
const ENQUEUE_BATCH: usize = 500;

/// Queued executions per second: `_bulk_enqueue` of `QUEUED` executions of a webhook
/// to a loopback sink that counts what arrives, until the last one is delivered and
/// until the log has recorded every one.
async fn measure_queue(server: &Server) {
    let delivered = Arc::new(AtomicUsize::new(0));
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_url = format!("http://{}/hook", sink.local_addr().unwrap());
    let counter = delivered.clone();
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            async { "ok" }
        });
        axum::serve(sink, app).await.unwrap();
    });
    let client = bench_client();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", server.base))
            .header("kbn-xsrf", "true")
            .json(&body)
            .send()
    };
    let created = post(
        "/api/actions/connector/queued-hook",
        json!({ "name": "queued", "connector_type_id": ".webhook", "config": { "url": sink_url } }),
    )
    .await
    .unwrap();
    assert!(created.status().is_success(), "{}", created.status());

    let started = Instant::now();
    let mut enqueuers = tokio::task::JoinSet::new();
    for batch in 0..QUEUED / ENQUEUE_BATCH {
        let request = post(
            "/api/actions/_bulk_enqueue",
            json!({ "executions": (0..ENQUEUE_BATCH)
                .map(|n| json!({ "connector_id": "queued-hook", "params": { "body": format!("{batch}-{n}") } }))
                .collect::<Vec<_>>() }),
        );
        enqueuers.spawn(async move { request.await.unwrap().status() });
        // A few requests in flight at once, as several alerting systems would send.
        while enqueuers.len() >= 4 {
            let status = enqueuers.join_next().await.unwrap().unwrap();
            assert_eq!(status, 202);
        }
    }
    for status in enqueuers.join_all().await {
        assert_eq!(status, 202);
    }
    let enqueued = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    while delivered.load(Ordering::Relaxed) < QUEUED {
        assert!(Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed().as_secs_f64();
    loop {
        let kpi: Value = post(
            "/internal/actions/_global_connector_execution_kpi",
            json!({ "date_start": "1h" }),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        if kpi["success"].as_u64() == Some(QUEUED as u64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the log did not record every run: {kpi}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded = started.elapsed().as_secs_f64();
    println!(
        "queue: {QUEUED} executions enqueued in {enqueued:.2} s ({:.0}/s), delivered in {drained:.2} s ({:.0}/s), all logged after {recorded:.2} s ({:.0}/s)",
        QUEUED as f64 / enqueued,
        QUEUED as f64 / drained,
        QUEUED as f64 / recorded
    );
}

/// Opening one connector's secrets: the AEAD pass and the JSON parse, as `_execute` does.
fn measure_secrets() {
    let secret_box = SecretBox::new("a benchmark key of at least thirty-two characters", &[]);
    let binding = Binding {
        space_id: "default",
        connector_id: "6d6f3c2a-5b3e-4f0e-9a1b-2c3d4e5f6a7b",
        type_id: ".webhook",
    };
    let plaintext =
        json!({ "user": "elastic", "password": "changeme", "crt": null, "key": null, "pfx": null })
            .to_string();
    let sealed = secret_box.seal(binding, plaintext.as_bytes());
    let rounds = 200_000;
    let started = Instant::now();
    for _ in 0..rounds {
        let opened = secret_box
            .open(binding, std::hint::black_box(&sealed))
            .unwrap();
        let value: Value = serde_json::from_slice(&opened).unwrap();
        std::hint::black_box(value);
    }
    let per_open = started.elapsed().as_secs_f64() / f64::from(rounds) * 1e6;
    println!("open one connector's secrets (AES-256-GCM + JSON): {per_open:.2} µs");
}

/// A client logged in as the benchmark's superuser.
fn bench_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        // elastic:bench-password
        reqwest::header::HeaderValue::from_static("Basic ZWxhc3RpYzpiZW5jaC1wYXNzd29yZA=="),
    );
    reqwest::Client::builder()
        .pool_max_idle_per_host(CREATORS)
        .default_headers(headers)
        .build()
        .unwrap()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
