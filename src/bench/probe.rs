//! What the machine and the server did, beside the throughput: the CPU's idle share over the
//! measured window (all cores, from `/proc/stat`: it shows whether the pipeline or the waiting
//! is the limit), and over the server's whole run its batches, commands and statements (from
//! the line the executor logs when it drains) and, on PostgreSQL, the rows written to the
//! scenario's database (`pg_stat_database`).

use std::time::Duration;

use serde::Serialize;

/// Cumulative CPU time of the machine, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    idle: u64,
    total: u64,
}

/// The first line of `/proc/stat`: user nice system idle iowait irq softirq steal (guest time
/// is already counted in user). Idle is idle + iowait.
fn cpu_times() -> Option<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .take(8)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    (ticks.len() == 8).then(|| CpuTimes {
        idle: ticks[3] + ticks[4],
        total: ticks.iter().sum(),
    })
}

/// Samples the CPU at the end of the warm-up and at the end of the measured window, and
/// answers the idle share between them, in percent (`None` where `/proc/stat` is not there).
pub async fn cpu_idle_during(warmup: Duration, window: Duration) -> Option<f64> {
    tokio::time::sleep(warmup).await;
    let start = cpu_times()?;
    tokio::time::sleep(window).await;
    let end = cpu_times()?;
    let total = end.total.checked_sub(start.total)?;
    (total > 0).then(|| 100.0 * (end.idle - start.idle) as f64 / total as f64)
}

/// What the server's executor committed over its whole run (seeding, warm-up, window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ServerCounts {
    pub batches: u64,
    pub commands: u64,
    /// Loads and writes sent inside batches (not BEGIN or COMMIT).
    pub statements: u64,
    /// Batches written on the state the previous batch left, while it committed.
    pub carried: u64,
    /// Batches applied to carried state that had to be applied again from the store.
    pub redone: u64,
}

impl ServerCounts {
    /// Reads the executor's `executor drained` line of a JSON log, if this is it.
    pub fn from_log_line(line: &str) -> Option<ServerCounts> {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let fields = value.get("fields")?;
        if fields.get("message")?.as_str()? != "executor drained" {
            return None;
        }
        let count = |name: &str| fields.get(name)?.as_u64();
        Some(ServerCounts {
            batches: count("batches")?,
            commands: count("commands")?,
            statements: count("statements")?,
            carried: count("carried").unwrap_or(0),
            redone: count("redone").unwrap_or(0),
        })
    }

    pub fn batch_size(&self) -> Option<f64> {
        (self.batches > 0).then(|| self.commands as f64 / self.batches as f64)
    }

    /// The share of batches written on carried state, in percent.
    pub fn carried_pct(&self) -> Option<f64> {
        (self.batches > 0).then(|| 100.0 * self.carried as f64 / self.batches as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drained_line_is_read_and_others_are_not() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"executor drained","batches":10,"commands":320,"carried":6,"redone":1,"statements":50},"target":"credit_ledger::executor"}"#;
        let counts = ServerCounts::from_log_line(line).unwrap();
        assert_eq!(
            counts,
            ServerCounts {
                batches: 10,
                commands: 320,
                statements: 50,
                carried: 6,
                redone: 1,
            }
        );
        assert_eq!(counts.batch_size(), Some(32.0));
        assert_eq!(counts.carried_pct(), Some(60.0));
        let other = line.replace("executor drained", "stopped");
        assert_eq!(ServerCounts::from_log_line(&other), None);
        assert_eq!(ServerCounts::from_log_line("not json"), None);
    }

    #[test]
    fn the_machine_has_a_cpu_line() {
        if std::path::Path::new("/proc/stat").exists() {
            let times = cpu_times().expect("a cpu line");
            assert!(times.idle <= times.total);
        }
    }
}
