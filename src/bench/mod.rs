//! `credit-ledger bench`: the load generator. Each scenario gets a fresh database and its own
//! `credit-ledger serve` process (or goes to `--server`), runs for a warm-up and a measured
//! window, prints throughput and latency, and ends by checking the books.

mod load;
mod naive;
mod probe;
mod report;
mod scale;
mod scenarios;
mod target;
mod tls;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use rust_decimal::Decimal;

use load::{Picker, Timing};
use report::{Report, Settings};
use scenarios::{Ledger, Load};
use target::{FreshDatabase, ServerProcess};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Scenarios, comma-separated, run one after the other in this run: ping, debit-hot,
    /// debit-hot-rated, debit-hot-budgets, debit-hot-velocity, debit-spread, authorize-capture-hot,
    /// authorize-capture-rated, naive-sql, scale. The rated ones send usage in tokens, rated by a price
    /// version published first, and charge the same amount per call as their unrated twins;
    /// debit-hot-budgets names a subject with a hard budget on each of its three levels;
    /// debit-hot-velocity names one with a velocity limit (amount and requests per 60 s);
    /// scale builds stores of `--entries` and times month-end on each (no server).
    #[arg(long, default_value = "debit-hot")]
    pub scenario: String,
    /// `sqlite` for a fresh SQLite file, or a postgres:// URL of a server to create a fresh
    /// database on (naive-sql always needs PostgreSQL).
    #[arg(long, default_value = "sqlite")]
    pub database_url: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// HTTP/2 connections the requests are spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    #[arg(long, default_value_t = 2.0)]
    pub warmup_s: f64,
    /// Accounts for debit-spread (default 10000) and scale (default 100); the hot scenarios
    /// use one.
    #[arg(long)]
    pub accounts: Option<usize>,
    /// uniform or zipfian, for debit-spread.
    #[arg(long, default_value = "uniform")]
    pub distribution: String,
    #[arg(long, default_value = "0.01")]
    pub amount: String,
    /// Print one JSON object per scenario instead of the table.
    #[arg(long)]
    pub json: bool,
    /// The API key to send on every call, for a `--server` that requires one.
    #[arg(long, env = "CREDIT_LEDGER_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The bench's own server requires API keys: an admin key is made in its fresh database
    /// before it starts, and sent on every call.
    #[arg(long)]
    pub auth: bool,
    /// The bench's own server serves Prometheus metrics (on a free local port).
    #[arg(long)]
    pub metrics: bool,
    /// The bench's own server speaks TLS, with a certificate made for the run.
    #[arg(long)]
    pub tls: bool,
    /// For scale: the sizes of store to build, in entries, comma-separated. Each holds
    /// `--recent` entries in its open month and the rest in ten closed months before it.
    #[arg(long, default_value = "10000,1000000")]
    pub entries: String,
    /// For scale: the entries in the open month, the same on every store.
    #[arg(long, default_value_t = 10_000)]
    pub recent: u64,
    /// For scale: leave each store in place (its URL is printed) instead of dropping it.
    #[arg(long)]
    pub keep_databases: bool,
}

const SCENARIOS: [&str; 10] = [
    "ping",
    "debit-hot",
    "debit-hot-rated",
    "debit-hot-budgets",
    "debit-hot-velocity",
    "debit-spread",
    "authorize-capture-hot",
    "authorize-capture-rated",
    "naive-sql",
    "scale",
];

pub async fn run(args: BenchArgs, server: Option<String>) -> anyhow::Result<()> {
    let scenarios: Vec<&str> = args.scenario.split(',').map(str::trim).collect();
    if let Some(unknown) = scenarios.iter().find(|s| !SCENARIOS.contains(s)) {
        bail!(
            "unknown scenario {unknown:?}; choose from {}",
            SCENARIOS.join(", ")
        );
    }
    if !matches!(args.distribution.as_str(), "uniform" | "zipfian") {
        bail!("--distribution must be uniform or zipfian");
    }
    let amount: Decimal = args.amount.parse().context("--amount")?;
    if amount <= Decimal::ZERO || args.concurrency == 0 || args.connections == 0 {
        bail!("--amount, --concurrency and --connections must be positive");
    }
    let mut reports = Vec::new();
    for scenario in scenarios {
        if scenario == "scale" {
            scale::run(&args).await?;
            continue;
        }
        let report = run_scenario(&args, scenario, server.as_deref()).await?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        }
        reports.push(report);
    }
    // `scale` prints tables of its own.
    if !args.json && !reports.is_empty() {
        report::print_table(&reports);
    }
    Ok(())
}

fn accounts_for(args: &BenchArgs, scenario: &str) -> usize {
    match scenario {
        "debit-spread" => args.accounts.unwrap_or(10_000),
        "naive-sql" => args.accounts.unwrap_or(1),
        _ => 1,
    }
}

async fn run_scenario(
    args: &BenchArgs,
    scenario: &str,
    server: Option<&str>,
) -> anyhow::Result<Report> {
    let timing = Timing {
        warmup: Duration::from_secs_f64(args.warmup_s),
        duration: Duration::from_secs_f64(args.duration_s),
    };
    let accounts = accounts_for(args, scenario);
    let database = match server {
        Some(_) if scenario != "naive-sql" => None,
        _ => Some(FreshDatabase::create(&args.database_url).await?),
    };
    let mut store = database.as_ref().map_or("remote", |d| d.store).to_string();
    if server.is_none() && scenario != "naive-sql" {
        if args.auth {
            store.push_str("+auth");
        }
        if args.metrics {
            store.push_str("+metrics");
        }
        if args.tls {
            store.push_str("+tls");
        }
    }
    let settings = Settings {
        scenario: scenario.to_string(),
        store,
        concurrency: args.concurrency,
        connections: args.connections,
        duration_s: args.duration_s,
        warmup_s: args.warmup_s,
        accounts,
        distribution: args.distribution.clone(),
        amount: args.amount.clone(),
    };
    eprintln!(
        "bench: {scenario} on {} ({accounts} accounts)…",
        settings.store
    );
    let result = if scenario == "naive-sql" {
        let database = database.as_ref().context("naive-sql needs a database")?;
        naive_sql(args, &database.url, accounts, timing, settings).await
    } else {
        served(
            args,
            scenario,
            database.as_ref().map(|d| d.url.as_str()),
            server,
            timing,
            settings,
        )
        .await
    };
    if let Some(database) = database {
        database.drop_database().await?;
    }
    result
}

async fn served(
    args: &BenchArgs,
    scenario: &str,
    database_url: Option<&str>,
    server: Option<&str>,
    timing: Timing,
    settings: Settings,
) -> anyhow::Result<Report> {
    let mut key = args.api_key.clone();
    let mut env = Vec::new();
    if args.metrics {
        env.push(("metrics_listen_addr", "127.0.0.1:0".to_string()));
    }
    if let (true, Some(url)) = (args.auth, database_url) {
        key = Some(admin_key(url).await?);
        env.push(("auth", "required".to_string()));
    }
    let tls = match (args.tls, database_url) {
        (true, Some(_)) => Some(tls::BenchTls::generate()?),
        _ => None,
    };
    if let Some(tls) = &tls {
        env.extend(tls.server_settings()?);
    }
    let client_tls = tls.as_ref().map(tls::BenchTls::client);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let process = match database_url {
        Some(url) => Some(ServerProcess::start(url, &env, client_tls.clone()).await?),
        None => None,
    };
    let url = process
        .as_ref()
        .map_or_else(|| server.unwrap_or_default().to_string(), |p| p.url.clone());
    let client = Client {
        key: key.as_deref(),
        tls: client_tls,
    };
    let outcome = measure(args, scenario, &url, &client, timing, settings).await;
    let rss = process.as_ref().and_then(ServerProcess::peak_rss_mb);
    let counts = match process {
        Some(process) => process.stop()?,
        None => None,
    };
    let mut report = outcome?;
    report.server_peak_rss_mb = rss;
    report.server = counts;
    // The server's sessions have ended, so the database's statistics are complete.
    if let (Some(url), Some(counts)) = (database_url, counts) {
        if url.starts_with("postgres") && counts.commands > 0 {
            let rows = crate::store::admin::postgres_rows_written(url).await?;
            report.rows_per_command = Some(rows as f64 / counts.commands as f64);
        }
    }
    Ok(report)
}

/// Makes an admin key in the scenario's fresh database, before its server starts.
async fn admin_key(database_url: &str) -> anyhow::Result<String> {
    let url = crate::config::DatabaseUrl::parse(database_url)?;
    let store = crate::store::Store::connect(&url, 1, Duration::from_secs(10)).await?;
    store.migrate().await?;
    let now = crate::clock::truncate_micros(chrono::Utc::now());
    let made = crate::keys::create(&store, crate::auth::Role::Admin, "bench", None, now).await;
    store.close().await;
    Ok(made?.1.expose().to_string())
}

/// How the bench's clients call: with which key, over TLS or not.
pub struct Client<'a> {
    pub key: Option<&'a str>,
    pub tls: Option<tonic::transport::ClientTlsConfig>,
}

async fn measure(
    args: &BenchArgs,
    scenario: &str,
    url: &str,
    client: &Client<'_>,
    timing: Timing,
    settings: Settings,
) -> anyhow::Result<Report> {
    let channels = scenarios::channels(url, args.connections, client).await?;
    if scenario == "ping" {
        let idle = tokio::spawn(probe::cpu_idle_during(timing.warmup, timing.duration));
        let tally = scenarios::ping(channels, args.concurrency, timing).await;
        let mut report = Report::new(settings, &tally, timing.duration);
        report.cpu_idle_pct = idle.await.ok().flatten();
        report.books = "n/a".into();
        return Ok(report);
    }
    let run = format!("b{}", uuid::Uuid::new_v4().simple());
    let accounts = Arc::new(scenarios::seed(&channels, settings.accounts, &run).await?);
    let rated = scenario.ends_with("-rated");
    if rated {
        scenarios::publish_prices(channels[0].clone(), &args.amount, &run).await?;
    }
    let budgeted = scenario == "debit-hot-budgets";
    if budgeted {
        scenarios::budget_path(channels[0].clone(), &accounts, &run).await?;
    }
    let limited = scenario == "debit-hot-velocity";
    if limited {
        scenarios::velocity_limit(channels[0].clone(), &accounts, &run).await?;
    }
    let load = Load {
        channels: channels.clone(),
        accounts: accounts.clone(),
        picker: Arc::new(Picker::new(accounts.len(), args.distribution == "zipfian")),
        amount: args.amount.clone(),
        concurrency: args.concurrency,
        timing,
        run,
        rated,
        subject: match budgeted || limited {
            true => scenarios::BUDGETED_SUBJECT.into(),
            false => String::new(),
        },
    };
    let ledger = Ledger::new(accounts.len());
    let idle = tokio::spawn(probe::cpu_idle_during(timing.warmup, timing.duration));
    let tally = match scenario {
        "authorize-capture-hot" | "authorize-capture-rated" => {
            scenarios::authorize_capture(&load, ledger.clone()).await
        }
        _ => scenarios::debit(&load, ledger.clone()).await,
    };
    let mut report = Report::new(settings, &tally, timing.duration);
    report.cpu_idle_pct = idle.await.ok().flatten();
    report.books =
        scenarios::check_books(channels[0].clone(), &accounts, &ledger, &args.amount).await?;
    Ok(report)
}

async fn naive_sql(
    args: &BenchArgs,
    url: &str,
    accounts: usize,
    timing: Timing,
    settings: Settings,
) -> anyhow::Result<Report> {
    if !url.starts_with("postgres") {
        bail!("naive-sql runs on PostgreSQL: pass --database-url postgres://…");
    }
    let connections = args.concurrency.clamp(1, 90) as u32;
    let amount: rust_decimal::Decimal = args.amount.parse().context("--amount")?;
    let ledger = naive::setup(url, accounts, connections).await?;
    let acked = Arc::new(
        (0..accounts)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect::<Vec<_>>(),
    );
    let picker = Arc::new(Picker::new(accounts, args.distribution == "zipfian"));
    let idle = tokio::spawn(probe::cpu_idle_during(timing.warmup, timing.duration));
    let tally = naive::run(
        ledger.clone(),
        picker,
        acked.clone(),
        amount,
        args.concurrency,
        timing,
    )
    .await;
    let mut report = Report::new(settings, &tally, timing.duration);
    report.cpu_idle_pct = idle.await.ok().flatten();
    report.books = naive::check_books(&ledger, &acked, amount).await?;
    ledger.close().await;
    let debits: u64 = acked.iter().map(|a| a.load(Ordering::Relaxed)).sum();
    if debits > 0 {
        let rows = crate::store::admin::postgres_rows_written(url).await?;
        report.rows_per_command = Some(rows as f64 / debits as f64);
    }
    Ok(report)
}
