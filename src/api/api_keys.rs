//! `/_security/api_key`: create, get and invalidate API keys, shaped like
//! Elasticsearch's API keys API. Superusers only (Elasticsearch's `manage_api_key`).

use std::{collections::HashMap, sync::LazyLock};

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{AppState, auth::Caller, elasticsearch::EsError, extract::JsonBody};
use crate::{
    schema::{Schema, any, array, boolean, maybe, object, record, string},
    security::{ApiKeyRequest, parse_expiration},
    store::ApiKeyRow,
};

/// The cluster privileges Elasticsearch names when it refuses key management.
const GRANTED_BY: &str = "manage_api_key,manage_security,all";

fn superuser_only(caller: &Caller, action: &str) -> Result<(), EsError> {
    let principal = &caller.0;
    if principal.api_key_id.is_some() {
        return Err(EsError::forbidden(format!(
            "action [{action}] is not allowed with an API key; authenticate as a user to manage API keys"
        )));
    }
    if principal.is_superuser() {
        Ok(())
    } else {
        Err(EsError::forbidden(
            principal.cluster_refusal(action, GRANTED_BY),
        ))
    }
}

pub(super) static CREATE_BODY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("name", maybe(string())),
        ("expiration", maybe(string())),
        ("role_descriptors", record(record(any())).default(json!({}))),
        ("metadata", record(any()).default(json!({}))),
    ])
});

/// Elasticsearch's rules for a key's name.
fn check_key_name(name: Option<&str>) -> Result<String, EsError> {
    let name = name.unwrap_or_default();
    let message = if name.is_empty() {
        "api key name is required"
    } else if name.chars().count() > 256 {
        "api key name may not be more than 256 characters long"
    } else if name.trim() != name {
        "api key name may not begin or end with whitespace"
    } else if name.starts_with('_') {
        "api key name may not begin with an underscore"
    } else {
        return Ok(name.to_owned());
    };
    Err(EsError::validation(message))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, EsError> {
    let body = CREATE_BODY.validate(&body).map_err(|error| {
        EsError::bad_request(
            "x_content_parse_exception",
            format!("[api_key_request] {error}"),
        )
    })?;
    // Elasticsearch validates a request before it authorizes it.
    let name = check_key_name(body["name"].as_str())?;
    if body["metadata"]
        .as_object()
        .is_some_and(|it| it.keys().any(|key| key.starts_with('_')))
    {
        return Err(EsError::validation(
            "API key metadata keys may not start with [_]",
        ));
    }
    let expiration = match body["expiration"].as_str() {
        None => None,
        Some(text) => Some(parse_expiration(text).ok_or_else(|| {
            EsError::bad_request(
                "parse_exception",
                format!("failed to parse setting [expiration] with value [{text}] as a time value: unit is missing or unrecognized"),
            )
        })?),
    };
    superuser_only(&caller, "cluster:admin/xpack/security/api_key/create")?;
    let created = state
        .security
        .create_api_key_as(
            &caller.0,
            ApiKeyRequest {
                name,
                expiration,
                role_descriptors: body["role_descriptors"].clone(),
                metadata: body["metadata"].clone(),
            },
        )
        .await?;
    let mut answer = Map::new();
    answer.insert("id".to_owned(), json!(created.id));
    answer.insert("name".to_owned(), json!(created.name));
    if let Some(expiration) = created.expiration {
        answer.insert("expiration".to_owned(), json!(expiration));
    }
    answer.insert("api_key".to_owned(), json!(created.api_key));
    answer.insert("encoded".to_owned(), json!(created.encoded));
    tracing::info!(api_key_id = %created.id, owner = %caller.0.username, "API key created.");
    Ok(Json(Value::Object(answer)))
}

const QUERY_KEYS: [&str; 8] = [
    "id",
    "name",
    "username",
    "realm_name",
    "owner",
    "active_only",
    "with_limited_by",
    "with_profile_uid",
];

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, EsError> {
    if let Some(unknown) = query.keys().find(|key| !QUERY_KEYS.contains(&key.as_str())) {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            format!("request [/_security/api_key] contains unrecognized parameter: [{unknown}]"),
        ));
    }
    let (id, name) = (query.get("id"), query.get("name"));
    if id.is_some() && name.is_some() {
        return Err(EsError::validation(
            "only one of [api key id, api key name] can be specified",
        ));
    }
    superuser_only(&caller, "cluster:admin/xpack/security/api_key/get")?;
    let owner_only = query.get("owner").is_some_and(|it| it == "true");
    let active_only = query.get("active_only").is_some_and(|it| it == "true");
    let now = crate::timestamp::epoch_millis(std::time::SystemTime::now());
    let keys: Vec<Value> = state
        .security
        .api_keys()
        .await?
        .iter()
        .filter(|key| id.is_none_or(|id| &key.id == id))
        .filter(|key| name.is_none_or(|name| name_matches(name, &key.name)))
        .filter(|key| {
            query
                .get("username")
                .is_none_or(|user| &key.username == user)
        })
        .filter(|key| !owner_only || key.username == caller.0.username)
        .filter(|key| !active_only || is_active(key, now))
        .map(key_view)
        .collect();
    // Elasticsearch answers a lookup by id that finds nothing with 404.
    let status = if id.is_some() && keys.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "api_keys": keys }))).into_response())
}

/// A name, or a prefix ending in `*`.
fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

fn is_active(key: &ApiKeyRow, now: i64) -> bool {
    key.invalidated_at.is_none() && key.expires_at.is_none_or(|at| at > now)
}

/// A key as Elasticsearch's get API shows it: never its secret or hash.
fn key_view(key: &ApiKeyRow) -> Value {
    let mut view = Map::new();
    view.insert("id".to_owned(), json!(key.id));
    view.insert("name".to_owned(), json!(key.name));
    view.insert("type".to_owned(), json!("rest"));
    view.insert("creation".to_owned(), json!(key.created_at));
    if let Some(expiration) = key.expires_at {
        view.insert("expiration".to_owned(), json!(expiration));
    }
    view.insert(
        "invalidated".to_owned(),
        json!(key.invalidated_at.is_some()),
    );
    if let Some(invalidation) = key.invalidated_at {
        view.insert("invalidation".to_owned(), json!(invalidation));
    }
    view.insert("username".to_owned(), json!(key.username));
    view.insert("realm".to_owned(), json!("native"));
    view.insert("realm_type".to_owned(), json!("native"));
    let object = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    view.insert("metadata".to_owned(), object(&key.metadata));
    view.insert("role_descriptors".to_owned(), object(&key.role_descriptors));
    Value::Object(view)
}

pub(super) static INVALIDATE_BODY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("ids", maybe(array(string()))),
        ("id", maybe(string())),
        ("name", maybe(string())),
        ("username", maybe(string())),
        ("realm_name", maybe(string())),
        ("owner", boolean().default(false)),
    ])
});

pub async fn invalidate(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, EsError> {
    let body = INVALIDATE_BODY.validate(&body).map_err(|error| {
        EsError::bad_request(
            "x_content_parse_exception",
            format!("[invalidate_api_key] {error}"),
        )
    })?;
    let mut ids: Vec<String> = body["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|it| it.as_str().map(str::to_owned))
        .collect();
    if body["ids"].as_array().is_some_and(Vec::is_empty) {
        return Err(EsError::validation("Field [ids] cannot be an empty array"));
    }
    if let Some(id) = body["id"].as_str() {
        if body["ids"].is_array() {
            return Err(EsError::validation(
                "Must use either [id] or [ids], not both at the same time",
            ));
        }
        ids.push(id.to_owned());
    }
    let name = body["name"].as_str();
    let username = body["username"].as_str().or(body["realm_name"].as_str());
    let owner = body["owner"].as_bool() == Some(true);
    if ids.is_empty() && name.is_none() && username.is_none() && !owner {
        return Err(EsError::validation(
            "One of [api key id(s), api key name, username, realm name] must be specified if [owner] flag is false",
        ));
    }
    if !ids.is_empty() && name.is_some() {
        return Err(EsError::validation(
            "only one of [api key id(s), api key name] can be specified",
        ));
    }
    if (!ids.is_empty() || name.is_some()) && username.is_some() {
        return Err(EsError::validation(
            "username or realm name must not be specified when the api key id(s) or api key name are specified",
        ));
    }
    superuser_only(&caller, "cluster:admin/xpack/security/api_key/invalidate")?;
    let matching: Vec<ApiKeyRow> = state
        .security
        .api_keys()
        .await?
        .into_iter()
        // Elasticsearch looks only among keys not yet invalidated.
        .filter(|key| key.invalidated_at.is_none())
        .filter(|key| ids.is_empty() || ids.contains(&key.id))
        .filter(|key| name.is_none_or(|name| name_matches(name, &key.name)))
        .filter(|key| body["username"].as_str().is_none_or(|user| key.username == user))
        // Every user is in the one realm, `native`.
        .filter(|_| body["realm_name"].as_str().is_none_or(|realm| realm == "native"))
        .filter(|key| !owner || key.username == caller.0.username)
        .collect();
    let (invalidated, previously) = state.security.invalidate_api_keys(&matching).await?;
    if !invalidated.is_empty() {
        tracing::info!(api_key_ids = ?invalidated, by = %caller.0.username, "API keys invalidated.");
    }
    Ok(Json(json!({
        "invalidated_api_keys": invalidated,
        "previously_invalidated_api_keys": previously,
        "error_count": 0,
    })))
}
