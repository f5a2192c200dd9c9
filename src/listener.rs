//! Where connections come in: plain TCP, or TLS (`server.ssl.*`) with handshakes done
//! off the accept loop so one slow client does not hold up the others.

use std::{io, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use axum::{
    extract::connect_info::Connected,
    serve::{IncomingStream, Listener},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::mpsc,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many handshakes at once; connections beyond are closed at once, so
/// silent clients cannot use up the file descriptors.
const MAX_HANDSHAKES: usize = 1024;

/// An accepted connection, plain or TLS.
pub trait Connection: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Connection for T {}

/// The address of the client at the other end, for handlers and middleware.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, ServerListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, ServerListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

pub struct ServerListener {
    local: SocketAddr,
    kind: Kind,
}

enum Kind {
    Plain(TcpListener),
    /// Connections that finished their handshake, from the accept task.
    Tls(mpsc::Receiver<(Box<dyn Connection>, SocketAddr)>),
}

impl ServerListener {
    pub fn plain(listener: TcpListener) -> io::Result<Self> {
        Ok(Self {
            local: listener.local_addr()?,
            kind: Kind::Plain(listener),
        })
    }

    pub fn tls(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (ready, incoming) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let mut listener = listener;
        let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            // axum's accept retries (with a pause) on errors such as too many open files.
            loop {
                let (tcp, address) = Listener::accept(&mut listener).await;
                let _ = tcp.set_nodelay(true);
                let Ok(slot) = handshakes.clone().try_acquire_owned() else {
                    tracing::warn!(client = %address, "Too many TLS handshakes in progress; connection closed.");
                    continue;
                };
                let (acceptor, sender) = (acceptor.clone(), ready.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let connection: Box<dyn Connection> = Box::new(stream);
                            let _ = sender.send((connection, address)).await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(client = %address, "TLS handshake failed: {error}");
                        }
                        Err(_) => tracing::debug!(client = %address, "TLS handshake timed out."),
                    }
                });
                if ready.is_closed() {
                    return;
                }
            }
        });
        Ok(Self {
            local,
            kind: Kind::Tls(incoming),
        })
    }
}

impl Listener for ServerListener {
    type Io = Box<dyn Connection>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match &mut self.kind {
            Kind::Plain(listener) => {
                let (tcp, address) = Listener::accept(listener).await;
                // Answers are written whole; Nagle's algorithm would only hold them back.
                let _ = tcp.set_nodelay(true);
                (Box::new(tcp), address)
            }
            Kind::Tls(incoming) => match incoming.recv().await {
                Some(accepted) => accepted,
                // The accept task is gone only when the runtime is shutting down.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Reads `server.ssl.certificate` (a PEM chain) and `server.ssl.key` (a PEM key).
///
/// # Errors
/// A message naming the file and what is wrong with it.
pub fn tls_config(certificate: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .and_then(Iterator::collect)
        .map_err(|error| {
            format!(
                "server.ssl.certificate: cannot read {}: {error}",
                certificate.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "server.ssl.certificate: {} holds no PEM certificate",
            certificate.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|error| {
        format!(
            "server.ssl.key: cannot read a PEM private key from {}: {error}",
            key.display()
        )
    })?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|error| {
                format!("server.ssl: the key does not fit the certificate: {error}")
            })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
