//! The HTTP API: Kibana's connector routes, each also under `/s/{space_id}/`, with
//! Kibana's request rules (body limit, JSON, `kbn-xsrf`, strict bodies) and error
//! envelope.

mod api_keys;
mod auth;
mod connector_types;
mod connectors;
mod console;
mod elasticsearch;
mod enqueue;
mod error;
mod execute;
mod execution_log;
mod extract;
mod metrics;
mod observe;
mod openapi;
mod spaces;
mod status;

use std::sync::Arc;

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, header::CONTENT_LENGTH, header::CONTENT_TYPE},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{MethodRouter, delete, get, post, put},
};
use serde_json::{Value, json};

pub use self::error::ApiError;
use self::extract::ParsedBody;
use self::openapi::Doc;
use crate::{
    execution_log::Recorder, metrics::Metrics, queue::Queue, security::Security,
    service::ConnectorService, store::Store,
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<ConnectorService>,
    pub security: Arc<Security>,
    /// For spaces; connectors go through the service.
    pub store: Store,
    /// `server.maxPayload`: the largest request body, in bytes.
    pub max_payload: usize,
    pub queue: Arc<Queue>,
    /// Where `_execute` runs are logged.
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// This node's id for this start (the status API's `uuid`).
    pub node_id: String,
    pub started: std::time::Instant,
    /// Turns `true` when the server is told to stop; live streams end then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// `server.ssl.enabled`: session cookies are `Secure`.
    pub secure_cookies: bool,
}

/// The version Kibana's public routes answer with.
const API_VERSION: HeaderValue = HeaderValue::from_static("2023-10-31");

/// Which rules a route follows: where it is mounted and which layers wrap it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Kibana's actions routes: at the root and under `/s/{space_id}`.
    Actions,
    /// Other Kibana routes (Spaces API): at the root only.
    Kibana,
    /// Elasticsearch's routes: their own body rules and error shape.
    Elasticsearch,
    /// Authenticated, no body rules (`/metrics`).
    Plain,
    /// No authentication layer (status, this document).
    Open,
    /// The console's page: no authentication (it shows the sign-in form), at the root
    /// and under `/s/{space_id}`.
    Console,
    /// Signing in and out: Kibana's request rules (`kbn-xsrf`), no authentication.
    Session,
}

/// A route: where, what handles it, and how the OpenAPI document describes it. The
/// router and the document are both built from [`routes`].
struct Route {
    group: Group,
    path: &'static str,
    method: &'static str,
    handler: MethodRouter<AppState>,
    doc: Doc,
}

fn route(
    group: Group,
    method: &'static str,
    path: &'static str,
    handler: MethodRouter<AppState>,
    doc: Doc,
) -> Route {
    Route {
        group,
        path,
        method,
        handler,
        doc,
    }
}

#[allow(clippy::too_many_lines)] // One table, read top to bottom.
fn routes() -> Vec<Route> {
    use self::openapi::{Errors, array_of, object_with, schema_ref};
    use Group::{Actions, Console, Elasticsearch, Kibana, Open, Plain, Session};
    let connector = || schema_ref("Connector");
    vec![
        route(Actions, "post", "/api/actions/connector", post(connectors::create),
            Doc::new("Create a connector", "connectors").body(&connectors::CREATE_BODY)
                .ok(200, "The connector", connector()).error(409, "The id is taken")),
        route(Actions, "post", "/api/actions/connector/{id}", post(connectors::create_with_id),
            Doc::new("Create a connector with this id", "connectors").body(&connectors::CREATE_BODY)
                .ok(200, "The connector", connector()).error(409, "The id is taken")),
        route(Actions, "put", "/api/actions/connector/{id}", put(connectors::update),
            Doc::new("Update a connector", "connectors").body(&connectors::UPDATE_BODY)
                .ok(200, "The connector", connector())),
        route(Actions, "get", "/api/actions/connector/{id}", get(connectors::get),
            Doc::new("Get a connector", "connectors").ok(200, "The connector", connector())),
        route(Actions, "delete", "/api/actions/connector/{id}", delete(connectors::delete),
            Doc::new("Delete a connector", "connectors").ok(204, "Deleted", None)),
        route(Actions, "get", "/api/actions/connectors", get(connectors::list),
            Doc::new("List the space's connectors", "connectors")
                .ok(200, "The connectors", array_of("Connector"))),
        route(Actions, "get", "/api/actions/connector_types", get(connector_types::list),
            Doc::new("List the connector types", "connectors").query(&connector_types::QUERY)
                .ok(200, "The types", array_of("ConnectorType"))),
        route(Actions, "post", "/api/actions/connector/{id}/_execute", post(execute::execute),
            Doc::new("Run a connector now", "connectors").body(&execute::EXECUTE_BODY)
                .ok(200, "Kibana's result (also when the run failed)", schema_ref("ExecutionResult"))),
        route(Actions, "post", "/api/actions/connector/{id}/_enqueue", post(enqueue::enqueue),
            Doc::new("Queue a run (Switchboard)", "queue").body(&enqueue::ENQUEUE_BODY)
                .ok(202, "Stored; it runs soon", object_with(json!({ "execution_id": { "type": "string" } })))
                .error(429, "xpack.actions.queued.max is reached; nothing was queued")),
        route(Actions, "post", "/api/actions/_bulk_enqueue", post(enqueue::bulk_enqueue),
            Doc::new("Queue many runs, all or none (Switchboard)", "queue").body(&enqueue::BULK_BODY)
                .ok(202, "Stored", object_with(json!({ "executions": { "type": "array", "items": {
                    "type": "object", "properties": { "execution_id": { "type": "string" } } } } })))
                .error(429, "xpack.actions.queued.max is reached; nothing was queued")),
        route(Actions, "get", "/api/actions/executions/{execution_id}", get(execution_log::execution),
            Doc::new("An execution's status and attempts (Switchboard)", "queue")
                .ok(200, "The execution", schema_ref("Execution"))),
        route(Actions, "get", "/api/actions/connector/{id}/_execution_log", get(execution_log::connector_log),
            Doc::new("A connector's execution log (Switchboard)", "queue")
                .query(&execution_log::CONNECTOR_LOG_QUERY)
                .ok(200, "One page of attempts", object_with(json!({
                    "page": { "type": "integer" }, "per_page": { "type": "integer" },
                    "total": { "type": "integer" },
                    "data": { "type": "array", "items": { "$ref": "#/components/schemas/LogEntry" } },
                })))),
        route(Actions, "post", "/internal/actions/_global_connector_execution_logs", post(execution_log::global_logs),
            Doc::new("Kibana's execution log across connectors", "queue")
                .body(&execution_log::GLOBAL_LOGS_BODY)
                .ok(200, "One page", object_with(json!({
                    "total": { "type": "integer" }, "data": { "type": "array" } })))),
        route(Actions, "post", "/internal/actions/_global_connector_execution_kpi", post(execution_log::global_kpi),
            Doc::new("Kibana's execution counts", "queue").body(&execution_log::GLOBAL_KPI_BODY)
                .ok(200, "Counts", object_with(json!({
                    "success": { "type": "integer" }, "unknown": { "type": "integer" },
                    "failure": { "type": "integer" }, "warning": { "type": "integer" } })))),
        route(Kibana, "get", "/api/spaces/space", get(spaces::list),
            Doc::new("List spaces", "spaces").query(&spaces::LIST_QUERY)
                .ok(200, "The spaces", array_of("Space"))),
        route(Kibana, "post", "/api/spaces/space", post(spaces::create),
            Doc::new("Create a space", "spaces").body(&spaces::SPACE_BODY)
                .ok(200, "The space", schema_ref("Space")).error(409, "The id is taken")),
        route(Kibana, "get", "/api/spaces/space/{id}", get(spaces::get),
            Doc::new("Get a space", "spaces").ok(200, "The space", schema_ref("Space"))),
        route(Kibana, "put", "/api/spaces/space/{id}", put(spaces::update),
            Doc::new("Update a space", "spaces").body(&spaces::SPACE_BODY)
                .ok(200, "The space", schema_ref("Space"))),
        route(Kibana, "delete", "/api/spaces/space/{id}", delete(spaces::delete),
            Doc::new("Delete a space and its connectors", "spaces").ok(204, "Deleted", None)),
        route(Elasticsearch, "post", "/_security/api_key", post(api_keys::create),
            Doc::new("Create an API key (Elasticsearch's API)", "security")
                .body(&api_keys::CREATE_BODY).errors(Errors::Elasticsearch)
                .ok(200, "The key", object_with(json!({}))))
            ,
        route(Elasticsearch, "put", "/_security/api_key", put(api_keys::create),
            Doc::new("Create an API key (Elasticsearch's API)", "security")
                .body(&api_keys::CREATE_BODY).errors(Errors::Elasticsearch)
                .ok(200, "The key", object_with(json!({})))),
        route(Elasticsearch, "get", "/_security/api_key", get(api_keys::list),
            Doc::new("List API keys (Elasticsearch's API)", "security").errors(Errors::Elasticsearch)
                .ok(200, "The keys", object_with(json!({ "api_keys": { "type": "array" } })))),
        route(Elasticsearch, "delete", "/_security/api_key", delete(api_keys::invalidate),
            Doc::new("Invalidate API keys (Elasticsearch's API)", "security")
                .body(&api_keys::INVALIDATE_BODY).errors(Errors::Elasticsearch)
                .ok(200, "What was invalidated", object_with(json!({})))),
        route(Plain, "get", "/metrics", get(metrics::metrics),
            Doc::new("Prometheus metrics", "operations").ok(200, "Prometheus text (format 0.0.4)", None)),
        route(Open, "get", "/api/status", get(status::status),
            Doc::new("Status, shaped like Kibana's (the level only without credentials)", "operations")
                .errors(Errors::Open)
                .ok(200, "Available", object_with(json!({ "status": { "type": "object" } })))
                .ok(503, "The store cannot be reached", object_with(json!({ "status": { "type": "object" } })))),
        route(Console, "get", "/app/connectors", get(console::page),
            Doc::new("The web console (HTML)", "console").errors(Errors::Open)
                .ok(200, "The page", None)),
        route(Console, "get", "/app/management/insightsAndAlerting/triggersActionsConnectors",
            get(console::kibana_page),
            Doc::new("Kibana's address of the connectors page: a redirect to the console", "console")
                .errors(Errors::Open).ok(302, "To /app/connectors", None)),
        route(Open, "get", "/app/connectors/assets/console.js", get(console::script),
            Doc::new("The console's script", "console").errors(Errors::Open).ok(200, "JavaScript", None)),
        route(Open, "get", "/app/connectors/assets/console.css", get(console::style),
            Doc::new("The console's style", "console").errors(Errors::Open).ok(200, "CSS", None)),
        route(Open, "get", "/app/connectors/assets/icon.svg", get(console::icon),
            Doc::new("The console's icon", "console").errors(Errors::Open).ok(200, "SVG", None)),
        route(Session, "post", "/internal/security/login", post(console::login),
            Doc::new("Sign in: a session cookie (Kibana's basic provider)", "console")
                .body(&console::LOGIN_BODY)
                .ok(200, "Signed in; the cookie is set", object_with(json!({ "location": { "type": "string" } })))),
        route(Session, "post", "/api/security/logout", post(console::logout),
            Doc::new("Sign out", "console").ok(204, "Signed out; the cookie is cleared", None)),
        route(Session, "get", "/api/security/logout", get(console::logout),
            Doc::new("Sign out (Kibana's), back to the console", "console")
                .ok(302, "Signed out; the cookie is cleared", None)),
        route(Kibana, "get", "/internal/security/me", get(console::me),
            Doc::new("Who is signed in (Kibana's shape)", "console")
                .ok(200, "The user", object_with(json!({ "username": { "type": "string" },
                    "roles": { "type": "array", "items": { "type": "string" } } })))),
        route(Actions, "get", "/internal/console/capabilities", get(console::capabilities),
            Doc::new("What the caller may do in the space (Kibana's UI capability names)", "console")
                .ok(200, "The capabilities", object_with(json!({ "actions": { "type": "object" } })))),
        route(Actions, "get", "/internal/console/connector_types/{id}/form", get(console::type_form),
            Doc::new("The JSON Schema of a type's config, secrets and params (the console's forms)", "console")
                .ok(200, "The schemas", object_with(json!({ "config": { "type": "object" },
                    "secrets": { "type": "object" }, "params": { "type": "object" } })))),
        route(Open, "get", "/api/openapi.json", get(openapi_document),
            Doc::new("This document", "operations").errors(Errors::Open)
                .ok(200, "OpenAPI 3.1", object_with(json!({})))),
    ]
}

/// Every route as the document lists it: actions routes also under `/s/{space_id}`.
fn documented(routes: &[Route]) -> Vec<openapi::Documented<'_>> {
    let mut documented = Vec::new();
    for route in routes {
        documented.push(openapi::Documented {
            method: route.method,
            path: route.path.to_owned(),
            doc: &route.doc,
        });
        if matches!(route.group, Group::Actions | Group::Console) {
            documented.push(openapi::Documented {
                method: route.method,
                path: format!("/s/{{space_id}}{}", route.path),
                doc: &route.doc,
            });
        }
    }
    documented
}

static DOCUMENT: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| openapi::document(documented(&routes())));

async fn openapi_document() -> axum::Json<Value> {
    axum::Json(DOCUMENT.clone())
}

fn group_router(routes: &[Route], group: Group) -> Router<AppState> {
    routes
        .iter()
        .filter(|it| it.group == group)
        .fold(Router::new(), |router, it| {
            router.route(it.path, it.handler.clone())
        })
}

pub fn router(state: AppState) -> Router {
    let routes = routes();
    let actions = group_router(&routes, Group::Actions);
    let kibana = Router::new()
        .merge(actions.clone())
        .nest("/s/{space_id}", actions)
        .merge(group_router(&routes, Group::Kibana))
        // A route layer runs only for matched routes: unknown paths are 404 before
        // anything else, as in Kibana.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            kibana_request_rules,
        ));
    let elasticsearch = group_router(&routes, Group::Elasticsearch).route_layer(
        middleware::from_fn_with_state(state.clone(), elasticsearch::elasticsearch_request_rules),
    );
    Router::new()
        .merge(kibana)
        .merge(elasticsearch)
        .merge(group_router(&routes, Group::Plain))
        // Outermost of the route layers: authentication comes first.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        // Without the authentication layer: status checks credentials itself.
        .merge(group_router(&routes, Group::Open))
        .merge(
            Router::new()
                .merge(group_router(&routes, Group::Console))
                .nest("/s/{space_id}", group_router(&routes, Group::Console)),
        )
        .merge(group_router(&routes, Group::Session).route_layer(
            middleware::from_fn_with_state(state.clone(), kibana_request_rules),
        ))
        .route_layer(middleware::from_fn(observe::remember_route))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::map_response(json_charset))
        .layer(middleware::from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}

/// Kibana's (Hapi's) order: read and parse the body (413, malformed JSON), then the
/// XSRF rule, then the route. Public routes answer with `elastic-api-version`.
async fn kibana_request_rules(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let request = match read_json_body(request, state.max_payload).await {
        Ok(request) => request,
        Err(error) => return with_version(error.into_response()),
    };
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let headers = request.headers();
    // Only presence counts; `kbn-version` satisfies the rule too.
    if !safe && !headers.contains_key("kbn-xsrf") && !headers.contains_key("kbn-version") {
        return with_version(ApiError::MissingXsrf.into_response());
    }
    with_version(next.run(request).await)
}

/// Reads the whole body (GET and HEAD have none) and parses it as JSON, leaving the
/// value for [`extract::JsonBody`]. Any content type is read as JSON.
pub(super) async fn read_json_body(request: Request, limit: usize) -> Result<Request, ApiError> {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(request);
    }
    let declared_length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|it| it.to_str().ok())
        .and_then(|it| it.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let (mut parts, body) = request.into_parts();
    // Past the limit (or a broken upload) reading stops; nothing more is buffered.
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let parsed = if bytes.is_empty() {
        None
    } else {
        Some(serde_json::from_slice::<Value>(&bytes).map_err(|_| ApiError::MalformedJson)?)
    };
    parts.extensions.insert(ParsedBody(parsed));
    Ok(Request::from_parts(parts, Body::empty()))
}

fn with_version(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("elastic-api-version", API_VERSION);
    response
}

async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// Kibana's JSON answers say their charset.
async fn json_charset(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if headers
        .get(CONTENT_TYPE)
        .is_some_and(|it| it == "application/json")
    {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    response
}
