//! Create, update, get, delete and list connectors.

use std::sync::LazyLock;

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use serde_json::{Value, json, value::RawValue};

use super::{
    AppState,
    auth::Caller,
    error::ApiError,
    extract::{ConnectorId, JsonBody, Space, check_body},
};
use crate::{
    schema::{Schema, any, object, record, string},
    security::Operation,
    service::{ConnectorInput, ConnectorView},
};

/// A connector on the wire. There is no secrets field: secrets cannot leak from here.
#[derive(Debug, Serialize)]
pub struct ConnectorResponse {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<Box<RawValue>>,
    connector_type_id: String,
    /// Kibana leaves it out for preconfigured connectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    is_missing_secrets: Option<bool>,
    is_preconfigured: bool,
    is_deprecated: bool,
    is_system_action: bool,
    is_connector_type_deprecated: bool,
    /// Only in lists. Switchboard has no rules referring to connectors, so it is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    referenced_by_count: Option<u64>,
}

impl From<ConnectorView> for ConnectorResponse {
    fn from(view: ConnectorView) -> Self {
        Self {
            is_missing_secrets: (!view.is_preconfigured).then_some(view.is_missing_secrets),
            id: view.id,
            name: view.name,
            config: view.config,
            connector_type_id: view.type_id,
            is_preconfigured: view.is_preconfigured,
            is_deprecated: false,
            is_system_action: false,
            is_connector_type_deprecated: false,
            referenced_by_count: None,
        }
    }
}

/// Kibana's `validateEmptyStrings`: no string in the value may be blank.
fn no_blank_strings(value: &Value) -> Result<(), String> {
    match value {
        Value::String(text) if text.trim().is_empty() => Err("value '' is not valid".to_owned()),
        Value::Array(items) => items.iter().try_for_each(no_blank_strings),
        Value::Object(fields) => fields.values().try_for_each(no_blank_strings),
        _ => Ok(()),
    }
}

/// A connector's name: not blank, and without U+0000, which PostgreSQL's text
/// cannot hold (refused on every backend, so they all behave alike).
fn name() -> Schema {
    string().check(|value| {
        no_blank_strings(value)?;
        if value.as_str().is_some_and(|it| it.contains('\0')) {
            return Err(NUL_MESSAGE.to_owned());
        }
        Ok(())
    })
}

pub(super) const NUL_MESSAGE: &str = "value must not contain the NUL character";

fn free_form_object() -> Schema {
    record(any().check(no_blank_strings)).default(json!({}))
}

pub(super) static CREATE_BODY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("name", name()),
        ("connector_type_id", string().check(no_blank_strings)),
        ("config", free_form_object()),
        ("secrets", free_form_object()),
    ])
});

pub(super) static UPDATE_BODY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("name", name()),
        ("config", free_form_object()),
        ("secrets", free_form_object()),
    ])
});

fn input(mut body: Value) -> ConnectorInput {
    ConnectorInput {
        name: body["name"].as_str().unwrap_or_default().to_owned(),
        config: body["config"].take(),
        secrets: body["secrets"].take(),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Json<ConnectorResponse>, ApiError> {
    create_connector(state, space, &caller, None, body).await
}

pub async fn create_with_id(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    ConnectorId(id): ConnectorId,
    JsonBody(body): JsonBody,
) -> Result<Json<ConnectorResponse>, ApiError> {
    create_connector(state, space, &caller, Some(id), body).await
}

async fn create_connector(
    state: AppState,
    space: String,
    caller: &Caller,
    id: Option<String>,
    body: Value,
) -> Result<Json<ConnectorResponse>, ApiError> {
    let body = check_body(&CREATE_BODY, &body)?;
    let type_id = body["connector_type_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    caller.authorize(&space, Operation::Create, Some(&type_id))?;
    let view = state
        .service
        .create(&space, id, &type_id, input(body))
        .await?;
    Ok(Json(view.into()))
}

pub async fn update(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    ConnectorId(id): ConnectorId,
    JsonBody(body): JsonBody,
) -> Result<Json<ConnectorResponse>, ApiError> {
    let body = check_body(&UPDATE_BODY, &body)?;
    caller.authorize(&space, Operation::Update, None)?;
    let view = state.service.update(&space, &id, input(body)).await?;
    Ok(Json(view.into()))
}

pub async fn get(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    ConnectorId(id): ConnectorId,
) -> Result<Json<ConnectorResponse>, ApiError> {
    caller.authorize(&space, Operation::Get, None)?;
    Ok(Json(state.service.get(&space, &id).await?.into()))
}

pub async fn delete(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    ConnectorId(id): ConnectorId,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&space, Operation::Delete, None)?;
    state.service.delete(&space, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
) -> Result<Json<Vec<ConnectorResponse>>, ApiError> {
    caller.authorize(&space, Operation::Get, None)?;
    let views = state.service.list(&space).await?;
    Ok(Json(
        views
            .into_iter()
            .map(|view| ConnectorResponse {
                referenced_by_count: Some(0),
                ..view.into()
            })
            .collect(),
    ))
}
