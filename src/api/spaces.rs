//! Kibana's Spaces API: `/api/spaces/space[/{id}]`. Listing shows the spaces the
//! caller has a privilege in; creating, updating and deleting need Kibana's global
//! base `all`. Deleting a space deletes its connectors; the default space stays.

use std::{collections::HashMap, sync::LazyLock};

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde_json::{Map, Value, json};

use super::{
    AppState,
    auth::Caller,
    error::ApiError,
    extract::{JsonBody, check_body},
};
use crate::{
    schema::{Schema, array, boolean, literal, maybe, object, one_of, string},
    security::Level,
    store::{SpaceRow, StoreError},
};

const DEFAULT_SPACE: &str = "default";

/// The attributes a space has besides its id, in the order Kibana shows them.
const ATTRIBUTES: [&str; 7] = [
    "name",
    "description",
    "color",
    "initials",
    "imageUrl",
    "disabledFeatures",
    "solution",
];

pub(super) static SPACE_BODY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("id", string().check(space_id)),
        ("name", string().min_length(1)),
        ("description", maybe(string())),
        ("initials", maybe(string().max_length(2))),
        ("color", maybe(string().check(color))),
        ("disabledFeatures", array(string()).default(json!([]))),
        ("_reserved", maybe(boolean())),
        ("imageUrl", maybe(string().check(image_url))),
        (
            "solution",
            maybe(one_of(["security", "oblt", "es", "classic"].map(literal))),
        ),
    ])
});

pub(super) static LIST_QUERY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        (
            "purpose",
            maybe(one_of(
                [
                    "any",
                    "copySavedObjectsIntoSpace",
                    "shareSavedObjectsIntoSpace",
                ]
                .map(literal),
            )),
        ),
        ("include_authorized_purposes", maybe(boolean())),
    ])
});

fn space_id(value: &Value) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    if !text.is_empty()
        && text
            .bytes()
            .all(|it| it.is_ascii_lowercase() || it.is_ascii_digit() || it == b'_' || it == b'-')
    {
        Ok(())
    } else {
        Err("must be lower case, a-z, 0-9, '_', and '-' are allowed".to_owned())
    }
}

fn color(value: &Value) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    let valid = text.len() == 7
        && text.starts_with('#')
        && text[1..].bytes().all(|it| it.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err("must be a 6 digit hex color, starting with a #".to_owned())
    }
}

fn image_url(value: &Value) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    if text.is_empty() || text.starts_with("data:image") {
        Ok(())
    } else {
        Err("must start with 'data:image'".to_owned())
    }
}

/// A space as the API shows it. Only the default space is `_reserved`.
fn view(row: &SpaceRow) -> Value {
    let attributes: Value = serde_json::from_str(&row.attributes).unwrap_or_else(|_| json!({}));
    let mut space = Map::new();
    space.insert("id".to_owned(), json!(row.id));
    for key in ATTRIBUTES {
        if let Some(value) = attributes.get(key) {
            space.insert(key.to_owned(), value.clone());
        }
    }
    space.entry("disabledFeatures").or_insert_with(|| json!([]));
    if row.id == DEFAULT_SPACE {
        space.insert("_reserved".to_owned(), json!(true));
    }
    Value::Object(space)
}

/// The attributes to store from a validated body.
fn attributes(body: &Value) -> Map<String, Value> {
    ATTRIBUTES
        .iter()
        .filter_map(|key| Some(((*key).to_owned(), body.get(*key)?.clone())))
        .collect()
}

fn store_error(error: StoreError) -> ApiError {
    ApiError::Store(error)
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let query: Map<String, Value> = query
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let query = LIST_QUERY
        .validate(&Value::Object(query))
        .map_err(|error| ApiError::Invalid(error.in_namespace("request query")))?;
    let purpose = query["purpose"].as_str().unwrap_or("any");
    let with_purposes = query["include_authorized_purposes"].as_bool() == Some(true);
    if with_purposes && query["purpose"].is_string() {
        return Err(ApiError::BadRequest(
            "[request query.include_authorized_purposes]: expected value to equal [false]"
                .to_owned(),
        ));
    }
    let needed = if purpose == "any" {
        Level::Read
    } else {
        Level::All
    };
    let mut spaces: Vec<(SpaceRow, Value)> = state
        .store
        .spaces()
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|row| {
            let space = view(&row);
            (row, space)
        })
        .collect();
    // Kibana sorts on `name.keyword`: by the name's characters, case first.
    spaces.sort_by(|(_, a), (_, b)| a["name"].as_str().cmp(&b["name"].as_str()));
    let spaces: Vec<Value> = spaces
        .into_iter()
        .filter_map(|(row, mut space)| {
            let level = caller.0.level_in(&row.id)?;
            (level >= needed).then(|| {
                if with_purposes {
                    let all = level == Level::All;
                    space["authorizedPurposes"] = json!({
                        "any": true,
                        "copySavedObjectsIntoSpace": all,
                        "findSavedObjects": true,
                        "shareSavedObjectsIntoSpace": all,
                    });
                }
                space
            })
        })
        .collect();
    if spaces.is_empty() {
        return Err(ApiError::Forbidden("Forbidden".to_owned()));
    }
    Ok(Json(spaces))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if caller.0.level_in(&id).is_none() {
        return Err(ApiError::Forbidden(format!(
            "Unauthorized to get {id} space"
        )));
    }
    let row = state.store.space(&id).await.map_err(store_error)?;
    row.map(|row| Json(view(&row)))
        .ok_or(ApiError::RouteNotFound)
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = check_body(&SPACE_BODY, &body)?;
    if !caller.0.manages_spaces() {
        return Err(ApiError::Forbidden(
            "Unauthorized to create spaces".to_owned(),
        ));
    }
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let row = SpaceRow {
        id: id.clone(),
        attributes: Value::Object(attributes(&body)).to_string(),
    };
    state
        .store
        .insert_space(&row)
        .await
        .map_err(|error| match error {
            StoreError::Conflict => {
                ApiError::Conflict(format!("A space with the identifier {id} already exists."))
            }
            other => store_error(other),
        })?;
    tracing::info!(space_id = %id, by = %caller.0.username, "Space created.");
    Ok(Json(view(&row)))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = check_body(&SPACE_BODY, &body)?;
    if !caller.0.manages_spaces() {
        return Err(ApiError::Forbidden(
            "Unauthorized to update spaces".to_owned(),
        ));
    }
    let existing = state
        .store
        .space(&id)
        .await
        .map_err(store_error)?
        .ok_or(ApiError::RouteNotFound)?;
    // Like Kibana's saved-object update: fields left out keep their values (the body's
    // id is not used; the path names the space).
    let mut merged: Map<String, Value> =
        serde_json::from_str(&existing.attributes).unwrap_or_default();
    merged.extend(attributes(&body));
    let row = SpaceRow {
        id: id.clone(),
        attributes: Value::Object(merged).to_string(),
    };
    if !state.store.update_space(&row).await.map_err(store_error)? {
        return Err(ApiError::RouteNotFound);
    }
    tracing::info!(space_id = %id, by = %caller.0.username, "Space updated.");
    Ok(Json(view(&row)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !caller.0.manages_spaces() {
        return Err(ApiError::Forbidden(
            "Unauthorized to delete spaces".to_owned(),
        ));
    }
    if state.store.space(&id).await.map_err(store_error)?.is_none() {
        return Err(ApiError::RouteNotFound);
    }
    if id == DEFAULT_SPACE {
        return Err(ApiError::BadRequest(format!(
            "The {id} space cannot be deleted because it is reserved."
        )));
    }
    if !state.store.delete_space(&id).await.map_err(store_error)? {
        return Err(ApiError::RouteNotFound);
    }
    state.service.forget_space(&id);
    tracing::info!(space_id = %id, by = %caller.0.username, "Space and its connectors deleted.");
    Ok(StatusCode::NO_CONTENT)
}
