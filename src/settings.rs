//! Settings: a YAML file with kibana.yml's key names (dotted keys, nested maps, or
//! both mixed), then `SWITCHBOARD_*` environment variables over it. Validated once at
//! load with the same schema library as requests, so a bad value stops start-up with
//! a message that names the key.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::{Map, Value, json};

use crate::store::DatabaseSettings;

use crate::schema::{
    Schema, SchemaError, any, array, boolean, literal, maybe, number, object, one_of, record,
    string,
};

/// Everything the server is configured with.
#[derive(Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    /// `server.maxPayload`: the largest request body, in bytes.
    pub max_payload: usize,
    pub data_dir: PathBuf,
    /// `xpack.encryptedSavedObjects.encryptionKey`; generated into the data dir if unset.
    pub encryption_key: Option<String>,
    pub decryption_only_keys: Vec<String>,
    pub enabled_action_types: Vec<String>,
    pub preconfigured: BTreeMap<String, Preconfigured>,
    pub response_timeout: Duration,
    pub max_response_content_length: usize,
    pub egress: EgressSettings,
    /// `xpack.actions.webhook.ssl.pfx.enabled`.
    pub webhook_pfx_enabled: bool,
    pub email: EmailOptions,
    /// `xpack.actions.googleTokenUrl`: where `.gemini` trades its service account's
    /// signed assertion for an access token (Google's endpoint unless overridden).
    pub google_token_url: String,
    pub elasticsearch: ElasticsearchSettings,
    pub database: DatabaseSettings,
    pub log_level: String,
    /// `logging.loggers`: (name, level) for parts of the server.
    pub log_loggers: Vec<(String, String)>,
    pub log_json: bool,
    /// `security.enabled`: false lets every request in without credentials.
    pub security_enabled: bool,
    /// `security.elasticPassword`: the first superuser's password, else random.
    pub elastic_password: Option<String>,
    /// `security.session.idleTimeout` (Kibana's `xpack.security.session.idleTimeout`):
    /// a console session unused this long ends.
    pub session_idle_timeout: Duration,
    /// `server.ssl.*`: serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<ServerTls>,
    /// `xpack.actions.run.*`, `xpack.actions.queued.max`, `xpack.actions.queue.*` and
    /// `xpack.actions.executionLog.*`.
    pub queue: QueueSettings,
}

/// How queued executions run, and how long their log is kept.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// `run.maxAttempts`: attempts for every type unless overridden.
    pub max_attempts: Option<u32>,
    /// `run.connectorTypeOverrides`: `(type id, maxAttempts)`; an entry without
    /// `maxAttempts` falls back to `run.maxAttempts`, as in Kibana.
    pub type_overrides: Vec<(String, Option<u32>)>,
    /// `queued.max`: executions queued or running, across nodes.
    pub queued_max: u64,
    /// Executions one node runs at once.
    pub concurrency: usize,
    /// Executions of one connector one node runs at once; `None`: no limit.
    pub per_connector_concurrency: Option<usize>,
    /// How often an idle node looks for due executions (its own enqueues wake it).
    pub poll_interval: Duration,
    /// How long a claim holds without renewal: a dead node's executions run again
    /// this long after it stopped renewing.
    pub lease: Duration,
    /// On SIGTERM, how long running executions may take to finish.
    pub shutdown_grace: Duration,
    /// Kibana's backoff: the first retry after `backoff_first`, later ones after a
    /// random delay up to `min(backoff_max, backoff_base * 2^(attempt - 2))`.
    pub backoff_first: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// `executionLog.retention`: log entries and finished executions older than this go.
    pub log_retention: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            max_attempts: None,
            type_overrides: Vec::new(),
            queued_max: 1_000_000,
            concurrency: 50,
            per_connector_concurrency: None,
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            backoff_first: Duration::from_secs(30),
            backoff_base: Duration::from_secs(300),
            backoff_max: Duration::from_secs(3600),
            log_retention: Duration::from_secs(30 * 86_400),
        }
    }
}

#[derive(Clone)]
pub struct ServerTls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("preconfigured", &self.preconfigured.keys())
            .finish_non_exhaustive()
    }
}

/// A connector defined in `xpack.actions.preconfigured`.
#[derive(Clone)]
pub struct Preconfigured {
    pub name: String,
    pub action_type_id: String,
    pub config: Value,
    pub secrets: Value,
    pub expose_config: bool,
}

/// Where connectors may call out to, and how: `xpack.actions.allowedHosts`, the proxy
/// settings, `ssl.*` and `customHostSettings`.
#[derive(Clone, Default)]
pub struct EgressSettings {
    pub allowed_hosts: Vec<String>,
    /// Switchboard's own: refuse loopback, private and link-local addresses after DNS.
    pub block_private_addresses: bool,
    pub verification_mode: String,
    pub proxy_verification_mode: String,
    pub proxy_url: Option<String>,
    pub proxy_headers: Vec<(String, String)>,
    pub proxy_bypass_hosts: Vec<String>,
    pub proxy_only_hosts: Vec<String>,
    pub custom_hosts: Vec<CustomHostSettings>,
}

/// The email connector's settings under `xpack.actions`.
#[derive(Clone, Default)]
pub struct EmailOptions {
    /// `email.domain_allowlist`.
    pub domain_allowlist: Option<Vec<String>>,
    /// `enableFooterInEmail`.
    pub enable_footer: bool,
    /// `microsoftGraphApiUrl`, `microsoftGraphApiScope`, `microsoftExchangeUrl`.
    pub graph_api_url: String,
    pub graph_api_scope: String,
    pub exchange_url: String,
}

/// One `xpack.actions.customHostSettings` entry.
#[derive(Clone, Default)]
pub struct CustomHostSettings {
    pub url: String,
    pub verification_mode: Option<String>,
    pub certificate_authorities_files: Vec<String>,
    pub certificate_authorities_data: Option<String>,
    /// Kept for the email connector.
    pub smtp_ignore_tls: Option<bool>,
    pub smtp_require_tls: Option<bool>,
}

/// The cluster the `.index` connector writes to.
#[derive(Clone, Default)]
pub struct ElasticsearchSettings {
    pub hosts: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub api_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the settings file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the settings file {path} is not valid YAML: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml_ng::Error,
    },
    #[error("invalid setting {0}")]
    Invalid(String),
}

impl Settings {
    /// Reads the file (if any) and the environment.
    ///
    /// # Errors
    /// When the file cannot be read or parsed, or a setting is invalid.
    pub fn load(path: Option<&Path>) -> Result<Self, SettingsError> {
        let mut tree = Value::Object(Map::new());
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                path: path.to_owned(),
                source,
            })?;
            let file: Value =
                serde_yaml_ng::from_str(&text).map_err(|source| SettingsError::Yaml {
                    path: path.to_owned(),
                    source,
                })?;
            merge_dotted(&mut tree, &file);
        }
        #[allow(clippy::disallowed_methods)] // Settings are the one reader of the environment.
        let environment: Vec<(String, String)> = std::env::vars().collect();
        apply_environment(&mut tree, environment)?;
        Self::from_tree(&tree)
    }

    /// Validates a settings tree (nested maps, dotted keys already split).
    ///
    /// # Errors
    /// When a setting is unknown or has a wrong value.
    pub fn from_tree(tree: &Value) -> Result<Self, SettingsError> {
        let checked = settings_schema()
            .validate(tree)
            .map_err(|error| SettingsError::Invalid(describe(&error)))?;
        let get = |path: &str| -> &Value {
            path.split('.')
                .try_fold(&checked, |value, key| value.get(key))
                .unwrap_or(&Value::Null)
        };
        let text = |path: &str| get(path).as_str().map(str::to_owned);
        let strings = |path: &str| -> Vec<String> {
            match get(path) {
                Value::String(one) => vec![one.clone()],
                Value::Array(many) => many
                    .iter()
                    .filter_map(|it| it.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            }
        };

        let preconfigured = get("xpack.actions.preconfigured")
            .as_object()
            .into_iter()
            .flatten()
            .map(|(id, entry)| {
                (
                    id.clone(),
                    Preconfigured {
                        name: entry["name"].as_str().unwrap_or_default().to_owned(),
                        action_type_id: entry["actionTypeId"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        config: entry["config"].clone(),
                        secrets: entry["secrets"].clone(),
                        expose_config: entry["exposeConfig"].as_bool().unwrap_or(false),
                    },
                )
            })
            .collect();

        Ok(Self {
            host: text("server.host").unwrap_or_default(),
            port: get("server.port").as_u64().unwrap_or(5601) as u16,
            max_payload: byte_size(get("server.maxPayload")).unwrap_or(1_048_576),
            data_dir: PathBuf::from(text("path.data").unwrap_or_else(|| "data".to_owned())),
            encryption_key: text("xpack.encryptedSavedObjects.encryptionKey"),
            decryption_only_keys: strings(
                "xpack.encryptedSavedObjects.keyRotation.decryptionOnlyKeys",
            ),
            enabled_action_types: strings("xpack.actions.enabledActionTypes"),
            preconfigured,
            response_timeout: duration(get("xpack.actions.responseTimeout"))
                .unwrap_or(Duration::from_secs(60)),
            max_response_content_length: byte_size(get("xpack.actions.maxResponseContentLength"))
                .unwrap_or(1_048_576),
            egress: EgressSettings {
                allowed_hosts: strings("xpack.actions.allowedHosts"),
                block_private_addresses: get("xpack.actions.blockPrivateAddresses")
                    .as_bool()
                    .unwrap_or(false),
                verification_mode: text("xpack.actions.ssl.verificationMode")
                    .unwrap_or_else(|| "full".to_owned()),
                proxy_verification_mode: text("xpack.actions.ssl.proxyVerificationMode")
                    .unwrap_or_else(|| "full".to_owned()),
                proxy_url: text("xpack.actions.proxyUrl"),
                proxy_headers: get("xpack.actions.proxyHeaders")
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
                    .collect(),
                proxy_bypass_hosts: strings("xpack.actions.proxyBypassHosts"),
                proxy_only_hosts: strings("xpack.actions.proxyOnlyHosts"),
                custom_hosts: get("xpack.actions.customHostSettings")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|entry| CustomHostSettings {
                        url: entry["url"].as_str().unwrap_or_default().to_owned(),
                        verification_mode: entry["ssl"]["verificationMode"].as_str().map(str::to_owned),
                        certificate_authorities_files: match &entry["ssl"]["certificateAuthoritiesFiles"] {
                            Value::String(one) => vec![one.clone()],
                            Value::Array(many) => many.iter().filter_map(|it| it.as_str().map(str::to_owned)).collect(),
                            _ => Vec::new(),
                        },
                        certificate_authorities_data: entry["ssl"]["certificateAuthoritiesData"].as_str().map(str::to_owned),
                        smtp_ignore_tls: entry["smtp"]["ignoreTLS"].as_bool(),
                        smtp_require_tls: entry["smtp"]["requireTLS"].as_bool(),
                    })
                    .collect(),
            },
            webhook_pfx_enabled: get("xpack.actions.webhook.ssl.pfx.enabled")
                .as_bool()
                .unwrap_or(true),
            email: EmailOptions {
                domain_allowlist: get("xpack.actions.email.domain_allowlist")
                    .as_array()
                    .map(|_| strings("xpack.actions.email.domain_allowlist")),
                enable_footer: get("xpack.actions.enableFooterInEmail")
                    .as_bool()
                    .unwrap_or(true),
                graph_api_url: text("xpack.actions.microsoftGraphApiUrl").unwrap_or_default(),
                graph_api_scope: text("xpack.actions.microsoftGraphApiScope").unwrap_or_default(),
                exchange_url: text("xpack.actions.microsoftExchangeUrl").unwrap_or_default(),
            },
            google_token_url: text("xpack.actions.googleTokenUrl").unwrap_or_default(),
            elasticsearch: ElasticsearchSettings {
                hosts: strings("elasticsearch.hosts"),
                username: text("elasticsearch.username"),
                password: text("elasticsearch.password"),
                api_key: text("elasticsearch.apiKey"),
            },
            database: DatabaseSettings {
                url: text("database.url"),
                schema: text("database.schema").unwrap_or_else(|| "public".to_owned()),
                max_connections: get("database.pool.maxConnections").as_u64().unwrap_or(10) as u32,
                connect_timeout: duration(get("database.connectTimeout"))
                    .unwrap_or(Duration::from_secs(5)),
                statement_timeout: duration(get("database.statementTimeout"))
                    .unwrap_or(Duration::from_secs(10)),
            },
            log_level: text("logging.root.level").unwrap_or_else(|| "info".to_owned()),
            log_loggers: get("logging.loggers")
                .as_array()
                .into_iter()
                .flatten()
                .map(|entry| {
                    (
                        entry["name"].as_str().unwrap_or_default().to_owned(),
                        entry["level"].as_str().unwrap_or("info").to_owned(),
                    )
                })
                .collect(),
            log_json: get("logging.json").as_bool().unwrap_or(false),
            security_enabled: get("security.enabled").as_bool().unwrap_or(true),
            elastic_password: text("security.elasticPassword"),
            session_idle_timeout: duration(get("security.session.idleTimeout"))
                .unwrap_or(crate::security::DEFAULT_IDLE_TIMEOUT),
            tls: server_tls(get("server.ssl"))?,
            queue: queue_settings(&checked),
        })
    }
}

/// Every key the server knows, with its default. `config/switchboard.example.yml`
/// documents the same list.
fn settings_schema() -> Schema {
    let string_or_list = || one_of([string(), array(string())]);
    object([
        (
            "server",
            object([
                ("host", string().default("127.0.0.1")),
                ("port", number().default(5601).check(port)),
                (
                    "maxPayload",
                    one_of([number(), string()])
                        .default(1_048_576)
                        .check(byte_size_check),
                ),
                (
                    "ssl",
                    object([
                        ("enabled", boolean().default(false)),
                        ("certificate", maybe(string())),
                        ("key", maybe(string())),
                    ]),
                ),
            ]),
        ),
        (
            "security",
            object([
                ("enabled", boolean().default(true)),
                ("elasticPassword", maybe(string().min_length(6))),
                ("session", object([("idleTimeout", duration_setting("8h"))])),
            ]),
        ),
        ("path", object([("data", string().default("data"))])),
        (
            "database",
            object([
                ("url", maybe(string().check(database_url))),
                ("schema", string().default("public").check(schema_name)),
                (
                    "pool",
                    object([("maxConnections", number().default(10).check(pool_size))]),
                ),
                (
                    "connectTimeout",
                    one_of([number(), string()])
                        .default("5s")
                        .check(duration_check),
                ),
                (
                    "statementTimeout",
                    one_of([number(), string()])
                        .default("10s")
                        .check(duration_check),
                ),
            ]),
        ),
        (
            "logging",
            object([
                ("root", object([("level", log_level().default("info"))])),
                (
                    "loggers",
                    array(object([
                        ("name", string().min_length(1)),
                        ("level", log_level()),
                    ]))
                    .default(json!([])),
                ),
                ("json", boolean().default(false)),
            ]),
        ),
        (
            "elasticsearch",
            object([
                (
                    "hosts",
                    string_or_list()
                        .default(json!(["http://localhost:9200"]))
                        .check(urls),
                ),
                ("username", maybe(string())),
                ("password", maybe(string())),
                ("apiKey", maybe(string())),
            ]),
        ),
        (
            "xpack",
            object([
                (
                    "encryptedSavedObjects",
                    object([
                        ("encryptionKey", maybe(string().min_length(32))),
                        (
                            "keyRotation",
                            object([(
                                "decryptionOnlyKeys",
                                array(string().min_length(32)).default(json!([])),
                            )]),
                        ),
                    ]),
                ),
                (
                    "actions",
                    object([
                        ("enabledActionTypes", array(string()).default(json!(["*"]))),
                        (
                            "preconfigured",
                            record(object([
                                ("name", string().min_length(1)),
                                ("actionTypeId", string().min_length(1)),
                                ("config", record(any()).default(json!({}))),
                                ("secrets", record(any()).default(json!({}))),
                                ("exposeConfig", boolean().default(false)),
                            ]))
                            .default(json!({}))
                            .check(preconfigured_ids),
                        ),
                        (
                            "responseTimeout",
                            one_of([number(), string()])
                                .default("60s")
                                .check(duration_check),
                        ),
                        (
                            "maxResponseContentLength",
                            one_of([number(), string()])
                                .default("1mb")
                                .check(byte_size_check),
                        ),
                        (
                            "allowedHosts",
                            array(string()).default(json!(["*"])).check(allowed_hosts),
                        ),
                        ("blockPrivateAddresses", boolean().default(false)),
                        ("proxyUrl", maybe(string().check(http_url))),
                        ("proxyHeaders", maybe(record(string()))),
                        ("proxyBypassHosts", maybe(array(string()))),
                        ("proxyOnlyHosts", maybe(array(string()))),
                        (
                            "ssl",
                            object([
                                ("verificationMode", verification_mode().default("full")),
                                ("proxyVerificationMode", verification_mode().default("full")),
                            ]),
                        ),
                        (
                            "customHostSettings",
                            maybe(array(object([
                                ("url", string().check(custom_host_url)),
                                (
                                    "ssl",
                                    maybe(object([
                                        ("verificationMode", maybe(verification_mode())),
                                        ("certificateAuthoritiesFiles", maybe(string_or_list())),
                                        ("certificateAuthoritiesData", maybe(string())),
                                    ])),
                                ),
                                (
                                    "smtp",
                                    maybe(object([
                                        ("ignoreTLS", maybe(boolean())),
                                        ("requireTLS", maybe(boolean())),
                                    ])),
                                ),
                            ]))),
                        ),
                        (
                            "email",
                            object([("domain_allowlist", maybe(array(string())))]),
                        ),
                        ("enableFooterInEmail", boolean().default(true)),
                        (
                            "microsoftGraphApiUrl",
                            string()
                                .default("https://graph.microsoft.com/v1.0")
                                .check(http_url),
                        ),
                        (
                            "microsoftGraphApiScope",
                            string().default("https://graph.microsoft.com/.default"),
                        ),
                        (
                            "microsoftExchangeUrl",
                            string()
                                .default("https://login.microsoftonline.com")
                                .check(http_url),
                        ),
                        (
                            "googleTokenUrl",
                            string()
                                .default("https://oauth2.googleapis.com/token")
                                .check(http_url),
                        ),
                        (
                            "webhook",
                            object([(
                                "ssl",
                                object([("pfx", object([("enabled", boolean().default(true))]))]),
                            )]),
                        ),
                        (
                            "run",
                            object([
                                ("maxAttempts", maybe(number().check(attempts))),
                                (
                                    "connectorTypeOverrides",
                                    maybe(array(object([
                                        ("id", string()),
                                        ("maxAttempts", maybe(number().check(attempts))),
                                    ]))),
                                ),
                            ]),
                        ),
                        (
                            "queued",
                            object([("max", number().default(1_000_000).check(at_least_one))]),
                        ),
                        (
                            "queue",
                            object([
                                ("concurrency", number().default(50).check(concurrency)),
                                (
                                    "perConnectorConcurrency",
                                    maybe(number().check(concurrency)),
                                ),
                                (
                                    "pollInterval",
                                    duration_setting("500ms").check(at_least_10ms),
                                ),
                                ("leaseDuration", duration_setting("30s").check(at_least_1s)),
                                ("shutdownGracePeriod", duration_setting("10s")),
                                (
                                    "backoff",
                                    object([
                                        ("first", duration_setting("30s")),
                                        ("base", duration_setting("5m")),
                                        ("max", duration_setting("1h")),
                                    ]),
                                ),
                            ]),
                        ),
                        (
                            "executionLog",
                            object([("retention", duration_setting("30d").check(at_least_1s))]),
                        ),
                    ]),
                ),
            ]),
        ),
    ])
}

fn log_level() -> Schema {
    one_of(
        [
            "all", "fatal", "error", "warn", "info", "debug", "trace", "off",
        ]
        .map(literal),
    )
}

fn duration_setting(default: &str) -> Schema {
    one_of([number(), string()])
        .default(default)
        .check(duration_check)
}

fn queue_settings(checked: &Value) -> QueueSettings {
    let get = |path: &str| -> &Value {
        path.split('.')
            .try_fold(checked, |value, key| value.get(key))
            .unwrap_or(&Value::Null)
    };
    let defaults = QueueSettings::default();
    let whole = |path: &str| get(path).as_u64();
    let time = |path: &str, default: Duration| duration(get(path)).unwrap_or(default);
    QueueSettings {
        max_attempts: whole("xpack.actions.run.maxAttempts").map(|it| it as u32),
        type_overrides: get("xpack.actions.run.connectorTypeOverrides")
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                (
                    entry["id"].as_str().unwrap_or_default().to_owned(),
                    entry["maxAttempts"].as_u64().map(|it| it as u32),
                )
            })
            .collect(),
        queued_max: whole("xpack.actions.queued.max").unwrap_or(defaults.queued_max),
        concurrency: whole("xpack.actions.queue.concurrency")
            .map_or(defaults.concurrency, |it| it as usize),
        per_connector_concurrency: whole("xpack.actions.queue.perConnectorConcurrency")
            .map(|it| it as usize),
        poll_interval: time("xpack.actions.queue.pollInterval", defaults.poll_interval),
        lease: time("xpack.actions.queue.leaseDuration", defaults.lease),
        shutdown_grace: time(
            "xpack.actions.queue.shutdownGracePeriod",
            defaults.shutdown_grace,
        ),
        backoff_first: time("xpack.actions.queue.backoff.first", defaults.backoff_first),
        backoff_base: time("xpack.actions.queue.backoff.base", defaults.backoff_base),
        backoff_max: time("xpack.actions.queue.backoff.max", defaults.backoff_max),
        log_retention: time(
            "xpack.actions.executionLog.retention",
            defaults.log_retention,
        ),
    }
}

/// Kibana's `run.maxAttempts` range.
fn attempts(value: &Value) -> Result<(), String> {
    match value.as_u64() {
        Some(1..=10) => Ok(()),
        _ => Err("must be a whole number from 1 to 10".to_owned()),
    }
}

fn at_least_10ms(value: &Value) -> Result<(), String> {
    duration_check(value)?;
    match duration(value) {
        Some(it) if it >= Duration::from_millis(10) => Ok(()),
        _ => Err("must be at least 10ms".to_owned()),
    }
}

fn at_least_1s(value: &Value) -> Result<(), String> {
    duration_check(value)?;
    match duration(value) {
        Some(it) if it >= Duration::from_secs(1) => Ok(()),
        _ => Err("must be at least 1s".to_owned()),
    }
}

fn at_least_one(value: &Value) -> Result<(), String> {
    match value.as_u64() {
        Some(1..) => Ok(()),
        _ => Err("must be a whole number of at least 1".to_owned()),
    }
}

fn concurrency(value: &Value) -> Result<(), String> {
    match value.as_u64() {
        Some(1..=10_000) => Ok(()),
        _ => Err("must be a whole number from 1 to 10000".to_owned()),
    }
}

/// `server.ssl.enabled: true` needs both files.
fn server_tls(ssl: &Value) -> Result<Option<ServerTls>, SettingsError> {
    if ssl["enabled"].as_bool() != Some(true) {
        return Ok(None);
    }
    let file = |key: &str| {
        ssl[key].as_str().map(PathBuf::from).ok_or_else(|| {
            SettingsError::Invalid(format!(
                "server.ssl.{key}: must be set when server.ssl.enabled is true"
            ))
        })
    };
    Ok(Some(ServerTls {
        certificate: file("certificate")?,
        key: file("key")?,
    }))
}

fn database_url(value: &Value) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        Ok(())
    } else {
        // Never repeat the value: it may hold a password.
        Err("must be a postgres:// URL".to_owned())
    }
}

fn schema_name(value: &Value) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    let mut characters = text.chars();
    let valid = characters
        .next()
        .is_some_and(|it| it.is_ascii_lowercase() || it == '_')
        && characters.all(|it| it.is_ascii_lowercase() || it.is_ascii_digit() || it == '_')
        && text.len() <= 63;
    if valid {
        Ok(())
    } else {
        Err("must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 characters)".to_owned())
    }
}

fn pool_size(value: &Value) -> Result<(), String> {
    match value.as_u64() {
        Some(1..=1000) => Ok(()),
        _ => Err("must be a whole number from 1 to 1000".to_owned()),
    }
}

fn verification_mode() -> Schema {
    one_of(["none", "certificate", "full"].map(literal))
}

fn allowed_hosts(value: &Value) -> Result<(), String> {
    let entries: Vec<String> = value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|it| it.as_str().map(str::to_owned))
        .collect();
    crate::connector_types::outbound::AllowedHosts::parse(&entries).map(|_| ())
}

fn http_url(value: &Value) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(()),
        // Not repeated: a proxy URL may carry a password.
        _ => Err("must be an http or https URL".to_owned()),
    }
}

fn custom_host_url(value: &Value) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    match reqwest::Url::parse(text) {
        Ok(url) if url.host_str().is_some() => Ok(()),
        _ => Err(format!(
            "\"{text}\" is not a URL such as https://host:port or smtp://host:port"
        )),
    }
}

fn describe(error: &SchemaError) -> String {
    let text = error.to_string();
    match text.strip_prefix('[') {
        Some(rest) => match rest.split_once("]: ") {
            Some((key, message)) => format!("{key}: {message}"),
            None => text,
        },
        None => text,
    }
}

fn port(value: &Value) -> Result<(), String> {
    match value.as_u64() {
        Some(port) if port <= 65_535 => Ok(()),
        _ => Err("must be a port number from 0 to 65535".to_owned()),
    }
}

fn urls(value: &Value) -> Result<(), String> {
    let hosts: Vec<&str> = match value {
        Value::String(one) => vec![one],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for host in hosts {
        match reqwest::Url::parse(host) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => return Err(format!("\"{host}\" is not an http or https URL")),
        }
    }
    Ok(())
}

fn preconfigured_ids(value: &Value) -> Result<(), String> {
    for id in value.as_object().into_iter().flatten().map(|(id, _)| id) {
        if id.is_empty() || id == "__proto__" || id == "constructor" {
            return Err(format!("invalid preconfigured action id \"{id}\""));
        }
    }
    Ok(())
}

fn duration_check(value: &Value) -> Result<(), String> {
    duration(value).map(|_| ()).ok_or_else(|| {
        format!("failed to parse [{}] as a duration: use a number of milliseconds or a value like \"60s\"", plain(value))
    })
}

fn byte_size_check(value: &Value) -> Result<(), String> {
    byte_size(value).map(|_| ()).ok_or_else(|| {
        format!(
            "failed to parse [{}] as a byte size: use a number of bytes or a value like \"1mb\"",
            plain(value)
        )
    })
}

fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// Kibana's durations: a number of milliseconds, or `<n><unit>` with ms, s, m, h, d.
pub fn duration(value: &Value) -> Option<Duration> {
    if let Some(millis) = value.as_u64() {
        return Some(Duration::from_millis(millis));
    }
    let text = value.as_str()?.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(number.checked_mul(millis)?))
}

/// Kibana's byte sizes: a number of bytes, or `<n><unit>` with b, kb, mb, gb.
pub fn byte_size(value: &Value) -> Option<usize> {
    if let Some(bytes) = value.as_u64() {
        return usize::try_from(bytes).ok();
    }
    let text = value.as_str()?.trim().to_ascii_lowercase();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().ok()?;
    let factor = match unit {
        "b" => 1,
        "kb" => 1024,
        "mb" => 1024 * 1024,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// Merges a YAML document into the tree, splitting dotted keys, so `a.b: 1` and
/// `a: { c: 2 }` become `{a: {b: 1, c: 2}}` as in kibana.yml.
fn merge_dotted(tree: &mut Value, document: &Value) {
    let Value::Object(entries) = document else {
        return;
    };
    for (key, value) in entries {
        let mut node = &mut *tree;
        let parts: Vec<&str> = key.split('.').collect();
        let (last, parents) = parts.split_last().expect("split yields at least one part");
        for part in parents {
            node = child_object(node, part);
        }
        if value.is_object() {
            let target = child_object(node, last);
            merge_dotted(target, value);
        } else if let Value::Object(map) = node {
            map.insert((*last).to_owned(), value.clone());
        }
    }
}

fn child_object<'a>(node: &'a mut Value, key: &str) -> &'a mut Value {
    let Value::Object(map) = node else {
        unreachable!("merge_dotted only descends into objects");
    };
    let child = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        *child = Value::Object(Map::new());
    }
    child
}

/// Keys that may be set from the environment as `SWITCHBOARD_<KEY>`, the key upper-cased
/// with dots as underscores: `SWITCHBOARD_SERVER_PORT`,
/// `SWITCHBOARD_XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY`. Text keys take the value
/// as it is (a password of `123456` stays text); the others read it as YAML, so
/// lists, maps and numbers can be given.
const ENVIRONMENT_KEYS: &[(&str, EnvironmentValue)] = &[
    ("server.host", EnvironmentValue::Text),
    ("server.port", EnvironmentValue::Yaml),
    ("server.maxPayload", EnvironmentValue::Yaml),
    ("server.ssl.enabled", EnvironmentValue::Yaml),
    ("server.ssl.certificate", EnvironmentValue::Text),
    ("server.ssl.key", EnvironmentValue::Text),
    ("security.enabled", EnvironmentValue::Yaml),
    ("security.elasticPassword", EnvironmentValue::Text),
    ("security.session.idleTimeout", EnvironmentValue::Yaml),
    ("path.data", EnvironmentValue::Text),
    ("database.url", EnvironmentValue::Text),
    ("database.schema", EnvironmentValue::Text),
    ("database.pool.maxConnections", EnvironmentValue::Yaml),
    ("database.connectTimeout", EnvironmentValue::Yaml),
    ("database.statementTimeout", EnvironmentValue::Yaml),
    ("logging.root.level", EnvironmentValue::Text),
    ("logging.json", EnvironmentValue::Yaml),
    ("logging.loggers", EnvironmentValue::Yaml),
    ("elasticsearch.hosts", EnvironmentValue::Yaml),
    ("elasticsearch.username", EnvironmentValue::Text),
    ("elasticsearch.password", EnvironmentValue::Text),
    ("elasticsearch.apiKey", EnvironmentValue::Text),
    (
        "xpack.encryptedSavedObjects.encryptionKey",
        EnvironmentValue::Text,
    ),
    (
        "xpack.encryptedSavedObjects.keyRotation.decryptionOnlyKeys",
        EnvironmentValue::Yaml,
    ),
    ("xpack.actions.enabledActionTypes", EnvironmentValue::Yaml),
    ("xpack.actions.preconfigured", EnvironmentValue::Yaml),
    ("xpack.actions.responseTimeout", EnvironmentValue::Yaml),
    (
        "xpack.actions.maxResponseContentLength",
        EnvironmentValue::Yaml,
    ),
    ("xpack.actions.allowedHosts", EnvironmentValue::Yaml),
    (
        "xpack.actions.blockPrivateAddresses",
        EnvironmentValue::Yaml,
    ),
    ("xpack.actions.proxyUrl", EnvironmentValue::Text),
    ("xpack.actions.proxyHeaders", EnvironmentValue::Yaml),
    ("xpack.actions.proxyBypassHosts", EnvironmentValue::Yaml),
    ("xpack.actions.proxyOnlyHosts", EnvironmentValue::Yaml),
    ("xpack.actions.ssl.verificationMode", EnvironmentValue::Text),
    ("xpack.actions.run.maxAttempts", EnvironmentValue::Yaml),
    (
        "xpack.actions.run.connectorTypeOverrides",
        EnvironmentValue::Yaml,
    ),
    ("xpack.actions.queued.max", EnvironmentValue::Yaml),
    ("xpack.actions.queue.concurrency", EnvironmentValue::Yaml),
    (
        "xpack.actions.queue.perConnectorConcurrency",
        EnvironmentValue::Yaml,
    ),
    ("xpack.actions.queue.pollInterval", EnvironmentValue::Yaml),
    ("xpack.actions.queue.leaseDuration", EnvironmentValue::Yaml),
    (
        "xpack.actions.queue.shutdownGracePeriod",
        EnvironmentValue::Yaml,
    ),
    ("xpack.actions.queue.backoff.first", EnvironmentValue::Yaml),
    ("xpack.actions.queue.backoff.base", EnvironmentValue::Yaml),
    ("xpack.actions.queue.backoff.max", EnvironmentValue::Yaml),
    (
        "xpack.actions.executionLog.retention",
        EnvironmentValue::Yaml,
    ),
    (
        "xpack.actions.ssl.proxyVerificationMode",
        EnvironmentValue::Text,
    ),
    ("xpack.actions.customHostSettings", EnvironmentValue::Yaml),
    (
        "xpack.actions.webhook.ssl.pfx.enabled",
        EnvironmentValue::Yaml,
    ),
    (
        "xpack.actions.email.domain_allowlist",
        EnvironmentValue::Yaml,
    ),
    ("xpack.actions.enableFooterInEmail", EnvironmentValue::Yaml),
    ("xpack.actions.microsoftGraphApiUrl", EnvironmentValue::Text),
    (
        "xpack.actions.microsoftGraphApiScope",
        EnvironmentValue::Text,
    ),
    ("xpack.actions.microsoftExchangeUrl", EnvironmentValue::Text),
    ("xpack.actions.googleTokenUrl", EnvironmentValue::Text),
];

#[derive(Clone, Copy)]
enum EnvironmentValue {
    Text,
    Yaml,
}

const ENVIRONMENT_PREFIX: &str = "SWITCHBOARD_";

fn environment_name(key: &str) -> String {
    format!(
        "{ENVIRONMENT_PREFIX}{}",
        key.replace('.', "_").to_ascii_uppercase()
    )
}

/// Variables that are not server settings: the settings file's path and the
/// `connectors` command's connection (set in a shell that may also run the server).
const CLIENT_VARIABLES: [&str; 5] = [
    "SWITCHBOARD_CONFIG",
    "SWITCHBOARD_URL",
    "SWITCHBOARD_USERNAME",
    "SWITCHBOARD_PASSWORD",
    "SWITCHBOARD_API_KEY",
];

fn apply_environment(
    tree: &mut Value,
    environment: impl IntoIterator<Item = (String, String)>,
) -> Result<(), SettingsError> {
    for (name, raw) in environment {
        if !name.starts_with(ENVIRONMENT_PREFIX) || CLIENT_VARIABLES.contains(&name.as_str()) {
            continue;
        }
        let Some((key, kind)) = ENVIRONMENT_KEYS
            .iter()
            .find(|(key, _)| environment_name(key) == name)
        else {
            return Err(SettingsError::Invalid(format!(
                "{name}: not a known setting; known ones are {}",
                ENVIRONMENT_KEYS
                    .iter()
                    .map(|(key, _)| environment_name(key))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let value = match kind {
            EnvironmentValue::Text => Value::String(raw),
            EnvironmentValue::Yaml => match serde_yaml_ng::from_str::<Value>(&raw) {
                Ok(Value::Null) | Err(_) => Value::String(raw),
                Ok(value) => value,
            },
        };
        let mut document = Map::new();
        document.insert((*key).to_owned(), value);
        merge_dotted(tree, &Value::Object(document));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_yaml(yaml: &str) -> Result<Settings, SettingsError> {
        let mut tree = Value::Object(Map::new());
        merge_dotted(&mut tree, &serde_yaml_ng::from_str(yaml).unwrap());
        Settings::from_tree(&tree)
    }

    #[test]
    fn defaults_match_kibana() {
        let settings = load_yaml("{}").unwrap();
        assert_eq!((settings.host.as_str(), settings.port), ("127.0.0.1", 5601));
        assert_eq!(settings.max_payload, 1_048_576);
        assert_eq!(settings.response_timeout, Duration::from_secs(60));
        assert_eq!(settings.enabled_action_types, ["*"]);
        assert_eq!(settings.data_dir, PathBuf::from("data"));
        assert_eq!(
            settings.google_token_url,
            "https://oauth2.googleapis.com/token"
        );
    }

    #[test]
    fn the_example_file_parses_and_states_the_defaults() {
        let example = load_yaml(include_str!("../config/switchboard.example.yml")).unwrap();
        let defaults = load_yaml("{}").unwrap();
        assert_eq!(format!("{example:?}"), format!("{defaults:?}"));
        assert_eq!(example.response_timeout, defaults.response_timeout);
        assert_eq!(
            example.max_response_content_length,
            defaults.max_response_content_length
        );
        assert_eq!(example.elasticsearch.hosts, defaults.elasticsearch.hosts);
        assert_eq!(example.log_level, defaults.log_level);
        assert_eq!(example.security_enabled, defaults.security_enabled);
        assert!(example.security_enabled && example.tls.is_none());
        assert_eq!(example.email.graph_api_url, defaults.email.graph_api_url);
        assert_eq!(example.email.enable_footer, defaults.email.enable_footer);
        assert_eq!(
            format!("{:?}", example.database),
            format!("{:?}", defaults.database)
        );
    }

    #[test]
    fn dotted_and_nested_keys_mix() {
        let settings = load_yaml(
            "server.port: 9000\nxpack:\n  actions.responseTimeout: 5s\n  actions:\n    enabledActionTypes: ['.webhook']\n",
        )
        .unwrap();
        assert_eq!(settings.port, 9000);
        assert_eq!(settings.response_timeout, Duration::from_secs(5));
        assert_eq!(settings.enabled_action_types, [".webhook"]);
    }

    #[test]
    fn invalid_settings_name_the_key() {
        let error = load_yaml("server.port: 70000").err().unwrap();
        assert_eq!(
            error.to_string(),
            "invalid setting server.port: must be a port number from 0 to 65535"
        );
        let error = load_yaml("xpack.encryptedSavedObjects.encryptionKey: short")
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "invalid setting xpack.encryptedSavedObjects.encryptionKey: value has length [5] but it must have a minimum length of [32]."
        );
        let error = load_yaml("server.prot: 1").err().unwrap();
        assert_eq!(
            error.to_string(),
            "invalid setting server.prot: definition for this key is missing"
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut tree = Value::Object(Map::new());
        merge_dotted(&mut tree, &json!({ "server": { "port": 1 } }));
        apply_environment(
            &mut tree,
            [
                ("SWITCHBOARD_SERVER_PORT".to_owned(), "7000".to_owned()),
                (
                    "SWITCHBOARD_XPACK_ACTIONS_ENABLEDACTIONTYPES".to_owned(),
                    "[\".index\"]".to_owned(),
                ),
                ("PATH".to_owned(), "/bin".to_owned()),
                (
                    "SWITCHBOARD_ELASTICSEARCH_PASSWORD".to_owned(),
                    "123456".to_owned(),
                ),
            ],
        )
        .unwrap();
        let settings = Settings::from_tree(&tree).unwrap();
        assert_eq!(settings.port, 7000);
        assert_eq!(settings.enabled_action_types, [".index"]);
        assert_eq!(settings.elasticsearch.password.as_deref(), Some("123456"));
    }

    #[test]
    fn durations_and_sizes_parse_like_kibana() {
        assert_eq!(duration(&json!("500ms")), Some(Duration::from_millis(500)));
        assert_eq!(duration(&json!(250)), Some(Duration::from_millis(250)));
        assert_eq!(duration(&json!("1m")), Some(Duration::from_secs(60)));
        assert_eq!(duration(&json!("soon")), None);
        assert_eq!(byte_size(&json!("1mb")), Some(1_048_576));
        assert_eq!(byte_size(&json!("10KB")), Some(10_240));
    }
}
