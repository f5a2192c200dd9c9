//! The HTTP API: Kibana's connector routes, each also under `/s/{space_id}/`, with
//! Kibana's request rules (body limit, JSON, `kbn-xsrf`, strict bodies) and error
//! envelope.

mod api_keys;
mod auth;
mod connector_types;
mod connectors;
mod elasticsearch;
mod enqueue;
mod error;
mod execute;
mod execution_log;
mod extract;
mod metrics;
mod observe;
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
    routing::{get, post},
};
use serde_json::Value;

pub use self::error::ApiError;
use self::extract::ParsedBody;
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
}

/// The version Kibana's public routes answer with.
const API_VERSION: HeaderValue = HeaderValue::from_static("2023-10-31");

pub fn router(state: AppState) -> Router {
    let actions = Router::new()
        .route("/api/actions/connector", post(connectors::create))
        .route(
            "/api/actions/connector/{id}",
            post(connectors::create_with_id)
                .put(connectors::update)
                .get(connectors::get)
                .delete(connectors::delete),
        )
        .route("/api/actions/connectors", get(connectors::list))
        .route("/api/actions/connector_types", get(connector_types::list))
        .route(
            "/api/actions/connector/{id}/_execute",
            post(execute::execute),
        )
        .route(
            "/api/actions/connector/{id}/_enqueue",
            post(enqueue::enqueue),
        )
        .route("/api/actions/_bulk_enqueue", post(enqueue::bulk_enqueue))
        .route(
            "/api/actions/executions/{execution_id}",
            get(execution_log::execution),
        )
        .route(
            "/api/actions/connector/{id}/_execution_log",
            get(execution_log::connector_log),
        )
        .route(
            "/internal/actions/_global_connector_execution_logs",
            post(execution_log::global_logs),
        )
        .route(
            "/internal/actions/_global_connector_execution_kpi",
            post(execution_log::global_kpi),
        );
    let kibana = Router::new()
        .merge(actions.clone())
        .nest("/s/{space_id}", actions)
        .route("/api/spaces/space", get(spaces::list).post(spaces::create))
        .route(
            "/api/spaces/space/{id}",
            get(spaces::get).put(spaces::update).delete(spaces::delete),
        )
        // A route layer runs only for matched routes: unknown paths are 404 before
        // anything else, as in Kibana.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            kibana_request_rules,
        ));
    let elasticsearch = Router::new()
        .route(
            "/_security/api_key",
            post(api_keys::create)
                .put(api_keys::create)
                .get(api_keys::list)
                .delete(api_keys::invalidate),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            elasticsearch::elasticsearch_request_rules,
        ));
    Router::new()
        .merge(kibana)
        .merge(elasticsearch)
        .route("/metrics", get(metrics::metrics))
        // Outermost of the route layers: authentication comes first.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        // Credentials optional, as in Kibana: it checks them itself.
        .route("/api/status", get(status::status))
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
