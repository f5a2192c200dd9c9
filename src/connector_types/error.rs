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
    /// `None`: the user's (the executor's default for a connector's failure).
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

    /// Kibana's result for an executor that threw (how sub-action connectors report
    /// every remote failure): a generic message, the cause as the service message,
    /// `retry: true`.
    pub fn thrown(service_message: impl Into<String>) -> Self {
        Self::new("an error occurred while running the action")
            .with_service_message(service_message)
            .with_retry(Retry::Yes)
            .with_source(ErrorSource::Framework)
    }

    /// `<prefix>, retry at <time>` when `Retry-After` gives whole seconds, else
    /// `<prefix>, retry later` with `retry: true`: Kibana's answer to a 429.
    pub fn retry_later_or_at(prefix: &str, headers: &HeaderMap) -> Self {
        match retry_after_seconds(headers) {
            Some(delay) => {
                let at = SystemTime::now() + delay;
                Self::new(format!("{prefix}, retry at {}", crate::timestamp::iso(at)))
                    .with_retry(Retry::At(at))
            }
            None => Self::new(format!("{prefix}, retry later")).with_retry(Retry::Yes),
        }
    }

    /// Adds the service message only to a `retry at` result (Kibana's "retry later"
    /// results for some types carry none).
    pub fn with_service_message_when_dated(self, service_message: impl Into<String>) -> Self {
        match self.retry {
            Some(Retry::At(_)) => self.with_service_message(service_message),
            _ => self,
        }
    }

    pub fn with_source(mut self, source: ErrorSource) -> Self {
        self.error_source = Some(source);
        self
    }

    pub fn error_source(&self) -> Option<ErrorSource> {
        self.error_source
    }

    pub fn with_service_message(mut self, service_message: impl Into<String>) -> Self {
        self.service_message = Some(service_message.into());
        self
    }

    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Replaces every occurrence of the given secrets in the texts with `[redacted]`.
    /// Vendors sometimes echo what they were sent (a key, a header) in their errors.
    pub fn without_secrets(mut self, secrets: &[&str]) -> Self {
        let scrub = |text: &mut String| {
            for secret in secrets {
                if text.contains(secret) {
                    *text = text.replace(secret, "[redacted]");
                }
            }
        };
        scrub(&mut self.message);
        if let Some(service_message) = &mut self.service_message {
            scrub(service_message);
        }
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
}

/// The longest wait a `Retry-After` may ask for; longer ones are shortened to it, so a
/// hostile or broken service cannot push a retry past any representable time.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Reads `Retry-After` given as whole seconds, the only form Kibana's connectors honour.
pub fn retry_after_seconds(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_and_bounded() {
        let headers = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            headers
        };
        assert_eq!(
            retry_after_seconds(&headers("120")),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after_seconds(&headers("18446744073709551615")),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            retry_after_seconds(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(retry_after_seconds(&HeaderMap::new()), None);
    }
}
