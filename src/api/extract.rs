//! Extractors that read requests the way Kibana does: the space from `/s/{space_id}`,
//! path ids, and JSON bodies checked against their schemas with Kibana's messages.

use axum::{
    extract::{FromRequest, FromRequestParts, RawPathParams, Request},
    http::request::Parts,
};
use serde_json::{Map, Value};

use super::{AppState, error::ApiError};
use crate::schema::{Schema, SchemaError};

/// The space a request is for: `default` unless the path starts with `/s/{space_id}`.
/// Like Kibana, only `[a-z0-9_-]+` is a space id; any other prefix is no route at all.
pub struct Space(pub String);

impl FromRequestParts<AppState> for Space {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::RouteNotFound)?;
        let space = match params.iter().find(|(key, _)| *key == "space_id") {
            None => return Ok(Self("default".to_owned())),
            Some((_, space)) if is_space_id(space) => space.to_owned(),
            Some(_) => return Err(ApiError::RouteNotFound),
        };
        // Kibana would go on in a space that does not exist; here a connector can only
        // live in a space that does (see ARCHITECTURE.md).
        if space != "default"
            && !state
                .store
                .space_exists(&space)
                .await
                .map_err(ApiError::Store)?
        {
            return Err(ApiError::RouteNotFound);
        }
        Ok(Self(space))
    }
}

fn is_space_id(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|it| it.is_ascii_lowercase() || it.is_ascii_digit() || it == b'_' || it == b'-')
}

/// The connector id in the path (`{id}`), percent-decoded.
pub struct ConnectorId(pub String);

impl FromRequestParts<AppState> for ConnectorId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::RouteNotFound)?;
        let (_, id) = params
            .iter()
            .find(|(key, _)| *key == "id")
            .ok_or(ApiError::RouteNotFound)?;
        if id.contains('\0') {
            return Err(ApiError::Invalid(
                SchemaError::new(&["id".to_owned()], super::connectors::NUL_MESSAGE)
                    .in_namespace("request params"),
            ));
        }
        Ok(Self(id.to_owned()))
    }
}

/// The body as parsed by the request rules in `api/mod.rs`; `None` when it was empty.
#[derive(Clone)]
pub struct ParsedBody(pub Option<Value>);

/// A JSON request body, before its schema is checked. An empty body reads as `{}`,
/// as Kibana treats it.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(mut request: Request, _state: &AppState) -> Result<Self, ApiError> {
        let parsed = request
            .extensions_mut()
            .remove::<ParsedBody>()
            .and_then(|it| it.0);
        Ok(Self(parsed.unwrap_or_else(|| Value::Object(Map::new()))))
    }
}

/// Checks a body against its schema, naming fields as Kibana does (`[request body.name]`).
pub fn check_body(schema: &Schema, body: &Value) -> Result<Value, ApiError> {
    schema
        .validate(body)
        .map_err(|error| ApiError::Invalid(error.in_namespace("request body")))
}
