//! The sweeper: on an interval, finds the accounts with something time has made due (active lots
//! past their expiry, open holds past their TTL, commitments at or near the end of their term)
//! and sends each a `Sweep` through the executor, so it is posted like any other change: in a
//! batch, under the account's lock, atomically with its events. A sweep that finds nothing due
//! changes nothing, so two instances sweeping the same account, or a sweep run twice, post each
//! expiry once. Then it closes the months that ended more than `close_after_ms` ago, once
//! across instances (`journal::close::close_due`).

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use futures::future::join_all;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::executor::Executor;
use crate::ledger::{Command, Outcome, Sweep, SweepSummary};
use crate::store::Store;

#[derive(Debug, Clone, Copy)]
pub struct SweeperConfig {
    /// Zero: the sweeper does not run on its own (`run_once` still works).
    pub interval: Duration,
    pub accounts_per_round: u32,
    pub commitment_notice_ms: u64,
    /// How long after a month ends it is closed; 0: never.
    pub close_after_ms: u64,
}

/// What one run did, summed over the accounts it swept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub accounts: u64,
    pub lots_expired: u64,
    pub holds_expired: u64,
    pub commitments_ended: u64,
    pub notices: u64,
    /// Budget periods started over.
    pub budgets_reset: u64,
    /// Recurring grants' periods granted.
    pub grants_posted: u64,
    /// Months closed.
    pub periods_closed: u64,
    /// Accounts whose sweep was not committed (tried again next run).
    pub failed: u64,
}

impl SweepReport {
    fn add(&mut self, s: &SweepSummary) {
        self.accounts += 1;
        self.lots_expired += u64::from(s.lots_expired);
        self.holds_expired += u64::from(s.holds_expired);
        self.commitments_ended += u64::from(s.commitments_ended);
        self.notices += u64::from(s.notices);
        self.budgets_reset += u64::from(s.budgets_reset);
        self.grants_posted += u64::from(s.grants_posted);
    }
}

#[derive(Clone)]
pub struct Sweeper {
    store: Store,
    executor: Executor,
    clock: Arc<dyn Clock>,
    config: SweeperConfig,
}

/// Rounds per run at most: each round's accounts leave the candidates once swept, so more rounds
/// are needed only when more than `accounts_per_round` are due; the cap bounds a run in which
/// sweeps keep failing.
const ROUNDS_MAX: usize = 64;
/// Sweeps in flight at once, well inside the executor's queue.
const IN_FLIGHT_MAX: usize = 256;

impl Sweeper {
    pub fn new(
        store: Store,
        executor: Executor,
        clock: Arc<dyn Clock>,
        config: SweeperConfig,
    ) -> Self {
        Sweeper {
            store,
            executor,
            clock,
            config,
        }
    }

    /// Sweeps every account that has something due now.
    pub async fn run_once(&self) -> anyhow::Result<SweepReport> {
        let mut report = SweepReport::default();
        let notice_ms = i64::try_from(self.config.commitment_notice_ms).unwrap_or(i64::MAX);
        for _ in 0..ROUNDS_MAX {
            let now = self.clock.now();
            let notice_until = now + ChronoDuration::milliseconds(notice_ms);
            let due = self
                .store
                .sweep_candidates(now, notice_until, self.config.accounts_per_round)
                .await?;
            let failed_before = report.failed;
            for chunk in due.chunks(IN_FLIGHT_MAX) {
                let sweeps = chunk.iter().map(|&account_id| {
                    self.executor.submit(Command::Sweep(Sweep {
                        account_id,
                        commitment_notice_ms: self.config.commitment_notice_ms,
                    }))
                });
                for (account_id, result) in chunk.iter().zip(join_all(sweeps).await) {
                    match result {
                        Ok(Outcome::Swept(summary)) => report.add(&summary),
                        Ok(other) => {
                            tracing::error!(%account_id, ?other, "sweep answered with another outcome");
                            report.failed += 1;
                        }
                        Err(error) => {
                            tracing::warn!(%account_id, %error, "sweep not committed");
                            report.failed += 1;
                        }
                    }
                }
            }
            let full = due.len() >= self.config.accounts_per_round as usize;
            if !full || report.failed > failed_before {
                break;
            }
        }
        // Months are closed after the accounts are swept: what was due inside them is posted.
        if self.config.close_after_ms > 0 {
            let after = ChronoDuration::milliseconds(
                i64::try_from(self.config.close_after_ms).unwrap_or(i64::MAX),
            );
            match crate::journal::close::close_due(&self.store, self.clock.now(), after).await {
                Ok(closed) => report.periods_closed = closed,
                Err(error) => tracing::warn!(error = format!("{error:#}"), "month not closed"),
            }
        }
        let metrics = self.executor.metrics();
        metrics.sweeper_runs.inc();
        let r = &report;
        let postings = r.lots_expired + r.holds_expired + r.commitments_ended + r.notices;
        metrics.sweeper_postings.inc_by(postings);
        Ok(report)
    }

    /// Runs every `interval` until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if self.config.interval.is_zero() {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.config.interval) => {}
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
            match self.run_once().await {
                Ok(report) if report == SweepReport::default() => {}
                Ok(report) => tracing::info!(?report, "sweep"),
                Err(error) => tracing::warn!(%error, "sweep could not read what is due"),
            }
        }
    }
}
