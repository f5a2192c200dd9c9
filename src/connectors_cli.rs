//! `switchboard connectors ...`: a client of a running server's HTTP API (any node,
//! any Kibana-compatible server), for people (tables) and scripts (`--json`).

// This is a client the operator runs, not the server's egress to third parties.
#![allow(clippy::disallowed_methods)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Args)]
pub struct ConnectorsArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "SWITCHBOARD_URL",
        default_value = "http://127.0.0.1:5601",
        global = true
    )]
    url: String,
    /// The space to work in (default: the default space).
    #[arg(long, global = true)]
    space: Option<String>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// A PEM file with the CA that signed the server's certificate.
    #[arg(long, global = true)]
    ca_cert: Option<PathBuf>,
    /// With SWITCHBOARD_PASSWORD: basic authentication.
    #[arg(
        long,
        env = "SWITCHBOARD_USERNAME",
        hide_env_values = true,
        global = true
    )]
    username: Option<String>,
    #[arg(
        long,
        env = "SWITCHBOARD_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    password: Option<String>,
    /// An API key (the `encoded` value): `Authorization: ApiKey <key>`.
    #[arg(long, env = "SWITCHBOARD_API_KEY", hide = true, hide_env_values = true)]
    api_key: Option<String>,
    #[command(subcommand)]
    command: ConnectorsCommand,
}

#[derive(Subcommand)]
enum ConnectorsCommand {
    /// List the connectors of the space.
    List,
    /// Show one connector.
    Get { id: String },
    /// Create a connector.
    Create {
        /// Its type, e.g. .webhook.
        #[arg(long = "type")]
        type_id: String,
        #[arg(long)]
        name: String,
        /// Choose its id (default: the server makes one).
        #[arg(long)]
        id: Option<String>,
        /// Config as JSON (`--config` names the settings file).
        #[arg(long = "config-json", default_value = "{}")]
        config_json: String,
        /// Secrets as JSON.
        #[arg(long = "secrets-json", default_value = "{}")]
        secrets_json: String,
    },
    /// Replace a connector's name, config and secrets (as Kibana's update does: give
    /// all three again; secrets left out are removed).
    Update {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long = "config-json", default_value = "{}")]
        config_json: String,
        #[arg(long = "secrets-json", default_value = "{}")]
        secrets_json: String,
    },
    /// Delete a connector.
    Delete { id: String },
    /// Run a connector now; fails (exit 1) when the run does.
    Run {
        id: String,
        /// Params as JSON.
        #[arg(long = "params-json", default_value = "{}")]
        params_json: String,
    },
    /// List the connector types.
    Types,
}

/// Why a command failed; printed on stderr.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the server answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the run failed: {0}")]
    RunFailed(String),
}

pub async fn run(args: ConnectorsArgs) -> ExitCode {
    match execute(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("switchboard: {error}");
            ExitCode::FAILURE
        }
    }
}

fn json_arg(name: &str, text: &str) -> Result<Value, CliError> {
    serde_json::from_str(text)
        .map_err(|error| CliError::Usage(format!("--{name} is not JSON: {error}")))
}

async fn execute(args: &ConnectorsArgs) -> Result<(), CliError> {
    let client = Client::new(args)?;
    let encode = path_segment;
    match &args.command {
        ConnectorsCommand::List => {
            let list = client
                .call(Method::GET, "/api/actions/connectors", None)
                .await?;
            client.print(&list, || connectors_table(&list));
        }
        ConnectorsCommand::Get { id } => {
            let path = format!("/api/actions/connector/{}", encode(id));
            let connector = client.call(Method::GET, &path, None).await?;
            client.print(&connector, || connector_details(&connector));
        }
        ConnectorsCommand::Create {
            type_id,
            name,
            id,
            config_json,
            secrets_json,
        } => {
            let body = json!({
                "name": name,
                "connector_type_id": type_id,
                "config": json_arg("config-json", config_json)?,
                "secrets": json_arg("secrets-json", secrets_json)?,
            });
            let path = match id {
                Some(id) => format!("/api/actions/connector/{}", encode(id)),
                None => "/api/actions/connector".to_owned(),
            };
            let created = client.call(Method::POST, &path, Some(body)).await?;
            client.print(&created, || connector_details(&created));
        }
        ConnectorsCommand::Update {
            id,
            name,
            config_json,
            secrets_json,
        } => {
            let body = json!({
                "name": name,
                "config": json_arg("config-json", config_json)?,
                "secrets": json_arg("secrets-json", secrets_json)?,
            });
            let path = format!("/api/actions/connector/{}", encode(id));
            let updated = client.call(Method::PUT, &path, Some(body)).await?;
            client.print(&updated, || connector_details(&updated));
        }
        ConnectorsCommand::Delete { id } => {
            let path = format!("/api/actions/connector/{}", encode(id));
            client.call(Method::DELETE, &path, None).await?;
            if !args.json {
                println!("Deleted {id}.");
            }
        }
        ConnectorsCommand::Run { id, params_json } => {
            let path = format!("/api/actions/connector/{}/_execute", encode(id));
            let body = json!({ "params": json_arg("params-json", params_json)? });
            let result = client.call(Method::POST, &path, Some(body)).await?;
            client.print(&result, || run_result(&result));
            if result["status"] != "ok" {
                let mut message = result["message"].as_str().unwrap_or("error").to_owned();
                if let Some(service_message) = result["service_message"].as_str() {
                    message = format!("{message}: {service_message}");
                }
                return Err(CliError::RunFailed(message));
            }
        }
        ConnectorsCommand::Types => {
            let types = client
                .call(Method::GET, "/api/actions/connector_types", None)
                .await?;
            client.print(&types, || types_table(&types));
        }
    }
    Ok(())
}

struct Client {
    http: reqwest::Client,
    base: String,
    authorization: Option<String>,
    json: bool,
}

impl Client {
    fn new(args: &ConnectorsArgs) -> Result<Self, CliError> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("switchboard-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &args.ca_cert {
            let pem = std::fs::read(path).map_err(|error| {
                CliError::Usage(format!("cannot read {}: {error}", path.display()))
            })?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|error| {
                CliError::Usage(format!(
                    "{} is not a PEM certificate: {error}",
                    path.display()
                ))
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder
            .build()
            .map_err(|error| CliError::Usage(format!("cannot build an HTTP client: {error}")))?;
        let authorization = match (&args.api_key, &args.username, &args.password) {
            (Some(key), _, _) => Some(format!("ApiKey {key}")),
            (None, Some(username), Some(password)) => {
                use base64::Engine;
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                ))
            }
            (None, Some(_), None) => {
                return Err(CliError::Usage(
                    "SWITCHBOARD_USERNAME is set but SWITCHBOARD_PASSWORD is not".to_owned(),
                ));
            }
            _ => None,
        };
        let mut base = args.url.trim_end_matches('/').to_owned();
        if let Some(space) = &args.space {
            base = format!("{base}/s/{}", path_segment(space));
        }
        Ok(Self {
            http,
            base,
            authorization,
            json: args.json,
        })
    }

    /// Sends a request; a non-2xx answer is an error carrying Kibana's message.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method, &url)
            .header("kbn-xsrf", "switchboard-cli");
        if let Some(authorization) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let unreachable = |source| CliError::Unreachable {
            url: self.base.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(body);
        }
        let message = match &body["message"] {
            Value::String(message) => message.clone(),
            _ => status.canonical_reason().unwrap_or("error").to_owned(),
        };
        let hint = if status == StatusCode::UNAUTHORIZED {
            " (set SWITCHBOARD_USERNAME and SWITCHBOARD_PASSWORD, or SWITCHBOARD_API_KEY)"
        } else {
            ""
        };
        Err(CliError::Refused {
            status: status.as_u16(),
            message: format!("{message}{hint}"),
        })
    }

    fn print(&self, body: &Value, table: impl FnOnce() -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
        } else {
            print!("{}", table());
        }
    }
}

/// An id as one URL path segment: everything but unreserved characters escaped.
fn path_segment(id: &str) -> String {
    let mut segment = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            segment.push(char::from(byte));
        } else {
            segment.push_str(&format!("%{byte:02X}"));
        }
    }
    segment
}

/// Columns padded to their widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|it| it.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut text = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ");
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let mut out = line(headers.iter().map(|it| (*it).to_owned()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn yes_no(value: &Value) -> String {
    if value.as_bool() == Some(true) {
        "yes"
    } else {
        "no"
    }
    .to_owned()
}

fn connectors_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|connector| {
            vec![
                text(&connector["id"]),
                text(&connector["name"]),
                text(&connector["connector_type_id"]),
                yes_no(&connector["is_preconfigured"]),
                yes_no(&connector["is_missing_secrets"]),
            ]
        })
        .collect();
    table(
        &["ID", "NAME", "TYPE", "PRECONFIGURED", "MISSING SECRETS"],
        &rows,
    )
}

fn connector_details(connector: &Value) -> String {
    let mut out = String::new();
    for (label, key) in [
        ("id", "id"),
        ("name", "name"),
        ("type", "connector_type_id"),
        ("preconfigured", "is_preconfigured"),
        ("missing secrets", "is_missing_secrets"),
    ] {
        out.push_str(&format!("{label:<16}{}\n", text(&connector[key])));
    }
    if let Some(config) = connector.get("config") {
        out.push_str(&format!(
            "config\n{}\n",
            serde_json::to_string_pretty(config).unwrap_or_default()
        ));
    }
    out
}

fn run_result(result: &Value) -> String {
    let mut out = format!("status          {}\n", text(&result["status"]));
    for (label, key) in [
        ("message", "message"),
        ("service message", "service_message"),
    ] {
        if let Some(value) = result.get(key) {
            out.push_str(&format!("{label:<16}{}\n", text(value)));
        }
    }
    if let Some(retry) = result.get("retry") {
        out.push_str(&format!("retry           {}\n", text(retry)));
    }
    if let Some(data) = result.get("data") {
        out.push_str(&format!(
            "data\n{}\n",
            serde_json::to_string_pretty(data).unwrap_or_default()
        ));
    }
    out
}

fn types_table(types: &Value) -> String {
    let rows: Vec<Vec<String>> = types
        .as_array()
        .into_iter()
        .flatten()
        .map(|it| {
            vec![
                text(&it["id"]),
                text(&it["name"]),
                yes_no(&it["enabled"]),
                text(&it["minimum_license_required"]),
            ]
        })
        .collect();
    table(&["ID", "NAME", "ENABLED", "LICENSE"], &rows)
}
