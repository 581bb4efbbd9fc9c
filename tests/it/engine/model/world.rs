//! The world: the engine harness and the reference model side by side, with the ids that map
//! one to the other. It turns a random step into a command for both, compares their answers and
//! their state, and checks the invariants after every step.

use std::collections::HashMap;

use credit_ledger::ledger::{Authorize, BudgetId, CreateBudget, Draw};
use uuid::Uuid;

use super::reference::{
    project_err, MCmd, MDraw, MErr, MGrant, MOp, MOut, Model, BUDGETS, LIMITS, SUBJECTS,
};
use super::{
    Op, Step, LINE_PRICE, LIVE_LOTS_MAX, OPEN_HOLDS_MAX, SCALE, TTL_DEFAULT_MS, TTL_MAX_MS, UNKNOWN,
};
use crate::engine::*;

pub struct World {
    h: Harness,
    model: Model,
    accounts: Vec<AccountId>,
    lots: Vec<LotId>,
    holds: Vec<HoldId>,
    lot_index: HashMap<LotId, usize>,
    hold_index: HashMap<HoldId, usize>,
    history: Vec<MCmd>,
    /// The engine's first answer under each (account, key), which every replay must repeat.
    first_answers: HashMap<(usize, String), Outcome>,
    keys: usize,
    /// The engine's id of each of the model's budgets, and of its velocity limits.
    budgets: Vec<BudgetId>,
    limits: Vec<BudgetId>,
}

impl World {
    pub fn new() -> Self {
        let limits = Limits {
            open_holds_per_account_max: OPEN_HOLDS_MAX,
            live_lots_per_account_max: LIVE_LOTS_MAX,
            hold_ttl_default_ms: TTL_DEFAULT_MS,
            hold_ttl_max_ms: TTL_MAX_MS,
            budgets_per_account_max: 100,
        };
        let mut h = Harness::new(limits);
        let accounts = vec![
            h.open_account(SCALE, "0", "0"),
            h.open_account(SCALE, "10", LINE_PRICE),
        ];
        let budgets = (BUDGETS.iter().enumerate())
            .map(|(i, &(account, subject, gpu_only, limit, hard))| {
                let command = Command::CreateBudget(CreateBudget {
                    idempotency_key: format!("budget-{i}"),
                    account_id: accounts[account],
                    subject: subject.into(),
                    meter: meter(gpu_only),
                    limit: quantity(limit.parse().unwrap()),
                    period: credit_ledger::ledger::budget::Period::None,
                    time_zone: chrono_tz::Tz::UTC,
                    hard,
                    alerts: vec![50, 100],
                    window_seconds: 0,
                    max_requests: None,
                });
                match h.apply(&command).0 {
                    Ok(Outcome::Budget(b)) => b.id,
                    other => panic!("budget {i}: {other:?}"),
                }
            })
            .collect();
        let limits = (LIMITS.iter().enumerate())
            .map(
                |(i, &(account, subject, gpu_only, limit, seconds, max_requests))| {
                    let command = Command::CreateBudget(CreateBudget {
                        idempotency_key: format!("limit-{i}"),
                        account_id: accounts[account],
                        subject: subject.into(),
                        meter: meter(gpu_only),
                        limit: quantity(limit.parse().unwrap()),
                        period: credit_ledger::ledger::budget::Period::Rolling,
                        time_zone: chrono_tz::Tz::UTC,
                        hard: true,
                        alerts: Vec::new(),
                        window_seconds: seconds as u32,
                        max_requests,
                    });
                    match h.apply(&command).0 {
                        Ok(Outcome::Budget(b)) => b.id,
                        other => panic!("velocity limit {i}: {other:?}"),
                    }
                },
            )
            .collect();
        h.next_batch(0);
        World {
            h,
            model: Model::new(&[Decimal::ZERO, Decimal::TEN]),
            accounts,
            lots: Vec::new(),
            holds: Vec::new(),
            lot_index: HashMap::new(),
            hold_index: HashMap::new(),
            history: Vec::new(),
            first_answers: HashMap::new(),
            keys: 0,
            budgets,
            limits,
        }
    }

    pub fn run(&mut self, n: usize, step: &Step) {
        match step.op {
            Op::NextBatch {
                advance_ms,
                dead_lots,
            } => {
                self.h.next_batch_with(advance_ms, dead_lots);
                self.model.start_batch(self.h.now_ms, dead_lots);
            }
            ref op => {
                if let Some(cmd) = self.resolve(op, step.reuse_key) {
                    self.command(n, cmd);
                }
            }
        }
        self.compare_state(n);
        check_invariants(&self.h);
        self.check_credit_line_money();
    }

    fn command(&mut self, n: usize, cmd: MCmd) {
        let command = self.to_engine(&cmd);
        let (expected, replay) = self.model.apply(&cmd);
        let (result, changed) = self.h.apply(&command);
        if let Ok(outcome) = &result {
            self.register(outcome);
        }
        let got = result
            .as_ref()
            .map(|o| self.project(o))
            .map_err(project_err);
        assert_eq!(got, expected, "step {n}: {cmd:?}\nengine: {result:?}");
        // A hard budget's first refusal in a period records on the account that it was hit,
        // with its event (and, the account being written, any balance event then due); no
        // credit, hold or entry.
        let hit = matches!(expected, Err(MErr::BudgetExceeded { .. }));
        if hit {
            assert!(
                changed.accounts <= 1
                    && Changed {
                        accounts: 0,
                        events: 0,
                        ..changed
                    }
                    .is_empty(),
                "step {n}: a budget's refusal wrote {changed:?}"
            );
        } else if result.is_err() || replay {
            assert!(
                changed.is_empty(),
                "step {n}: a refusal or a replay wrote {changed:?}"
            );
        }
        if let Ok(out) = &expected {
            if !replay {
                assert_eq!(
                    changed.entries,
                    entries_posted(&cmd.op, out),
                    "step {n}: entries of {out:?}"
                );
            }
        }
        // A sweep keeps no record: a second one answers differently, by design.
        let keyed = !matches!(cmd.op, MOp::Sweep { .. });
        if let (Ok(outcome), Ok(scope), true) = (result, self.model.scope(&cmd.op), keyed) {
            let first = self
                .first_answers
                .entry((scope, cmd.key.clone()))
                .or_insert(outcome.clone());
            assert_eq!(*first, outcome, "step {n}: a replay answered differently");
        }
        self.history.push(cmd);
    }

    fn register(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Granted { lot, .. } if !self.lot_index.contains_key(&lot.id) => {
                self.lot_index.insert(lot.id, self.lots.len());
                self.lots.push(lot.id);
            }
            Outcome::Authorized { hold, .. } if !self.hold_index.contains_key(&hold.id) => {
                self.hold_index.insert(hold.id, self.holds.len());
                self.holds.push(hold.id);
            }
            _ => {}
        }
    }

    fn draws(&self, draws: &[Draw]) -> Vec<MDraw> {
        draws
            .iter()
            .map(|d| (d.lot_id.map(|id| self.lot_index[&id]), d.quantity.get()))
            .collect()
    }

    fn project(&self, outcome: &Outcome) -> MOut {
        match outcome {
            Outcome::Account(a) => MOut::Account {
                status: a.status,
                limit: a.credit_line_limit.get(),
            },
            Outcome::Granted { lot, .. } => MOut::Granted(self.lot_index[&lot.id]),
            Outcome::Voided {
                lot,
                quantity_voided,
                ..
            } => MOut::Voided {
                lot: self.lot_index[&lot.id],
                quantity: quantity_voided.get(),
            },
            Outcome::Authorized {
                hold, available, ..
            } => MOut::Authorized {
                hold: self.hold_index[&hold.id],
                reserved: self.draws(&hold.reserved),
                available: available.get(),
            },
            Outcome::Captured {
                hold,
                charged,
                draws,
                released,
                ..
            } => MOut::Captured {
                charged: charged.get(),
                draws: self.draws(draws),
                released: released.get(),
                status: hold.status,
            },
            Outcome::Released { released, .. } => MOut::Released {
                released: released.get(),
            },
            Outcome::Extended { hold } => MOut::Extended {
                expires_ms: ms_of(hold.expires_at),
            },
            Outcome::Debited {
                charged,
                draws,
                available,
                ..
            } => MOut::Debited {
                charged: charged.get(),
                draws: self.draws(draws),
                available: available.get(),
            },
            // How many holds a sweep reports depends on which command of the batch found them
            // expired first; the model checks the holds themselves instead.
            Outcome::Swept(summary) => MOut::Swept {
                lots_expired: summary.lots_expired,
            },
            Outcome::Adjusted { .. }
            | Outcome::CommitmentCreated { .. }
            | Outcome::Budget(_)
            | Outcome::BudgetDeleted(_)
            | Outcome::AutoTopUp(_)
            | Outcome::RecurringGrant { .. }
            | Outcome::RecurringGrantDeleted(_) => {
                unreachable!("the model does not generate {outcome:?}")
            }
        }
    }

    fn fresh_key(&mut self) -> String {
        self.keys += 1;
        format!("k{}", self.keys)
    }

    /// A hold to work on: mostly an open one, sometimes any, an unknown one when there are none.
    fn pick_hold(&self, pick: usize) -> usize {
        let open: Vec<usize> = (0..self.model.holds.len())
            .filter(|&h| self.model.holds[h].status == HoldStatus::Open)
            .collect();
        match (pick % 4, open.is_empty(), self.model.holds.len()) {
            (_, _, 0) => UNKNOWN,
            (0, _, all) | (_, true, all) => pick % all,
            _ => open[pick / 4 % open.len()],
        }
    }

    /// A lot to void: mostly a live one, sometimes any.
    fn pick_lot(&self, pick: usize) -> Option<usize> {
        let live: Vec<usize> = (0..self.model.lots.len())
            .filter(|&l| self.model.lots[l].status == LotStatus::Active)
            .collect();
        match (pick % 3, live.is_empty(), self.model.lots.len()) {
            (_, _, 0) => None,
            (0, _, all) | (_, true, all) => Some(pick % all),
            _ => Some(live[pick / 3 % live.len()]),
        }
    }

    fn resolve(&mut self, op: &Op, reuse_key: Option<usize>) -> Option<MCmd> {
        let now_ms = self.h.now_ms;
        let op = match *op {
            Op::Plain(ref op) => op.clone(),
            Op::Grant(ref g) => MOp::Grant(MGrant {
                effective_ms: g.effective_ms.map(|ms| now_ms + ms),
                expires_ms: g.expires_ms.map(|ms| now_ms + ms),
                ..g.clone()
            }),
            Op::Capture {
                pick,
                quantity,
                is_final,
                overage,
                tokens,
            } => MOp::Capture {
                hold: self.pick_hold(pick),
                quantity,
                is_final,
                overage,
                tokens,
            },
            Op::Release { pick } => MOp::Release {
                hold: self.pick_hold(pick),
            },
            Op::Extend { pick, ttl_ms } => MOp::Extend {
                hold: self.pick_hold(pick),
                ttl_ms,
            },
            Op::Void {
                pick,
                release_holds,
                other_account,
            } => {
                let lot = self.pick_lot(pick)?;
                let account = self.model.lots[lot].account ^ usize::from(other_account);
                MOp::Void {
                    account,
                    lot,
                    release_holds,
                }
            }
            Op::Replay { pick, respell } => {
                let cmd = self.history.get(pick % self.history.len().max(1)).cloned();
                return cmd.map(|cmd| match respell {
                    true => MCmd {
                        op: respelled(cmd.op),
                        ..cmd
                    },
                    false => cmd,
                });
            }
            Op::NextBatch { .. } => unreachable!("batches are not commands"),
        };
        let reused = reuse_key.and_then(|i| self.history.get(i % self.history.len().max(1)));
        let key = reused
            .map(|cmd| cmd.key.clone())
            .unwrap_or_else(|| self.fresh_key());
        Some(MCmd { key, op })
    }

    fn account_id(&self, account: usize) -> AccountId {
        self.accounts
            .get(account)
            .copied()
            .unwrap_or(AccountId(Uuid::from_u128(u128::MAX)))
    }

    fn hold_id(&self, hold: usize) -> HoldId {
        self.holds
            .get(hold)
            .copied()
            .unwrap_or(HoldId(Uuid::from_u128(u128::MAX)))
    }

    fn to_engine(&self, cmd: &MCmd) -> Command {
        let key = cmd.key.as_str();
        match cmd.op {
            MOp::Grant(ref g) => self.grant_command(key, g),
            MOp::Void {
                account,
                lot,
                release_holds,
            } => void(key, self.account_id(account), self.lots[lot], release_holds),
            MOp::Authorize {
                account,
                quantity: q,
                ttl_ms,
                gpu,
                tokens,
                subject,
            } => Command::Authorize(Authorize {
                idempotency_key: key.into(),
                account_id: self.account_id(account),
                quantity: tokens.map_or_else(|| quantity(q), |_| Quantity::ZERO),
                ttl_ms,
                meter: match tokens {
                    Some(_) => rated_meter(gpu),
                    None => meter(gpu),
                },
                reference: String::new(),
                usage: tokens.map(usage),
                subject: SUBJECTS[subject].into(),
            }),
            MOp::Capture {
                hold,
                quantity: q,
                is_final,
                overage,
                tokens: None,
            } => capture(key, self.hold_id(hold), quantity(q), is_final, overage),
            MOp::Capture {
                hold,
                is_final,
                overage,
                tokens: Some(tokens),
                ..
            } => Command::Capture(Capture {
                idempotency_key: key.into(),
                hold_id: self.hold_id(hold),
                quantity: Quantity::ZERO,
                is_final,
                overage,
                usage: Some(usage(tokens)),
            }),
            MOp::Release { hold } => release(key, self.hold_id(hold)),
            MOp::Extend { hold, ttl_ms } => extend(key, self.hold_id(hold), ttl_ms),
            MOp::Debit {
                account,
                quantity: q,
                gpu,
                tokens: None,
                subject,
            } => Command::Debit(Debit {
                idempotency_key: key.into(),
                account_id: self.account_id(account),
                quantity: quantity(q),
                meter: meter(gpu),
                reference: String::new(),
                usage: None,
                subject: SUBJECTS[subject].into(),
            }),
            // A rated debit's meter draws on the same lots as its quantity twin's: "chat" is
            // in no lot's scope, as "" is not.
            MOp::Debit {
                account,
                gpu,
                tokens: Some(tokens),
                subject,
                ..
            } => Command::Debit(Debit {
                idempotency_key: key.into(),
                account_id: self.account_id(account),
                quantity: Quantity::ZERO,
                meter: rated_meter(gpu),
                reference: String::new(),
                usage: Some(usage(tokens)),
                subject: SUBJECTS[subject].into(),
            }),
            MOp::Update {
                account,
                limit,
                status,
            } => Command::UpdateAccount(UpdateAccount {
                credit_line_limit: limit.map(|l| Quantity::new(l).expect("a model limit")),
                status,
                ..update(key, self.account_id(account))
            }),
            MOp::Sweep { account } => Command::Sweep(Sweep {
                account_id: self.account_id(account),
                commitment_notice_ms: 0,
            }),
        }
    }

    fn grant_command(&self, key: &str, g: &MGrant) -> Command {
        let account = self.account_id(g.account);
        Command::Grant(Grant {
            priority: g.priority,
            effective_at: g.effective_ms.map(at),
            expires_at: g.expires_ms.map(at),
            scope: if g.scoped {
                vec![meter(true)]
            } else {
                Vec::new()
            },
            ..grant(
                key,
                account,
                g.kind,
                quantity(g.quantity),
                &g.price.to_string(),
            )
        })
    }

    /// Every lot, hold, account and budget the engine wrote agrees with the model.
    fn compare_state(&self, n: usize) {
        let store = &self.h.store;
        for (i, budget) in self.model.budgets.iter().enumerate() {
            let account = &store.accounts[&self.accounts[budget.account]];
            let stored = (account.budgets.iter())
                .find(|b| b.id == self.budgets[i])
                .expect("budgets are never deleted here");
            assert_eq!(
                (stored.spent.get(), stored.held.get()),
                (budget.spent, budget.held),
                "step {n}: budget {i}"
            );
        }
        let now = self.h.now();
        for (i, limit) in self.model.limits.iter().enumerate() {
            let account = &store.accounts[&self.accounts[limit.account]];
            let stored = (account.budgets.iter())
                .find(|b| b.id == self.limits[i])
                .and_then(|b| b.window.as_ref())
                .expect("velocity limits are never deleted here");
            let (spent, requests) = stored.counted(now);
            assert_eq!(
                (spent.get(), requests),
                limit.counted(self.h.now_ms),
                "step {n}: velocity limit {i}"
            );
        }
        for (i, lot) in self.model.lots.iter().enumerate() {
            let stored = &store.lots[&self.lots[i]];
            let got = (stored.remaining.get(), stored.held.get(), stored.status);
            assert_eq!(
                got,
                (lot.remaining, lot.held, lot.status),
                "step {n}: lot {i}"
            );
        }
        for (i, hold) in self.model.holds.iter().enumerate() {
            let stored = &store.holds[&self.holds[i]];
            let got = (
                stored.status,
                self.draws(&stored.reserved),
                ms_of(stored.expires_at),
            );
            assert_eq!(
                got,
                (hold.status, hold.reserved.clone(), hold.expires_ms),
                "step {n}: hold {i}"
            );
        }
        for (i, a) in self.model.accounts.iter().enumerate() {
            let s = &store.accounts[&self.accounts[i]];
            let got = (
                s.status,
                s.credit_line_limit.get(),
                s.credit_line_used.get(),
                s.credit_line_held.get(),
                s.open_holds,
            );
            let want = (a.status, a.limit, a.used, a.line_held, a.open_holds);
            assert_eq!(got, want, "step {n}: account {i}");
            let book = self.h.book(s.id);
            for gpu in [false, true] {
                let available = book.available(self.h.now(), if gpu { "gpu" } else { "" });
                assert_eq!(
                    available.get(),
                    self.model.available(i, gpu),
                    "step {n}: available of account {i}"
                );
            }
        }
    }

    /// The credit line is billed at its price: unbilled receivable = used × price, exactly.
    fn check_credit_line_money(&self) {
        for account in self.h.store.accounts.values() {
            let entries = self
                .h
                .store
                .entries
                .iter()
                .filter(|e| e.account_id == account.id);
            let postings = entries.flat_map(|e| &e.postings);
            let unbilled: Decimal = postings
                .filter(|p| p.ledger_account == "unbilled_receivable" && p.side == Side::Debit)
                .map(|p| p.amount)
                .sum();
            assert_eq!(
                unbilled,
                account.credit_line_used.get() * account.credit_line_price.get(),
                "unbilled of {}",
                account.id
            );
        }
    }
}

/// The engine's catalog: one version of the default book, in force from the start, pricing
/// what [`super::reference::PRICES`] says in the accounts' unit.
pub fn catalog() -> std::sync::Arc<credit_ledger::ledger::rating::Catalog> {
    use credit_ledger::ledger::rating::{self, Catalog, Draft, Rate, DEFAULT_BOOK};
    let start = super::super::at(0) - chrono::Duration::days(1);
    let rates = (super::reference::PRICES.iter())
        .map(|(gpu, price, block)| {
            let rate = Rate {
                meter: if *gpu { "gpu" } else { "chat" }.into(),
                dimension: "tokens".into(),
                unit: "CREDIT".parse().unwrap(),
                block: *block,
                price: price.parse().unwrap(),
                cost: None,
            };
            (rate.meter.clone(), rate)
        })
        .collect();
    let draft = Draft {
        book: DEFAULT_BOOK.into(),
        idempotency_key: "model".into(),
        effective_at: start,
        rates,
        retired: Vec::new(),
    };
    let mut catalog = Catalog::default();
    catalog.add(rating::publish(draft, None, 1, start).unwrap());
    std::sync::Arc::new(catalog)
}

/// A rated command's meter: one draws on the same lots as its quantity twin's, as "chat" is in
/// no lot's scope, as "" is not.
fn rated_meter(gpu: bool) -> String {
    if gpu { "gpu" } else { "chat" }.into()
}

fn usage(tokens: u32) -> credit_ledger::ledger::rating::Usage {
    [("tokens".to_string(), Decimal::from(tokens))].into()
}

fn meter(gpu: bool) -> String {
    if gpu {
        "gpu".into()
    } else {
        String::new()
    }
}

/// A quantity as the wire brings it: its text, parsed (and so normalized) by the engine's own
/// parser, so that "1.5" and "1.50" reach the engine as the same request, as they do in service.
fn quantity(value: Decimal) -> Quantity {
    Quantity::parse("quantity", &value.to_string()).expect("a positive test quantity")
}

/// The same amount with one more trailing zero: 1.5 becomes 1.50, 8 becomes 8.0.
fn respell(value: Decimal) -> Decimal {
    let mut longer = value;
    longer.rescale(value.scale() + 1);
    assert_eq!(longer, value, "respelling keeps the amount");
    assert_ne!(
        longer.to_string(),
        value.to_string(),
        "respelling changes the text"
    );
    longer
}

/// The same command with every quantity and price it carries respelled.
fn respelled(op: MOp) -> MOp {
    match op {
        MOp::Grant(g) => MOp::Grant(MGrant {
            quantity: respell(g.quantity),
            price: respell(g.price),
            ..g
        }),
        MOp::Authorize {
            account,
            quantity,
            ttl_ms,
            gpu,
            tokens,
            subject,
        } => MOp::Authorize {
            account,
            quantity: respell(quantity),
            ttl_ms,
            gpu,
            tokens,
            subject,
        },
        MOp::Capture {
            hold,
            quantity,
            is_final,
            overage,
            tokens,
        } => MOp::Capture {
            hold,
            quantity: respell(quantity),
            is_final,
            overage,
            tokens,
        },
        MOp::Debit {
            account,
            quantity,
            gpu,
            tokens,
            subject,
        } => MOp::Debit {
            account,
            quantity: respell(quantity),
            gpu,
            tokens,
            subject,
        },
        // An update's limit is a plain `Decimal` in the command (the API layer parses it), and
        // void, release and extend carry no amount: these are replayed as they were.
        op @ (MOp::Update { .. }
        | MOp::Void { .. }
        | MOp::Release { .. }
        | MOp::Extend { .. }
        | MOp::Sweep { .. }) => op,
    }
}

/// How many entries a first answer posts.
/// The entries a command that succeeded with `out` writes. A rated capture writes one even when
/// it charges nothing: its usage and its carry belong in the journal.
fn entries_posted(op: &MOp, out: &MOut) -> usize {
    let rated = matches!(
        op,
        MOp::Capture {
            tokens: Some(_),
            ..
        }
    );
    match out {
        MOut::Granted(_) | MOut::Voided { .. } | MOut::Debited { .. } => 1,
        MOut::Swept { lots_expired } => *lots_expired as usize,
        MOut::Captured { charged, .. } => usize::from(rated || !charged.is_zero()),
        MOut::Account { .. }
        | MOut::Authorized { .. }
        | MOut::Released { .. }
        | MOut::Extended { .. } => 0,
    }
}
