//! The `switchboard` command.

use std::{error::Error, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use switchboard::{app::Application, settings::Settings, store::Store, telemetry};

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
    /// Run the HTTP server (applies pending migrations first).
    Serve {
        /// A YAML settings file with kibana.yml's key names.
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Apply the database migrations this binary knows, then exit.
    Migrate {
        /// A YAML settings file with kibana.yml's key names.
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: Option<PathBuf>,
    },
}

// The server allocates small, short-lived buffers on every request; mimalloc serves
// them measurably faster than glibc's malloc under load (see bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status for a configuration or start-up problem (sysexits' EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let Cli { command } = Cli::parse();
    let config = match &command {
        Command::Serve { config } | Command::Migrate { config } => config.clone(),
    };
    let settings = match Settings::load(config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => return fail(&error),
    };
    telemetry::init(&settings.log_level, settings.log_json);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    match command {
        Command::Serve { .. } => runtime.block_on(serve(settings)),
        Command::Migrate { .. } => runtime.block_on(migrate(settings)),
    }
}

async fn serve(settings: Settings) -> ExitCode {
    let application = match Application::build(settings).await {
        Ok(application) => application,
        Err(error) => return fail(&error),
    };
    match application.run_until(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("Server stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: Settings) -> ExitCode {
    if let Err(error) = std::fs::create_dir_all(&settings.data_dir) {
        return fail(&error);
    }
    match Store::open(&settings.database, &settings.data_dir).await {
        Ok(store) => {
            println!("switchboard: migrations applied ({}).", store.backend());
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

/// Prints an error with its causes on stderr and exits with the configuration status.
fn fail(error: &dyn Error) -> ExitCode {
    let message = switchboard::errors::chain(error);
    tracing::error!("Cannot start: {message}");
    eprintln!("switchboard: {message}");
    ExitCode::from(EXIT_CONFIG)
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
