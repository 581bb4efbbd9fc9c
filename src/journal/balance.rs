//! An account's balance at a past time, rebuilt from its journal rather than read from the lot
//! rows: per lot, the credits − debits of its `lot:{id}` postings effective at or before that
//! time (lots expired by then count as gone, whether or not their expiry was posted yet), and
//! the credit line's use, the debits − credits of `credit_line:{account}`. Holds post nothing,
//! so what was held at a past time is not in the journal.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::for_each_entry;
use crate::ledger::entry::ledger_account as gl;
use crate::ledger::{AccountId, Book, Lot, Posting, Side};
use crate::store::{EntryFilter, Store, StoreResult};

/// A lot and what remained on it at the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastLot {
    pub lot: Lot,
    pub remaining: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastBalance {
    /// Lots with credit remaining at the time, in drawdown order.
    pub lots: Vec<PastLot>,
    pub credit_line_used: Decimal,
    /// Credit on the lots minus credit line used.
    pub posted: Decimal,
}

/// Net credits per quantity-book ledger account, from postings effective up to the time.
#[derive(Debug, Default)]
pub struct QuantitySums(HashMap<String, Decimal>);

impl QuantitySums {
    pub fn add(&mut self, p: &Posting) {
        if p.book != Book::Quantity {
            return;
        }
        let net_credit = match p.side {
            Side::Credit => p.amount,
            Side::Debit => -p.amount,
        };
        *self.0.entry(p.ledger_account.clone()).or_default() += net_credit;
    }

    fn net_credit(&self, ledger_account: &str) -> Decimal {
        self.0.get(ledger_account).copied().unwrap_or_default()
    }

    /// The balance at `as_of` of an account with these `lots` (any status).
    pub fn balance(
        &self,
        account_id: AccountId,
        mut lots: Vec<Lot>,
        as_of: DateTime<Utc>,
    ) -> PastBalance {
        lots.sort_by(|a, b| a.drawdown_key().cmp(&b.drawdown_key()));
        let lots: Vec<PastLot> = lots
            .into_iter()
            .filter(|lot| !lot.is_expired_at(as_of))
            .map(|lot| PastLot {
                remaining: self.net_credit(&gl::lot(lot.id)),
                lot,
            })
            .filter(|l| !l.remaining.is_zero())
            .collect();
        let credit_line_used = -self.net_credit(&gl::credit_line(account_id));
        let on_lots: Decimal = lots.iter().map(|l| l.remaining).sum();
        PastBalance {
            lots,
            credit_line_used,
            posted: on_lots - credit_line_used,
        }
    }
}

/// The balance of `account_id` at `as_of`, from its lots and its postings effective at or
/// before then, read in one snapshot.
pub async fn balance_as_of(
    store: &Store,
    account_id: AccountId,
    as_of: DateTime<Utc>,
) -> StoreResult<PastBalance> {
    let lots = store.list_lots(account_id, true, None, u32::MAX).await?;
    let filter = EntryFilter {
        account_id: Some(account_id),
        to: Some(as_of + Duration::microseconds(1)),
        ..EntryFilter::default()
    };
    let mut sums = QuantitySums::default();
    let mut reader = store.journal_reader().await?;
    for_each_entry(&mut reader, &filter, |e| {
        e.entry.postings.iter().for_each(|p| sums.add(p))
    })
    .await?;
    reader.finish().await?;
    Ok(sums.balance(account_id, lots, as_of))
}
