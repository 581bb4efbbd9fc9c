//! The guard clauses shared by the command handlers: whether an account may spend, and whether
//! an amount, price or threshold is acceptable.

use rust_decimal::Decimal;

use crate::ledger::amount::{amount_max, price_max, Money, Quantity};
use crate::ledger::error::LedgerError;
use crate::ledger::types::*;

/// Every mutation but a capture within its hold refuses a closed account: closed is final.
pub(super) fn check_open(account: &Account) -> Result<(), LedgerError> {
    match account.status {
        AccountStatus::Closed => Err(LedgerError::AccountClosed {
            account_id: account.id,
        }),
        AccountStatus::Active | AccountStatus::Frozen => Ok(()),
    }
}

pub(super) fn check_can_spend(account: &Account) -> Result<(), LedgerError> {
    match account.status {
        AccountStatus::Active => Ok(()),
        AccountStatus::Frozen => Err(LedgerError::AccountFrozen {
            account_id: account.id,
        }),
        AccountStatus::Closed => Err(LedgerError::AccountClosed {
            account_id: account.id,
        }),
    }
}

pub(super) fn check_unit_amount(
    field: &'static str,
    value: Quantity,
    unit_scale: u32,
) -> Result<(), LedgerError> {
    let scale = value.get().normalize().scale();
    if scale > unit_scale {
        return Err(LedgerError::TooManyDecimals {
            field,
            scale,
            max_scale: unit_scale,
        });
    }
    Ok(())
}

pub(super) fn check_low_balance(
    low_balance: LowBalance,
    unit_scale: u32,
) -> Result<(), LedgerError> {
    match low_balance {
        LowBalance::None => Ok(()),
        LowBalance::Absolute(q) => {
            if q.get() > amount_max() {
                return Err(invalid(
                    "low_balance_threshold",
                    "must be between 0 and the largest amount",
                ));
            }
            check_unit_amount("low_balance_threshold", q, unit_scale)
        }
        LowBalance::Percent(p) => {
            let p = p.get();
            if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED || p.normalize().scale() > 4 {
                return Err(invalid(
                    "low_balance_percent",
                    "must be above 0 and at most 100, with at most 4 decimals",
                ));
            }
            Ok(())
        }
    }
}

pub(super) fn check_price(price: Money) -> Result<(), LedgerError> {
    if price.get() > price_max() {
        return Err(LedgerError::AmountTooLarge {
            field: "credit_line_price",
            max: price_max(),
        });
    }
    Ok(())
}

pub(super) fn invalid(field: &'static str, reason: &str) -> LedgerError {
    LedgerError::InvalidArgument {
        field,
        reason: reason.to_string(),
    }
}
