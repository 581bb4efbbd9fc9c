//! The ledger accounts postings are made to, in both books: a customer's claim on each lot, an
//! account's credit line, and the system and GL accounts. Each has one spelling (`lot:{id}`,
//! `credit_line:{account}`, `consumed`, `deferred_revenue`, …), used in the store, the hash
//! chain, exports and reports.

use std::fmt;
use std::str::FromStr;

use super::names::UnknownName;
use super::types::{AccountId, LotId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LedgerAccount {
    /// Quantity book: the customer's claim on one lot.
    Lot(LotId),
    /// Quantity book: what an account has drawn on its credit line.
    CreditLine(AccountId),
    IssuedPaid,
    IssuedPromotional,
    Consumed,
    Expired,
    Voided,
    /// The other side of a support adjustment: credit given (debited here) or taken back.
    Adjusted,
    CashClearing,
    DeferredRevenue,
    RevenueUsage,
    RevenueBreakage,
    RefundsPayable,
    UnbilledReceivable,
    RevenueCommitmentShortfall,
    /// Deferred money recognized when support takes paid credit back.
    RevenueAdjustment,
    /// Money book: what rated usage cost upstream (an expense), debited per rated charge.
    CostOfRevenue,
    /// Money book: what is owed to the upstream providers for that usage, until paid.
    AccruedProviderCost,
}

use LedgerAccount as A;

/// The accounts with a fixed name, and their names.
const NAMED: [(LedgerAccount, &str); 16] = [
    (A::IssuedPaid, "issued:paid"),
    (A::IssuedPromotional, "issued:promotional"),
    (A::Consumed, "consumed"),
    (A::Expired, "expired"),
    (A::Voided, "voided"),
    (A::Adjusted, "adjusted"),
    (A::CashClearing, "cash_clearing"),
    (A::DeferredRevenue, "deferred_revenue"),
    (A::RevenueUsage, "revenue_usage"),
    (A::RevenueBreakage, "revenue_breakage"),
    (A::RefundsPayable, "refunds_payable"),
    (A::UnbilledReceivable, "unbilled_receivable"),
    (
        A::RevenueCommitmentShortfall,
        "revenue_commitment_shortfall",
    ),
    (A::RevenueAdjustment, "revenue_adjustment"),
    (A::CostOfRevenue, "cost_of_revenue"),
    (A::AccruedProviderCost, "accrued_provider_cost"),
];

const LOT_PREFIX: &str = "lot:";
const CREDIT_LINE_PREFIX: &str = "credit_line:";

/// What reports call all lots of a unit together, and all credit lines.
pub const LOTS: &str = "lots";
pub const CREDIT_LINES: &str = "credit_lines";

impl LedgerAccount {
    /// The money book's accounts: the only ones a GL code may name.
    pub const MONEY: [LedgerAccount; 10] = [
        A::CashClearing,
        A::DeferredRevenue,
        A::RevenueUsage,
        A::RevenueBreakage,
        A::RefundsPayable,
        A::UnbilledReceivable,
        A::RevenueCommitmentShortfall,
        A::RevenueAdjustment,
        A::CostOfRevenue,
        A::AccruedProviderCost,
    ];

    /// The fixed name of a system or GL account; `None` for a lot or a credit line.
    pub fn name(self) -> Option<&'static str> {
        NAMED.iter().find(|(a, _)| *a == self).map(|(_, n)| *n)
    }

    pub fn is_money(self) -> bool {
        Self::MONEY.contains(&self)
    }

    /// How reports name it: every lot as [`LOTS`], every credit line as [`CREDIT_LINES`], the
    /// others by name.
    pub fn collapsed(self) -> &'static str {
        match self {
            A::Lot(_) => LOTS,
            A::CreditLine(_) => CREDIT_LINES,
            named => named.name().expect("every other account has a name"),
        }
    }
}

impl fmt::Display for LedgerAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            A::Lot(id) => write!(f, "{LOT_PREFIX}{id}"),
            A::CreditLine(id) => write!(f, "{CREDIT_LINE_PREFIX}{id}"),
            named => f.write_str(named.name().expect("every other account has a name")),
        }
    }
}

impl FromStr for LedgerAccount {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownName {
            kind: "LedgerAccount",
            name: s.to_string(),
        };
        if let Some(id) = s.strip_prefix(LOT_PREFIX) {
            return id.parse().map(A::Lot).map_err(|_| unknown());
        }
        if let Some(id) = s.strip_prefix(CREDIT_LINE_PREFIX) {
            return id.parse().map(A::CreditLine).map_err(|_| unknown());
        }
        NAMED
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(a, _)| *a)
            .ok_or_else(unknown)
    }
}

/// Compares with a spelling, as tests and reports hold them.
impl PartialEq<str> for LedgerAccount {
    // Comparing the spelled-out form is the point: `*self == other` would call this again.
    #[allow(clippy::cmp_owned)]
    fn eq(&self, other: &str) -> bool {
        match self.name() {
            Some(name) => name == other,
            None => self.to_string() == other,
        }
    }
}

impl PartialEq<&str> for LedgerAccount {
    fn eq(&self, other: &&str) -> bool {
        <LedgerAccount as PartialEq<str>>::eq(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_account_reads_back_from_its_spelling() {
        let lot = A::Lot(LotId(uuid::Uuid::from_u128(5)));
        let line = A::CreditLine(AccountId(uuid::Uuid::from_u128(6)));
        assert_eq!(lot.to_string(), "lot:00000000-0000-0000-0000-000000000005");
        for account in NAMED.iter().map(|(a, _)| *a).chain([lot, line]) {
            assert_eq!(account.to_string().parse::<LedgerAccount>(), Ok(account));
            assert!(account == account.to_string().as_str());
        }
        assert_eq!(lot.collapsed(), LOTS);
        assert_eq!(line.collapsed(), CREDIT_LINES);
        assert_eq!(A::DeferredRevenue.collapsed(), "deferred_revenue");
        for bad in ["lot:nope", "credit_line:", "consumed ", "cash"] {
            assert!(bad.parse::<LedgerAccount>().is_err(), "{bad}");
        }
        assert_eq!(
            LedgerAccount::MONEY.iter().filter(|a| a.is_money()).count(),
            10
        );
        assert!(!A::Consumed.is_money());
    }
}
