//! The one way connectors call out: a policy (allowed hosts, private addresses,
//! redirects, proxy, TLS, timeout, answer size) applied to every request, and the
//! description of failures in the words Kibana's connectors use.
//!
//! Connectors build a request with [`Outbound::request`] and send it with
//! [`Outbound::send`]; nothing else in the crate may build a client or send
//! (clippy's `disallowed-methods` enforces it).

mod allowed_hosts;
mod tls;

use std::{
    collections::HashMap,
    error::Error as StdError,
    fmt, io,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::{
    Client, Method, RequestBuilder, Response, Url,
    dns::{Addrs, Name, Resolve, Resolving},
    header::HeaderMap,
    redirect,
};
use serde_json::Value;

use crate::metrics::{Metrics, OutboundErrorKind};

pub use self::{
    allowed_hosts::{AllowedHosts, is_private},
    tls::{ClientIdentity, TlsOverrides, VerificationMode, decode_base64},
};

/// Kibana follows at most this many redirects (axios' follow-redirects: 21); we stop
/// sooner, as browsers and reqwest do.
const MAX_REDIRECTS: usize = 10;
/// Clients built for particular TLS needs are kept for reuse, up to this many.
const MAX_CACHED_CLIENTS: usize = 256;

/// `xpack.actions.proxyUrl` and its companions.
#[derive(Clone)]
pub struct ProxySettings {
    pub url: Url,
    /// `proxyHeaders`: sent to the proxy (on CONNECT, and with proxied plain requests).
    pub headers: HeaderMap,
    /// `proxyBypassHosts`: these hostnames are called directly.
    pub bypass_hosts: Vec<String>,
    /// `proxyOnlyHosts`: if set, only these hostnames go through the proxy.
    pub only_hosts: Vec<String>,
}

impl fmt::Debug for ProxySettings {
    /// The URL's credentials and the header values stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxySettings")
            .field("host", &self.url.host_str())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("bypass_hosts", &self.bypass_hosts)
            .field("only_hosts", &self.only_hosts)
            .finish()
    }
}

impl ProxySettings {
    /// Whether calls to this host go through the proxy (bypass and only lists).
    pub fn applies_to(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let listed = |hosts: &[String]| {
            hosts.iter().any(|it| {
                it.trim_start_matches('[')
                    .trim_end_matches(']')
                    .eq_ignore_ascii_case(host)
            })
        };
        if listed(&self.bypass_hosts) {
            return false;
        }
        self.only_hosts.is_empty() || listed(&self.only_hosts)
    }
}

/// One entry of `xpack.actions.customHostSettings`: TLS settings for one origin.
#[derive(Debug, Clone)]
pub struct CustomHost {
    /// `https://host:port`, the port always written.
    pub origin: String,
    pub verification_mode: Option<VerificationMode>,
    /// `certificateAuthoritiesFiles` and `certificateAuthoritiesData`, as PEM.
    pub certificate_authorities: Option<Vec<u8>>,
}

/// Egress settings, read once at start-up.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// `xpack.actions.responseTimeout`: the longest a whole call may take.
    pub response_timeout: Duration,
    /// `xpack.actions.maxResponseContentLength`: the most of an answer that is read.
    pub max_response_bytes: usize,
    pub allowed_hosts: AllowedHosts,
    /// Refuse loopback, private and link-local addresses, checked after DNS resolution.
    pub block_private_addresses: bool,
    /// `xpack.actions.ssl.verificationMode`.
    pub verification_mode: VerificationMode,
    pub proxy: Option<ProxySettings>,
    pub custom_hosts: Vec<CustomHost>,
    /// Where failed calls are counted, by kind.
    pub metrics: Arc<Metrics>,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_secs(60),
            max_response_bytes: 1024 * 1024,
            allowed_hosts: AllowedHosts::default(),
            block_private_addresses: false,
            verification_mode: VerificationMode::Full,
            proxy: None,
            custom_hosts: Vec::new(),
            metrics: Arc::default(),
        }
    }
}

/// The TLS needs that decide which client a request uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Profile {
    verification_mode: VerificationMode,
    certificate_authorities: Option<Vec<u8>>,
    identity: Option<ClientIdentity>,
}

/// The outbound side: cheap to clone, shared by every connector.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

struct Inner {
    settings: OutboundSettings,
    default_profile: Profile,
    default_client: Client,
    clients: Mutex<HashMap<Profile, Client>>,
    /// Client certificates already read, by a digest of what they were read from:
    /// opening a PKCS#12 archive runs a key derivation, which must not happen per call.
    identities: Mutex<HashMap<[u8; 32], Result<ClientIdentity, String>>>,
}

/// Where a client certificate comes from (decoded bytes, not base64).
pub enum IdentitySource<'a> {
    CrtKey {
        crt: &'a [u8],
        key: &'a [u8],
        password: Option<&'a str>,
    },
    Pfx {
        pfx: &'a [u8],
        password: Option<&'a str>,
    },
}

impl Outbound {
    /// Builds the shared client. Called once at start-up.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(settings: OutboundSettings) -> reqwest::Result<Self> {
        let default_profile = Profile {
            verification_mode: settings.verification_mode,
            certificate_authorities: None,
            identity: None,
        };
        let default_client = build_client(&settings, &default_profile)?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                default_profile,
                default_client,
                clients: Mutex::new(HashMap::new()),
                identities: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn settings(&self) -> &OutboundSettings {
        &self.inner.settings
    }

    /// Reads a client certificate, once per distinct input.
    ///
    /// # Errors
    /// What could not be read (never the key material).
    pub async fn client_identity(
        &self,
        source: IdentitySource<'_>,
    ) -> Result<ClientIdentity, String> {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        let (kind, parts): (&[u8], [&[u8]; 3]) = match &source {
            IdentitySource::CrtKey { crt, key, password } => (
                b"crt-key",
                [crt, key, password.unwrap_or_default().as_bytes()],
            ),
            IdentitySource::Pfx { pfx, password } => {
                (b"pfx", [pfx, password.unwrap_or_default().as_bytes(), b""])
            }
        };
        digest.update(kind);
        for part in parts {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        let key: [u8; 32] = digest.finalize().into();
        let lock = || {
            self.inner
                .identities
                .lock()
                .expect("the identity cache lock is never poisoned")
        };
        if let Some(outcome) = lock().get(&key) {
            return outcome.clone();
        }
        // Key derivations (PKCS#12, encrypted keys) are CPU work: off the async threads.
        let owned = match source {
            IdentitySource::CrtKey { crt, key, password } => (
                true,
                crt.to_vec(),
                key.to_vec(),
                password.map(str::to_owned),
            ),
            IdentitySource::Pfx { pfx, password } => {
                (false, pfx.to_vec(), Vec::new(), password.map(str::to_owned))
            }
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let (pem, first, second, password) = owned;
            if pem {
                ClientIdentity::from_crt_key(&first, &second, password.as_deref())
            } else {
                ClientIdentity::from_pfx(&first, password.as_deref())
            }
        })
        .await
        .unwrap_or_else(|_| Err("the client certificate could not be read".to_owned()));
        // Failures are kept too, so a wrong password does not rerun the derivation.
        let mut identities = lock();
        if identities.len() >= MAX_CACHED_CLIENTS {
            identities.clear();
        }
        identities.insert(key, outcome.clone());
        outcome
    }

    /// Starts a request. Nothing is checked or sent until [`Outbound::send`].
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.inner.default_client.request(method, url)
    }

    /// Checks the request against the policy and sends it with the client its TLS
    /// needs call for. The answer's body is not read yet.
    ///
    /// # Errors
    /// A refusal by the policy, or a transport failure, described as Kibana would.
    #[allow(clippy::disallowed_methods)] // The one place requests are sent.
    pub async fn send(
        &self,
        request: RequestBuilder,
        tls: &TlsOverrides,
    ) -> Result<Response, TransportFailure> {
        let metrics = &self.inner.settings.metrics;
        let failed = |failure: TransportFailure, kind| {
            metrics.count_outbound_error(kind);
            failure
        };
        let request = request
            .build()
            .map_err(|error| failed(self.describe(&error), OutboundErrorKind::Other))?;
        self.check_destination(request.url())
            .await
            .map_err(|failure| {
                let kind = match failure.code {
                    Some("ENOTFOUND") => OutboundErrorKind::Dns,
                    _ => OutboundErrorKind::NotAllowed,
                };
                failed(failure, kind)
            })?;
        let client = self
            .client_for(request.url(), tls)
            .map_err(|failure| failed(failure, OutboundErrorKind::Other))?;
        client.execute(request).await.map_err(|error| {
            let failure = self.describe(&error);
            let kind = if find_in_chain::<PolicyRefusal>(&error).is_some() {
                OutboundErrorKind::NotAllowed
            } else {
                kind_of(&failure)
            };
            failed(failure, kind)
        })
    }

    async fn check_destination(&self, url: &Url) -> Result<(), TransportFailure> {
        let settings = &self.inner.settings;
        let host = url
            .host_str()
            .ok_or_else(|| refusal("URL must contain hostname"))?;
        settings
            .allowed_hosts
            .check_parsed_url(url)
            .map_err(refusal)?;
        if !settings.block_private_addresses {
            return Ok(());
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = literal.parse::<IpAddr>() {
            return check_address(host, address).map_err(refusal);
        }
        // Through a proxy the proxy resolves the name, so our resolver never sees it:
        // resolve it here too.
        if settings
            .proxy
            .as_ref()
            .is_some_and(|proxy| proxy.applies_to(host))
        {
            let port = url.port_or_known_default().unwrap_or(443);
            let addresses = tokio::net::lookup_host((host, port))
                .await
                .map_err(|error| TransportFailure {
                    code: Some("ENOTFOUND"),
                    message: format!("getaddrinfo ENOTFOUND {host}: {error}"),
                })?;
            for address in addresses {
                check_address(host, address.ip()).map_err(refusal)?;
            }
        }
        Ok(())
    }

    /// The client for a URL: the default one unless the connector or a
    /// `customHostSettings` entry asks for other TLS settings (HTTPS only).
    fn client_for(&self, url: &Url, tls: &TlsOverrides) -> Result<Client, TransportFailure> {
        let inner = &self.inner;
        if url.scheme() != "https" {
            return Ok(inner.default_client.clone());
        }
        let origin = format!(
            "https://{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(443)
        );
        let custom = inner
            .settings
            .custom_hosts
            .iter()
            .find(|it| it.origin.eq_ignore_ascii_case(&origin));
        // As in Kibana: the operator's per-host settings win over the connector's,
        // which win over the server-wide mode.
        let profile = Profile {
            verification_mode: custom
                .and_then(|it| it.verification_mode)
                .or(tls.verification_mode)
                .unwrap_or(inner.settings.verification_mode),
            certificate_authorities: custom
                .and_then(|it| it.certificate_authorities.clone())
                .or_else(|| tls.certificate_authorities.clone()),
            identity: tls.identity.clone(),
        };
        if profile == inner.default_profile {
            return Ok(inner.default_client.clone());
        }
        // reqwest builds the TLS to an https proxy from the same settings as the TLS to
        // the target: a connector's CA or verification mode would apply to the proxy.
        if let Some(proxy) = &inner.settings.proxy
            && proxy.url.scheme() == "https"
            && proxy.applies_to(url.host_str().unwrap_or_default())
        {
            return Err(refusal(
                "TLS settings of a connector or of customHostSettings cannot be used through an https xpack.actions.proxyUrl",
            ));
        }
        let mut clients = inner
            .clients
            .lock()
            .expect("the client cache lock is never poisoned");
        if let Some(client) = clients.get(&profile) {
            return Ok(client.clone());
        }
        let client = build_client(&inner.settings, &profile).map_err(|error| TransportFailure {
            code: None,
            message: format!("invalid TLS settings: {}", chain(&error)),
        })?;
        if clients.len() >= MAX_CACHED_CLIENTS {
            clients.clear();
        }
        clients.insert(profile, client.clone());
        Ok(client)
    }

    /// Sends with the default TLS settings and reads the whole answer: what most
    /// connector types need.
    ///
    /// # Errors
    /// As [`Outbound::send`] and [`Outbound::read_body`].
    pub async fn call(&self, request: RequestBuilder) -> Result<Answer, TransportFailure> {
        let response = self.send(request, &TlsOverrides::default()).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self.read_body(response).await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Reads an answer's body, at most `maxResponseContentLength` bytes, as JSON when
    /// it parses and as a string otherwise (what axios hands Kibana's connectors).
    /// A larger answer is abandoned without reading the rest.
    ///
    /// # Errors
    /// When the body cannot be read in time or is larger than allowed.
    pub async fn read_body(&self, mut response: Response) -> Result<Value, TransportFailure> {
        let limit = self.inner.settings.max_response_bytes;
        let too_large = || TransportFailure {
            code: Some("ERR_BAD_RESPONSE"),
            message: format!("maxContentLength size of {limit} exceeded"),
        };
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.count(self.describe(&error)))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
    }

    /// Counts a failure met while reading an answer, by kind.
    fn count(&self, failure: TransportFailure) -> TransportFailure {
        self.inner
            .settings
            .metrics
            .count_outbound_error(kind_of(&failure));
        failure
    }

    /// Describes a transport failure the way Node.js would, because Kibana puts
    /// that text in `service_message`: `[ECONNREFUSED] connect ECONNREFUSED 127.0.0.1:9`.
    /// Never includes the URL, which may carry credentials.
    pub fn describe(&self, error: &reqwest::Error) -> TransportFailure {
        if let Some(refused) = find_in_chain::<PolicyRefusal>(error) {
            return refusal(refused.0.clone());
        }
        if error.is_timeout() {
            return TransportFailure {
                code: Some("ECONNABORTED"),
                message: format!(
                    "timeout of {}ms exceeded",
                    self.inner.settings.response_timeout.as_millis()
                ),
            };
        }
        if let Some(tls_error) = find_in_chain::<rustls::Error>(error) {
            return describe_tls(tls_error);
        }
        let host = error.url().and_then(Url::host_str).unwrap_or_default();
        let address = error
            .url()
            .map(|url| format!("{host}:{}", url.port_or_known_default().unwrap_or_default()))
            .unwrap_or_default();
        match find_in_chain::<io::Error>(error).map(io::Error::kind) {
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
            _ if error.is_connect() && chain(error).contains("dns error") => TransportFailure {
                code: Some("ENOTFOUND"),
                message: format!("getaddrinfo ENOTFOUND {host}"),
            },
            _ => TransportFailure {
                code: None,
                message: chain(error),
            },
        }
    }
}

/// Builds a client for one TLS profile. Every client shares the policy: redirect
/// checks, the resolver that refuses private addresses, the proxy, the timeout.
#[allow(clippy::disallowed_methods)] // This is the one place clients are built.
fn build_client(settings: &OutboundSettings, profile: &Profile) -> reqwest::Result<Client> {
    let mut builder = Client::builder()
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .timeout(settings.response_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(redirect_policy(settings));
    if settings.block_private_addresses {
        builder = builder.dns_resolver(Arc::new(PublicOnlyResolver {
            // The operator's proxy may well be on a private network.
            proxy_host: settings
                .proxy
                .as_ref()
                .and_then(|proxy| proxy.url.host_str().map(str::to_ascii_lowercase)),
        }));
    }
    // Kibana ignores HTTP_PROXY and friends; so do we: only proxyUrl counts.
    builder = match &settings.proxy {
        Some(proxy) => {
            let routing = proxy.clone();
            builder.proxy(
                reqwest::Proxy::custom(move |url| {
                    url.host_str()
                        .filter(|host| routing.applies_to(host))
                        .map(|_| routing.url.clone())
                })
                .headers(proxy.headers.clone()),
            )
        }
        None => builder.no_proxy(),
    };
    builder = match profile.verification_mode {
        VerificationMode::Full => builder,
        VerificationMode::Certificate => builder.danger_accept_invalid_hostnames(true),
        VerificationMode::None => builder.danger_accept_invalid_certs(true),
    };
    if let Some(pem) = &profile.certificate_authorities {
        // Like Node.js's `ca` option: these CAs replace the built-in roots.
        builder = builder.tls_built_in_root_certs(false);
        for certificate in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some(identity) = &profile.identity {
        builder = builder.identity(identity.to_reqwest()?);
    }
    builder.build()
}

/// Follows redirects only to hosts the policy allows.
fn redirect_policy(settings: &OutboundSettings) -> redirect::Policy {
    let allowed_hosts = settings.allowed_hosts.clone();
    let block_private = settings.block_private_addresses;
    let proxy = settings.proxy.clone();
    redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(PolicyRefusal(
                "Maximum number of redirects exceeded".to_owned(),
            ));
        }
        let host = attempt.url().host_str().unwrap_or_default().to_owned();
        if let Err(message) = allowed_hosts.check_hostname(&host) {
            return attempt.error(PolicyRefusal(message));
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if block_private {
            match literal.parse::<IpAddr>() {
                Ok(address) => {
                    if let Err(message) = check_address(&host, address) {
                        return attempt.error(PolicyRefusal(message));
                    }
                }
                // Through the proxy the name is resolved there, out of our resolver's
                // sight, and a redirect cannot wait for a lookup here: refuse it.
                Err(_) if proxy.as_ref().is_some_and(|it| it.applies_to(&host)) => {
                    return attempt.error(PolicyRefusal(format!(
                        "a redirect to \"{host}\" through the proxy is refused: xpack.actions.blockPrivateAddresses cannot check names the proxy resolves"
                    )));
                }
                Err(_) => {}
            }
        }
        attempt.follow()
    })
}

fn check_address(host: &str, address: IpAddr) -> Result<(), String> {
    if is_private(address) {
        Err(format!(
            "target hostname \"{host}\" resolves to {address}, a loopback, private or link-local address, which xpack.actions.blockPrivateAddresses refuses"
        ))
    } else {
        Ok(())
    }
}

/// Resolves names, keeping only public addresses: a name that resolves to
/// 127.0.0.1 (or only to private addresses) is refused before any connection. The
/// configured proxy's own name is exempt.
struct PublicOnlyResolver {
    proxy_host: Option<String>,
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let is_proxy = self
            .proxy_host
            .as_deref()
            .is_some_and(|proxy| proxy.eq_ignore_ascii_case(name.as_str()));
        Box::pin(async move {
            let host = name.as_str().to_owned();
            if is_proxy {
                let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
                return Ok(Box::new(resolved.collect::<Vec<_>>().into_iter()) as Addrs);
            }
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|it| !is_private(it.ip()))
                .collect();
            match (public.is_empty(), resolved.first()) {
                (true, Some(first)) => Err(Box::new(PolicyRefusal(
                    check_address(&host, first.ip()).unwrap_err(),
                )) as Box<dyn StdError + Send + Sync>),
                _ => Ok(Box::new(public.into_iter()) as Addrs),
            }
        })
    }
}

/// The policy refused a destination; the message says which rule.
#[derive(Debug)]
struct PolicyRefusal(String);

impl fmt::Display for PolicyRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for PolicyRefusal {}

fn refusal(message: impl Into<String>) -> TransportFailure {
    TransportFailure {
        code: None,
        message: message.into(),
    }
}

/// Adds headers that may carry credentials (API keys, tokens, basic auth), marked
/// sensitive so they are never printed, not even in a request's debug form.
pub fn with_secret_headers(
    mut request: RequestBuilder,
    headers: &[(&str, &str)],
) -> RequestBuilder {
    for (name, value) in headers {
        request = match reqwest::header::HeaderValue::from_str(value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                request.header(*name, value)
            }
            // Sent as given, so the request fails as it would have with the bad value.
            Err(_) => request.header(*name, *value),
        };
    }
    request
}

/// A whole answer: status, headers, and the body as JSON when it parses, else text.
#[derive(Debug)]
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// `status` and its reason phrase, as Node.js's `statusText` gives it.
    pub fn status_text(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or_default()
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

/// A transport failure's kind, for metrics, from its Node.js code.
fn kind_of(failure: &TransportFailure) -> OutboundErrorKind {
    match failure.code {
        Some("ECONNABORTED") => OutboundErrorKind::Timeout,
        Some("ECONNREFUSED") => OutboundErrorKind::Refused,
        Some("ECONNRESET") => OutboundErrorKind::Reset,
        Some("ENOTFOUND") => OutboundErrorKind::Dns,
        Some(
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
            | "ERR_TLS_CERT_ALTNAME_INVALID"
            | "CERT_HAS_EXPIRED"
            | "EPROTO",
        ) => OutboundErrorKind::Tls,
        _ => OutboundErrorKind::Other,
    }
}

/// Node.js's codes and texts for the TLS failures users meet most.
fn describe_tls(error: &rustls::Error) -> TransportFailure {
    use rustls::CertificateError;
    let (code, message) = match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer => (
                "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
                "unable to verify the first certificate".to_owned(),
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                (
                    "ERR_TLS_CERT_ALTNAME_INVALID",
                    "Hostname/IP does not match certificate's altnames".to_owned(),
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                ("CERT_HAS_EXPIRED", "certificate has expired".to_owned())
            }
            other => ("EPROTO", format!("invalid certificate: {other:?}")),
        },
        other => ("EPROTO", other.to_string()),
    };
    TransportFailure {
        code: Some(code),
        message,
    }
}

/// Finds an error of type `T` among the causes, looking inside `io::Error`s too
/// (their `source()` skips the error they wrap).
fn find_in_chain<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = current {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = cause
            .downcast_ref::<io::Error>()
            .and_then(|io_error| io_error.get_ref())
            && let Some(found) = find_in_chain::<T>(inner)
        {
            return Some(found);
        }
        current = cause.source();
    }
    None
}

/// The error and its causes on one line, without the URL (it may carry credentials).
fn chain(error: &reqwest::Error) -> String {
    let text = crate::errors::chain(error);
    match error.url() {
        Some(url) => text.replace(&format!(" ({url})"), ""),
        None => text,
    }
}
