//! `.tines`: lists a Tines tenant's stories and webhooks, and sends events to a
//! webhook (a sub-action connector).

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License, SIEM, Schemas,
    TypeInfo, ValidationContext,
    outbound::{Answer, TransportFailure},
    subaction,
};
use crate::schema::{Schema, any, maybe, number, object, record, string};

/// Tines's largest page.
const PAGE_SIZE: u32 = 500;

pub struct Tines {
    schemas: Schemas,
    webhooks: Schema,
    run: Schema,
    stories_answer: Schema,
    agents_answer: Schema,
}

impl Tines {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([("url", string())]),
                secrets: object([("email", string()), ("token", string())]),
                params: subaction::params_schema(),
            },
            webhooks: object([("storyId", number())]),
            run: object([
                (
                    "webhook",
                    maybe(object([
                        ("id", number()),
                        ("name", string()),
                        ("storyId", number()),
                        ("path", string()),
                        ("secret", string()),
                    ])),
                ),
                ("webhookUrl", maybe(string())),
                ("body", string()),
            ]),
            stories_answer: record(any()).check(|body| {
                check_list(
                    body,
                    "stories",
                    &[
                        ("id", "number"),
                        ("name", "string"),
                        ("published", "boolean"),
                    ],
                )
            }),
            agents_answer: record(any()).check(|body| {
                check_list(
                    body,
                    "agents",
                    &[
                        ("id", "number"),
                        ("name", "string"),
                        ("type", "string"),
                        ("story_id", "number"),
                        ("options", "Object"),
                    ],
                )
            }),
        }
    }
}

/// A page of Tines's list answer: `meta.pages` and the items, each with the fields
/// given (and their config-schema type names).
fn check_list(body: &Value, key: &str, fields: &[(&str, &str)]) -> Result<(), String> {
    if !body["meta"]["pages"].is_number() {
        return Err(format!(
            "[meta.pages]: expected value of type [number] but got [{}]",
            subaction::field_type(&body["meta"], "pages")
        ));
    }
    let Some(items) = body[key].as_array() else {
        return Err(format!(
            "[{key}]: expected value of type [array] but got [{}]",
            subaction::field_type(body, key)
        ));
    };
    for (index, item) in items.iter().enumerate() {
        for (field, kind) in fields {
            let found = subaction::field_type(item, field);
            if found != *kind {
                let kind = if *kind == "Object" { "object" } else { kind };
                return Err(format!(
                    "[{key}.{index}.{field}]: expected value of type [{kind}] but got [{found}]"
                ));
            }
        }
    }
    Ok(())
}

/// Kibana's text for a failed Tines call.
fn failure(answer: &Answer) -> ExecuteError {
    subaction::call_failed(
        Some(answer.status.as_u16()),
        &format!("API Error: {}", answer.status_text()),
    )
}

/// Without an answer Kibana shows the axios error as a string.
fn no_answer(failure: &TransportFailure) -> String {
    format!("AxiosError: {}", failure.message)
}

impl ConnectorType for Tines {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".tines",
            name: "Tines",
            minimum_license: License::Gold,
            supported_feature_ids: SIEM,
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
            let base = connector.config["url"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches('/');
            let email = connector.secrets["email"].as_str().unwrap_or_default();
            let token = connector.secrets["token"].as_str().unwrap_or_default();
            let auth = [("x-user-email", email), ("x-user-token", token)];
            let sub_params = &params["subActionParams"];
            match params["subAction"].as_str().unwrap_or_default() {
                "stories" => {
                    let url = format!("{base}/api/v1/stories?per_page={PAGE_SIZE}");
                    let answer =
                        subaction::request(cx, Method::GET, &url, &auth, None, no_answer).await?;
                    if !answer.status.is_success() {
                        return Err(failure(&answer));
                    }
                    subaction::check_response(&self.stories_answer, &answer.body)?;
                    let stories: Vec<Value> = answer.body["stories"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|story| {
                            json!({ "id": story["id"], "name": story["name"], "published": story["published"] })
                        })
                        .collect();
                    Ok(Some(json!({
                        "stories": stories,
                        "incompleteResponse": answer.body["meta"]["pages"].as_f64().unwrap_or(0.0) > 1.0,
                    })))
                }
                "webhooks" => {
                    let sub_params = subaction::validate(&self.webhooks, sub_params)?;
                    let story_id = &sub_params["storyId"];
                    let url =
                        format!("{base}/api/v1/agents?story_id={story_id}&per_page={PAGE_SIZE}");
                    let answer =
                        subaction::request(cx, Method::GET, &url, &auth, None, no_answer).await?;
                    if !answer.status.is_success() {
                        return Err(failure(&answer));
                    }
                    subaction::check_response(&self.agents_answer, &answer.body)?;
                    let webhooks: Vec<Value> = answer.body["agents"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|agent| agent["type"] == "Agents::WebhookAgent")
                        .map(|agent| {
                            json!({
                                "id": agent["id"],
                                "name": agent["name"],
                                "storyId": agent["story_id"],
                                "path": agent["options"]["path"].as_str().unwrap_or_default(),
                                "secret": agent["options"]["secret"].as_str().unwrap_or_default(),
                            })
                        })
                        .collect();
                    Ok(Some(json!({
                        "webhooks": webhooks,
                        "incompleteResponse": answer.body["meta"]["pages"].as_f64().unwrap_or(0.0) > 1.0,
                    })))
                }
                "run" | "test" => {
                    let sub_params = subaction::validate(&self.run, sub_params)?;
                    // An empty `webhookUrl` counts as none, as in JavaScript.
                    let webhook_url = sub_params["webhookUrl"]
                        .as_str()
                        .filter(|it| !it.is_empty());
                    let url = match (webhook_url, &sub_params["webhook"]) {
                        (Some(url), _) => url.to_owned(),
                        (None, Value::Object(webhook)) => format!(
                            "{base}/webhook/{}/{}",
                            webhook["path"].as_str().unwrap_or_default(),
                            webhook["secret"].as_str().unwrap_or_default()
                        ),
                        _ => {
                            return Err(ExecuteError::thrown(
                                "Invalid subActionsParams: [webhook] or [webhookUrl] expected but got none",
                            ));
                        }
                    };
                    // The body is sent as the user wrote it.
                    let body =
                        Value::String(sub_params["body"].as_str().unwrap_or_default().to_owned());
                    let answer =
                        subaction::request(cx, Method::POST, &url, &[], Some(&body), no_answer)
                            .await?;
                    if !answer.status.is_success() {
                        return Err(failure(&answer));
                    }
                    if !answer.body.is_object() {
                        return Err(subaction::response_invalid(&format!(
                            "expected value of type [object] but got [{}]",
                            crate::schema::type_name(&answer.body)
                        )));
                    }
                    Ok(Some(answer.body))
                }
                other => Err(subaction::not_registered(other, connector.id, self.info())),
            }
        })
    }
}
