//! Switchboard: a connector server wire-compatible with Kibana's Actions & Connectors API.

pub mod api;
pub mod app;
pub mod connector_types;
pub mod crypto;
pub mod errors;
pub mod execution_log;
pub mod executor;
pub mod listener;
pub mod metrics;
pub mod mustache;
pub mod queue;
pub mod schema;
pub mod security;
pub mod service;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod timestamp;
