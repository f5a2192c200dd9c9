//! `.d3security`: sends an event to a D3 Security webhook (a sub-action connector).

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    ALERTING_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License,
    Schemas, TypeInfo, ValidationContext, subaction,
};
use crate::schema::{Schema, maybe, object, string};

pub struct D3Security {
    schemas: Schemas,
    run: Schema,
}

impl D3Security {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                // 8.x keeps `severity` and `eventType` in the config too.
                config: object([
                    ("url", string()),
                    ("severity", string().default("")),
                    ("eventType", string().default("")),
                ]),
                secrets: object([("token", string())]),
                params: subaction::params_schema(),
            },
            run: object([
                ("body", maybe(string())),
                ("severity", maybe(string())),
                ("eventType", maybe(string())),
            ]),
        }
    }
}

/// The event D3 expects: the body (parsed when it is JSON) under `rawData`, with
/// dotted keys beside it and `hits.hits` an object, as Kibana sends it.
fn event(params: &Value) -> Value {
    let body = params["body"].as_str().unwrap_or_default();
    let raw_data =
        serde_json::from_str::<Value>(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    json!({ "hits": { "hits": { "_source": {
        "rawData": raw_data,
        "event.type": params["eventType"].as_str().unwrap_or_default(),
        "kibana.alert.severity": params["severity"].as_str().unwrap_or_default(),
    } } } })
}

impl ConnectorType for D3Security {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".d3security",
            name: "D3 Security",
            minimum_license: License::Gold,
            supported_feature_ids: ALERTING_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        subaction::check_url_config(&config["url"], cx)
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let sub_action = params["subAction"].as_str().unwrap_or_default();
            if !matches!(sub_action, "run" | "test") {
                return Err(subaction::not_registered(
                    sub_action,
                    connector.id,
                    self.info(),
                ));
            }
            let sub_params = subaction::validate(&self.run, &params["subActionParams"])?;
            let url = connector.config["url"].as_str().unwrap_or_default();
            let token = connector.secrets["token"].as_str().unwrap_or_default();
            let body = Value::String(event(&sub_params).to_string());
            let answer = subaction::request(
                cx,
                Method::POST,
                url,
                &[("d3key", token)],
                Some(&body),
                |_| "Unknown API Error".to_owned(),
            )
            .await?;
            if !answer.status.is_success() {
                let message = match answer.status.as_u16() {
                    401 => "Unauthorized API Error".to_owned(),
                    status => format!("API Error: {status} - {}", answer.status_text()),
                };
                return Err(subaction::call_failed(
                    Some(answer.status.as_u16()),
                    &message,
                ));
            }
            if !answer.body["refid"].is_string() {
                return Err(subaction::response_invalid(&format!(
                    "[refid]: expected value of type [string] but got [{}]",
                    subaction::field_type(&answer.body, "refid")
                )));
            }
            Ok(Some(answer.body))
        })
    }
}
