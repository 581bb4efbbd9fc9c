//! The `credit-ledger` binary: `serve`, `migrate`, `verify`, `export`, `bench`, and client
//! commands for first calls.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use credit_ledger::client::{self, ClientArgs, ClientCommand};
use credit_ledger::clock::{truncate_micros, SystemClock};
use credit_ledger::config::{Config, DatabaseUrl, LogFormat};
use credit_ledger::journal::export::{ExportSpec, Format, GlCodes};
use credit_ledger::journal::exporter::export_to;
use credit_ledger::ledger::Book;
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
    /// Check invariants 1, 3, 6, 7 and 8 over the whole database, and the closed months'
    /// snapshots; exits non-zero on any violation.
    Verify {
        #[arg(long, env = "CREDIT_LEDGER_CONFIG")]
        config: Option<PathBuf>,
        /// Also recompute every closed month's snapshot from the journal.
        #[arg(long)]
        full: bool,
    },
    /// Close a month's books straight on the database: nothing more is booked effective in it
    /// (a late effect is booked at the start of the open period, its own time kept), and its
    /// snapshot lets reports start from it. Months close in order; closing a closed month again
    /// prints it.
    Close {
        #[arg(long, env = "CREDIT_LEDGER_CONFIG")]
        config: Option<PathBuf>,
        /// The month, YYYY-MM (UTC); it must have ended.
        #[arg(long, value_name = "YYYY-MM")]
        month: String,
    },
    /// Export one book's journal of an effective-time period [from, to) straight from the
    /// database (no server), as CSV or JSON Lines, to stdout or a file.
    Export(ExportArgs),
    /// What usage earned, cost upstream and left as margin in a period, per currency, by
    /// customer, by meter and by both, straight from the database (no server).
    Margin(MarginArgs),
    /// Create, list or revoke API keys, straight on the database (no server needed).
    Key {
        #[arg(long, env = "CREDIT_LEDGER_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: KeyCmd,
    },
    /// Publish price book versions from a file, and read them back, straight on the database.
    Rates {
        #[arg(long, env = "CREDIT_LEDGER_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: RatesCmd,
    },
    /// Load generator: runs scenarios against a fresh server and checks the books.
    Bench(credit_ledger::bench::BenchArgs),
    #[command(flatten)]
    Client(ClientCommand),
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create a key and print it. It is shown this once; the database keeps only its hash.
    Create {
        /// admin, gateway, billing, support, finance, reader or account.
        #[arg(long)]
        role: credit_ledger::auth::Role,
        /// Who or what holds it, e.g. edge-1.
        #[arg(long)]
        name: String,
        /// The account an account-scoped key may read (its id).
        #[arg(long)]
        account: Option<credit_ledger::ledger::AccountId>,
    },
    /// List every key: prefix, role, created, state, name, account.
    List,
    /// Revoke the key with this prefix; servers stop taking it within auth_refresh_ms.
    Revoke { prefix: String },
}

#[derive(Subcommand)]
enum RatesCmd {
    /// Publish the rates of a TOML or CSV file (see examples/rates.toml) as the book's next
    /// version. Publishing the same file again gets the same version back.
    Publish {
        #[arg(long, default_value = credit_ledger::ledger::rating::DEFAULT_BOOK)]
        book: String,
        #[arg(long)]
        file: PathBuf,
        /// When the version applies (RFC 3339); the file's effective_at, or now.
        #[arg(long, value_parser = parse_time)]
        effective_at: Option<DateTime<Utc>>,
        /// A meter (or meter/dimension) of the version in force to drop on purpose; repeat.
        #[arg(long)]
        retire: Vec<String>,
        /// The publish's idempotency key; by default the SHA-256 of the file and the options.
        #[arg(long)]
        key: Option<String>,
    },
    /// List the versions of every book (or of one).
    List {
        #[arg(long)]
        book: Option<String>,
    },
    /// Show a version's prices: the one in force now (or at --at), or --version N.
    Show {
        #[arg(long, default_value = credit_ledger::ledger::rating::DEFAULT_BOOK)]
        book: String,
        #[arg(long, conflicts_with = "at")]
        version: Option<u32>,
        #[arg(long, value_parser = parse_time)]
        at: Option<DateTime<Utc>>,
    },
}

#[derive(clap::Args)]
struct ExportArgs {
    /// TOML file of settings (for gl_codes and database_url); CREDIT_LEDGER_* override it.
    #[arg(long, env = "CREDIT_LEDGER_CONFIG")]
    config: Option<PathBuf>,
    /// The database to read; the configured database_url when not given.
    #[arg(long)]
    database_url: Option<String>,
    /// Start of the period (inclusive), RFC 3339, e.g. 2026-10-01T00:00:00Z. Without a period,
    /// the previous calendar month (UTC).
    #[arg(long, value_parser = parse_time, requires = "to", conflicts_with = "month")]
    from: Option<DateTime<Utc>>,
    /// End of the period (exclusive), RFC 3339.
    #[arg(long, value_parser = parse_time, requires = "from", conflicts_with = "month")]
    to: Option<DateTime<Utc>>,
    /// A calendar month (UTC) instead of --from/--to, e.g. 2026-10.
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    month: Option<(DateTime<Utc>, DateTime<Utc>)>,
    #[arg(long, value_enum, default_value_t = BookArg::Money)]
    book: BookArg,
    #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
    format: FormatArg,
    /// One net line per month × ledger account × currency, money rounded to the minor unit.
    #[arg(long)]
    summary: bool,
    /// With --summary: per customer (external id) too.
    #[arg(long)]
    by_customer: bool,
    /// Write here instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
struct MarginArgs {
    #[arg(long, env = "CREDIT_LEDGER_CONFIG")]
    config: Option<PathBuf>,
    /// A calendar month (UTC), e.g. 2026-10; the previous month when not given.
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    month: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BookArg {
    Money,
    Quantity,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Csv,
    Jsonl,
}

fn parse_month(s: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    credit_ledger::journal::month(s).ok_or_else(|| format!("not a month like 2026-10: {s:?}"))
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| truncate_micros(t.with_timezone(&Utc)))
        .map_err(|e| format!("not an RFC 3339 time ({e}): {s:?}"))
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let database_url = match args.database_url {
        Some(url) => DatabaseUrl::parse(&url)?,
        None => config.database_url,
    };
    let book = match args.book {
        BookArg::Money => Book::Money,
        BookArg::Quantity => Book::Quantity,
    };
    let format = match args.format {
        FormatArg::Csv => Format::Csv,
        FormatArg::Jsonl => Format::JsonLines,
    };
    let (from, to) = match (args.month, args.from, args.to) {
        (Some(month), _, _) => month,
        (None, Some(from), Some(to)) => (from, to),
        _ => credit_ledger::journal::previous_month(Utc::now()),
    };
    let spec = ExportSpec::new(from, to, book, format, args.summary, args.by_customer)?;
    let stats = export_to(
        &database_url,
        &spec,
        &GlCodes(config.gl_codes),
        args.output.as_deref(),
    )
    .await?;
    if args.output.is_some() {
        eprintln!(
            "exported {} lines of {} entries ({} bytes)",
            stats.rows, stats.entries, stats.bytes
        );
    }
    Ok(())
}

async fn margin(args: MarginArgs) -> anyhow::Result<()> {
    use credit_ledger::journal::margin::{margin_report, Margin};
    use credit_ledger::ledger::amount::canonical;

    let config = Config::load(args.config.as_deref())?;
    let timeout = std::time::Duration::from_millis(config.db_acquire_timeout_ms);
    let store = Store::connect(&config.database_url, 1, timeout).await?;
    let (from, to) = args
        .month
        .unwrap_or_else(|| credit_ledger::journal::previous_month(Utc::now()));
    let report = margin_report(&store, from, to).await;
    store.close().await;
    let line = |what: &str, m: &Margin| {
        let pct = m
            .margin_pct()
            .map_or("-".to_string(), |p| format!("{}%", canonical(p)));
        println!(
            "  {what:<40} {:>16} {:>16} {:>16} {:>9} {:>16}",
            canonical(m.revenue),
            canonical(m.cost),
            canonical(m.margin()),
            pct,
            canonical(m.promotional_cost)
        );
    };
    println!("margin of [{}, {})", from.to_rfc3339(), to.to_rfc3339());
    for currency in report? {
        println!(
            "{}\n  {:<40} {:>16} {:>16} {:>16} {:>9} {:>16}",
            currency.currency, "", "revenue", "cost", "margin", "margin %", "promotional cost"
        );
        line("total", &currency.total);
        for (meter, m) in &currency.by_meter {
            line(
                &format!("meter {}", if meter.is_empty() { "-" } else { meter }),
                m,
            );
        }
        for (customer, m) in &currency.by_customer {
            line(&format!("customer {}", customer.external_id), m);
        }
        for (customer, meter, m) in &currency.by_customer_and_meter {
            let meter = if meter.is_empty() { "-" } else { meter };
            line(&format!("{} / {meter}", customer.external_id), m);
        }
    }
    Ok(())
}

async fn key(config: Option<PathBuf>, command: KeyCmd) -> anyhow::Result<()> {
    use credit_ledger::keys;

    let config = Config::load(config.as_deref())?;
    let timeout = std::time::Duration::from_millis(config.db_acquire_timeout_ms);
    let store = Store::connect(&config.database_url, 1, timeout).await?;
    store.migrate().await?;
    let now = truncate_micros(Utc::now());
    let result = match command {
        KeyCmd::Create {
            role,
            name,
            account,
        } => keys::create(&store, role, &name, account, now)
            .await
            .map(|(key, secret)| {
                eprintln!(
                    "created {} ({}); the key is shown this once:",
                    key.prefix, key.role
                );
                println!("{}", secret.expose());
            }),
        KeyCmd::List => store.keys().await.map_err(Into::into).map(|all| {
            for key in &all {
                println!("{}", keys::line(key));
            }
        }),
        KeyCmd::Revoke { prefix } => keys::revoke(&store, &prefix, now).await,
    };
    store.close().await;
    Ok(result?)
}

async fn rates(config: Option<PathBuf>, command: RatesCmd) -> anyhow::Result<()> {
    use credit_ledger::ledger::rating::Catalog;
    use credit_ledger::rates;
    use sha2::Digest as _;

    let config = Config::load(config.as_deref())?;
    let timeout = std::time::Duration::from_millis(config.db_acquire_timeout_ms);
    let store = Store::connect(&config.database_url, 1, timeout).await?;
    store.migrate().await?;
    let now = truncate_micros(Utc::now());
    let result: anyhow::Result<()> = async {
        match command {
            RatesCmd::Publish {
                book,
                file,
                effective_at,
                retire,
                key,
            } => {
                let read = rates::read_file(&file)?;
                let mut retired = read.retired;
                for text in &retire {
                    retired.push(rates::retired(text)?);
                }
                let effective_at = effective_at.or(read.effective_at);
                let key = key.unwrap_or_else(|| {
                    let mut hash = sha2::Sha256::new();
                    hash.update(std::fs::read(&file).unwrap_or_default());
                    hash.update(format!("{book}\n{effective_at:?}\n{retire:?}"));
                    format!("file:{}", &hex::encode(hash.finalize())[..32])
                });
                let request = rates::Request {
                    book,
                    idempotency_key: key,
                    effective_at,
                    rates: read.rates,
                    retired,
                };
                let version = rates::publish(&store, request, now).await?;
                println!("{}", rates::line(&version));
            }
            RatesCmd::List { book } => {
                for version in store.price_versions().await? {
                    if book.as_ref().is_none_or(|b| *b == version.book) {
                        println!("{}", rates::line(&version));
                    }
                }
            }
            RatesCmd::Show { book, version, at } => {
                let mut catalog = Catalog::default();
                for v in store.price_versions().await? {
                    catalog.add(v);
                }
                let found = match version {
                    Some(number) => catalog.version(&book, number),
                    None => catalog.in_force(&book, at.unwrap_or(now)),
                };
                let found = found.ok_or_else(|| anyhow::anyhow!("no such version of {book:?}"))?;
                println!("{}", rates::shown(found));
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
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
            let telemetry =
                credit_ledger::telemetry::init(config.log_format, config.otlp_endpoint.as_deref())?;
            let app = Application::build(config, Arc::new(SystemClock)).await;
            let stopped = match app {
                Ok(app) => app.run_until_stopped(shutdown_signal()).await,
                Err(error) => Err(error),
            };
            telemetry.shutdown();
            stopped
        }
        Cmd::Migrate { config } => {
            let config = Config::load(config.as_deref())?;
            let _logs = init_tracing(config.log_format)?;
            let store =
                Store::connect(&config.database_url, 1, std::time::Duration::from_secs(10)).await?;
            store.migrate().await?;
            store.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Cmd::Verify { config, full } => {
            let config = Config::load(config.as_deref())?;
            let _logs = init_tracing(config.log_format)?;
            let timeout = std::time::Duration::from_millis(config.db_acquire_timeout_ms);
            let store = Store::connect(&config.database_url, 1, timeout).await?;
            let report = credit_ledger::journal::verify::verify_with(&store, full).await;
            store.close().await;
            let report = report?;
            println!("{report}");
            let violations = report.violations_total;
            anyhow::ensure!(violations == 0, "{violations} violation(s) found");
            Ok(())
        }
        Cmd::Close { config, month } => {
            let config = Config::load(config.as_deref())?;
            let _logs = init_tracing(config.log_format)?;
            let timeout = std::time::Duration::from_millis(config.db_acquire_timeout_ms);
            let store = Store::connect(&config.database_url, 2, timeout).await?;
            let closed =
                credit_ledger::journal::close::close_month(&store, &month, chrono::Utc::now())
                    .await;
            store.close().await;
            let closed = closed?;
            println!("period:       {}", closed.period);
            println!("closed up to: {}", closed.end.to_rfc3339());
            println!("closed at:    {}", closed.closed_at.to_rfc3339());
            println!("lines:        {}", closed.lines);
            println!("last entry:   {} ({})", closed.last_seq, closed.last_hash);
            println!("hash:         {}", closed.hash);
            Ok(())
        }
        Cmd::Export(args) => export(args).await,
        Cmd::Margin(args) => margin(args).await,
        Cmd::Key { config, command } => key(config, command).await,
        Cmd::Rates { config, command } => rates(config, command).await,
        Cmd::Bench(args) => credit_ledger::bench::run(args, cli.server).await,
        Cmd::Client(command) => {
            let server = cli
                .server
                .unwrap_or_else(|| "http://127.0.0.1:50051".to_string());
            client::run(ClientArgs { server, command }).await
        }
    }
}

fn init_tracing(format: LogFormat) -> anyhow::Result<credit_ledger::telemetry::Telemetry> {
    credit_ledger::telemetry::init(format, None)
}
