//! What Amazon Bedrock is sent and how its answers are read: request bodies in
//! Kibana's key order, the model's path segment, the signing region, and the
//! Claude-2-style result Kibana makes of a Messages API answer.

use serde_json::{Map, Value, json};

/// `max_tokens` when the caller gives none.
pub const DEFAULT_TOKEN_LIMIT: u64 = 8191;

/// The region Kibana signs for when neither config nor URL names one.
const DEFAULT_REGION: &str = "us-east-1";

/// `encodeURIComponent(decodeURIComponent(model))`: an id that is already encoded
/// is not encoded twice; ARNs become one path segment.
pub fn model_segment(model: &str) -> Result<String, String> {
    let decoded = decode_uri_component(model)?;
    Ok(crate::connector_types::js::encode_uri_component(&decoded))
}

/// JavaScript's `decodeURIComponent`: every `%XX` is decoded; a broken escape or
/// bytes that are not UTF-8 fail with `URI malformed`.
fn decode_uri_component(text: &str) -> Result<String, String> {
    let malformed = || "URI malformed".to_owned();
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3).ok_or_else(malformed)?;
            let byte = u8::from_str_radix(hex, 16).map_err(|_| malformed())?;
            decoded.push(byte);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| malformed())
}

/// The signing region: config's `region`, else the one in an
/// `https://<name>.<region>.amazonaws.com` URL, else `us-east-1`.
pub fn region(config: &Value) -> String {
    if let Some(region) = config["region"].as_str() {
        return region.to_owned();
    }
    region_in_url(config["apiUrl"].as_str().unwrap_or_default())
        .unwrap_or(DEFAULT_REGION)
        .to_owned()
}

/// Kibana's `/https:\/\/.*?\.([a-z\-0-9]+)\.amazonaws\.com/`, first match.
fn region_in_url(url: &str) -> Option<&str> {
    let is_region_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    for (start, _) in url.match_indices("https://") {
        let rest = &url[start + "https://".len()..];
        // `.*?` never crosses a line break; the lazy match tries each dot in turn.
        let line = rest.split('\n').next().unwrap_or_default();
        for (dot, _) in line.match_indices('.') {
            let after = &line[dot + 1..];
            let length = after.find(|c| !is_region_char(c)).unwrap_or(after.len());
            if length > 0 && after[length..].starts_with(".amazonaws.com") {
                return Some(&after[..length]);
            }
        }
    }
    None
}

/// The Anthropic Messages body of `invokeAI` (and `invokeStream`), as Kibana's
/// `formatBedrockBody` writes it.
pub fn messages_body(params: &Value) -> Value {
    let mut body = Map::new();
    body.insert("anthropic_version".into(), json!("bedrock-2023-05-31"));
    let (system, messages) = normalise_messages(params);
    if !system.is_empty() {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert(
        "max_tokens".into(),
        params
            .get("maxTokens")
            .cloned()
            .unwrap_or(json!(DEFAULT_TOKEN_LIMIT)),
    );
    copy(params, "stopSequences", &mut body, "stop_sequences");
    body.insert(
        "temperature".into(),
        params.get("temperature").cloned().unwrap_or(json!(0)),
    );
    copy(params, "tools", &mut body, "tools");
    copy(params, "toolChoice", &mut body, "tool_choice");
    Value::Object(body)
}

/// `system` messages join the system prompt; other roles become `user` or
/// `assistant`; consecutive texts of one role are merged (Bedrock refuses two
/// messages of a role in a row).
fn normalise_messages(params: &Value) -> (String, Vec<Value>) {
    let mut system = params["system"].as_str().unwrap_or_default().to_owned();
    let mut messages: Vec<Value> = Vec::new();
    for message in params["messages"].as_array().into_iter().flatten() {
        let role = message["role"].as_str().unwrap_or_default();
        let content = message.get("content");
        if role == "system" {
            if !system.is_empty() {
                system.push('\n');
            }
            system.push_str(
                &content.map_or_else(|| "undefined".to_owned(), crate::connector_types::js::text),
            );
            continue;
        }
        let bedrock_role = if matches!(role, "assistant" | "ai") {
            "assistant"
        } else {
            "user"
        };
        if let Some(raw) = message.get("rawContent") {
            messages.push(json!({ "role": bedrock_role, "content": raw }));
            continue;
        }
        let text = content.map_or_else(|| "undefined".to_owned(), crate::connector_types::js::text);
        // Kibana compares the merged message's role with the incoming *original*
        // role, so only `user`/`assistant` runs merge; the merge keeps that role.
        if let Some(last) = messages.last_mut()
            && last["role"] == role
            && let Some(previous) = last["content"].as_str()
        {
            *last = json!({ "content": format!("{previous}\n{text}"), "role": role });
            continue;
        }
        messages.push(json!({ "content": text, "role": bedrock_role }));
    }
    (system, messages)
}

/// `invokeAIRaw`'s body: the messages as given.
pub fn raw_body(params: &Value) -> Value {
    let mut body = Map::new();
    copy(params, "messages", &mut body, "messages");
    copy(params, "stopSequences", &mut body, "stop_sequences");
    copy(params, "system", &mut body, "system");
    copy(params, "temperature", &mut body, "temperature");
    body.insert(
        "max_tokens".into(),
        params
            .get("maxTokens")
            .cloned()
            .unwrap_or(json!(DEFAULT_TOKEN_LIMIT)),
    );
    copy(params, "tools", &mut body, "tools");
    copy(params, "toolChoice", &mut body, "tool_choice");
    copy(params, "anthropicVersion", &mut body, "anthropic_version");
    Value::Object(body)
}

/// The Converse API body; `toolConfig` only when tools or a choice are given.
pub fn converse_body(params: &Value, model_id: &str) -> Value {
    let mut body = Map::new();
    copy(params, "messages", &mut body, "messages");
    let mut inference = Map::new();
    copy(params, "temperature", &mut inference, "temperature");
    copy(params, "stopSequences", &mut inference, "stopSequences");
    copy(params, "maxTokens", &mut inference, "maxTokens");
    body.insert("inferenceConfig".into(), Value::Object(inference));
    if params.get("tools").is_some() || params.get("toolChoice").is_some() {
        let mut tool_config = Map::new();
        copy(params, "tools", &mut tool_config, "tools");
        copy(params, "toolChoice", &mut tool_config, "toolChoice");
        body.insert("toolConfig".into(), Value::Object(tool_config));
    }
    copy(params, "system", &mut body, "system");
    body.insert("modelId".into(), json!(model_id));
    Value::Object(body)
}

fn copy(from: &Value, key: &str, to: &mut Map<String, Value>, as_key: &str) {
    if let Some(value) = from.get(key) {
        to.insert(as_key.to_owned(), value.clone());
    }
}

/// `JSON.stringify`: numbers as JavaScript writes them (`1`, not `1.0`).
pub fn js_json(value: &Value) -> String {
    js_numbers(value).to_string()
}

fn js_numbers(value: &Value) -> Value {
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(float)
                if number.is_f64()
                    && float.fract() == 0.0
                    && float.abs() < 9_007_199_254_740_992.0 =>
            {
                {
                    #[allow(clippy::cast_possible_truncation)] // Whole and within 2^53.
                    let whole = float as i64;
                    json!(whole)
                }
            }
            _ => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(js_numbers).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), js_numbers(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Kibana's `parseContent`: one text block's text, or each block's text after a
/// line break when there are several, else `""`.
pub fn completion(content: &[Value]) -> String {
    fn text(block: &Value) -> Option<&str> {
        block["text"].as_str().filter(|text| !text.is_empty())
    }
    match content {
        [only] if only["type"] == "text" => text(only).unwrap_or_default().to_owned(),
        [_, _, ..] => content
            .iter()
            .filter_map(text)
            .fold(String::new(), |acc, text| format!("{acc}\n{text}")),
        _ => String::new(),
    }
}

/// Whether a `run` body uses Claude 2's text-completion arguments (`prompt`).
pub fn uses_prompt(body: &Value) -> bool {
    body.get("prompt").is_some_and(|prompt| !prompt.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_become_one_encoded_segment() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc";
        let encoded =
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc";
        assert_eq!(model_segment(arn).unwrap(), encoded);
        assert_eq!(model_segment(encoded).unwrap(), encoded);
        assert_eq!(
            model_segment("us.anthropic.claude-v2:1 (é)").unwrap(),
            "us.anthropic.claude-v2%3A1%20(%C3%A9)"
        );
        assert_eq!(model_segment("a%2").unwrap_err(), "URI malformed");
        assert_eq!(model_segment("%FF").unwrap_err(), "URI malformed");
    }

    #[test]
    fn the_region_comes_from_config_then_url_then_default() {
        let region_of = |config: Value| region(&config);
        assert_eq!(
            region_of(
                json!({ "apiUrl": "https://bedrock-runtime.eu-west-3.amazonaws.com", "region": "ap-south-1" })
            ),
            "ap-south-1"
        );
        assert_eq!(
            region_of(json!({ "apiUrl": "https://bedrock-runtime.eu-west-3.amazonaws.com/x" })),
            "eu-west-3"
        );
        assert_eq!(
            region_of(json!({ "apiUrl": "https://a.b.us-west-2.amazonaws.com" })),
            "us-west-2"
        );
        assert_eq!(
            region_of(json!({ "apiUrl": "http://bedrock-runtime.eu-west-3.amazonaws.com" })),
            "us-east-1"
        );
        assert_eq!(
            region_of(json!({ "apiUrl": "https://bedrock.example.com" })),
            "us-east-1"
        );
    }

    #[test]
    fn messages_are_normalised_as_kibana_does() {
        let params = json!({
            "system": "Be brief.",
            "messages": [
                { "role": "system", "content": "Use English." },
                { "role": "user", "content": "a" },
                { "role": "user", "content": "b" },
                { "role": "ai", "content": "c" },
                { "role": "ai", "content": "d" },
                { "role": "human", "content": "e" },
                { "role": "assistant", "rawContent": [{ "type": "text", "text": "f" }] },
            ],
            "temperature": 0.5,
            "stopSequences": ["\n\nHuman:"],
        });
        assert_eq!(
            js_json(&messages_body(&params)),
            json!({
                "anthropic_version": "bedrock-2023-05-31",
                "system": "Be brief.\nUse English.",
                "messages": [
                    { "content": "a\nb", "role": "user" },
                    { "content": "c", "role": "assistant" },
                    { "content": "d", "role": "assistant" },
                    { "content": "e", "role": "user" },
                    { "role": "assistant", "content": [{ "type": "text", "text": "f" }] },
                ],
                "max_tokens": 8191,
                "stop_sequences": ["\n\nHuman:"],
                "temperature": 0.5,
            })
            .to_string()
        );
    }

    #[test]
    fn converse_bodies_have_tool_config_only_with_tools() {
        let params = json!({ "messages": [], "maxTokens": 10.0 });
        assert_eq!(
            js_json(&converse_body(&params, "m")),
            r#"{"messages":[],"inferenceConfig":{"maxTokens":10},"modelId":"m"}"#
        );
        let params = json!({ "messages": [], "toolChoice": { "auto": {} } });
        assert_eq!(
            js_json(&converse_body(&params, "m")),
            r#"{"messages":[],"inferenceConfig":{},"toolConfig":{"toolChoice":{"auto":{}}},"modelId":"m"}"#
        );
    }

    #[test]
    fn completions_join_text_blocks() {
        assert_eq!(completion(&[json!({ "type": "text", "text": "hi" })]), "hi");
        assert_eq!(
            completion(&[
                json!({ "type": "text", "text": "a" }),
                json!({ "type": "tool_use", "id": "t" }),
                json!({ "type": "text", "text": "b" }),
            ]),
            "\na\nb"
        );
        assert_eq!(completion(&[json!({ "type": "tool_use" })]), "");
        assert_eq!(completion(&[]), "");
    }
}
