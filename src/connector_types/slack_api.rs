//! `.slack_api`: Slack's Web API with a bot token: post a message or Block Kit
//! blocks to a channel, or check that a channel id exists.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    ALERTING_UPTIME_SIEM, BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext,
    License, Retry, Schemas, TypeInfo, ValidationContext,
};
use crate::schema::{Schema, array, literal, maybe, object, one_of, string};

/// Kibana calls Slack's public Web API; there is no setting for another one.
const SLACK_API: &str = "https://slack.com/api/";

pub struct SlackApi {
    schemas: Schemas,
}

fn channel_fields(text: Schema) -> Schema {
    object([
        ("channels", maybe(array(string()).max_size(1))),
        ("channelIds", maybe(array(string()).max_size(1))),
        ("text", text),
    ])
}

/// `postBlockkit` text: JSON with a top-level `blocks`.
fn block_kit(value: &Value) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    match serde_json::from_str::<Value>(text) {
        Ok(parsed) if parsed.get("blocks").is_some() => Ok(()),
        Ok(_) => Err("block kit body must contain field \"blocks\"".to_owned()),
        Err(error) => Err(format!("block kit body is not valid JSON - {error}")),
    }
}

impl SlackApi {
    pub fn new() -> Self {
        let sub_action = |name: &'static str, params: Schema| {
            object([("subAction", literal(name)), ("subActionParams", params)])
        };
        Self {
            schemas: Schemas {
                config: object([(
                    "allowedChannels",
                    maybe(
                        array(object([
                            ("id", string().min_length(1)),
                            ("name", string().min_length(1)),
                        ]))
                        .max_size(25),
                    ),
                )]),
                secrets: object([("token", string().min_length(1))]),
                params: one_of([
                    sub_action("validChannelId", object([("channelId", maybe(string()))])),
                    sub_action("postMessage", channel_fields(string().min_length(1))),
                    sub_action("postBlockkit", channel_fields(string().check(block_kit))),
                ]),
            },
        }
    }
}

/// Kibana's failure without an HTTP answer: a generic message, the cause beside it.
fn not_posted(service_message: impl Into<String>) -> ExecuteError {
    ExecuteError::new("error posting slack message").with_service_message(service_message)
}

/// The channel to post to: `channelIds` (each allowed, when a list is configured),
/// else the deprecated `channels`.
fn channel(config: &Value, params: &Value) -> Result<String, ExecuteError> {
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|it| it.as_str().map(str::to_owned))
            .collect()
    };
    let ids: Vec<String> = strings(&params["channelIds"])
        .into_iter()
        .filter(|it| !it.is_empty())
        .collect();
    let allowed: Vec<String> = config["allowedChannels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|it| it["id"].as_str().map(str::to_owned))
        .collect();
    if !ids.is_empty() && !allowed.is_empty() && ids.iter().any(|id| !allowed.contains(id)) {
        return Err(not_posted(format!(
            "One of channel ids \"{}\" is not included in the allowed channels list \"{}\"",
            ids.join(","),
            allowed.join(",")
        )));
    }
    ids.into_iter()
        .next()
        .or_else(|| {
            strings(&params["channels"])
                .into_iter()
                .find(|it| !it.is_empty())
        })
        // The stray quote is Kibana's.
        .ok_or_else(|| not_posted("The channel is empty\""))
}

impl ConnectorType for SlackApi {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".slack_api",
            name: "Slack API",
            minimum_license: License::Gold,
            supported_feature_ids: ALERTING_UPTIME_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_secrets(&self, _secrets: &Value, cx: &ValidationContext) -> Result<(), String> {
        cx.allowed_hosts
            .check_url(SLACK_API)
            .map_err(|message| format!("error configuring slack action: {message}"))
    }

    fn result_connector_id<'a>(&self, _connector_id: &'a str) -> &'a str {
        ".slack_api"
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let token = connector.secrets["token"].as_str().unwrap_or_default();
            let sub_params = &params["subActionParams"];
            let request = match params["subAction"].as_str().unwrap_or_default() {
                "validChannelId" => {
                    let id = sub_params["channelId"].as_str().unwrap_or_default();
                    if id.is_empty() {
                        return Err(not_posted("The channel id is empty"));
                    }
                    cx.http.request(
                        Method::GET,
                        &format!("{SLACK_API}conversations.info?channel={id}"),
                    )
                }
                sub_action => {
                    let channel = channel(connector.config, sub_params)?;
                    let text = sub_params["text"].as_str().unwrap_or_default();
                    let body = if sub_action == "postBlockkit" {
                        let blocks: Value = serde_json::from_str(text).unwrap_or_default();
                        json!({ "channel": channel, "blocks": blocks["blocks"] })
                    } else {
                        json!({ "channel": channel, "text": text })
                    };
                    cx.http
                        .request(Method::POST, &format!("{SLACK_API}chat.postMessage"))
                        .body(body.to_string())
                }
            };
            let request = request
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json; charset=UTF-8");
            let answer = cx
                .http
                .call(request)
                .await
                .map_err(|failure| not_posted(failure.message))?;
            if answer.status.is_server_error() {
                return Err(
                    ExecuteError::new("error posting a slack message, retry later")
                        .with_retry(Retry::Yes),
                );
            }
            if answer.status == StatusCode::TOO_MANY_REQUESTS {
                return Err(ExecuteError::retry_later_or_at(
                    "error posting a slack message",
                    &answer.headers,
                )
                .with_service_message_when_dated("Request failed with status code 429"));
            }
            if !answer.status.is_success() {
                return Err(ExecuteError::new(format!(
                    "unexpected http response from slack: {} {}",
                    answer.status.as_u16(),
                    answer.status_text()
                )));
            }
            if answer.body.is_null() {
                return Err(ExecuteError::new("unexpected null response from slack"));
            }
            match answer.body["ok"].as_bool() {
                Some(true) => Ok(Some(answer.body)),
                Some(false) => Err(not_posted(
                    answer.body["error"].as_str().unwrap_or_default().to_owned(),
                )),
                None => Err(ExecuteError::new("error posting slack message")),
            }
        })
    }
}
