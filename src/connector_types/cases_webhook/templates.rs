//! What `.cases-webhook` sends and reads, as Kibana computes it: Mustache views of a
//! case (values JSON-encoded before rendering), rendered URLs checked and normalised,
//! rendered bodies checked as JSON, and answers checked and read with lodash-style
//! paths.

use reqwest::{Method, header::CONTENT_TYPE};
use serde_json::{Value, json};

use crate::{
    connector_types::{
        ExecutionContext,
        js::{self, encode_uri_component},
        outbound::Answer,
    },
    mustache::{self, Escape},
};

/// Renders like mustache.js's defaults, as Kibana does here: `{{x}}` is HTML-escaped,
/// `{{{x}}}` is inserted as it is. A broken template renders to Kibana's error text,
/// which then fails the URL or JSON check.
pub fn render(template: &str, view: &Value) -> String {
    mustache::render(template, view, Escape::Html)
}

/// The `case` view of a create or update body: every value JSON-encoded, so
/// `{{{case.title}}}` inserts a JSON string and `{{{case.tags}}}` a JSON array.
pub fn case_view(incident: &Value) -> Value {
    let text = |key: &str| json_text(incident[key].as_str().map_or(json!(""), |it| json!(it)));
    json!({
        "title": json_text(incident["title"].clone()),
        "description": text("description"),
        "id": text("id"),
        "severity": text("severity"),
        "status": text("status"),
        "tags": json_text(match &incident["tags"] {
            Value::Null => json!([]),
            tags => tags.clone(),
        }),
    })
}

fn json_text(value: Value) -> Value {
    Value::String(value.to_string())
}

/// `external.system.id` as a URL part (`encodeURIComponent`).
pub fn url_view(external_id: &str) -> Value {
    json!({ "external": { "system": { "id": encode_uri_component(external_id) } } })
}

/// The view URL's variables: the id and the title, both as URL parts.
pub fn view_url_view(external_id: &str, title: &str) -> Value {
    json!({ "external": { "system": {
        "id": encode_uri_component(external_id),
        "title": encode_uri_component(title),
    } } })
}

/// A body's view: `case` (JSON-encoded values) and `external.system.id` as a JSON
/// string.
pub fn body_view(case: Option<Value>, external_id: &str) -> Value {
    let mut view = json!({ "external": { "system": { "id": json!(external_id).to_string() } } });
    if let Some(case) = case {
        view["case"] = case;
    }
    view
}

/// Kibana's check of a rendered URL (it parses, has a host, is http(s), is an
/// allowed host), then its normalisation.
///
/// # Errors
/// `Invalid <what>: Error: <reason>`.
pub fn checked_url(cx: &ExecutionContext, url: &str, what: &str) -> Result<String, String> {
    let invalid = |reason: &str| format!("Invalid {what}: Error: {reason}");
    let parsed = reqwest::Url::parse(url).map_err(|_| invalid("Invalid URL"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("URL must contain hostname"));
    }
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("Invalid protocol"));
    }
    cx.http
        .settings()
        .allowed_hosts
        .check_url(url)
        .map_err(|message| invalid(&format!("error configuring connector action: {message}")))?;
    Ok(normalise_url(url))
}

/// One trailing `/` removed, then every run of `/` after a character other than `:`
/// collapsed (Kibana's regular expression `([^:]/)/+`, which also reaches into the
/// query string).
pub fn normalise_url(url: &str) -> String {
    let url = url.strip_suffix('/').unwrap_or(url);
    let chars: Vec<char> = url.chars().collect();
    let mut normalised = String::with_capacity(url.len());
    let mut index = 0;
    while index < chars.len() {
        let current = chars[index];
        normalised.push(current);
        let doubled = chars.get(index + 1) == Some(&'/') && chars.get(index + 2) == Some(&'/');
        if current != ':' && doubled {
            normalised.push('/');
            index += 2;
            while chars.get(index) == Some(&'/') {
                index += 1;
            }
        } else {
            index += 1;
        }
    }
    normalised
}

/// A rendered body must be JSON; it is sent as rendered.
///
/// # Errors
/// `JSON Error: <what> must be valid JSON`.
pub fn check_json(body: &str, what: &str) -> Result<(), String> {
    serde_json::from_str::<Value>(body)
        .map(|_| ())
        .map_err(|_| format!("JSON Error: {what} must be valid JSON"))
}

/// Kibana's `throwDescriptiveErrorIfResponseIsNotValid`: an empty 204 is fine when
/// nothing is needed from it; otherwise the answer must be JSON and have a value at
/// every path in `required` (`null` counts).
///
/// # Errors
/// Kibana's message.
pub fn check_answer(
    answer: &Answer,
    method: &Method,
    url: &str,
    required: &[&str],
) -> Result<(), String> {
    if answer.status.as_u16() == 204 && is_empty(&answer.body) && required.is_empty() {
        return Ok(());
    }
    let method = method.as_str().to_ascii_lowercase();
    let supported = "Supported content types: application/json";
    let Some(content_type) = answer.headers.get(CONTENT_TYPE) else {
        return Err(format!(
            "Missing content type header in {method} {url}. {supported}"
        ));
    };
    let content_type = String::from_utf8_lossy(content_type.as_bytes());
    if !content_type.contains("application/json") {
        return Err(format!(
            "Unsupported content type: {content_type} in {method} {url}. {supported}"
        ));
    }
    if answer.body.as_str().is_some_and(|it| !it.is_empty()) {
        return Err("Response is not a valid JSON".to_owned());
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|path| lodash_get(&answer.body, path).is_none())
        .collect();
    match missing.as_slice() {
        [] => Ok(()),
        [path] => Err(format!("Response is missing the expected field: {path}")),
        paths => Err(format!(
            "Response is missing the expected fields: {}",
            paths.join(", ")
        )),
    }
}

/// lodash's `isEmpty` for a parsed answer: no keys, no elements, no text, or a
/// scalar.
fn is_empty(body: &Value) -> bool {
    match body {
        Value::Object(fields) => fields.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::String(text) => text.is_empty(),
        _ => true,
    }
}

/// The value at a response key, as text: lodash `get` then a JavaScript template
/// literal's rendering.
pub fn text_at(body: &Value, path: &str) -> String {
    lodash_get(body, path).map(js::text).unwrap_or_default()
}

/// lodash's `get`: a key the object has as it is written, else a path of `.`
/// separated names and `[index]` or `["name"]` brackets.
pub fn lodash_get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(found) = value.as_object().and_then(|fields| fields.get(path)) {
        return Some(found);
    }
    path_segments(path)
        .iter()
        .try_fold(value, |current, segment| match current {
            Value::Object(fields) => fields.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// lodash's `stringToPath`, for the forms response keys take: `a.b`, `a[0]`,
/// `a["b.c"]`, `a['b']`.
fn path_segments(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    if path.starts_with('.') {
        segments.push(String::new());
    }
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
            }
            '[' => {
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
                let quote = chars.next_if(|it| *it == '"' || *it == '\'');
                let mut inside = String::new();
                while let Some(c) = chars.next() {
                    match (quote, c) {
                        (Some(quote), c) if c == quote && chars.peek() == Some(&']') => {
                            chars.next();
                            break;
                        }
                        (Some(_), '\\') => inside.extend(chars.next()),
                        (None, ']') => break,
                        (_, c) => inside.push(c),
                    }
                }
                segments.push(inside);
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_values_are_json_before_rendering() {
        let incident = json!({ "title": "Say \"hi\"", "description": null, "id": "c1",
                               "severity": "low", "status": null, "tags": ["a", "b"] });
        let view = json!({ "case": case_view(&incident) });
        assert_eq!(
            render(
                r#"{"t":{{{case.title}}},"d":{{{case.description}}},"tags":{{{case.tags}}}}"#,
                &view
            ),
            r#"{"t":"Say \"hi\"","d":"","tags":["a","b"]}"#
        );
        // Double braces escape HTML, which breaks the JSON.
        assert_eq!(
            render("{{case.title}}", &view),
            "&quot;Say \\&quot;hi\\&quot;&quot;"
        );
        let no_tags = json!({ "title": "t", "tags": null });
        assert_eq!(case_view(&no_tags)["tags"], "[]");
    }

    #[test]
    fn ids_are_url_parts_in_urls_and_json_in_bodies() {
        assert_eq!(
            encode_uri_component("a b/ü?&=!'()*~"),
            "a%20b%2F%C3%BC%3F%26%3D!'()*~"
        );
        assert_eq!(
            render("/issue/{{{external.system.id}}}", &url_view("A/1")),
            "/issue/A%2F1"
        );
        assert_eq!(
            render(
                r#"{"id":{{{external.system.id}}}}"#,
                &body_view(None, "A\"1")
            ),
            r#"{"id":"A\"1"}"#
        );
    }

    #[test]
    fn broken_templates_render_to_kibanas_error() {
        assert_eq!(
            render("{{{case.title}", &json!({})),
            "error rendering mustache template \"{{{case.title}\": Unclosed tag at 14"
        );
    }

    #[test]
    fn urls_are_normalised_like_kibana() {
        assert_eq!(
            normalise_url("http://a.example//b///c/?q=x//y/"),
            "http://a.example/b/c/?q=x/y"
        );
        assert_eq!(normalise_url("http:///x"), "http://x");
    }

    #[test]
    fn response_keys_are_lodash_paths() {
        let body = json!({ "a": { "b": [{ "c": 7 }] }, "x.y": "dotted", "n": null });
        assert_eq!(text_at(&body, "a.b[0].c"), "7");
        assert_eq!(text_at(&body, "a[\"b\"][0]['c']"), "7");
        assert_eq!(text_at(&body, "x.y"), "dotted");
        assert_eq!(text_at(&body, "n"), "null");
        assert_eq!(text_at(&body, "a"), "[object Object]");
        assert_eq!(lodash_get(&body, "a.b[1].c"), None);
    }
}
