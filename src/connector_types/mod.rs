//! Connector types: the trait every integration implements, the registry that holds
//! them, and one module per type (`.server-log`, `.index`, `.webhook`, ...).
//!
//! A type declares its config, secrets and params with [`crate::schema`], so the
//! messages are Kibana's, and runs with an [`ExecutionContext`] it is handed. It never
//! reads settings, the store or HTTP requests of its own.

mod bedrock;
mod case_connector;
mod cases_webhook;
mod crowdstrike;
mod d3security;
pub mod email;
mod error;
mod gemini;
mod gen_ai;
pub mod index;
mod itsm;
mod jira;
mod js;
mod jwt;
mod opsgenie;
pub mod outbound;
mod pagerduty;
mod resilient;
mod sentinelone;
pub mod server_log;
mod servicenow;
mod slack;
mod slack_api;
pub mod streaming;
mod subaction;
mod swimlane;
mod teams;
mod thehive;
mod tines;
mod torq;
pub mod webhook;
mod xmatters;

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc};

use serde_json::Value;

pub use self::error::{ErrorSource, ExecuteError, Retry, retry_after_seconds};
use crate::schema::{Schema, SchemaError};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Kibana's licence levels. Switchboard has no licences; the level is reported as
/// Kibana reports it so clients that read it keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum License {
    Basic,
    Gold,
    Platinum,
    Enterprise,
}

impl License {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Gold => "gold",
            Self::Platinum => "platinum",
            Self::Enterprise => "enterprise",
        }
    }
}

/// The feature ids of Kibana's alerting, uptime and security apps.
pub const ALERTING_UPTIME_SIEM: &[&str] = &["alerting", "uptime", "siem"];
/// Alerting and security only.
pub const ALERTING_SIEM: &[&str] = &["alerting", "siem"];
/// Case-management types offered to alerting, cases, uptime and security.
pub const ALERTING_CASES_UPTIME_SIEM: &[&str] = &["alerting", "cases", "uptime", "siem"];
/// Case-management types offered to alerting, cases and security.
pub const ALERTING_CASES_SIEM: &[&str] = &["alerting", "cases", "siem"];
/// Security only.
pub const SIEM: &[&str] = &["siem"];

/// What `GET /api/actions/connector_types` says about a type.
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub minimum_license: License,
    pub supported_feature_ids: &'static [&'static str],
}

/// The schemas a type validates its three inputs with. Built once per type.
pub struct Schemas {
    pub config: Schema,
    pub secrets: Schema,
    pub params: Schema,
}

/// Deployment-wide rules that validation needs: settings the schemas cannot know.
#[derive(Debug, Clone, Default)]
pub struct ValidationContext {
    /// `xpack.actions.allowedHosts`: every URL field of every type is checked against it.
    pub allowed_hosts: outbound::AllowedHosts,
    /// `xpack.actions.webhook.ssl.pfx.enabled`.
    pub webhook_pfx_disabled: bool,
    /// `xpack.actions.email.domain_allowlist`: if set, the only domains mail may use.
    pub email_domain_allowlist: Option<Vec<String>>,
}

/// Services a connector may use while it runs. Built once at start-up and shared.
#[derive(Clone)]
pub struct ExecutionContext {
    /// The one outbound HTTP client: its timeouts and limits apply to every type.
    pub http: outbound::Outbound,
}

/// A connector as a type sees it at run time: validated config, opened secrets, and
/// the rights of whoever asked for the run.
pub struct Connector<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub config: &'a Value,
    pub secrets: &'a Value,
    pub caller: &'a dyn CallerRights,
}

/// What the caller of a run may do beyond running connectors, for types that act
/// with the caller's own rights: Kibana runs `.index` with the caller's credentials,
/// so it needs the caller's privileges on the target index.
pub trait CallerRights: Send + Sync {
    /// # Errors
    /// Elasticsearch's refusal text when the caller may not write to the index.
    fn may_write_index(&self, index: &str) -> Result<(), String>;

    /// Whether the caller holds every privilege (Kibana's `superuser`): what Kibana asks
    /// of an HTTP caller for an endpoint-security connector's response actions.
    fn is_superuser(&self) -> bool;
}

/// One kind of connector. Object-safe so the registry can hold every type.
///
/// Validation is pure (no IO): the shape is in [`ConnectorType::schemas`]; rules that
/// span fields go in the `validate_*` hooks and return Kibana's bare message.
pub trait ConnectorType: Send + Sync + 'static {
    fn info(&self) -> TypeInfo;

    fn schemas(&self) -> &Schemas;

    /// Rules on the whole config, run after its shape is accepted.
    fn validate_config(&self, _config: &Value, _cx: &ValidationContext) -> Result<(), String> {
        Ok(())
    }

    /// Rules on the whole params, run after their shape is accepted.
    fn validate_params(&self, _params: &Value, _cx: &ValidationContext) -> Result<(), String> {
        Ok(())
    }

    /// Rules on the whole secrets, run after their shape is accepted.
    fn validate_secrets(&self, _secrets: &Value, _cx: &ValidationContext) -> Result<(), String> {
        Ok(())
    }

    /// The `connector_id` its run results carry: the connector's id, except where
    /// Kibana reports something else (`.slack_api` reports its type id).
    fn result_connector_id<'a>(&self, connector_id: &'a str) -> &'a str {
        connector_id
    }

    /// Rules that need config and secrets together (Kibana's "connector" validator).
    fn validate_connector(&self, _config: &Value, _secrets: &Value) -> Result<(), String> {
        Ok(())
    }

    /// Performs the action with checked params. Returns the result's `data`, if any.
    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>>;

    /// Whether these checked params ask for a streamed answer (OpenAI's `stream` with
    /// `stream: true`, the AI types' `invokeStream`). Such runs go through
    /// [`ConnectorType::execute_stream`] instead of [`ConnectorType::execute`].
    fn streams(&self, _params: &Value) -> bool {
        false
    }

    /// Starts a streamed run: `Ok` once the vendor has accepted it (a failure before
    /// the first byte is an ordinary error result).
    fn execute_stream<'a>(
        &'a self,
        _cx: &'a ExecutionContext,
        _connector: Connector<'a>,
        _params: Value,
    ) -> BoxFuture<'a, Result<streaming::Streamed, ExecuteError>> {
        Box::pin(async { Err(ExecuteError::thrown("this connector type does not stream")) })
    }
}

/// Which of a connector's inputs failed; Kibana names it in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Config,
    Secrets,
    Connector,
    Params,
}

/// A config, secrets or params object refused by its type:
/// `error validating action type config: [index]: expected value of type [string] but got [undefined]`.
#[derive(Debug, Clone, thiserror::Error)]
pub struct InvalidConnector {
    pub section: Section,
    pub error: SchemaError,
}

impl std::fmt::Display for InvalidConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let section = match self.section {
            Section::Params => return write!(f, "error validating action params: {}", self.error),
            Section::Config => "config",
            Section::Secrets => "secrets",
            Section::Connector => "connector",
        };
        write!(f, "error validating action type {section}: {}", self.error)
    }
}

/// Config and secrets as they are stored: validated, defaults filled in.
#[derive(Clone)]
pub struct ValidConnector {
    pub config: Value,
    pub secrets: Value,
}

impl std::fmt::Debug for ValidConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidConnector")
            .field("config", &self.config)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

/// Checks config and secrets in Kibana's order: config shape and rules, secrets shape
/// and rules, then the two together.
pub fn validate_connector(
    connector_type: &dyn ConnectorType,
    config: &Value,
    secrets: &Value,
    cx: &ValidationContext,
) -> Result<ValidConnector, InvalidConnector> {
    let schemas = connector_type.schemas();
    let invalid = |section| move |error| InvalidConnector { section, error };
    let config = schemas
        .config
        .validate(config)
        .map_err(invalid(Section::Config))?;
    connector_type
        .validate_config(&config, cx)
        .map_err(|message| invalid(Section::Config)(SchemaError::bare(message)))?;
    let secrets = schemas
        .secrets
        .validate(secrets)
        .map_err(invalid(Section::Secrets))?;
    connector_type
        .validate_secrets(&secrets, cx)
        .map_err(|message| invalid(Section::Secrets)(SchemaError::bare(message)))?;
    connector_type
        .validate_connector(&config, &secrets)
        .map_err(|message| invalid(Section::Connector)(SchemaError::bare(message)))?;
    Ok(ValidConnector { config, secrets })
}

/// Checks params; returns them with defaults filled in.
pub fn validate_params(
    connector_type: &dyn ConnectorType,
    params: &Value,
    cx: &ValidationContext,
) -> Result<Value, InvalidConnector> {
    let invalid = |error| InvalidConnector {
        section: Section::Params,
        error,
    };
    let params = connector_type
        .schemas()
        .params
        .validate(params)
        .map_err(invalid)?;
    connector_type
        .validate_params(&params, cx)
        .map_err(|message| invalid(SchemaError::bare(message)))?;
    Ok(params)
}

/// Every connector type the server knows, in registration order (which is the order
/// `GET /api/actions/connector_types` lists them in, as Kibana does).
#[derive(Default, Clone)]
pub struct Registry {
    order: Vec<&'static str>,
    types: BTreeMap<&'static str, Arc<dyn ConnectorType>>,
}

impl Registry {
    /// # Panics
    /// If two types share an id: a programming error caught by any test that starts the server.
    pub fn register(&mut self, connector_type: impl ConnectorType) {
        let id = connector_type.info().id;
        let previous = self.types.insert(id, Arc::new(connector_type));
        assert!(previous.is_none(), "connector type `{id}` registered twice");
        self.order.push(id);
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn ConnectorType>> {
        self.types.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn ConnectorType>> {
        self.order.iter().map(|id| &self.types[id])
    }
}

/// Settings the built-in types are constructed with.
pub struct BuiltinSettings {
    /// Where `.index` writes, and the client to reach it (not subject to the
    /// connector egress policy: it is the operator's own cluster, as in Kibana).
    pub elasticsearch: index::Cluster,
    pub elasticsearch_client: outbound::Outbound,
    pub email: email::EmailSettings,
    /// `xpack.actions.googleTokenUrl`, for `.gemini`.
    pub google_token_url: String,
}

/// The types Switchboard implements. Adding a type is a module and one line here.
pub fn builtin(settings: BuiltinSettings) -> Registry {
    let mut registry = Registry::default();
    registry.register(server_log::ServerLog::new());
    registry.register(index::Index::new(
        settings.elasticsearch,
        settings.elasticsearch_client,
    ));
    registry.register(webhook::Webhook::new());
    registry.register(email::Email::new(settings.email));
    registry.register(pagerduty::PagerDuty::new());
    registry.register(slack::Slack::new());
    registry.register(slack_api::SlackApi::new());
    registry.register(xmatters::XMatters::new());
    registry.register(teams::Teams::new());
    registry.register(torq::Torq::new());
    registry.register(opsgenie::Opsgenie::new());
    registry.register(tines::Tines::new());
    registry.register(d3security::D3Security::new());
    registry.register(jira::Jira::new());
    registry.register(servicenow::ServiceNow::itsm());
    registry.register(servicenow::ServiceNow::sir());
    registry.register(servicenow::ServiceNow::itom());
    registry.register(resilient::Resilient::new());
    registry.register(swimlane::Swimlane::new());
    registry.register(cases_webhook::CasesWebhook::new());
    registry.register(thehive::TheHive::new());
    registry.register(gen_ai::GenAi::new());
    registry.register(bedrock::Bedrock::new());
    registry.register(gemini::Gemini::new(settings.google_token_url));
    registry.register(sentinelone::SentinelOne::new());
    registry.register(crowdstrike::CrowdStrike::new());
    registry
}
