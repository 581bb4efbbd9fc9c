//! Tests of the pure ledger engine: a table of every refusal (`refusals`) and a model-based
//! property test against a small reference model (`model`). This module holds what both share:
//! command builders, a harness that runs batches the way the executor does (one `Ledger` per
//! batch, rebuilt from what the previous batches wrote), and the invariants of `docs/design.md`.

mod fingerprints;
mod model;
mod refusals;

mod checks_can_fail {
    //! The invariant checks themselves must catch a broken journal or a broken lot.

    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::*;

    fn tampered(tamper: impl FnOnce(&mut Store)) -> bool {
        let mut h = Harness::new(Limits::default());
        let account = h.open_account(2, "0", "0");
        h.top_up(account, "10", "5");
        check_invariants(&h);
        tamper(&mut h.store);
        catch_unwind(AssertUnwindSafe(|| check_invariants(&h))).is_err()
    }

    #[test]
    fn the_invariant_checks_catch_tampering() {
        assert!(tampered(|s| s.entries[0].postings[0].amount += Decimal::ONE));
        assert!(tampered(|s| s.entries[0].reference.push('!')));
        assert!(tampered(|s| s
            .lots
            .values_mut()
            .for_each(|l| l.remaining += dec("1"))));
        assert!(tampered(|s| s
            .lots
            .values_mut()
            .for_each(|l| l.money_deferred += dec("1"))));
        assert!(tampered(|s| s
            .accounts
            .values_mut()
            .for_each(|a| a.open_holds += 1)));
    }
}

use credit_ledger::ledger::amount::Amount;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use credit_ledger::ledger::{
    Account, AccountId, AccountStatus, Adjust, AdjustDirection, Book, Capture, Code, Command,
    Commitment, CommitmentId, CommitmentKind, CommitmentStatus, CreateAccount, CreateCommitment,
    Debit, Entry, EntryKind, Event, EventData, ExtendHold, Grant, Hold, HoldId, HoldStatus,
    IdSource, IdempotencyRecord, Ledger, LedgerError, Limits, Lot, LotId, LotKind, LotStatus,
    LowBalance, Money, Outcome, Overage, Quantity, Release, Scope, Side, Snapshot, Sweep,
    SweepSummary, UpdateAccount, VoidGrant, Writes,
};
use rust_decimal::Decimal;

/// The harness's epoch: every test time is a number of milliseconds after it.
pub const T0_MS: i64 = 1_735_689_600_000;

pub fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(T0_MS + ms)
        .single()
        .expect("a valid test time")
}

pub fn ms_of(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis() - T0_MS
}

pub fn q(text: &str) -> Quantity {
    Quantity::parse("quantity", text).expect("a valid test quantity")
}

pub fn money(text: &str) -> Money {
    Money::parse("price", text).expect("a valid test price")
}

/// A decimal, or a quantity or money, as the place it goes says.
pub fn dec<A: Amount>(text: &str) -> A {
    A::from_decimal(text.parse().expect("a valid test decimal")).expect("a valid test amount")
}

pub fn create_account(
    key: &str,
    external_id: &str,
    unit_scale: u32,
    limit: &str,
    price: &str,
) -> Command {
    Command::CreateAccount(CreateAccount {
        idempotency_key: key.into(),
        external_id: external_id.into(),
        unit: "CREDIT".parse().unwrap(),
        unit_scale,
        credit_line_limit: dec(limit),
        credit_line_price: money(price),
        currency: "USD".parse().unwrap(),
        low_balance: LowBalance::None,
    })
}

/// A grant with no priority, expiry or scope; callers adjust the fields they care about.
pub fn grant(
    key: &str,
    account: AccountId,
    kind: LotKind,
    quantity: Quantity,
    price: &str,
) -> Grant {
    Grant {
        idempotency_key: key.into(),
        account_id: account,
        kind,
        quantity,
        price: money(price),
        currency: Some("USD".parse().unwrap()),
        priority: 0,
        effective_at: None,
        expires_at: None,
        scope: Vec::new(),
        reference: format!("ref-{key}"),
    }
}

pub fn authorize(
    key: &str,
    account: AccountId,
    quantity: Quantity,
    ttl_ms: Option<u64>,
) -> Command {
    Command::Authorize(credit_ledger::ledger::Authorize {
        idempotency_key: key.into(),
        account_id: account,
        quantity,
        ttl_ms,
        meter: String::new(),
        reference: format!("ref-{key}"),
        usage: None,
        subject: String::new(),
    })
}

pub fn capture(
    key: &str,
    hold: HoldId,
    quantity: Quantity,
    is_final: bool,
    overage: Overage,
) -> Command {
    Command::Capture(Capture {
        idempotency_key: key.into(),
        hold_id: hold,
        quantity,
        is_final,
        overage,
        usage: None,
    })
}

pub fn release(key: &str, hold: HoldId) -> Command {
    Command::Release(Release {
        idempotency_key: key.into(),
        hold_id: hold,
    })
}

pub fn extend(key: &str, hold: HoldId, ttl_ms: u64) -> Command {
    Command::ExtendHold(ExtendHold {
        idempotency_key: key.into(),
        hold_id: hold,
        ttl_ms,
    })
}

pub fn debit(key: &str, account: AccountId, quantity: Quantity) -> Command {
    Command::Debit(Debit {
        idempotency_key: key.into(),
        account_id: account,
        quantity,
        meter: String::new(),
        reference: format!("ref-{key}"),
        usage: None,
        subject: String::new(),
    })
}

pub fn void(key: &str, account: AccountId, lot: LotId, release_holds: bool) -> Command {
    Command::VoidGrant(VoidGrant {
        idempotency_key: key.into(),
        account_id: account,
        lot_id: lot,
        reason: "refund".into(),
        release_holds,
    })
}

pub fn update(key: &str, account: AccountId) -> UpdateAccount {
    UpdateAccount {
        idempotency_key: key.into(),
        account_id: account,
        credit_line_limit: None,
        credit_line_price: None,
        status: None,
        low_balance: None,
        price_book: Default::default(),
    }
}

/// What the store holds: the latest version of every row the engine wrote, and every entry.
#[derive(Debug, Default)]
pub struct Store {
    pub accounts: BTreeMap<AccountId, Account>,
    pub lots: BTreeMap<LotId, Lot>,
    pub holds: BTreeMap<HoldId, Hold>,
    pub entries: Vec<Entry>,
    pub idempotency: Vec<IdempotencyRecord>,
    pub commitments: BTreeMap<CommitmentId, Commitment>,
    pub events: Vec<Event>,
}

/// How many rows of each kind one call to `writes()` returned.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changed {
    pub accounts: usize,
    pub lots: usize,
    pub holds: usize,
    pub entries: usize,
    pub idempotency: usize,
    pub commitments: usize,
    pub events: usize,
}

impl Changed {
    pub fn is_empty(&self) -> bool {
        *self == Changed::default()
    }
}

impl Store {
    fn absorb(&mut self, writes: Writes) -> Changed {
        self.check_versions(&writes);
        let changed = Changed {
            accounts: writes.accounts.len(),
            lots: writes.lots.len(),
            holds: writes.holds.len(),
            entries: writes.entries.len(),
            idempotency: writes.idempotency.len(),
            commitments: writes.commitments.len(),
            events: writes.events.len(),
        };
        self.commitments
            .extend(writes.commitments.into_iter().map(|c| (c.id, c)));
        self.events.extend(writes.events);
        self.accounts
            .extend(writes.accounts.into_iter().map(|a| (a.id, a)));
        self.lots.extend(writes.lots.into_iter().map(|l| (l.id, l)));
        self.holds
            .extend(writes.holds.into_iter().map(|h| (h.id, h)));
        self.entries.extend(writes.entries);
        self.idempotency.extend(writes.idempotency);
        changed
    }

    /// Every account that any written row belongs to is written too, its version one above the
    /// stored one: what lets a batch applied to carried state see that anything of an account's
    /// book changed since.
    fn check_versions(&self, writes: &Writes) {
        let named = (writes.lots.iter().map(|l| l.account_id))
            .chain(writes.holds.iter().map(|h| h.account_id))
            .chain(writes.entries.iter().map(|e| e.account_id))
            .chain(writes.commitments.iter().map(|c| c.account_id))
            .chain(writes.events.iter().map(|e| e.account_id))
            .chain(writes.idempotency.iter().filter_map(|r| match r.scope {
                Scope::Account(id) => Some(id),
                Scope::CreateAccount => None,
            }));
        for id in named {
            assert!(
                writes.accounts.iter().any(|a| a.id == id),
                "a row of account {id} was written without the account"
            );
        }
        for account in &writes.accounts {
            let stored = self.accounts.get(&account.id).map_or(0, |a| a.version);
            assert_eq!(account.version, stored + 1, "version of {}", account.id);
        }
    }

    /// What the executor would load for a batch: every account, its live lots, every hold and
    /// every idempotency record. Depleted and voided lots stay behind unless `dead_lots` asks for
    /// them, as the store loads them when a command names them.
    fn snapshot(&self, dead_lots: bool) -> Snapshot {
        let lots = self
            .lots
            .values()
            .filter(|l| dead_lots || l.status == LotStatus::Active);
        Snapshot {
            accounts: self.accounts.values().cloned().collect(),
            lots: lots.cloned().collect(),
            holds: self.holds.values().cloned().collect(),
            idempotency: self.idempotency.clone(),
            external_ids_taken: self
                .accounts
                .values()
                .map(|a| a.external_id.clone())
                .collect(),
            commitments: self
                .commitments
                .values()
                .filter(|c| c.status == CommitmentStatus::Active)
                .cloned()
                .collect(),
            closed_until: None,
        }
    }
}

/// One engine batch at a time over a [`Store`]. Every call drains `writes()` into the store, so a
/// test can see exactly what each command wrote.
pub struct Harness {
    pub store: Store,
    pub ledger: Ledger,
    pub now_ms: i64,
    pub limits: Limits,
    batch: u128,
    keys: u64,
}

impl Harness {
    pub fn new(limits: Limits) -> Self {
        let ledger = Ledger::new(Snapshot::default(), at(0), limits, IdSource::Counter(0))
            .with_catalog(model::world::catalog());
        Harness {
            store: Store::default(),
            ledger,
            now_ms: 0,
            limits,
            batch: 0,
            keys: 0,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        at(self.now_ms)
    }

    /// A fresh idempotency key.
    pub fn key(&mut self) -> String {
        self.keys += 1;
        format!("key-{}", self.keys)
    }

    pub fn apply(&mut self, command: &Command) -> (Result<Outcome, LedgerError>, Changed) {
        let result = self.ledger.apply(command);
        let changed = self.store.absorb(self.ledger.writes());
        (result, changed)
    }

    pub fn ok(&mut self, command: &Command) -> Outcome {
        let (result, _) = self.apply(command);
        result.unwrap_or_else(|e| panic!("{command:?} was refused: {e:?}"))
    }

    /// Ends the batch and starts the next one `advance_ms` later, from what the store holds.
    pub fn next_batch(&mut self, advance_ms: i64) -> Changed {
        self.next_batch_with(advance_ms, false)
    }

    /// Like [`Harness::next_batch`], loading the depleted and voided lots too when `dead_lots`.
    /// Ids keep growing across batches, as time-ordered ids do in service.
    pub fn next_batch_with(&mut self, advance_ms: i64, dead_lots: bool) -> Changed {
        self.store.absorb(self.ledger.writes());
        self.now_ms += advance_ms;
        self.batch += 1;
        let ids = IdSource::Counter(self.batch << 32);
        self.ledger = Ledger::new(self.store.snapshot(dead_lots), self.now(), self.limits, ids)
            .with_catalog(model::world::catalog());
        self.store.absorb(self.ledger.writes())
    }

    pub fn book(&self, account: AccountId) -> &credit_ledger::ledger::AccountBook {
        self.ledger.book(account).expect("the account is loaded")
    }

    pub fn open_account(&mut self, unit_scale: u32, limit: &str, price: &str) -> AccountId {
        let key = self.key();
        match self.ok(&create_account(
            &key,
            &format!("customer-{key}"),
            unit_scale,
            limit,
            price,
        )) {
            Outcome::Account(account) => account.id,
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    pub fn grant_lot(&mut self, grant: Grant) -> LotId {
        match self.ok(&Command::Grant(grant)) {
            Outcome::Granted { lot, .. } => lot.id,
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    pub fn top_up(&mut self, account: AccountId, quantity: &str, price: &str) -> LotId {
        let key = self.key();
        self.grant_lot(grant(&key, account, LotKind::Paid, q(quantity), price))
    }

    pub fn promo(
        &mut self,
        account: AccountId,
        quantity: &str,
        expires_in_ms: Option<i64>,
    ) -> LotId {
        let key = self.key();
        let expires_at = expires_in_ms.map(|ms| at(self.now_ms + ms));
        self.grant_lot(Grant {
            expires_at,
            ..grant(&key, account, LotKind::Promotional, q(quantity), "0")
        })
    }

    pub fn hold(&mut self, account: AccountId, quantity: &str, ttl_ms: Option<u64>) -> HoldId {
        let key = self.key();
        match self.ok(&authorize(&key, account, q(quantity), ttl_ms)) {
            Outcome::Authorized { hold, .. } => hold.id,
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    pub fn set_status(&mut self, account: AccountId, status: AccountStatus) {
        let key = self.key();
        self.ok(&Command::UpdateAccount(UpdateAccount {
            status: Some(status),
            ..update(&key, account)
        }));
    }
}

/// Checks every invariant of `docs/design.md` the pure engine owns, over everything written so far and
/// the batch's books. Panics with the broken invariant.
pub fn check_invariants(h: &Harness) {
    check_balanced(&h.store.entries);
    check_lots(&h.store);
    check_accounts(h);
    check_lot_subledgers(&h.store);
    check_hash_chains(&h.store);
    check_books_match_store(h);
}

/// Invariant 1: each entry balances per (book, unit), and so does the whole journal.
fn check_balanced(entries: &[Entry]) {
    let mut totals: BTreeMap<(Book, Code), Decimal> = BTreeMap::new();
    for entry in entries {
        assert!(entry.imbalances().is_empty(), "unbalanced entry {entry:?}");
        for p in &entry.postings {
            assert!(
                p.amount > Decimal::ZERO,
                "a posting of {} in {entry:?}",
                p.amount
            );
            *totals.entry((p.book, p.unit)).or_default() += signed(p.side, p.amount);
        }
    }
    totals.retain(|_, v| !v.is_zero());
    assert!(
        totals.is_empty(),
        "the trial balance does not sum to zero: {totals:?}"
    );
}

fn signed(side: Side, amount: Decimal) -> Decimal {
    match side {
        Side::Debit => amount,
        Side::Credit => -amount,
    }
}

/// Invariant 2 for lots: remaining and held stay in range and agree with the open holds.
fn check_lots(store: &Store) {
    for lot in store.lots.values() {
        let held = open_reservations(store, lot.id);
        let in_range = lot.held <= lot.remaining;
        assert!(in_range, "lot held out of range: {lot:?}");
        assert_eq!(
            lot.held, held,
            "held of lot {} differs from its holds",
            lot.id
        );
        let active = lot.status == LotStatus::Active;
        assert_eq!(active, !lot.remaining.is_zero(), "status of {lot:?}");
    }
}

/// Invariant 2 for accounts: the credit line stays within its limit, available is never
/// negative, and the counters agree with the rows they count.
fn check_accounts(h: &Harness) {
    let store = &h.store;
    for a in store.accounts.values() {
        // Never below zero: the types say so.
        let (used, held) = (a.credit_line_used, a.credit_line_held);
        assert!(
            used + held <= a.credit_line_limit,
            "credit line over limit: {a:?}"
        );
        assert_eq!(
            held,
            open_line_reservations(store, a.id),
            "credit line held: {a:?}"
        );
        let holds = store.holds.values().filter(|x| x.account_id == a.id);
        let open = holds.filter(|x| x.status == HoldStatus::Open).count();
        assert_eq!(a.open_holds as usize, open, "open_holds of {}", a.id);
    }
}

fn open_reservations(store: &Store, lot: LotId) -> Quantity {
    let open = store
        .holds
        .values()
        .filter(|h| h.status == HoldStatus::Open);
    open.flat_map(|h| &h.reserved)
        .filter(|d| d.lot_id == Some(lot))
        .map(|d| d.quantity)
        .sum()
}

fn open_line_reservations(store: &Store, account: AccountId) -> Quantity {
    let open = store
        .holds
        .values()
        .filter(|h| h.status == HoldStatus::Open && h.account_id == account);
    open.flat_map(|h| &h.reserved)
        .filter(|d| d.lot_id.is_none())
        .map(|d| d.quantity)
        .sum()
}

/// Invariant 3: each lot's postings account for its quantity and its money, exactly.
fn check_lot_subledgers(store: &Store) {
    // Keyed by lot, book, ledger account and whether the side is credit (`Side` is not `Hash`).
    let mut sums: HashMap<(LotId, Book, String, bool), Decimal> = HashMap::new();
    for p in store.entries.iter().flat_map(|e| &e.postings) {
        if let Some(lot) = p.lot_id {
            let key = (
                lot,
                p.book,
                p.ledger_account.to_string(),
                p.side == Side::Credit,
            );
            *sums.entry(key).or_default() += p.amount;
        }
    }
    for lot in store.lots.values() {
        let sum = |book, account: &str, side: Side| {
            let key = (lot.id, book, account.to_string(), side == Side::Credit);
            sums.get(&key).copied().unwrap_or_default()
        };
        let own = format!("lot:{}", lot.id);
        let granted = sum(Book::Quantity, &own, Side::Credit);
        // Credit taken back by support is credited to `adjusted`; credit given by support is a
        // debit there (the source of a new lot, like `issued:*`).
        let [consumed, expired, voided, adjusted] = ["consumed", "expired", "voided", "adjusted"]
            .map(|to| sum(Book::Quantity, to, Side::Credit));
        assert_eq!(
            granted,
            lot.granted.get(),
            "granted postings of lot {}",
            lot.id
        );
        assert_eq!(
            sum(Book::Quantity, &own, Side::Debit),
            consumed + expired + voided + adjusted,
            "lot {}",
            lot.id
        );
        // Differences, not sums: a sum past 28 digits would round and hide a lost draw.
        assert_eq!(
            granted - lot.remaining.get(),
            consumed + expired + voided + adjusted,
            "quantity of lot {lot:?}"
        );
        let paid = sum(Book::Money, "cash_clearing", Side::Debit);
        let [recognized, breakage, refunded, money_adjusted] = [
            "revenue_usage",
            "revenue_breakage",
            "refunds_payable",
            "revenue_adjustment",
        ]
        .map(|to| sum(Book::Money, to, Side::Credit));
        let deferred = sum(Book::Money, "deferred_revenue", Side::Credit)
            - sum(Book::Money, "deferred_revenue", Side::Debit);
        assert_eq!(
            paid,
            lot.cost_basis.get(),
            "cash postings of lot {}",
            lot.id
        );
        assert_eq!(
            deferred,
            lot.money_deferred.get(),
            "deferred revenue postings of lot {}",
            lot.id
        );
        assert_eq!(
            paid - lot.money_deferred.get(),
            recognized + breakage + refunded + money_adjusted,
            "money of lot {lot:?}"
        );
        if lot.remaining.is_zero() {
            assert!(
                lot.money_deferred.is_zero(),
                "a used-up lot still defers money: {lot:?}"
            );
        }
    }
}

/// Invariant 6: each account's entries form an unbroken hash chain ending at `last_hash`.
fn check_hash_chains(store: &Store) {
    for account in store.accounts.values() {
        let mut prev = String::new();
        let entries = store.entries.iter().filter(|e| e.account_id == account.id);
        let mut count = 0;
        for (n, entry) in entries.enumerate() {
            assert_eq!(entry.account_seq, n as i64 + 1, "account_seq of {entry:?}");
            assert_eq!(entry.prev_hash, prev, "prev_hash of {entry:?}");
            assert_eq!(entry.compute_hash(), entry.hash, "hash of {entry:?}");
            prev = entry.hash.clone();
            count += 1;
        }
        assert_eq!(account.last_hash, prev, "last_hash of {}", account.id);
        assert_eq!(account.entry_seq, count, "entry_seq of {}", account.id);
    }
}

/// Whatever the batch's books hold must be what `writes()` handed over: a change the engine
/// forgot to mark would be lost at commit.
fn check_books_match_store(h: &Harness) {
    for (id, stored) in &h.store.accounts {
        let book = h.book(*id);
        assert_eq!(
            &book.account, stored,
            "account {id} differs from what was written"
        );
        for lot in &book.lots {
            assert_eq!(
                Some(lot),
                h.store.lots.get(&lot.id),
                "lot {} differs from what was written",
                lot.id
            );
        }
        for hold in book.holds.values() {
            assert_eq!(
                Some(hold),
                h.store.holds.get(&hold.id),
                "hold {} differs from what was written",
                hold.id
            );
        }
        let live = h
            .store
            .lots
            .values()
            .filter(|l| l.account_id == *id && l.status == LotStatus::Active);
        for lot in live {
            assert!(
                book.lot(lot.id).is_some(),
                "live lot {} is missing from the book",
                lot.id
            );
        }
    }
}
