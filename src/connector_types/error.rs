//! What a connector run can end with besides success, in the terms of Kibana's
//! execution result (`message`, `serviceMessage`, `retry`, `errorSource`).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Whether running the same action again may help, as Kibana's `retry` field says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// `retry: false`: the error will not go away by itself.
    No,
    /// `retry: true`: try again on the normal backoff schedule.
    Yes,
    /// `retry: "<ISO time>"`: the service said when (`Retry-After`).
    At(SystemTime),
}

/// Who is to blame for a failure; Kibana reports it as `errorSource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    User,
    Framework,
}

impl ErrorSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Framework => "framework",
        }
    }
}

/// Why a connector run failed.
///
/// `message` is ours and safe to show; `service_message` is what the third party (or
/// the transport) said. Neither may contain a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ExecuteError {
    message: String,
    service_message: Option<String>,
    retry: Option<Retry>,
    error_source: Option<ErrorSource>,
}

impl ExecuteError {
    /// A failure that says nothing about retrying (Kibana leaves `retry` out).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            service_message: None,
            retry: None,
            error_source: None,
        }
    }

    pub fn with_service_message(mut self, service_message: impl Into<String>) -> Self {
        self.service_message = Some(service_message.into());
        self
    }

    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = Some(retry);
        self
    }

    pub fn with_error_source(mut self, error_source: ErrorSource) -> Self {
        self.error_source = Some(error_source);
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn service_message(&self) -> Option<&str> {
        self.service_message.as_deref()
    }

    pub fn retry(&self) -> Option<Retry> {
        self.retry
    }

    pub fn error_source(&self) -> Option<ErrorSource> {
        self.error_source
    }
}

/// Reads `Retry-After` given as whole seconds, the only form Kibana's connectors honour.
pub fn retry_after_seconds(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}
