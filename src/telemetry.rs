//! Logging: human-readable lines by default, JSON with `logging.json: true`.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber. Call once, from `main`.
///
/// `logging.root.level` applies to Switchboard's own lines. Libraries log at warn
/// and above whatever the level (their debug output can show request details), but
/// at `all`, which is for debugging the server itself.
pub fn init(level: &str, json: bool) {
    let filter = match level {
        "all" => "trace".to_owned(),
        "fatal" => "warn,switchboard=error".to_owned(),
        other => format!("warn,switchboard={other}"),
    };
    let builder = fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_writer(std::io::stdout);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
