//! A small validation library with the semantics and the messages of Kibana's
//! `@kbn/config-schema`, which is what Kibana validates request bodies and connector
//! config, secrets and params with.
//!
//! Clients written for Kibana show or match these texts (`[index]: expected value of
//! type [string] but got [undefined]`), so we reproduce them rather than serde's own
//! ("missing field `index`"). A schema validates a JSON value and returns it with
//! defaults filled in; the checked value then deserialises into a type's structs.

use std::fmt;

use serde_json::{Map, Value, json};

/// A value that does not fit its schema. Displays as Kibana does: `[a.b]: message`,
/// or just the message when the failure is at the root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SchemaError {
    path: Vec<String>,
    message: String,
}

impl SchemaError {
    pub fn new(path: &[String], message: impl Into<String>) -> Self {
        Self {
            path: path.to_vec(),
            message: message.into(),
        }
    }

    /// An error with no path: the message is shown as it is.
    pub fn bare(message: impl Into<String>) -> Self {
        Self::new(&[], message)
    }

    /// Prefixes the path with a namespace, as Kibana's router does with `request body`.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.path.insert(0, namespace.to_owned());
        self
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "[{}]: {}", self.path.join("."), self.message)
        }
    }
}

/// A custom check run after the shape is accepted. Returns Kibana's bare message.
pub type Check = fn(&Value) -> Result<(), String>;

/// How a schema describes the values it accepts.
#[derive(Debug, Clone)]
enum Kind {
    Any,
    String {
        min_length: Option<usize>,
        max_length: Option<usize>,
    },
    Number,
    Boolean,
    Literal(Value),
    OneOf(Vec<Schema>),
    Object(Vec<(&'static str, Schema)>),
    Record(Box<Schema>),
    Array {
        items: Box<Schema>,
        max_size: Option<usize>,
    },
}

/// What an absent (`undefined`) value becomes.
#[derive(Debug, Clone)]
enum Absent {
    /// Absent is an error: `expected value of type [string] but got [undefined]`.
    Required,
    /// Absent stays absent (`schema.maybe`).
    Allowed,
    /// Absent takes this value (`defaultValue`).
    Default(Value),
}

/// One node of a schema. Build with the functions of this module:
/// `object([("url", string()), ("method", one_of([literal("post"), literal("put")]).default("post"))])`.
#[derive(Debug, Clone)]
pub struct Schema {
    kind: Kind,
    absent: Absent,
    check: Option<Check>,
}

pub fn any() -> Schema {
    Schema::of(Kind::Any)
}

pub fn string() -> Schema {
    Schema::of(Kind::String {
        min_length: None,
        max_length: None,
    })
}

pub fn number() -> Schema {
    Schema::of(Kind::Number)
}

pub fn boolean() -> Schema {
    Schema::of(Kind::Boolean)
}

pub fn literal(value: impl Into<Value>) -> Schema {
    Schema::of(Kind::Literal(value.into()))
}

pub fn one_of(alternatives: impl IntoIterator<Item = Schema>) -> Schema {
    Schema::of(Kind::OneOf(alternatives.into_iter().collect()))
}

/// A strict object: unknown keys are refused, keys are checked in declaration order.
pub fn object(fields: impl IntoIterator<Item = (&'static str, Schema)>) -> Schema {
    Schema::of(Kind::Object(fields.into_iter().collect()))
}

/// `recordOf(string, values)`: any keys, every value checked.
pub fn record(values: Schema) -> Schema {
    Schema::of(Kind::Record(Box::new(values)))
}

pub fn array(items: Schema) -> Schema {
    Schema::of(Kind::Array {
        items: Box::new(items),
        max_size: None,
    })
}

/// `schema.maybe(x)`: may be absent.
pub fn maybe(schema: Schema) -> Schema {
    Schema {
        absent: Absent::Allowed,
        ..schema
    }
}

/// `schema.nullable(x)`: `x` or `null`, and `null` when absent.
pub fn nullable(schema: Schema) -> Schema {
    one_of([schema, literal(Value::Null)]).default(Value::Null)
}

impl Schema {
    fn of(kind: Kind) -> Self {
        Self {
            kind,
            absent: Absent::Required,
            check: None,
        }
    }

    pub fn default(self, value: impl Into<Value>) -> Self {
        Self {
            absent: Absent::Default(value.into()),
            ..self
        }
    }

    pub fn min_length(mut self, limit: usize) -> Self {
        if let Kind::String { min_length, .. } = &mut self.kind {
            *min_length = Some(limit);
        }
        self
    }

    pub fn max_length(mut self, limit: usize) -> Self {
        if let Kind::String { max_length, .. } = &mut self.kind {
            *max_length = Some(limit);
        }
        self
    }

    pub fn max_size(mut self, limit: usize) -> Self {
        if let Kind::Array { max_size, .. } = &mut self.kind {
            *max_size = Some(limit);
        }
        self
    }

    /// Adds a check that runs once the shape is accepted.
    pub fn check(self, check: Check) -> Self {
        Self {
            check: Some(check),
            ..self
        }
    }

    /// The JSON Schema (2020-12, as OpenAPI 3.1 uses it) of what this schema accepts,
    /// for the OpenAPI document. Custom checks (`check`) cannot be expressed and are
    /// left out; numeric and JSON strings Kibana also converts are not advertised.
    pub fn to_json_schema(&self) -> Value {
        let mut described = match &self.kind {
            Kind::Any => json!({}),
            Kind::String {
                min_length,
                max_length,
            } => {
                let mut string = json!({ "type": "string" });
                if let Some(min) = min_length {
                    string["minLength"] = json!(min);
                }
                if let Some(max) = max_length {
                    string["maxLength"] = json!(max);
                }
                string
            }
            Kind::Number => json!({ "type": "number" }),
            Kind::Boolean => json!({ "type": "boolean" }),
            Kind::Literal(Value::Null) => json!({ "type": "null" }),
            Kind::Literal(value) => json!({ "const": value }),
            Kind::OneOf(alternatives) => json!({
                "anyOf": alternatives.iter().map(Schema::to_json_schema).collect::<Vec<_>>()
            }),
            Kind::Object(fields) => {
                let properties: serde_json::Map<String, Value> = fields
                    .iter()
                    .map(|(name, schema)| ((*name).to_owned(), schema.to_json_schema()))
                    .collect();
                let required: Vec<&str> = fields
                    .iter()
                    .filter(|(_, schema)| matches!(schema.absent, Absent::Required))
                    .map(|(name, _)| *name)
                    .collect();
                let mut object = json!({
                    "type": "object",
                    "properties": properties,
                    "additionalProperties": false,
                });
                if !required.is_empty() {
                    object["required"] = json!(required);
                }
                object
            }
            Kind::Record(values) => json!({
                "type": "object",
                "additionalProperties": values.to_json_schema(),
            }),
            Kind::Array { items, max_size } => {
                let mut array = json!({ "type": "array", "items": items.to_json_schema() });
                if let Some(max) = max_size {
                    array["maxItems"] = json!(max);
                }
                array
            }
        };
        if let Absent::Default(value) = &self.absent {
            described["default"] = value.clone();
        }
        described
    }

    /// Validates a present value; returns it with defaults filled in.
    pub fn validate(&self, value: &Value) -> Result<Value, SchemaError> {
        self.validate_at(Some(value), &mut Vec::new())
            .map(|it| it.unwrap_or(Value::Null))
    }

    fn validate_at(
        &self,
        value: Option<&Value>,
        path: &mut Vec<String>,
    ) -> Result<Option<Value>, SchemaError> {
        let empty_object;
        let value = match (value, &self.absent) {
            (Some(value), _) => value,
            (None, Absent::Allowed) => return Ok(None),
            (None, Absent::Default(default)) => return Ok(Some(default.clone())),
            // An absent object is checked as `{}`, so the error names its first required key.
            (None, Absent::Required) if matches!(self.kind, Kind::Object(_)) => {
                empty_object = Value::Object(Map::new());
                &empty_object
            }
            (None, Absent::Required) => return Err(self.missing(path)),
        };
        let checked = self.validate_kind(value, path)?;
        if let Some(check) = self.check {
            check(&checked).map_err(|message| SchemaError::new(path, message))?;
        }
        Ok(Some(checked))
    }

    fn missing(&self, path: &[String]) -> SchemaError {
        match &self.kind {
            Kind::Literal(expected) => SchemaError::new(
                path,
                format!("expected value to equal [{}]", literal_text(expected)),
            ),
            Kind::OneOf(_) => SchemaError::new(
                path,
                "expected at least one defined value but got [undefined]",
            ),
            kind => SchemaError::new(
                path,
                format!(
                    "expected value of type [{}] but got [undefined]",
                    kind_name(kind)
                ),
            ),
        }
    }

    fn validate_kind(&self, value: &Value, path: &mut Vec<String>) -> Result<Value, SchemaError> {
        match &self.kind {
            Kind::Any => Ok(value.clone()),
            Kind::String {
                min_length,
                max_length,
            } => {
                let Value::String(text) = value else {
                    return Err(type_error(path, "string", value));
                };
                // JavaScript counts UTF-16 code units; so do we.
                let length = text.encode_utf16().count();
                if let Some(limit) = min_length.filter(|limit| length < *limit) {
                    return Err(SchemaError::new(
                        path,
                        format!(
                            "value has length [{length}] but it must have a minimum length of [{limit}]."
                        ),
                    ));
                }
                if let Some(limit) = max_length.filter(|limit| length > *limit) {
                    return Err(SchemaError::new(
                        path,
                        format!(
                            "value has length [{length}] but it must have a maximum length of [{limit}]."
                        ),
                    ));
                }
                Ok(value.clone())
            }
            Kind::Number => match value {
                Value::Number(_) => Ok(value.clone()),
                // config-schema converts numeric strings, as Joi does.
                Value::String(text) => text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|it| it.is_finite() && !text.trim().is_empty())
                    .and_then(|it| number_value(it, text))
                    .ok_or_else(|| type_error(path, "number", value)),
                _ => Err(type_error(path, "number", value)),
            },
            Kind::Boolean => match value {
                Value::Bool(_) => Ok(value.clone()),
                // config-schema accepts the strings "true" and "false".
                Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
                Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
                _ => Err(type_error(path, "boolean", value)),
            },
            Kind::Literal(expected) => {
                if value == expected {
                    Ok(value.clone())
                } else {
                    Err(SchemaError::new(
                        path,
                        format!("expected value to equal [{}]", literal_text(expected)),
                    ))
                }
            }
            // A union of one reports that one's error as it is.
            Kind::OneOf(alternatives) if alternatives.len() == 1 => alternatives[0]
                .validate_at(Some(value), path)
                .map(|it| it.unwrap_or(Value::Null)),
            Kind::OneOf(alternatives) => {
                let mut failures = Vec::with_capacity(alternatives.len());
                for (index, alternative) in alternatives.iter().enumerate() {
                    path.push(index.to_string());
                    let outcome = alternative.validate_at(Some(value), path);
                    path.pop();
                    match outcome {
                        Ok(checked) => return Ok(checked.unwrap_or(Value::Null)),
                        Err(error) => failures.push(error),
                    }
                }
                Err(alternatives_error(path, &failures))
            }
            Kind::Object(fields) => {
                let parsed;
                let map = match value {
                    Value::Object(map) => map,
                    Value::String(text) => match serde_json::from_str(text) {
                        Ok(Value::Object(map)) => {
                            parsed = map;
                            &parsed
                        }
                        Ok(other) => return Err(object_type_error(path, &other)),
                        Err(_) => return Err(unparsable(path, "object")),
                    },
                    _ => return Err(object_type_error(path, value)),
                };
                let mut checked = Map::with_capacity(fields.len());
                for (key, schema) in fields {
                    path.push((*key).to_owned());
                    let outcome = schema.validate_at(map.get(*key), path);
                    path.pop();
                    if let Some(field) = outcome? {
                        checked.insert((*key).to_owned(), field);
                    }
                }
                if let Some(unknown) = map
                    .keys()
                    .find(|key| !fields.iter().any(|(name, _)| name == key))
                {
                    path.push(unknown.clone());
                    let error = SchemaError::new(path, "definition for this key is missing");
                    path.pop();
                    return Err(error);
                }
                Ok(Value::Object(checked))
            }
            Kind::Record(values) => {
                let parsed;
                let map = match value {
                    Value::Object(map) => map,
                    Value::String(text) => match serde_json::from_str(text) {
                        Ok(Value::Object(map)) => {
                            parsed = map;
                            &parsed
                        }
                        Ok(other) => return Err(type_error(path, "object", &other)),
                        Err(_) => return Err(unparsable(path, "record")),
                    },
                    _ => return Err(type_error(path, "object", value)),
                };
                let mut checked = Map::with_capacity(map.len());
                for (key, field) in map {
                    path.push(key.clone());
                    let outcome = values.validate_at(Some(field), path);
                    path.pop();
                    if let Some(field) = outcome? {
                        checked.insert(key.clone(), field);
                    }
                }
                Ok(Value::Object(checked))
            }
            Kind::Array { items, max_size } => {
                let parsed;
                let elements = match value {
                    Value::Array(elements) => elements,
                    Value::String(text) => match serde_json::from_str::<Value>(text) {
                        Ok(Value::Array(elements)) => {
                            parsed = elements;
                            &parsed
                        }
                        Ok(other) => return Err(type_error(path, "array", &other)),
                        Err(_) => return Err(unparsable(path, "array")),
                    },
                    _ => return Err(type_error(path, "array", value)),
                };
                if let Some(limit) = max_size.filter(|limit| elements.len() > *limit) {
                    return Err(SchemaError::new(
                        path,
                        format!(
                            "array size is [{}], but cannot be greater than [{limit}]",
                            elements.len()
                        ),
                    ));
                }
                let mut checked = Vec::with_capacity(elements.len());
                for (index, element) in elements.iter().enumerate() {
                    path.push(index.to_string());
                    let outcome = items.validate_at(Some(element), path);
                    path.pop();
                    checked.push(outcome?.unwrap_or(Value::Null));
                }
                Ok(Value::Array(checked))
            }
        }
    }
}

/// `types that failed validation:` followed by one line per alternative, each with
/// its own full path (`- [method.0]: expected value to equal [post]`).
fn alternatives_error(path: &[String], failures: &[SchemaError]) -> SchemaError {
    let mut message = String::from("types that failed validation:");
    for failure in failures {
        message.push_str("\n- ");
        // A nested union's own list is indented one more level.
        message.push_str(&failure.to_string().replace("\n", "\n "));
    }
    SchemaError::new(path, message)
}

fn unparsable(path: &[String], kind: &str) -> SchemaError {
    SchemaError::new(
        path,
        format!("could not parse {kind} value from json input"),
    )
}

fn number_value(number: f64, text: &str) -> Option<Value> {
    if let Ok(integer) = text.trim().parse::<i64>() {
        return Some(Value::from(integer));
    }
    serde_json::Number::from_f64(number).map(Value::Number)
}

fn type_error(path: &[String], expected: &str, value: &Value) -> SchemaError {
    SchemaError::new(
        path,
        format!(
            "expected value of type [{expected}] but got [{}]",
            type_name(value)
        ),
    )
}

fn object_type_error(path: &[String], value: &Value) -> SchemaError {
    SchemaError::new(
        path,
        format!(
            "expected a plain object value, but found [{}] instead.",
            type_name(value)
        ),
    )
}

/// The name JavaScript's `type-detect` gives a JSON value.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Any => "any",
        Kind::String { .. } => "string",
        Kind::Number => "number",
        Kind::Boolean => "boolean",
        Kind::Record(_) | Kind::Object(_) => "object",
        Kind::Array { .. } => "array",
        Kind::Literal(_) | Kind::OneOf(_) => "any",
    }
}

fn literal_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[track_caller]
    fn check_error(schema: &Schema, value: Value, expected: &str) {
        let error = schema.validate(&value).unwrap_err();
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn missing_required_string_names_undefined() {
        let schema = object([("index", string())]);
        check_error(
            &schema,
            json!({}),
            "[index]: expected value of type [string] but got [undefined]",
        );
    }

    #[test]
    fn wrong_types_use_javascript_type_names() {
        let schema = object([("index", string())]);
        check_error(
            &schema,
            json!({ "index": [1] }),
            "[index]: expected value of type [string] but got [Array]",
        );
        check_error(
            &schema,
            json!({ "index": null }),
            "[index]: expected value of type [string] but got [null]",
        );
        check_error(
            &schema,
            json!(5),
            "expected a plain object value, but found [number] instead.",
        );
        check_error(
            &schema,
            json!("text"),
            "could not parse object value from json input",
        );
    }

    #[test]
    fn unknown_keys_are_refused_after_known_keys_are_checked() {
        let schema = object([("index", string())]);
        check_error(
            &schema,
            json!({ "index": "a", "extra": 1 }),
            "[extra]: definition for this key is missing",
        );
        check_error(
            &schema,
            json!({ "extra": 1 }),
            "[index]: expected value of type [string] but got [undefined]",
        );
    }

    #[test]
    fn defaults_and_nullable_fill_absent_values() {
        let schema = object([
            ("refresh", boolean().default(false)),
            ("executionTimeField", nullable(string())),
            ("note", maybe(string())),
        ]);
        assert_eq!(
            schema.validate(&json!({})).unwrap(),
            json!({ "refresh": false, "executionTimeField": null })
        );
    }

    #[test]
    fn unions_list_every_alternative_with_its_path() {
        let schema = object([(
            "method",
            one_of([literal("post"), literal("put")]).default("post"),
        )]);
        check_error(
            &schema,
            json!({ "method": "get" }),
            "[method]: types that failed validation:\n- [method.0]: expected value to equal [post]\n- [method.1]: expected value to equal [put]",
        );
    }

    #[test]
    fn booleans_numbers_and_objects_accept_their_string_forms() {
        let schema = object([
            ("flag", boolean()),
            ("port", number()),
            ("details", record(any())),
        ]);
        assert_eq!(
            schema
                .validate(&json!({ "flag": "true", "port": "25", "details": "{\"a\":1}" }))
                .unwrap(),
            json!({ "flag": true, "port": 25, "details": { "a": 1 } })
        );
    }

    #[test]
    fn arrays_may_be_limited_in_size() {
        check_error(
            &array(number()).max_size(2),
            json!([1, 2, 3]),
            "array size is [3], but cannot be greater than [2]",
        );
    }

    #[test]
    fn array_elements_report_their_index() {
        let schema = object([("documents", array(record(any())))]);
        check_error(
            &schema,
            json!({ "documents": [{}, 5] }),
            "[documents.1]: expected value of type [object] but got [number]",
        );
        check_error(
            &schema,
            json!({ "documents": [{}, "x"] }),
            "[documents.1]: could not parse record value from json input",
        );
    }

    #[test]
    fn string_lengths_count_like_javascript() {
        let schema = string().min_length(1).max_length(2);
        check_error(
            &schema,
            json!(""),
            "value has length [0] but it must have a minimum length of [1].",
        );
        check_error(
            &schema,
            json!("😀a"),
            "value has length [3] but it must have a maximum length of [2].",
        );
    }
}
