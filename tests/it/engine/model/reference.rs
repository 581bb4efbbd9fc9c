//! The reference model: what `docs/design.md` says the ledger does, written as plainly as possible and
//! independently of the engine. Lots, holds and accounts are indices in creation order; a command
//! names them by index and the answer is predicted without ids or prose.

use std::cmp::Ordering;
use std::collections::HashMap;

use credit_ledger::ledger::{AccountStatus, HoldStatus, LedgerError, LotKind, LotStatus, Overage};
use rust_decimal::Decimal;

use super::{LIVE_LOTS_MAX, OPEN_HOLDS_MAX, SCALE, TTL_DEFAULT_MS, TTL_MAX_MS};
use crate::engine::T0_MS;

#[derive(Clone, Debug)]
pub struct MLot {
    pub account: usize,
    pub kind: LotKind,
    pub priority: i32,
    pub effective_ms: i64,
    pub expires_ms: Option<i64>,
    pub scoped: bool,
    pub remaining: Decimal,
    pub held: Decimal,
    pub status: LotStatus,
    /// Whether the batch has the lot loaded: live when the batch began, granted in it, or
    /// loaded dead because the batch loads all lots.
    pub loaded: bool,
}

/// One part of a reservation or a charge: a lot, or the credit line (`None`).
pub type MDraw = (Option<usize>, Decimal);

#[derive(Clone, Debug)]
pub struct MHold {
    pub account: usize,
    pub status: HoldStatus,
    pub reserved: Vec<MDraw>,
    pub expires_ms: i64,
    pub gpu: bool,
    /// Whether the hold names a meter (authorized by tokens, or for gpu): only such a hold's
    /// captures can be rated.
    pub metered: bool,
    /// The budgets it was authorized against, what it authorized and captured, and what it
    /// still claims of each budget: authorized - captured while open, nothing once closed.
    pub budgets: Vec<usize>,
    /// The velocity limits it counted against (indexes into the model's `limits`).
    pub limits: Vec<usize>,
    pub authorized: Decimal,
    pub captured: Decimal,
    pub claim: Decimal,
}

/// A budget, without a period: in the model, a cap for all time.
#[derive(Clone, Debug)]
pub struct MBudget {
    pub account: usize,
    pub subject: &'static str,
    /// Only the gpu meter's spending counts.
    pub gpu_only: bool,
    pub limit: Decimal,
    pub hard: bool,
    pub spent: Decimal,
    pub held: Decimal,
}

/// A velocity limit, kept as the list of what each request counted and when, and checked
/// against the documented rule (`proto/creditledger/v1/budgets.proto`): a spend counts from the
/// end of the sixtieth of the window it happened in, epoch-aligned, for the window's length.
#[derive(Clone, Debug)]
pub struct MLimit {
    pub account: usize,
    pub subject: &'static str,
    pub gpu_only: bool,
    pub limit: Decimal,
    pub window_ms: i64,
    pub max_requests: Option<u32>,
    pub records: Vec<MRecord>,
}

/// What one request (or a capture beyond its hold) counted against a velocity limit.
#[derive(Clone, Debug)]
pub struct MRecord {
    pub at_ms: i64,
    pub amount: Decimal,
    pub requests: u32,
    /// The hold an authorization made: at its close, its amount becomes what it captured (at
    /// most what it authorized).
    pub hold: Option<usize>,
}

impl MLimit {
    /// When what a request at `at_ms` (test time) counts stops counting.
    fn end_of(&self, at_ms: i64) -> i64 {
        let granule = (self.window_ms + 59) / 60;
        let epoch = T0_MS + at_ms;
        let slot = (epoch + granule - 1).div_euclid(granule) * granule;
        slot - T0_MS + self.window_ms
    }

    /// (spent, requests) counted at `now_ms`.
    pub fn counted(&self, now_ms: i64) -> (Decimal, u32) {
        (self.records.iter())
            .filter(|r| self.end_of(r.at_ms) > now_ms)
            .fold((Decimal::ZERO, 0), |(a, n), r| {
                (a + r.amount, n + r.requests)
            })
    }

    /// Whether one more request of `quantity` fits at `now_ms`; if not, from when it would
    /// (`None`: never).
    fn fits(&self, quantity: Decimal, now_ms: i64) -> Result<(), Option<i64>> {
        let cap = self.max_requests.unwrap_or(u32::MAX);
        let ok = |(spent, n): (Decimal, u32)| spent + quantity <= self.limit && n < cap;
        if ok(self.counted(now_ms)) {
            return Ok(());
        }
        if quantity > self.limit {
            return Err(None);
        }
        let mut ends: Vec<i64> = (self.records.iter())
            .map(|r| self.end_of(r.at_ms))
            .filter(|&end| end > now_ms)
            .collect();
        ends.sort_unstable();
        Err(ends.into_iter().find(|&end| ok(self.counted(end))))
    }
}

/// The subjects the model's requests name (by index).
pub const SUBJECTS: [&str; 5] = ["", "team:a", "team:a/key:1", "team:a/key:2", "team:b"];

/// The model's budgets, made before the first step: (account, subject, gpu only, limit, hard).
pub const BUDGETS: [(usize, &str, bool, &str, bool); 5] = [
    (0, "team:a", false, "12", true),
    (0, "team:a/key:1", false, "5", true),
    (0, "", true, "8", true),
    (1, "team:b", false, "6", true),
    (1, "", false, "30", false),
];

/// A velocity limit as made: (account, subject, gpu only, limit, window in seconds, requests
/// cap).
pub type LimitTerms = (usize, &'static str, bool, &'static str, i64, Option<u32>);

/// The model's velocity limits, made after its budgets.
pub const LIMITS: [LimitTerms; 4] = [
    (0, "team:a/key:2", false, "6", 30, Some(2)),
    (1, "", false, "1000", 12, Some(3)),
    (0, "", true, "15", 120, None),
    (1, "team:b", false, "12", 12, Some(2)),
];

/// Whether a budget for `budget` counts a request of `subject`: the same path or one under it.
fn covers(budget: &str, subject: &str) -> bool {
    budget.is_empty() || subject == budget || subject.starts_with(&format!("{budget}/"))
}

/// Of budgets or limits given as (account, subject, gpu only), the indexes of those a request of
/// `subject` on `account` (for the gpu meter or not) counts against, the most specific first.
fn applying<'a>(
    scopes: impl Iterator<Item = (usize, &'a str, bool)>,
    account: usize,
    subject: &str,
    gpu: bool,
) -> Vec<usize> {
    let mut found: Vec<(usize, usize)> = scopes
        .enumerate()
        .filter(|(_, (a, s, gpu_only))| *a == account && covers(s, subject) && (gpu || !gpu_only))
        .map(|(i, (_, s, _))| (i, s.len()))
        .collect();
    found.sort_by_key(|&(i, len)| (std::cmp::Reverse(len), i));
    found.into_iter().map(|(i, _)| i).collect()
}

#[derive(Clone, Debug)]
pub struct MAccount {
    pub status: AccountStatus,
    pub limit: Decimal,
    pub used: Decimal,
    pub line_held: Decimal,
    pub open_holds: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MGrant {
    pub account: usize,
    pub kind: LotKind,
    pub quantity: Decimal,
    pub price: Decimal,
    pub priority: i32,
    pub effective_ms: Option<i64>,
    pub expires_ms: Option<i64>,
    pub scoped: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MOp {
    Grant(MGrant),
    Void {
        account: usize,
        lot: usize,
        release_holds: bool,
    },
    /// An authorization of a quantity, or (with `tokens`) of an estimate rated by [`PRICES`].
    Authorize {
        account: usize,
        quantity: Decimal,
        ttl_ms: Option<u64>,
        gpu: bool,
        tokens: Option<u32>,
        /// An index into [`SUBJECTS`].
        subject: usize,
    },
    /// A capture of a quantity, or (with `tokens`) of usage rated at the hold's version.
    Capture {
        hold: usize,
        quantity: Decimal,
        is_final: bool,
        overage: Overage,
        tokens: Option<u32>,
    },
    Release {
        hold: usize,
    },
    Extend {
        hold: usize,
        ttl_ms: u64,
    },
    /// A debit of a quantity, or (with `tokens`) of usage rated by [`PRICES`].
    Debit {
        account: usize,
        quantity: Decimal,
        gpu: bool,
        tokens: Option<u32>,
        /// An index into [`SUBJECTS`].
        subject: usize,
    },
    Update {
        account: usize,
        limit: Option<Decimal>,
        status: Option<AccountStatus>,
    },
    /// The sweeper's command: posts the expiry of the account's lots past their expiry. It has
    /// no idempotency record; a second sweep finds nothing to do.
    Sweep {
        account: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct MCmd {
    pub key: String,
    pub op: MOp,
}

/// What the model predicts a command answers.
#[derive(Clone, Debug, PartialEq)]
pub enum MOut {
    Account {
        status: AccountStatus,
        limit: Decimal,
    },
    Granted(usize),
    Voided {
        lot: usize,
        quantity: Decimal,
    },
    Authorized {
        hold: usize,
        reserved: Vec<MDraw>,
        available: Decimal,
    },
    Captured {
        charged: Decimal,
        draws: Vec<MDraw>,
        released: Decimal,
        status: HoldStatus,
    },
    Released {
        released: Decimal,
    },
    Extended {
        expires_ms: i64,
    },
    Debited {
        charged: Decimal,
        draws: Vec<MDraw>,
        available: Decimal,
    },
    Swept {
        lots_expired: u32,
    },
}

/// A refusal as the model predicts it: the engine's error without the ids and the prose.
#[derive(Clone, Debug, PartialEq)]
pub enum MErr {
    Invalid(&'static str),
    NonPositive,
    TooManyDecimals,
    AmountTooLarge,
    AccountNotFound,
    LotNotFound,
    HoldNotFound,
    Frozen,
    Closed,
    Insufficient {
        requested: Decimal,
        available: Decimal,
    },
    HoldExpired,
    HoldNotOpen(HoldStatus),
    CaptureExceedsHold {
        requested: Decimal,
        held: Decimal,
    },
    LotNotActive(LotStatus),
    LotHeld(Decimal),
    CreditLineBelowUsage {
        limit: Decimal,
        in_use: Decimal,
    },
    TooManyOpenHolds,
    BudgetExceeded {
        limit: Decimal,
        spent: Decimal,
        held: Decimal,
        requested: Decimal,
    },
    VelocityLimited {
        limit: Decimal,
        spent: Decimal,
        requests: u32,
        requested: Decimal,
        /// Test time.
        retry_ms: Option<i64>,
    },
    TooManyLots,
    ExternalIdTaken,
    Conflict,
}

pub type MResult = Result<MOut, MErr>;

/// The whole model: two accounts' lots, holds and credit lines, and the answers already given.
pub struct Model {
    pub now_ms: i64,
    pub accounts: Vec<MAccount>,
    pub lots: Vec<MLot>,
    pub holds: Vec<MHold>,
    /// The first command and answer under each (account, idempotency key).
    pub done: HashMap<(usize, String), (MCmd, MOut)>,
    /// Per account and meter (gpu or not), what rated debits left below the unit's scale.
    pub carries: HashMap<(usize, bool), Decimal>,
    pub budgets: Vec<MBudget>,
    pub limits: Vec<MLimit>,
}

/// The model's price list, written from `docs/accounting.md` alone: per meter (gpu or not), the
/// price of a block of tokens and the block. The engine's catalog says the same
/// (`world::catalog`).
pub const PRICES: [(bool, &str, u64); 2] = [(false, "0.37", 100), (true, "0.013", 1)];

/// What `tokens` of the meter are worth by [`PRICES`].
fn value_of(gpu: bool, tokens: u32) -> Decimal {
    let (_, price, block) = PRICES.iter().find(|(g, _, _)| *g == gpu).unwrap();
    let price: Decimal = price.parse().unwrap();
    Decimal::from(tokens) * price / Decimal::from(*block)
}

/// Whether a quantity fits the unit's two decimals.
fn fits(quantity: Decimal) -> bool {
    quantity.round_dp(SCALE) == quantity
}

/// Expiring lots before never-expiring ones, the soonest first.
fn soonest_first(x: Option<i64>, y: Option<i64>) -> Ordering {
    match (x, y) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn promotional_first(x: LotKind, y: LotKind) -> Ordering {
    let rank = |kind| if kind == LotKind::Promotional { 0 } else { 1 };
    rank(x).cmp(&rank(y))
}

impl Model {
    pub fn new(limits: &[Decimal]) -> Self {
        let account = |&limit| MAccount {
            status: AccountStatus::Active,
            limit,
            used: Decimal::ZERO,
            line_held: Decimal::ZERO,
            open_holds: 0,
        };
        let accounts = limits.iter().map(account).collect();
        Model {
            now_ms: 0,
            accounts,
            lots: Vec::new(),
            holds: Vec::new(),
            done: HashMap::new(),
            carries: HashMap::new(),
            budgets: (BUDGETS.iter())
                .map(|&(account, subject, gpu_only, limit, hard)| MBudget {
                    account,
                    subject,
                    gpu_only,
                    limit: limit.parse().unwrap(),
                    hard,
                    spent: Decimal::ZERO,
                    held: Decimal::ZERO,
                })
                .collect(),
            limits: (LIMITS.iter())
                .map(
                    |&(account, subject, gpu_only, limit, seconds, max_requests)| MLimit {
                        account,
                        subject,
                        gpu_only,
                        limit: limit.parse().unwrap(),
                        window_ms: seconds * 1000,
                        max_requests,
                        records: Vec::new(),
                    },
                )
                .collect(),
        }
    }

    /// The velocity limits a request counts against, the most specific first; refused by the
    /// first without room. Checked after the budgets.
    fn check_limits(
        &self,
        account: usize,
        subject: usize,
        gpu: bool,
        quantity: Decimal,
    ) -> Result<Vec<usize>, MErr> {
        let scopes = (self.limits.iter()).map(|l| (l.account, l.subject, l.gpu_only));
        let applying = applying(scopes, account, SUBJECTS[subject], gpu);
        for &i in &applying {
            let l = &self.limits[i];
            if let Err(retry_ms) = l.fits(quantity, self.now_ms) {
                let (spent, requests) = l.counted(self.now_ms);
                return Err(MErr::VelocityLimited {
                    limit: l.limit,
                    spent,
                    requests,
                    requested: quantity,
                    retry_ms,
                });
            }
        }
        Ok(applying)
    }

    fn count(&mut self, limits: &[usize], amount: Decimal, requests: u32, hold: Option<usize>) {
        for &i in limits {
            self.limits[i].records.push(MRecord {
                at_ms: self.now_ms,
                amount,
                requests,
                hold,
            });
        }
    }

    /// The budgets a request of `subject` for the meter counts against, the most specific first;
    /// refused by the first hard one that has no room for `quantity`.
    fn check_budgets(
        &self,
        account: usize,
        subject: usize,
        gpu: bool,
        quantity: Decimal,
    ) -> Result<Vec<usize>, MErr> {
        let scopes = (self.budgets.iter()).map(|b| (b.account, b.subject, b.gpu_only));
        let applying = applying(scopes, account, SUBJECTS[subject], gpu);
        for &i in &applying {
            let b = &self.budgets[i];
            if b.hard && b.spent + b.held + quantity > b.limit {
                return Err(MErr::BudgetExceeded {
                    limit: b.limit,
                    spent: b.spent,
                    held: b.held,
                    requested: quantity,
                });
            }
        }
        Ok(applying)
    }

    /// Moves the hold's budgets' held by what its claim changed.
    fn reclaim(&mut self, hold: usize) {
        let h = &self.holds[hold];
        let claim = match h.status {
            HoldStatus::Open => (h.authorized - h.captured).max(Decimal::ZERO),
            _ => Decimal::ZERO,
        };
        let delta = claim - h.claim;
        for b in h.budgets.clone() {
            self.budgets[b].held += delta;
        }
        if h.status != HoldStatus::Open {
            let kept = h.captured.min(h.authorized);
            for l in h.limits.clone() {
                for r in &mut self.limits[l].records {
                    if r.hold == Some(hold) {
                        r.amount = kept;
                    }
                }
            }
        }
        self.holds[hold].claim = claim;
    }

    /// A new batch at `now_ms`: holds past their TTL let go of their credit, and the live lots
    /// are loaded (and the dead ones with `dead_lots`).
    pub fn start_batch(&mut self, now_ms: i64, dead_lots: bool) {
        self.now_ms = now_ms;
        for h in 0..self.holds.len() {
            if self.holds[h].status == HoldStatus::Open && self.holds[h].expires_ms <= now_ms {
                self.close(h, HoldStatus::Expired);
            }
        }
        for lot in &mut self.lots {
            lot.loaded = dead_lots || lot.status == LotStatus::Active;
        }
    }

    fn expired(&self, lot: usize) -> bool {
        self.lots[lot]
            .expires_ms
            .is_some_and(|at| at <= self.now_ms)
    }

    fn usable(&self, lot: usize, gpu: bool) -> bool {
        let l = &self.lots[lot];
        let effective = l.effective_ms <= self.now_ms;
        l.status == LotStatus::Active && effective && !self.expired(lot) && (!l.scoped || gpu)
    }

    /// A reservation can still be charged while its lot is active and unexpired.
    fn chargeable(&self, draw: &MDraw) -> bool {
        match draw.0 {
            None => true,
            Some(lot) => self.lots[lot].status == LotStatus::Active && !self.expired(lot),
        }
    }

    fn line_free(&self, account: usize) -> Decimal {
        let a = &self.accounts[account];
        (a.limit - a.used - a.line_held).max(Decimal::ZERO)
    }

    pub fn available(&self, account: usize, gpu: bool) -> Decimal {
        let lots = self
            .lots
            .iter()
            .enumerate()
            .filter(|(i, l)| l.account == account && self.usable(*i, gpu));
        lots.map(|(_, l)| l.remaining - l.held).sum::<Decimal>() + self.line_free(account)
    }

    /// The drawdown order of `docs/design.md`: lower priority first; then the soonest expiry, with
    /// never-expiring lots last; then promotional before paid; then the oldest first.
    fn order(&self, account: usize, gpu: bool) -> Vec<usize> {
        let mut lots: Vec<usize> = (0..self.lots.len())
            .filter(|&i| self.lots[i].account == account && self.usable(i, gpu))
            .collect();
        lots.sort_by(|&a, &b| {
            let (x, y) = (&self.lots[a], &self.lots[b]);
            x.priority
                .cmp(&y.priority)
                .then_with(|| soonest_first(x.expires_ms, y.expires_ms))
                .then_with(|| promotional_first(x.kind, y.kind))
                .then(a.cmp(&b))
        });
        lots
    }

    /// Where `amount` comes from: free credit of the lots in drawdown order, then the line.
    fn plan(&self, account: usize, amount: Decimal, gpu: bool) -> Result<Vec<MDraw>, MErr> {
        let mut left = amount;
        let mut draws = Vec::new();
        for lot in self.order(account, gpu) {
            let take = (self.lots[lot].remaining - self.lots[lot].held).min(left);
            if take > Decimal::ZERO {
                draws.push((Some(lot), take));
                left -= take;
            }
        }
        let line = self.line_free(account).min(left);
        if line > Decimal::ZERO {
            draws.push((None, line));
            left -= line;
        }
        match left.is_zero() {
            true => Ok(draws),
            false => Err(MErr::Insufficient {
                requested: amount,
                available: self.available(account, gpu),
            }),
        }
    }

    fn reserve(&mut self, account: usize, draws: &[MDraw]) {
        for &(lot, quantity) in draws {
            match lot {
                Some(lot) => self.lots[lot].held += quantity,
                None => self.accounts[account].line_held += quantity,
            }
        }
    }

    fn unreserve(&mut self, account: usize, draws: &[MDraw]) -> Decimal {
        for &(lot, quantity) in draws {
            match lot {
                Some(lot) => self.lots[lot].held -= quantity,
                None => self.accounts[account].line_held -= quantity,
            }
        }
        draws.iter().map(|d| d.1).sum()
    }

    /// Closes an open hold, giving back what it still reserves; returns how much that was.
    fn close(&mut self, hold: usize, status: HoldStatus) -> Decimal {
        let account = self.holds[hold].account;
        let reserved = std::mem::take(&mut self.holds[hold].reserved);
        self.holds[hold].status = status;
        self.accounts[account].open_holds -= 1;
        self.reclaim(hold);
        self.unreserve(account, &reserved)
    }

    fn consume(&mut self, account: usize, (lot, quantity): MDraw, reserved: bool) {
        let Some(lot) = lot else {
            let a = &mut self.accounts[account];
            a.used += quantity;
            a.line_held -= if reserved { quantity } else { Decimal::ZERO };
            return;
        };
        let l = &mut self.lots[lot];
        l.remaining -= quantity;
        l.held -= if reserved { quantity } else { Decimal::ZERO };
        if l.remaining.is_zero() {
            l.status = LotStatus::Depleted;
        }
    }

    /// Idempotency first (after finding the account the key belongs to), then the command.
    /// Also says whether the answer is a replay.
    pub fn apply(&mut self, cmd: &MCmd) -> (MResult, bool) {
        let scope = match self.scope(&cmd.op) {
            Ok(scope) => scope,
            Err(e) => return (Err(e), false),
        };
        if let MOp::Sweep { account } = cmd.op {
            return (self.sweep(account), false);
        }
        let key = (scope, cmd.key.clone());
        if let Some((first, out)) = self.done.get(&key) {
            // Amounts compare by value (`Decimal` equality ignores trailing zeros), as the engine
            // normalizes what it parses: "1.5" and "1.50" are the same request.
            return match first == cmd {
                true => (Ok(out.clone()), true),
                false => (Err(MErr::Conflict), false),
            };
        }
        let result = self.execute(&cmd.op);
        if let Ok(out) = &result {
            self.done.insert(key, (cmd.clone(), out.clone()));
        }
        (result, false)
    }

    pub fn scope(&self, op: &MOp) -> Result<usize, MErr> {
        let account = match *op {
            MOp::Grant(MGrant { account, .. })
            | MOp::Void { account, .. }
            | MOp::Authorize { account, .. }
            | MOp::Debit { account, .. }
            | MOp::Update { account, .. }
            | MOp::Sweep { account } => account,
            MOp::Capture { hold, .. } | MOp::Release { hold } | MOp::Extend { hold, .. } => {
                return self
                    .holds
                    .get(hold)
                    .map(|h| h.account)
                    .ok_or(MErr::HoldNotFound)
            }
        };
        (account < self.accounts.len())
            .then_some(account)
            .ok_or(MErr::AccountNotFound)
    }

    fn execute(&mut self, op: &MOp) -> MResult {
        match *op {
            MOp::Grant(ref g) => self.grant(g),
            MOp::Void {
                account,
                lot,
                release_holds,
            } => self.void(account, lot, release_holds),
            MOp::Authorize {
                account,
                quantity,
                ttl_ms,
                gpu,
                tokens,
                subject,
            } => self.authorize(account, quantity, ttl_ms, gpu, tokens, subject),
            MOp::Capture {
                hold,
                quantity,
                is_final,
                overage,
                tokens,
            } => self.capture(hold, quantity, is_final, overage, tokens),
            MOp::Release { hold } => self.release(hold),
            MOp::Extend { hold, ttl_ms } => self.extend(hold, ttl_ms),
            MOp::Debit {
                account,
                quantity,
                gpu,
                tokens,
                subject,
            } => self.debit(account, quantity, gpu, tokens, subject),
            MOp::Update {
                account,
                limit,
                status,
            } => self.update(account, limit, status),
            MOp::Sweep { account } => self.sweep(account),
        }
    }

    fn grant(&mut self, g: &MGrant) -> MResult {
        let account = &self.accounts[g.account];
        let effective_ms = g.effective_ms.unwrap_or(self.now_ms);
        if account.status == AccountStatus::Closed {
            return Err(MErr::Closed);
        }
        if !fits(g.quantity) {
            return Err(MErr::TooManyDecimals);
        }
        if g.kind == LotKind::Paid && g.price.is_zero() {
            return Err(MErr::Invalid("price"));
        }
        if g.expires_ms
            .is_some_and(|at| at <= effective_ms || at <= self.now_ms)
        {
            return Err(MErr::Invalid("expires_at"));
        }
        // Lots count against the limit while active and not past their expiry.
        let live = (0..self.lots.len())
            .filter(|&i| self.lots[i].account == g.account)
            .filter(|&i| self.lots[i].status == LotStatus::Active && !self.expired(i))
            .count() as u32;
        if live >= LIVE_LOTS_MAX {
            return Err(MErr::TooManyLots);
        }
        self.lots.push(MLot {
            account: g.account,
            kind: g.kind,
            priority: g.priority,
            effective_ms,
            expires_ms: g.expires_ms,
            scoped: g.scoped,
            remaining: g.quantity,
            held: Decimal::ZERO,
            status: LotStatus::Active,
            loaded: true,
        });
        Ok(MOut::Granted(self.lots.len() - 1))
    }

    fn void(&mut self, account: usize, lot: usize, release_holds: bool) -> MResult {
        let found = self
            .lots
            .get(lot)
            .filter(|l| l.account == account && l.loaded);
        let found = found.ok_or(MErr::LotNotFound)?;
        if found.status != LotStatus::Active {
            return Err(MErr::LotNotActive(found.status));
        }
        if self.expired(lot) {
            return Err(MErr::LotNotActive(LotStatus::Expired));
        }
        if found.held > Decimal::ZERO && !release_holds {
            return Err(MErr::LotHeld(found.held));
        }
        self.release_lot(account, lot);
        let quantity = std::mem::take(&mut self.lots[lot].remaining);
        self.lots[lot].status = LotStatus::Voided;
        Ok(MOut::Voided { lot, quantity })
    }

    /// Takes a lot out of every open hold that reserves it; a hold left with nothing is released.
    fn release_lot(&mut self, account: usize, lot: usize) {
        for h in 0..self.holds.len() {
            if self.holds[h].status != HoldStatus::Open {
                continue;
            }
            let reserved = std::mem::take(&mut self.holds[h].reserved);
            let (on_lot, rest): (Vec<MDraw>, Vec<MDraw>) =
                reserved.into_iter().partition(|d| d.0 == Some(lot));
            self.holds[h].reserved = rest;
            self.unreserve(account, &on_lot);
            if !on_lot.is_empty() && self.holds[h].reserved.is_empty() {
                self.close(h, HoldStatus::Released);
            }
        }
    }

    /// Every active lot of the account past its expiry is emptied and marked expired, whatever
    /// the account's status.
    fn sweep(&mut self, account: usize) -> MResult {
        let due: Vec<usize> = (0..self.lots.len())
            .filter(|&l| {
                let lot = &self.lots[l];
                lot.account == account && lot.status == LotStatus::Active && self.expired(l)
            })
            .collect();
        for &lot in &due {
            self.release_lot(account, lot);
            self.lots[lot].remaining = Decimal::ZERO;
            self.lots[lot].status = LotStatus::Expired;
        }
        Ok(MOut::Swept {
            lots_expired: due.len() as u32,
        })
    }

    fn can_spend(&self, account: usize) -> Result<(), MErr> {
        match self.accounts[account].status {
            AccountStatus::Active => Ok(()),
            AccountStatus::Frozen => Err(MErr::Frozen),
            AccountStatus::Closed => Err(MErr::Closed),
        }
    }

    fn authorize(
        &mut self,
        account: usize,
        quantity: Decimal,
        ttl_ms: Option<u64>,
        gpu: bool,
        tokens: Option<u32>,
        subject: usize,
    ) -> MResult {
        let ttl_ms = ttl_ms.unwrap_or(TTL_DEFAULT_MS);
        if ttl_ms == 0 || ttl_ms > TTL_MAX_MS {
            return Err(MErr::Invalid("ttl_ms"));
        }
        self.can_spend(account)?;
        // Rated: the estimate's value rounded up to the scale; an estimate worth nothing holds
        // nothing and is refused.
        let quantity = match tokens {
            None => quantity,
            Some(tokens) => {
                let held = value_of(gpu, tokens)
                    .round_dp_with_strategy(SCALE, rust_decimal::RoundingStrategy::AwayFromZero);
                if held.is_zero() {
                    return Err(MErr::Invalid("usage"));
                }
                held
            }
        };
        if !fits(quantity) {
            return Err(MErr::TooManyDecimals);
        }
        if self.accounts[account].open_holds >= OPEN_HOLDS_MAX {
            return Err(MErr::TooManyOpenHolds);
        }
        let budgets = self.check_budgets(account, subject, gpu, quantity)?;
        let limits = self.check_limits(account, subject, gpu, quantity)?;
        let reserved = self.plan(account, quantity, gpu)?;
        self.count(&limits, quantity, 1, Some(self.holds.len()));
        self.reserve(account, &reserved);
        self.accounts[account].open_holds += 1;
        let expires_ms = self.now_ms + ttl_ms as i64;
        let hold = MHold {
            account,
            status: HoldStatus::Open,
            reserved: reserved.clone(),
            expires_ms,
            gpu,
            metered: gpu || tokens.is_some(),
            budgets,
            limits,
            authorized: quantity,
            captured: Decimal::ZERO,
            claim: Decimal::ZERO,
        };
        self.holds.push(hold);
        self.reclaim(self.holds.len() - 1);
        let available = self.available(account, gpu);
        Ok(MOut::Authorized {
            hold: self.holds.len() - 1,
            reserved,
            available,
        })
    }

    fn check_open(&self, hold: usize) -> Result<(), MErr> {
        let h = &self.holds[hold];
        match h.status {
            HoldStatus::Expired => Err(MErr::HoldExpired),
            HoldStatus::Open if h.expires_ms <= self.now_ms => Err(MErr::HoldExpired),
            HoldStatus::Open => Ok(()),
            status => Err(MErr::HoldNotOpen(status)),
        }
    }

    fn capture(
        &mut self,
        hold: usize,
        quantity: Decimal,
        is_final: bool,
        overage: Overage,
        tokens: Option<u32>,
    ) -> MResult {
        self.check_open(hold)?;
        let MHold {
            account,
            gpu,
            metered,
            ..
        } = self.holds[hold];
        if self.accounts[account].status == AccountStatus::Closed {
            return Err(MErr::Closed);
        }
        // Rated: the tokens' value plus the meter's carry, rounded down; the carry is kept only
        // once the capture is sure to go through. A hold that names no meter cannot be rated.
        let (quantity, carry) = match tokens {
            None => (quantity, None),
            Some(_) if !metered => return Err(MErr::Invalid("meter")),
            Some(tokens) => {
                let (charged, carry) = self.rated(account, gpu, tokens);
                (charged, Some(carry))
            }
        };
        if !fits(quantity) {
            return Err(MErr::TooManyDecimals);
        }
        let reserved = &self.holds[hold].reserved;
        let chargeable: Decimal = reserved
            .iter()
            .filter(|d| self.chargeable(d))
            .map(|d| d.1)
            .sum();
        let (from_hold, beyond) = match overage {
            _ if quantity <= chargeable => (quantity, Decimal::ZERO),
            Overage::Reject => {
                return Err(MErr::CaptureExceedsHold {
                    requested: quantity,
                    held: chargeable,
                })
            }
            Overage::Clamp => (chargeable, Decimal::ZERO),
            Overage::DrawAvailable => (chargeable, quantity - chargeable),
        };
        // Credit beyond the hold is new spending: a frozen account may not do it, and when the
        // account cannot cover it the refusal names the whole capture against everything the
        // capture could draw on, the hold's chargeable part included.
        let extra = match beyond.is_zero() {
            true => Vec::new(),
            false => {
                self.can_spend(account)?;
                let available = self.available(account, gpu);
                if available < beyond {
                    return Err(MErr::Insufficient {
                        requested: quantity,
                        available: chargeable + available,
                    });
                }
                self.plan(account, beyond, gpu)?
            }
        };
        let mut draws = self.consume_reserved(hold, from_hold);
        for draw in extra {
            self.consume(account, draw, false);
            draws.push(draw);
        }
        let (released, status) = match is_final || self.holds[hold].reserved.is_empty() {
            true => (self.close(hold, HoldStatus::Captured), HoldStatus::Captured),
            false => (Decimal::ZERO, HoldStatus::Open),
        };
        if let Some(carry) = carry {
            self.carries.insert((account, gpu), carry);
        }
        // What a capture charges is spent, in full, on the budgets the hold was authorized
        // against; its claim shrinks by it (to nothing once closed).
        let charged = from_hold + beyond;
        let h = &self.holds[hold];
        let over = (h.captured + charged - h.authorized).max(Decimal::ZERO)
            - (h.captured - h.authorized).max(Decimal::ZERO);
        self.holds[hold].captured += charged;
        self.reclaim(hold);
        if over > Decimal::ZERO {
            let limits = self.holds[hold].limits.clone();
            self.count(&limits, over, 0, None);
        }
        if !charged.is_zero() {
            for b in self.holds[hold].budgets.clone() {
                self.budgets[b].spent += charged;
            }
        }
        Ok(MOut::Captured {
            charged: from_hold + beyond,
            draws,
            released,
            status,
        })
    }

    /// Consumes `amount` of a hold's chargeable reservations, in the order they were made.
    fn consume_reserved(&mut self, hold: usize, amount: Decimal) -> Vec<MDraw> {
        let account = self.holds[hold].account;
        let mut reserved = std::mem::take(&mut self.holds[hold].reserved);
        let mut left = amount;
        let mut draws = Vec::new();
        for draw in reserved.iter_mut() {
            let take = draw.1.min(left);
            if take > Decimal::ZERO && self.chargeable(draw) {
                self.consume(account, (draw.0, take), true);
                draw.1 -= take;
                left -= take;
                draws.push((draw.0, take));
            }
        }
        reserved.retain(|d| !d.1.is_zero());
        self.holds[hold].reserved = reserved;
        draws
    }

    fn release(&mut self, hold: usize) -> MResult {
        self.check_open(hold)?;
        Ok(MOut::Released {
            released: self.close(hold, HoldStatus::Released),
        })
    }

    fn extend(&mut self, hold: usize, ttl_ms: u64) -> MResult {
        if ttl_ms == 0 || ttl_ms > TTL_MAX_MS {
            return Err(MErr::Invalid("ttl_ms"));
        }
        self.check_open(hold)?;
        self.holds[hold].expires_ms = self.now_ms + ttl_ms as i64;
        Ok(MOut::Extended {
            expires_ms: self.holds[hold].expires_ms,
        })
    }

    fn debit(
        &mut self,
        account: usize,
        quantity: Decimal,
        gpu: bool,
        tokens: Option<u32>,
        subject: usize,
    ) -> MResult {
        self.can_spend(account)?;
        // Rated: the tokens' value plus what earlier rated debits of the meter left, rounded
        // down to the scale; the rest is carried, once the debit is sure to go through.
        let (quantity, carry) = match tokens {
            None => (quantity, None),
            Some(tokens) => {
                let (charged, carry) = self.rated(account, gpu, tokens);
                (charged, Some(carry))
            }
        };
        if !fits(quantity) {
            return Err(MErr::TooManyDecimals);
        }
        let budgets = self.check_budgets(account, subject, gpu, quantity)?;
        let limits = self.check_limits(account, subject, gpu, quantity)?;
        let draws = self.plan(account, quantity, gpu)?;
        self.count(&limits, quantity, 1, None);
        for &draw in &draws {
            self.consume(account, draw, false);
        }
        for b in budgets {
            self.budgets[b].spent += quantity;
        }
        if let Some(carry) = carry {
            self.carries.insert((account, gpu), carry);
        }
        let available = self.available(account, gpu);
        Ok(MOut::Debited {
            charged: quantity,
            draws,
            available,
        })
    }

    /// What `tokens` of the meter charge the account, and what they leave carried.
    fn rated(&self, account: usize, gpu: bool, tokens: u32) -> (Decimal, Decimal) {
        let owed = value_of(gpu, tokens)
            + self
                .carries
                .get(&(account, gpu))
                .copied()
                .unwrap_or_default();
        let charged = owed.trunc_with_scale(SCALE);
        (charged, owed - charged)
    }

    fn update(
        &mut self,
        account: usize,
        limit: Option<Decimal>,
        status: Option<AccountStatus>,
    ) -> MResult {
        let a = &mut self.accounts[account];
        if a.status == AccountStatus::Closed {
            return Err(MErr::Closed);
        }
        let in_use = a.used + a.line_held;
        if let Some(limit) = limit.filter(|&limit| limit < in_use) {
            return Err(MErr::CreditLineBelowUsage { limit, in_use });
        }
        a.limit = limit.unwrap_or(a.limit);
        a.status = status.unwrap_or(a.status);
        Ok(MOut::Account {
            status: a.status,
            limit: a.limit,
        })
    }
}

pub fn project_err(error: &LedgerError) -> MErr {
    match error {
        LedgerError::InvalidArgument { field, .. } => MErr::Invalid(field),
        LedgerError::NonPositiveAmount { .. } => MErr::NonPositive,
        LedgerError::TooManyDecimals { .. } => MErr::TooManyDecimals,
        LedgerError::AmountTooLarge { .. } => MErr::AmountTooLarge,
        LedgerError::AccountNotFound { .. } => MErr::AccountNotFound,
        LedgerError::LotNotFound { .. } => MErr::LotNotFound,
        LedgerError::HoldNotFound { .. } => MErr::HoldNotFound,
        LedgerError::AccountFrozen { .. } => MErr::Frozen,
        LedgerError::AccountClosed { .. } => MErr::Closed,
        LedgerError::InsufficientCredit {
            requested,
            available,
        } => MErr::Insufficient {
            requested: requested.get(),
            available: available.get(),
        },
        LedgerError::HoldExpired { .. } => MErr::HoldExpired,
        LedgerError::HoldNotOpen { status, .. } => MErr::HoldNotOpen(*status),
        LedgerError::CaptureExceedsHold { requested, held } => MErr::CaptureExceedsHold {
            requested: requested.get(),
            held: held.get(),
        },
        LedgerError::LotNotActive { status, .. } => MErr::LotNotActive(*status),
        LedgerError::LotHeld { held, .. } => MErr::LotHeld(held.get()),
        LedgerError::CreditLineBelowUsage { limit, in_use } => MErr::CreditLineBelowUsage {
            limit: limit.get(),
            in_use: in_use.get(),
        },
        LedgerError::TooManyOpenHolds { .. } => MErr::TooManyOpenHolds,
        LedgerError::TooManyLots { .. } => MErr::TooManyLots,
        LedgerError::ExternalIdTaken { .. } => MErr::ExternalIdTaken,
        LedgerError::IdempotencyConflict { .. } => MErr::Conflict,
        LedgerError::CommitmentActive { .. } | LedgerError::CommitmentNotFound { .. } => {
            unreachable!("the model has no commitments: {error:?}")
        }
        LedgerError::BudgetExceeded(r) => MErr::BudgetExceeded {
            limit: r.limit.get(),
            spent: r.spent.get(),
            held: r.held.get(),
            requested: r.requested.get(),
        },
        LedgerError::VelocityLimited(r) => MErr::VelocityLimited {
            limit: r.limit.get(),
            spent: r.spent.get(),
            requests: r.requests,
            requested: r.requested.get(),
            retry_ms: r.retry_at.map(crate::engine::ms_of),
        },
        LedgerError::BudgetNotFound { .. }
        | LedgerError::BudgetExists { .. }
        | LedgerError::TooManyBudgets { .. } => {
            unreachable!("the model has no budgets yet: {error:?}")
        }
        LedgerError::AutoTopUpNotSet { .. }
        | LedgerError::TopUpRequestNotOpen { .. }
        | LedgerError::RecurringGrantNotFound { .. }
        | LedgerError::TooManyRecurringGrants { .. } => {
            unreachable!("the model has no refills: {error:?}")
        }
        LedgerError::PeriodNotEnded { .. }
        | LedgerError::PeriodOutOfOrder { .. }
        | LedgerError::PeriodClosing { .. } => {
            unreachable!("the engine never closes a period: {error:?}")
        }
        LedgerError::NotPriced(_)
        | LedgerError::PriceVersionNotLoaded { .. }
        | LedgerError::PriceBookUnit { .. } => {
            unreachable!("the model has no price books: {error:?}")
        }
    }
}
