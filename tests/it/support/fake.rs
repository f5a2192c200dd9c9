//! A loopback HTTP server that records every request and answers as a test says:
//! the stand-in for webhooks, Elasticsearch and other vendors.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::serve::Listener;
use tokio::{net::TcpListener, sync::watch};
use tokio_rustls::{TlsAcceptor, rustls::ServerConfig, server::TlsStream};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
};

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|it| it.to_str().ok())
    }
}

/// What the fake answers.
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Streams the body in chunks, without a Content-Length.
    Chunked { status: u16, body: String },
    /// Never answers: for timeouts.
    Hang,
    /// Answers with this status (empty body) after a while.
    Delayed(Duration, u16),
}

impl Reply {
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self::Respond {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self::Respond {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        if let Self::Respond { headers, .. } = &mut self {
            headers.push((name, value.into()));
        }
        self
    }
}

type Responder = dyn Fn(&Recorded) -> Reply + Send + Sync;

pub struct FakeServer {
    pub address: SocketAddr,
    scheme: &'static str,
    requests: Arc<Mutex<Vec<Recorded>>>,
    arrived: watch::Receiver<usize>,
}

impl FakeServer {
    pub async fn start(respond: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, "http", respond)
    }

    /// The same over TLS with this server configuration.
    pub async fn start_tls(
        config: Arc<ServerConfig>,
        respond: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TlsListener {
            tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            acceptor: TlsAcceptor::from(config),
        };
        Self::serve(listener, "https", respond)
    }

    fn serve<L>(
        listener: L,
        scheme: &'static str,
        respond: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self
    where
        L: Listener<Addr = SocketAddr>,
    {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let recorder = requests.clone();
        let (arrival, arrived) = watch::channel(0);
        let arrival = Arc::new(arrival);
        let router = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let recorder = recorder.clone();
                let respond = respond.clone();
                let arrival = arrival.clone();
                async move {
                    let recorded = Recorded {
                        method,
                        path: uri.path().to_owned(),
                        query: uri.query().map(str::to_owned),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let reply = respond(&recorded);
                    let count = {
                        let mut requests = recorder.lock().unwrap();
                        requests.push(recorded);
                        requests.len()
                    };
                    arrival.send_replace(count);
                    match reply {
                        Reply::Respond {
                            status,
                            headers,
                            body,
                        } => {
                            let mut response =
                                Response::builder().status(StatusCode::from_u16(status).unwrap());
                            for (name, value) in headers {
                                response = response.header(name, value);
                            }
                            response.body(Body::from(body)).unwrap()
                        }
                        Reply::Chunked { status, body } => Response::builder()
                            .status(StatusCode::from_u16(status).unwrap())
                            .body(Body::new(ChunkedBody::new(body)))
                            .unwrap(),
                        Reply::Hang => std::future::pending().await,
                        Reply::Delayed(delay, status) => {
                            tokio::time::sleep(delay).await;
                            Response::builder()
                                .status(StatusCode::from_u16(status).unwrap())
                                .body(Body::empty())
                                .unwrap()
                        }
                    }
                }
            },
        );
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            address,
            scheme,
            requests,
            arrived,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.address)
    }

    /// Waits (boundedly) until `count` requests have arrived.
    pub async fn wait_for_requests(&self, count: usize) {
        let mut arrived = self.arrived.clone();
        tokio::time::timeout(Duration::from_secs(20), arrived.wait_for(|it| *it >= count))
            .await
            .expect("the requests arrive in time")
            .expect("the fake is running");
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The one request received; fails if there were more or none.
    #[track_caller]
    pub fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "requests: {requests:#?}");
        requests.into_iter().next().unwrap()
    }
}

/// A loopback port that is bound but not listening: connections to it are refused,
/// and no other test can take it while the guard lives.
pub struct ClosedPort {
    pub port: u16,
    _socket: tokio::net::TcpSocket,
}

pub fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    ClosedPort {
        port: socket.local_addr().unwrap().port(),
        _socket: socket,
    }
}

/// Accepts TLS connections; a failed handshake (a client the server refuses) is
/// dropped and the next connection accepted.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.tcp.accept().await else {
                // Out of descriptors or similar: give the system a moment.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            // Bounded, so a client that stalls mid-handshake cannot hold up the rest.
            let handshake = self.acceptor.accept(stream);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), handshake).await {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A body sent in 1 KiB frames with no Content-Length.
struct ChunkedBody {
    chunks: std::collections::VecDeque<Bytes>,
}

impl ChunkedBody {
    fn new(body: String) -> Self {
        Self {
            chunks: body
                .into_bytes()
                .chunks(1024)
                .map(Bytes::copy_from_slice)
                .collect(),
        }
    }
}

impl http_body::Body for ChunkedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.chunks
                .pop_front()
                .map(|it| Ok(http_body::Frame::data(it))),
        )
    }
}
