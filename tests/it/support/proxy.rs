//! A forward HTTP proxy on loopback that records what goes through it: plain
//! requests in absolute form, and CONNECT tunnels for HTTPS.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, copy_bidirectional},
    net::{TcpListener, TcpStream},
};

/// One request the proxy received: its request line and headers.
#[derive(Debug, Clone)]
pub struct Proxied {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Proxied {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

pub struct TestProxy {
    pub address: SocketAddr,
    scheme: &'static str,
    seen: Arc<Mutex<Vec<Proxied>>>,
    /// CONNECT targets sent elsewhere: a vendor's real name to a loopback fake.
    routes: Routes,
}

type Routes = Arc<Mutex<HashMap<String, SocketAddr>>>;

impl TestProxy {
    pub async fn start() -> Self {
        Self::listen(None).await
    }

    /// An https proxy: clients reach it over TLS with this server configuration.
    pub async fn start_tls(config: Arc<tokio_rustls::rustls::ServerConfig>) -> Self {
        Self::listen(Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn listen(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let routes: Routes = Arc::default();
        let routing = routes.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let recorder = recorder.clone();
                let routes = routing.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(client) = acceptor.accept(client).await {
                                let _ = relay(client, recorder, routes).await;
                            }
                        }
                        None => {
                            let _ = relay(client, recorder, routes).await;
                        }
                    }
                });
            }
        });
        Self {
            address,
            scheme,
            seen,
            routes,
        }
    }

    /// Tunnels `CONNECT target` (`host:port`) to `to` instead of resolving the name.
    pub fn route(&self, target: &str, to: SocketAddr) {
        self.routes.lock().unwrap().insert(target.to_owned(), to);
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    pub fn seen(&self) -> Vec<Proxied> {
        self.seen.lock().unwrap().clone()
    }
}

async fn relay<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    recorder: Arc<Mutex<Vec<Proxied>>>,
    routes: Routes,
) -> std::io::Result<()> {
    let (head, rest) = read_head(&mut client).await?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    recorder.lock().unwrap().push(Proxied {
        method: method.clone(),
        target: target.clone(),
        headers: headers.clone(),
    });

    if method == "CONNECT" {
        let routed = routes.lock().unwrap().get(&target).copied();
        let mut upstream = match routed {
            Some(address) => TcpStream::connect(address).await?,
            None => TcpStream::connect(&target).await?,
        };
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        upstream.write_all(&rest).await?;
        copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // Absolute form: http://host:port/path -> connect to host:port, send origin form.
    let without_scheme = target.trim_start_matches("http://");
    let (authority, path) = without_scheme
        .split_once('/')
        .map(|(authority, path)| (authority, format!("/{path}")))
        .unwrap_or((without_scheme, "/".to_owned()));
    let mut upstream = TcpStream::connect(authority).await?;
    let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in &headers {
        if !name.to_ascii_lowercase().starts_with("proxy-")
            && !name.eq_ignore_ascii_case("connection")
        {
            forwarded.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes()).await?;
    upstream.write_all(&rest).await?;
    copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Reads up to the end of the request head; returns it and any bytes after it.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|it| it == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            return Ok((head, buffer[end + 4..].to_vec()));
        }
    }
}
