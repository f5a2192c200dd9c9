//! The one integration-test binary: every test here talks HTTP to a real server
//! started on a loopback port, and to loopback fakes of the vendors.

// The tests are the API's clients: the shared-client rule is for the server's egress.
#![allow(clippy::disallowed_methods)]

mod support;

mod api_keys;
mod architecture;
mod automation;
mod bedrock;
mod cases_webhook;
mod chat;
mod cli;
mod connector_types_api;
mod connectors_api;
mod console;
mod crowdstrike;
mod egress;
mod email;
mod execute_index;
mod execute_server_log;
mod execute_webhook;
mod faults;
mod gemini;
mod gen_ai;
mod https;
mod itsm_seeds;
mod jira;
mod nodes;
mod openapi;
mod operability;
mod paging;
mod persistence;
mod preconfigured;
mod queue;
mod queue_shutdown;
mod readme;
mod request_rules;
mod resilient;
mod security;
mod sentinelone;
mod servicenow;
mod spaces;
mod startup;
mod store;
mod swimlane;
mod thehive;
mod tls;
