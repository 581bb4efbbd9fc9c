//! `credit-ledger verify`: checks invariants 1, 3 and 6 of DESIGN.md over the whole store.
//!
//! [`Checker`] is pure: it is fed each account, then that account's entries in `account_seq`
//! order, then the lots of the accounts seen since the last [`Checker::finish_lots`], and it keeps
//! only running sums, the chain of the account in hand and the per-lot sums of one page of
//! accounts. [`verify`] drives it from one read-only snapshot of the store, a page at a time.
//!
//! - Invariant 1: every entry balances in each book per unit or currency, and so does each
//!   book's trial balance (all postings, debits − credits).
//! - Invariant 3: each lot row agrees with the postings that name it. Quantity: credits to
//!   `lot:{id}` are its grant, debits its draws, and granted = consumed + expired + voided +
//!   remaining. Money: cost basis = recognized + breakage + refunded + deferred, and the lot's
//!   `deferred_revenue` postings net to the row's `money_deferred`.
//! - Invariant 6: each account's entries run 1..n, each links to the previous entry's hash,
//!   re-hashes to its stored hash, and the account row's `entry_seq`/`last_hash` name the last.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use anyhow::Context as _;
use rust_decimal::Decimal;

use crate::ledger::entry::ledger_account as gl;
use crate::ledger::{Account, AccountId, Book, Entry, EntryId, Lot, LotId, Posting, Side};
use crate::store::audit::{AuditAccount, AuditReader, CorruptRow, EntryCursor, LotCursor};
use crate::store::Store;

/// Accounts per page; the lots of one page's accounts are checked together.
pub const ACCOUNT_PAGE: u32 = 1_000;
/// Entries (with their postings) per page.
pub const ENTRY_PAGE: u32 = 1_000;
/// Lots per page.
pub const LOT_PAGE: u32 = 1_000;
/// Violations kept for the report; beyond this they are only counted.
pub const VIOLATIONS_KEPT_MAX: usize = 10_000;

/// One broken invariant, with everything needed to find and judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    EntryUnbalanced {
        entry_id: EntryId,
        account_id: AccountId,
        book: Book,
        unit: String,
        debits_minus_credits: Decimal,
    },
    TrialBalance {
        book: Book,
        unit: String,
        debits: Decimal,
        credits: Decimal,
    },
    /// A lot row's column (`granted`, `remaining` or `money_deferred`) is not what the postings
    /// naming the lot add up to.
    LotRow {
        lot_id: LotId,
        account_id: AccountId,
        column: &'static str,
        row: Decimal,
        posted: Decimal,
    },
    /// granted ≠ consumed + expired + voided + remaining.
    LotQuantity {
        lot_id: LotId,
        account_id: AccountId,
        granted: Decimal,
        consumed: Decimal,
        expired: Decimal,
        voided: Decimal,
        remaining: Decimal,
    },
    /// cost basis ≠ recognized + breakage + refunded + deferred.
    LotMoney {
        lot_id: LotId,
        account_id: AccountId,
        currency: String,
        cost_basis: Decimal,
        recognized: Decimal,
        breakage: Decimal,
        refunded: Decimal,
        deferred: Decimal,
    },
    /// Postings name a lot that has no readable row on their account.
    PostingsWithoutLot {
        lot_id: LotId,
        account_id: AccountId,
    },
    SeqGap {
        account_id: AccountId,
        entry_id: EntryId,
        expected: i64,
        found: i64,
    },
    BrokenLink {
        account_id: AccountId,
        entry_id: EntryId,
        account_seq: i64,
        expected: String,
        found: String,
    },
    HashMismatch {
        account_id: AccountId,
        entry_id: EntryId,
        account_seq: i64,
        stored: String,
        computed: String,
    },
    /// The account row's `entry_seq` or `last_hash` is not its last entry's.
    AccountHead {
        account_id: AccountId,
        column: &'static str,
        row: String,
        last_entry: String,
    },
    /// Entries name an account that has no account row.
    EntriesWithoutAccount {
        account_key: String,
    },
    Corrupt(CorruptRow),
    /// Rows the walk by account never reached: they belong to no account (or no entry).
    Unreached {
        table: &'static str,
        stored: u64,
        reached: u64,
    },
}

fn hash_or_none(hash: &str) -> &str {
    if hash.is_empty() {
        "(none)"
    } else {
        hash
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Violation::*;
        match self {
            EntryUnbalanced {
                entry_id,
                account_id,
                book,
                unit,
                debits_minus_credits,
            } => write!(
                f,
                "invariant 1: entry {entry_id} (account {account_id}) does not balance in the {} \
                 book in {unit}: debits - credits = {debits_minus_credits}",
                book.as_str()
            ),
            TrialBalance {
                book,
                unit,
                debits,
                credits,
            } => write!(
                f,
                "invariant 1: the {} book's trial balance in {unit} is off by {}: debits \
                 {debits}, credits {credits}",
                book.as_str(),
                debits - credits
            ),
            LotRow {
                lot_id,
                account_id,
                column,
                row,
                posted,
            } => {
                let postings = match *column {
                    "granted" => format!("lot:{lot_id} was credited"),
                    "remaining" => format!("lot:{lot_id} has a balance of"),
                    _ => "its deferred_revenue postings net to".to_string(),
                };
                write!(
                    f,
                    "invariant 3: lot {lot_id} (account {account_id}): {column} is {row} on the \
                     lot row, but {postings} {posted}"
                )
            }
            LotQuantity {
                lot_id,
                account_id,
                granted,
                consumed,
                expired,
                voided,
                remaining,
            } => {
                write!(
                    f,
                    "invariant 3: lot {lot_id} (account {account_id}): granted {granted} != \
                     consumed {consumed} + expired {expired} + voided {voided} + remaining \
                     {remaining} = {}",
                    consumed + expired + voided + remaining
                )
            }
            LotMoney {
                lot_id,
                account_id,
                currency,
                cost_basis,
                recognized,
                breakage,
                refunded,
                deferred,
            } => {
                write!(
                    f,
                    "invariant 3: lot {lot_id} (account {account_id}): cost basis {cost_basis} \
                     {currency} != recognized {recognized} + breakage {breakage} + refunded \
                     {refunded} + deferred {deferred} = {}",
                    recognized + breakage + refunded + deferred
                )
            }
            PostingsWithoutLot { lot_id, account_id } => write!(
                f,
                "invariant 3: postings of account {account_id} name lot {lot_id}, which has no \
                 readable lot row on that account"
            ),
            SeqGap {
                account_id,
                entry_id,
                expected,
                found,
            } => write!(
                f,
                "invariant 6: account {account_id}: entry {entry_id} has account_seq {found}, \
                 expected {expected}"
            ),
            BrokenLink {
                account_id,
                entry_id,
                account_seq,
                expected,
                found,
            } => write!(
                f,
                "invariant 6: account {account_id}: entry {entry_id} (seq {account_seq}) has \
                 prev_hash {}, but the previous entry's hash is {}",
                hash_or_none(found),
                hash_or_none(expected)
            ),
            HashMismatch {
                account_id,
                entry_id,
                account_seq,
                stored,
                computed,
            } => write!(
                f,
                "invariant 6: account {account_id}: entry {entry_id} (seq {account_seq}) is \
                 stored with hash {stored}, but its content hashes to {computed}"
            ),
            AccountHead {
                account_id,
                column,
                row,
                last_entry,
            } => write!(
                f,
                "invariant 6: account {account_id}: {column} is {} on the account row, but the \
                 last entry's is {}",
                hash_or_none(row),
                hash_or_none(last_entry)
            ),
            EntriesWithoutAccount { account_key } => write!(
                f,
                "entries name account {account_key:?}, which has no account row"
            ),
            Corrupt(row) => write!(f, "corrupt {} row {:?}: {}", row.table, row.key, row.error),
            Unreached {
                table,
                stored,
                reached,
            } => write!(
                f,
                "{} of {stored} {table} rows are not reachable from any account and were not \
                 checked",
                stored.saturating_sub(*reached)
            ),
        }
    }
}

/// How many rows were checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub accounts: u64,
    pub entries: u64,
    pub postings: u64,
    pub lots: u64,
}

/// One line of a book's trial balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialLine {
    pub book: Book,
    pub unit: String,
    pub debits: Decimal,
    pub credits: Decimal,
}

/// What `verify` found: what it checked, each book's trial balance, and every violation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checked: Counts,
    pub trial_balance: Vec<TrialLine>,
    /// The first [`VIOLATIONS_KEPT_MAX`] violations, in the order they were found.
    pub violations: Vec<Violation>,
    /// All violations found, including those not kept.
    pub violations_total: u64,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations_total == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.checked;
        writeln!(
            f,
            "checked: accounts {}, entries {}, postings {}, lots {}",
            c.accounts, c.entries, c.postings, c.lots
        )?;
        for line in &self.trial_balance {
            writeln!(
                f,
                "trial balance, {} book, {}: debits {}, credits {}",
                line.book.as_str(),
                line.unit,
                line.debits,
                line.credits
            )?;
        }
        if self.is_clean() {
            return write!(f, "ok: invariants 1, 3 and 6 hold");
        }
        writeln!(f, "{} violation(s):", self.violations_total)?;
        for violation in &self.violations {
            writeln!(f, "  {violation}")?;
        }
        let untold = self.violations_total - self.violations.len() as u64;
        if untold > 0 {
            writeln!(f, "  … and {untold} more")?;
        }
        write!(f, "FAILED: the store breaks the invariants above")
    }
}

/// What the postings naming one lot add up to.
#[derive(Debug, Clone, Copy)]
struct LotSums {
    account_id: AccountId,
    /// Credits to `lot:{id}`.
    granted: Decimal,
    /// Debits to `lot:{id}`.
    drawn: Decimal,
    consumed: Decimal,
    expired: Decimal,
    voided: Decimal,
    /// `deferred_revenue` credits − debits.
    deferred: Decimal,
    recognized: Decimal,
    breakage: Decimal,
    refunded: Decimal,
}

impl LotSums {
    fn new(account_id: AccountId) -> Self {
        let zero = Decimal::ZERO;
        LotSums {
            account_id,
            granted: zero,
            drawn: zero,
            consumed: zero,
            expired: zero,
            voided: zero,
            deferred: zero,
            recognized: zero,
            breakage: zero,
            refunded: zero,
        }
    }

    fn add(&mut self, lot_id: LotId, p: &Posting) {
        let net_credit = match p.side {
            Side::Credit => p.amount,
            Side::Debit => -p.amount,
        };
        let (sum, amount) = match (p.book, p.ledger_account.as_str()) {
            (Book::Quantity, account) if account == gl::lot(lot_id) => match p.side {
                Side::Credit => (&mut self.granted, p.amount),
                Side::Debit => (&mut self.drawn, p.amount),
            },
            (Book::Quantity, gl::CONSUMED) => (&mut self.consumed, net_credit),
            (Book::Quantity, gl::EXPIRED) => (&mut self.expired, net_credit),
            (Book::Quantity, gl::VOIDED) => (&mut self.voided, net_credit),
            (Book::Money, gl::DEFERRED_REVENUE) => (&mut self.deferred, net_credit),
            (Book::Money, gl::REVENUE_USAGE) => (&mut self.recognized, net_credit),
            (Book::Money, gl::REVENUE_BREAKAGE) => (&mut self.breakage, net_credit),
            (Book::Money, gl::REFUNDS_PAYABLE) => (&mut self.refunded, net_credit),
            // The other side of a grant (issued:*, cash_clearing) says nothing about the lot.
            _ => return,
        };
        *sum += amount;
    }
}

/// The chain of the account in hand.
#[derive(Debug)]
struct Chain {
    /// The account row, when it exists and parsed; its head is checked at the end.
    account: Option<(AccountId, i64, String)>,
    next_seq: i64,
    /// The previous entry's stored hash; `None` after an entry that could not be read.
    prev_hash: Option<String>,
}

/// The pure checker; see the module doc for the order it must be fed in.
#[derive(Debug, Default)]
pub struct Checker {
    checked: Counts,
    trial: BTreeMap<(Book, String), (Decimal, Decimal)>,
    chain: Option<Chain>,
    lot_sums: HashMap<LotId, LotSums>,
    violations: Vec<Violation>,
    violations_total: u64,
}

impl Checker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn violation(&mut self, violation: Violation) {
        self.violations_total += 1;
        if self.violations.len() < VIOLATIONS_KEPT_MAX {
            self.violations.push(violation);
        }
    }

    /// Starts the chain of the next account; `None` when its row is missing or corrupt, in
    /// which case its entries are still chained but its head cannot be compared.
    pub fn start_account(&mut self, account: Option<&Account>) {
        self.finish_account();
        if account.is_some() {
            self.checked.accounts += 1;
        }
        self.chain = Some(Chain {
            account: account.map(|a| (a.id, a.entry_seq, a.last_hash.clone())),
            next_seq: 1,
            prev_hash: Some(String::new()),
        });
    }

    /// Checks the account row's head against its last entry (if an account is in hand).
    pub fn finish_account(&mut self) {
        let Some(chain) = self.chain.take() else {
            return;
        };
        let Some((account_id, entry_seq, last_hash)) = chain.account else {
            return;
        };
        let last_seq = chain.next_seq - 1;
        if entry_seq != last_seq {
            self.violation(Violation::AccountHead {
                account_id,
                column: "entry_seq",
                row: entry_seq.to_string(),
                last_entry: last_seq.to_string(),
            });
        }
        // After an unreadable last entry its hash is unknown, and there is nothing to compare.
        match chain.prev_hash {
            Some(last_entry) if last_entry != last_hash => {
                self.violation(Violation::AccountHead {
                    account_id,
                    column: "last_hash",
                    row: last_hash,
                    last_entry,
                });
            }
            _ => {}
        }
    }

    /// Checks one entry of the account in hand and adds it to the sums.
    pub fn entry(&mut self, entry: &Entry) {
        self.checked.entries += 1;
        self.checked.postings += entry.postings.len() as u64;
        for ((book, unit), imbalance) in entry.imbalances() {
            self.violation(Violation::EntryUnbalanced {
                entry_id: entry.id,
                account_id: entry.account_id,
                book,
                unit,
                debits_minus_credits: imbalance,
            });
        }
        for p in &entry.postings {
            let line = self
                .trial
                .entry((p.book, p.unit.clone()))
                .or_insert((Decimal::ZERO, Decimal::ZERO));
            match p.side {
                Side::Debit => line.0 += p.amount,
                Side::Credit => line.1 += p.amount,
            }
            if let Some(lot_id) = p.lot_id {
                self.lot_sums
                    .entry(lot_id)
                    .or_insert_with(|| LotSums::new(entry.account_id))
                    .add(lot_id, p);
            }
        }
        self.link(entry);
    }

    /// Invariant 6 for one entry: its place in the account's chain and its own hash.
    fn link(&mut self, entry: &Entry) {
        let computed = entry.compute_hash();
        if computed != entry.hash {
            self.violation(Violation::HashMismatch {
                account_id: entry.account_id,
                entry_id: entry.id,
                account_seq: entry.account_seq,
                stored: entry.hash.clone(),
                computed,
            });
        }
        let Some(chain) = self.chain.as_mut() else {
            return;
        };
        let (expected_seq, expected_hash) = (chain.next_seq, chain.prev_hash.clone());
        // The next link is judged against what is stored here, so one altered entry is reported
        // once rather than breaking every entry after it.
        chain.next_seq = entry.account_seq.saturating_add(1);
        chain.prev_hash = Some(entry.hash.clone());
        if entry.account_seq != expected_seq {
            self.violation(Violation::SeqGap {
                account_id: entry.account_id,
                entry_id: entry.id,
                expected: expected_seq,
                found: entry.account_seq,
            });
        }
        let Some(expected_hash) = expected_hash else {
            return;
        };
        if entry.prev_hash != expected_hash {
            self.violation(Violation::BrokenLink {
                account_id: entry.account_id,
                entry_id: entry.id,
                account_seq: entry.account_seq,
                expected: expected_hash,
                found: entry.prev_hash.clone(),
            });
        }
    }

    /// Steps over an entry whose row could not be read (the caller reports it): the chain goes
    /// on from its stored `account_seq`, and the next entry's link cannot be judged.
    pub fn unreadable_entry(&mut self, account_seq: i64) {
        if let Some(chain) = self.chain.as_mut() {
            chain.next_seq = account_seq.saturating_add(1);
            chain.prev_hash = None;
        }
    }

    /// Invariant 3 for one lot, against the postings fed so far that name it.
    pub fn lot(&mut self, lot: &Lot) {
        self.checked.lots += 1;
        let sums = self
            .lot_sums
            .remove(&lot.id)
            .unwrap_or_else(|| LotSums::new(lot.account_id));
        let (lot_id, account_id) = (lot.id, lot.account_id);
        if sums.account_id != account_id {
            self.violation(Violation::PostingsWithoutLot {
                lot_id,
                account_id: sums.account_id,
            });
        }
        if sums.consumed + sums.expired + sums.voided + lot.remaining != lot.granted {
            self.violation(Violation::LotQuantity {
                lot_id,
                account_id,
                granted: lot.granted,
                consumed: sums.consumed,
                expired: sums.expired,
                voided: sums.voided,
                remaining: lot.remaining,
            });
        }
        if sums.recognized + sums.breakage + sums.refunded + lot.money_deferred != lot.cost_basis {
            self.violation(Violation::LotMoney {
                lot_id,
                account_id,
                currency: lot.currency.clone(),
                cost_basis: lot.cost_basis,
                recognized: sums.recognized,
                breakage: sums.breakage,
                refunded: sums.refunded,
                deferred: lot.money_deferred,
            });
        }
        let columns = [
            ("granted", lot.granted, sums.granted),
            ("remaining", lot.remaining, sums.granted - sums.drawn),
            ("money_deferred", lot.money_deferred, sums.deferred),
        ];
        for (column, row, posted) in columns {
            if row != posted {
                self.violation(Violation::LotRow {
                    lot_id,
                    account_id,
                    column,
                    row,
                    posted,
                });
            }
        }
    }

    /// Ends a page of lots: sums left over name lots that were never fed.
    pub fn finish_lots(&mut self) {
        let mut left: Vec<(LotId, AccountId)> = self
            .lot_sums
            .drain()
            .map(|(lot_id, sums)| (lot_id, sums.account_id))
            .collect();
        left.sort();
        for (lot_id, account_id) in left {
            self.violation(Violation::PostingsWithoutLot { lot_id, account_id });
        }
    }

    /// Closes the walk: the last account's head, leftover lot sums, and the trial balance.
    pub fn finish(mut self) -> Report {
        self.finish_account();
        self.finish_lots();
        let mut trial_balance = Vec::with_capacity(self.trial.len());
        for ((book, unit), (debits, credits)) in std::mem::take(&mut self.trial) {
            if debits != credits {
                self.violation(Violation::TrialBalance {
                    book,
                    unit: unit.clone(),
                    debits,
                    credits,
                });
            }
            trial_balance.push(TrialLine {
                book,
                unit,
                debits,
                credits,
            });
        }
        Report {
            checked: self.checked,
            trial_balance,
            violations: self.violations,
            violations_total: self.violations_total,
        }
    }
}

/// Checks invariants 1, 3 and 6 over the whole store, inside one read-only snapshot. Violations
/// are in the report; an error means the store could not be read.
pub async fn verify(store: &Store) -> anyhow::Result<Report> {
    let mut reader = store
        .audit_reader()
        .await
        .context("opening a read snapshot")?;
    let mut checker = Checker::new();
    let mut reached = Counts::default();
    let mut after: Option<String> = None;
    loop {
        let accounts = reader
            .accounts(after.as_deref(), ACCOUNT_PAGE)
            .await
            .context("reading accounts (is the database migrated?)")?;
        let Some(last) = accounts.last() else {
            break;
        };
        after = Some(last.key.clone());
        check_account_page(&mut reader, &mut checker, &accounts, &mut reached).await?;
    }
    let totals = reader.totals().await.context("counting rows")?;
    reader.finish().await.context("closing the read snapshot")?;
    let tables = [
        ("accounts", totals.accounts, reached.accounts),
        ("entries", totals.entries, reached.entries),
        ("postings", totals.postings, reached.postings),
        ("lots", totals.lots, reached.lots),
    ];
    for (table, stored, reached) in tables {
        if stored != reached {
            checker.violation(Violation::Unreached {
                table,
                stored,
                reached,
            });
        }
    }
    Ok(checker.finish())
}

/// One page of accounts: their entries (merged with the page in the store's order), then
/// their lots against the postings just summed.
async fn check_account_page(
    reader: &mut AuditReader,
    checker: &mut Checker,
    accounts: &[AuditAccount],
    reached: &mut Counts,
) -> anyhow::Result<()> {
    let (Some(first), Some(last)) = (accounts.first(), accounts.last()) else {
        return Ok(());
    };
    let mut walk = AccountWalk::new(accounts);
    reached.accounts += accounts.len() as u64;
    for account in accounts {
        if let Err(corrupt) = &account.account {
            checker.violation(Violation::Corrupt(corrupt.clone()));
        }
    }
    let mut cursor = EntryCursor {
        account_key: first.key.clone(),
        account_seq: i64::MIN,
    };
    loop {
        let page = reader
            .entries(&cursor, &last.key, ENTRY_PAGE)
            .await
            .context("reading entries")?;
        let Some(tail) = page.last() else {
            break;
        };
        cursor = EntryCursor {
            account_key: tail.account_key.clone(),
            account_seq: tail.account_seq,
        };
        for row in &page {
            reached.entries += 1;
            reached.postings += row.postings_read;
            walk.enter(&row.account_key, checker);
            match &row.entry {
                Ok(entry) => checker.entry(entry),
                Err(corrupt) => {
                    checker.violation(Violation::Corrupt(corrupt.clone()));
                    checker.unreadable_entry(row.account_seq);
                }
            }
        }
    }
    walk.close(checker);
    check_lots(reader, checker, &first.key, &last.key, reached).await
}

async fn check_lots(
    reader: &mut AuditReader,
    checker: &mut Checker,
    first_account: &str,
    last_account: &str,
    reached: &mut Counts,
) -> anyhow::Result<()> {
    let mut cursor = LotCursor {
        account_key: first_account.to_string(),
        lot_key: String::new(),
    };
    loop {
        let page = reader
            .lots(&cursor, last_account, LOT_PAGE)
            .await
            .context("reading lots")?;
        let Some(tail) = page.last() else {
            break;
        };
        cursor = LotCursor {
            account_key: tail.account_key.clone(),
            lot_key: tail.key.clone(),
        };
        for row in &page {
            reached.lots += 1;
            match &row.lot {
                Ok(lot) => checker.lot(lot),
                Err(corrupt) => checker.violation(Violation::Corrupt(corrupt.clone())),
            }
        }
    }
    checker.finish_lots();
    Ok(())
}

/// Walks one page of accounts alongside their entries. Both come in the store's order of
/// account ids, so no order is assumed here: an entry's account is looked up in the page, and
/// every account passed over on the way had no entries.
struct AccountWalk<'a> {
    accounts: &'a [AuditAccount],
    index: HashMap<&'a str, usize>,
    next: usize,
    current: Option<String>,
}

impl<'a> AccountWalk<'a> {
    fn new(accounts: &'a [AuditAccount]) -> Self {
        let index = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.key.as_str(), i))
            .collect();
        AccountWalk {
            accounts,
            index,
            next: 0,
            current: None,
        }
    }

    /// Makes `key` the account in hand, starting every account up to it.
    fn enter(&mut self, key: &str, checker: &mut Checker) {
        if self.current.as_deref() == Some(key) {
            return;
        }
        match self.index.get(key) {
            Some(&i) if i >= self.next => {
                for account in &self.accounts[self.next..=i] {
                    checker.start_account(account.account.as_ref().ok());
                }
                self.next = i + 1;
            }
            _ => {
                checker.violation(Violation::EntriesWithoutAccount {
                    account_key: key.to_string(),
                });
                checker.start_account(None);
            }
        }
        self.current = Some(key.to_string());
    }

    /// Starts (and so checks) the accounts after the last one with entries, then ends the last.
    fn close(&mut self, checker: &mut Checker) {
        for account in &self.accounts[self.next..] {
            checker.start_account(account.account.as_ref().ok());
        }
        self.next = self.accounts.len();
        checker.finish_account();
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    use super::*;
    use crate::ledger::entry::EntryDraft;
    use crate::ledger::{AccountStatus, EntryKind, LotKind, LotStatus};

    fn dec(text: &str) -> Decimal {
        text.parse().expect("test decimal")
    }

    fn account() -> Account {
        Account {
            id: AccountId(Uuid::from_u128(1)),
            external_id: "acme".into(),
            unit: "CREDIT".into(),
            unit_scale: 0,
            status: AccountStatus::Active,
            credit_line_limit: Decimal::ZERO,
            credit_line_used: Decimal::ZERO,
            credit_line_held: Decimal::ZERO,
            credit_line_price: Decimal::ZERO,
            currency: "USD".into(),
            created_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            open_holds: 0,
            entry_seq: 0,
            last_hash: String::new(),
        }
    }

    /// A lot of 100 bought for 10 USD, after 30 were consumed (3 USD) and the rest voided.
    fn voided_lot(account: &Account) -> Lot {
        Lot {
            id: LotId(Uuid::from_u128(7)),
            account_id: account.id,
            kind: LotKind::Paid,
            status: LotStatus::Voided,
            priority: 0,
            granted: dec("100"),
            remaining: Decimal::ZERO,
            held: Decimal::ZERO,
            effective_at: account.created_at,
            expires_at: None,
            scope: Vec::new(),
            cost_basis: dec("10"),
            money_deferred: Decimal::ZERO,
            currency: "USD".into(),
            reference: String::new(),
            created_at: account.created_at,
        }
    }

    /// The entries that produce `voided_lot`: top-up, debit, void.
    fn journal(account: &mut Account, lot: &Lot) -> Vec<Entry> {
        let steps = [
            (
                EntryKind::TopUp,
                gl::ISSUED_PAID.to_string(),
                gl::lot(lot.id),
                "100",
                gl::CASH_CLEARING,
                gl::DEFERRED_REVENUE,
                "10",
            ),
            (
                EntryKind::Debit,
                gl::lot(lot.id),
                gl::CONSUMED.to_string(),
                "30",
                gl::DEFERRED_REVENUE,
                gl::REVENUE_USAGE,
                "3",
            ),
            (
                EntryKind::Void,
                gl::lot(lot.id),
                gl::VOIDED.to_string(),
                "70",
                gl::DEFERRED_REVENUE,
                gl::REFUNDS_PAYABLE,
                "7",
            ),
        ];
        let mut entries = Vec::new();
        for (n, (kind, q_debit, q_credit, q, m_debit, m_credit, m)) in steps.into_iter().enumerate()
        {
            let at = account.created_at;
            let mut draft = EntryDraft::new(kind, at, &format!("key-{n}"), "");
            draft.lot_id = Some(lot.id);
            draft.pair(
                Book::Quantity,
                q_debit,
                q_credit,
                dec(q),
                "CREDIT",
                Some(lot.id),
            );
            draft.pair(
                Book::Money,
                m_debit.into(),
                m_credit.into(),
                dec(m),
                "USD",
                Some(lot.id),
            );
            let id = EntryId(Uuid::from_u128(100 + n as u128));
            entries.push(draft.seal(id, account, at));
        }
        entries
    }

    fn check(account: &Account, entries: &[Entry], lots: &[Lot]) -> Report {
        let mut checker = Checker::new();
        checker.start_account(Some(account));
        for entry in entries {
            checker.entry(entry);
        }
        for lot in lots {
            checker.lot(lot);
        }
        checker.finish()
    }

    fn fixture() -> (Account, Vec<Entry>, Lot) {
        let mut account = account();
        let lot = voided_lot(&account);
        let entries = journal(&mut account, &lot);
        (account, entries, lot)
    }

    #[test]
    fn a_consistent_journal_is_clean_and_counted() {
        let (account, entries, lot) = fixture();
        let report = check(&account, &entries, &[lot]);
        assert_eq!(report.violations, vec![]);
        let counts = Counts {
            accounts: 1,
            entries: 3,
            postings: 12,
            lots: 1,
        };
        assert_eq!(report.checked, counts);
        let usd = &report.trial_balance[1];
        assert_eq!(
            (usd.book, usd.debits, usd.credits),
            (Book::Money, dec("20"), dec("20"))
        );
        assert!(report
            .to_string()
            .ends_with("ok: invariants 1, 3 and 6 hold"));
    }

    #[test]
    fn an_altered_amount_unbalances_its_entry_the_book_and_its_hash() {
        let (account, mut entries, lot) = fixture();
        entries[1].postings[0].amount = dec("31");
        let entry_id = entries[1].id;
        let report = check(&account, &entries, &[lot]);
        assert!(report.violations.contains(&Violation::EntryUnbalanced {
            entry_id,
            account_id: account.id,
            book: Book::Quantity,
            unit: "CREDIT".into(),
            debits_minus_credits: dec("1"),
        }));
        assert!(report.violations.iter().any(|v| matches!(v,
            Violation::HashMismatch { entry_id: e, .. } if *e == entry_id)));
        assert!(report.violations.iter().any(|v| matches!(
            v,
            Violation::TrialBalance {
                book: Book::Quantity,
                ..
            }
        )));
        let text = report.to_string();
        assert!(
            text.contains(&entry_id.to_string())
                && text.ends_with("FAILED: the store breaks the invariants above")
        );
    }

    #[test]
    fn a_lot_row_that_disagrees_with_its_postings_is_named() {
        let (account, entries, mut lot) = fixture();
        lot.remaining = dec("5");
        lot.money_deferred = dec("1");
        let report = check(&account, &entries, &[lot.clone()]);
        let (lot_id, account_id) = (lot.id, account.id);
        let row = |column, row: &str| Violation::LotRow {
            lot_id,
            account_id,
            column,
            row: dec(row),
            posted: dec("0"),
        };
        let expected = vec![
            Violation::LotQuantity {
                lot_id,
                account_id,
                granted: dec("100"),
                consumed: dec("30"),
                expired: dec("0"),
                voided: dec("70"),
                remaining: dec("5"),
            },
            Violation::LotMoney {
                lot_id,
                account_id,
                currency: "USD".into(),
                cost_basis: dec("10"),
                recognized: dec("3"),
                breakage: dec("0"),
                refunded: dec("7"),
                deferred: dec("1"),
            },
            row("remaining", "5"),
            row("money_deferred", "1"),
        ];
        assert_eq!(report.violations, expected);
    }

    #[test]
    fn postings_naming_a_missing_lot_are_reported() {
        let (account, entries, lot) = fixture();
        let report = check(&account, &entries, &[]);
        let expected = Violation::PostingsWithoutLot {
            lot_id: lot.id,
            account_id: account.id,
        };
        assert_eq!(report.violations, vec![expected]);
    }

    #[test]
    fn a_missing_entry_breaks_the_chain_where_it_was() {
        let (account, mut entries, lot) = fixture();
        let gone = entries.remove(1);
        let (kept, account_id) = (entries[1].clone(), account.id);
        let report = check(&account, &entries, &[lot]);
        let chain: Vec<&Violation> = report
            .violations
            .iter()
            .filter(|v| matches!(v, Violation::SeqGap { .. } | Violation::BrokenLink { .. }))
            .collect();
        let expected = [
            Violation::SeqGap {
                account_id,
                entry_id: kept.id,
                expected: 2,
                found: 3,
            },
            Violation::BrokenLink {
                account_id,
                entry_id: kept.id,
                account_seq: 3,
                expected: entries[0].hash.clone(),
                found: gone.hash,
            },
        ];
        assert_eq!(chain, expected.iter().collect::<Vec<_>>());
    }

    #[test]
    fn an_account_head_behind_its_entries_is_reported() {
        let (mut account, entries, lot) = fixture();
        let last = entries[2].hash.clone();
        account.entry_seq = 2;
        account.last_hash = entries[1].hash.clone();
        let report = check(&account, &entries, &[lot]);
        let account_id = account.id;
        let expected = vec![
            Violation::AccountHead {
                account_id,
                column: "entry_seq",
                row: "2".into(),
                last_entry: "3".into(),
            },
            Violation::AccountHead {
                account_id,
                column: "last_hash",
                row: entries[1].hash.clone(),
                last_entry: last,
            },
        ];
        assert_eq!(report.violations, expected);
    }

    #[test]
    fn an_unreadable_entry_is_stepped_over_without_a_cascade() {
        let (account, entries, _) = fixture();
        let mut checker = Checker::new();
        checker.start_account(Some(&account));
        checker.entry(&entries[0]);
        checker.unreadable_entry(2);
        checker.entry(&entries[2]);
        checker.finish_account();
        let chain = checker.violations.iter().filter(|v| {
            !matches!(
                v,
                Violation::TrialBalance { .. } | Violation::PostingsWithoutLot { .. }
            )
        });
        assert_eq!(chain.count(), 0, "{:?}", checker.violations);
    }

    #[test]
    fn violations_beyond_the_cap_are_counted_not_kept() {
        let mut checker = Checker::new();
        for _ in 0..VIOLATIONS_KEPT_MAX + 3 {
            checker.violation(Violation::EntriesWithoutAccount {
                account_key: "x".into(),
            });
        }
        let report = checker.finish();
        assert_eq!(report.violations.len(), VIOLATIONS_KEPT_MAX);
        assert_eq!(report.violations_total, VIOLATIONS_KEPT_MAX as u64 + 3);
        assert!(report.to_string().contains("… and 3 more"));
    }
}
