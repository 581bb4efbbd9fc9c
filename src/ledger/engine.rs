//! The state machine: applies commands to a batch's books, one at a time, in order. Each handler
//! is a run of guard clauses that refuse without touching anything, followed by the changes,
//! which cannot fail. So a refused command changes nothing and the others in its batch go on.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::amount::UNIT_SCALE_MAX;
use super::book::{AccountBook, Drain};
use super::command::*;
use super::entry::{ledger_account as gl, Book, Entry, EntryDraft, EntryKind};
use super::error::LedgerError;
use super::fingerprint::fingerprint;
use super::needs::Scope;
use super::types::*;

mod checks;
mod events;
mod lifecycle;

use checks::{check_can_spend, check_low_balance, check_price, check_unit_amount, invalid};

/// Limits the engine enforces per account and per hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub open_holds_per_account_max: u32,
    pub live_lots_per_account_max: u32,
    pub hold_ttl_default_ms: u64,
    pub hold_ttl_max_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            open_holds_per_account_max: 10_000,
            live_lots_per_account_max: 1_000,
            hold_ttl_default_ms: 30_000,
            hold_ttl_max_ms: 7 * 24 * 3_600_000,
        }
    }
}

/// Where new ids come from: time-ordered random ids in service, a counter in tests.
#[derive(Debug, Clone)]
pub enum IdSource {
    Random,
    Counter(u128),
}

impl IdSource {
    pub fn next_id(&mut self) -> Uuid {
        match self {
            IdSource::Random => Uuid::now_v7(),
            IdSource::Counter(n) => {
                *n += 1;
                Uuid::from_u128(*n)
            }
        }
    }
}

/// A successful command's result, kept under its idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub scope: Scope,
    pub key: String,
    pub request_hash: String,
    pub outcome: Outcome,
    pub created_at: DateTime<Utc>,
}

/// What the store loaded for a batch.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub accounts: Vec<Account>,
    pub lots: Vec<Lot>,
    pub holds: Vec<Hold>,
    pub idempotency: Vec<IdempotencyRecord>,
    /// External ids already taken among those the batch's CreateAccount commands ask for.
    pub external_ids_taken: Vec<String>,
    /// Active commitments of the accounts the batch sweeps.
    pub commitments: Vec<Commitment>,
}

/// Everything a batch changed, for the store to write in one transaction.
#[derive(Debug, Default)]
pub struct Writes {
    pub accounts: Vec<Account>,
    pub lots: Vec<Lot>,
    pub holds: Vec<Hold>,
    pub entries: Vec<Entry>,
    pub idempotency: Vec<IdempotencyRecord>,
    pub commitments: Vec<Commitment>,
    /// The outbox: written in the same transaction as the changes they report.
    pub events: Vec<Event>,
}

pub struct Ledger {
    now: DateTime<Utc>,
    limits: Limits,
    ids: IdSource,
    books: HashMap<AccountId, AccountBook>,
    hold_accounts: HashMap<HoldId, AccountId>,
    idempotency: HashMap<(Scope, String), IdempotencyRecord>,
    external_ids: HashSet<String>,
    entries: Vec<Entry>,
    records: Vec<IdempotencyRecord>,
    commitments: BTreeMap<CommitmentId, Commitment>,
    dirty_commitments: BTreeSet<CommitmentId>,
    events: Vec<Event>,
}

impl Ledger {
    pub fn new(snapshot: Snapshot, now: DateTime<Utc>, limits: Limits, ids: IdSource) -> Self {
        let mut lots: HashMap<AccountId, Vec<Lot>> = HashMap::new();
        for lot in snapshot.lots {
            lots.entry(lot.account_id).or_default().push(lot);
        }
        let mut holds: HashMap<AccountId, Vec<Hold>> = HashMap::new();
        let mut hold_accounts = HashMap::new();
        for hold in snapshot.holds {
            hold_accounts.insert(hold.id, hold.account_id);
            holds.entry(hold.account_id).or_default().push(hold);
        }
        let books = snapshot
            .accounts
            .into_iter()
            .map(|a| {
                let id = a.id;
                let book = AccountBook::new(
                    a,
                    lots.remove(&id).unwrap_or_default(),
                    holds.remove(&id).unwrap_or_default(),
                    now,
                );
                (id, book)
            })
            .collect();
        let idempotency = snapshot
            .idempotency
            .into_iter()
            .map(|r| ((r.scope, r.key.clone()), r))
            .collect();
        Ledger {
            now,
            limits,
            ids,
            books,
            hold_accounts,
            idempotency,
            external_ids: snapshot.external_ids_taken.into_iter().collect(),
            entries: Vec::new(),
            records: Vec::new(),
            commitments: snapshot
                .commitments
                .into_iter()
                .map(|c| (c.id, c))
                .collect(),
            dirty_commitments: BTreeSet::new(),
            events: Vec::new(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn book(&self, id: AccountId) -> Option<&AccountBook> {
        self.books.get(&id)
    }

    /// Applies one command. Idempotency is checked before anything else: the same key with the
    /// same request returns the first outcome; with another request it is a conflict.
    pub fn apply(&mut self, command: &Command) -> Result<Outcome, LedgerError> {
        if !command.is_keyed() {
            return self.execute(command);
        }
        let scope = self.scope_of(command)?;
        let key = command.idempotency_key().to_string();
        let request_hash = fingerprint(command);
        if let Some(record) = self.idempotency.get(&(scope, key.clone())) {
            if record.request_hash == request_hash {
                return Ok(record.outcome.clone());
            }
            return Err(LedgerError::IdempotencyConflict { key });
        }
        let outcome = self.execute(command)?;
        let record = IdempotencyRecord {
            scope,
            key: key.clone(),
            request_hash,
            outcome: outcome.clone(),
            created_at: self.now,
        };
        self.records.push(record.clone());
        self.idempotency.insert((scope, key), record);
        Ok(outcome)
    }

    fn execute(&mut self, command: &Command) -> Result<Outcome, LedgerError> {
        match command {
            Command::CreateAccount(c) => self.create_account(c),
            Command::UpdateAccount(c) => self.update_account(c),
            Command::Grant(c) => self.grant(c),
            Command::VoidGrant(c) => self.void_grant(c),
            Command::Authorize(c) => self.authorize(c),
            Command::Capture(c) => self.capture(c),
            Command::Release(c) => self.release(c),
            Command::ExtendHold(c) => self.extend_hold(c),
            Command::Debit(c) => self.debit(c),
            Command::Adjust(c) => self.adjust(c),
            Command::CreateCommitment(c) => self.create_commitment(c),
            Command::Sweep(c) => self.sweep(c),
        }
    }

    fn scope_of(&self, command: &Command) -> Result<Scope, LedgerError> {
        match command.target() {
            Target::NewAccount => Ok(Scope::CreateAccount),
            Target::Account(id) => match self.books.contains_key(&id) {
                true => Ok(Scope::Account(id)),
                false => Err(LedgerError::AccountNotFound {
                    account: id.to_string(),
                }),
            },
            Target::Hold(id) => self
                .hold_accounts
                .get(&id)
                .map(|a| Scope::Account(*a))
                .ok_or(LedgerError::HoldNotFound {
                    hold_id: id.to_string(),
                }),
        }
    }

    /// Everything the batch changed. Call once, after the last command.
    pub fn writes(&mut self) -> Writes {
        self.raise_balance_events();
        let mut writes = Writes {
            entries: std::mem::take(&mut self.entries),
            idempotency: std::mem::take(&mut self.records),
            events: std::mem::take(&mut self.events),
            commitments: std::mem::take(&mut self.dirty_commitments)
                .into_iter()
                .filter_map(|id| self.commitments.get(&id).cloned())
                .collect(),
            ..Writes::default()
        };
        for book in self.books.values_mut() {
            if std::mem::take(&mut book.account_dirty) {
                writes.accounts.push(book.account.clone());
            }
            for id in std::mem::take(&mut book.dirty_lots) {
                writes
                    .lots
                    .extend(book.lots.iter().find(|l| l.id == id).cloned());
            }
            for id in std::mem::take(&mut book.dirty_holds) {
                writes.holds.extend(book.holds.get(&id).cloned());
            }
        }
        writes
    }

    fn book_mut(&mut self, id: AccountId) -> Result<&mut AccountBook, LedgerError> {
        self.books.get_mut(&id).ok_or(LedgerError::AccountNotFound {
            account: id.to_string(),
        })
    }

    fn hold_book(&mut self, hold_id: HoldId) -> Result<&mut AccountBook, LedgerError> {
        let account = *self
            .hold_accounts
            .get(&hold_id)
            .ok_or(LedgerError::HoldNotFound {
                hold_id: hold_id.to_string(),
            })?;
        self.book_mut(account)
    }

    fn seal(&mut self, draft: EntryDraft, account: AccountId) -> EntryId {
        let id = EntryId(self.ids.next_id());
        let now = self.now;
        let book = self
            .books
            .get_mut(&account)
            .expect("entries are posted to loaded accounts");
        let entry = draft.seal(id, book.touch_account(), now);
        self.entries.push(entry);
        id
    }

    fn create_account(&mut self, c: &CreateAccount) -> Result<Outcome, LedgerError> {
        if c.unit_scale > UNIT_SCALE_MAX {
            return Err(invalid("unit_scale", &format!("at most {UNIT_SCALE_MAX}")));
        }
        check_unit_amount("credit_line_limit", c.credit_line_limit, c.unit_scale)?;
        check_price(c.credit_line_price)?;
        check_low_balance(c.low_balance, c.unit_scale)?;
        if self.external_ids.contains(&c.external_id) {
            return Err(LedgerError::ExternalIdTaken {
                external_id: c.external_id.clone(),
            });
        }
        let account = Account {
            id: AccountId(self.ids.next_id()),
            external_id: c.external_id.clone(),
            unit: c.unit.clone(),
            unit_scale: c.unit_scale,
            status: AccountStatus::Active,
            credit_line_limit: c.credit_line_limit,
            credit_line_used: Decimal::ZERO,
            credit_line_held: Decimal::ZERO,
            credit_line_price: c.credit_line_price.get(),
            currency: c.currency.clone(),
            created_at: self.now,
            open_holds: 0,
            entry_seq: 0,
            last_hash: String::new(),
            low_balance: c.low_balance,
            low_balance_base: Decimal::ZERO,
            alert_level: AlertLevel::Ok,
            credit_line_spent: Decimal::ZERO,
            credit_line_until: None,
        };
        self.external_ids.insert(c.external_id.clone());
        let mut book = AccountBook::new(account, Vec::new(), Vec::new(), self.now);
        // An account starts at the level it has, without an event: a new account with nothing
        // to spend is not news.
        book.rebase_low_balance(self.now);
        book.account.alert_level = book.alert_level(self.now).0;
        book.account_dirty = true;
        let account = book.account.clone();
        self.books.insert(account.id, book);
        Ok(Outcome::Account(account))
    }

    fn update_account(&mut self, c: &UpdateAccount) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.book_mut(c.account_id)?;
        let account = &book.account;
        if account.status == AccountStatus::Closed {
            return Err(LedgerError::AccountClosed {
                account_id: account.id.to_string(),
            });
        }
        if let Some(limit) = c.credit_line_limit {
            check_unit_amount("credit_line_limit", limit, account.unit_scale)?;
            let in_use = account.credit_line_used + account.credit_line_held;
            if limit < in_use {
                return Err(LedgerError::CreditLineBelowUsage { limit, in_use });
            }
        }
        if let Some(price) = c.credit_line_price {
            check_price(price)?;
        }
        if let (Some(term_end), true) = (
            account.credit_line_until,
            c.credit_line_limit.is_some() || c.credit_line_price.is_some(),
        ) {
            return Err(LedgerError::CommitmentActive {
                account_id: account.id.to_string(),
                term_end: term_end.to_rfc3339(),
            });
        }
        if let Some(low_balance) = c.low_balance {
            check_low_balance(low_balance, account.unit_scale)?;
        }
        let account = book.touch_account();
        if let Some(low_balance) = c.low_balance {
            account.low_balance = low_balance;
        }
        if let Some(limit) = c.credit_line_limit {
            account.credit_line_limit = limit;
        }
        if let Some(price) = c.credit_line_price {
            account.credit_line_price = price.get();
        }
        if let Some(status) = c.status {
            account.status = status;
        }
        if c.credit_line_limit.is_some() {
            book.rebase_low_balance(now);
        }
        Ok(Outcome::Account(book.account.clone()))
    }

    fn grant(&mut self, c: &Grant) -> Result<Outcome, LedgerError> {
        let (now, limits) = (self.now, self.limits);
        let book = self.book_mut(c.account_id)?;
        let account = &book.account;
        if account.status == AccountStatus::Closed {
            return Err(LedgerError::AccountClosed {
                account_id: account.id.to_string(),
            });
        }
        let quantity = c.quantity.check_scale("quantity", account.unit_scale)?;
        if c.kind == LotKind::Paid && c.price.get().is_zero() {
            return Err(invalid("price", "a paid top-up needs a positive price"));
        }
        let effective_at = c.effective_at.unwrap_or(now);
        if let Some(expires_at) = c.expires_at {
            if expires_at <= effective_at || expires_at <= now {
                return Err(invalid(
                    "expires_at",
                    "must be after effective_at and in the future",
                ));
            }
        }
        if book.live_lots(now) >= limits.live_lots_per_account_max as usize {
            return Err(LedgerError::TooManyLots {
                account_id: account.id.to_string(),
                limit: limits.live_lots_per_account_max,
            });
        }
        let lot = Lot {
            id: LotId(self.ids.next_id()),
            account_id: c.account_id,
            kind: c.kind,
            status: LotStatus::Active,
            priority: c.priority,
            granted: quantity,
            remaining: quantity,
            held: Decimal::ZERO,
            effective_at,
            expires_at: c.expires_at,
            scope: c.scope.clone(),
            cost_basis: c.price.get(),
            money_deferred: c.price.get(),
            currency: c.currency.clone(),
            reference: c.reference.clone(),
            created_at: now,
        };
        let (kind, issued) = match c.kind {
            LotKind::Paid => (EntryKind::TopUp, gl::ISSUED_PAID),
            LotKind::Promotional => (EntryKind::Grant, gl::ISSUED_PROMOTIONAL),
        };
        let mut draft = EntryDraft::new(kind, now, &c.idempotency_key, &c.reference);
        draft.lot_id = Some(lot.id);
        let unit = self.books[&c.account_id].account.unit.clone();
        draft.pair(
            Book::Quantity,
            issued.into(),
            gl::lot(lot.id),
            quantity,
            &unit,
            Some(lot.id),
        );
        draft.pair(
            Book::Money,
            gl::CASH_CLEARING.into(),
            gl::DEFERRED_REVENUE.into(),
            lot.cost_basis,
            &lot.currency,
            Some(lot.id),
        );
        let book = self.book_mut(c.account_id)?;
        book.insert_lot(lot.clone());
        book.rebase_low_balance(now);
        let entry_id = self.seal(draft, c.account_id);
        Ok(Outcome::Granted { lot, entry_id })
    }

    fn void_grant(&mut self, c: &VoidGrant) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.book_mut(c.account_id)?;
        let lot = book.lot(c.lot_id).ok_or(LedgerError::LotNotFound {
            lot_id: c.lot_id.to_string(),
        })?;
        let not_active = |status| LedgerError::LotNotActive {
            lot_id: lot.id.to_string(),
            status,
        };
        if lot.status != LotStatus::Active {
            return Err(not_active(lot.status));
        }
        if lot.is_expired_at(now) {
            return Err(not_active(LotStatus::Expired));
        }
        if lot.held > Decimal::ZERO && !c.release_holds {
            return Err(LedgerError::LotHeld {
                lot_id: lot.id.to_string(),
                held: lot.held,
            });
        }
        release_lot_from_holds(book, c.lot_id);
        let mut draft = EntryDraft::new(EntryKind::Void, now, &c.idempotency_key, &c.reason);
        draft.lot_id = Some(c.lot_id);
        let (quantity, money) =
            book.close_lot(c.lot_id, LotStatus::Voided, Drain::VOIDED, &mut draft);
        let lot = book.lot(c.lot_id).expect("the lot was found above").clone();
        let entry_id = self.seal(draft, c.account_id);
        Ok(Outcome::Voided {
            lot,
            entry_id,
            quantity_voided: quantity,
            money_refunded: money,
        })
    }

    fn authorize(&mut self, c: &Authorize) -> Result<Outcome, LedgerError> {
        let (now, limits) = (self.now, self.limits);
        let ttl_ms = c.ttl_ms.unwrap_or(limits.hold_ttl_default_ms);
        if ttl_ms == 0 || ttl_ms > limits.hold_ttl_max_ms {
            return Err(invalid(
                "ttl_ms",
                &format!("must be 1 to {}", limits.hold_ttl_max_ms),
            ));
        }
        let book = self.book_mut(c.account_id)?;
        check_can_spend(&book.account)?;
        let quantity = c
            .quantity
            .check_scale("quantity", book.account.unit_scale)?;
        if book.account.open_holds >= limits.open_holds_per_account_max {
            return Err(LedgerError::TooManyOpenHolds {
                account_id: book.account.id.to_string(),
                limit: limits.open_holds_per_account_max,
            });
        }
        let reserved = book.plan(quantity, now, &c.meter)?;
        let hold_id = HoldId(self.ids.next_id());
        let book = self.book_mut(c.account_id)?;
        book.reserve(&reserved);
        book.touch_account().open_holds += 1;
        let hold = Hold {
            id: hold_id,
            account_id: c.account_id,
            status: HoldStatus::Open,
            authorized: quantity,
            captured: Decimal::ZERO,
            reserved,
            expires_at: now + Duration::milliseconds(ttl_ms as i64),
            created_at: now,
            meter: c.meter.clone(),
            reference: c.reference.clone(),
        };
        book.put_hold(hold.clone());
        let available = book.available(now, &c.meter);
        self.hold_accounts.insert(hold_id, c.account_id);
        Ok(Outcome::Authorized { hold, available })
    }

    fn capture(&mut self, c: &Capture) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.hold_book(c.hold_id)?;
        let mut hold = open_hold(book, c.hold_id, now)?.clone();
        if book.account.status == AccountStatus::Closed {
            return Err(LedgerError::AccountClosed {
                account_id: book.account.id.to_string(),
            });
        }
        let quantity = c
            .quantity
            .check_scale("quantity", book.account.unit_scale)?;
        let chargeable: Decimal = hold
            .reserved
            .iter()
            .filter(|d| book.draw_chargeable(d, now))
            .map(|d| d.quantity)
            .sum();
        let (from_hold, beyond) = match c.overage {
            _ if quantity <= chargeable => (quantity, Decimal::ZERO),
            Overage::Reject => {
                return Err(LedgerError::CaptureExceedsHold {
                    requested: quantity,
                    held: chargeable,
                })
            }
            Overage::Clamp => (chargeable, Decimal::ZERO),
            Overage::DrawAvailable => (chargeable, quantity - chargeable),
        };
        let extra = match beyond.is_zero() {
            true => Vec::new(),
            // Credit beyond the hold is new spending, which a frozen account may not do.
            false => check_can_spend(&book.account)
                .and_then(|()| book.plan(beyond, now, &hold.meter))
                .map_err(|e| match e {
                    LedgerError::InsufficientCredit { available, .. } => {
                        LedgerError::InsufficientCredit {
                            requested: quantity,
                            available: available + chargeable,
                        }
                    }
                    other => other,
                })?,
        };
        let mut draft =
            EntryDraft::new(EntryKind::Capture, now, &c.idempotency_key, &hold.reference);
        draft.hold_id = Some(hold.id);
        let mut draws = Vec::new();
        let mut left = from_hold;
        for reserved in hold.reserved.iter_mut() {
            if left.is_zero() {
                break;
            }
            if !book.draw_chargeable(reserved, now) {
                continue;
            }
            let draw = Draw {
                lot_id: reserved.lot_id,
                quantity: reserved.quantity.min(left),
            };
            book.consume(&draw, true, &mut draft);
            reserved.quantity -= draw.quantity;
            left -= draw.quantity;
            draws.push(draw);
        }
        for draw in extra {
            book.consume(&draw, false, &mut draft);
            draws.push(draw);
        }
        hold.reserved.retain(|d| !d.quantity.is_zero());
        let charged = from_hold + beyond;
        hold.captured += charged;
        let mut released = Decimal::ZERO;
        if c.is_final || hold.reserved.is_empty() {
            released = book.release_reservations(&mut hold);
            hold.status = HoldStatus::Captured;
            book.close_hold(hold.clone());
        } else {
            book.put_hold(hold.clone());
        }
        let account = hold.account_id;
        let entry_id = (!charged.is_zero()).then(|| self.seal(draft, account));
        Ok(Outcome::Captured {
            hold,
            entry_id,
            charged,
            draws,
            released,
        })
    }

    fn release(&mut self, c: &Release) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.hold_book(c.hold_id)?;
        let mut hold = open_hold(book, c.hold_id, now)?.clone();
        let released = book.release_reservations(&mut hold);
        hold.status = HoldStatus::Released;
        book.close_hold(hold.clone());
        Ok(Outcome::Released { hold, released })
    }

    fn extend_hold(&mut self, c: &ExtendHold) -> Result<Outcome, LedgerError> {
        let (now, max) = (self.now, self.limits.hold_ttl_max_ms);
        if c.ttl_ms == 0 || c.ttl_ms > max {
            return Err(invalid("ttl_ms", &format!("must be 1 to {max}")));
        }
        let book = self.hold_book(c.hold_id)?;
        let mut hold = open_hold(book, c.hold_id, now)?.clone();
        hold.expires_at = now + Duration::milliseconds(c.ttl_ms as i64);
        book.put_hold(hold.clone());
        Ok(Outcome::Extended { hold })
    }

    fn debit(&mut self, c: &Debit) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.book_mut(c.account_id)?;
        check_can_spend(&book.account)?;
        let quantity = c
            .quantity
            .check_scale("quantity", book.account.unit_scale)?;
        let draws = book.plan(quantity, now, &c.meter)?;
        let mut draft = EntryDraft::new(EntryKind::Debit, now, &c.idempotency_key, &c.reference);
        for draw in &draws {
            book.consume(draw, false, &mut draft);
        }
        let available = book.available(now, &c.meter);
        let entry_id = self.seal(draft, c.account_id);
        Ok(Outcome::Debited {
            entry_id,
            charged: quantity,
            draws,
            available,
        })
    }
}

/// Takes a lot out of every hold that reserves part of it, closing holds left with nothing.
fn release_lot_from_holds(book: &mut AccountBook, lot_id: LotId) {
    let affected: Vec<HoldId> = book
        .holds
        .values()
        .filter(|h| {
            h.status == HoldStatus::Open && h.reserved.iter().any(|d| d.lot_id == Some(lot_id))
        })
        .map(|h| h.id)
        .collect();
    for id in affected {
        let mut hold = book.holds[&id].clone();
        let (on_lot, rest): (Vec<Draw>, Vec<Draw>) = hold
            .reserved
            .drain(..)
            .partition(|d| d.lot_id == Some(lot_id));
        hold.reserved = on_lot;
        book.release_reservations(&mut hold);
        hold.reserved = rest;
        if hold.reserved.is_empty() {
            hold.status = HoldStatus::Released;
            book.close_hold(hold);
        } else {
            book.put_hold(hold);
        }
    }
}

fn open_hold(book: &AccountBook, id: HoldId, now: DateTime<Utc>) -> Result<&Hold, LedgerError> {
    let hold = book.holds.get(&id).ok_or(LedgerError::HoldNotFound {
        hold_id: id.to_string(),
    })?;
    let expired = || LedgerError::HoldExpired {
        hold_id: id.to_string(),
        expired_at: hold.expires_at.to_rfc3339(),
    };
    match hold.status {
        HoldStatus::Expired => Err(expired()),
        HoldStatus::Open if hold.expires_at <= now => Err(expired()),
        HoldStatus::Open => Ok(hold),
        status => Err(LedgerError::HoldNotOpen {
            hold_id: id.to_string(),
            status,
        }),
    }
}
