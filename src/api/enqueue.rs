//! `POST /api/actions/connector/{id}/_enqueue` and `POST /api/actions/_bulk_enqueue`:
//! Switchboard's own routes to run connectors later, durably, with retries. The
//! execution is stored before the 202 answer.

use std::sync::LazyLock;

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::{
    AppState,
    auth::Caller,
    error::ApiError,
    extract::{ConnectorId, JsonBody, Space, check_body},
};
use crate::{
    queue::{EnqueueRequest, QueueError},
    schema::{Schema, SchemaError, any, array, maybe, object, record, string},
    security::Operation,
};

/// The most executions one bulk request may queue.
const BULK_MAX: usize = 1000;

fn idempotency_key() -> Schema {
    maybe(string().min_length(1).max_length(256))
}

pub(super) static ENQUEUE_BODY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("params", record(any())),
        ("idempotency_key", idempotency_key()),
    ])
});

pub(super) static BULK_BODY: LazyLock<Schema> = LazyLock::new(|| {
    object([(
        "executions",
        array(object([
            ("connector_id", string().min_length(1)),
            ("params", record(any())),
            ("idempotency_key", idempotency_key()),
        ]))
        .max_size(BULK_MAX),
    )])
});

fn request_of(connector_id: String, item: &Value) -> EnqueueRequest {
    EnqueueRequest {
        connector_id,
        params: item["params"].clone(),
        idempotency_key: item["idempotency_key"].as_str().map(str::to_owned),
    }
}

impl From<QueueError> for ApiError {
    fn from(error: QueueError) -> Self {
        match error {
            QueueError::Service(error) => Self::Service(error),
            QueueError::Full { .. } => Self::TooManyRequests(error.to_string()),
            QueueError::Store(error) => Self::Store(error),
        }
    }
}

pub async fn enqueue(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    ConnectorId(id): ConnectorId,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = check_body(&ENQUEUE_BODY, &body)?;
    caller.authorize_execute(&state, &space, &id).await?;
    let ids = state
        .queue
        .enqueue(&space, &caller.requester(), vec![request_of(id, &body)])
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "execution_id": ids[0] })),
    ))
}

pub async fn bulk_enqueue(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = check_body(&BULK_BODY, &body)?;
    if body["executions"].as_array().is_some_and(Vec::is_empty) {
        return Err(ApiError::Invalid(
            SchemaError::new(
                &["executions".to_owned()],
                "array size is [0], but cannot be smaller than [1]",
            )
            .in_namespace("request body"),
        ));
    }
    caller.authorize(&space, Operation::Execute, None)?;
    let items = body["executions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            request_of(
                item["connector_id"].as_str().unwrap_or_default().to_owned(),
                item,
            )
        })
        .collect();
    let ids = state
        .queue
        .enqueue(&space, &caller.requester(), items)
        .await?;
    let executions: Vec<Value> = ids
        .into_iter()
        .map(|id| json!({ "execution_id": id }))
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "executions": executions })),
    ))
}
