//! Mustache templates rendered the way Kibana's actions plugin renders them.
//!
//! The engine implements the core Mustache spec (interpolation, sections, inverted sections,
//! comments, partials, set delimiters and the standalone-line rules) and, where the spec is
//! silent, behaves like mustache.js, the library Kibana uses. On top of that come Kibana's own
//! rules (`mustache_renderer.ts`): objects interpolate as their JSON text, arrays as their
//! elements joined with `,`, `asJSON` gives the JSON text of an array or object, the escaping
//! depends on where the text goes (see [`Escape`]), and [`render`] turns a broken template into
//! an error message instead of failing.

mod escape;
mod javascript;
mod parse;
mod render;

use std::{borrow::Cow, collections::HashMap};

use serde_json::{Map, Value};

pub use self::javascript::js_number;
#[allow(clippy::wildcard_imports)]
use self::{escape::*, javascript::*, parse::*, render::*};

/// How values are escaped when inserted with `{{ }}` (triple mustaches and `{{& }}` never escape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// mustache.js's default: `&`, `<`, `>`, `"`, `'`, `/`, backtick and `=` become entities.
    Html,
    /// The value's text as is (Kibana uses this when rendering into JSON objects).
    None,
    /// The inside of a JSON string literal: the JSON-encoded text without the outer quotes.
    Json,
    /// A backslash before every character Markdown could interpret.
    Markdown,
    /// Text with `_` or `*` that is not a URL is wrapped in backticks; anything else has `&`,
    /// `<` and `>` entity-escaped. Backticks become `'` either way.
    Slack,
}

/// The property Kibana adds to arrays for their JSON text; offered on objects too, where an own
/// key of that name still wins.
const AS_JSON: &str = "asJSON";

/// How deep sections and partials may nest while rendering. mustache.js recurses until the
/// JavaScript stack overflows; a native stack overflow would abort the whole process, so the
/// depth is capped and the JavaScript error text kept.
const MAX_DEPTH: usize = 256;
const STACK_EXHAUSTED: &str = "Maximum call stack size exceeded";

/// The characters Kibana's Markdown escape prefixes with a backslash.
const MARKDOWN_SPECIAL: &str = "\\|`*_{}[]()#+-.!";

/// Renders `template` against `view` (a JSON value) with the given escaping.
/// Partials are looked up in `partials` (name -> template); a missing partial renders as empty.
/// Errors (unclosed tags/sections, mismatched section names, bad delimiter tag) return Err(message).
pub fn render_with_partials(
    template: &str,
    view: &Value,
    partials: &HashMap<String, String>,
    escape: Escape,
) -> Result<String, String> {
    let nodes = parse(template)?;
    let mut renderer = Renderer {
        partials,
        escape,
        out: String::with_capacity(template.len()),
    };
    let mut stack = vec![Cow::Borrowed(view)];
    renderer.render_nodes(&nodes, 0..nodes.len(), &mut stack, 0)?;
    Ok(renderer.out)
}

/// `render_with_partials` with no partials; on a broken template returns Kibana's text
/// `error rendering mustache template "<template>": <message>` as the rendered string (never fails).
///
/// Like Kibana (`convertDotVariables`), a key containing dots is also made reachable as a nested
/// path first, so `{"a.b": 1}` renders `{{a.b}}` as `1`. `render_with_partials` keeps the spec's
/// behaviour, where dotted names never match such keys.
pub fn render(template: &str, view: &Value, escape: Escape) -> String {
    let expanded = has_dotted_key(view).then(|| {
        let mut expanded = view.clone();
        expand_dotted_keys(&mut expanded);
        expanded
    });
    let view = expanded.as_ref().unwrap_or(view);
    render_with_partials(template, view, &HashMap::new(), escape).unwrap_or_else(|message| {
        format!("error rendering mustache template \"{template}\": {message}")
    })
}

fn has_dotted_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, item)| key.contains('.') || has_dotted_key(item)),
        Value::Array(items) => items.iter().any(has_dotted_key),
        _ => false,
    }
}

/// Kibana's `convertDotVariables`: for every key containing dots, `{"a.b": v}` is also
/// lodash-merged in as `{"a": {"b": v}}`, keeping the original key. Keys are visited in
/// JavaScript order and nested values afterwards, as in Kibana.
fn expand_dotted_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = js_key_order(map)
                .into_iter()
                .map(|(key, _)| key.clone())
                .collect();
            for key in keys {
                if key.contains('.')
                    && let Some(leaf) = map.get(&key).cloned()
                {
                    let mut nested = leaf;
                    for part in key.rsplit('.') {
                        let mut wrapper = Map::new();
                        wrapper.insert(part.to_string(), nested);
                        nested = Value::Object(wrapper);
                    }
                    if let Value::Object(nested) = nested {
                        merge_map(map, nested);
                    }
                }
                if let Some(child) = map.get_mut(&key) {
                    expand_dotted_keys(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(expand_dotted_keys),
        _ => {}
    }
}

fn merge_map(target: &mut Map<String, Value>, source: Map<String, Value>) {
    for (key, value) in source {
        match target.get_mut(&key) {
            Some(existing) => merge_value(existing, value),
            None => {
                target.insert(key, value);
            }
        }
    }
}

/// lodash `merge` for JSON values: objects merge key by key, arrays index by index, anything
/// else is replaced. (lodash would also set non-index keys on arrays as hidden properties; those
/// are dropped.)
fn merge_value(target: &mut Value, source: Value) {
    match (target, source) {
        (Value::Object(target), Value::Object(source)) => merge_map(target, source),
        (Value::Array(target), Value::Object(source)) => {
            for (key, value) in source {
                if let Some(index) = array_index(&key).and_then(|i| usize::try_from(i).ok())
                    && let Some(slot) = target.get_mut(index)
                {
                    merge_value(slot, value);
                }
            }
        }
        (Value::Array(target), Value::Array(source)) => {
            for (index, value) in source.into_iter().enumerate() {
                match target.get_mut(index) {
                    Some(slot) => merge_value(slot, value),
                    None => target.push(value),
                }
            }
        }
        (target, source) => *target = source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC_DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/mustache-spec"
    );
    const CORE_MODULES: [&str; 6] = [
        "comments",
        "delimiters",
        "interpolation",
        "inverted",
        "partials",
        "sections",
    ];

    #[test]
    fn official_spec_core_modules() {
        // The spec lives beside the repository, as CI checks it out.
        assert!(
            std::path::Path::new(SPEC_DIR).is_dir(),
            "{SPEC_DIR} is missing: check out ../shared beside the repository"
        );
        let mut failures = Vec::new();
        let mut count = 0;
        for module in CORE_MODULES {
            let path = format!("{SPEC_DIR}/{module}.json");
            let text = std::fs::read_to_string(path).expect("read spec file");
            let spec: Value = serde_json::from_str(&text).expect("parse spec file");
            let tests = spec["tests"].as_array().expect("spec has a tests array");
            for case in tests {
                count += 1;
                let name = case["name"].as_str().unwrap_or("?");
                let template = case["template"].as_str().unwrap_or_default();
                let expected = case["expected"].as_str().unwrap_or_default();
                let partials: HashMap<String, String> = case
                    .get("partials")
                    .and_then(Value::as_object)
                    .map(|map| {
                        map.iter()
                            .filter_map(|(name, text)| {
                                Some((name.clone(), text.as_str()?.to_string()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let got = render_with_partials(template, &case["data"], &partials, Escape::Html);
                if got.as_deref() != Ok(expected) {
                    failures.push(format!(
                        "{module} / {name}\n  expected: {expected:?}\n  got:      {got:?}"
                    ));
                }
            }
        }
        assert_eq!(count, 136, "the core modules' case count changed");
        assert!(
            failures.is_empty(),
            "{} of {count} spec cases failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn objects_render_as_json_in_javascript_key_order() {
        let view = json!({"a": {"b": 1, "c": "x", "2": true, "1": null}});
        assert_eq!(
            render("{{a}}", &view, Escape::None),
            r#"{"1":null,"2":true,"b":1,"c":"x"}"#
        );
        let view = json!({"a": {"b": "x"}});
        assert_eq!(
            render("{{a}}", &view, Escape::Html),
            "{&quot;b&quot;:&quot;x&quot;}"
        );
        assert_eq!(render("{{{a}}}", &view, Escape::Html), r#"{"b":"x"}"#);
    }

    #[test]
    fn arrays_join_elements_with_commas() {
        let view = json!({"a": [1, "two", {"x": true}, null, [3, 4.5]]});
        assert_eq!(
            render("{{a}}", &view, Escape::None),
            r#"1,two,{"x":true},,3,4.5"#
        );
    }

    #[test]
    fn as_json_gives_json_text() {
        let view = json!({"list": [1, "two"], "obj": {"x": 1}, "own": {"asJSON": "mine"}});
        assert_eq!(
            render(
                "{{list.asJSON}} {{obj.asJSON}} {{own.asJSON}}",
                &view,
                Escape::None
            ),
            r#"[1,"two"] {"x":1} mine"#
        );
        assert_eq!(
            render("{{list.asJSON}}", &view, Escape::Json),
            r#"[1,\"two\"]"#
        );
    }

    #[test]
    fn numbers_render_like_javascript() {
        let view = json!({
            "i": 1.0, "f": 1.5, "big": 1e21, "small": 1e-7, "tiny": 0.000001, "n": -2,
            "huge": 123456789012345680000.0
        });
        assert_eq!(
            render(
                "{{i}} {{f}} {{big}} {{small}} {{tiny}} {{n}} {{huge}}",
                &view,
                Escape::None
            ),
            "1 1.5 1e+21 1e-7 0.000001 -2 123456789012345680000"
        );
    }

    #[test]
    fn json_escape_has_no_outer_quotes() {
        let view = json!({"a": "say \"hi\"\\\n\tbye\u{1}"});
        assert_eq!(
            render("{{a}}", &view, Escape::Json),
            r#"say \"hi\"\\\n\tbye\u0001"#
        );
        assert_eq!(
            render("{{{a}}}", &view, Escape::Json),
            "say \"hi\"\\\n\tbye\u{1}"
        );
    }

    #[test]
    fn markdown_escape_prefixes_backslashes() {
        let view = json!({"s": "*b* _i_ [l](u) #1 +2 -3 4.5! a|b `c` {d} \\", "n": -1.5});
        assert_eq!(
            render("{{s}}", &view, Escape::Markdown),
            r"\*b\* \_i\_ \[l\]\(u\) \#1 \+2 \-3 4\.5\! a\|b \`c\` \{d\} \\"
        );
        // Numbers bypass the escape function in mustache.js.
        assert_eq!(render("{{n}}", &view, Escape::Markdown), "-1.5");
    }

    #[test]
    fn slack_escape() {
        let cases = [
            ("a_b", "`a_b`"),
            ("*bold* `code`", "`*bold* 'code'`"),
            (
                "https://example.com/a_b?x=1&y=<2>",
                "https://example.com/a_b?x=1&amp;y=&lt;2&gt;",
            ),
            ("x < y & `z`", "x &lt; y &amp; 'z'"),
            // `new URL("error: disk_full")` succeeds (scheme "error", opaque path).
            ("error: disk_full", "error: disk_full"),
            ("cpu_usage: 95", "`cpu_usage: 95`"),
            ("http://bad host/_", "`http://bad host/_`"),
        ];
        for (input, expected) in cases {
            let view = json!({ "v": input });
            assert_eq!(render("{{v}}", &view, Escape::Slack), expected, "{input}");
        }
    }

    #[test]
    fn url_detection() {
        for url in [
            "https://example.com/a_b",
            "http://user:pw@host:8080/x",
            "mailto:a_b@example.com",
            "foo:bar",
            "http://[::1]/",
            "http://10.0.0.1/",
            "file:///tmp/a_b",
        ] {
            assert!(parses_as_url(url), "{url}");
        }
        for text in [
            "a_b",
            "http://",
            "http://exa mple.com",
            "http://1.2.3.256",
            "http://host:99999",
            "http://user@",
            "1http://x",
        ] {
            assert!(!parses_as_url(text), "{text}");
        }
    }

    #[test]
    fn html_escape_matches_mustache_js() {
        let view = json!({"a": "<a href='/x'>`=&\"</a>"});
        assert_eq!(
            render("{{a}}", &view, Escape::Html),
            "&lt;a href&#x3D;&#39;&#x2F;x&#39;&gt;&#x60;&#x3D;&amp;&quot;&lt;&#x2F;a&gt;"
        );
    }

    #[test]
    fn broken_templates() {
        let view = json!({});
        assert_eq!(
            render("Hello {{#a}}x", &view, Escape::None),
            r#"error rendering mustache template "Hello {{#a}}x": Unclosed section "a" at 13"#
        );
        let none = HashMap::new();
        let err = |template: &str| {
            render_with_partials(template, &view, &none, Escape::None).expect_err(template)
        };
        assert_eq!(err("{{a"), "Unclosed tag at 3");
        assert_eq!(err("é{{a"), "Unclosed tag at 4");
        assert_eq!(err("{{{a}}"), "Unclosed tag at 6");
        assert_eq!(err("{{/a}}"), r#"Unopened section "a" at 0"#);
        assert_eq!(err("x{{#a}}{{/b}}"), r#"Unclosed section "a" at 7"#);
        assert_eq!(err("{{=a=}}"), "Invalid tags: a");
    }

    #[test]
    fn javascript_falsiness_in_sections() {
        let view = json!({"s": "", "z": 0, "o": {}, "l": []});
        assert_eq!(
            render(
                "{{#s}}S{{/s}}{{^s}}s{{/s}}{{#z}}Z{{/z}}{{^z}}z{{/z}}{{#o}}O{{/o}}{{^l}}l{{/l}}",
                &view,
                Escape::None
            ),
            "szOl"
        );
    }

    #[test]
    fn dotted_keys_expand_only_in_kibana_render() {
        let view = json!({"a.b": "x", "a": {"c": "y"}});
        assert_eq!(render("{{a.b}} {{a.c}}", &view, Escape::None), "x y");
        let plain = render_with_partials("{{a.b}} {{a.c}}", &view, &HashMap::new(), Escape::None);
        assert_eq!(plain.as_deref(), Ok(" y"));
    }

    #[test]
    fn lengths_and_indices() {
        let view = json!({"l": ["a", "b", "c"], "s": "héllo", "e": []});
        assert_eq!(
            render(
                "{{l.length}} {{l.1}} {{s.length}} {{#e.length}}x{{/e.length}}",
                &view,
                Escape::None
            ),
            "3 b 5 "
        );
    }

    #[test]
    fn runaway_partial_recursion_is_an_error() {
        let partials = HashMap::from([("p".to_string(), "{{>p}}".to_string())]);
        let result = render_with_partials("{{>p}}", &json!({}), &partials, Escape::None);
        assert_eq!(result, Err(STACK_EXHAUSTED.to_string()));
    }
}
