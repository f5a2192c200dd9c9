//! `POST /api/actions/connector/{id}/_execute`: runs a connector now and answers with
//! Kibana's result object (200 even when the run fails).

use std::sync::LazyLock;

use axum::{Json, extract::State};

use super::{
    AppState,
    auth::Caller,
    error::ApiError,
    extract::{ConnectorId, JsonBody, Space, check_body},
};
use crate::{
    executor::{self, ExecutionResult},
    schema::{Schema, any, object, record},
    security::Operation,
};

static EXECUTE_BODY: LazyLock<Schema> = LazyLock::new(|| object([("params", record(any()))]));

pub async fn execute(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    ConnectorId(id): ConnectorId,
    JsonBody(body): JsonBody,
) -> Result<Json<ExecutionResult>, ApiError> {
    let body = check_body(&EXECUTE_BODY, &body)?;
    if !caller.0.may(&space, Operation::Execute) {
        // Kibana names the connector's type in the refusal when it can find it.
        let type_id = state.service.type_of(&space, &id).await;
        return Err(ApiError::Forbidden(
            Operation::Execute.refusal(type_id.as_deref()),
        ));
    }
    let result = executor::execute(
        &state.service,
        &space,
        &id,
        &body["params"],
        caller.0.as_ref(),
    )
    .await?;
    Ok(Json(result))
}
