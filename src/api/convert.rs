//! Every conversion between the wire and the domain. Requests are parsed here once, into typed
//! commands whose values are known good; past this point nothing re-validates the wire.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use rust_decimal::Decimal;

use crate::clock::truncate_micros;
use crate::ledger::{self as l, LedgerError, Money, Quantity};
use crate::proto as p;

pub const KEY_LEN_MAX: usize = 128;
pub const TEXT_LEN_MAX: usize = 256;
pub const SCOPE_ITEMS_MAX: usize = 32;

/// An account as the caller named it; resolved against the store by the service.
pub enum AccountRef {
    Id(l::AccountId),
    External(String),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> LedgerError {
    LedgerError::InvalidArgument {
        field,
        reason: reason.into(),
    }
}

pub fn account_ref(
    field: &'static str,
    r: Option<p::AccountRef>,
) -> Result<AccountRef, LedgerError> {
    match r.and_then(|r| r.r#ref) {
        Some(p::account_ref::Ref::AccountId(id)) => Ok(AccountRef::Id(id_of(field, &id)?)),
        Some(p::account_ref::Ref::ExternalId(e)) => Ok(AccountRef::External(text(field, e, true)?)),
        None => Err(invalid(field, "an account_id or external_id is required")),
    }
}

pub fn id_of<T: std::str::FromStr>(field: &'static str, s: &str) -> Result<T, LedgerError> {
    s.trim()
        .parse()
        .map_err(|_| invalid(field, format!("not a UUID: {s:?}")))
}

pub fn key(s: String) -> Result<String, LedgerError> {
    if s.trim().is_empty() {
        return Err(invalid("idempotency_key", "required on every mutation"));
    }
    if s.len() > KEY_LEN_MAX {
        return Err(invalid(
            "idempotency_key",
            format!("at most {KEY_LEN_MAX} bytes"),
        ));
    }
    Ok(s)
}

/// Free text (references, ids, meters) with a length limit; `required` refuses empty text.
pub fn text(field: &'static str, s: String, required: bool) -> Result<String, LedgerError> {
    if required && s.trim().is_empty() {
        return Err(invalid(field, "required"));
    }
    if s.len() > TEXT_LEN_MAX {
        return Err(invalid(field, format!("at most {TEXT_LEN_MAX} bytes")));
    }
    Ok(s)
}

/// A unit or currency code: 1 to 16 of A-Z, 0-9, '_' or '-'.
pub fn code(field: &'static str, s: &str, default: &str) -> Result<String, LedgerError> {
    let s = if s.trim().is_empty() {
        default
    } else {
        s.trim()
    };
    let ok = !s.is_empty()
        && s.len() <= 16
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        return Err(invalid(
            field,
            format!("use 1-16 of A-Z, 0-9, '_', '-': {s:?}"),
        ));
    }
    Ok(s.to_string())
}

pub fn scope(items: Vec<String>) -> Result<Vec<String>, LedgerError> {
    if items.len() > SCOPE_ITEMS_MAX {
        return Err(invalid(
            "scope",
            format!("at most {SCOPE_ITEMS_MAX} meters"),
        ));
    }
    items.into_iter().map(|m| text("scope", m, true)).collect()
}

/// A non-negative amount in the account's unit where zero is allowed (credit line limits).
pub fn unit_amount_or_zero(field: &'static str, s: &str) -> Result<Decimal, LedgerError> {
    l::amount::parse_limit(field, s)
}

pub fn quantity(s: &str) -> Result<Quantity, LedgerError> {
    Quantity::parse("quantity", s)
}

pub fn money(field: &'static str, s: &str) -> Result<Money, LedgerError> {
    Money::parse_or_zero(field, s)
}

pub fn time(field: &'static str, t: Timestamp) -> Result<DateTime<Utc>, LedgerError> {
    let nanos = u32::try_from(t.nanos).map_err(|_| invalid(field, "negative nanos"))?;
    DateTime::from_timestamp(t.seconds, nanos)
        .map(truncate_micros)
        .ok_or_else(|| invalid(field, "out of range"))
}

pub fn opt_time(
    field: &'static str,
    t: Option<Timestamp>,
) -> Result<Option<DateTime<Utc>>, LedgerError> {
    t.map(|t| time(field, t)).transpose()
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
        unit: a.unit.clone(),
        unit_scale: a.unit_scale,
        status: match a.status {
            l::AccountStatus::Active => p::AccountStatus::Active,
            l::AccountStatus::Frozen => p::AccountStatus::Frozen,
            l::AccountStatus::Closed => p::AccountStatus::Closed,
        } as i32,
        credit_line_limit: a.credit_line_limit.to_string(),
        credit_line_used: a.credit_line_used.to_string(),
        credit_line_held: a.credit_line_held.to_string(),
        credit_line_price: a.credit_line_price.to_string(),
        currency: a.currency.clone(),
        created_at: Some(timestamp(a.created_at)),
        open_holds: a.open_holds,
        low_balance: Some(low_balance_out(a.low_balance)),
        credit_line_spent: a.credit_line_spent.normalize().to_string(),
        credit_line_until: a.credit_line_until.map(timestamp),
    }
}

/// A threshold from the wire; an absent or empty one is none.
pub fn low_balance(t: Option<p::LowBalanceThreshold>) -> Result<l::LowBalance, LedgerError> {
    use p::low_balance_threshold::Threshold;
    match t.and_then(|t| t.threshold) {
        None => Ok(l::LowBalance::None),
        Some(Threshold::Absolute(s)) => Ok(l::LowBalance::Absolute(l::amount::parse_limit(
            "low_balance_threshold",
            &s,
        )?)),
        Some(Threshold::Percent(s)) => Ok(l::LowBalance::Percent(l::amount::parse_limit(
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
            l::LowBalance::Absolute(q) => Some(Threshold::Absolute(q.to_string())),
            l::LowBalance::Percent(q) => Some(Threshold::Percent(q.to_string())),
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
        quantity_granted: x.granted.to_string(),
        quantity_remaining: x.remaining.to_string(),
        quantity_held: x.held.to_string(),
        effective_at: Some(timestamp(x.effective_at)),
        expires_at: x.expires_at.map(timestamp),
        scope: x.scope.clone(),
        cost_basis: x.cost_basis.to_string(),
        money_deferred: x.money_deferred.to_string(),
        currency: x.currency.clone(),
        reference: x.reference.clone(),
        created_at: Some(timestamp(x.created_at)),
    }
}

pub fn draws(d: &[l::Draw]) -> Vec<p::Draw> {
    d.iter()
        .map(|d| p::Draw {
            lot_id: d.lot_id.map(|l| l.to_string()).unwrap_or_default(),
            quantity: d.quantity.to_string(),
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
        quantity_authorized: h.authorized.to_string(),
        quantity_captured: h.captured.to_string(),
        quantity_held: h.held().to_string(),
        expires_at: Some(timestamp(h.expires_at)),
        created_at: Some(timestamp(h.created_at)),
        meter: h.meter.clone(),
        reference: h.reference.clone(),
        reserved: draws(&h.reserved),
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
