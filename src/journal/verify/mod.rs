//! `credit-ledger verify`: checks invariants 1, 3, 6, 7 and 8 of `docs/design.md`, and the closed
//! months' snapshots (`journal::close::check_snapshots`). Before any close, and always with
//! `--full`, it walks the whole store (`verify_store`); once a month is closed, by default it
//! checks from that month's snapshot on (`verify_after_close`), so it costs what the open
//! period costs.
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
//! - Invariant 8: each rated entry charged its value + carried in − carried out, its carry in is
//!   the meter's previous carry out, its carry out lies below one unit of the account's scale,
//!   and the account row's carries are its entries' last.
//!
//! This module owns the entry point and the page walkers that read the store; the rest is split
//! by what it owns: `violation` (the [`Violation`] enum and its text), `report` ([`Counts`],
//! [`TrialLine`], [`Report`] and its text), `checker` (the pure [`Checker`]) and `tests` (its
//! unit tests).

use std::collections::HashMap;

use anyhow::Context as _;
use futures::StreamExt as _;

use crate::store::audit::{AuditAccount, AuditReader, CorruptRow, EntryCursor, LotCursor};
use crate::store::{PeriodClose, Store, StoreError};

mod checker;
mod report;
mod violation;

#[cfg(test)]
mod tests;

pub use checker::Checker;
pub use report::{Counts, Report, TrialLine};
pub use violation::Violation;

/// Accounts per page; the lots of one page's accounts are checked together.
pub const ACCOUNT_PAGE: u32 = 1_000;
/// Entries (with their postings) per page.
pub const ENTRY_PAGE: u32 = 1_000;
/// Lots per page.
pub const LOT_PAGE: u32 = 1_000;
/// Violations kept for the report; beyond this they are only counted.
pub const VIOLATIONS_KEPT_MAX: usize = 10_000;

/// Checks invariants 1, 3, 6, 7 and 8 over the whole store, inside one read-only snapshot, and
/// the closed months' snapshots (their hash chain and the entries they name). Violations are in
/// the report; an error means the store could not be read.
pub async fn verify(store: &Store) -> anyhow::Result<Report> {
    verify_with(store, false).await
}

/// [`verify`], and with `full` every entry from the first and each closed month's snapshot
/// recomputed from the journal. Without `full`, once a month is closed, the entries are checked
/// from the last closed month's snapshot on (`verify_after_close`).
pub async fn verify_with(store: &Store, full: bool) -> anyhow::Result<Report> {
    let snapshots = crate::journal::close::check_snapshots(store, full)
        .await
        .context("checking the closed months' snapshots")?;
    let last_closed = match full {
        true => None,
        false => (store.period_closes().await)
            .context("reading the closed months")?
            .into_iter()
            .rfind(|c| c.closed),
    };
    let mut report = match &last_closed {
        Some(close) => verify_after_close(store, close).await?,
        None => verify_store(store).await?,
    };
    for violation in snapshots {
        report.add(violation);
    }
    Ok(report)
}

/// The default check once a month is closed: the entries recorded from the first one effective
/// after the last closed month, in the order they were recorded, each on its account's chain
/// taken up from the entry before it (invariants 1, 6 and 8); then every account's head against
/// its chain, and every lot (invariant 3) and the trial balance (invariant 1) against the
/// month's snapshot plus the postings effective after it. Entries recorded after the month's
/// end but effective inside it (before the close) are checked on their chain but not summed:
/// the snapshot holds them. What lies wholly inside the closed months, and the carries of
/// meters no entry since has used, is for `verify --full`.
async fn verify_after_close(store: &Store, close: &PeriodClose) -> anyhow::Result<Report> {
    let mut reader = store
        .audit_reader()
        .await
        .context("opening a read snapshot")?;
    let mut checker = Checker::new();
    let first = (reader.first_seq_effective_from(close.end).await)
        .context("finding the entries after the last closed month")?;
    if let Some(from_seq) = first {
        let query = reader.entries_from_query(from_seq);
        let mut entries = reader.entries_from(&query);
        while let Some(entry) = entries.next().await {
            match entry {
                Ok(e) => checker.entry_after_close(&e.entry, e.entry.effective_at >= close.end),
                Err(StoreError::Corrupt(error)) => {
                    checker.violation(Violation::Corrupt(CorruptRow {
                        table: "entries",
                        key: String::new(),
                        error: error.to_string(),
                    }))
                }
                Err(e) => return Err(e).context("reading entries"),
            }
        }
        drop(entries);
        for start in checker.take_chain_starts() {
            let stored = match start.account_seq {
                1 => None,
                k => (reader.entry_hash(start.account_id, k - 1).await)
                    .context("reading the entry before the close")?,
            };
            checker.link_into_close(start, stored);
        }
    }
    let mut after: Option<String> = None;
    loop {
        let accounts = reader
            .accounts(after.as_deref(), ACCOUNT_PAGE)
            .await
            .context("reading accounts")?;
        let (Some(first), Some(last)) = (accounts.first(), accounts.last()) else {
            break;
        };
        let (first, last) = (first.key.clone(), last.key.clone());
        for account in &accounts {
            match &account.account {
                Ok(row) => checker.account_after_close(row),
                Err(corrupt) => checker.violation(Violation::Corrupt(corrupt.clone())),
            }
        }
        let lines = (reader.period_lines(&close.period, &first, &last).await)
            .context("reading the last closed month's snapshot")?;
        for line in &lines {
            checker.opening_line(line);
        }
        check_lots(
            &mut reader,
            &mut checker,
            &first,
            &last,
            &mut Counts::default(),
        )
        .await?;
        check_budgets(&mut reader, &mut checker, &accounts).await?;
        after = Some(last);
    }
    reader.finish().await.context("closing the read snapshot")?;
    let mut report = checker.finish();
    report.since = Some(close.period.clone());
    Ok(report)
}

async fn verify_store(store: &Store) -> anyhow::Result<Report> {
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
            walk.enter(&row.account_key, checker);
            match &row.entry {
                Ok(entry) => {
                    reached.postings += entry.postings.len() as u64;
                    checker.entry(entry);
                }
                Err(corrupt) => {
                    checker.violation(Violation::Corrupt(corrupt.clone()));
                    checker.unreadable_entry(row.account_seq);
                }
            }
        }
    }
    walk.close(checker);
    check_lots(reader, checker, &first.key, &last.key, reached).await?;
    checker.finish_lots();
    check_budgets(reader, checker, accounts).await
}

/// Invariant 7 for a page of accounts.
async fn check_budgets(
    reader: &mut AuditReader,
    checker: &mut Checker,
    accounts: &[AuditAccount],
) -> anyhow::Result<()> {
    let (Some(first), Some(last)) = (accounts.first(), accounts.last()) else {
        return Ok(());
    };
    let holds = reader
        .budget_holds(&first.key, &last.key)
        .await
        .context("reading holds")?;
    let mut open = Vec::with_capacity(holds.len());
    for hold in holds {
        match hold {
            Ok(hold) => open.push(hold),
            Err(corrupt) => checker.violation(Violation::Corrupt(corrupt)),
        }
    }
    let rows: Vec<&crate::ledger::Account> = accounts
        .iter()
        .filter_map(|a| a.account.as_ref().ok())
        .collect();
    checker.budgets(&rows, &open);
    Ok(())
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
        lot_key: None,
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
            lot_key: Some(tail.key.clone()),
        };
        for row in &page {
            reached.lots += 1;
            match &row.lot {
                Ok(lot) => checker.lot(lot),
                Err(corrupt) => checker.violation(Violation::Corrupt(corrupt.clone())),
            }
        }
    }
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
