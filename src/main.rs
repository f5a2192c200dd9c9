//! The `switchboard` command.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use switchboard::{app::Application, settings::Settings, telemetry};

#[derive(Parser)]
#[command(
    version,
    about = "A connector server, wire-compatible with Kibana's connector API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// A YAML settings file with kibana.yml's key names.
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let Cli { command } = Cli::parse();
    match command {
        Command::Serve { config } => serve(config),
    }
}

fn serve(config: Option<PathBuf>) -> ExitCode {
    let settings = match Settings::load(config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("switchboard: {error}");
            return ExitCode::from(78);
        }
    };
    telemetry::init(&settings.log_level, settings.log_json);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("switchboard: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let application = match Application::build(settings).await {
            Ok(application) => application,
            Err(error) => {
                tracing::error!("Cannot start: {error}");
                eprintln!("switchboard: {error}");
                return ExitCode::from(78);
            }
        };
        match application.run_until(shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!("Server stopped: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("Shutting down.");
}
