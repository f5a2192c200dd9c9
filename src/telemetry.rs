//! Logging: human-readable lines by default, JSON with `logging.json: true`.
//! `RUST_LOG` overrides the level for debugging.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber. Call once, from `main`.
pub fn init(level: &str, json: bool) {
    let level = match level {
        "all" => "trace",
        "fatal" => "error",
        other => other,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_writer(std::io::stdout);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
