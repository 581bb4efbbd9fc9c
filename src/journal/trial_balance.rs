//! The trial balance as of a time: every ledger account's debits, credits and balance (debits −
//! credits) per book and unit or currency, from the postings effective at or before that time,
//! and each unit's total, which is zero in a balanced book. Lots and credit lines are one line
//! each per unit (`lots`, `credit_lines`) unless the detail is asked for.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::for_each_entry;
use crate::ledger::{Book, Code, LedgerAccount, Posting, Side};
use crate::store::{EntryFilter, Store, StoreResult};

/// One ledger account's (or one unit's total) sums in one unit or currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceLine {
    pub ledger_account: String,
    pub unit: Code,
    pub debits: Decimal,
    pub credits: Decimal,
}

impl BalanceLine {
    pub fn balance(&self) -> Decimal {
        self.debits - self.credits
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookBalance {
    pub book: Book,
    /// In (ledger account, unit) order.
    pub lines: Vec<BalanceLine>,
    /// One per unit, ledger account `total`.
    pub totals: Vec<BalanceLine>,
}

/// Sums postings; [`TrialBalance::finish`] lays them out per book.
#[derive(Debug)]
pub struct TrialBalance {
    detail: bool,
    sums: BTreeMap<(Book, String, Code), (Decimal, Decimal)>,
}

impl TrialBalance {
    pub fn new(detail: bool) -> Self {
        TrialBalance {
            detail,
            sums: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, p: &Posting) {
        let (debits, credits) = match p.side {
            Side::Debit => (p.amount, Decimal::ZERO),
            Side::Credit => (Decimal::ZERO, p.amount),
        };
        self.add_sums(p.book, p.ledger_account, p.unit, debits, credits);
    }

    /// Adds sums already made (a closed period's snapshot line).
    pub fn add_sums(
        &mut self,
        book: Book,
        ledger_account: LedgerAccount,
        unit: Code,
        debits: Decimal,
        credits: Decimal,
    ) {
        let account = match self.detail {
            true => ledger_account.to_string(),
            false => ledger_account.collapsed().to_string(),
        };
        let sums = self.sums.entry((book, account, unit)).or_default();
        sums.0 += debits;
        sums.1 += credits;
    }

    /// Both books, the quantity book first, each with its lines and its totals per unit.
    pub fn finish(self) -> Vec<BookBalance> {
        let mut books: Vec<BookBalance> = [Book::Quantity, Book::Money]
            .into_iter()
            .map(|book| BookBalance {
                book,
                lines: Vec::new(),
                totals: Vec::new(),
            })
            .collect();
        let mut totals: BTreeMap<(Book, Code), (Decimal, Decimal)> = BTreeMap::new();
        for ((book, ledger_account, unit), (debits, credits)) in self.sums {
            let total = totals.entry((book, unit)).or_default();
            total.0 += debits;
            total.1 += credits;
            let at = books
                .iter()
                .position(|b| b.book == book)
                .expect("both books");
            books[at].lines.push(BalanceLine {
                ledger_account,
                unit,
                debits,
                credits,
            });
        }
        for ((book, unit), (debits, credits)) in totals {
            let at = books
                .iter()
                .position(|b| b.book == book)
                .expect("both books");
            books[at].totals.push(BalanceLine {
                ledger_account: "total".into(),
                unit,
                debits,
                credits,
            });
        }
        books
    }
}

/// The trial balance of every posting effective at or before `as_of`: from the snapshot of the
/// last month closed by then, and the entries effective after it, read in one snapshot.
pub async fn trial_balance(
    store: &Store,
    as_of: DateTime<Utc>,
    detail: bool,
) -> StoreResult<Vec<BookBalance>> {
    // Times are stored in microseconds: "at or before" is "before the next microsecond".
    let until = as_of + Duration::microseconds(1);
    let mut trial = TrialBalance::new(detail);
    let mut from = None;
    if let Some((base, lines)) = super::close::base_for(store, until).await? {
        for line in lines {
            let account = line.ledger_account.parse().map_err(|e| {
                crate::store::StoreError::Corrupt(anyhow::anyhow!("period_lines: {e}"))
            })?;
            trial.add_sums(line.book, account, line.unit, line.debits, line.credits);
        }
        from = Some(base.end);
    }
    trial_balance_from(store, from, until, trial).await
}

/// The trial balance of every posting, read from the whole journal: what [`trial_balance`]
/// must equal.
pub async fn trial_balance_in_full(
    store: &Store,
    as_of: DateTime<Utc>,
    detail: bool,
) -> StoreResult<Vec<BookBalance>> {
    let until = as_of + Duration::microseconds(1);
    trial_balance_from(store, None, until, TrialBalance::new(detail)).await
}

async fn trial_balance_from(
    store: &Store,
    from: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
    mut trial: TrialBalance,
) -> StoreResult<Vec<BookBalance>> {
    let filter = EntryFilter {
        from,
        to: Some(until),
        ..EntryFilter::default()
    };
    let mut reader = store.journal_reader().await?;
    for_each_entry(&mut reader, &filter, |e| {
        e.entry.postings.iter().for_each(|p| trial.add(p))
    })
    .await?;
    reader.finish().await?;
    Ok(trial.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(book: Book, account: &str, side: Side, amount: &str, unit: &str) -> Posting {
        Posting {
            book,
            ledger_account: account.parse().expect("a ledger account"),
            side,
            amount: amount.parse().unwrap(),
            unit: unit.parse().unwrap(),
            lot_id: None,
        }
    }

    #[test]
    fn lots_collapse_per_unit_and_books_total_zero() {
        let postings = [
            posting(Book::Quantity, "issued:paid", Side::Debit, "3", "CREDIT"),
            posting(
                Book::Quantity,
                "lot:0193a7a0-0000-7000-8000-00000000000a",
                Side::Credit,
                "3",
                "CREDIT",
            ),
            posting(Book::Quantity, "issued:paid", Side::Debit, "2", "CREDIT"),
            posting(
                Book::Quantity,
                "lot:0193a7a0-0000-7000-8000-00000000000b",
                Side::Credit,
                "2",
                "CREDIT",
            ),
            posting(
                Book::Quantity,
                "lot:0193a7a0-0000-7000-8000-00000000000a",
                Side::Debit,
                "1",
                "CREDIT",
            ),
            posting(Book::Quantity, "consumed", Side::Credit, "1", "CREDIT"),
            posting(Book::Money, "cash_clearing", Side::Debit, "10", "USD"),
            posting(Book::Money, "deferred_revenue", Side::Credit, "10", "USD"),
        ];
        let mut collapsed = TrialBalance::new(false);
        let mut detailed = TrialBalance::new(true);
        for p in &postings {
            collapsed.add(p);
            detailed.add(p);
        }
        let books = collapsed.finish();
        assert_eq!(books[0].book, Book::Quantity);
        let lots = books[0]
            .lines
            .iter()
            .find(|l| l.ledger_account == "lots")
            .unwrap();
        assert_eq!((lots.debits, lots.credits), (1.into(), 5.into()));
        assert_eq!(lots.balance(), Decimal::from(-4));
        for book in &books {
            assert!(book.totals.iter().all(|t| t.balance().is_zero()));
        }
        assert_eq!(books[1].totals[0].debits, Decimal::from(10));
        let detailed = detailed.finish();
        assert_eq!(detailed[0].lines.len(), 4);
    }
}
