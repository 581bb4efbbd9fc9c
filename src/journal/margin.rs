//! The margin report over a period [from, to), per currency: what usage earned (the
//! `revenue_usage` postings, from paid lots and from the credit line), what it cost upstream (the
//! `cost_of_revenue` postings of rated charges), the margin and the margin %, by customer, by
//! meter and by both. The share of the cost that usage paid with promotional credit caused is
//! shown apart (it is in the cost, and it earned nothing).
//!
//! Every `revenue_usage` and `cost_of_revenue` posting effective in the period lands in exactly
//! one line, so each currency's revenue column is the net of its `revenue_usage` postings and its
//! cost column the net of its `cost_of_revenue` postings, to the last decimal. An entry's meter
//! is its rating's; usage charged by quantity has none (`""`).

use std::collections::{BTreeMap, HashSet};
use std::ops::AddAssign;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use super::for_each_entry;
use crate::ledger::amount::MONEY_SCALE;
use crate::ledger::entry::ledger_account as gl;
use crate::ledger::{AccountId, Book, Code, LedgerAccount, LotId, Side};
use crate::store::{EntryFilter, JournalEntry, Store, StoreResult};

/// One line's figures, in its currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Margin {
    /// Net credits to `revenue_usage`.
    pub revenue: Decimal,
    /// Net debits to `cost_of_revenue`.
    pub cost: Decimal,
    /// The part of `cost` that usage drawn from promotional lots caused: each rated entry's
    /// cost times the share of its charge taken from promotional lots, to 8 decimals.
    pub promotional_cost: Decimal,
}

impl Margin {
    pub fn margin(&self) -> Decimal {
        self.revenue - self.cost
    }

    /// Margin as a percentage of revenue, to 2 decimals; `None` without revenue.
    pub fn margin_pct(&self) -> Option<Decimal> {
        (!self.revenue.is_zero()).then(|| {
            (self.margin() * Decimal::ONE_HUNDRED / self.revenue)
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
        })
    }
}

impl AddAssign for Margin {
    fn add_assign(&mut self, o: Margin) {
        self.revenue += o.revenue;
        self.cost += o.cost;
        self.promotional_cost += o.promotional_cost;
    }
}

/// A customer: our id and its external id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Customer {
    pub account_id: AccountId,
    pub external_id: String,
}

/// One currency's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyMargin {
    pub currency: Code,
    pub total: Margin,
    pub by_customer: Vec<(Customer, Margin)>,
    pub by_meter: Vec<(String, Margin)>,
    /// By customer, then meter.
    pub by_customer_and_meter: Vec<(Customer, String, Margin)>,
}

/// Files the money postings of entries by (currency, customer, meter).
#[derive(Debug)]
pub struct MarginReport {
    period: (DateTime<Utc>, DateTime<Utc>),
    lines: BTreeMap<(Code, Customer, String), Margin>,
    /// Lots granted from `issued:promotional`, seen in the entries before.
    promotional: HashSet<LotId>,
}

impl MarginReport {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        MarginReport {
            period: (from, to),
            lines: BTreeMap::new(),
            promotional: HashSet::new(),
        }
    }

    /// Files one entry. Entries come in sequence order from the journal's start, so a lot's
    /// grant is seen before any use of it.
    pub fn add(&mut self, journal_entry: &JournalEntry) {
        let e = &journal_entry.entry;
        // A promotional grant debits `issued:promotional` and credits its lot.
        let promotion = (e.postings.iter()).any(|p| {
            p.book == Book::Quantity
                && p.side == Side::Debit
                && p.ledger_account == gl::ISSUED_PROMOTIONAL
        });
        if promotion {
            for p in e.postings.iter().filter(|p| p.side == Side::Credit) {
                if let LedgerAccount::Lot(lot) = p.ledger_account {
                    self.promotional.insert(lot);
                }
            }
        }
        let (from, to) = self.period;
        if e.effective_at < from || e.effective_at >= to {
            return;
        }
        let meter = e.rating.as_ref().map_or("", |r| r.meter.as_str());
        let customer = Customer {
            account_id: e.account_id,
            external_id: journal_entry.external_id.clone(),
        };
        let promotional_share = self.promotional_share(journal_entry);
        for p in e.postings.iter().filter(|p| p.book == Book::Money) {
            let signed = match p.side {
                Side::Credit => p.amount,
                Side::Debit => -p.amount,
            };
            let figure = match p.ledger_account {
                gl::REVENUE_USAGE => Margin {
                    revenue: signed,
                    ..Margin::default()
                },
                gl::COST_OF_REVENUE => Margin {
                    cost: -signed,
                    promotional_cost: (-signed * promotional_share)
                        .round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointNearestEven),
                    ..Margin::default()
                },
                _ => continue,
            };
            *self
                .lines
                .entry((p.unit, customer.clone(), meter.to_string()))
                .or_default() += figure;
        }
    }

    /// The share of an entry's consumption drawn from promotional lots (0 to 1).
    fn promotional_share(&self, journal_entry: &JournalEntry) -> Decimal {
        let (mut promotional, mut all) = (Decimal::ZERO, Decimal::ZERO);
        for p in &journal_entry.entry.postings {
            if p.book != Book::Quantity || p.ledger_account != gl::CONSUMED {
                continue;
            }
            let signed = match p.side {
                Side::Credit => p.amount,
                Side::Debit => -p.amount,
            };
            all += signed;
            if p.lot_id.is_some_and(|lot| self.promotional.contains(&lot)) {
                promotional += signed;
            }
        }
        match all.is_zero() {
            true => Decimal::ZERO,
            false => promotional / all,
        }
    }

    /// Per currency (in code order): its total and its lines three ways.
    pub fn finish(self) -> Vec<CurrencyMargin> {
        let mut out: Vec<CurrencyMargin> = Vec::new();
        let mut by_customer: BTreeMap<(Code, Customer), Margin> = BTreeMap::new();
        let mut by_meter: BTreeMap<(Code, String), Margin> = BTreeMap::new();
        for ((currency, customer, meter), margin) in &self.lines {
            *by_customer
                .entry((*currency, customer.clone()))
                .or_default() += *margin;
            *by_meter.entry((*currency, meter.clone())).or_default() += *margin;
        }
        for ((currency, customer, meter), margin) in self.lines {
            if out.last().is_none_or(|c| c.currency != currency) {
                out.push(CurrencyMargin {
                    currency,
                    total: Margin::default(),
                    by_customer: Vec::new(),
                    by_meter: Vec::new(),
                    by_customer_and_meter: Vec::new(),
                });
            }
            let report = out.last_mut().expect("pushed above");
            report.total += margin;
            report.by_customer_and_meter.push((customer, meter, margin));
        }
        for report in &mut out {
            report.by_customer = (by_customer.iter())
                .filter(|((c, _), _)| *c == report.currency)
                .map(|((_, customer), margin)| (customer.clone(), *margin))
                .collect();
            report.by_meter = (by_meter.iter())
                .filter(|((c, _), _)| *c == report.currency)
                .map(|((_, meter), margin)| (meter.clone(), *margin))
                .collect();
        }
        out
    }
}

/// The margin report of [from, to), read in one snapshot: the entries effective from the last
/// month closed by `from` (whose snapshot says which lots were granted free) to `to`.
pub async fn margin_report(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<CurrencyMargin>> {
    let mut report = MarginReport::new(from, to);
    let mut start = None;
    if let Some((base, lines)) = super::close::base_for(store, from).await? {
        let promotional = crate::ledger::entry::ledger_account::ISSUED_PROMOTIONAL.to_string();
        report.promotional.extend(
            (lines.iter())
                .filter(|l| l.ledger_account == promotional)
                .filter_map(|l| l.lot_id),
        );
        start = Some(base.end);
    }
    margin_report_from(store, start, to, report).await
}

/// The margin report read from the journal's first entry: what [`margin_report`] must equal.
pub async fn margin_report_in_full(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<CurrencyMargin>> {
    margin_report_from(store, None, to, MarginReport::new(from, to)).await
}

async fn margin_report_from(
    store: &Store,
    start: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    mut report: MarginReport,
) -> StoreResult<Vec<CurrencyMargin>> {
    let filter = EntryFilter {
        from: start,
        to: Some(to),
        ..EntryFilter::default()
    };
    let mut reader = store.journal_reader().await?;
    for_each_entry(&mut reader, &filter, |e| report.add(e)).await?;
    reader.finish().await?;
    Ok(report.finish())
}
