//! Wiring: from settings to a listening server. Opens the store, loads the secrets
//! key, builds the connector types and the router, and serves until told to stop.

use std::{
    collections::BTreeMap,
    future::Future,
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use tokio::{
    net::TcpListener,
    sync::{Notify, watch},
    task::JoinHandle,
};

use crate::{
    api::{self, AppState},
    connector_types::{
        self, BuiltinSettings, ExecutionContext, Registry, ValidationContext,
        email::{EmailSettings, SmtpHostSettings},
        index,
        outbound::{
            AllowedHosts, CustomHost, Outbound, OutboundSettings, ProxySettings, VerificationMode,
        },
    },
    crypto::SecretBox,
    execution_log::Recorder,
    listener::{ClientAddr, ServerListener},
    metrics::Metrics,
    queue::{Queue, Worker, WorkerParts},
    security::Security,
    service::ConnectorService,
    settings::{Preconfigured, Settings},
    store::Store,
};

/// Why the server could not start. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot build the outbound HTTP client: {0}")]
    Outbound(#[from] reqwest::Error),
    #[error("invalid setting {0}")]
    Invalid(String),
    #[error("cannot create the first superuser: {0}")]
    Bootstrap(#[from] crate::security::ManagementError),
}

/// A server bound to its port, not yet serving.
pub struct Application {
    listener: ServerListener,
    router: axum::Router,
    scheme: &'static str,
    generated_password: Option<String>,
    worker: Arc<Worker>,
    /// Writes the execution log; ends once every recorder is gone.
    log_writer: JoinHandle<()>,
    store: Store,
    log_retention: std::time::Duration,
    /// Set once the server is told to stop: the worker and live streams watch it.
    stop: watch::Sender<bool>,
}

impl Application {
    /// # Errors
    /// See [`StartError`].
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let data_dir = &settings.data_dir;
        std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        // Nodes sharing a database must share the key: a key made up by each node would
        // leave every node unable to open the others' secrets.
        if settings.database.url.is_some() && settings.encryption_key.is_none() {
            return Err(StartError::Invalid(
                "xpack.encryptedSavedObjects.encryptionKey: must be set when database.url is set, the same on every node".to_owned(),
            ));
        }
        // Opened first: for SQLite this takes the data directory's lock, so two first
        // starts cannot both make a key.
        let store = Store::open(&settings.database, data_dir).await?;
        tracing::info!(backend = store.backend(), "Store opened.");
        let encryption_key = match &settings.encryption_key {
            Some(key) => key.clone(),
            None => generated_key(data_dir)?,
        };
        let secret_box = SecretBox::new(&encryption_key, &settings.decryption_only_keys);

        let metrics = Arc::new(Metrics::default());
        let outbound_settings = outbound_settings(&settings, metrics.clone())?;
        let validation = ValidationContext {
            allowed_hosts: outbound_settings.allowed_hosts.clone(),
            webhook_pfx_disabled: !settings.webhook_pfx_enabled,
            email_domain_allowlist: settings.email.domain_allowlist.clone(),
        };
        let email = email_settings(&settings, &outbound_settings);
        // The cluster is the operator's own: the connector egress policy does not apply.
        let elasticsearch_client = Outbound::new(OutboundSettings {
            response_timeout: settings.response_timeout,
            max_response_bytes: settings.max_response_content_length,
            metrics: metrics.clone(),
            ..OutboundSettings::default()
        })?;
        let registry = connector_types::builtin(BuiltinSettings {
            elasticsearch: cluster(&settings)?,
            elasticsearch_client,
            email,
            google_token_url: settings.google_token_url.clone(),
        });
        let preconfigured =
            validate_preconfigured(&registry, &settings.preconfigured, &validation)?;
        let outbound = Outbound::new(outbound_settings)?;
        let security = Arc::new(Security::with_idle_timeout(
            store.clone(),
            settings.security_enabled,
            settings.session_idle_timeout,
        ));
        let generated_password = security
            .bootstrap(settings.elastic_password.as_deref())
            .await?;
        if !settings.security_enabled {
            tracing::warn!(
                "security.enabled is false: every request is let in without credentials and may do everything."
            );
        }
        let service = ConnectorService::new(
            store.clone(),
            secret_box,
            registry,
            preconfigured,
            settings.enabled_action_types.clone(),
            validation,
            ExecutionContext { http: outbound },
        );

        let address = format!("{}:{}", settings.host, settings.port);
        let tcp = TcpListener::bind(&address)
            .await
            .map_err(|source| StartError::Listen {
                address: address.clone(),
                source,
            })?;
        let listen_error = |source| StartError::Listen {
            address: address.clone(),
            source,
        };
        let (listener, scheme) = match &settings.tls {
            Some(tls) => {
                let config = crate::listener::tls_config(&tls.certificate, &tls.key)
                    .map_err(StartError::Invalid)?;
                (
                    ServerListener::tls(tcp, config).map_err(listen_error)?,
                    "https",
                )
            }
            None => (ServerListener::plain(tcp).map_err(listen_error)?, "http"),
        };
        // Each start is a new lease owner: what a crashed run of this node held is
        // claimed again like any other node's once its leases lapse.
        let owner = uuid::Uuid::new_v4().to_string();
        let (recorder, log_writer) = Recorder::start(store.clone(), owner.clone());
        let wake = Arc::new(Notify::new());
        let queue = Arc::new(Queue::new(
            service.clone(),
            store.clone(),
            settings.queue.clone(),
            wake.clone(),
        ));
        let worker = Worker::new(WorkerParts {
            store: store.clone(),
            service: service.clone(),
            security: security.clone(),
            settings: settings.queue.clone(),
            recorder: recorder.clone(),
            owner: owner.clone(),
            wake,
            metrics: metrics.clone(),
        });
        let (stop, _) = watch::channel(false);
        let router = api::router(AppState {
            shutdown: stop.subscribe(),
            service,
            security,
            store: store.clone(),
            max_payload: settings.max_payload,
            queue,
            recorder,
            metrics: metrics.clone(),
            node_id: owner.clone(),
            started: std::time::Instant::now(),
            secure_cookies: settings.tls.is_some(),
        });
        Ok(Self {
            listener,
            router,
            scheme,
            generated_password,
            worker,
            log_writer,
            store,
            log_retention: settings.queue.log_retention,
            stop,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The password made up for the first superuser `elastic`, if this start made
    /// one. Shown once by the caller; never logged.
    pub fn take_generated_password(&mut self) -> Option<String> {
        self.generated_password.take()
    }

    pub fn local_addr(&self) -> SocketAddr {
        axum::serve::Listener::local_addr(&self.listener).expect("a bound listener has an address")
    }

    /// Serves and runs queued executions until `shutdown` completes; then stops
    /// claiming, finishes the requests in flight and lets running executions end
    /// within the grace period.
    ///
    /// # Errors
    /// When accepting connections fails.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(
            "http server running at {}://{}",
            self.scheme,
            self.local_addr()
        );
        let stopped = self.stop.subscribe();
        let stop = self.stop;
        let worker = tokio::spawn(self.worker.run(stopped));
        let pruner = tokio::spawn(prune_log(self.store, self.log_retention));
        let stop_on_signal = stop.clone();
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<ClientAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_on_signal.send(true);
        })
        .await;
        let _ = stop.send(true);
        let _ = worker.await;
        pruner.abort();
        // The router's and the worker's recorders are gone: the writer ends once it
        // has written what they handed over.
        if tokio::time::timeout(std::time::Duration::from_secs(30), self.log_writer)
            .await
            .is_err()
        {
            tracing::warn!("The execution log writer did not finish in time.");
        }
        served
    }
}

/// Removes log entries and finished executions past `executionLog.retention`.
async fn prune_log(store: Store, retention: std::time::Duration) {
    let every = (retention / 4).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(3600),
    );
    loop {
        tokio::time::sleep(every).await;
        let now = crate::timestamp::epoch_millis(std::time::SystemTime::now());
        let before = now.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        match store.prune_executions(before, now).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "Pruned the execution log."),
            Err(error) => {
                tracing::warn!(error = %crate::errors::chain(&error), "Cannot prune the execution log.");
            }
        }
    }
}

/// The key used when `xpack.encryptedSavedObjects.encryptionKey` is not set: random,
/// made once, kept in the data directory readable by the owner only.
fn generated_key(data_dir: &Path) -> Result<String, StartError> {
    let path = data_dir.join("encryption.key");
    let io_error = |source| StartError::DataDir {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(key) if key.trim().len() >= 32 => return Ok(key.trim().to_owned()),
        Ok(_) => {
            return Err(StartError::Invalid(format!(
                "{}: the secrets key file holds fewer than 32 characters; restore it from a backup",
                path.display()
            )));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error(error)),
    }
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let key: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    // Written whole to a temporary file, then renamed: a crash never leaves a short key.
    let temporary = data_dir.join("encryption.key.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).map_err(io_error)?;
    file.write_all(key.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(io_error)?;
    tracing::info!(path = %path.display(), "Generated a secrets key; back it up with the data directory.");
    Ok(key)
}

fn cluster(settings: &Settings) -> Result<index::Cluster, StartError> {
    let elasticsearch = &settings.elasticsearch;
    let hosts = elasticsearch
        .hosts
        .iter()
        .map(|host| {
            reqwest::Url::parse(host).map_err(|_| {
                StartError::Invalid(format!("elasticsearch.hosts: \"{host}\" is not a URL"))
            })
        })
        .collect::<Result<_, _>>()?;
    let authorization = match (
        &elasticsearch.api_key,
        &elasticsearch.username,
        &elasticsearch.password,
    ) {
        (Some(api_key), _, _) => Some(format!("ApiKey {api_key}")),
        (None, Some(username), Some(password)) => Some(format!(
            "Basic {}",
            base64_encode(format!("{username}:{password}").as_bytes())
        )),
        _ => None,
    };
    Ok(index::Cluster {
        hosts,
        authorization,
    })
}

/// The egress policy from `xpack.actions.*`, with CA files read now so a missing
/// file stops start-up instead of failing calls later.
fn outbound_settings(
    settings: &Settings,
    metrics: Arc<Metrics>,
) -> Result<OutboundSettings, StartError> {
    let egress = &settings.egress;
    let invalid = |key: &str, message: String| StartError::Invalid(format!("{key}: {message}"));
    let mode = |key: &str, text: &str| {
        VerificationMode::parse(text)
            .ok_or_else(|| invalid(key, format!("\"{text}\" is not full, certificate or none")))
    };
    let verification_mode = mode(
        "xpack.actions.ssl.verificationMode",
        &egress.verification_mode,
    )?;
    let proxy = match &egress.proxy_url {
        None => None,
        Some(url) => {
            let url = reqwest::Url::parse(url)
                .map_err(|error| invalid("xpack.actions.proxyUrl", error.to_string()))?;
            let proxy_mode = mode(
                "xpack.actions.ssl.proxyVerificationMode",
                &egress.proxy_verification_mode,
            )?;
            // One TLS configuration serves the proxy and the target here.
            if url.scheme() == "https" && proxy_mode != verification_mode {
                return Err(invalid(
                    "xpack.actions.ssl.proxyVerificationMode",
                    "with an https proxyUrl it must equal xpack.actions.ssl.verificationMode (a separate mode for the proxy is not supported yet)".to_owned(),
                ));
            }
            let mut headers = reqwest::header::HeaderMap::new();
            for (name, value) in &egress.proxy_headers {
                let header_name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| {
                        invalid(
                            "xpack.actions.proxyHeaders",
                            format!("\"{name}\" is not a header name"),
                        )
                    })?;
                let mut header_value =
                    reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                        invalid(
                            "xpack.actions.proxyHeaders",
                            format!("the value of \"{name}\" is not a valid header value"),
                        )
                    })?;
                header_value.set_sensitive(true);
                headers.insert(header_name, header_value);
            }
            let mut only_hosts = egress.proxy_only_hosts.clone();
            if !egress.proxy_bypass_hosts.is_empty() && !only_hosts.is_empty() {
                tracing::warn!(
                    "Both xpack.actions.proxyBypassHosts and proxyOnlyHosts are set; proxyOnlyHosts is ignored, as Kibana does."
                );
                only_hosts.clear();
            }
            Some(ProxySettings {
                url,
                headers,
                bypass_hosts: egress.proxy_bypass_hosts.clone(),
                only_hosts,
            })
        }
    };
    let mut custom_hosts = Vec::new();
    for (index, entry) in egress.custom_hosts.iter().enumerate() {
        let key = format!("xpack.actions.customHostSettings.{index}");
        let url = reqwest::Url::parse(&entry.url)
            .map_err(|error| invalid(&format!("{key}.url"), error.to_string()))?;
        let default_port = match url.scheme() {
            "smtp" => 25,
            _ => 443,
        };
        let origin = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().unwrap_or(default_port)
        );
        let mut certificate_authorities = Vec::new();
        for file in &entry.certificate_authorities_files {
            let pem = std::fs::read(file).map_err(|error| {
                invalid(
                    &format!("{key}.ssl.certificateAuthoritiesFiles"),
                    format!("cannot read {file}: {error}"),
                )
            })?;
            certificate_authorities.extend_from_slice(&pem);
            certificate_authorities.push(b'\n');
        }
        if let Some(data) = &entry.certificate_authorities_data {
            certificate_authorities.extend_from_slice(data.as_bytes());
        }
        let verification_mode = entry
            .verification_mode
            .as_deref()
            .map(|text| mode(&format!("{key}.ssl.verificationMode"), text))
            .transpose()?;
        custom_hosts.push(CustomHost {
            origin,
            verification_mode,
            certificate_authorities: (!certificate_authorities.is_empty())
                .then_some(certificate_authorities),
        });
    }
    Ok(OutboundSettings {
        response_timeout: settings.response_timeout,
        max_response_bytes: settings.max_response_content_length,
        allowed_hosts: AllowedHosts::parse(&egress.allowed_hosts)
            .map_err(|message| invalid("xpack.actions.allowedHosts", message))?,
        block_private_addresses: egress.block_private_addresses,
        verification_mode,
        proxy,
        custom_hosts,
        metrics,
    })
}

/// The email connector's settings: Graph endpoints, footer, and the TLS settings of
/// `customHostSettings` entries for `smtp://host:port`.
fn email_settings(settings: &Settings, outbound: &OutboundSettings) -> EmailSettings {
    let smtp_hosts = settings
        .egress
        .custom_hosts
        .iter()
        .zip(&outbound.custom_hosts)
        .filter_map(|(entry, resolved)| {
            let address = resolved.origin.strip_prefix("smtp://")?;
            Some(SmtpHostSettings {
                address: address.to_owned(),
                verification_mode: resolved.verification_mode,
                certificate_authorities: resolved.certificate_authorities.clone(),
                ignore_tls: entry.smtp_ignore_tls.unwrap_or(false),
                require_tls: entry.smtp_require_tls.unwrap_or(false),
            })
        })
        .collect();
    EmailSettings {
        enable_footer: settings.email.enable_footer,
        graph_api_url: settings.email.graph_api_url.clone(),
        graph_api_scope: settings.email.graph_api_scope.clone(),
        exchange_url: settings.email.exchange_url.clone(),
        verification_mode: outbound.verification_mode,
        smtp_hosts,
        block_private_addresses: outbound.block_private_addresses,
        proxy: outbound.proxy.clone(),
        proxy_verification_mode: VerificationMode::parse(&settings.egress.proxy_verification_mode)
            .unwrap_or_default(),
        timeout: outbound.response_timeout,
        metrics: outbound.metrics.clone(),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Checks every preconfigured connector against its type at start-up, so a mistake
/// is found now rather than at the first run, and fills in config defaults.
fn validate_preconfigured(
    registry: &Registry,
    preconfigured: &BTreeMap<String, Preconfigured>,
    validation: &ValidationContext,
) -> Result<BTreeMap<String, Preconfigured>, StartError> {
    preconfigured
        .iter()
        .map(|(id, connector)| {
            let key = format!("xpack.actions.preconfigured.{id}");
            let connector_type = registry.get(&connector.action_type_id).ok_or_else(|| {
                StartError::Invalid(format!(
                    "{key}.actionTypeId: connector type \"{}\" is not supported",
                    connector.action_type_id
                ))
            })?;
            let valid = connector_types::validate_connector(
                connector_type.as_ref(),
                &connector.config,
                &connector.secrets,
                validation,
            )
            .map_err(|error| StartError::Invalid(format!("{key}: {error}")))?;
            Ok((
                id.clone(),
                Preconfigured {
                    config: valid.config,
                    secrets: valid.secrets,
                    ..connector.clone()
                },
            ))
        })
        .collect()
}
