//! Amounts: parsing decimal strings from the wire into bounded, exact values, and the money
//! allocation rule. Nothing here ever touches a float.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use super::error::LedgerError;

/// Fractional digits kept for money in the books (finer than any currency's minor unit, so that
/// exports round once, at the end, with the remainders carried).
pub const MONEY_SCALE: u32 = 8;

/// The most fractional digits an account's unit may allow.
pub const UNIT_SCALE_MAX: u32 = 9;

/// No single amount may exceed 10^15. A `Decimal` holds 28 significant digits and rounds
/// silently past them: 15 integer digits and 9 decimals leave room for sums of a thousand such
/// amounts, so every sum the ledger takes stays exact.
pub fn amount_max() -> Decimal {
    Decimal::from(1_000_000_000_000_000i64)
}

/// A strictly positive quantity of an account's unit, at most 10^15 with at most
/// [`UNIT_SCALE_MAX`] fractional digits. Whether it fits the account's own scale is checked by
/// the engine, which knows the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(Decimal);

impl Quantity {
    pub fn parse(field: &'static str, text: &str) -> Result<Self, LedgerError> {
        let value = parse_decimal(field, text)?;
        if value <= Decimal::ZERO {
            return Err(LedgerError::NonPositiveAmount {
                field,
                value: text.to_string(),
            });
        }
        check_scale(field, value, UNIT_SCALE_MAX)?;
        // "1.50" and "1.5" are the same amount, and the same request for idempotency.
        Ok(Quantity(value.normalize()))
    }

    pub fn new(value: Decimal) -> Option<Self> {
        (value > Decimal::ZERO && value <= amount_max() && value.scale() <= UNIT_SCALE_MAX)
            .then_some(Quantity(value.normalize()))
    }

    pub fn get(self) -> Decimal {
        self.0
    }

    /// Refuses a quantity with more fractional digits than the account's unit allows.
    pub fn check_scale(self, field: &'static str, unit_scale: u32) -> Result<Decimal, LedgerError> {
        check_scale(field, self.0, unit_scale)?;
        Ok(self.0)
    }
}

/// A non-negative amount of money (a price, a cost basis), at most 10^15 with at most
/// [`MONEY_SCALE`] fractional digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    pub fn parse(field: &'static str, text: &str) -> Result<Self, LedgerError> {
        let value = parse_decimal(field, text)?;
        if value < Decimal::ZERO {
            return Err(LedgerError::NonPositiveAmount {
                field,
                value: text.to_string(),
            });
        }
        check_scale(field, value, MONEY_SCALE)?;
        Ok(Money(value.normalize()))
    }

    /// Like [`Money::parse`], but an empty string means zero.
    pub fn parse_or_zero(field: &'static str, text: &str) -> Result<Self, LedgerError> {
        if text.is_empty() {
            return Ok(Money::ZERO);
        }
        Self::parse(field, text)
    }

    pub fn get(self) -> Decimal {
        self.0
    }
}

/// The longest decimal string accepted: 28 significant digits, a point, a sign and a few
/// leading zeros. Longer text is refused before any digit is looked at.
pub const DECIMAL_TEXT_LEN_MAX: usize = 40;

/// Parses a plain decimal string, exactly `-?[0-9]+(\.[0-9]+)?`: no whitespace anywhere, no
/// exponent, no `+`, no leading or trailing point, no negative zero. Magnitudes above
/// [`amount_max`] are refused with the field named. Whether a sign is allowed at all is for the
/// caller to say (every amount a request carries is positive or zero).
fn parse_decimal(field: &'static str, text: &str) -> Result<Decimal, LedgerError> {
    let invalid = |reason: &str| LedgerError::InvalidArgument {
        field,
        reason: format!("{reason}: {:?}", truncated(text)),
    };
    if text.is_empty() {
        return Err(invalid("an amount is required"));
    }
    if text.len() > DECIMAL_TEXT_LEN_MAX {
        return Err(invalid("too many digits"));
    }
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !fraction.is_none_or(digits) {
        return Err(invalid(
            "not a plain decimal number (digits, at most one point, no spaces or exponent)",
        ));
    }
    let significant = whole.trim_start_matches('0').len() + fraction.map_or(0, str::len);
    if significant > 28 {
        return Err(invalid("too many digits"));
    }
    let value = Decimal::from_str(text).map_err(|_| invalid("not a decimal number"))?;
    if value.is_zero() && text.starts_with('-') {
        return Err(invalid("negative zero is not an amount"));
    }
    if value.abs() > amount_max() {
        return Err(LedgerError::AmountTooLarge {
            field,
            max: amount_max(),
        });
    }
    Ok(value)
}

/// The one spelling of an amount in every answer and export line: no trailing zeros, no
/// exponent, no negative zero ("80", "0", "-0.1", "8").
pub fn canonical(value: Decimal) -> String {
    let value = value.normalize();
    match value.is_zero() {
        true => "0".to_string(),
        false => value.to_string(),
    }
}

/// At most 64 bytes of a refused text, for an error message (a refused field may be huge).
pub fn truncated(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Parses a non-negative amount of a unit where zero makes sense (a credit line limit); an empty
/// string is zero.
pub fn parse_limit(field: &'static str, text: &str) -> Result<Decimal, LedgerError> {
    if text.is_empty() {
        return Ok(Decimal::ZERO);
    }
    let value = parse_decimal(field, text)?;
    if value < Decimal::ZERO {
        return Err(LedgerError::NonPositiveAmount {
            field,
            value: text.to_string(),
        });
    }
    check_scale(field, value, UNIT_SCALE_MAX)?;
    Ok(value.normalize())
}

/// Refuses a value with more fractional digits than `max_scale` (trailing zeros do not count).
pub fn check_scale(field: &'static str, value: Decimal, max_scale: u32) -> Result<(), LedgerError> {
    // "1.50" carries a trailing zero that does not make it more precise than the unit allows.
    let scale = value.normalize().scale();
    if scale > max_scale {
        return Err(LedgerError::TooManyDecimals {
            field,
            scale,
            max_scale,
        });
    }
    Ok(())
}

/// The money recognized when `used` of a lot's `remaining` quantity is consumed while `deferred`
/// of its money is still deferred: `deferred × used / remaining`, rounded half-even to
/// [`MONEY_SCALE`], and exactly `deferred` when the lot is used up. Because every draw takes its
/// share of what is *still* deferred, the shares of a lot always add up to what was paid.
pub fn money_share(deferred: Decimal, used: Decimal, remaining: Decimal) -> Decimal {
    if used >= remaining || remaining.is_zero() {
        return deferred;
    }
    // For the largest amounts the product overflows a Decimal; dividing first then keeps 28
    // significant digits, far beyond the money scale at such magnitudes.
    let exact = match deferred.checked_mul(used) {
        Some(product) => product / remaining,
        None => deferred / remaining * used,
    };
    let share = exact.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointNearestEven);
    share.min(deferred)
}

/// The highest credit line price per unit: with quantities up to 10^15 the money for a draw stays
/// far inside what a `Decimal` holds.
pub fn price_max() -> Decimal {
    Decimal::from(1_000_000_000i64)
}

/// Money for `quantity` at `price` per unit, rounded half-even to [`MONEY_SCALE`].
pub fn price_of(quantity: Decimal, price: Decimal) -> Decimal {
    (quantity * price).round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointNearestEven)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_plain_spelling_parses() {
        for good in ["1", "0.5", "12.345", "0001.50", "1000000000000000"] {
            assert!(Quantity::parse("q", good).is_ok(), "{good:?}");
        }
        assert_eq!(
            Quantity::parse("q", "0001.50").map(Quantity::get),
            Ok(Decimal::new(15, 1))
        );
        for bad in [
            " 1", "1 ", "\t1", "\n1", "1\u{a0}", "1e3", "+1", ".5", "1.", "1..2", "--1", "-0",
            "-0.00", "0x10", "1,5", "\u{661}", "", " ",
        ] {
            let error = Quantity::parse("q", bad).unwrap_err();
            assert!(
                matches!(error, LedgerError::InvalidArgument { field: "q", .. }),
                "{bad:?}: {error:?}"
            );
        }
        assert!(matches!(
            Money::parse_or_zero("m", " "),
            Err(LedgerError::InvalidArgument { .. })
        ));
        assert_eq!(Money::parse_or_zero("m", ""), Ok(Money::ZERO));
    }

    #[test]
    fn amounts_have_one_spelling() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        for (value, spelled) in [
            ("80.0", "80"),
            ("0.0", "0"),
            ("8.000", "8"),
            ("-0.10000000", "-0.1"),
            ("0.00000000", "0"),
            ("-0", "0"),
            ("-0.000", "0"),
            ("12.5", "12.5"),
        ] {
            assert_eq!(canonical(d(value)), spelled, "{value}");
        }
    }
}
