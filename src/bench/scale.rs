//! The `scale` scenario: what month-end costs as the journal grows. For each size N it builds a
//! fresh store in-process (no server): N − recent entries of history spread over ten months,
//! every one of those months closed, then the same `--recent` entries in the open month. It
//! times the reports, the default verify and the open month's detail export on that store, and
//! prints each against the store that holds only the recent entries, as ratios of one run.
//!
//! Seeding goes through the real engine and batch writer, with a manual clock walking through
//! the months: commands are submitted a few thousand at a time to an in-process executor that
//! writes batches of up to 4096 commands. Every entry is an ordinary debit on one of
//! `--accounts` accounts, each topped up once in the first month.
//!
//! Once seeded, a store is brought to the state one that grew to that size over months would be
//! in, so the timings do not compete with the seed's own aftermath: PostgreSQL's is vacuumed and
//! analysed (`VACUUM ANALYZE`, as autovacuum would have) and checkpointed (the seed's gigabyte
//! of dirty pages flushed), SQLite's write-ahead log checkpointed into the database file.
//!
//! It also times the detail export of the whole journal, run as a `credit-ledger export` child
//! process, beside the database's own export of the columns it reads (`COPY (SELECT …) TO
//! STDOUT` through psql, a plain `SELECT` through the sqlite3 shell), and reads the export's
//! peak memory.

use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::{DateTime, TimeZone, Utc};
use futures::future::join_all;
use serde::Serialize;

use super::target::FreshDatabase;
use super::BenchArgs;
use crate::clock::ManualClock;
use crate::config::DatabaseUrl;
use crate::executor::{Executor, ExecutorConfig};
use crate::journal::export::rfc3339;
use crate::journal::{close, margin, revenue, trial_balance, verify};
use crate::ledger::{
    AccountId, Command, CreateAccount, Debit, Grant, LotKind, LowBalance, Money, Outcome, Quantity,
};
use crate::metrics::Metrics;
use crate::store::{EntryFilter, Store};

/// The months of history before the open one; every one of them is closed.
const HISTORY_MONTHS: u32 = 10;
/// Commands submitted at once while seeding.
const SEED_WAVE: usize = 8_192;
/// Each timing is the median of this many runs.
const RUNS: usize = 5;

/// What one store measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub store: String,
    /// Entries stored in all.
    pub entries: u64,
    /// Entries effective in the open month.
    pub open_entries: u64,
    pub seed_s: f64,
    /// Closing the last month of history (none when the store has no history).
    pub close_last_month_ms: Option<f64>,
    pub trial_balance_ms: f64,
    pub revenue_report_ms: f64,
    pub margin_report_ms: f64,
    pub verify_ms: f64,
    pub export_open_month_ms: f64,
    pub export_all: ExportRate,
}

/// The whole journal's detail export beside the database's own export of what it reads.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRate {
    pub entries: u64,
    pub lines: u64,
    pub export_ms: f64,
    /// The database's own: psql's COPY, or the sqlite3 shell.
    pub database_ms: f64,
    /// `database_ms / export_ms`: the export's rate as a share of the database's (target ≥ 0.5).
    pub rate_vs_database: f64,
    pub export_peak_rss_mb: Option<f64>,
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let sizes: Vec<u64> = (args.entries.split(','))
        .map(|s| s.trim().replace('_', "").parse::<u64>())
        .collect::<Result<_, _>>()
        .context("--entries: sizes like 10000,1000000")?;
    let recent = args.recent;
    let accounts = args.accounts.unwrap_or(100);
    if recent == 0 || accounts == 0 || sizes.iter().any(|n| *n < recent) {
        bail!("--recent and --accounts must be positive, and every --entries at least --recent");
    }
    let mut reports = Vec::new();
    for n in sizes {
        let database = FreshDatabase::create(&args.database_url).await?;
        eprintln!(
            "bench: scale on {} with {n} entries ({recent} in the open month)…",
            database.store
        );
        let report = measure(&database, n - recent, recent, accounts).await;
        match args.keep_databases {
            true => eprintln!("bench: kept {}", database.url),
            false => database.drop_database().await?,
        }
        let report = report?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        }
        reports.push(report);
    }
    if !args.json {
        print(&reports);
    }
    Ok(())
}

/// The first of the month `months` after January 2025: history starts there.
fn month_start(months: u32) -> DateTime<Utc> {
    let (year, month) = (2025 + (months / 12) as i32, months % 12 + 1);
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists")
}

async fn measure(
    database: &FreshDatabase,
    history: u64,
    recent: u64,
    accounts: usize,
) -> anyhow::Result<ScaleReport> {
    let url = DatabaseUrl::parse(&database.url)?;
    let store = Store::connect(&url, 4, Duration::from_secs(30)).await?;
    store.migrate().await?;
    let clock = ManualClock::new(month_start(0) + chrono::Duration::hours(1));
    let (executor, drained) = Executor::spawn(
        store.clone(),
        Arc::new(clock.clone()),
        ExecutorConfig {
            queue_capacity: SEED_WAVE * 2,
            batch_size_max: 4_096,
            workers: match database.store {
                "postgres" => 2,
                _ => 1,
            },
            linger: Duration::from_micros(200),
            limits: Default::default(),
            prices: Default::default(),
        },
        Arc::new(Metrics::new()),
    );
    let seeding = Instant::now();
    let ids = open_accounts(&executor, accounts).await?;
    let open = month_start(HISTORY_MONTHS);
    let mut key = 0u64;
    if history > 0 {
        let per_month = history.div_ceil(u64::from(HISTORY_MONTHS));
        let mut left = history;
        for m in 0..HISTORY_MONTHS {
            let n = per_month.min(left);
            left -= n;
            debit_through(&executor, &clock, &ids, n, month_start(m), &mut key).await?;
        }
    }
    debit_through(&executor, &clock, &ids, recent, open, &mut key).await?;
    drop(executor);
    drained.await.context("the seeding executor")?;
    let seed_s = seeding.elapsed().as_secs_f64();

    // Close every month of history, in order, a day into the open month.
    let now = open + chrono::Duration::days(29);
    let mut close_last_month_ms = None;
    if history > 0 {
        for m in 0..HISTORY_MONTHS {
            let started = Instant::now();
            let month = crate::journal::period_of(month_start(m));
            close::close_month(&store, &month, open + chrono::Duration::days(1))
                .await
                .map_err(|e| anyhow::anyhow!("closing {month}: {e:?}"))?;
            close_last_month_ms = Some(ms(started.elapsed()));
        }
    }
    settle(&store, database.store).await?;
    let counts = entry_counts(&store, open).await?;

    let trial_balance_ms = timed(|| async {
        trial_balance::trial_balance(&store, now, false).await?;
        Ok(())
    })
    .await?;
    let revenue_report_ms = timed(|| async {
        revenue::revenue_report(&store, open, now, None).await?;
        Ok(())
    })
    .await?;
    let margin_report_ms = timed(|| async {
        margin::margin_report(&store, open, now).await?;
        Ok(())
    })
    .await?;
    let verify_ms = timed(|| async {
        let report = verify::verify(&store).await?;
        if !report.violations.is_empty() {
            bail!("verify found {} violations", report.violations_total);
        }
        Ok(())
    })
    .await?;
    let export_open_month_ms = timed(|| async {
        export_child(&database.url, open, now).await?;
        Ok(())
    })
    .await?;
    store.close().await;
    let export_all = export_rate(database, month_start(0), now).await?;
    Ok(ScaleReport {
        store: database.store.to_string(),
        entries: counts.0,
        open_entries: counts.1,
        seed_s,
        close_last_month_ms,
        trial_balance_ms,
        revenue_report_ms,
        margin_report_ms,
        verify_ms,
        export_open_month_ms,
        export_all,
    })
}

/// Brings a freshly seeded store to the state of one that grew over months (see the module's
/// doc). A checkpoint PostgreSQL refuses (it takes the `pg_checkpoint` role) is only said.
async fn settle(store: &Store, kind: &str) -> anyhow::Result<()> {
    let (settle, checkpoint) = match kind {
        "postgres" => ("VACUUM ANALYZE", "CHECKPOINT"),
        _ => ("SELECT 1", "PRAGMA wal_checkpoint(TRUNCATE)"),
    };
    sqlx::query(settle).execute(store.pool()).await?;
    if let Err(e) = sqlx::query(checkpoint).execute(store.pool()).await {
        eprintln!("bench: {checkpoint} refused ({e}); the timings may compete with its flush");
    }
    Ok(())
}

/// Entries stored, and those effective at or after `open`.
async fn entry_counts(store: &Store, open: DateTime<Utc>) -> anyhow::Result<(u64, u64)> {
    let mut reader = store.journal_reader().await?;
    let all = reader.count_entries(&EntryFilter::default()).await?;
    let since = EntryFilter {
        from: Some(open),
        ..EntryFilter::default()
    };
    let open_entries = reader.count_entries(&since).await?;
    reader.finish().await?;
    Ok((all, open_entries))
}

/// Creates the accounts and tops each up once, at the clock's time.
async fn open_accounts(executor: &Executor, n: usize) -> anyhow::Result<Vec<AccountId>> {
    let creations = (0..n).map(|i| {
        executor.submit(Command::CreateAccount(CreateAccount {
            idempotency_key: format!("scale-account-{i}"),
            external_id: format!("customer-{i:06}"),
            unit: "CREDIT".parse().expect("a valid unit"),
            unit_scale: 2,
            credit_line_limit: Quantity::ZERO,
            credit_line_price: Money::ZERO,
            currency: "USD".parse().expect("a valid currency"),
            low_balance: LowBalance::None,
        }))
    });
    let mut ids = Vec::with_capacity(n);
    for outcome in join_all(creations).await {
        match outcome.map_err(|e| anyhow::anyhow!("creating an account: {e}"))? {
            Outcome::Account(account) => ids.push(account.id),
            other => bail!("creating an account answered {other:?}"),
        }
    }
    let top_ups = ids.iter().enumerate().map(|(i, id)| {
        executor.submit(Command::Grant(Grant {
            idempotency_key: format!("scale-top-up-{i}"),
            account_id: *id,
            kind: LotKind::Paid,
            quantity: Quantity::parse("quantity", "1000000000").expect("a quantity"),
            price: Money::parse("price", "10000000").expect("a price"),
            currency: Some("USD".parse().expect("a valid currency")),
            priority: 0,
            effective_at: None,
            expires_at: None,
            scope: Vec::new(),
            reference: "scale".into(),
        }))
    });
    for outcome in join_all(top_ups).await {
        outcome.map_err(|e| anyhow::anyhow!("topping up: {e}"))?;
    }
    Ok(ids)
}

/// `n` debits of 0.01 round the accounts, spread over the month that starts at `start` (up to
/// its 28th), a wave at a time.
async fn debit_through(
    executor: &Executor,
    clock: &ManualClock,
    ids: &[AccountId],
    n: u64,
    start: DateTime<Utc>,
    key: &mut u64,
) -> anyhow::Result<()> {
    let span = chrono::Duration::days(27).num_microseconds().unwrap_or(0);
    let amount = Quantity::parse("quantity", "0.01").expect("a quantity");
    let mut done = 0u64;
    while done < n {
        let wave = (n - done).min(SEED_WAVE as u64);
        let offset = span * done as i64 / n.max(1) as i64;
        clock.set(start + chrono::Duration::hours(2) + chrono::Duration::microseconds(offset));
        let debits = (0..wave).map(|i| {
            let k = *key + i;
            executor.submit(Command::Debit(Debit {
                idempotency_key: format!("scale-{k}"),
                account_id: ids[(k % ids.len() as u64) as usize],
                quantity: amount,
                usage: None,
                meter: "tokens".into(),
                reference: String::new(),
                subject: String::new(),
            }))
        });
        for outcome in join_all(debits).await {
            outcome.map_err(|e| anyhow::anyhow!("seeding a debit: {e}"))?;
        }
        *key += wave;
        done += wave;
    }
    Ok(())
}

/// The median of [`RUNS`] runs, in milliseconds.
async fn timed<F, Fut>(mut f: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        f().await?;
        times.push(ms(started.elapsed()));
    }
    times.sort_by(f64::total_cmp);
    Ok(times[RUNS / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// Runs `credit-ledger export` of [from, to) into /dev/null; answers its peak memory (MiB)
/// and the lines and entries it reported.
async fn export_child(
    database_url: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<(Option<f64>, u64, u64)> {
    let exe = std::env::current_exe().context("finding credit-ledger")?;
    let mut child = Process::new(exe)
        .args(["export", "--database-url", database_url])
        .args(["--from", &rfc3339(from), "--to", &rfc3339(to)])
        .args(["--output", "/dev/null"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting credit-ledger export")?;
    let pid = child.id();
    let mut peak = None;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        peak = super::target::peak_rss_mb_of(pid).or(peak);
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut said = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        std::io::Read::read_to_string(&mut stderr, &mut said)?;
    }
    if !status.success() {
        bail!("credit-ledger export failed: {said}");
    }
    // "exported {rows} lines of {entries} entries ({bytes} bytes)"
    let words: Vec<&str> = said.split_whitespace().collect();
    let number = |i: usize| {
        words
            .get(i)
            .and_then(|w| w.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((peak, number(1), number(4)))
}

/// The whole journal's export beside the database's own export of the same rows and columns.
async fn export_rate(
    database: &FreshDatabase,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<ExportRate> {
    let mut export_ms = Vec::new();
    let mut database_ms = Vec::new();
    let mut peak = None;
    let (mut lines, mut entries) = (0, 0);
    // Alternated, so both see the same cache and the same neighbours.
    for _ in 0..RUNS {
        let started = Instant::now();
        let (rss, l, e) = export_child(&database.url, from, to).await?;
        export_ms.push(ms(started.elapsed()));
        (peak, lines, entries) = (rss.or(peak), l, e);
        let started = Instant::now();
        database_export(database, from, to)?;
        database_ms.push(ms(started.elapsed()));
    }
    export_ms.sort_by(f64::total_cmp);
    database_ms.sort_by(f64::total_cmp);
    let (export_ms, database_ms) = (export_ms[RUNS / 2], database_ms[RUNS / 2]);
    Ok(ExportRate {
        entries,
        lines,
        export_ms,
        database_ms,
        rate_vs_database: database_ms / export_ms,
        export_peak_rss_mb: peak,
    })
}

/// The database's own export of the rows and columns the detail export reads (each entry with
/// its customer's external id, postings as stored), in the same order, to /dev/null.
fn database_export(
    database: &FreshDatabase,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<()> {
    let columns = "e.seq, e.id, e.kind, e.effective_at, e.recorded_at, e.account_id, \
                   a.external_id, e.lot_id, e.hold_id, e.reference, e.idempotency_key, e.actor, \
                   e.postings, e.rating, e.original_effective_at";
    let output = match database.store {
        "postgres" => {
            let select = format!(
                "SELECT {columns} FROM entries e LEFT JOIN accounts a ON a.id = e.account_id \
                 WHERE e.effective_at >= '{}' AND e.effective_at < '{}' ORDER BY e.seq",
                rfc3339(from),
                rfc3339(to)
            );
            Process::new("psql")
                .args([&database.url, "-q", "-c"])
                .arg(format!("COPY ({select}) TO STDOUT WITH (FORMAT csv)"))
                .stdout(Stdio::null())
                .output()
                .context("running psql (the bench compares with its COPY)")?
        }
        _ => {
            let path = (database.url.strip_prefix("sqlite://")).unwrap_or(&database.url);
            let micros = |t: DateTime<Utc>| t.timestamp_micros();
            // `+`: the shell reads the table in `seq` order, its fastest way to the whole
            // journal; left to itself it takes the effective-time index and sorts the period
            // (3.6 s against 2.5 s on a million entries), a yardstick easier to beat.
            let select = format!(
                "SELECT {columns} FROM entries e LEFT JOIN accounts a ON a.id = e.account_id \
                 WHERE +e.effective_at >= {} AND +e.effective_at < {} ORDER BY e.seq;",
                micros(from),
                micros(to)
            );
            Process::new("sqlite3")
                .args(["-csv", "-readonly", path, &select])
                .stdout(Stdio::null())
                .output()
                .context("running sqlite3 (the bench compares with its shell)")?
        }
    };
    if !output.status.success() {
        bail!(
            "the database's own export failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn print(reports: &[ScaleReport]) {
    let Some(base) = reports.first() else {
        return;
    };
    println!(
        "| store | entries | open month | seed s | close last month ms | trial balance ms | \
         revenue ms | margin ms | verify ms | export open month ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in reports {
        let ratio = |v: f64, b: f64| format!("{v:.0} ({:.2}×)", v / b);
        println!(
            "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |",
            r.store,
            r.entries,
            r.open_entries,
            r.seed_s,
            r.close_last_month_ms
                .map_or_else(|| "-".into(), |v| format!("{v:.0}")),
            ratio(r.trial_balance_ms, base.trial_balance_ms),
            ratio(r.revenue_report_ms, base.revenue_report_ms),
            ratio(r.margin_report_ms, base.margin_report_ms),
            ratio(r.verify_ms, base.verify_ms),
            ratio(r.export_open_month_ms, base.export_open_month_ms),
        );
    }
    println!();
    println!(
        "| store | entries exported | lines | export ms | database's own ms | export rate ÷ database's | export peak RSS MB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in reports {
        let e = &r.export_all;
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {} |",
            r.store,
            e.entries,
            e.lines,
            e.export_ms,
            e.database_ms,
            e.rate_vs_database,
            e.export_peak_rss_mb
                .map_or_else(|| "-".into(), |v| format!("{v:.1}")),
        );
    }
}
