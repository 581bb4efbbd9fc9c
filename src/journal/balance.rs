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
use crate::ledger::{AccountId, Book, LedgerAccount, Lot, Posting, Side};
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
pub struct QuantitySums(HashMap<LedgerAccount, Decimal>);

impl QuantitySums {
    pub fn add(&mut self, p: &Posting) {
        if p.book != Book::Quantity {
            return;
        }
        let net_credit = match p.side {
            Side::Credit => p.amount,
            Side::Debit => -p.amount,
        };
        *self.0.entry(p.ledger_account).or_default() += net_credit;
    }

    fn net_credit(&self, ledger_account: &LedgerAccount) -> Decimal {
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
/// before then: its lines in the snapshot of the last month closed by then, and its entries
/// effective after it, read in one snapshot.
pub async fn balance_as_of(
    store: &Store,
    account_id: AccountId,
    as_of: DateTime<Utc>,
) -> StoreResult<PastBalance> {
    let until = as_of + Duration::microseconds(1);
    let mut sums = QuantitySums::default();
    let mut from = None;
    if let Some(base) = super::close::last_closed_by(store, until).await? {
        for line in store.period_lines_of(&base.period, account_id).await? {
            if line.book != Book::Quantity {
                continue;
            }
            let account: LedgerAccount = line.ledger_account.parse().map_err(|e| {
                crate::store::StoreError::Corrupt(anyhow::anyhow!("period_lines: {e}"))
            })?;
            *sums.0.entry(account).or_default() += line.credits - line.debits;
        }
        from = Some(base.end);
    }
    balance_from(store, account_id, from, as_of, sums).await
}

/// The balance read from the account's first entry: what [`balance_as_of`] must equal.
pub async fn balance_as_of_in_full(
    store: &Store,
    account_id: AccountId,
    as_of: DateTime<Utc>,
) -> StoreResult<PastBalance> {
    balance_from(store, account_id, None, as_of, QuantitySums::default()).await
}

async fn balance_from(
    store: &Store,
    account_id: AccountId,
    from: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
    mut sums: QuantitySums,
) -> StoreResult<PastBalance> {
    let lots = store.list_lots(account_id, true, None, u32::MAX).await?;
    let filter = EntryFilter {
        account_id: Some(account_id),
        from,
        to: Some(as_of + Duration::microseconds(1)),
        ..EntryFilter::default()
    };
    let mut reader = store.journal_reader().await?;
    for_each_entry(&mut reader, &filter, |e| {
        e.entry.postings.iter().for_each(|p| sums.add(p))
    })
    .await?;
    reader.finish().await?;
    Ok(sums.balance(account_id, lots, as_of))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    use crate::ledger::{LotKind, LotStatus, Money, Quantity};

    fn lot(n: u128, expires_at: Option<DateTime<Utc>>) -> Lot {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Lot {
            id: crate::ledger::LotId(Uuid::from_u128(n)),
            account_id: AccountId(Uuid::from_u128(1)),
            kind: LotKind::Paid,
            status: LotStatus::Active,
            priority: 0,
            granted: Quantity::new(Decimal::from(10)).unwrap(),
            remaining: Quantity::ZERO,
            held: Quantity::ZERO,
            effective_at: at,
            expires_at,
            scope: Vec::new(),
            cost_basis: Money::ZERO,
            money_deferred: Money::ZERO,
            currency: None,
            reference: String::new(),
            created_at: at,
        }
    }

    fn quantity(account: LedgerAccount, side: Side, amount: i64) -> Posting {
        Posting {
            book: Book::Quantity,
            ledger_account: account,
            side,
            amount: Decimal::from(amount),
            unit: "CREDIT".parse().unwrap(),
            lot_id: None,
        }
    }

    #[test]
    fn lots_net_their_postings_expired_lots_are_gone_and_the_line_is_subtracted() {
        let as_of = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let (kept, expired, used_up) = (lot(1, None), lot(2, Some(as_of)), lot(3, None));
        let account = AccountId(Uuid::from_u128(1));
        let mut sums = QuantitySums::default();
        for p in [
            quantity(gl::lot(kept.id), Side::Credit, 10),
            quantity(gl::lot(kept.id), Side::Debit, 4),
            // Expiring exactly at as_of, its expiry not yet posted: gone all the same.
            quantity(gl::lot(expired.id), Side::Credit, 10),
            quantity(gl::lot(used_up.id), Side::Credit, 10),
            quantity(gl::lot(used_up.id), Side::Debit, 10),
            quantity(gl::credit_line(account), Side::Debit, 3),
            quantity(gl::credit_line(account), Side::Credit, 1),
            quantity(gl::CONSUMED, Side::Credit, 16),
        ] {
            sums.add(&p);
        }
        let past = sums.balance(account, vec![used_up, expired, kept.clone()], as_of);
        assert_eq!(past.lots.len(), 1);
        assert_eq!(past.lots[0].lot.id, kept.id);
        assert_eq!(past.lots[0].remaining, Decimal::from(6));
        assert_eq!(past.credit_line_used, Decimal::from(2));
        assert_eq!(past.posted, Decimal::from(4));
    }
}
