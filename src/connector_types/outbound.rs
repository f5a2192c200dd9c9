//! The one outbound HTTP client, and how its failures are described. Every connector
//! type gets it through its [`super::ExecutionContext`], so timeouts and limits apply
//! everywhere.

use std::{error::Error as StdError, fmt, io, time::Duration};

use serde_json::Value;

/// Egress settings the client is built with.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// `xpack.actions.responseTimeout`: the longest a whole call may take.
    pub response_timeout: Duration,
    /// `xpack.actions.maxResponseContentLength`: the most of an answer we read.
    pub max_response_bytes: usize,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_secs(60),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// The shared client with the settings it was built with.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    settings: OutboundSettings,
}

impl Outbound {
    /// Builds the shared client. Called once at start-up.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    #[allow(clippy::disallowed_methods)] // This is the one place a client is built.
    pub fn new(settings: OutboundSettings) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.response_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { client, settings })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Reads an answer's body, at most `maxResponseContentLength` bytes, as JSON when
    /// it parses and as a string otherwise (what axios hands Kibana's connectors).
    ///
    /// # Errors
    /// When the body cannot be read in time or is larger than allowed.
    pub async fn read_body(
        &self,
        mut response: reqwest::Response,
    ) -> Result<Value, TransportFailure> {
        let limit = self.settings.max_response_bytes;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.describe(&error))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(TransportFailure {
                    code: Some("ERR_BAD_RESPONSE"),
                    message: format!("maxContentLength size of {limit} exceeded"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
    }

    /// Describes a transport failure the way Node.js would, because Kibana puts
    /// that text in `service_message`: `[ECONNREFUSED] connect ECONNREFUSED 127.0.0.1:9`.
    /// Never includes the URL, which may carry credentials.
    pub fn describe(&self, error: &reqwest::Error) -> TransportFailure {
        if error.is_timeout() {
            return TransportFailure {
                code: Some("ECONNABORTED"),
                message: format!(
                    "timeout of {}ms exceeded",
                    self.settings.response_timeout.as_millis()
                ),
            };
        }
        let address = error
            .url()
            .map(|url| {
                format!(
                    "{}:{}",
                    url.host_str().unwrap_or_default(),
                    url.port_or_known_default().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        match io_error_kind(error) {
            Some(io::ErrorKind::ConnectionRefused) => TransportFailure {
                code: Some("ECONNREFUSED"),
                message: format!("connect ECONNREFUSED {address}"),
            },
            Some(io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof) => {
                TransportFailure {
                    code: Some("ECONNRESET"),
                    message: "socket hang up".to_owned(),
                }
            }
            _ if is_dns_failure(error) => TransportFailure {
                code: Some("ENOTFOUND"),
                message: format!(
                    "getaddrinfo ENOTFOUND {}",
                    error
                        .url()
                        .and_then(|url| url.host_str())
                        .unwrap_or_default()
                ),
            },
            _ => TransportFailure {
                code: None,
                message: chain(error),
            },
        }
    }
}

/// A call that ended without a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    /// Node.js's error code (`ECONNREFUSED`, `ECONNABORTED`, ...), when there is one.
    pub code: Option<&'static str>,
    pub message: String,
}

impl fmt::Display for TransportFailure {
    /// `[CODE] message`, the form Kibana's connectors report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "[{code}] {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn io_error_kind(error: &reqwest::Error) -> Option<io::ErrorKind> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io_error) = cause.downcast_ref::<io::Error>() {
            return Some(io_error.kind());
        }
        source = cause.source();
    }
    None
}

fn is_dns_failure(error: &reqwest::Error) -> bool {
    error.is_connect() && chain(error).contains("dns error")
}

/// The error and its causes on one line, without the URL.
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
