//! `GET /api/status`, shaped like Kibana's status API (v8 format): the overall level,
//! the version, and the store's state; 503 while the store cannot be reached.
//! Credentials are optional, as in Kibana: without valid ones only the level is
//! shown. Nothing of the configuration is in it.

use std::time::{Duration, SystemTime};

use axum::{
    Json,
    extract::{ConnectInfo, Request, State},
    http::{StatusCode, header::AUTHORIZATION},
};
use serde_json::{Value, json};

use super::AppState;
use crate::{listener::ClientAddr, store::StoreError};

/// How long the store may take to answer before it counts as unavailable.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn status(State(state): State<AppState>, request: Request) -> (StatusCode, Json<Value>) {
    let reachable = tokio::time::timeout(STORE_CHECK_TIMEOUT, state.store.ping())
        .await
        .unwrap_or(Err(StoreError::Locked("timed out".to_owned())));
    let (level, http_status) = match &reachable {
        Ok(()) => ("available", StatusCode::OK),
        Err(error) => {
            tracing::warn!(error = %crate::errors::chain(error), "Status: the store is unavailable.");
            ("unavailable", StatusCode::SERVICE_UNAVAILABLE)
        }
    };
    // Optional authentication, as Kibana's `authRequired: 'optional'`: wrong or
    // missing credentials are not refused, only shown less.
    let client = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|it| it.0.0.ip());
    let authenticated = match (request.headers().get(AUTHORIZATION), client) {
        _ if !state.security.enabled() => true,
        // Checking credentials needs the store: without it, the level alone.
        _ if reachable.is_err() => false,
        (Some(header), Some(client)) => state
            .security
            .authenticate(Some(header.as_bytes()), client)
            .await
            .is_ok(),
        _ => false,
    };
    if !authenticated {
        return (
            http_status,
            Json(json!({ "status": { "overall": { "level": level } } })),
        );
    }
    let backend = state.store.backend();
    let (summary, store_summary) = if reachable.is_ok() {
        (
            "All services are available".to_owned(),
            format!("The store ({backend}) is available"),
        )
    } else {
        (
            "Some services are unavailable".to_owned(),
            format!("The store ({backend}) cannot be reached"),
        )
    };
    let store = json!({ "level": level, "summary": store_summary, "meta": { "backend": backend } });
    let uptime = state.started.elapsed().as_millis() as u64;
    let body = json!({
        "name": "switchboard",
        "uuid": state.node_id,
        "version": {
            "number": env!("CARGO_PKG_VERSION"),
            "build_hash": "",
            "build_number": 0,
            "build_snapshot": false,
            "build_flavor": "traditional",
            "build_date": "",
        },
        "status": {
            "overall": { "level": level, "summary": summary },
            "core": {
                "elasticsearch": {
                    "level": "available",
                    "summary": "Not used: connectors are kept in the store",
                },
                "savedObjects": store.clone(),
            },
            "plugins": { "actions": store },
        },
        "metrics": {
            "last_updated": crate::timestamp::iso(SystemTime::now()),
            "collection_interval_in_millis": 0,
            "process": { "pid": std::process::id(), "uptime_in_millis": uptime },
        },
    });
    (http_status, Json(body))
}
