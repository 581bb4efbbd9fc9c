//! Every conversion between the wire and the domain. Requests are parsed here once, into typed
//! commands whose values are known good; past this point nothing re-validates the wire.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::clock::truncate_micros;
use crate::ledger::amount::Amount;
use crate::ledger::{self as l, LedgerError, Money, Quantity};
use crate::proto as p;

/// Idempotency keys: required, 1 to 128 bytes.
pub const KEY_LEN_MAX: usize = 128;
/// External ids, meters, scope items, references and reasons: at most 256 bytes.
pub const TEXT_LEN_MAX: usize = 256;
pub const SCOPE_ITEMS_MAX: usize = 32;

/// An account as the caller named it; resolved against the store by the service.
pub enum AccountRef {
    Id(l::AccountId),
    External(String),
}

pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> LedgerError {
    LedgerError::InvalidArgument {
        field,
        reason: reason.into(),
    }
}

/// How a text field is checked. Every text field is UTF-8 (the wire guarantees it), has a
/// length limit in bytes and carries no control character (U+0000–U+001F, U+007F–U+009F),
/// except tabs and line breaks in free text: a NUL cannot be stored by PostgreSQL, and the
/// others have no place in an id, a key or a line of an export. Both stores therefore accept and
/// refuse exactly the same strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRule {
    /// An identifier the caller chose (idempotency key, external id, meter, scope item):
    /// required, no leading or trailing whitespace.
    Id { max: usize },
    /// Free text (reference, reason): spaces, tabs and line breaks allowed; `required` refuses
    /// empty or blank text.
    Free { max: usize, required: bool },
}

impl TextRule {
    pub const KEY: TextRule = TextRule::Id { max: KEY_LEN_MAX };
    pub const ID: TextRule = TextRule::Id { max: TEXT_LEN_MAX };
    pub const REFERENCE: TextRule = TextRule::Free {
        max: TEXT_LEN_MAX,
        required: false,
    };
    pub const REASON: TextRule = TextRule::Free {
        max: TEXT_LEN_MAX,
        required: true,
    };

    pub fn check(self, field: &'static str, s: &str) -> Result<(), LedgerError> {
        let (max, required, trimmed) = match self {
            TextRule::Id { max } => (max, true, true),
            TextRule::Free { max, required } => (max, required, false),
        };
        if s.len() > max {
            return Err(invalid(
                field,
                format!("at most {max} bytes, got {}", s.len()),
            ));
        }
        let allowed = |c: char| !trimmed && matches!(c, '\t' | '\n' | '\r');
        if let Some(c) = s.chars().find(|&c| c.is_control() && !allowed(c)) {
            return Err(invalid(
                field,
                format!("control character U+{:04X} not allowed", c as u32),
            ));
        }
        if required && s.trim().is_empty() {
            return Err(invalid(field, "required"));
        }
        if trimmed && s.trim() != s {
            return Err(invalid(field, "no leading or trailing whitespace"));
        }
        Ok(())
    }
}

pub fn account_ref(
    field: &'static str,
    r: Option<p::AccountRef>,
) -> Result<AccountRef, LedgerError> {
    match r.and_then(|r| r.r#ref) {
        Some(p::account_ref::Ref::AccountId(id)) => Ok(AccountRef::Id(id_of(field, &id)?)),
        Some(p::account_ref::Ref::ExternalId(e)) => {
            Ok(AccountRef::External(text(field, e, TextRule::ID)?))
        }
        None => Err(invalid(field, "an account_id or external_id is required")),
    }
}

/// An id in the canonical hyphenated form (`8-4-4-4-12` hex digits, either case); no braces,
/// URN prefix or whitespace.
pub fn id_of<T: std::str::FromStr>(field: &'static str, s: &str) -> Result<T, LedgerError> {
    let malformed = || {
        invalid(
            field,
            format!(
                "not a UUID (8-4-4-4-12 hex digits): {:?}",
                l::amount::truncated(s)
            ),
        )
    };
    let hyphenated = s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if !hyphenated {
        return Err(malformed());
    }
    s.parse().map_err(|_| malformed())
}

pub fn key(s: String) -> Result<String, LedgerError> {
    if s.is_empty() {
        return Err(invalid("idempotency_key", "required on every mutation"));
    }
    text("idempotency_key", s, TextRule::KEY)
}

/// A text field checked by its rule.
pub fn text(field: &'static str, s: String, rule: TextRule) -> Result<String, LedgerError> {
    rule.check(field, &s)?;
    Ok(s)
}

/// A unit or currency code, by the CODE rule.
fn code<C: FromStr<Err = l::code::InvalidCode>>(
    field: &'static str,
    s: &str,
) -> Result<C, LedgerError> {
    s.parse()
        .map_err(|e: l::code::InvalidCode| invalid(field, e.to_string()))
}

/// An account's unit: required.
pub fn unit(s: &str) -> Result<l::Unit, LedgerError> {
    code("unit", s)
}

/// A currency; an empty one is USD.
pub fn currency(s: &str) -> Result<l::Currency, LedgerError> {
    code("currency", if s.is_empty() { "USD" } else { s })
}

/// A currency the request may leave out (`None` when empty).
pub fn opt_currency(s: &str) -> Result<Option<l::Currency>, LedgerError> {
    match s {
        "" => Ok(None),
        s => code("currency", s).map(Some),
    }
}

/// A code in an answer; no currency is the empty string.
pub fn opt_code(code: Option<impl std::fmt::Display>) -> String {
    code.map(|c| c.to_string()).unwrap_or_default()
}

pub fn scope(items: Vec<String>) -> Result<Vec<String>, LedgerError> {
    if items.len() > SCOPE_ITEMS_MAX {
        return Err(invalid(
            "scope",
            format!("at most {SCOPE_ITEMS_MAX} meters"),
        ));
    }
    items
        .into_iter()
        .map(|m| text("scope", m, TextRule::ID))
        .collect()
}

/// A subject under an account: empty (the account as a whole) or `/`-separated segments.
pub fn subject(s: String) -> Result<String, LedgerError> {
    l::budget::check_subject(&s).map_err(|reason| invalid("subject", reason))?;
    Ok(s)
}

/// A budget as it stands at `now`.
pub fn budget(account_id: l::AccountId, b: &l::budget::Budget, now: DateTime<Utc>) -> p::Budget {
    let standing = b.standing(now);
    p::Budget {
        budget_id: b.id.to_string(),
        account_id: account_id.to_string(),
        subject: b.subject.clone(),
        meter: b.meter.clone(),
        limit: amount(b.limit),
        period: match b.period {
            l::budget::Period::None => p::BudgetPeriod::None,
            l::budget::Period::Day => p::BudgetPeriod::Day,
            l::budget::Period::Week => p::BudgetPeriod::Week,
            l::budget::Period::Month => p::BudgetPeriod::Month,
            l::budget::Period::Rolling => p::BudgetPeriod::Rolling,
        } as i32,
        time_zone: b.time_zone.name().to_string(),
        hard: b.hard,
        alerts: b.alerts.clone(),
        spent: amount(standing.spent),
        held: amount(standing.held),
        remaining: amount(standing.remaining),
        period_start: Some(timestamp(standing.period_start)),
        resets_at: standing.resets_at.map(timestamp),
        created_at: Some(timestamp(b.created_at)),
        window_seconds: b.window.as_ref().map_or(0, |w| w.seconds),
        max_requests: b.window.as_ref().and_then(|w| w.requests),
        requests: standing.requests,
    }
}

pub fn budget_period(value: i32) -> Result<l::budget::Period, LedgerError> {
    use l::budget::Period;
    match p::BudgetPeriod::try_from(value) {
        Ok(p::BudgetPeriod::None) => Ok(Period::None),
        Ok(p::BudgetPeriod::Day) => Ok(Period::Day),
        Ok(p::BudgetPeriod::Week) => Ok(Period::Week),
        Ok(p::BudgetPeriod::Month) => Ok(Period::Month),
        Ok(p::BudgetPeriod::Rolling) => Ok(Period::Rolling),
        Err(_) => Err(invalid("period", format!("unknown period {value}"))),
    }
}

/// An IANA zone name; empty is UTC.
pub fn time_zone(name: &str) -> Result<chrono_tz::Tz, LedgerError> {
    match name {
        "" => Ok(chrono_tz::Tz::UTC),
        name => name.parse().map_err(|_| {
            invalid(
                "time_zone",
                format!(
                    "not an IANA time zone name (e.g. Europe/Paris): {:?}",
                    l::amount::truncated(name)
                ),
            )
        }),
    }
}

/// Alert percentages: each 1 to 100, at most `budget::ALERTS_MAX`; kept ascending.
pub fn alerts(values: Vec<u32>) -> Result<Vec<u32>, LedgerError> {
    l::budget::check_alerts(values).map_err(|reason| invalid("alerts", reason))
}

/// A meter: empty (unscoped lots only) or an identifier.
pub fn meter(s: String) -> Result<String, LedgerError> {
    match s.is_empty() {
        true => Ok(s),
        false => text("meter", s, TextRule::ID),
    }
}

/// A non-negative amount in the account's unit where zero is allowed (credit line limits).
pub fn unit_amount_or_zero(field: &'static str, s: &str) -> Result<Quantity, LedgerError> {
    Ok(Quantity::parse_or_zero(field, s)?)
}

pub fn quantity(s: &str) -> Result<Quantity, LedgerError> {
    Ok(Quantity::parse("quantity", s)?)
}

/// A price book's name (IDENT); empty or "default" is the default book, kept as empty.
pub fn price_book(name: String) -> Result<String, LedgerError> {
    match name.as_str() {
        "" | l::rating::DEFAULT_BOOK => Ok(String::new()),
        _ => text("price_book", name, TextRule::ID),
    }
}

/// The most dimensions one usage may name.
pub const USAGE_DIMENSIONS_MAX: usize = 64;

/// What a request charges or holds: its `quantity`, or its `usage` to rate (USAGE), never both.
/// With usage, the quantity is zero until the engine rates it.
pub fn quantity_or_usage(
    quantity_text: &str,
    usage: std::collections::HashMap<String, String>,
) -> Result<(Quantity, Option<l::rating::Usage>), LedgerError> {
    if usage.is_empty() {
        return Ok((quantity(quantity_text)?, None));
    }
    if !quantity_text.is_empty() {
        return Err(invalid(
            "quantity",
            "give either quantity or usage, not both",
        ));
    }
    Ok((Quantity::ZERO, Some(usage_of(usage)?)))
}

/// A usage (USAGE): 1 to 64 dimensions, each an identifier mapped to an amount of zero or more.
pub fn usage_of(
    usage: std::collections::HashMap<String, String>,
) -> Result<l::rating::Usage, LedgerError> {
    if usage.is_empty() {
        return Err(invalid("usage", "required: at least one dimension"));
    }
    if usage.len() > USAGE_DIMENSIONS_MAX {
        return Err(invalid(
            "usage",
            format!(
                "at most {USAGE_DIMENSIONS_MAX} dimensions, got {}",
                usage.len()
            ),
        ));
    }
    let mut out = l::rating::Usage::new();
    for (dimension, amount) in usage {
        TextRule::ID.check("usage", &dimension)?;
        if amount.is_empty() {
            return Err(invalid(
                "usage",
                format!(
                    "{}: an amount is required",
                    l::amount::truncated(&dimension)
                ),
            ));
        }
        let value = Quantity::parse_or_zero("usage", &amount).map_err(|e| {
            invalid(
                "usage",
                format!(
                    "{}: {}",
                    l::amount::truncated(&dimension),
                    LedgerError::from(e)
                ),
            )
        })?;
        out.insert(dimension, value.get());
    }
    Ok(out)
}

/// How a usage was rated, on the wire.
pub fn rating(r: &l::rating::Rated) -> p::Rating {
    p::Rating {
        book: r.book.clone(),
        version: r.version,
        value: amount(r.value),
        dimensions: (r.lines.iter())
            .map(|line| p::RatedDimension {
                dimension: line.dimension.clone(),
                amount: amount(line.amount),
                block: line.block,
                price: amount(line.price),
                value: amount(line.value),
            })
            .collect(),
        cost: r.cost.map(|(_, cost)| amount(cost)).unwrap_or_default(),
        cost_currency: r.cost.map(|(c, _)| c.to_string()).unwrap_or_default(),
    }
}

/// Money where an empty string is zero.
pub fn money(field: &'static str, s: &str) -> Result<Money, LedgerError> {
    Ok(Money::parse_or_zero(field, s)?)
}

/// Money the request must give (a price paid).
pub fn price(field: &'static str, s: &str) -> Result<Money, LedgerError> {
    Ok(Money::parse(field, s)?)
}

/// The protobuf Timestamp range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const TIMESTAMP_SECONDS_MIN: i64 = -62_135_596_800;
const TIMESTAMP_SECONDS_MAX: i64 = 253_402_300_799;
/// Times the ledger stores (effective_at, expires_at, term_start, term_end) lie from the Unix
/// epoch to the end of year 9999.
const STORED_SECONDS_MIN: i64 = 0;

/// A time within the protobuf Timestamp range, truncated to microseconds (what the store keeps).
pub fn time(field: &'static str, t: Timestamp) -> Result<DateTime<Utc>, LedgerError> {
    in_range(field, t, TIMESTAMP_SECONDS_MIN, "0001-01-01T00:00:00Z")
}

/// A time the ledger will store: from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z.
pub fn stored_time(field: &'static str, t: Timestamp) -> Result<DateTime<Utc>, LedgerError> {
    in_range(field, t, STORED_SECONDS_MIN, "1970-01-01T00:00:00Z")
}

fn in_range(
    field: &'static str,
    t: Timestamp,
    seconds_min: i64,
    earliest: &str,
) -> Result<DateTime<Utc>, LedgerError> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(invalid(field, "nanos must be 0 to 999,999,999"));
    }
    if t.seconds < seconds_min || t.seconds > TIMESTAMP_SECONDS_MAX {
        return Err(invalid(
            field,
            format!("must lie from {earliest} to 9999-12-31T23:59:59Z"),
        ));
    }
    DateTime::from_timestamp(t.seconds, t.nanos as u32)
        .map(truncate_micros)
        .ok_or_else(|| invalid(field, "out of range"))
}

pub fn opt_time(
    field: &'static str,
    t: Option<Timestamp>,
) -> Result<Option<DateTime<Utc>>, LedgerError> {
    t.map(|t| time(field, t)).transpose()
}

pub fn opt_stored_time(
    field: &'static str,
    t: Option<Timestamp>,
) -> Result<Option<DateTime<Utc>>, LedgerError> {
    t.map(|t| stored_time(field, t)).transpose()
}

/// The one spelling of an amount in every answer: no trailing zeros, no exponent, no negative
/// zero ("80", "0", "-0.1", "8").
pub fn amount(value: impl Amount) -> String {
    l::amount::canonical(value.decimal())
}

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn account_status(s: i32) -> Result<Option<l::AccountStatus>, LedgerError> {
    match p::AccountStatus::try_from(s) {
        Ok(p::AccountStatus::Unspecified) => Ok(None),
        Ok(p::AccountStatus::Active) => Ok(Some(l::AccountStatus::Active)),
        Ok(p::AccountStatus::Frozen) => Ok(Some(l::AccountStatus::Frozen)),
        Ok(p::AccountStatus::Closed) => Ok(Some(l::AccountStatus::Closed)),
        Err(_) => Err(invalid("status", format!("unknown status {s}"))),
    }
}

pub fn overage(o: i32) -> Result<l::Overage, LedgerError> {
    match p::CaptureOverage::try_from(o) {
        Ok(p::CaptureOverage::Reject) => Ok(l::Overage::Reject),
        Ok(p::CaptureOverage::Clamp) => Ok(l::Overage::Clamp),
        Ok(p::CaptureOverage::DrawAvailable) => Ok(l::Overage::DrawAvailable),
        Err(_) => Err(invalid("overage", format!("unknown overage {o}"))),
    }
}

pub fn account(a: &l::Account) -> p::Account {
    p::Account {
        account_id: a.id.to_string(),
        external_id: a.external_id.clone(),
        unit: a.unit.to_string(),
        unit_scale: a.unit_scale,
        status: match a.status {
            l::AccountStatus::Active => p::AccountStatus::Active,
            l::AccountStatus::Frozen => p::AccountStatus::Frozen,
            l::AccountStatus::Closed => p::AccountStatus::Closed,
        } as i32,
        credit_line_limit: amount(a.credit_line_limit),
        credit_line_used: amount(a.credit_line_used),
        credit_line_held: amount(a.credit_line_held),
        credit_line_price: amount(a.credit_line_price),
        currency: a.currency.to_string(),
        created_at: Some(timestamp(a.created_at)),
        open_holds: a.open_holds,
        low_balance: Some(low_balance_out(a.low_balance)),
        credit_line_spent: amount(a.credit_line_spent),
        credit_line_until: a.credit_line_until.map(timestamp),
        price_book: a.book().to_string(),
    }
}

/// A threshold from the wire; an absent or empty one is none.
pub fn low_balance(t: Option<p::LowBalanceThreshold>) -> Result<l::LowBalance, LedgerError> {
    use p::low_balance_threshold::Threshold;
    match t.and_then(|t| t.threshold) {
        None => Ok(l::LowBalance::None),
        Some(Threshold::Absolute(s)) => Ok(l::LowBalance::Absolute(Quantity::parse_or_zero(
            "low_balance_threshold",
            &s,
        )?)),
        Some(Threshold::Percent(s)) => Ok(l::LowBalance::Percent(l::Percent::parse(
            "low_balance_percent",
            &s,
        )?)),
    }
}

fn low_balance_out(t: l::LowBalance) -> p::LowBalanceThreshold {
    use p::low_balance_threshold::Threshold;
    p::LowBalanceThreshold {
        threshold: match t {
            l::LowBalance::None => None,
            l::LowBalance::Absolute(q) => Some(Threshold::Absolute(amount(q))),
            l::LowBalance::Percent(q) => Some(Threshold::Percent(amount(q))),
        },
    }
}

pub fn lot_kind(k: l::LotKind) -> p::LotKind {
    match k {
        l::LotKind::Paid => p::LotKind::Paid,
        l::LotKind::Promotional => p::LotKind::Promotional,
    }
}

/// A lot as seen at `now`: an active lot past its expiry reads as expired, one not yet
/// effective as pending.
pub fn lot(x: &l::Lot, now: DateTime<Utc>) -> p::Lot {
    let status = match x.status {
        l::LotStatus::Active if x.is_expired_at(now) => p::LotStatus::Expired,
        l::LotStatus::Active if x.effective_at > now => p::LotStatus::Pending,
        l::LotStatus::Active => p::LotStatus::Active,
        l::LotStatus::Depleted => p::LotStatus::Depleted,
        l::LotStatus::Expired => p::LotStatus::Expired,
        l::LotStatus::Voided => p::LotStatus::Voided,
    };
    p::Lot {
        lot_id: x.id.to_string(),
        account_id: x.account_id.to_string(),
        kind: lot_kind(x.kind) as i32,
        status: status as i32,
        priority: x.priority,
        quantity_granted: amount(x.granted),
        quantity_remaining: amount(x.remaining),
        quantity_held: amount(x.held),
        effective_at: Some(timestamp(x.effective_at)),
        expires_at: x.expires_at.map(timestamp),
        scope: x.scope.clone(),
        cost_basis: amount(x.cost_basis),
        money_deferred: amount(x.money_deferred),
        currency: opt_code(x.currency),
        reference: x.reference.clone(),
        created_at: Some(timestamp(x.created_at)),
    }
}

/// A lot's line in a balance: what remains on it and what is held, at the balance's time.
pub fn lot_balance(x: &l::Lot, remaining: impl Amount, held: impl Amount) -> p::LotBalance {
    p::LotBalance {
        lot_id: x.id.to_string(),
        kind: lot_kind(x.kind) as i32,
        priority: x.priority,
        remaining: amount(remaining),
        held: amount(held),
        expires_at: x.expires_at.map(timestamp),
        scope: x.scope.clone(),
    }
}

pub fn draws(d: &[l::Draw]) -> Vec<p::Draw> {
    d.iter()
        .map(|d| p::Draw {
            lot_id: d.lot_id.map(|l| l.to_string()).unwrap_or_default(),
            quantity: amount(d.quantity),
        })
        .collect()
}

pub fn hold(h: &l::Hold) -> p::Hold {
    p::Hold {
        hold_id: h.id.to_string(),
        account_id: h.account_id.to_string(),
        status: match h.status {
            l::HoldStatus::Open => p::HoldStatus::Open,
            l::HoldStatus::Captured => p::HoldStatus::Captured,
            l::HoldStatus::Released => p::HoldStatus::Released,
            l::HoldStatus::Expired => p::HoldStatus::Expired,
        } as i32,
        quantity_authorized: amount(h.authorized),
        quantity_captured: amount(h.captured),
        quantity_held: amount(h.held()),
        expires_at: Some(timestamp(h.expires_at)),
        created_at: Some(timestamp(h.created_at)),
        meter: h.meter.clone(),
        reference: h.reference.clone(),
        reserved: draws(&h.reserved),
        subject: h.subject.clone(),
        budget_ids: h.budgets.iter().map(ToString::to_string).collect(),
    }
}

/// Page tokens are the last id of the previous page.
pub fn page_token<T: std::str::FromStr>(token: &str) -> Result<Option<T>, LedgerError> {
    if token.is_empty() {
        return Ok(None);
    }
    id_of("page_token", token).map(Some)
}

pub fn page_size(requested: u32, default: u32, max: u32) -> u32 {
    if requested == 0 {
        default
    } else {
        requested.min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_refuse_control_characters_padding_and_length() {
        let id = TextRule::ID;
        assert!(id.check("f", "customer-42 é").is_ok());
        for bad in [
            "",
            " ",
            "a\u{0}b",
            "a\tb",
            "a\u{85}b",
            " a",
            "a ",
            &"x".repeat(257),
        ] {
            assert!(id.check("f", bad).is_err(), "{bad:?}");
        }
        assert!(TextRule::KEY.check("k", &"k".repeat(128)).is_ok());
        assert!(TextRule::KEY.check("k", &"k".repeat(129)).is_err());
    }

    #[test]
    fn free_text_allows_tabs_and_line_breaks_only() {
        let text = TextRule::REFERENCE;
        assert!(text.check("r", "").is_ok());
        assert!(text.check("r", " job 1,\tpart \"2\"\r\n").is_ok());
        for bad in ["a\u{0}", "a\u{1b}[31m", "a\u{7f}"] {
            assert!(text.check("r", bad).is_err(), "{bad:?}");
        }
        assert!(TextRule::REASON.check("r", "  ").is_err());
    }

    #[test]
    fn ids_are_hyphenated_uuids_and_nothing_else() {
        let id = "0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e77";
        assert!(id_of::<l::AccountId>("a", id).is_ok());
        assert!(id_of::<l::AccountId>("a", &id.to_uppercase()).is_ok());
        for bad in [
            "",
            "0b9e0d8a2d0f4a4c9c513d3b8d1f0e77",
            "{0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e77}",
            " 0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e77",
            "0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e7",
        ] {
            assert!(id_of::<l::AccountId>("a", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stored_times_lie_from_1970_to_9999() {
        let t = |seconds, nanos| Timestamp { seconds, nanos };
        assert!(stored_time("t", t(0, 0)).is_ok());
        assert!(stored_time("t", t(253_402_300_799, 999_999_999)).is_ok());
        assert!(stored_time("t", t(-1, 0)).is_err());
        assert!(stored_time("t", t(253_402_300_800, 0)).is_err());
        assert!(time("t", t(-62_135_596_800, 0)).is_ok());
        assert!(time("t", t(-62_135_596_801, 0)).is_err());
        assert!(time("t", t(0, -1)).is_err());
        assert!(time("t", t(0, 1_000_000_000)).is_err());
    }
}
