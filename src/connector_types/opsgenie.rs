//! `.opsgenie`: creates and closes Opsgenie alerts (a sub-action connector).

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext,
    License, Schemas, TypeInfo, ValidationContext, outbound::Answer, subaction,
};
use crate::schema::{Schema, array, literal, maybe, object, one_of, record, string};

pub struct Opsgenie {
    schemas: Schemas,
    create_alert: Schema,
    close_alert: Schema,
}

/// Aliases longer than this are sent as `sha-<hex SHA-256>`, as Kibana does.
const MAX_ALIAS_LENGTH: usize = 512;

fn not_only_whitespace(value: &Value) -> Result<(), String> {
    if value.as_str().is_some_and(|it| it.trim().is_empty()) {
        return Err("must be populated with a value other than just whitespace".to_owned());
    }
    Ok(())
}

fn literals(values: &[&'static str]) -> Schema {
    one_of(values.iter().map(|it| literal(*it)))
}

fn create_alert_schema() -> Schema {
    let limited = |max: usize| maybe(string().max_length(max));
    let responder_types = || literals(&["team", "user", "escalation", "schedule"]);
    object([
        (
            "message",
            string()
                .min_length(1)
                .max_length(130)
                .check(not_only_whitespace),
        ),
        ("alias", maybe(string())),
        ("description", limited(15_000)),
        (
            "responders",
            maybe(
                array(one_of([
                    object([("name", string()), ("type", responder_types())]),
                    object([("id", string()), ("type", responder_types())]),
                    object([("username", string()), ("type", literal("user"))]),
                ]))
                .max_size(50),
            ),
        ),
        (
            "visibleTo",
            maybe(
                array(one_of([
                    object([("name", string()), ("type", literal("team"))]),
                    object([("id", string()), ("type", literal("team"))]),
                    object([("id", string()), ("type", literal("user"))]),
                    object([("username", string()), ("type", literal("user"))]),
                ]))
                .max_size(50),
            ),
        ),
        (
            "actions",
            maybe(array(string().max_length(50)).max_size(10)),
        ),
        ("tags", maybe(array(string().max_length(50)).max_size(20))),
        ("details", maybe(record(string()))),
        ("entity", limited(512)),
        ("source", limited(100)),
        ("priority", maybe(literals(&["P1", "P2", "P3", "P4", "P5"]))),
        ("user", limited(100)),
        ("note", limited(25_000)),
    ])
}

fn close_alert_schema() -> Schema {
    object([
        ("alias", string()),
        ("user", maybe(string().max_length(100))),
        ("source", maybe(string().max_length(100))),
        ("note", maybe(string().max_length(25_000))),
    ])
}

impl Opsgenie {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([("apiUrl", string())]),
                secrets: object([("apiKey", string())]),
                params: subaction::params_schema(),
            },
            create_alert: create_alert_schema(),
            close_alert: close_alert_schema(),
        }
    }
}

fn sent_alias(alias: &str) -> String {
    if alias.chars().count() > MAX_ALIAS_LENGTH {
        let digest = Sha256::digest(alias.as_bytes());
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("sha-{hex}")
    } else {
        alias.to_owned()
    }
}

/// Opsgenie's answer must say `took` and `requestId` (its success and failure shapes
/// share them; more is allowed).
fn check_answer(body: &Value) -> Result<(), ExecuteError> {
    for (key, kind, ok) in [
        ("took", "number", body["took"].is_number()),
        ("requestId", "string", body["requestId"].is_string()),
    ] {
        if !ok {
            return Err(subaction::response_invalid(&format!(
                "[{key}]: expected value of type [{kind}] but got [{}]",
                subaction::field_type(body, key)
            )));
        }
    }
    Ok(())
}

/// Kibana's message for a failed call: Opsgenie's `message`, and its `errors` as JSON.
fn failure(answer: &Answer) -> ExecuteError {
    let mut message = answer.body["message"].as_str().map_or_else(
        || format!("Request failed with status code {}", answer.status.as_u16()),
        str::to_owned,
    );
    if let Some(errors) = answer.body.get("errors").filter(|it| !it.is_null()) {
        message.push_str(&format!(": {errors}"));
    }
    subaction::call_failed(Some(answer.status.as_u16()), &message)
}

impl ConnectorType for Opsgenie {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".opsgenie",
            name: "Opsgenie",
            minimum_license: License::Platinum,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        subaction::check_url_config(&config["apiUrl"], cx)
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let api_url = connector.config["apiUrl"].as_str().unwrap_or_default();
            let base = reqwest::Url::parse(api_url)
                .map_err(|error| ExecuteError::thrown(format!("URL Error: {error}")))?;
            let resolve = |path: &str| {
                base.join(path)
                    .map(|it| it.to_string())
                    .map_err(|error| ExecuteError::thrown(format!("URL Error: {error}")))
            };
            let sub_action = params["subAction"].as_str().unwrap_or_default();
            let sub_params = &params["subActionParams"];
            let (url, body) = match sub_action {
                "createAlert" => {
                    let mut body = subaction::validate(&self.create_alert, sub_params)?;
                    if let Some(alias) = body["alias"].as_str().map(sent_alias) {
                        body["alias"] = json!(alias);
                    }
                    (resolve("v2/alerts")?, body)
                }
                "closeAlert" => {
                    let mut body = subaction::validate(&self.close_alert, sub_params)?;
                    let alias = sent_alias(body["alias"].as_str().unwrap_or_default());
                    if let Some(fields) = body.as_object_mut() {
                        fields.remove("alias");
                    }
                    (
                        resolve(&format!("v2/alerts/{alias}/close?identifierType=alias"))?,
                        body,
                    )
                }
                other => return Err(subaction::not_registered(other, connector.id, self.info())),
            };
            let key = format!(
                "GenieKey {}",
                connector.secrets["apiKey"].as_str().unwrap_or_default()
            );
            let answer = subaction::request(
                cx,
                Method::POST,
                &url,
                &[("authorization", key.as_str())],
                Some(&body),
                |failure| failure.message.clone(),
            )
            .await?;
            if !answer.status.is_success() {
                return Err(failure(&answer));
            }
            check_answer(&answer.body)?;
            Ok(Some(answer.body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_aliases_are_hashed() {
        assert_eq!(sent_alias("short"), "short");
        let long = "a".repeat(513);
        let sent = sent_alias(&long);
        assert!(sent.starts_with("sha-") && sent.len() == 68, "{sent}");
        assert_eq!(sent_alias(&"a".repeat(512)), "a".repeat(512));
    }
}
