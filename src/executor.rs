//! The batch loop. Callers put commands on a bounded queue; the loop takes whatever has queued
//! (up to `batch_size_max`) and runs it as one database transaction: lock the accounts in id
//! order, load, apply each command with the pure engine, write, commit. Only then is anyone
//! answered.
//!
//! One command never fails another. A command the engine refuses changes nothing and the others
//! go on. A batch that the database cannot take for a reason a retry would cure (the database
//! gone, a lock timeout) answers everyone `Unavailable`, and the next batch simply tries again,
//! so the service recovers by itself when the database comes back. A batch that fails for any
//! other reason (a value the store refuses, a constraint, a panic in the engine) is isolated:
//! run again in halves, each its own transaction, down to single commands, so that everything
//! else commits and only the offender is answered, with an error a retry will not change.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::clock::Clock;
use crate::ledger::{
    Command, IdSource, Ledger, LedgerError, Limits, Needs, Outcome, Snapshot, Writes,
};
use crate::store::{BatchConnection, Store, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct ExecutorConfig {
    pub queue_capacity: usize,
    pub batch_size_max: usize,
    /// Batch loops sharing the queue.
    pub workers: usize,
    /// How long a batch that is not full waits for more commands before it starts.
    pub linger: Duration,
    pub limits: Limits,
}

/// Why a command got no ledger answer.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The batch could not be committed; nothing of it was written. Safe to retry.
    #[error("storage unavailable")]
    Unavailable,
    /// The engine accepted the command but the store refused to write it, alone, for its
    /// content (a data exception or a constraint). Nothing of it was written; the same request
    /// will be refused again.
    #[error("the store refused this command's data")]
    Unstorable,
    /// The queue is full.
    #[error("too many requests in flight")]
    Overloaded,
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error("internal error")]
    Internal,
}

type Reply = oneshot::Sender<Result<Outcome, ExecError>>;

struct Job {
    command: Command,
    reply: Reply,
}

/// A handle for submitting commands; cheap to clone. The loop ends once every handle is dropped
/// and the queue is drained.
#[derive(Clone)]
pub struct Executor {
    queue: mpsc::Sender<Job>,
}

impl Executor {
    /// Starts `config.workers` batch loops on one queue; the handle resolves when all have
    /// drained.
    pub fn spawn(
        store: Store,
        clock: Arc<dyn Clock>,
        config: ExecutorConfig,
    ) -> (Executor, JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(config.queue_capacity);
        let jobs = Arc::new(Mutex::new(jobs));
        let counts = Arc::new(Counts::default());
        let workers: Vec<_> = (0..config.workers.max(1))
            .map(|_| {
                let worker = BatchLoop {
                    store: store.clone(),
                    conn: BatchConnection::default(),
                    clock: clock.clone(),
                    config,
                    counts: counts.clone(),
                };
                tokio::spawn(worker.run(jobs.clone()))
            })
            .collect();
        let task = tokio::spawn(async move {
            for worker in workers {
                let _ = worker.await;
            }
            let batches = counts.batches.load(Ordering::Relaxed);
            let commands = counts.commands.load(Ordering::Relaxed);
            tracing::info!(
                batches,
                commands,
                statements = store.batch_statements(),
                "executor drained"
            );
        });
        (Executor { queue }, task)
    }

    /// Queues a command and waits for its committed outcome.
    pub async fn submit(&self, command: Command) -> Result<Outcome, ExecError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Job { command, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ExecError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => ExecError::ShuttingDown,
            })?;
        answer.await.map_err(|_| ExecError::Internal)?
    }
}

/// What the batch loops committed, over the executor's life: reported when it drains (the bench
/// reads the mean batch size and the statements per command from that line).
#[derive(Default)]
struct Counts {
    batches: AtomicU64,
    commands: AtomicU64,
}

/// One batch loop and what it keeps between batches. Several may share the queue: while one
/// waits for its commit, the next takes what has queued and is ready to go the moment the
/// account locks it needs are free.
struct BatchLoop {
    store: Store,
    conn: BatchConnection,
    clock: Arc<dyn Clock>,
    config: ExecutorConfig,
    counts: Arc<Counts>,
}

impl BatchLoop {
    async fn run(mut self, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
        let (max, linger) = (self.config.batch_size_max, self.config.linger);
        while let Some(batch) = next_batch(&jobs, max, linger).await {
            let span = tracing::debug_span!("batch", size = batch.len());
            self.process(batch).instrument(span).await;
        }
    }

    async fn process(&mut self, jobs: Vec<Job>) {
        let commands: Vec<&Command> = jobs.iter().map(|j| &j.command).collect();
        match self.run_batch(&commands).await {
            Ok(results) => answer(jobs, results),
            Err(error) if error.is_transient() => unavailable(jobs, &error),
            // Another instance committed something this batch also wrote (an account's external
            // id, an idempotency key). Run each command on its own so only the one concerned is
            // refused, now seeing the committed row.
            Err(StoreError::UniqueViolation { constraint }) => {
                tracing::info!(%constraint, size = jobs.len(), "unique violation; retrying commands one by one");
                for job in jobs {
                    match self.run_batch(&[&job.command]).await {
                        Ok(results) => answer(vec![job], results),
                        Err(error) if error.is_transient() => unavailable(vec![job], &error),
                        Err(error) => offender(job, &error),
                    }
                }
            }
            Err(error) => self.isolate(jobs, error).await,
        }
    }

    /// Finds the command(s) a failed batch failed on. The batch runs again in halves, in order,
    /// each half its own transaction; a half that fails is split again, down to single
    /// commands. Whatever commits is answered at once; a single command that still fails is the
    /// offender and is answered alone. One offender among n commands costs about 2·log2(n) more
    /// transactions.
    async fn isolate(&mut self, jobs: Vec<Job>, error: StoreError) {
        tracing::warn!(
            error = format!("{error:#}"),
            size = jobs.len(),
            "batch failed; isolating the command(s) it failed on"
        );
        let mut pending = VecDeque::new();
        halve(&mut pending, jobs, error);
        while let Some(jobs) = pending.pop_front() {
            let commands: Vec<&Command> = jobs.iter().map(|j| &j.command).collect();
            match self.run_batch(&commands).await {
                Ok(results) => answer(jobs, results),
                Err(error) if error.is_transient() => unavailable(jobs, &error),
                Err(error) => halve(&mut pending, jobs, error),
            }
        }
    }

    async fn run_batch(
        &mut self,
        commands: &[&Command],
    ) -> Result<Vec<Result<Outcome, LedgerError>>, StoreError> {
        let needs = Needs::of(commands);
        let result = self.in_transaction(commands, &needs).await;
        match &result {
            Ok(_) => {
                self.counts.batches.fetch_add(1, Ordering::Relaxed);
                let size = commands.len() as u64;
                self.counts.commands.fetch_add(size, Ordering::Relaxed);
            }
            Err(_) => self.conn.reset(),
        }
        result
    }

    async fn in_transaction(
        &mut self,
        commands: &[&Command],
        needs: &Needs,
    ) -> Result<Vec<Result<Outcome, LedgerError>>, StoreError> {
        let started = std::time::Instant::now();
        let mut batch = self.store.batch(&mut self.conn).await?;
        let begun = started.elapsed();
        let now = self.clock.now();
        let snapshot = batch.load(needs, now).await?;
        let loaded = started.elapsed();
        let (results, writes) = apply_guarded(snapshot, now, &self.config, commands)?;
        let applied = started.elapsed();
        batch.write(writes).await?;
        let written = started.elapsed();
        batch.commit().await?;
        tracing::debug!(
            size = commands.len(),
            begin_us = begun.as_micros() as u64,
            load_us = (loaded - begun).as_micros() as u64,
            apply_us = (applied - loaded).as_micros() as u64,
            write_us = (written - applied).as_micros() as u64,
            commit_us = (started.elapsed() - written).as_micros() as u64,
            "batch committed"
        );
        Ok(results)
    }
}

/// Waits for a first command, then takes whatever else has queued, up to `max`.
async fn next_batch(
    jobs: &Mutex<mpsc::Receiver<Job>>,
    max: usize,
    linger: Duration,
) -> Option<Vec<Job>> {
    let mut jobs = jobs.lock().await;
    let mut batch = Vec::with_capacity(max);
    batch.push(jobs.recv().await?);
    drain(&mut jobs, &mut batch, max);
    if batch.len() < max && !linger.is_zero() {
        tokio::time::sleep(linger).await;
        drain(&mut jobs, &mut batch, max);
    }
    Some(batch)
}

fn drain(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, max: usize) {
    while batch.len() < max {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Puts a failed run's two halves at the front of the queue, in order: depth first, so a failed
/// first half is settled before the second half runs, and each command still sees what the
/// commands before it in the batch did. A single command is the offender.
fn halve(pending: &mut VecDeque<Vec<Job>>, mut jobs: Vec<Job>, error: StoreError) {
    if jobs.len() == 1 {
        offender(jobs.pop().expect("one job"), &error);
        return;
    }
    let second = jobs.split_off(jobs.len() / 2);
    pending.push_front(second);
    pending.push_front(jobs);
}

/// Runs the engine over the batch. A panic there is a bug; it must cost this batch (rolled back
/// and answered INTERNAL), not the write path of the whole service.
fn apply_guarded(
    snapshot: Snapshot,
    now: DateTime<Utc>,
    config: &ExecutorConfig,
    commands: &[&Command],
) -> Result<(Vec<Result<Outcome, LedgerError>>, Writes), StoreError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut ledger = Ledger::new(snapshot, now, config.limits, IdSource::Random);
        let results = commands.iter().map(|c| ledger.apply(c)).collect();
        (results, ledger.writes())
    }))
    .map_err(|_| StoreError::Corrupt(anyhow::anyhow!("the engine panicked on this batch")))
}

fn answer(jobs: Vec<Job>, results: Vec<Result<Outcome, LedgerError>>) {
    for (job, result) in jobs.into_iter().zip(results) {
        // A caller that went away no longer needs its answer; the commit stands either way.
        let _ = job.reply.send(result.map_err(ExecError::Ledger));
    }
}

/// Answers a batch that was not committed for a reason a retry can cure: nothing of it was
/// written, and retrying with the same keys is safe.
fn unavailable(jobs: Vec<Job>, error: &StoreError) {
    tracing::warn!(
        error = format!("{error:#}"),
        size = jobs.len(),
        "batch not committed"
    );
    for job in jobs {
        let _ = job.reply.send(Err(ExecError::Unavailable));
    }
}

/// Answers the one command a batch failed on, with an error a retry will not change: the store
/// refused its data, or the engine or a damaged row failed on it (a bug, logged with its cause).
/// A unique violation on its own is another instance's commit racing this one, which a retry
/// settles.
fn offender(job: Job, error: &StoreError) {
    let answer = match error {
        StoreError::UniqueViolation { .. } => ExecError::Unavailable,
        error if error.is_content() => ExecError::Unstorable,
        _ => ExecError::Internal,
    };
    tracing::error!(
        command = job.command.name(),
        idempotency_key = job.command.idempotency_key(),
        error = format!("{error:#}"),
        answer = %answer,
        "command failed on its own; its batch neighbours were committed without it"
    );
    let _ = job.reply.send(Err(answer));
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rust_decimal::Decimal;

    use super::*;
    use crate::ledger::*;

    fn config() -> ExecutorConfig {
        ExecutorConfig {
            queue_capacity: 1,
            batch_size_max: 1,
            workers: 1,
            linger: Duration::ZERO,
            limits: Limits::default(),
        }
    }

    /// A hold whose reservation names a lot the store did not return is a damaged store; the
    /// engine's panic on it must become this batch's error, not the end of the batch loop.
    #[test]
    fn an_engine_panic_fails_the_batch_not_the_executor() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let account = Account {
            open_holds: 1,
            ..Account::opened(
                AccountId(uuid::Uuid::from_u128(1)),
                "x".into(),
                "CREDIT".parse().unwrap(),
                0,
                "USD".parse().unwrap(),
                now,
            )
        };
        let hold = Hold {
            id: HoldId(uuid::Uuid::from_u128(2)),
            account_id: account.id,
            status: HoldStatus::Open,
            authorized: Quantity::new(Decimal::ONE).unwrap(),
            captured: Quantity::ZERO,
            reserved: vec![Draw {
                lot_id: Some(LotId(uuid::Uuid::from_u128(3))),
                quantity: Quantity::new(Decimal::ONE).unwrap(),
            }],
            expires_at: now + chrono::Duration::hours(1),
            created_at: now,
            meter: String::new(),
            reference: String::new(),
        };
        let snapshot = Snapshot {
            accounts: vec![account],
            holds: vec![hold.clone()],
            ..Snapshot::default()
        };
        let release = Command::Release(Release {
            idempotency_key: "k".into(),
            hold_id: hold.id,
        });
        let result = apply_guarded(snapshot, now, &config(), &[&release]);
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{:?}",
            result.map(|(r, _)| r)
        );
    }
}
