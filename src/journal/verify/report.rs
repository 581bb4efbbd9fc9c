//! What a run of `verify` returns: the row [`Counts`] it checked, each book's trial balance as
//! [`TrialLine`]s, and the [`Report`] that gathers them with the violations found, whose `Display`
//! is the text `credit-ledger verify` prints.

use std::fmt;

use rust_decimal::Decimal;

use super::Violation;
use crate::ledger::{Book, Code};

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
    pub unit: Code,
    pub debits: Decimal,
    pub credits: Decimal,
}

/// What `verify` found: what it checked, each book's trial balance, and every violation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checked: Counts,
    pub trial_balance: Vec<TrialLine>,
    /// The first [`VIOLATIONS_KEPT_MAX`](super::VIOLATIONS_KEPT_MAX) violations, in the order they were found.
    pub violations: Vec<Violation>,
    /// All violations found, including those not kept.
    pub violations_total: u64,
    /// The last closed month, when the entries were checked from its snapshot on (the default
    /// once a month is closed); `None` when every entry was checked.
    pub since: Option<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations_total == 0
    }

    /// Adds a violation found outside the [`Checker`](super::Checker).
    pub fn add(&mut self, violation: Violation) {
        self.violations_total += 1;
        if self.violations.len() < super::VIOLATIONS_KEPT_MAX {
            self.violations.push(violation);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.checked;
        if let Some(month) = &self.since {
            writeln!(
                f,
                "from the snapshot of {month} (the last closed month) on; --full checks every entry"
            )?;
        }
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
            return write!(f, "ok: invariants 1, 3, 6 and 8 hold");
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
