//! SMTP through `xpack.actions.proxyUrl`: an HTTP CONNECT tunnel, TLS (on connect, or
//! after STARTTLS) done here with the proxy verification mode, then lettre's SMTP
//! client on the resulting stream.
//!
//! lettre cannot upgrade a stream it did not open, so STARTTLS is spoken here, and
//! lettre is handed the encrypted stream with a greeting line in front of it (the
//! server greets once, before STARTTLS; lettre expects a greeting when it starts).

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use lettre::transport::smtp::{
    authentication::{Credentials, Mechanism},
    client::{AsyncSmtpConnection, AsyncTokioStream},
    extension::ClientId,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{
    TlsConnector,
    rustls::{
        self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
        client::WebPkiServerVerifier,
        client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
    },
};

use crate::connector_types::outbound::{ProxySettings, VerificationMode};

/// How to reach the SMTP server through the proxy.
pub(super) struct TunnelRoute<'a> {
    pub proxy: &'a ProxySettings,
    pub host: &'a str,
    pub port: u16,
    pub secure: bool,
    pub ignore_tls: bool,
    pub require_tls: bool,
    /// For the SMTP server's certificate.
    pub verification_mode: VerificationMode,
    pub certificate_authorities: Option<&'a [u8]>,
    /// For an https proxy's own certificate (`ssl.proxyVerificationMode`).
    pub proxy_verification_mode: VerificationMode,
}

/// A byte stream to the proxy or through it: TCP, or TLS over it.
trait Wire: AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug> Wire for T {}

type Link = Box<dyn Wire>;

/// Opens the tunnel and an SMTP session on it, authenticated, ready to send.
pub(super) async fn connect(
    route: &TunnelRoute<'_>,
    credentials: Option<&Credentials>,
) -> Result<AsyncSmtpConnection, String> {
    let hello = ClientId::default();
    let tcp = open_tunnel(route).await?;
    let tls = TlsConnector::from(Arc::new(client_config(
        route.verification_mode,
        route.certificate_authorities,
    )?));
    let server_name = ServerName::try_from(route.host.to_owned())
        .map_err(|_| format!("invalid SMTP host {}", route.host))?;
    let stream: Box<dyn AsyncTokioStream> = if route.secure {
        let tls = tls
            .connect(server_name, tcp)
            .await
            .map_err(|error| error.to_string())?;
        Box::new(Tunnelled::new(tls, Vec::new()))
    } else {
        let mut tcp = tcp;
        let greeting = read_reply(&mut tcp).await?;
        write(&mut tcp, &format!("EHLO {hello}\r\n")).await?;
        let capabilities = read_reply(&mut tcp).await?;
        let offers_starttls = capabilities.lines().any(|line| {
            line.get(4..)
                .is_some_and(|it| it.eq_ignore_ascii_case("STARTTLS"))
        });
        if offers_starttls && !route.ignore_tls {
            write(&mut tcp, "STARTTLS\r\n").await?;
            let ready = read_reply(&mut tcp).await?;
            if !ready.starts_with("220") {
                return Err(format!("STARTTLS refused: {}", ready.trim()));
            }
            let tls = tls
                .connect(server_name, tcp)
                .await
                .map_err(|error| error.to_string())?;
            Box::new(Tunnelled::new(tls, greeting.into_bytes()))
        } else if route.require_tls {
            return Err(
                "the SMTP server does not offer STARTTLS, which smtp.requireTLS requires"
                    .to_owned(),
            );
        } else {
            Box::new(Tunnelled::new(tcp, greeting.into_bytes()))
        }
    };
    let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &hello)
        .await
        .map_err(|error| crate::errors::chain(&error))?;
    if let Some(credentials) = credentials {
        connection
            .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
            .await
            .map_err(|error| crate::errors::chain(&error))?;
    }
    Ok(connection)
}

async fn open_tunnel(route: &TunnelRoute<'_>) -> Result<Link, String> {
    let proxy = &route.proxy.url;
    // The host goes into the CONNECT line: nothing that could end or add a line.
    if route.host.is_empty()
        || route
            .host
            .chars()
            .any(|it| it.is_control() || it.is_whitespace())
    {
        return Err(format!("invalid SMTP host {:?}", route.host));
    }
    let proxy_address = format!(
        "{}:{}",
        proxy.host_str().unwrap_or_default(),
        proxy.port_or_known_default().unwrap_or(80)
    );
    let tcp = TcpStream::connect(&proxy_address)
        .await
        .map_err(|error| format!("cannot reach the proxy: {error}"))?;
    // An https proxy is reached over TLS checked per ssl.proxyVerificationMode.
    let mut tcp: Link = if proxy.scheme() == "https" {
        let name = ServerName::try_from(proxy.host_str().unwrap_or_default().to_owned())
            .map_err(|_| "invalid proxy host".to_owned())?;
        let connector = TlsConnector::from(Arc::new(client_config(
            route.proxy_verification_mode,
            None,
        )?));
        Box::new(
            connector
                .connect(name, tcp)
                .await
                .map_err(|error| format!("cannot reach the proxy: {error}"))?,
        )
    } else {
        Box::new(tcp)
    };
    let target = if route.host.contains(':') && !route.host.starts_with('[') {
        format!("[{}]:{}", route.host, route.port)
    } else {
        format!("{}:{}", route.host, route.port)
    };
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    // Credentials in the proxy URL, as nodemailer uses them.
    if !proxy.username().is_empty() {
        use base64::Engine;
        let user = percent_decode(proxy.username());
        let password = percent_decode(proxy.password().unwrap_or_default());
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Proxy-Authorization: Basic {credentials}\r\n"));
    }
    for (name, value) in &route.proxy.headers {
        request.push_str(&format!(
            "{name}: {}\r\n",
            value.to_str().unwrap_or_default()
        ));
    }
    request.push_str("\r\n");
    write(&mut tcp, &request).await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if tcp
            .read(&mut byte)
            .await
            .map_err(|error| error.to_string())?
            == 0
            || head.len() > 16_384
        {
            return Err("the proxy closed the tunnel".to_owned());
        }
        head.push(byte[0]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    let success = status_line
        .split_whitespace()
        .nth(1)
        .is_some_and(|status| status.len() == 3 && status.starts_with('2'));
    if !success {
        return Err(format!("the proxy refused the tunnel: {status_line}"));
    }
    Ok(tcp)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(byte) = text
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            decoded.push(byte);
            index += 3;
            continue;
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

async fn write<S: AsyncWrite + Unpin + ?Sized>(stream: &mut S, text: &str) -> Result<(), String> {
    stream
        .write_all(text.as_bytes())
        .await
        .map_err(|error| error.to_string())
}

/// One SMTP reply, all its lines (`250-...` continued until `250 ...`).
async fn read_reply<S: AsyncRead + Unpin + ?Sized>(stream: &mut S) -> Result<String, String> {
    let mut reply = Vec::new();
    loop {
        let mut byte = [0u8; 1];
        if stream
            .read(&mut byte)
            .await
            .map_err(|error| error.to_string())?
            == 0
            || reply.len() > 65_536
        {
            return Err("the SMTP server closed the connection".to_owned());
        }
        reply.push(byte[0]);
        if reply.ends_with(b"\r\n") {
            let text = String::from_utf8_lossy(&reply);
            let last = text.trim_end().lines().last().unwrap_or_default();
            if last.as_bytes().get(3) == Some(&b' ') || last.len() == 3 {
                return Ok(text.into_owned());
            }
        }
    }
}

/// TLS the way the verification mode says, trusting the CAs given (else the usual roots).
fn client_config(
    mode: VerificationMode,
    certificate_authorities: Option<&[u8]>,
) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match certificate_authorities {
        Some(pem) => {
            for certificate in CertificateDer::pem_slice_iter(pem) {
                let certificate = certificate.map_err(|_| "invalid CA certificate".to_owned())?;
                roots.add(certificate).map_err(|error| error.to_string())?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|error| error.to_string())?;
    let config = match mode {
        VerificationMode::Full => builder.with_webpki_verifier(verifier).with_no_client_auth(),
        mode => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Relaxed {
                chain: (mode == VerificationMode::Certificate).then_some(verifier),
                provider,
            }))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// `certificate` (chain checked, name not) and `none` (nothing checked).
#[derive(Debug)]
struct Relaxed {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A tunnelled stream, with bytes to read first (the greeting lettre waits for).
#[derive(Debug)]
struct Tunnelled<S> {
    inner: S,
    prefix: Vec<u8>,
}

impl<S> Tunnelled<S> {
    fn new(inner: S, prefix: Vec<u8>) -> Self {
        Self { inner, prefix }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tunnelled<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let count = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..count]);
            self.prefix.drain(..count);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tunnelled<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug> AsyncTokioStream
    for Tunnelled<S>
{
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        // The peer is the proxy; lettre only uses this for logging.
        Ok(SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}
