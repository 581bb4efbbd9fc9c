//! What a run measured: throughput, latency percentiles and errors by code, printed as a table
//! or one JSON object.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::probe::ServerCounts;

/// One worker's tally; merged at the end of the run.
pub struct Tally {
    pub latency_us: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    pub fn new() -> Self {
        Tally {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)
                .expect("valid histogram bounds"),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, elapsed: Duration, result: Result<(), String>) {
        let micros = (elapsed.as_micros() as u64).clamp(1, 60_000_000);
        self.latency_us.saturating_record(micros);
        match result {
            Ok(()) => self.ok += 1,
            Err(code) => *self.errors.entry(code).or_default() += 1,
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.latency_us
            .add(&other.latency_us)
            .expect("same histogram bounds");
        self.ok += other.ok;
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub scenario: String,
    pub store: String,
    pub concurrency: usize,
    pub connections: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub accounts: usize,
    pub distribution: String,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub settings: Settings,
    pub ops: u64,
    pub ops_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: BTreeMap<String, u64>,
    /// Peak resident memory of the server process, when the bench started it.
    pub server_peak_rss_mb: Option<f64>,
    /// The machine's idle CPU share over the measured window, in percent (all cores; the bench
    /// client, the server and the database share them).
    pub cpu_idle_pct: Option<f64>,
    /// The server's executor over its whole run, when the bench started it.
    pub server: Option<ServerCounts>,
    /// Rows inserted or updated in the scenario's PostgreSQL database per command committed.
    pub rows_per_command: Option<f64>,
    pub books: String,
}

impl Report {
    pub fn new(settings: Settings, tally: &Tally, measured: Duration) -> Report {
        let h = &tally.latency_us;
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Report {
            settings,
            ops: tally.ok,
            ops_per_s: tally.ok as f64 / measured.as_secs_f64(),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            errors: tally.errors.clone(),
            server_peak_rss_mb: None,
            cpu_idle_pct: None,
            server: None,
            rows_per_command: None,
            books: String::new(),
        }
    }
}

pub fn print_table(reports: &[Report]) {
    println!(
        "{:<22} {:<20} {:>5} {:>10} {:>12} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6} {:>6} {:>6} {:>7} {:>7}  errors / books",
        "scenario",
        "store",
        "conc",
        "accounts",
        "ops/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9ms",
        "rss MB",
        "idle%",
        "batch",
        "carry%",
        "stmt/c",
        "rows/c",
    );
    for r in reports {
        let s = &r.settings;
        let errors: Vec<String> = r.errors.iter().map(|(c, n)| format!("{c}={n}")).collect();
        let shown =
            |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
        let rss = shown(r.server_peak_rss_mb, 1);
        let statements = r
            .server
            .filter(|c| c.commands > 0)
            .map(|c| c.statements as f64 / c.commands as f64);
        println!(
            "{:<22} {:<20} {:>5} {:>10} {:>12.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9} {:>6} {:>6} {:>6} {:>7} {:>7}  {} / {}",
            s.scenario,
            s.store,
            s.concurrency,
            s.accounts,
            r.ops_per_s,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.p999_ms,
            rss,
            shown(r.cpu_idle_pct, 1),
            shown(r.server.and_then(|c| c.batch_size()), 1),
            shown(r.server.and_then(|c| c.carried_pct()), 0),
            shown(statements, 2),
            shown(r.rows_per_command, 2),
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(",")
            },
            r.books,
        );
    }
    print_ratios(reports);
}

/// The ratios the performance targets are stated in, for scenarios measured in this one run.
fn print_ratios(reports: &[Report]) {
    let rate = |name: &str| {
        reports
            .iter()
            .find(|r| r.settings.scenario == name)
            .map(|r| r.ops_per_s)
    };
    let pairs = [
        ("debit-hot", "naive-sql", 10.0),
        ("authorize-capture-hot", "debit-hot", 0.5),
        ("debit-hot", "ping", 0.5),
        ("debit-spread", "ping", 0.5),
        ("authorize-capture-hot", "ping", 0.25),
        ("debit-hot-rated", "debit-hot", 0.9),
        ("debit-hot-budgets", "debit-hot", 0.9),
        ("debit-hot-velocity", "debit-hot", 0.9),
        ("authorize-capture-rated", "authorize-capture-hot", 0.9),
    ];
    for (a, b, target) in pairs {
        if let (Some(x), Some(y)) = (rate(a), rate(b)) {
            let ratio = x / y;
            let verdict = if ratio >= target { "met" } else { "NOT met" };
            println!("{a} / {b} = {ratio:.2} (target >= {target}: {verdict})");
        }
    }
}
