//! The summary export: one net line per calendar month (UTC) × ledger account (`lot:*` and
//! `credit_line:*` collapsed) × unit or currency (× customer when asked), and the rounding of
//! money to the currency's minor unit.
//!
//! Rounding each line on its own would leak: ten thousand customers each recognizing 0.000001
//! would round to ten thousand zeros, a balanced month would no longer balance, and a lot used up
//! over three months would leave a cent of deferred revenue behind for ever. So the remainders are
//! carried, along the lines and forward in time as an accountant carries them. At the end of each
//! month the running balance (since the export's start) of every group is rounded with the
//! remainders carried along the groups in their fixed order, ledger account then customer
//! ([`carry_round`]); a month's line is the change of its group's rounded balance. Hence:
//!
//! - every month's rounded lines sum to zero in a balanced book: debits equal credits to the cent;
//! - every group's running balance is within one minor unit of exact, and so is every ledger
//!   account's (all its customers together); they are exact whenever the exact balances up to
//!   and including them in that order are whole minor units (deferred revenue that has run down to
//!   zero rounds to zero, not to a cent left over from rounding each month);
//! - each line is within two minor units of its exact amount. A group with no movement in a month
//!   can get a line of one minor unit (with an exact amount of zero): that is a remainder carried.
//!
//! The quantity book is not rounded.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use super::period_of;
use crate::ledger::{Book, Code, Posting, Side};

/// Fractional digits of a currency's minor unit (ISO 4217): none for yen, won, dong, Chilean
/// peso and króna; three for the dinars and the Omani rial; two for every other currency.
pub fn minor_unit_scale(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "IQD" | "LYD" => 3,
        _ => 2,
    }
}

/// Rounds `values` to `scale` fractional digits with the remainders carried along them in
/// order: the i-th result is round(sum of the first i values) − round(sum of the first i − 1),
/// half-even. So the results sum to the rounded sum of the values, each is within one minor
/// unit of its value, and so is every run of consecutive results of its run of values (exactly
/// equal when the sums before and after the run are whole minor units).
pub fn carry_round(values: &[Decimal], scale: u32) -> Vec<Decimal> {
    let round = |d: Decimal| d.round_dp_with_strategy(scale, RoundingStrategy::MidpointNearestEven);
    let mut cumulative = Decimal::ZERO;
    let mut rounded_before = Decimal::ZERO;
    values
        .iter()
        .map(|&value| {
            cumulative += value;
            let rounded_after = round(cumulative);
            let line = rounded_after - rounded_before;
            rounded_before = rounded_after;
            line
        })
        .collect()
}

/// What a summary line sums. The derived order (period, unit, ledger account, customer) is the
/// fixed order remainders are carried in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub period: String,
    /// The unit (quantity book) or currency (money book).
    pub unit: Code,
    pub ledger_account: String,
    /// The customer's external id, when summarizing by customer.
    pub customer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryLine {
    pub key: GroupKey,
    /// Debits − credits, exact.
    pub exact: Decimal,
    /// Debits − credits, rounded with the remainder carried.
    pub rounded: Decimal,
    /// The fractional digits `rounded` is shown with (`None`: as is, for the quantity book).
    pub scale: Option<u32>,
}

/// Sums one book's postings into groups; [`Summarizer::finish`] rounds them.
#[derive(Debug)]
pub struct Summarizer {
    book: Book,
    by_customer: bool,
    groups: BTreeMap<GroupKey, Decimal>,
}

impl Summarizer {
    pub fn new(book: Book, by_customer: bool) -> Self {
        Summarizer {
            book,
            by_customer,
            groups: BTreeMap::new(),
        }
    }

    /// Adds a posting of an entry effective at `effective_at` of customer `external_id`;
    /// postings of the other book are ignored.
    pub fn add(&mut self, effective_at: DateTime<Utc>, posting: &Posting, external_id: &str) {
        if posting.book != self.book {
            return;
        }
        let key = GroupKey {
            period: period_of(effective_at),
            unit: posting.unit,
            ledger_account: posting.ledger_account.collapsed().to_string(),
            customer: self.by_customer.then(|| external_id.to_string()),
        };
        let signed = match posting.side {
            Side::Debit => posting.amount,
            Side::Credit => -posting.amount,
        };
        *self.groups.entry(key).or_insert(Decimal::ZERO) += signed;
    }

    /// The lines in (period, unit, ledger account, customer) order, with the money rounded as
    /// the module doc says.
    pub fn finish(self) -> Vec<SummaryLine> {
        let mut by_unit: BTreeMap<Code, Vec<(GroupKey, Decimal)>> = BTreeMap::new();
        for (key, amount) in self.groups {
            by_unit.entry(key.unit).or_default().push((key, amount));
        }
        let mut lines = Vec::new();
        for (unit, groups) in by_unit {
            match self.book {
                Book::Money => carry_forward(minor_unit_scale(unit.as_str()), groups, &mut lines),
                Book::Quantity => {
                    lines.extend(groups.into_iter().map(|(key, exact)| SummaryLine {
                        key,
                        exact,
                        rounded: exact,
                        scale: None,
                    }))
                }
            }
        }
        lines.sort_by(|a, b| a.key.cmp(&b.key));
        lines
    }
}

/// The lines of one currency, month by month: each month's line of a group is the change of its
/// rounded running balance (see the module doc).
fn carry_forward(scale: u32, groups: Vec<(GroupKey, Decimal)>, lines: &mut Vec<SummaryLine>) {
    /// A group across months: ledger account and customer.
    type Account = (String, Option<String>);
    let mut running: BTreeMap<Account, (Decimal, Decimal)> = BTreeMap::new();
    let mut by_period: BTreeMap<String, Vec<(GroupKey, Decimal)>> = BTreeMap::new();
    for (key, amount) in groups {
        by_period
            .entry(key.period.clone())
            .or_default()
            .push((key, amount));
    }
    for (period, moved) in by_period {
        let unit = moved[0].0.unit;
        let mut exact_now: BTreeMap<Account, Decimal> = BTreeMap::new();
        for (key, amount) in moved {
            let account = (key.ledger_account, key.customer);
            running.entry(account.clone()).or_default().0 += amount;
            exact_now.insert(account, amount);
        }
        let accounts: Vec<Account> = running.keys().cloned().collect();
        let balances: Vec<Decimal> = running.values().map(|(exact, _)| *exact).collect();
        let rounded = carry_round(&balances, scale);
        for (account, rounded) in accounts.into_iter().zip(rounded) {
            let (_, before) = running.get_mut(&account).expect("listed above");
            let line = rounded - std::mem::replace(before, rounded);
            let exact = exact_now.get(&account).copied();
            if exact.is_none() && line.is_zero() {
                continue;
            }
            lines.push(SummaryLine {
                key: GroupKey {
                    period: period.clone(),
                    unit,
                    ledger_account: account.0,
                    customer: account.1,
                },
                exact: exact.unwrap_or(Decimal::ZERO),
                rounded: line,
                scale: Some(scale),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn posting(account: &str, side: Side, amount: &str, unit: &str) -> Posting {
        Posting {
            book: Book::Money,
            ledger_account: account.parse().expect("a ledger account"),
            side,
            amount: d(amount),
            unit: unit.parse().unwrap(),
            lot_id: None,
        }
    }

    #[test]
    fn ten_thousand_tiny_amounts_sum_to_exactly_one_cent() {
        let mut exact = vec![d("0.000001"); 10_000];
        exact.push(d("-0.01"));
        let rounded = carry_round(&exact, 2);
        let recognized: Decimal = rounded[..10_000].iter().sum();
        assert_eq!(recognized, d("0.01"));
        assert_eq!(rounded.iter().sum::<Decimal>(), Decimal::ZERO);
        assert_eq!(rounded[10_000], d("-0.01"));
        for (r, e) in rounded.iter().zip(&exact) {
            assert!((r - e).abs() <= d("0.01"), "{r} vs {e}");
        }
    }

    #[test]
    fn a_three_way_split_of_ten_ties_to_the_cent() {
        let exact = [d("3.33333333"), d("3.33333333"), d("3.33333334"), d("-10")];
        let rounded = carry_round(&exact, 2);
        assert_eq!(rounded, [d("3.33"), d("3.34"), d("3.33"), d("-10")]);
        assert_eq!(rounded.iter().sum::<Decimal>(), Decimal::ZERO);
        // Naive rounding of each line would leave a cent unbalanced.
        let naive: Decimal = exact.iter().map(|e| e.round_dp(2)).sum();
        assert_eq!(naive, d("-0.01"));
    }

    #[test]
    fn balanced_runs_round_to_zero_and_stay_within_one_minor_unit() {
        // A deterministic pseudo-random walk of thirds, sevenths and tiny amounts.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for scale in [0, 2, 3] {
            let mut exact = Vec::new();
            for _ in 0..500 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let cents = Decimal::from(seed % 100_000) / Decimal::from(1 + seed % 7);
                exact.push(cents.round_dp(8) / Decimal::from(100));
            }
            let sum: Decimal = exact.iter().sum();
            exact.push(-sum);
            let rounded = carry_round(&exact, scale);
            assert_eq!(rounded.iter().sum::<Decimal>(), Decimal::ZERO);
            let unit = Decimal::new(1, scale);
            for (r, e) in rounded.iter().zip(&exact) {
                assert!((r - e).abs() <= unit, "{r} vs {e} at scale {scale}");
                assert_eq!(r.round_dp(scale), *r);
            }
        }
    }

    /// A lot bought for 10.00 in January and used up in thirds over three months: each month
    /// balances to the cent, and deferred revenue ends at exactly zero with exactly 10.00
    /// recognized. Rounding each month on its own would leave a cent of deferred revenue for ever.
    #[test]
    fn remainders_carry_forward_so_a_used_up_lot_leaves_nothing_deferred() {
        let month = |m| Utc.with_ymd_and_hms(2026, m, 15, 0, 0, 0).unwrap();
        let mut s = Summarizer::new(Book::Money, false);
        s.add(
            month(1),
            &posting("cash_clearing", Side::Debit, "10", "USD"),
            "a",
        );
        s.add(
            month(1),
            &posting("deferred_revenue", Side::Credit, "10", "USD"),
            "a",
        );
        for (m, used) in [(1, "3.33333333"), (2, "3.33333333"), (3, "3.33333334")] {
            s.add(
                month(m),
                &posting("deferred_revenue", Side::Debit, used, "USD"),
                "a",
            );
            s.add(
                month(m),
                &posting("revenue_usage", Side::Credit, used, "USD"),
                "a",
            );
        }
        let lines = s.finish();
        let rounded = |period: &str, account: &str| {
            lines
                .iter()
                .find(|l| l.key.period == period && l.key.ledger_account == account)
                .map(|l| l.rounded)
                .unwrap_or_default()
        };
        assert_eq!(rounded("2026-01", "deferred_revenue"), d("-6.67"));
        assert_eq!(rounded("2026-02", "deferred_revenue"), d("3.34"));
        assert_eq!(rounded("2026-03", "deferred_revenue"), d("3.33"));
        for period in ["2026-01", "2026-02", "2026-03"] {
            let month: Decimal = lines
                .iter()
                .filter(|l| l.key.period == period)
                .map(|l| l.rounded)
                .sum();
            assert_eq!(month, Decimal::ZERO, "{period} balances");
        }
        let total = |account: &str| -> Decimal {
            lines
                .iter()
                .filter(|l| l.key.ledger_account == account)
                .map(|l| l.rounded)
                .sum()
        };
        assert_eq!(total("deferred_revenue"), Decimal::ZERO);
        assert_eq!(total("revenue_usage"), d("-10"));
        for line in &lines {
            assert!((line.rounded - line.exact).abs() < d("0.02"), "{line:?}");
        }
    }

    /// By customer, ten thousand customers each recognizing 0.000001 round to zero one by one,
    /// but the ledger account's lines, carried along, still add up to the exact 0.01.
    #[test]
    fn tiny_amounts_of_many_customers_still_add_up_per_ledger_account() {
        let jan = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap();
        let mut s = Summarizer::new(Book::Money, true);
        s.add(
            jan,
            &posting("cash_clearing", Side::Debit, "0.01", "USD"),
            "payer",
        );
        s.add(
            jan,
            &posting("deferred_revenue", Side::Credit, "0.01", "USD"),
            "payer",
        );
        for i in 0..10_000 {
            let customer = format!("c{i:05}");
            s.add(
                jan,
                &posting("deferred_revenue", Side::Debit, "0.000001", "USD"),
                &customer,
            );
            s.add(
                jan,
                &posting("revenue_usage", Side::Credit, "0.000001", "USD"),
                &customer,
            );
        }
        let lines = s.finish();
        let total = |account: &str| -> Decimal {
            lines
                .iter()
                .filter(|l| l.key.ledger_account == account)
                .map(|l| l.rounded)
                .sum()
        };
        assert_eq!(total("revenue_usage"), d("-0.01"));
        assert_eq!(total("deferred_revenue"), Decimal::ZERO);
        assert_eq!(total("cash_clearing"), d("0.01"));
    }

    #[test]
    fn minor_units_follow_the_table() {
        assert_eq!(minor_unit_scale("JPY"), 0);
        assert_eq!(minor_unit_scale("ISK"), 0);
        assert_eq!(minor_unit_scale("KWD"), 3);
        assert_eq!(minor_unit_scale("USD"), 2);
        assert_eq!(minor_unit_scale("EUR"), 2);
    }

    #[test]
    fn groups_collapse_lots_and_split_months_and_currencies() {
        let oct = Utc.with_ymd_and_hms(2026, 10, 31, 23, 0, 0).unwrap();
        let nov = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let mut s = Summarizer::new(Book::Money, false);
        s.add(
            oct,
            &posting("cash_clearing", Side::Debit, "10", "USD"),
            "a",
        );
        s.add(
            oct,
            &posting("deferred_revenue", Side::Credit, "10", "USD"),
            "a",
        );
        s.add(
            nov,
            &posting("cash_clearing", Side::Debit, "1000", "JPY"),
            "b",
        );
        s.add(
            nov,
            &posting("deferred_revenue", Side::Credit, "1000", "JPY"),
            "b",
        );
        let mut quantity = posting(
            "lot:0193a7a0-0000-7000-8000-00000000000a",
            Side::Credit,
            "3",
            "CREDIT",
        );
        quantity.book = Book::Quantity;
        s.add(oct, &quantity, "a");
        let lines = s.finish();
        let keys: Vec<(&str, &str, &str)> = lines
            .iter()
            .map(|l| {
                (
                    l.key.period.as_str(),
                    l.key.unit.as_str(),
                    l.key.ledger_account.as_str(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("2026-10", "USD", "cash_clearing"),
                ("2026-10", "USD", "deferred_revenue"),
                ("2026-11", "JPY", "cash_clearing"),
                ("2026-11", "JPY", "deferred_revenue"),
            ]
        );
        assert_eq!(lines[1].rounded, d("-10"));
        assert_eq!(lines[2].scale, Some(0));

        let mut q = Summarizer::new(Book::Quantity, true);
        q.add(oct, &quantity, "a");
        let mut other_lot = quantity.clone();
        other_lot.ledger_account = "lot:0193a7a0-0000-7000-8000-00000000000b".parse().unwrap();
        other_lot.amount = d("0.333333333");
        q.add(oct, &other_lot, "a");
        let lines = q.finish();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].key.ledger_account, "lots");
        assert_eq!(lines[0].key.customer.as_deref(), Some("a"));
        assert_eq!(lines[0].rounded, d("-3.333333333"));
        assert_eq!(lines[0].scale, None);
    }
}
