//! `GET /api/actions/connector_types`: the implemented types, with Kibana's fields.

use std::sync::LazyLock;

use axum::{
    Json,
    extract::{Query, State},
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{AppState, error::ApiError};
use crate::schema::{Schema, maybe, object, string};

#[derive(Debug, Serialize)]
pub struct ConnectorTypeResponse {
    id: &'static str,
    name: &'static str,
    enabled: bool,
    enabled_in_config: bool,
    /// Switchboard has no licence tiers: every type is licensed.
    enabled_in_license: bool,
    minimum_license_required: &'static str,
    supported_feature_ids: &'static [&'static str],
    is_system_action_type: bool,
    is_deprecated: bool,
}

pub(super) static QUERY: LazyLock<Schema> =
    LazyLock::new(|| object([("feature_id", maybe(string().max_length(100)))]));

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ConnectorTypeResponse>>, ApiError> {
    let Query(pairs) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let query = QUERY
        .validate(&query_object(pairs))
        .map_err(|error| ApiError::Invalid(error.in_namespace("request query")))?;
    let feature_id = query["feature_id"].as_str();
    Ok(Json(
        state
            .service
            .types(feature_id)
            .into_iter()
            .map(|view| ConnectorTypeResponse {
                id: view.info.id,
                name: view.info.name,
                enabled: view.enabled_in_config,
                enabled_in_config: view.enabled_in_config,
                enabled_in_license: true,
                minimum_license_required: view.info.minimum_license.as_str(),
                supported_feature_ids: view.info.supported_feature_ids,
                is_system_action_type: false,
                is_deprecated: false,
            })
            .collect(),
    ))
}

/// A query string as Hapi hands it to validation: a key given twice becomes a list.
fn query_object(pairs: Vec<(String, String)>) -> Value {
    let mut object = Map::new();
    for (key, value) in pairs {
        match object.get_mut(&key) {
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(previous) => {
                let first = previous.take();
                *previous = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                object.insert(key, Value::String(value));
            }
        }
    }
    Value::Object(object)
}
