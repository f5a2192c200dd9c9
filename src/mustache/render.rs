//! Rendering nodes against a context stack: lookups, sections, partials.

use std::{borrow::Cow, collections::HashMap, num::FpCategory, ops::Range};

use serde_json::Value;

use super::{
    AS_JSON, Escape, MAX_DEPTH, Node, STACK_EXHAUSTED, array_index, js_string, js_stringify, parse,
    push_escaped, utf16_len,
};

pub(super) struct Renderer<'p> {
    pub(super) partials: &'p HashMap<String, String>,
    pub(super) escape: Escape,
    pub(super) out: String,
}

impl Renderer<'_> {
    pub(super) fn render_nodes(
        &mut self,
        nodes: &[Node],
        range: Range<usize>,
        stack: &mut Vec<Cow<'_, Value>>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(STACK_EXHAUSTED.to_string());
        }
        let mut index = range.start;
        while index < range.end {
            let Some(node) = nodes.get(index) else {
                break;
            };
            index += 1;
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Variable { name, escaped } => {
                    if let Some(value) = lookup(stack, name) {
                        self.interpolate(&value, *escaped);
                    }
                }
                Node::Section {
                    name,
                    inverted,
                    end,
                } => {
                    let body = index..*end;
                    index = *end;
                    let value = lookup(stack, name);
                    if *inverted {
                        // mustache.js: JavaScript-falsy values and empty lists.
                        let empty_list = value
                            .as_deref()
                            .and_then(Value::as_array)
                            .is_some_and(Vec::is_empty);
                        if empty_list || !value.as_deref().is_some_and(is_truthy) {
                            self.render_nodes(nodes, body, stack, depth + 1)?;
                        }
                    } else {
                        self.section(nodes, body, value, stack, depth)?;
                    }
                }
                Node::Partial { name, indent } => self.partial(name, indent, stack, depth)?,
            }
        }
        Ok(())
    }

    /// Falsy values skip the section the JavaScript way: besides `false`, `null` and missing
    /// (all the spec requires), mustache.js also skips `0` and `""`. Lists render once per
    /// item; `true` renders once in the current context; anything else is pushed as context.
    fn section<'v>(
        &mut self,
        nodes: &[Node],
        body: Range<usize>,
        value: Option<Cow<'v, Value>>,
        stack: &mut Vec<Cow<'v, Value>>,
        depth: usize,
    ) -> Result<(), String> {
        let Some(value) = value.filter(|v| is_truthy(v)) else {
            return Ok(());
        };
        match value {
            Cow::Borrowed(Value::Array(items)) => {
                for item in items {
                    stack.push(Cow::Borrowed(item));
                    self.render_nodes(nodes, body.clone(), stack, depth + 1)?;
                    stack.pop();
                }
            }
            Cow::Owned(Value::Array(items)) => {
                for item in items {
                    stack.push(Cow::Owned(item));
                    self.render_nodes(nodes, body.clone(), stack, depth + 1)?;
                    stack.pop();
                }
            }
            Cow::Borrowed(Value::Bool(_)) | Cow::Owned(Value::Bool(_)) => {
                self.render_nodes(nodes, body, stack, depth + 1)?;
            }
            context => {
                stack.push(context);
                self.render_nodes(nodes, body, stack, depth + 1)?;
                stack.pop();
            }
        }
        Ok(())
    }

    /// Partials start with the default delimiters whatever the caller set (spec "Partial
    /// Inheritence"), and a standalone partial has its tag's indentation put before each of
    /// its lines before parsing, so interpolated multi-line values are not indented.
    fn partial(
        &mut self,
        name: &str,
        indent: &str,
        stack: &mut Vec<Cow<'_, Value>>,
        depth: usize,
    ) -> Result<(), String> {
        let partials = self.partials;
        let Some(partial) = partials.get(name) else {
            return Ok(());
        };
        let source = if indent.is_empty() {
            Cow::Borrowed(partial.as_str())
        } else {
            Cow::Owned(indent_lines(partial, indent))
        };
        let nodes = parse(&source)?;
        self.render_nodes(&nodes, 0..nodes.len(), stack, depth + 1)
    }

    fn interpolate(&mut self, value: &Value, escaped: bool) {
        if value.is_null() {
            return;
        }
        let text = js_string(value);
        // mustache.js hands numbers to the escape function only when it is not the default
        // one, and Kibana installs its escapes as the default: numbers are never escaped, so
        // `-1.5` stays as is even in Markdown.
        if escaped && !value.is_number() {
            push_escaped(&mut self.out, &text, self.escape);
        } else {
            self.out.push_str(&text);
        }
    }
}

pub(super) fn indent_lines(text: &str, indent: &str) -> String {
    let mut out = String::with_capacity(text.len() + indent.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            out.push_str(indent);
        }
        out.push_str(line);
    }
    out
}

/// Resolves a tag name against the context stack. The first part of a dotted name is looked up
/// from the innermost context outwards; the other parts only inside what it found, so a broken
/// chain is empty (spec "Dotted Names - Context Precedence"; mustache.js would retry the whole
/// chain in outer contexts). As in mustache.js only objects and arrays are searched for the
/// first part, while later parts also reach a string's `length` and characters.
pub(super) fn lookup<'v>(stack: &[Cow<'v, Value>], name: &str) -> Option<Cow<'v, Value>> {
    if name == "." {
        return stack.last().cloned();
    }
    let (first, rest) = match name.find('.') {
        Some(dot) if dot > 0 => (&name[..dot], Some(&name[dot + 1..])),
        _ => (name, None),
    };
    let mut value = stack.iter().rev().find_map(|context| match &**context {
        Value::Object(_) | Value::Array(_) => property(context, first),
        _ => None,
    })?;
    for part in rest.into_iter().flat_map(|rest| rest.split('.')) {
        value = property(&value, part)?;
    }
    Some(value)
}

pub(super) fn property<'v>(value: &Cow<'v, Value>, key: &str) -> Option<Cow<'v, Value>> {
    match value {
        Cow::Borrowed(value) => own_property(value, key),
        Cow::Owned(value) => own_property(value, key).map(|found| Cow::Owned(found.into_owned())),
    }
}

/// The JavaScript properties a template can reach on a JSON value, including Kibana's `asJSON`
/// and the `length` and indices of arrays and strings.
pub(super) fn own_property<'v>(value: &'v Value, key: &str) -> Option<Cow<'v, Value>> {
    match value {
        Value::Object(map) => match map.get(key) {
            Some(found) => Some(Cow::Borrowed(found)),
            None if key == AS_JSON => Some(Cow::Owned(Value::String(js_stringify(value)))),
            None => None,
        },
        Value::Array(items) => match key {
            "length" => Some(Cow::Owned(Value::from(items.len()))),
            AS_JSON => Some(Cow::Owned(Value::String(js_stringify(value)))),
            _ => {
                let index = usize::try_from(array_index(key)?).ok()?;
                items.get(index).map(Cow::Borrowed)
            }
        },
        Value::String(text) => match key {
            "length" => Some(Cow::Owned(Value::from(utf16_len(text)))),
            _ => {
                let index = usize::try_from(array_index(key)?).ok()?;
                let unit = text.encode_utf16().nth(index)?;
                Some(Cow::Owned(Value::String(String::from_utf16_lossy(&[unit]))))
            }
        },
        _ => None,
    }
}

/// JavaScript truthiness.
pub(super) fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number
            .as_f64()
            .is_some_and(|x| x.classify() != FpCategory::Zero),
        Value::String(text) => !text.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}
