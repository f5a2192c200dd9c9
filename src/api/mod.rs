//! The HTTP API: Kibana's connector routes, each also under `/s/{space_id}/`, with
//! Kibana's request rules (`kbn-xsrf`, body limit, strict bodies) and error envelope.

mod connector_types;
mod connectors;
mod error;
mod execute;
mod extract;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderValue, Method},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};

pub use self::error::ApiError;
use crate::service::ConnectorService;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<ConnectorService>,
    /// `server.maxPayload`, for the 413 message.
    pub max_payload: usize,
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
        );
    Router::new()
        .merge(actions.clone())
        .nest("/s/{space_id}", actions)
        // A route layer runs only for matched routes: unknown paths are 404 before
        // the XSRF check, as in Kibana.
        .route_layer(middleware::from_fn(require_xsrf))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(DefaultBodyLimit::max(state.max_payload))
        .layer(middleware::map_response(add_version_header))
        .with_state(state)
}

/// Kibana's XSRF rule: a request that changes something must carry `kbn-xsrf` (any
/// value) or `kbn-version`.
async fn require_xsrf(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let headers = request.headers();
    if safe || headers.contains_key("kbn-xsrf") || headers.contains_key("kbn-version") {
        next.run(request).await
    } else {
        ApiError::MissingXsrf.into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

async fn add_version_header(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("elastic-api-version", API_VERSION);
    response
}
