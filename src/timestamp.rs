//! Timestamps in the one format Kibana writes them: ISO 8601 in UTC with milliseconds
//! (JavaScript's `Date.prototype.toISOString`).

use std::time::SystemTime;

use time::{OffsetDateTime, format_description::FormatItem, macros::format_description};

const ISO: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `2024-05-01T12:00:00.000Z`.
pub fn iso(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(ISO)
        .expect("formatting a UTC time with a fixed description cannot fail")
}

/// Milliseconds since the Unix epoch, as Elasticsearch writes times in its APIs.
pub fn epoch_millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |it| i64::try_from(it.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_like_javascript() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(iso(at), "2023-11-14T22:13:20.123Z");
    }
}
