//! The one place an HTTP status is chosen, and Kibana's error envelope
//! `{statusCode, error, message}`. Internal details are logged, never sent.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header::WWW_AUTHENTICATE},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{schema::SchemaError, service::ServiceError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request part failed its schema: `[request body.name]: ...`.
    #[error(transparent)]
    Invalid(#[from] SchemaError),
    #[error("{0}")]
    BadRequest(String),
    #[error("Request must contain a kbn-xsrf header.")]
    MissingXsrf,
    #[error("Invalid request payload JSON format")]
    MalformedJson,
    #[error("Payload content length greater than maximum allowed: {0}")]
    PayloadTooLarge(usize),
    #[error("Not Found")]
    RouteNotFound,
    /// No credentials, or wrong ones.
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    NotFound(String),
    #[error("storage failed")]
    Store(#[source] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

const UNAVAILABLE_MESSAGE: &str = "The database is unavailable. Try again later.";

const INTERNAL_MESSAGE: &str =
    "An internal server error occurred. Check Kibana server logs for details.";

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::BadRequest(_) | Self::MissingXsrf | Self::MalformedJson => {
                StatusCode::BAD_REQUEST
            }
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Service(error) => match error {
                ServiceError::BadRequest(_) | ServiceError::InvalidConnector(_) => {
                    StatusCode::BAD_REQUEST
                }
                ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
                ServiceError::NotFound(_) | ServiceError::SpaceNotFound => StatusCode::NOT_FOUND,
                ServiceError::Conflict(_) => StatusCode::CONFLICT,
                ServiceError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                ServiceError::Store(_) | ServiceError::Corrupt { .. } => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %crate::errors::chain(&self), "Request refused: the database is unavailable.");
            UNAVAILABLE_MESSAGE.to_owned()
        } else if status.is_server_error() {
            let chain = crate::errors::chain(&self);
            tracing::error!(error = %chain, "Request failed.");
            INTERNAL_MESSAGE.to_owned()
        } else {
            self.to_string()
        };
        let body = json!({
            "statusCode": status.as_u16(),
            "error": status.canonical_reason().unwrap_or_default(),
            "message": message,
        });
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // Kibana itself sends none; clients and browsers use it to know what to offer.
            let headers = response.headers_mut();
            headers.append(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"security\", charset=\"UTF-8\""),
            );
            headers.append(WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey"));
        }
        response
    }
}
