//! A vendor that streams its answer piece by piece, when the test says so, and the
//! client side of a streamed `_execute`: for the AI types' streaming tests.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::mpsc};

use super::{TestApp, fake::Recorded};

/// A vendor that answers its one call with whatever the test pushes, when the test
/// pushes it.
pub struct StreamingVendor {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

/// The vendor's body: what the test pushes; an empty push breaks the connection off.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|it| {
            it.map(|bytes| {
                if bytes.is_empty() {
                    Err(std::io::Error::other("the vendor broke off"))
                } else {
                    Ok(http_body::Frame::data(bytes))
                }
            })
        })
    }
}

/// Starts the vendor; `url` is its address followed by `path`. Its answer has this
/// content type and the bytes the test sends on the channel.
pub async fn streaming_vendor(
    path: &str,
    content_type: &'static str,
    receiver: mpsc::Receiver<Bytes>,
) -> StreamingVendor {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let receiver = Arc::new(Mutex::new(Some(receiver)));
    let recorder = requests.clone();
    let router = Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let recorder = recorder.clone();
            let receiver = receiver.lock().unwrap().take();
            async move {
                recorder.lock().unwrap().push(Recorded {
                    method,
                    path: uri.path().to_owned(),
                    query: uri.query().map(str::to_owned),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", content_type)
                    .body(Body::new(ChannelBody(receiver.expect("one call"))))
                    .unwrap()
            }
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    StreamingVendor { url, requests }
}

/// Reads from the stream until `text` has arrived (bounded, so a buffering server
/// fails the test instead of hanging it).
pub async fn read_until(response: &mut reqwest::Response, seen: &mut String, text: &str) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !seen.contains(text) {
            let chunk = response.chunk().await.unwrap().expect("more of the stream");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{text:?} did not arrive; got {seen:?}"));
}

/// `_execute` asking for a streamed answer.
pub fn execute_streaming(app: &TestApp, id: &str, params: Value) -> reqwest::RequestBuilder {
    app.request(
        reqwest::Method::POST,
        &format!("/api/actions/connector/{id}/_execute"),
    )
    .header("kbn-xsrf", "true")
    .header("accept", "text/event-stream")
    .json(&json!({ "params": params }))
}
