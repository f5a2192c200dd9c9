//! `POST /api/actions/connector/{id}/_execute`: runs a connector now and answers with
//! Kibana's result object (200 even when the run fails). The run is logged; its
//! execution id is in the `x-execution-id` header, for `GET /api/actions/executions/{id}`.

use std::sync::LazyLock;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue},
};

use super::{
    AppState,
    auth::Caller,
    error::ApiError,
    extract::{ConnectorId, JsonBody, Space, check_body},
};
use crate::{
    execution_log::{self, Attempt, Source},
    executor::{self, ExecutionResult},
    schema::{Schema, any, object, record},
};

pub(super) static EXECUTE_BODY: LazyLock<Schema> =
    LazyLock::new(|| object([("params", record(any()))]));

pub async fn execute(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    ConnectorId(id): ConnectorId,
    JsonBody(body): JsonBody,
) -> Result<(HeaderMap, Json<ExecutionResult>), ApiError> {
    let body = check_body(&EXECUTE_BODY, &body)?;
    caller.authorize_execute(&state, &space, &id).await?;
    let run = executor::run(
        &state.service,
        &space,
        &id,
        &body["params"],
        caller.0.as_ref(),
    )
    .await?;
    state.metrics.observe_execution(
        &run.type_id,
        Source::HttpRequest.as_str(),
        run.result.status == executor::Status::Ok,
        run.duration,
    );
    let execution_id = uuid::Uuid::new_v4().to_string();
    let requester = caller.requester();
    state.recorder.log(execution_log::entry(
        &Attempt {
            execution_id: &execution_id,
            number: 1,
            space_id: &space,
            connector_id: &id,
            source: Source::HttpRequest,
            schedule_delay: None,
            requester: &requester,
        },
        &run,
    ));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&execution_id) {
        headers.insert("x-execution-id", value);
    }
    Ok((headers, Json(run.result)))
}
