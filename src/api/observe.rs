//! What every request leaves behind: an id (from `x-request-id` when the client sent
//! a sensible one, else new) in a response header and in every log line of the
//! request, a line in the access log (`logging.loggers: [{name: http, level:
//! debug}]`), and the request metrics by route template.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, Method},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

use super::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The route a request matched, passed from the router to [`observe`].
#[derive(Clone)]
struct RouteTemplate(String);

/// A route layer: runs only for matched routes, where the template is known.
pub async fn remember_route(matched: MatchedPath, request: Request, next: Next) -> Response {
    let template = RouteTemplate(matched.as_str().to_owned());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(template);
    response
}

/// A client's id is kept only when it cannot confuse a log reader: 1 to 128 letters,
/// digits, `-`, `_`, `.` or `:`.
fn client_request_id(request: &Request) -> Option<String> {
    let id = request.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let sensible = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|it| it.is_ascii_alphanumeric() || matches!(it, b'-' | b'_' | b'.' | b':'));
    sensible.then(|| id.to_owned())
}

/// Methods as metric labels: the standard ones, anything else as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = client_request_id(&request).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // At error level, so the id is on the request's lines whatever level is set.
    let span = tracing::error_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or("unmatched", |it| it.0.as_str());
    state
        .metrics
        .observe_request(method_label(&method), route, status, elapsed);
    span.in_scope(|| {
        tracing::debug!(
            target: "switchboard::http",
            http_method = %method,
            url_path = %path,
            http_status = status,
            duration_ms = elapsed.as_millis() as u64,
            "{method} {path} {status} {}ms",
            elapsed.as_millis()
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
