//! Amounts: parsing decimal strings from the wire into bounded, exact values, and the money
//! allocation rule. Nothing here ever touches a float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

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

/// An amount in a request that is not one. The engine's [`LedgerError`](super::LedgerError)
/// says the same in its own variants (it converts from this), so a refusal reads alike wherever
/// the amount was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    /// Not a plain decimal (or too many digits).
    Invalid { field: &'static str, reason: String },
    /// Zero or negative where only a positive amount makes sense, or negative at all.
    NonPositive { field: &'static str, value: String },
    /// More fractional digits than allowed.
    TooManyDecimals {
        field: &'static str,
        scale: u32,
        max_scale: u32,
    },
    /// Above [`amount_max`].
    TooLarge { field: &'static str, max: Decimal },
}

/// A quantity of an account's unit: never negative. What a command carries is also strictly
/// positive ([`Quantity::parse`] refuses zero), at most 10^15 and at most [`UNIT_SCALE_MAX`]
/// fractional digits; whether it fits the account's own scale is checked by the engine, which
/// knows the account. The unit is the account's ([`Account::unit`](super::Account::unit)): every
/// quantity of an account, its lots and holds is in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(Decimal);

/// An amount of money: never negative, in the currency of the record that holds it (a lot's
/// purchase currency, an account's credit line currency). What a request carries has at most
/// [`MONEY_SCALE`] fractional digits and is at most 10^15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

/// The arithmetic both amounts share. A sum that overflows or a difference that would go below
/// zero is a broken invariant of the engine, never the result of input (every request is
/// checked before it is applied): the operators panic, which fails that one command
/// (`INTERNAL`) and stores nothing, rather than booking a negative balance. Where going below
/// zero is an expected case, the engine says so with `checked_sub` or `saturating_sub`.
macro_rules! amount_arithmetic {
    ($name:ident, $what:literal) => {
        impl $name {
            pub const ZERO: $name = $name(Decimal::ZERO);

            /// `None` for a negative value. The scale is kept as given (stored amounts are read
            /// back exactly as written).
            pub fn new(value: Decimal) -> Option<Self> {
                (value >= Decimal::ZERO).then_some($name(value))
            }

            pub fn get(self) -> Decimal {
                self.0
            }

            pub fn is_zero(self) -> bool {
                self.0.is_zero()
            }

            pub fn checked_add(self, other: Self) -> Option<Self> {
                self.0.checked_add(other.0).map($name)
            }

            /// `None` when `other` is larger.
            pub fn checked_sub(self, other: Self) -> Option<Self> {
                self.0.checked_sub(other.0).and_then(Self::new)
            }

            /// Zero when `other` is larger.
            pub fn saturating_sub(self, other: Self) -> Self {
                self.checked_sub(other).unwrap_or(Self::ZERO)
            }
        }

        impl std::ops::Add for $name {
            type Output = $name;
            fn add(self, other: Self) -> Self {
                self.checked_add(other)
                    .unwrap_or_else(|| panic!(concat!($what, " overflow: {} + {}"), self, other))
            }
        }

        impl std::ops::Sub for $name {
            type Output = $name;
            fn sub(self, other: Self) -> Self {
                self.checked_sub(other)
                    .unwrap_or_else(|| panic!(concat!($what, " below zero: {} - {}"), self, other))
            }
        }

        impl std::ops::AddAssign for $name {
            fn add_assign(&mut self, other: Self) {
                *self = *self + other;
            }
        }

        impl std::ops::SubAssign for $name {
            fn sub_assign(&mut self, other: Self) {
                *self = *self - other;
            }
        }

        impl std::iter::Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold($name::ZERO, |sum, each| sum + each)
            }
        }

        /// The canonical spelling ([`canonical`]).
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&canonical(self.0))
            }
        }
    };
}

amount_arithmetic!(Quantity, "quantity");
amount_arithmetic!(Money, "money");

impl Quantity {
    /// A command's quantity: strictly positive.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, AmountError> {
        let value = parse_decimal(field, text)?;
        if value <= Decimal::ZERO {
            return Err(AmountError::NonPositive {
                field,
                value: text.to_string(),
            });
        }
        check_scale(field, value, UNIT_SCALE_MAX)?;
        // "1.50" and "1.5" are the same amount, and the same request for idempotency.
        Ok(Quantity(value.normalize()))
    }

    /// A quantity where zero makes sense (a credit line limit, a threshold); an empty string is
    /// zero.
    pub fn parse_or_zero(field: &'static str, text: &str) -> Result<Self, AmountError> {
        if text.is_empty() {
            return Ok(Quantity::ZERO);
        }
        let value = parse_decimal(field, text)?;
        if value < Decimal::ZERO {
            return Err(AmountError::NonPositive {
                field,
                value: text.to_string(),
            });
        }
        check_scale(field, value, UNIT_SCALE_MAX)?;
        Ok(Quantity(value.normalize()))
    }

    /// Refuses a quantity with more fractional digits than the account's unit allows.
    pub fn check_scale(self, field: &'static str, unit_scale: u32) -> Result<Self, AmountError> {
        check_scale(field, self.0, unit_scale)?;
        Ok(self)
    }
}

impl Money {
    pub fn parse(field: &'static str, text: &str) -> Result<Self, AmountError> {
        let value = parse_decimal(field, text)?;
        if value < Decimal::ZERO {
            return Err(AmountError::NonPositive {
                field,
                value: text.to_string(),
            });
        }
        check_scale(field, value, MONEY_SCALE)?;
        Ok(Money(value.normalize()))
    }

    /// Like [`Money::parse`], but an empty string means zero.
    pub fn parse_or_zero(field: &'static str, text: &str) -> Result<Self, AmountError> {
        if text.is_empty() {
            return Ok(Money::ZERO);
        }
        Self::parse(field, text)
    }
}

/// A quantity that may be below zero: a balance net of what the credit line has lent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NetQuantity(Decimal);

impl NetQuantity {
    /// What `held` leaves after `owed` is taken off it.
    pub fn of(held: Quantity, owed: Quantity) -> Self {
        NetQuantity(held.0 - owed.0)
    }

    pub fn get(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for NetQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&canonical(self.0))
    }
}

/// Any amount, for where its number is all that matters: spelling it in an answer, summing it in a
/// report.
pub trait Amount: Copy {
    fn decimal(self) -> Decimal;
    /// The amount a stored number is, or `None` when it cannot be one (a negative quantity).
    fn from_decimal(value: Decimal) -> Option<Self>;
}

impl Amount for Decimal {
    fn decimal(self) -> Decimal {
        self
    }
    fn from_decimal(value: Decimal) -> Option<Self> {
        Some(value)
    }
}

macro_rules! amount_decimal {
    ($($name:ident),*) => {$(
        impl Amount for $name {
            fn decimal(self) -> Decimal {
                self.0
            }
            fn from_decimal(value: Decimal) -> Option<Self> {
                (value >= Decimal::ZERO).then_some($name(value))
            }
        }
    )*};
}

amount_decimal!(Quantity, Money, Percent);

impl Amount for NetQuantity {
    fn decimal(self) -> Decimal {
        self.0
    }
    fn from_decimal(value: Decimal) -> Option<Self> {
        Some(NetQuantity(value))
    }
}

/// A percentage (a low-balance threshold): never negative; the engine refuses one above 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(Decimal);

impl Percent {
    pub fn parse(field: &'static str, text: &str) -> Result<Self, AmountError> {
        Quantity::parse_or_zero(field, text).map(|q| Percent(q.0))
    }

    /// `None` for a negative value.
    pub fn new(value: Decimal) -> Option<Self> {
        (value >= Decimal::ZERO).then_some(Percent(value))
    }

    pub fn get(self) -> Decimal {
        self.0
    }

    /// This share of `base`, rounded to `scale` fractional digits.
    pub fn of(self, base: Quantity, scale: u32) -> Quantity {
        Quantity((base.0 * self.0 / Decimal::ONE_HUNDRED).round_dp(scale))
    }
}

/// The longest decimal string accepted: 28 significant digits, a point, a sign and a few
/// leading zeros. Longer text is refused before any digit is looked at.
pub const DECIMAL_TEXT_LEN_MAX: usize = 40;

/// Parses a plain decimal string, exactly `-?[0-9]+(\.[0-9]+)?`: no whitespace anywhere, no
/// exponent, no `+`, no leading or trailing point, no negative zero. Magnitudes above
/// [`amount_max`] are refused with the field named. Whether a sign is allowed at all is for the
/// caller to say (every amount a request carries is positive or zero).
pub fn parse_decimal(field: &'static str, text: &str) -> Result<Decimal, AmountError> {
    let invalid = |reason: &str| AmountError::Invalid {
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
        return Err(AmountError::TooLarge {
            field,
            max: amount_max(),
        });
    }
    Ok(value)
}

/// The one spelling of an amount in every answer and export line: no trailing zeros, no
/// exponent, no negative zero ("80", "0", "-0.1", "8").
pub fn canonical(value: Decimal) -> String {
    Canonical(value).to_string()
}

/// An amount's [`canonical`] spelling, written where it goes rather than into a string of its
/// own (an export writes millions).
#[derive(Debug, Clone, Copy)]
pub struct Canonical(pub Decimal);

impl fmt::Display for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0.normalize();
        match value.is_zero() {
            true => f.write_str("0"),
            false => write!(f, "{value}"),
        }
    }
}

/// At most 64 bytes of a refused text, for an error message (a refused field may be huge).
pub fn truncated(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Refuses a value with more fractional digits than `max_scale` (trailing zeros do not count).
pub fn check_scale(field: &'static str, value: Decimal, max_scale: u32) -> Result<(), AmountError> {
    // "1.50" carries a trailing zero that does not make it more precise than the unit allows.
    let scale = value.normalize().scale();
    if scale > max_scale {
        return Err(AmountError::TooManyDecimals {
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
pub fn money_share(deferred: Money, used: Quantity, remaining: Quantity) -> Money {
    if used >= remaining || remaining.is_zero() {
        return deferred;
    }
    let (deferred, used, remaining) = (deferred.0, used.0, remaining.0);
    // For the largest amounts the product overflows a Decimal; dividing first then keeps 28
    // significant digits, far beyond the money scale at such magnitudes.
    let exact = match deferred.checked_mul(used) {
        Some(product) => product / remaining,
        None => deferred / remaining * used,
    };
    let share = exact.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointNearestEven);
    Money(share.clamp(Decimal::ZERO, deferred))
}

/// The highest credit line price per unit: with quantities up to 10^15 the money for a draw stays
/// far inside what a `Decimal` holds.
pub fn price_max() -> Decimal {
    Decimal::from(1_000_000_000i64)
}

/// Money for `quantity` at `price` per unit, rounded half-even to [`MONEY_SCALE`].
pub fn price_of(quantity: Quantity, price: Money) -> Money {
    Money(
        (quantity.0 * price.0)
            .round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointNearestEven),
    )
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
                matches!(error, AmountError::Invalid { field: "q", .. }),
                "{bad:?}: {error:?}"
            );
        }
        assert!(matches!(
            Money::parse_or_zero("m", " "),
            Err(AmountError::Invalid { .. })
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

    #[test]
    fn amounts_never_go_below_zero() {
        let q = |s: &str| Quantity::new(Decimal::from_str(s).unwrap()).unwrap();
        assert_eq!(Quantity::new(Decimal::NEGATIVE_ONE), None);
        assert_eq!(Money::new(Decimal::from_str("-0.01").unwrap()), None);
        assert_eq!(q("5") - q("2"), q("3"));
        assert_eq!(q("2").checked_sub(q("5")), None);
        assert_eq!(q("2").saturating_sub(q("5")), Quantity::ZERO);
        assert_eq!(
            [q("1.5"), q("2.25")].into_iter().sum::<Quantity>(),
            q("3.75")
        );
        let below = std::panic::catch_unwind(|| q("2") - q("5"));
        assert!(
            below.is_err(),
            "a difference below zero is a broken invariant"
        );
        let max = Quantity::new(Decimal::MAX).unwrap();
        assert_eq!(max.checked_add(q("1")), None);
        // The scale is kept as given: stored amounts read back exactly as written.
        assert_eq!(q("1.50").get().to_string(), "1.50");
        assert_eq!(q("1.50").to_string(), "1.5");
        assert_eq!(NetQuantity::of(q("2"), q("5")).to_string(), "-3");
    }

    #[test]
    fn money_shares_and_prices_are_typed_and_exact() {
        let q = |s: &str| Quantity::new(Decimal::from_str(s).unwrap()).unwrap();
        let m = |s: &str| Money::new(Decimal::from_str(s).unwrap()).unwrap();
        assert_eq!(money_share(m("3"), q("4"), q("7")), m("1.71428571"));
        assert_eq!(money_share(m("3"), q("7"), q("7")), m("3"));
        assert_eq!(price_of(q("3"), m("0.333333333")), m("1.00000000"));
        let pct = Percent::new(Decimal::from_str("12.5").unwrap()).unwrap();
        assert_eq!(pct.of(q("80"), 2), q("10"));
    }
}
