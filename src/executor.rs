//! The batch loop. Callers put commands on a bounded queue; the loop takes whatever has queued
//! (up to `batch_size_max`) and runs it as one database transaction: lock the accounts in id
//! order, load, apply each command with the pure engine, write, commit. Only then is anyone
//! answered. While one batch commits, the next is applied to the state the first leaves, and
//! written only if its accounts' versions say nothing changed in between (see [`BatchLoop`]).
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
use crate::metrics::{Kind, Metrics};
use crate::store::{Basis, BatchConnection, Store, StoreError};

#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    pub queue_capacity: usize,
    pub batch_size_max: usize,
    /// Batch loops sharing the queue.
    pub workers: usize,
    /// How long a batch that is not full waits for more commands before it starts.
    pub linger: Duration,
    pub limits: Limits,
    /// The price books usage is rated by, in memory.
    pub prices: crate::rates::Prices,
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
    /// Who the command is for (an API key's prefix, or empty): its entries record it.
    actor: String,
    reply: Reply,
}

/// A command of a batch, and who it is for.
#[derive(Clone, Copy)]
struct Work<'a> {
    command: &'a Command,
    actor: &'a str,
}

fn work(jobs: &[Job]) -> Vec<Work<'_>> {
    jobs.iter()
        .map(|j| Work {
            command: &j.command,
            actor: &j.actor,
        })
        .collect()
}

fn just_commands<'a>(work: &[Work<'a>]) -> Vec<&'a Command> {
    work.iter().map(|w| w.command).collect()
}

/// A handle for submitting commands; cheap to clone. The loop ends once every handle is dropped
/// and the queue is drained.
#[derive(Clone)]
pub struct Executor {
    queue: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
}

impl Executor {
    /// Starts `config.workers` batch loops on one queue; the handle resolves when all have
    /// drained.
    pub fn spawn(
        store: Store,
        clock: Arc<dyn Clock>,
        config: ExecutorConfig,
        metrics: Arc<Metrics>,
    ) -> (Executor, JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(config.queue_capacity);
        let jobs = Arc::new(Mutex::new(jobs));
        let workers: Vec<_> = (0..config.workers.max(1))
            .map(|_| {
                let worker = BatchLoop {
                    store: store.clone(),
                    metrics: metrics.clone(),
                    clock: clock.clone(),
                    config: config.clone(),
                };
                tokio::spawn(worker.run(jobs.clone()))
            })
            .collect();
        let drained = metrics.clone();
        let task = tokio::spawn(async move {
            for worker in workers {
                let _ = worker.await;
            }
            let ExecutorCounts {
                batches,
                commands,
                carried,
                redone,
            } = counts(&drained);
            tracing::info!(
                batches,
                commands,
                carried,
                redone,
                statements = store.batch_statements(),
                "executor drained"
            );
        });
        (Executor { queue, metrics }, task)
    }

    /// The metrics the executor and what submits to it update.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// What the executor has done so far.
    pub fn counts(&self) -> ExecutorCounts {
        counts(&self.metrics)
    }

    /// Queues a command and waits for its committed outcome.
    pub async fn submit(&self, command: Command) -> Result<Outcome, ExecError> {
        self.submit_as(command, String::new()).await
    }

    /// Queues a command for `actor` (an API key's prefix), whom its entries record.
    pub async fn submit_as(&self, command: Command, actor: String) -> Result<Outcome, ExecError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Job {
                command,
                actor,
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ExecError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => ExecError::ShuttingDown,
            })?;
        answer.await.map_err(|_| ExecError::Internal)?
    }
}

/// What the executor has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorCounts {
    pub batches: u64,
    pub commands: u64,
    pub carried: u64,
    pub redone: u64,
}

/// What the batch loops committed so far, read from their metrics (the bench reads the mean
/// batch size and the statements per command from the line logged when the executor drains).
fn counts(metrics: &Metrics) -> ExecutorCounts {
    let batches = |kind| metrics.batches.get_or_create(&Kind { kind }).get();
    let carried = batches("carried");
    ExecutorCounts {
        batches: batches("ordinary") + carried,
        commands: metrics.commands.get(),
        carried,
        redone: metrics.batches_redone.get(),
    }
}

/// One batch loop. It takes what has queued and starts it as a batch on one of its two
/// connections. As soon as the state that batch leaves is certain (an ordinary batch: applied
/// under its accounts' locks; a carried one: its versions confirmed), it takes the next, which is
/// applied to that state while the first writes and commits:
///
/// - The carried batch looks up only what that state lacks (records and holds the store already
///   had), without locks, and is applied.
/// - Once the batch before it has committed exactly what it was applied to, it locks its
///   accounts and checks their versions. Every batch that changes an account's book raises its
///   version, so equal versions mean nothing was written to them since: not by this instance,
///   nor by another. Then it writes and commits, and only then answers.
/// - Otherwise (the batch before failed or was itself applied again, another instance wrote to
///   an account, a command reaches an account the state lacks) it rolls back and runs the
///   ordinary way, from the store under the accounts' locks.
///
/// So no batch is written on a state that was not committed, and nobody is answered before the
/// commit that holds their change.
struct BatchLoop {
    store: Store,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    config: ExecutorConfig,
}

/// The batch before: the state it leaves (if it got as far as applying its commands), and
/// whether it committed exactly that.
struct Previous {
    leaves: Option<Arc<Snapshot>>,
    committed: oneshot::Receiver<bool>,
}

impl BatchLoop {
    async fn run(self, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
        let (max, linger) = (self.config.batch_size_max, self.config.linger);
        let mut spare = vec![BatchConnection::default(), BatchConnection::default()];
        let mut running: VecDeque<JoinHandle<BatchConnection>> = VecDeque::new();
        let mut previous: Option<Previous> = None;
        while let Some(batch) = next_batch(&jobs, max, linger, &self.metrics).await {
            let conn = match spare.pop() {
                Some(conn) => conn,
                // A batch task that panicked lost its connection; the next one takes a fresh one.
                None => match running.pop_front() {
                    Some(task) => task.await.unwrap_or_default(),
                    None => BatchConnection::default(),
                },
            };
            let (applied, leaves) = oneshot::channel();
            let (committed, settled) = oneshot::channel();
            let worker = BatchWorker {
                store: self.store.clone(),
                metrics: self.metrics.clone(),
                conn,
                clock: self.clock.clone(),
                config: self.config.clone(),
                previous: None,
                applied: Some(applied),
                committed: Some(committed),
            };
            let span = tracing::debug_span!("batch", size = batch.len());
            let task = worker.process(batch, previous.take()).instrument(span);
            running.push_back(tokio::spawn(task));
            previous = Some(Previous {
                leaves: leaves.await.ok().flatten(),
                committed: settled,
            });
        }
        for task in running {
            let _ = task.await;
        }
    }
}

/// One batch, on one of its loop's connections (given back when the batch is done).
struct BatchWorker {
    store: Store,
    metrics: Arc<Metrics>,
    conn: BatchConnection,
    clock: Arc<dyn Clock>,
    config: ExecutorConfig,
    /// Whether the batch before committed what it was applied to, until awaited.
    previous: Option<oneshot::Receiver<bool>>,
    /// Where the state this batch leaves goes, once (the loop waits for it before it starts the
    /// next batch; dropped unsent, the next batch runs the ordinary way).
    applied: Option<oneshot::Sender<Option<Arc<Snapshot>>>>,
    /// Where it says whether it committed exactly the state it sent (dropped unsent: no).
    committed: Option<oneshot::Sender<bool>>,
}

impl BatchWorker {
    async fn process(mut self, jobs: Vec<Job>, previous: Option<Previous>) -> BatchConnection {
        let commands = work(&jobs);
        let carried = previous.and_then(|previous| {
            self.previous = Some(previous.committed);
            previous.leaves
        });
        if let Some(carried) = carried {
            match self.on_carried(&commands, &carried).await {
                Ok(Some(results)) => {
                    answer(jobs, results);
                    return self.conn;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(error = format!("{error:#}"), "carried batch failed");
                    self.store_error(&error);
                    self.conn.reset();
                }
            }
            self.metrics.batches_redone.inc();
            // Sent and then not written: the batch after must not build on it. (Not sent: the
            // loop is still waiting, for what the ordinary run below sends.)
            if self.applied.is_none() {
                self.settle(false);
            }
        }
        settled(&mut self.previous).await;
        self.process_fresh(jobs).await;
        self.conn
    }

    /// Runs the batch on the state the batch before leaves. `None` (and nothing written) when
    /// it has to run the ordinary way.
    async fn on_carried(
        &mut self,
        commands: &[Work<'_>],
        carried: &Snapshot,
    ) -> Result<Option<Vec<Result<Outcome, LedgerError>>>, StoreError> {
        let started = std::time::Instant::now();
        let needs = Needs::of(&just_commands(commands));
        let now = self.clock.now();
        let mut batch = self.store.carried_batch(&mut self.conn).await?;
        let Some(snapshot) = batch.load_onto(&needs, now, carried).await? else {
            return Ok(None);
        };
        let looked_up = started.elapsed();
        let basis = Basis::of(&snapshot);
        let (results, writes, leaves) = apply_guarded(snapshot, now, &self.config, commands)?;
        let applied = started.elapsed();
        if !settled(&mut self.previous).await {
            return Ok(None);
        }
        let waited = started.elapsed();
        if !batch.confirm(&basis).await? {
            return Ok(None);
        }
        let confirmed = started.elapsed();
        // Only now, with the accounts locked at the versions it was applied to, is the state it
        // leaves certain (short of a failed write): had it been sent before, every batch after a
        // redone one would have started from a state that was never written, and been redone
        // in turn.
        send_once(&mut self.applied, Some(Arc::new(leaves)));
        batch.write(writes).await?;
        let written = started.elapsed();
        batch.commit().await?;
        self.settle(true);
        tracing::debug!(
            size = commands.len(),
            lookups_us = looked_up.as_micros() as u64,
            apply_us = (applied - looked_up).as_micros() as u64,
            wait_us = (waited - applied).as_micros() as u64,
            confirm_us = (confirmed - waited).as_micros() as u64,
            write_us = (written - confirmed).as_micros() as u64,
            commit_us = (started.elapsed() - written).as_micros() as u64,
            "carried batch committed"
        );
        self.metrics.count(&self.metrics.batches, "carried");
        self.metrics
            .commit_seconds
            .observe((started.elapsed() - confirmed).as_secs_f64());
        self.count(commands.len());
        Ok(Some(results))
    }

    fn settle(&mut self, committed: bool) {
        send_once(&mut self.committed, committed);
    }

    fn store_error(&self, error: &StoreError) {
        let kind = match error {
            StoreError::Unavailable(_) | StoreError::NotBegun(_) => "unavailable",
            StoreError::UniqueViolation { .. } => "unique_violation",
            StoreError::Refused(_) => "refused",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Other(_) => "other",
        };
        self.metrics.count(&self.metrics.store_errors, kind);
    }

    fn count(&self, size: usize) {
        self.metrics.batch_commands.observe(size as f64);
        self.metrics.commands.inc_by(size as u64);
    }

    async fn process_fresh(&mut self, jobs: Vec<Job>) {
        let commands = work(&jobs);
        match self.run_batch(&commands).await {
            Ok(results) => answer(jobs, results),
            Err(error) if error.is_transient() => unavailable(jobs, &error),
            // Another instance committed something this batch also wrote (an account's external
            // id, an idempotency key). Run each command on its own so only the one concerned is
            // refused, now seeing the committed row.
            Err(StoreError::UniqueViolation { constraint }) => {
                tracing::info!(%constraint, size = jobs.len(), "unique violation; retrying commands one by one");
                for job in jobs {
                    match self.run_batch(&work(std::slice::from_ref(&job))).await {
                        Ok(results) => answer(vec![job], results),
                        Err(error) if error.is_transient() => unavailable(vec![job], &error),
                        Err(error) => offender(job, &error, &self.metrics),
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
        halve(&mut pending, jobs, error, &self.metrics);
        while let Some(jobs) = pending.pop_front() {
            let commands = work(&jobs);
            match self.run_batch(&commands).await {
                Ok(results) => answer(jobs, results),
                Err(error) if error.is_transient() => unavailable(jobs, &error),
                Err(error) => halve(&mut pending, jobs, error, &self.metrics),
            }
        }
    }

    async fn run_batch(
        &mut self,
        commands: &[Work<'_>],
    ) -> Result<Vec<Result<Outcome, LedgerError>>, StoreError> {
        let needs = Needs::of(&just_commands(commands));
        let kept = self.conn.is_kept();
        let result = match self.in_transaction(commands, &needs).await {
            // The connection kept from an earlier batch died while idle (the database restarted,
            // or ended the session): nothing was sent, so once, at once, on a fresh one.
            Err(StoreError::NotBegun(error)) if kept => {
                tracing::debug!(%error, "kept connection failed at BEGIN; taking a fresh one");
                self.conn.reset();
                self.in_transaction(commands, &needs).await
            }
            result => result,
        };
        match &result {
            Ok(_) => {
                self.metrics.count(&self.metrics.batches, "ordinary");
                self.count(commands.len());
            }
            Err(error) => {
                self.store_error(error);
                // The next batch runs the ordinary way, once this one's first try is over.
                send_once(&mut self.applied, None);
                self.settle(false);
                self.conn.reset();
            }
        }
        result
    }

    /// The ordinary way: lock and load from the store, apply, write, commit. The first run of a
    /// batch sends the state it leaves to the loop, and says once committed that the state
    /// stands.
    async fn in_transaction(
        &mut self,
        commands: &[Work<'_>],
        needs: &Needs,
    ) -> Result<Vec<Result<Outcome, LedgerError>>, StoreError> {
        let started = std::time::Instant::now();
        let mut batch = self.store.batch(&mut self.conn).await?;
        let begun = started.elapsed();
        let now = self.clock.now();
        let snapshot = batch.load(needs, now).await?;
        let loaded = started.elapsed();
        let (results, writes, leaves) = apply_guarded(snapshot, now, &self.config, commands)?;
        send_once(&mut self.applied, Some(Arc::new(leaves)));
        let applied = started.elapsed();
        batch.write(writes).await?;
        let written = started.elapsed();
        batch.commit().await?;
        // A no-op unless this is the batch's first run: a failed run has already said no.
        self.settle(true);
        self.metrics
            .commit_seconds
            .observe((started.elapsed() - applied).as_secs_f64());
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

/// Waits for the batch before to be settled: whether it committed what it was applied to.
async fn settled(previous: &mut Option<oneshot::Receiver<bool>>) -> bool {
    match previous.take() {
        Some(committed) => committed.await.unwrap_or(false),
        None => true,
    }
}

/// Sends on a channel that is used once; later sends are dropped.
fn send_once<T>(slot: &mut Option<oneshot::Sender<T>>, value: T) {
    if let Some(sender) = slot.take() {
        let _ = sender.send(value);
    }
}

/// Waits for a first command, then takes whatever else has queued, up to `max`.
async fn next_batch(
    jobs: &Mutex<mpsc::Receiver<Job>>,
    max: usize,
    linger: Duration,
    metrics: &Metrics,
) -> Option<Vec<Job>> {
    let mut jobs = jobs.lock().await;
    let mut batch = Vec::with_capacity(max);
    batch.push(jobs.recv().await?);
    drain(&mut jobs, &mut batch, max);
    if batch.len() < max && !linger.is_zero() {
        tokio::time::sleep(linger).await;
        drain(&mut jobs, &mut batch, max);
    }
    metrics.queue_depth.set(jobs.len() as i64);
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
fn halve(
    pending: &mut VecDeque<Vec<Job>>,
    mut jobs: Vec<Job>,
    error: StoreError,
    metrics: &Metrics,
) {
    if jobs.len() == 1 {
        offender(jobs.pop().expect("one job"), &error, metrics);
        return;
    }
    let second = jobs.split_off(jobs.len() / 2);
    pending.push_front(second);
    pending.push_front(jobs);
}

/// The engine's answers, what to write, and the state the batch leaves.
type Applied = (Vec<Result<Outcome, LedgerError>>, Writes, Snapshot);

/// Runs the engine over the batch. A panic there is a bug; it must cost this batch (rolled back
/// and answered INTERNAL), not the write path of the whole service.
fn apply_guarded(
    snapshot: Snapshot,
    now: DateTime<Utc>,
    config: &ExecutorConfig,
    commands: &[Work<'_>],
) -> Result<Applied, StoreError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut ledger = Ledger::new(snapshot, now, config.limits, IdSource::Random)
            .with_catalog(config.prices.current());
        let results = (commands.iter())
            .map(|w| ledger.apply_as(w.command, w.actor))
            .collect();
        let writes = ledger.writes();
        (results, writes, ledger.leaves())
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
fn offender(job: Job, error: &StoreError, metrics: &Metrics) {
    metrics.offenders.inc();
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
            prices: Default::default(),
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
            price: None,
            budgets: Vec::new(),
            subject: String::new(),
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
        let work = [Work {
            command: &release,
            actor: "",
        }];
        let result = apply_guarded(snapshot, now, &config(), &work);
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{:?}",
            result.map(|(r, _, _)| r)
        );
    }
}
