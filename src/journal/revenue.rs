//! The roll-forward of deferred revenue over a period [from, to), per currency and customer:
//!
//! closing = opening + top-ups − recognized usage − breakage − refunds − adjustments + other,
//!
//! where every `deferred_revenue` posting effective in the period lands in exactly one column
//! (by its entry's kind and side; what no column names is `other`, so nothing vanishes), and
//! opening is everything before `from`. It ties when closing equals the sum over lots of each
//! lot's `deferred_revenue` postings (by the posting's lot) effective before `to`. Credit-line
//! usage and commitment shortfall revenue of the period are reported beside it, for information.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::for_each_entry;
use crate::ledger::entry::ledger_account as gl;
use crate::ledger::{AccountId, Book, Code, EntryKind, Posting, Side};
use crate::store::{EntryFilter, JournalEntry, Store, StoreResult};

/// One customer's (or a currency's total) roll-forward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollforward {
    pub opening: Decimal,
    pub top_ups: Decimal,
    pub recognized_usage: Decimal,
    pub breakage: Decimal,
    pub refunds: Decimal,
    /// Debits − credits of adjustments: what they took out of deferred revenue.
    pub adjustments: Decimal,
    /// Credits − debits of anything else.
    pub other: Decimal,
    pub lots_deferred_at_close: Decimal,
    pub credit_line_usage_revenue: Decimal,
    pub commitment_shortfall_revenue: Decimal,
}

impl Rollforward {
    pub fn closing(&self) -> Decimal {
        self.opening + self.top_ups
            - self.recognized_usage
            - self.breakage
            - self.refunds
            - self.adjustments
            + self.other
    }

    pub fn ties(&self) -> bool {
        self.closing() == self.lots_deferred_at_close
    }

    /// Files one money posting of an entry of `kind` effective at `at`.
    fn add(
        &mut self,
        period: (DateTime<Utc>, DateTime<Utc>),
        kind: EntryKind,
        at: DateTime<Utc>,
        p: &Posting,
    ) {
        let (from, to) = period;
        if at >= to {
            return;
        }
        let net_credit = match p.side {
            Side::Credit => p.amount,
            Side::Debit => -p.amount,
        };
        let account = p.ledger_account;
        if account == gl::DEFERRED_REVENUE && p.lot_id.is_some() {
            self.lots_deferred_at_close += net_credit;
        }
        match (account, at < from) {
            (gl::DEFERRED_REVENUE, true) => self.opening += net_credit,
            (gl::DEFERRED_REVENUE, false) => self.file_deferred(kind, p.side, p.amount),
            (gl::UNBILLED_RECEIVABLE, false)
                if p.side == Side::Debit
                    && matches!(kind, EntryKind::Capture | EntryKind::Debit) =>
            {
                self.credit_line_usage_revenue += p.amount
            }
            (gl::REVENUE_COMMITMENT_SHORTFALL, false) => {
                self.commitment_shortfall_revenue += net_credit
            }
            _ => {}
        }
    }

    /// The column of a `deferred_revenue` posting in the period.
    fn file_deferred(&mut self, kind: EntryKind, side: Side, amount: Decimal) {
        match (kind, side) {
            (EntryKind::TopUp, Side::Credit) => self.top_ups += amount,
            (EntryKind::Capture | EntryKind::Debit, Side::Debit) => self.recognized_usage += amount,
            (EntryKind::Expiry, Side::Debit) => self.breakage += amount,
            (EntryKind::Void, Side::Debit) => self.refunds += amount,
            (EntryKind::Adjustment, Side::Debit) => self.adjustments += amount,
            (EntryKind::Adjustment, Side::Credit) => self.adjustments -= amount,
            (_, Side::Credit) => self.other += amount,
            (_, Side::Debit) => self.other -= amount,
        }
    }
}

impl AddAssign for Rollforward {
    fn add_assign(&mut self, o: Rollforward) {
        self.opening += o.opening;
        self.top_ups += o.top_ups;
        self.recognized_usage += o.recognized_usage;
        self.breakage += o.breakage;
        self.refunds += o.refunds;
        self.adjustments += o.adjustments;
        self.other += o.other;
        self.lots_deferred_at_close += o.lots_deferred_at_close;
        self.credit_line_usage_revenue += o.credit_line_usage_revenue;
        self.commitment_shortfall_revenue += o.commitment_shortfall_revenue;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRevenue {
    pub account_id: AccountId,
    pub external_id: String,
    pub rollforward: Rollforward,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyRevenue {
    pub currency: Code,
    /// In account id order.
    pub customers: Vec<CustomerRevenue>,
    pub total: Rollforward,
}

/// Files the money postings of entries, per (currency, customer).
#[derive(Debug)]
pub struct RevenueReport {
    period: (DateTime<Utc>, DateTime<Utc>),
    sums: BTreeMap<(Code, AccountId), (String, Rollforward)>,
}

impl RevenueReport {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        RevenueReport {
            period: (from, to),
            sums: BTreeMap::new(),
        }
    }

    /// Files an entry's money postings; entries effective at or after `to` change nothing.
    pub fn add(&mut self, journal_entry: &JournalEntry) {
        let e = &journal_entry.entry;
        for p in e.postings.iter().filter(|p| p.book == Book::Money) {
            let key = (p.unit, e.account_id);
            let (_, sums) = self
                .sums
                .entry(key)
                .or_insert_with(|| (journal_entry.external_id.clone(), Rollforward::default()));
            sums.add(self.period, e.kind, e.effective_at, p);
        }
    }

    /// Per currency (in code order): its customers and its total.
    pub fn finish(self) -> Vec<CurrencyRevenue> {
        let mut out: Vec<CurrencyRevenue> = Vec::new();
        for ((currency, account_id), (external_id, rollforward)) in self.sums {
            if out.last().is_none_or(|c| c.currency != currency) {
                out.push(CurrencyRevenue {
                    currency,
                    customers: Vec::new(),
                    total: Rollforward::default(),
                });
            }
            let report = out.last_mut().expect("pushed above");
            report.total += rollforward;
            report.customers.push(CustomerRevenue {
                account_id,
                external_id,
                rollforward,
            });
        }
        out
    }
}

/// The roll-forward of [from, to), of one customer or all, read in one snapshot: from the last
/// month closed by `from` (its deferred revenue the opening's start) and the entries effective
/// after it.
pub async fn revenue_report(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    account_id: Option<AccountId>,
) -> StoreResult<Vec<CurrencyRevenue>> {
    let mut report = RevenueReport::new(from, to);
    let mut start = None;
    if let Some((base, lines)) = super::close::base_for(store, from).await? {
        // Every customer with money postings has its line, as when read from the start; only
        // deferred revenue opens the roll-forward.
        let deferred = gl::DEFERRED_REVENUE.to_string();
        let lines: Vec<_> = (lines.into_iter())
            .filter(|l| l.book == Book::Money)
            .filter(|l| account_id.is_none_or(|id| id == l.account_id))
            .collect();
        let ids: Vec<AccountId> = lines.iter().map(|l| l.account_id).collect();
        let external_ids = store.external_ids_of(&ids).await?;
        for line in lines {
            let external_id = external_ids
                .get(&line.account_id)
                .cloned()
                .unwrap_or_default();
            let (_, sums) = (report.sums)
                .entry((line.unit, line.account_id))
                .or_insert_with(|| (external_id, Rollforward::default()));
            if line.ledger_account != deferred {
                continue;
            }
            let net_credit = line.credits - line.debits;
            sums.opening += net_credit;
            if line.lot_id.is_some() {
                sums.lots_deferred_at_close += net_credit;
            }
        }
        start = Some(base.end);
    }
    revenue_report_from(store, start, to, account_id, report).await
}

/// The roll-forward read from the journal's first entry: what [`revenue_report`] must equal.
pub async fn revenue_report_in_full(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    account_id: Option<AccountId>,
) -> StoreResult<Vec<CurrencyRevenue>> {
    revenue_report_from(store, None, to, account_id, RevenueReport::new(from, to)).await
}

async fn revenue_report_from(
    store: &Store,
    start: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    account_id: Option<AccountId>,
    mut report: RevenueReport,
) -> StoreResult<Vec<CurrencyRevenue>> {
    let filter = EntryFilter {
        account_id,
        from: start,
        to: Some(to),
        ..EntryFilter::default()
    };
    let mut reader = store.journal_reader().await?;
    for_each_entry(&mut reader, &filter, |e| report.add(e)).await?;
    reader.finish().await?;
    Ok(report.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LedgerAccount;
    use chrono::TimeZone;

    fn money(account: LedgerAccount, side: Side, amount: &str, lot: bool) -> Posting {
        Posting {
            book: Book::Money,
            ledger_account: account,
            side,
            amount: amount.parse().unwrap(),
            unit: "USD".parse().unwrap(),
            lot_id: lot.then(|| "0193a7a0-0000-7000-8000-000000000001".parse().unwrap()),
        }
    }

    #[test]
    fn every_deferred_posting_lands_in_one_column_and_the_roll_forward_ties() {
        let t = |day| Utc.with_ymd_and_hms(2026, 10, day, 0, 0, 0).unwrap();
        let period = (t(10), t(20));
        let mut r = Rollforward::default();
        let dr = |a, amt| money(a, Side::Debit, amt, true);
        let cr = |a, amt| money(a, Side::Credit, amt, true);
        r.add(
            period,
            EntryKind::TopUp,
            t(1),
            &cr(gl::DEFERRED_REVENUE, "10"),
        );
        r.add(
            period,
            EntryKind::Capture,
            t(2),
            &dr(gl::DEFERRED_REVENUE, "1"),
        );
        r.add(
            period,
            EntryKind::TopUp,
            t(11),
            &cr(gl::DEFERRED_REVENUE, "5"),
        );
        r.add(
            period,
            EntryKind::Debit,
            t(12),
            &dr(gl::DEFERRED_REVENUE, "3.33333333"),
        );
        r.add(
            period,
            EntryKind::Expiry,
            t(13),
            &dr(gl::DEFERRED_REVENUE, "0.5"),
        );
        r.add(
            period,
            EntryKind::Void,
            t(14),
            &dr(gl::DEFERRED_REVENUE, "2"),
        );
        r.add(
            period,
            EntryKind::Adjustment,
            t(15),
            &dr(gl::DEFERRED_REVENUE, "0.25"),
        );
        r.add(
            period,
            EntryKind::TrueUp,
            t(16),
            &cr(gl::DEFERRED_REVENUE, "0.1"),
        );
        r.add(
            period,
            EntryKind::Debit,
            t(17),
            &dr(gl::UNBILLED_RECEIVABLE, "7"),
        );
        r.add(
            period,
            EntryKind::TrueUp,
            t(18),
            &cr(gl::REVENUE_COMMITMENT_SHORTFALL, "4"),
        );
        // After the period: counts nowhere.
        r.add(
            period,
            EntryKind::Debit,
            t(20),
            &dr(gl::DEFERRED_REVENUE, "1"),
        );
        assert_eq!(r.opening, Decimal::from(9));
        assert_eq!(r.top_ups, Decimal::from(5));
        assert_eq!(r.recognized_usage, "3.33333333".parse().unwrap());
        assert_eq!((r.breakage, r.refunds), ("0.5".parse().unwrap(), 2.into()));
        assert_eq!(r.adjustments, "0.25".parse().unwrap());
        assert_eq!(r.other, "0.1".parse().unwrap());
        assert_eq!(r.closing(), "8.01666667".parse().unwrap());
        assert!(r.ties());
        assert_eq!(r.credit_line_usage_revenue, Decimal::from(7));
        assert_eq!(r.commitment_shortfall_revenue, Decimal::from(4));
    }

    #[test]
    fn deferred_revenue_without_a_lot_breaks_the_tie() {
        let t = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
        let period = (t, t + chrono::Duration::days(30));
        let mut r = Rollforward::default();
        r.add(
            period,
            EntryKind::TopUp,
            t,
            &money(gl::DEFERRED_REVENUE, Side::Credit, "10", false),
        );
        assert_eq!(r.closing(), Decimal::from(10));
        assert!(!r.ties());
    }
}
