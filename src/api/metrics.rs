//! `GET /metrics`: Prometheus text for any authenticated caller (the values are
//! counts, never ids or URLs).

use std::time::SystemTime;

use axum::{
    extract::State,
    http::{HeaderValue, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};

use super::{AppState, auth::Caller};
use crate::{metrics::QueueGauges, timestamp::epoch_millis};

pub async fn metrics(State(state): State<AppState>, _caller: Caller) -> Response {
    let now = epoch_millis(SystemTime::now());
    // The queue's gauges need the store; without it the rest is still served.
    let queue = match state.store.queue_state(now).await {
        Ok((queued, running, oldest)) => Some(QueueGauges {
            queued,
            running,
            lag_seconds: oldest.map_or(0.0, |due| (now - due).max(0) as f64 / 1000.0),
        }),
        Err(error) => {
            tracing::warn!(error = %crate::errors::chain(&error), "Metrics: cannot read the queue's state.");
            None
        }
    };
    let mut response = state.metrics.render(queue).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
