//! The OpenAPI 3.1 document of every route, `GET /api/openapi.json`. It is built from
//! the same table the router is built from (`api::routes`), and request bodies and
//! query parameters come from the very schemas that validate them, so the document
//! cannot drift from what the server does.

use serde_json::{Map, Value, json};

use crate::schema::Schema;

/// How a route is documented.
pub struct Doc {
    pub summary: &'static str,
    pub tag: &'static str,
    /// The JSON body's schema, when the route reads one.
    pub body: Option<Value>,
    /// Query parameters: an object schema's properties.
    pub query: Option<Value>,
    /// Successful answers: status, description, JSON schema (`None`: no body, or not
    /// JSON).
    pub ok: Vec<(u16, &'static str, Option<Value>)>,
    /// Which error envelope the route answers with.
    pub errors: Errors,
    /// Errors beyond those every route may answer (409, 429, ...).
    pub more_errors: Vec<(u16, &'static str)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Errors {
    /// Kibana's `{statusCode, error, message}` after authentication.
    Kibana,
    /// Elasticsearch's `{error: {...}, status}`.
    Elasticsearch,
    /// No authentication (status, the document itself).
    Open,
}

impl Doc {
    pub fn new(summary: &'static str, tag: &'static str) -> Self {
        Self {
            summary,
            tag,
            body: None,
            query: None,
            ok: Vec::new(),
            errors: Errors::Kibana,
            more_errors: Vec::new(),
        }
    }

    pub fn error(mut self, status: u16, description: &'static str) -> Self {
        self.more_errors.push((status, description));
        self
    }

    pub fn body(mut self, schema: &Schema) -> Self {
        self.body = Some(schema.to_json_schema());
        self
    }

    pub fn query(mut self, schema: &Schema) -> Self {
        self.query = Some(schema.to_json_schema());
        self
    }

    pub fn ok(mut self, status: u16, description: &'static str, schema: Option<Value>) -> Self {
        self.ok.push((status, description, schema));
        self
    }

    pub fn errors(mut self, errors: Errors) -> Self {
        self.errors = errors;
        self
    }
}

/// One documented route.
pub struct Documented<'a> {
    pub method: &'a str,
    pub path: String,
    pub doc: &'a Doc,
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// `/api/x/{id}` path parameters, as OpenAPI lists them.
fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let schema = if name == "space_id" {
                // Kibana's space ids.
                json!({ "type": "string", "pattern": "^[a-z0-9_-]+$" })
            } else {
                json!({ "type": "string" })
            };
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect()
}

fn query_parameters(query: &Value) -> Vec<Value> {
    let required: Vec<&str> = query["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    query["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, schema)| {
            json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": schema,
            })
        })
        .collect()
}

fn operation(route: &Documented<'_>) -> Value {
    let doc = route.doc;
    let mut responses = Map::new();
    for (status, description, schema) in &doc.ok {
        let mut response = json!({ "description": description });
        if let Some(schema) = schema {
            response["content"] = json_content(schema.clone());
        }
        responses.insert(status.to_string(), response);
    }
    let error = |description: &str| {
        let schema = match doc.errors {
            Errors::Elasticsearch => reference("ElasticsearchError"),
            _ => reference("Error"),
        };
        json!({ "description": description, "content": json_content(schema) })
    };
    let reads_body = route.method != "get";
    if doc.errors != Errors::Open {
        if reads_body || doc.query.is_some() {
            responses.insert("400".to_owned(), error("The request is not valid"));
        }
        responses.insert("401".to_owned(), error("No valid credentials"));
        responses.insert(
            "403".to_owned(),
            error("The caller may not do this in this space"),
        );
        responses.insert(
            "404".to_owned(),
            error("Not found (also: a space that does not exist)"),
        );
        if reads_body {
            responses.insert(
                "413".to_owned(),
                error("The body is larger than server.maxPayload"),
            );
        }
        responses.insert("503".to_owned(), error("The store cannot be reached"));
        for (status, description) in &doc.more_errors {
            responses.insert(status.to_string(), error(description));
        }
    }
    let mut parameters = path_parameters(&route.path);
    if let Some(query) = &doc.query {
        parameters.extend(query_parameters(query));
    }
    if reads_body && doc.errors == Errors::Kibana {
        parameters.push(json!({
            "name": "kbn-xsrf", "in": "header", "required": true,
            "description": "Any value: Kibana's protection against cross-site requests.",
            "schema": { "type": "string" },
        }));
    }
    let mut operation = json!({
        "summary": doc.summary,
        "tags": [doc.tag],
        "parameters": parameters,
        "responses": responses,
    });
    if doc.errors != Errors::Open {
        operation["security"] = json!([{ "basicAuth": [] }, { "apiKeyAuth": [] }]);
    }
    if let Some(body) = &doc.body {
        operation["requestBody"] =
            json!({ "required": true, "content": json_content(body.clone()) });
    }
    operation
}

/// The whole document.
pub fn document<'a>(routes: impl IntoIterator<Item = Documented<'a>>) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in routes {
        let entry = paths.entry(route.path.clone()).or_insert_with(|| json!({}));
        entry[route.method] = operation(&route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Kibana's Actions and Connectors API (2023-10-31), the Spaces API, Elasticsearch's API key API, and Switchboard's own queue, execution log, status and metrics. Every Kibana route is also under /s/{space_id}.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": { "type": "http", "scheme": "basic" },
                "apiKeyAuth": { "type": "apiKey", "in": "header", "name": "Authorization", "description": "ApiKey <base64 of id:key>" },
            },
            "schemas": schemas(),
        },
    })
}

/// Shapes the answers share.
fn schemas() -> Value {
    json!({
        "Error": {
            "type": "object",
            "required": ["statusCode", "error", "message"],
            "properties": {
                "statusCode": { "type": "integer" },
                "error": { "type": "string" },
                "message": { "type": "string" },
            },
        },
        "ElasticsearchError": {
            "type": "object",
            "required": ["error", "status"],
            "properties": { "error": {}, "status": { "type": "integer" } },
        },
        "Connector": connector(),
        "ConnectorType": {
            "type": "object",
            "required": ["id", "name", "enabled", "enabled_in_config", "enabled_in_license",
                         "minimum_license_required", "supported_feature_ids",
                         "is_system_action_type", "is_deprecated"],
            "properties": {
                "id": { "type": "string" },
                "name": { "type": "string" },
                "enabled": { "type": "boolean" },
                "enabled_in_config": { "type": "boolean" },
                "enabled_in_license": { "type": "boolean" },
                "minimum_license_required": { "type": "string" },
                "supported_feature_ids": { "type": "array", "items": { "type": "string" } },
                "is_system_action_type": { "type": "boolean" },
                "is_deprecated": { "type": "boolean" },
            },
        },
        "ExecutionResult": {
            "type": "object",
            "required": ["status", "connector_id"],
            "properties": {
                "status": { "enum": ["ok", "error"] },
                "message": { "type": "string" },
                "data": {},
                "errorSource": { "enum": ["user", "framework"] },
                "connector_id": { "type": "string" },
                "retry": { "type": ["boolean", "string"] },
                "service_message": { "type": "string" },
            },
        },
        "Space": {
            "type": "object",
            "required": ["id", "name", "disabledFeatures"],
            "properties": {
                "id": { "type": "string" },
                "name": { "type": "string" },
                "description": { "type": "string" },
                "initials": { "type": "string" },
                "color": { "type": "string" },
                "disabledFeatures": { "type": "array", "items": { "type": "string" } },
                "_reserved": { "type": "boolean" },
                "imageUrl": { "type": "string" },
                "solution": { "type": "string" },
            },
        },
        "LogEntry": {
            "type": "object",
            "required": ["execution_id", "attempt", "timestamp", "duration_ms", "outcome", "message",
                         "connector_id", "connector_name", "connector_type_id", "space_id", "source"],
            "properties": {
                "execution_id": { "type": "string" },
                "attempt": { "type": "integer" },
                "timestamp": { "type": "string" },
                "duration_ms": { "type": "integer" },
                "schedule_delay_ms": { "type": ["integer", "null"] },
                "outcome": { "enum": ["success", "failure"] },
                "message": { "type": "string" },
                "error_message": { "type": ["string", "null"] },
                "service_message": { "type": ["string", "null"] },
                "error_source": { "type": ["string", "null"] },
                "retry": { "type": ["boolean", "string", "null"] },
                "connector_id": { "type": "string" },
                "connector_name": { "type": "string" },
                "connector_type_id": { "type": "string" },
                "space_id": { "type": "string" },
                "source": { "type": "string" },
                "user": { "type": ["string", "null"] },
            },
        },
        "Execution": {
            "type": "object",
            "required": ["execution_id", "status", "attempts", "log"],
            "properties": {
                "execution_id": { "type": "string" },
                "connector_id": { "type": "string" },
                "space_id": { "type": "string" },
                "source": { "type": "string" },
                "status": { "enum": ["queued", "running", "succeeded", "failed"] },
                "attempts": { "type": "integer" },
                "max_attempts": { "type": "integer" },
                "created_at": { "type": ["string", "null"] },
                "next_attempt_at": { "type": ["string", "null"] },
                "finished_at": { "type": ["string", "null"] },
                "user": { "type": ["string", "null"] },
                "log": { "type": "array", "items": reference("LogEntry") },
            },
        },
    })
}

fn connector() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name", "connector_type_id", "is_preconfigured", "is_deprecated",
                     "is_system_action", "is_connector_type_deprecated"],
        "properties": {
            "id": { "type": "string" },
            "name": { "type": "string" },
            "config": { "type": "object" },
            "connector_type_id": { "type": "string" },
            "is_missing_secrets": { "type": "boolean" },
            "is_preconfigured": { "type": "boolean" },
            "is_deprecated": { "type": "boolean" },
            "is_system_action": { "type": "boolean" },
            "is_connector_type_deprecated": { "type": "boolean" },
            "referenced_by_count": { "type": "integer" },
        },
    })
}

/// Shorthands for the routes' answers.
pub fn schema_ref(name: &str) -> Option<Value> {
    Some(reference(name))
}

pub fn array_of(name: &str) -> Option<Value> {
    Some(json!({ "type": "array", "items": reference(name) }))
}

pub fn object_with(properties: Value) -> Option<Value> {
    Some(json!({ "type": "object", "properties": properties }))
}
