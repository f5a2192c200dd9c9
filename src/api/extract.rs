//! Extractors that read requests the way Kibana does: the space from `/s/{space_id}`,
//! path ids, and JSON bodies whose failures come out in Kibana's envelope.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, RawPathParams, Request},
    http::{StatusCode, request::Parts},
};
use serde_json::Value;

use super::{AppState, error::ApiError};

/// The space a request is for: `default` unless the path starts with `/s/{space_id}`.
pub struct Space(pub String);

impl FromRequestParts<AppState> for Space {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let space = path_param(parts, state, "space_id")
            .await
            .unwrap_or_else(|| "default".to_owned());
        Ok(Self(space))
    }
}

/// The connector id in the path (`{id}`), percent-decoded.
pub struct ConnectorId(pub String);

impl FromRequestParts<AppState> for ConnectorId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        path_param(parts, state, "id")
            .await
            .map(Self)
            .ok_or(ApiError::RouteNotFound)
    }
}

async fn path_param(parts: &mut Parts, state: &AppState, name: &str) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A JSON request body, before its schema is checked. An empty body reads as `{}`,
/// as Kibana treats it; any content type is accepted.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(state.max_payload)
                } else {
                    ApiError::BadRequest("Invalid request payload JSON format".to_owned())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Value::Object(Default::default())));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|_| ApiError::BadRequest("Invalid request payload JSON format".to_owned()))
    }
}
