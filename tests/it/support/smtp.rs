//! A real SMTP server on loopback for the email connector: plain, STARTTLS or TLS on
//! connect, AUTH PLAIN and LOGIN, a recipient it refuses; it records every message.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpListener,
};
use tokio_rustls::{TlsAcceptor, rustls::ServerConfig};

/// How the server offers TLS.
#[derive(Clone)]
pub enum SmtpTls {
    None,
    StartTls(Arc<ServerConfig>),
    OnConnect(Arc<ServerConfig>),
}

/// One message as the server received it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
    pub over_tls: bool,
    pub authenticated_as: Option<String>,
}

pub struct SmtpServer {
    pub address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct Setup {
    tls: SmtpTls,
    credentials: Option<(String, String)>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpServer {
    /// `credentials`: when set, AUTH is offered and required.
    pub async fn start(tls: SmtpTls, credentials: Option<(&str, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let setup = Setup {
            tls,
            credentials: credentials.map(|(user, password)| (user.to_owned(), password.to_owned())),
            received: received.clone(),
        };
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let setup = setup.clone();
                tokio::spawn(async move {
                    match setup.tls.clone() {
                        SmtpTls::OnConnect(config) => {
                            if let Ok(mut tls) = TlsAcceptor::from(config).accept(tcp).await {
                                session(&mut tls, &setup, true, true).await;
                            }
                        }
                        SmtpTls::StartTls(config) => {
                            if session(&mut tcp, &setup, true, false).await == Outcome::StartTls
                                && let Ok(mut tls) = TlsAcceptor::from(config).accept(tcp).await
                            {
                                session(&mut tls, &setup, false, true).await;
                            }
                        }
                        SmtpTls::None => {
                            session(&mut tcp, &setup, true, false).await;
                        }
                    }
                });
            }
        });
        Self { address, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

#[derive(PartialEq, Eq)]
enum Outcome {
    Closed,
    StartTls,
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    setup: &Setup,
    greet: bool,
    over_tls: bool,
) -> Outcome {
    let mut lines = LineReader::default();
    if greet && reply(stream, "220 smtp.test ESMTP ready").await.is_err() {
        return Outcome::Closed;
    }
    let mut message = Received {
        over_tls,
        ..Received::default()
    };
    let mut authenticated = setup.credentials.is_none();
    while let Some(line) = lines.next(stream).await {
        let upper = line.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let mut extensions = vec!["250-smtp.test greets you".to_owned()];
            if matches!(setup.tls, SmtpTls::StartTls(_)) && !over_tls {
                extensions.push("250-STARTTLS".to_owned());
            }
            if setup.credentials.is_some() {
                extensions.push("250-AUTH PLAIN LOGIN".to_owned());
            }
            extensions.push("250 8BITMIME".to_owned());
            extensions.join("\r\n")
        } else if upper == "STARTTLS" {
            let _ = reply(stream, "220 2.0.0 Ready to start TLS").await;
            return Outcome::StartTls;
        } else if upper.starts_with("AUTH PLAIN") {
            let encoded = match line.split_whitespace().nth(2) {
                Some(encoded) => encoded.to_owned(),
                None => {
                    let _ = reply(stream, "334 ").await;
                    lines.next(stream).await.unwrap_or_default()
                }
            };
            let decoded = BASE64.decode(encoded.trim()).unwrap_or_default();
            let parts: Vec<String> = decoded
                .split(|it| *it == 0)
                .map(|it| String::from_utf8_lossy(it).into_owned())
                .collect();
            check_login(
                setup,
                parts.get(1),
                parts.get(2),
                &mut authenticated,
                &mut message,
            )
        } else if upper.starts_with("AUTH LOGIN") {
            let _ = reply(stream, "334 VXNlcm5hbWU6").await;
            let user = lines.next(stream).await.unwrap_or_default();
            let _ = reply(stream, "334 UGFzc3dvcmQ6").await;
            let password = lines.next(stream).await.unwrap_or_default();
            let decode = |text: &str| {
                String::from_utf8_lossy(&BASE64.decode(text.trim()).unwrap_or_default())
                    .into_owned()
            };
            check_login(
                setup,
                Some(&decode(&user)),
                Some(&decode(&password)),
                &mut authenticated,
                &mut message,
            )
        } else if upper.starts_with("MAIL FROM:") {
            if authenticated {
                message.mail_from = address_in(&line);
                "250 2.1.0 Ok".to_owned()
            } else {
                "530 5.7.0 Authentication required".to_owned()
            }
        } else if upper.starts_with("RCPT TO:") {
            let recipient = address_in(&line);
            if recipient.contains("refused") {
                format!("550 5.1.1 <{recipient}>: Recipient address rejected: User unknown")
            } else {
                message.rcpt_to.push(recipient);
                "250 2.1.5 Ok".to_owned()
            }
        } else if upper == "DATA" {
            let _ = reply(stream, "354 End data with <CR><LF>.<CR><LF>").await;
            let mut data = String::new();
            while let Some(line) = lines.next(stream).await {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
            }
            message.data = data;
            setup.received.lock().unwrap().push(message.clone());
            message = Received {
                over_tls,
                authenticated_as: message.authenticated_as.clone(),
                ..Received::default()
            };
            "250 2.0.0 Ok: queued as TEST42".to_owned()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 2.0.0 Ok".to_owned()
        } else if upper == "QUIT" {
            let _ = reply(stream, "221 2.0.0 Bye").await;
            return Outcome::Closed;
        } else {
            "502 5.5.2 Command not recognized".to_owned()
        };
        if reply(stream, &answer).await.is_err() {
            break;
        }
    }
    Outcome::Closed
}

fn check_login(
    setup: &Setup,
    user: Option<&String>,
    password: Option<&String>,
    authenticated: &mut bool,
    message: &mut Received,
) -> String {
    match (&setup.credentials, user, password) {
        (Some((expected_user, expected_password)), Some(user), Some(password))
            if user == expected_user && password == expected_password =>
        {
            *authenticated = true;
            message.authenticated_as = Some(user.clone());
            "235 2.7.0 Authentication successful".to_owned()
        }
        _ => "535 5.7.8 Error: authentication failed: bad credentials".to_owned(),
    }
}

/// `MAIL FROM:<a@b> SIZE=1` -> `a@b`.
fn address_in(line: &str) -> String {
    let start = line.find('<').map_or(0, |it| it + 1);
    let end = line[start..].find('>').map_or(line.len(), |it| start + it);
    line[start..end].to_owned()
}

async fn reply<S: AsyncWrite + Unpin>(stream: &mut S, text: &str) -> std::io::Result<()> {
    stream.write_all(format!("{text}\r\n").as_bytes()).await?;
    stream.flush().await
}

/// Reads CRLF-terminated lines.
#[derive(Default)]
struct LineReader {
    buffer: Vec<u8>,
}

impl LineReader {
    async fn next<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|it| it == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                self.buffer.drain(..end + 2);
                return Some(line);
            }
            let mut chunk = [0u8; 4096];
            let read = stream.read(&mut chunk).await.ok()?;
            if read == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}
