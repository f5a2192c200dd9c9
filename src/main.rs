//! The `switchboard` command.

use std::{error::Error, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use switchboard::{app::Application, settings::Settings, store::Store, telemetry};

mod admin;
mod connectors_cli;

#[derive(Parser)]
#[command(
    version,
    about = "A connector server, wire-compatible with Kibana's connector API"
)]
struct Cli {
    /// A YAML settings file with kibana.yml's key names.
    #[arg(long, env = "SWITCHBOARD_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve,
    /// Apply the database migrations this binary knows, then exit.
    Migrate,
    /// Manage users: add, passwd, roles, delete, list.
    #[command(subcommand)]
    Users(admin::UsersCommand),
    /// Manage roles: put, delete, list.
    #[command(subcommand)]
    Roles(admin::RolesCommand),
    /// Manage API keys: create, list, invalidate.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(admin::ApiKeysCommand),
    /// Work with a running server's connectors: list, get, create, update, delete,
    /// run, types. Credentials from SWITCHBOARD_USERNAME and SWITCHBOARD_PASSWORD, or
    /// SWITCHBOARD_API_KEY.
    Connectors(connectors_cli::ConnectorsArgs),
}

// The server allocates small, short-lived buffers on every request; mimalloc serves
// them measurably faster than glibc's malloc under load (see bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status for a configuration or start-up problem (sysexits' EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let Cli { config, command } = Cli::parse();
    // A client of a running server: no settings of its own.
    if let Command::Connectors(args) = command {
        return match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(connectors_cli::run(args)),
            Err(error) => fail(&error),
        };
    }
    let settings = match Settings::load(config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => return fail(&error),
    };
    telemetry::init(
        &settings.log_level,
        &settings.log_loggers,
        settings.log_json,
    );
    // Blocking threads run password hashes (7 MiB each) and certificate parsing; the
    // allocator returns a thread's memory when it ends, so idle ones end after a second.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    match command {
        Command::Serve => runtime.block_on(serve(settings)),
        Command::Migrate => runtime.block_on(migrate(settings)),
        Command::Users(command) => {
            runtime.block_on(admin::run(settings, admin::Command::Users(command)))
        }
        Command::Roles(command) => {
            runtime.block_on(admin::run(settings, admin::Command::Roles(command)))
        }
        Command::ApiKeys(command) => {
            runtime.block_on(admin::run(settings, admin::Command::ApiKeys(command)))
        }
        Command::Connectors(_) => unreachable!("handled before the settings are read"),
    }
}

async fn serve(settings: Settings) -> ExitCode {
    let mut application = match Application::build(settings).await {
        Ok(application) => application,
        Err(error) => return fail(&error),
    };
    if let Some(password) = application.take_generated_password() {
        // On stdout, once, and never through the log.
        println!(
            "\nCreated the superuser \"elastic\". Its password, shown only this once:\n\n    {password}\n\nTry: curl -u elastic:{password} {}://{}/api/actions/connectors\n",
            application.scheme(),
            application.local_addr()
        );
    }
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
pub(crate) fn fail(error: &dyn Error) -> ExitCode {
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
