//! Elasticsearch's error shape, for the routes shaped like Elasticsearch's own
//! (`/_security/...`): `{"error":{"root_cause":[...],"type":...,"reason":...},"status":N}`.

use axum::{
    Json,
    extract::Request,
    http::{HeaderValue, StatusCode, header::WWW_AUTHENTICATE},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{ApiError, read_json_body};
use crate::{
    security::{AuthError, ManagementError},
    store::StoreError,
};

/// One Elasticsearch error: its HTTP status, exception type and reason.
#[derive(Debug)]
pub struct EsError {
    status: StatusCode,
    kind: &'static str,
    reason: String,
}

impl EsError {
    pub fn new(status: StatusCode, kind: &'static str, reason: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            reason: reason.into(),
        }
    }

    pub fn bad_request(kind: &'static str, reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, reason)
    }

    /// `Validation Failed: 1: <message>;`, Elasticsearch's request validation.
    pub fn validation(message: &str) -> Self {
        Self::bad_request(
            "action_request_validation_exception",
            format!("Validation Failed: 1: {message};"),
        )
    }

    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "security_exception", reason)
    }

    pub fn unauthenticated(path: &str, error: &AuthError) -> Self {
        let reason = match error {
            AuthError::Missing => {
                format!("missing authentication credentials for REST request [{path}]")
            }
            _ => format!(
                "unable to authenticate with provided credentials and anonymous access is not allowed for this request [{path}]"
            ),
        };
        Self::new(StatusCode::UNAUTHORIZED, "security_exception", reason)
    }

    pub fn store(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %crate::errors::chain(&error), "Request refused: the database is unavailable.");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable_shards_exception",
                    "The database is unavailable. Try again later.",
                )
            }
            other => {
                tracing::error!(error = %crate::errors::chain(&other), "Request failed.");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "An internal server error occurred.",
                )
            }
        }
    }
}

impl From<ManagementError> for EsError {
    fn from(error: ManagementError) -> Self {
        match error {
            ManagementError::Invalid(message) => {
                Self::bad_request("illegal_argument_exception", message)
            }
            ManagementError::NotFound(message) => Self::new(
                StatusCode::NOT_FOUND,
                "resource_not_found_exception",
                message,
            ),
            ManagementError::Conflict(message) => Self::new(
                StatusCode::CONFLICT,
                "version_conflict_engine_exception",
                message,
            ),
            ManagementError::Store(error) => Self::store(error),
        }
    }
}

/// What Elasticsearch offers in `WWW-Authenticate` when it refuses a request.
const CHALLENGES: [&str; 2] = ["Basic realm=\"security\", charset=\"UTF-8\"", "ApiKey"];

impl IntoResponse for EsError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let mut cause = json!({ "type": self.kind, "reason": self.reason });
        if unauthorized {
            cause["header"] = json!({ "WWW-Authenticate": CHALLENGES });
        }
        let mut error = serde_json::Map::new();
        error.insert("root_cause".to_owned(), json!([cause.clone()]));
        if let Some(fields) = cause.as_object() {
            error.extend(fields.clone());
        }
        let body = json!({ "error": error, "status": self.status.as_u16() });
        let mut response = (self.status, Json(body)).into_response();
        if unauthorized {
            for challenge in CHALLENGES {
                response
                    .headers_mut()
                    .append(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
        }
        response
    }
}

/// The body rules of Elasticsearch's routes: the body is read and parsed (no
/// `kbn-xsrf` here: Elasticsearch clients do not send it).
pub async fn elasticsearch_request_rules(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    request: Request,
    next: Next,
) -> Response {
    match read_json_body(request, state.max_payload).await {
        Ok(request) => next.run(request).await,
        Err(ApiError::PayloadTooLarge(limit)) => EsError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "content_too_long_exception",
            format!("request body is larger than {limit} bytes"),
        )
        .into_response(),
        Err(_) => EsError::bad_request(
            "x_content_parse_exception",
            "the request body is not valid JSON",
        )
        .into_response(),
    }
}
