//! The state machine: applies commands to a batch's books, one at a time, in order. Each handler
//! is a run of guard clauses that refuse without touching anything, followed by the changes,
//! which cannot fail. So a refused command changes nothing and the others in its batch go on.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::book::AccountBook;
use super::command::*;
use super::entry::{Entry, EntryDraft};
use super::error::LedgerError;
use super::fingerprint::fingerprint;
use super::needs::Scope;
use super::rating::Catalog;
use super::types::*;

mod accounts;
mod budgets;
mod checks;
mod credits;
mod events;
mod lifecycle;
mod refills;
mod usage;

/// Limits the engine enforces per account and per hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub open_holds_per_account_max: u32,
    pub live_lots_per_account_max: u32,
    pub hold_ttl_default_ms: u64,
    pub hold_ttl_max_ms: u64,
    pub budgets_per_account_max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            open_holds_per_account_max: 10_000,
            live_lots_per_account_max: 1_000,
            hold_ttl_default_ms: 30_000,
            hold_ttl_max_ms: 7 * 24 * 3_600_000,
            budgets_per_account_max: 100,
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
    /// The end of the last closed period: nothing is booked effective before it.
    pub closed_until: Option<DateTime<Utc>>,
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
    /// Who the command being applied is for: its entries record it.
    actor: String,
    /// The price books usage is rated by.
    catalog: Arc<Catalog>,
    /// The end of the last closed period (see [`Snapshot::closed_until`]).
    closed_until: Option<DateTime<Utc>>,
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
            closed_until: snapshot.closed_until,
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
            actor: String::new(),
            catalog: Arc::default(),
        }
    }

    /// Rates usage by `catalog` (no price book at all until set).
    pub fn with_catalog(mut self, catalog: Arc<Catalog>) -> Self {
        self.catalog = catalog;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn book(&self, id: AccountId) -> Option<&AccountBook> {
        self.books.get(&id)
    }

    /// Applies one command for `actor` (an API key's prefix, or empty), whom the entries it
    /// writes record. The actor is not part of the request: a retry under another key is the
    /// same request, answered from the first.
    pub fn apply_as(&mut self, command: &Command, actor: &str) -> Result<Outcome, LedgerError> {
        actor.clone_into(&mut self.actor);
        let result = self.apply(command);
        self.actor.clear();
        result
    }

    /// Applies one command. Idempotency is checked before anything else: the same key with the
    /// same request returns the first outcome; with another request it is a conflict.
    pub fn apply(&mut self, command: &Command) -> Result<Outcome, LedgerError> {
        let result = self.apply_keyed(command);
        if let Err(LedgerError::BudgetExceeded(refusal)) = &result {
            self.note_budget_hit(refusal);
        }
        result
    }

    fn apply_keyed(&mut self, command: &Command) -> Result<Outcome, LedgerError> {
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
            Command::CreateBudget(c) => self.create_budget(c),
            Command::UpdateBudget(c) => self.update_budget(c),
            Command::DeleteBudget(c) => self.delete_budget(c),
            Command::SetAutoTopUp(c) => self.set_auto_top_up(c),
            Command::FailTopUp(c) => self.fail_top_up(c),
            Command::CreateRecurringGrant(c) => self.create_recurring_grant(c),
            Command::DeleteRecurringGrant(c) => self.delete_recurring_grant(c),
            Command::Sweep(c) => self.sweep(c),
        }
    }

    fn scope_of(&self, command: &Command) -> Result<Scope, LedgerError> {
        match command.target() {
            Target::NewAccount => Ok(Scope::CreateAccount),
            Target::Account(id) => match self.books.contains_key(&id) {
                true => Ok(Scope::Account(id)),
                false => Err(LedgerError::AccountNotFound { account: id.into() }),
            },
            Target::Hold(id) => self
                .hold_accounts
                .get(&id)
                .map(|a| Scope::Account(*a))
                .ok_or(LedgerError::HoldNotFound { hold_id: id }),
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
        // Every account whose book changed in any way is written with its version raised.
        let named: HashSet<AccountId> = writes
            .entries
            .iter()
            .map(|e| e.account_id)
            .chain(writes.idempotency.iter().filter_map(|r| match r.scope {
                Scope::Account(id) => Some(id),
                Scope::CreateAccount => None,
            }))
            .chain(writes.commitments.iter().map(|c| c.account_id))
            .chain(writes.events.iter().map(|e| e.account_id))
            .collect();
        for book in self.books.values_mut() {
            let lots = std::mem::take(&mut book.dirty_lots);
            let holds = std::mem::take(&mut book.dirty_holds);
            let changed = std::mem::take(&mut book.account_dirty)
                || !lots.is_empty()
                || !holds.is_empty()
                || named.contains(&book.account.id);
            if changed {
                book.account.version += 1;
                writes.accounts.push(book.account.clone());
            }
            for id in lots {
                writes
                    .lots
                    .extend(book.lots.iter().find(|l| l.id == id).cloned());
            }
            for id in holds {
                writes.holds.extend(book.holds.get(&id).cloned());
            }
        }
        writes
    }

    /// The state the batch leaves its accounts in, once `writes` has been taken: each account
    /// (with its raised version), its active lots, the holds the batch loaded or wrote, and the
    /// idempotency records it loaded or made. A snapshot like the store's, so the next batch can
    /// be applied to it while this one commits.
    pub fn leaves(self) -> Snapshot {
        let mut snapshot = Snapshot {
            idempotency: self.idempotency.into_values().collect(),
            closed_until: self.closed_until,
            ..Snapshot::default()
        };
        for book in self.books.into_values() {
            snapshot.accounts.push(book.account);
            let active = book
                .lots
                .into_iter()
                .filter(|l| l.status == LotStatus::Active);
            snapshot.lots.extend(active);
            snapshot.holds.extend(book.holds.into_values());
        }
        snapshot
    }

    fn book_mut(&mut self, id: AccountId) -> Result<&mut AccountBook, LedgerError> {
        self.books
            .get_mut(&id)
            .ok_or(LedgerError::AccountNotFound { account: id.into() })
    }

    fn hold_book(&mut self, hold_id: HoldId) -> Result<&mut AccountBook, LedgerError> {
        let account = *self
            .hold_accounts
            .get(&hold_id)
            .ok_or(LedgerError::HoldNotFound { hold_id })?;
        self.book_mut(account)
    }

    fn seal(&mut self, draft: EntryDraft, account: AccountId) -> EntryId {
        let id = EntryId(self.ids.next_id());
        let now = self.now;
        let book = self
            .books
            .get_mut(&account)
            .expect("entries are posted to loaded accounts");
        let closed_until = self.closed_until;
        let entry = draft.seal(
            id,
            book.touch_account(),
            now,
            self.actor.clone(),
            closed_until,
        );
        self.entries.push(entry);
        id
    }
}
