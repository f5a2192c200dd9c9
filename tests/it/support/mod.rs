//! Test support: the server started in-process on port 0, the server started as a
//! process, and loopback fakes for the services connectors call.

pub mod app;
pub mod database;
pub mod fake;
pub mod pki;
pub mod process;
pub mod proxy;
pub mod smtp;

pub use self::{
    app::{TestApp, TestResponse},
    fake::{FakeServer, Reply, closed_port},
};
