//! Values as JavaScript turns them into text: `String(value)`, `JSON.stringify`, numbers.

use std::{borrow::Cow, fmt::Write as _, num::FpCategory};

use serde_json::{Map, Number, Value};

/// JavaScript's `String(value)` after Kibana's augmentation: objects become their JSON text,
/// arrays join their elements (`null` as empty) with `,`.
pub(super) fn js_string(value: &Value) -> Cow<'_, str> {
    match value {
        Value::Null => Cow::Borrowed(""),
        Value::Bool(flag) => Cow::Borrowed(if *flag { "true" } else { "false" }),
        Value::Number(number) => Cow::Owned(js_number(number)),
        Value::String(text) => Cow::Borrowed(text.as_str()),
        Value::Array(items) => {
            Cow::Owned(items.iter().map(js_string).collect::<Vec<_>>().join(","))
        }
        Value::Object(_) => Cow::Owned(js_stringify(value)),
    }
}

/// `JSON.stringify`, including JavaScript's property order (integer-like keys first, ascending)
/// and number format.
pub(super) fn js_stringify(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

pub(super) fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&js_number(number)),
        Value::String(text) => write_json_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in js_key_order(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

pub(super) fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    push_json_escaped(out, text);
    out.push('"');
}

/// The escapes of `JSON.stringify` for a string, without the quotes.
pub(super) fn push_json_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// JavaScript's property order: array-index keys ascending, then the rest in insertion order.
pub(super) fn js_key_order(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut indexed = Vec::new();
    let mut named = Vec::new();
    for (key, value) in map {
        match array_index(key) {
            Some(index) => indexed.push((index, key, value)),
            None => named.push((key, value)),
        }
    }
    indexed.sort_by_key(|(index, _, _)| *index);
    indexed
        .into_iter()
        .map(|(_, key, value)| (key, value))
        .chain(named)
        .collect()
}

/// A canonical JavaScript array index ("0", "17"; not "01" or "-1").
pub(super) fn array_index(key: &str) -> Option<u32> {
    let canonical = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'));
    if !canonical {
        return None;
    }
    key.parse::<u32>().ok().filter(|index| *index < u32::MAX)
}

/// JavaScript's `Number.prototype.toString()`: `1.0` is `1`, `1e21` is `1e+21`. Integers beyond
/// 2^53 are shown as the double JavaScript would have parsed them into.
pub fn js_number(number: &Number) -> String {
    const MAX_SAFE: u64 = 1 << 53;
    if let Some(int) = number.as_i64()
        && int.unsigned_abs() <= MAX_SAFE
    {
        return int.to_string();
    }
    if let Some(int) = number.as_u64()
        && int <= MAX_SAFE
    {
        return int.to_string();
    }
    js_float(number.as_f64().unwrap_or_default())
}

pub(super) fn js_float(x: f64) -> String {
    match x.classify() {
        FpCategory::Nan => return "NaN".to_string(),
        FpCategory::Infinite if x < 0.0 => return "-Infinity".to_string(),
        FpCategory::Infinite => return "Infinity".to_string(),
        FpCategory::Zero => return "0".to_string(),
        FpCategory::Subnormal | FpCategory::Normal => {}
    }
    // `{:e}` yields the shortest digits that round-trip, as JavaScript does; only the layout
    // (ECMAScript Number::toString) differs.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i64;
    let n = exponent.parse::<i64>().unwrap_or(0) + 1;
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    if (k..=21).contains(&n) {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if (1..=21).contains(&n) {
        let (int, fraction) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(fraction);
    } else if (-5..=0).contains(&n) {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&e.abs().to_string());
    }
    out
}
