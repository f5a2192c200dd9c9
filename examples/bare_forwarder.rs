//! The floor of Switchboard's HTTP stack, for the benchmark: the same crates (axum and
//! hyper in, reqwest out, tokio, mimalloc) forwarding a POST body to a URL and answering
//! with the result, and nothing else: no authentication, storage, secrets, validation
//! or result object. `bench/run.sh` measures it beside nginx and Switchboard, so the gap
//! between nginx and this stack is told apart from the gap that is Switchboard's own.
//!
//!     cargo run --release --example bare_forwarder -- 127.0.0.1:8081 http://127.0.0.1:8080/hook

// A measuring tool, not server code: it calls reqwest directly.
#![allow(clippy::disallowed_methods)]

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    url: String,
}

async fn forward(State(target): State<Target>, body: Bytes) -> (StatusCode, &'static str) {
    let sent = target
        .client
        .post(&target.url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let read = match sent {
        Ok(answer) => answer.bytes().await.is_ok(),
        Err(_) => false,
    };
    if read {
        (StatusCode::OK, r#"{"status":"ok"}"#)
    } else {
        (StatusCode::BAD_GATEWAY, r#"{"status":"error"}"#)
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(url)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_forwarder <listen address> <target url>");
        std::process::exit(2);
    };
    let target = Target {
        client: reqwest::Client::new(),
        url,
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .expect("the address can be bound");
    let app = Router::new().fallback(post(forward)).with_state(target);
    axum::serve(listener, app).await.expect("serves");
}
