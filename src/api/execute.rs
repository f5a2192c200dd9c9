//! `POST /api/actions/connector/{id}/_execute`: runs a connector now and answers with
//! Kibana's result object (200 even when the run fails).

use std::sync::LazyLock;

use axum::{Json, extract::State};

use super::{
    AppState,
    error::ApiError,
    extract::{ConnectorId, JsonBody, Space, check_body},
};
use crate::{
    executor::{self, ExecutionResult},
    schema::{Schema, any, object, record},
};

static EXECUTE_BODY: LazyLock<Schema> = LazyLock::new(|| object([("params", record(any()))]));

pub async fn execute(
    State(state): State<AppState>,
    Space(space): Space,
    ConnectorId(id): ConnectorId,
    JsonBody(body): JsonBody,
) -> Result<Json<ExecutionResult>, ApiError> {
    let body = check_body(&EXECUTE_BODY, &body)?;
    let result = executor::execute(&state.service, &space, &id, &body["params"]).await?;
    Ok(Json(result))
}
