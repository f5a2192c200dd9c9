//! `.index`: writes documents to an Elasticsearch index with the `_bulk` API.
//!
//! Kibana runs this against its own cluster; Switchboard against the cluster named by
//! the `elasticsearch.*` settings, handed to [`Index::new`].

use serde_json::{Value, json};

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext,
    License, Schemas, TypeInfo,
    outbound::{Outbound, TlsOverrides},
};
use crate::schema::{any, array, boolean, nullable, object, record, string};

/// Where the documents go and how to authenticate there.
#[derive(Clone, Default)]
pub struct Cluster {
    /// Base URLs, tried in order when one cannot be reached.
    pub hosts: Vec<reqwest::Url>,
    /// A ready `Authorization` header value (basic or `ApiKey`), if any.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field(
                "hosts",
                &self
                    .hosts
                    .iter()
                    .map(|host| {
                        format!(
                            "{}://{}",
                            host.scheme(),
                            host.host_str().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>(),
            )
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

pub struct Index {
    cluster: Cluster,
    client: Outbound,
    schemas: Schemas,
}

const ALERT_HISTORY_PREFIX: &str = "kibana-alert-history-";

impl Index {
    pub fn new(cluster: Cluster, client: Outbound) -> Self {
        Self {
            cluster,
            client,
            schemas: Schemas {
                config: object([
                    ("index", string()),
                    ("refresh", boolean().default(false)),
                    ("executionTimeField", nullable(string())),
                ]),
                secrets: object([]).default(json!({})),
                params: object([
                    ("documents", array(record(any()))),
                    (
                        "indexOverride",
                        nullable(string().check(|value| match value.as_str() {
                            Some(index) if !index.starts_with(ALERT_HISTORY_PREFIX) => {
                                Err(format!("index must start with \"{ALERT_HISTORY_PREFIX}\""))
                            }
                            _ => Ok(()),
                        })),
                    ),
                ]),
            },
        }
    }

    async fn bulk(&self, index: &str, refresh: bool, body: String) -> Result<Value, ExecuteError> {
        let indexing_error = |service_message: String| {
            ExecuteError::new("error indexing documents").with_service_message(service_message)
        };
        let mut last_error = String::from("No Living connections");
        for host in &self.cluster.hosts {
            let mut url = host.clone();
            url.path_segments_mut()
                .map_err(|()| indexing_error(format!("invalid Elasticsearch host {host}")))?
                .pop_if_empty()
                .extend([index, "_bulk"]);
            url.query_pairs_mut()
                .append_pair("refresh", if refresh { "true" } else { "false" });
            let mut request = self
                .client
                .request(reqwest::Method::POST, url.as_str())
                .header("content-type", "application/x-ndjson")
                .header("accept", "application/json")
                .body(body.clone());
            if let Some(authorization) = &self.cluster.authorization {
                let mut value = reqwest::header::HeaderValue::from_str(authorization)
                    .map_err(|_| indexing_error("invalid Elasticsearch credentials".to_owned()))?;
                value.set_sensitive(true);
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
            let response = match self.client.send(request, &TlsOverrides::default()).await {
                Ok(response) => response,
                // Only a refused node moves on to the next host.
                Err(failure) if failure.code == Some("ECONNREFUSED") => {
                    last_error = failure.message;
                    continue;
                }
                Err(failure) => return Err(indexing_error(failure.message)),
            };
            let status = response.status();
            let body = self
                .client
                .read_body(response)
                .await
                .map_err(|failure| indexing_error(failure.message))?;
            if !status.is_success() {
                return Err(indexing_error(response_error_message(&body)));
            }
            return Ok(body);
        }
        Err(indexing_error(last_error))
    }
}

impl ConnectorType for Index {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".index",
            name: "Index",
            minimum_license: License::Basic,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn execute<'a>(
        &'a self,
        _cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let config = connector.config;
            let index = params["indexOverride"]
                .as_str()
                .or_else(|| config["index"].as_str())
                .unwrap_or_default();
            // Without the caller's index privileges nothing is written, and the result
            // carries Elasticsearch's refusal as a failed bulk item would.
            connector.caller.may_write_index(index).map_err(|refusal| {
                ExecuteError::new("error indexing documents").with_service_message(refusal)
            })?;
            let refresh = config["refresh"].as_bool().unwrap_or(false);
            let time_field = config["executionTimeField"]
                .as_str()
                .map(str::trim)
                .filter(|it| !it.is_empty());
            let now = time_field.map(|_| crate::timestamp::iso(std::time::SystemTime::now()));

            let mut body = String::new();
            for document in params["documents"].as_array().into_iter().flatten() {
                let mut document = document.clone();
                if let (Some(field), Some(now), Some(fields)) =
                    (time_field, &now, document.as_object_mut())
                {
                    fields.insert(field.to_owned(), Value::String(now.clone()));
                }
                body.push_str(r#"{"index":{"op_type":"create"}}"#);
                body.push('\n');
                body.push_str(&document.to_string());
                body.push('\n');
            }

            let result = self.bulk(index, refresh, body).await?;
            if result["errors"].as_bool() == Some(true) {
                return Err(ExecuteError::new("error indexing documents")
                    .with_service_message(bulk_error_message(&result)));
            }
            Ok(Some(result))
        })
    }
}

/// Kibana's summary of a bulk answer with `errors: true`: every item's reason joined
/// with `;`, then the causes in parentheses.
fn bulk_error_message(result: &Value) -> String {
    let errors: Vec<&Value> = result["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_object()?.values().next())
        .map(|action| &action["error"])
        .collect();
    let reasons: Vec<&str> = errors
        .iter()
        .filter_map(|it| it["reason"].as_str())
        .collect();
    let causes: Vec<&str> = errors
        .iter()
        .filter_map(|it| it["caused_by"]["reason"].as_str())
        .collect();
    if reasons.is_empty() {
        return "Indexing error but no reason returned.".to_owned();
    }
    let mut message = reasons.join(";");
    if !causes.is_empty() {
        message.push_str(&format!(" ({})", causes.join(";")));
    }
    message
}

/// The message Elasticsearch's JavaScript client gives a failed request: the error
/// type and its root causes, or the body itself.
fn response_error_message(body: &Value) -> String {
    let error = &body["error"];
    if let Some(kind) = error["type"].as_str() {
        let mut message = kind.to_owned();
        if let Some(causes) = error["root_cause"].as_array() {
            message.push_str("\n\tRoot causes:");
            for cause in causes {
                message.push_str(&format!(
                    "\n\t\t{}: {}",
                    cause["type"].as_str().unwrap_or_default(),
                    cause["reason"].as_str().unwrap_or_default()
                ));
            }
        }
        return message;
    }
    match body {
        Value::Null => "Response Error".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_errors_join_reasons_and_causes() {
        let result = json!({
            "errors": true,
            "items": [
                { "create": { "status": 400, "error": { "type": "mapper_parsing_exception", "reason": "failed to parse", "caused_by": { "reason": "not a date" } } } },
                { "create": { "status": 201 } },
                { "create": { "status": 409, "error": { "type": "version_conflict_engine_exception", "reason": "exists" } } }
            ]
        });
        assert_eq!(
            bulk_error_message(&result),
            "failed to parse;exists (not a date)"
        );
    }

    #[test]
    fn bulk_errors_without_reasons_say_so() {
        let result = json!({ "errors": true, "items": [{ "create": { "status": 500 } }] });
        assert_eq!(
            bulk_error_message(&result),
            "Indexing error but no reason returned."
        );
    }
}
