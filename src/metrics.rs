//! Counters and latency histograms, served as Prometheus text (format 0.0.4) by
//! `GET /metrics`. Label values are bounded: route templates, connector types,
//! outcomes and error kinds, never ids or URLs.

use std::{collections::BTreeMap, fmt::Write, sync::Mutex, time::Duration};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative; the last is +Inf).
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.counts[bucket] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

/// Why an outbound call failed, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutboundErrorKind {
    /// Refused by `allowedHosts` or the private-address rule.
    NotAllowed,
    Timeout,
    Refused,
    Reset,
    Dns,
    Tls,
    Other,
}

impl OutboundErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::NotAllowed => "not_allowed",
            Self::Timeout => "timeout",
            Self::Refused => "refused",
            Self::Reset => "reset",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::Other => "other",
        }
    }
}

/// The queue's state at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueGauges {
    pub queued: i64,
    pub running: i64,
    /// How long the oldest due execution has waited, in seconds.
    pub lag_seconds: f64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// By (method, route template, status).
    http: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    /// By (connector type, source, outcome).
    executions: Mutex<BTreeMap<(String, &'static str, &'static str), Histogram>>,
    outbound_errors: Mutex<BTreeMap<OutboundErrorKind, u64>>,
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut http = self.http.lock().expect("never poisoned");
        http.entry((method.to_owned(), route.to_owned(), status))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    pub fn observe_execution(
        &self,
        type_id: &str,
        source: &'static str,
        succeeded: bool,
        elapsed: Duration,
    ) {
        let outcome = if succeeded { "success" } else { "failure" };
        let mut executions = self.executions.lock().expect("never poisoned");
        executions
            .entry((type_id.to_owned(), source, outcome))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    pub fn count_outbound_error(&self, kind: OutboundErrorKind) {
        *self
            .outbound_errors
            .lock()
            .expect("never poisoned")
            .entry(kind)
            .or_default() += 1;
    }

    /// Everything, in Prometheus's text format.
    pub fn render(&self, queue: Option<QueueGauges>) -> String {
        let mut out = String::with_capacity(4096);
        let http = self.http.lock().expect("never poisoned").clone();
        family(
            &mut out,
            "http_requests_total",
            "counter",
            "HTTP requests answered, by method, route and status.",
        );
        for ((method, route, status), histogram) in &http {
            let labels = labels(&[
                ("method", method),
                ("route", route),
                ("status", &status.to_string()),
            ]);
            let _ = writeln!(out, "http_requests_total{{{labels}}} {}", histogram.count);
        }
        family(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "Time to answer HTTP requests, by method, route and status.",
        );
        for ((method, route, status), histogram) in &http {
            let labels = labels(&[
                ("method", method),
                ("route", route),
                ("status", &status.to_string()),
            ]);
            write_histogram(
                &mut out,
                "http_request_duration_seconds",
                &labels,
                histogram,
            );
        }

        let executions = self.executions.lock().expect("never poisoned").clone();
        family(
            &mut out,
            "switchboard_executions_total",
            "counter",
            "Connector runs (attempts), by connector type, source and outcome.",
        );
        for ((type_id, source, outcome), histogram) in &executions {
            let labels = labels(&[
                ("connector_type", type_id),
                ("source", source),
                ("outcome", outcome),
            ]);
            let _ = writeln!(
                out,
                "switchboard_executions_total{{{labels}}} {}",
                histogram.count
            );
        }
        family(
            &mut out,
            "switchboard_execution_duration_seconds",
            "histogram",
            "Time connector runs take, by connector type, source and outcome.",
        );
        for ((type_id, source, outcome), histogram) in &executions {
            let labels = labels(&[
                ("connector_type", type_id),
                ("source", source),
                ("outcome", outcome),
            ]);
            write_histogram(
                &mut out,
                "switchboard_execution_duration_seconds",
                &labels,
                histogram,
            );
        }

        let errors = self.outbound_errors.lock().expect("never poisoned").clone();
        family(
            &mut out,
            "switchboard_outbound_errors_total",
            "counter",
            "Calls to third parties that got no answer, by kind.",
        );
        for (kind, count) in &errors {
            let _ = writeln!(
                out,
                "switchboard_outbound_errors_total{{kind=\"{}\"}} {count}",
                kind.as_str()
            );
        }

        if let Some(queue) = queue {
            family(
                &mut out,
                "switchboard_queue_depth",
                "gauge",
                "Queued executions waiting or running, across all nodes.",
            );
            let _ = writeln!(
                out,
                "switchboard_queue_depth{{state=\"queued\"}} {}",
                queue.queued
            );
            let _ = writeln!(
                out,
                "switchboard_queue_depth{{state=\"running\"}} {}",
                queue.running
            );
            family(
                &mut out,
                "switchboard_queue_lag_seconds",
                "gauge",
                "How long the oldest due queued execution has waited.",
            );
            let _ = writeln!(out, "switchboard_queue_lag_seconds {}", queue.lag_seconds);
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `a="x",b="y"`, values escaped as the format says.
fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{name}=\"{escaped}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn write_histogram(out: &mut String, name: &str, labels: &str, histogram: &Histogram) {
    let mut cumulative = 0;
    for (bound, count) in BUCKETS.iter().zip(&histogram.counts) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels},le=\"+Inf\"}} {}",
        histogram.count
    );
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", histogram.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", histogram.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets_sum_and_count() {
        let metrics = Metrics::default();
        metrics.observe_request("GET", "/api/status", 200, Duration::from_millis(3));
        metrics.observe_request("GET", "/api/status", 200, Duration::from_millis(30));
        metrics.observe_request("GET", "/api/status", 200, Duration::from_secs(20));
        let text = metrics.render(None);
        let lines: Vec<&str> = text.lines().collect();
        let labels = r#"method="GET",route="/api/status",status="200""#;
        assert!(lines.contains(&format!("http_requests_total{{{labels}}} 3").as_str()));
        for (bound, count) in [
            ("0.0025", 0),
            ("0.005", 1),
            ("0.05", 2),
            ("10", 2),
            ("+Inf", 3),
        ] {
            let line =
                format!("http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
            assert!(lines.contains(&line.as_str()), "{line} in {text}");
        }
        assert!(
            lines.contains(&format!("http_request_duration_seconds_count{{{labels}}} 3").as_str())
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(labels(&[("a", "x\"y\\z\n")]), r#"a="x\"y\\z\n""#);
    }
}
