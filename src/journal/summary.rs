//! The summary export: one net line per calendar month (UTC) × ledger account (`lot:*` and
//! `credit_line:*` collapsed) × unit or currency (× customer when asked), and the rounding of
//! money to the currency's minor unit.
//!
//! Rounding each line on its own would leak: ten thousand customers each recognizing 0.000001
//! would round to ten thousand zeros, and a balanced period would no longer balance. So the
//! remainders are carried: within each (period, currency), in the groups' fixed order, a line's
//! rounded amount is round(cumulative exact after it) − round(cumulative exact before it),
//! half-even. The rounded lines then sum to the rounded total (zero for a balanced period, so
//! debits equal credits to the cent), and each is within one minor unit of its exact value. The
//! quantity book is not rounded.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use super::{collapsed, period_of};
use crate::ledger::{Book, Posting, Side};

/// Fractional digits of a currency's minor unit (ISO 4217): none for yen, won, dong, Chilean
/// peso and króna; three for the dinars and the Omani rial; two for every other currency.
pub fn minor_unit_scale(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "IQD" | "LYD" => 3,
        _ => 2,
    }
}

/// Rounds `exact` amounts to `scale` fractional digits with the remainders carried in the
/// given order; `None` leaves them exact. The results sum to the rounded sum of the inputs.
pub fn carry_round(exact: &[Decimal], scale: Option<u32>) -> Vec<Decimal> {
    let Some(scale) = scale else {
        return exact.to_vec();
    };
    let round = |d: Decimal| d.round_dp_with_strategy(scale, RoundingStrategy::MidpointNearestEven);
    let mut cumulative = Decimal::ZERO;
    let mut rounded_before = Decimal::ZERO;
    exact
        .iter()
        .map(|&amount| {
            cumulative += amount;
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
    pub unit: String,
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
            unit: posting.unit.clone(),
            ledger_account: collapsed(&posting.ledger_account).to_string(),
            customer: self.by_customer.then(|| external_id.to_string()),
        };
        let signed = match posting.side {
            Side::Debit => posting.amount,
            Side::Credit => -posting.amount,
        };
        *self.groups.entry(key).or_insert(Decimal::ZERO) += signed;
    }

    /// The lines in the fixed order, rounded per (period, unit) with remainders carried.
    pub fn finish(self) -> Vec<SummaryLine> {
        let scale = |unit: &str| match self.book {
            Book::Money => Some(minor_unit_scale(unit)),
            Book::Quantity => None,
        };
        let groups: Vec<(GroupKey, Decimal)> = self.groups.into_iter().collect();
        let mut lines = Vec::with_capacity(groups.len());
        for run in groups.chunk_by(|(a, _), (b, _)| a.period == b.period && a.unit == b.unit) {
            let scale = scale(&run[0].0.unit);
            let exact: Vec<Decimal> = run.iter().map(|(_, amount)| *amount).collect();
            let rounded = carry_round(&exact, scale);
            for ((key, exact), rounded) in run.iter().cloned().zip(rounded) {
                lines.push(SummaryLine {
                    key,
                    exact,
                    rounded,
                    scale,
                });
            }
        }
        lines
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
            ledger_account: account.into(),
            side,
            amount: d(amount),
            unit: unit.into(),
            lot_id: None,
        }
    }

    #[test]
    fn ten_thousand_tiny_amounts_sum_to_exactly_one_cent() {
        let mut exact = vec![d("0.000001"); 10_000];
        exact.push(d("-0.01"));
        let rounded = carry_round(&exact, Some(2));
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
        let rounded = carry_round(&exact, Some(2));
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
            let rounded = carry_round(&exact, Some(scale));
            assert_eq!(rounded.iter().sum::<Decimal>(), Decimal::ZERO);
            let unit = Decimal::new(1, scale);
            for (r, e) in rounded.iter().zip(&exact) {
                assert!((r - e).abs() <= unit, "{r} vs {e} at scale {scale}");
                assert_eq!(r.round_dp(scale), *r);
            }
        }
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
        let mut quantity = posting("lot:x", Side::Credit, "3", "CREDIT");
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
        other_lot.ledger_account = "lot:y".into();
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
