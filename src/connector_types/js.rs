//! The JavaScript conversions Kibana's connectors lean on without saying so: a value in
//! a template literal (`${value}`), truthiness, `encodeURIComponent`. Vendors' ids,
//! dates and error texts pass through them, so their output is part of the wire.

use std::fmt::Write as _;

use serde_json::Value;

/// `String(value)`: `null` as `null`, objects as `[object Object]`, arrays as their
/// elements joined with `,` (`null` elements empty), numbers as JavaScript writes them.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => crate::mustache::js_number(number),
        Value::Object(_) => "[object Object]".to_owned(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                if item.is_null() {
                    String::new()
                } else {
                    text(item)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// [`text`] of a value that may be absent: `undefined` then.
pub fn template_text(value: Option<&Value>) -> String {
    value.map_or_else(|| "undefined".to_owned(), text)
}

/// Truthiness (`undefined` reads as `null`): `null`, `false`, `0`, `NaN` and `""` are false;
/// every object and array, even empty, is true.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|it| it != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` percent-encoded
/// as UTF-8.
pub fn encode_uri_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// `JSON.parse`'s message (Node.js 20) for what serde_json refused: the end of the
/// input, an unexpected token, or characters after the JSON.
pub fn json_parse_error(text: &str, error: &serde_json::Error) -> String {
    if error.is_eof() {
        return "Unexpected end of JSON input".to_owned();
    }
    // serde_json counts lines from 1 and columns in bytes from 1.
    let line_start: usize = text
        .split_inclusive('\n')
        .take(error.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let mut offset = (line_start + error.column().saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let Some(token) = text[offset..].chars().next() else {
        return "Unexpected end of JSON input".to_owned();
    };
    if error.to_string().starts_with("trailing characters") {
        let position = text[..offset].encode_utf16().count();
        return format!("Unexpected non-whitespace character after JSON at position {position}");
    }
    let position = text[..offset].chars().count();
    format!(
        "Unexpected token '{token}', {} is not valid JSON",
        source_context(text, position)
    )
}

/// How V8 quotes the text around a JSON syntax error: all of a short text, else ten
/// characters either side of the error, with `...` where it was cut.
fn source_context(text: &str, position: usize) -> String {
    const AROUND: usize = 10;
    let length = text.chars().count();
    if length <= AROUND * 2 + 1 {
        return format!("\"{text}\"");
    }
    let start = position.saturating_sub(AROUND);
    let end = (position + AROUND).min(length);
    let excerpt: String = text.chars().skip(start).take(end - start).collect();
    match (start == 0, end == length) {
        (true, _) => format!("\"{excerpt}\"..."),
        (false, true) => format!("...\"{excerpt}\""),
        (false, false) => format!("...\"{excerpt}\"..."),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_read_as_javascript_writes_them() {
        assert_eq!(text(&json!(12)), "12");
        assert_eq!(text(&json!(12.0)), "12");
        assert_eq!(text(&json!(1.5e3)), "1500");
        assert_eq!(text(&json!(1.5)), "1.5");
        assert_eq!(text(&json!(null)), "null");
        assert_eq!(text(&json!([1, null, "a"])), "1,,a");
        assert_eq!(text(&json!({ "a": 1 })), "[object Object]");
        assert_eq!(template_text(None), "undefined");
        assert!(truthy(&json!([])) && truthy(&json!({})));
        assert!(!truthy(&json!(0)) && !truthy(&json!("")) && !truthy(&json!(null)));
        assert_eq!(
            encode_uri_component("a b/ü?&=!'()*~"),
            "a%20b%2F%C3%BC%3F%26%3D!'()*~"
        );
    }

    #[test]
    fn json_failures_read_as_node_writes_them() {
        let failure =
            |text: &str| json_parse_error(text, &serde_json::from_str::<Value>(text).unwrap_err());
        assert_eq!(failure("{\"a\":"), "Unexpected end of JSON input");
        assert_eq!(
            failure("nope"),
            "Unexpected token 'o', \"nope\" is not valid JSON"
        );
        // Long texts are quoted around the error only, as V8 does.
        assert_eq!(
            failure(&format!("{{\"a\": {}x}}", "1".repeat(40))),
            "Unexpected token 'x', ...\"1111111111x}\" is not valid JSON"
        );
        assert_eq!(
            failure(&format!("x{}", " ".repeat(40))),
            "Unexpected token 'x', \"x         \"... is not valid JSON"
        );
        assert_eq!(
            failure("{} x"),
            "Unexpected non-whitespace character after JSON at position 3"
        );
        assert_eq!(
            failure("\"é\" x"),
            "Unexpected non-whitespace character after JSON at position 4"
        );
    }
}
