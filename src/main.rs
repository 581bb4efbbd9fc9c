//! The `credit-ledger` binary: `serve`, `migrate`, and client commands for first calls.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use credit_ledger::client::{self, ClientArgs, ClientCommand};
use credit_ledger::clock::SystemClock;
use credit_ledger::config::Config;
use credit_ledger::server::{shutdown_signal, Application};
use credit_ledger::store::Store;

#[derive(Parser)]
#[command(
    name = "credit-ledger",
    version,
    about = "A prepaid credit ledger service"
)]
struct Cli {
    /// gRPC address of the server, for the client commands (default http://127.0.0.1:50051) and
    /// for `bench` to target instead of starting its own.
    #[arg(long, global = true, env = "CREDIT_LEDGER_SERVER")]
    server: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service (SQLite file credit-ledger.db by default).
    Serve {
        /// TOML file of settings; CREDIT_LEDGER_* environment variables override it.
        #[arg(long, env = "CREDIT_LEDGER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Apply the database migrations and exit.
    Migrate {
        #[arg(long, env = "CREDIT_LEDGER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check invariants 1, 3 and 6 over the whole database; exits non-zero on any violation.
    Verify {
        #[arg(long, env = "CREDIT_LEDGER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Load generator: runs scenarios against a fresh server and checks the books.
    Bench(credit_ledger::bench::BenchArgs),
    #[command(flatten)]
    Client(ClientCommand),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Serve { config } => {
            let config = Config::load(config.as_deref())?;
            init_tracing(&config.log_format);
            let app = Application::build(config, Arc::new(SystemClock)).await?;
            app.run_until_stopped(shutdown_signal()).await
        }
        Cmd::Migrate { config } => {
            let config = Config::load(config.as_deref())?;
            init_tracing(&config.log_format);
            let store =
                Store::connect(&config.database_url, 1, std::time::Duration::from_secs(10)).await?;
            store.migrate().await?;
            store.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Cmd::Verify { config } => {
            let config = Config::load(config.as_deref())?;
            init_tracing(&config.log_format);
            let timeout = std::time::Duration::from_millis(config.db_acquire_timeout_ms);
            let store = Store::connect(&config.database_url, 1, timeout).await?;
            let report = credit_ledger::journal::verify::verify(&store).await;
            store.close().await;
            let report = report?;
            println!("{report}");
            let violations = report.violations_total;
            anyhow::ensure!(violations == 0, "{violations} violation(s) found");
            Ok(())
        }
        Cmd::Bench(args) => credit_ledger::bench::run(args, cli.server).await,
        Cmd::Client(command) => {
            let server = cli
                .server
                .unwrap_or_else(|| "http://127.0.0.1:50051".to_string());
            client::run(ClientArgs { server, command }).await
        }
    }
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
