//! Version 1 of the records an outcome carries: accounts, lots, holds, commitments, draws.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{name, DecodeError, Decoded};
use crate::ledger::*;

#[derive(Serialize, Deserialize)]
pub(super) struct DrawV1 {
    lot_id: Option<Uuid>,
    #[serde(with = "super::stored_amount")]
    quantity: Quantity,
}

impl From<&Draw> for DrawV1 {
    fn from(d: &Draw) -> Self {
        DrawV1 {
            lot_id: d.lot_id.map(|l| l.0),
            quantity: d.quantity,
        }
    }
}

impl From<DrawV1> for Draw {
    fn from(d: DrawV1) -> Self {
        Draw {
            lot_id: d.lot_id.map(LotId),
            quantity: d.quantity,
        }
    }
}

pub(super) fn draws_v1(draws: &[Draw]) -> Vec<DrawV1> {
    draws.iter().map(DrawV1::from).collect()
}

pub(super) fn draws(draws: Vec<DrawV1>) -> Vec<Draw> {
    draws.into_iter().map(Draw::from).collect()
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub(super) enum LowBalanceV1 {
    #[default]
    None,
    Absolute(#[serde(with = "rust_decimal::serde::str")] Decimal),
    Percent(#[serde(with = "rust_decimal::serde::str")] Decimal),
}

impl From<LowBalance> for LowBalanceV1 {
    fn from(t: LowBalance) -> Self {
        match t {
            LowBalance::None => LowBalanceV1::None,
            LowBalance::Absolute(v) => LowBalanceV1::Absolute(v.get()),
            LowBalance::Percent(v) => LowBalanceV1::Percent(v.get()),
        }
    }
}

impl TryFrom<LowBalanceV1> for LowBalance {
    type Error = DecodeError;

    fn try_from(t: LowBalanceV1) -> Decoded<Self> {
        let negative = DecodeError::Negative("low_balance");
        Ok(match t {
            LowBalanceV1::None => LowBalance::None,
            LowBalanceV1::Absolute(v) => LowBalance::Absolute(Quantity::new(v).ok_or(negative)?),
            LowBalanceV1::Percent(v) => LowBalance::Percent(Percent::new(v).ok_or(negative)?),
        })
    }
}

pub(super) fn ok_level() -> String {
    AlertLevel::Ok.as_str().to_string()
}

#[derive(Serialize, Deserialize)]
pub(super) struct AccountV1 {
    id: Uuid,
    external_id: String,
    #[serde(with = "super::stored_code")]
    unit: Unit,
    unit_scale: u32,
    status: String,
    #[serde(with = "super::stored_amount")]
    credit_line_limit: Quantity,
    #[serde(with = "super::stored_amount")]
    credit_line_used: Quantity,
    #[serde(with = "super::stored_amount")]
    credit_line_held: Quantity,
    #[serde(with = "super::stored_amount")]
    credit_line_price: Money,
    #[serde(with = "super::stored_code")]
    currency: Currency,
    created_at: DateTime<Utc>,
    open_holds: u32,
    entry_seq: i64,
    last_hash: String,
    // The fields below came after the first release: absent in its rows.
    #[serde(default)]
    low_balance: LowBalanceV1,
    #[serde(default, with = "super::stored_amount")]
    low_balance_base: Quantity,
    #[serde(default = "ok_level")]
    alert_level: String,
    #[serde(default, with = "super::stored_amount")]
    credit_line_spent: Money,
    #[serde(default)]
    credit_line_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    price_book: String,
}

impl From<&Account> for AccountV1 {
    fn from(a: &Account) -> Self {
        AccountV1 {
            id: a.id.0,
            external_id: a.external_id.clone(),
            unit: a.unit,
            unit_scale: a.unit_scale,
            status: a.status.as_str().into(),
            credit_line_limit: a.credit_line_limit,
            credit_line_used: a.credit_line_used,
            credit_line_held: a.credit_line_held,
            credit_line_price: a.credit_line_price,
            currency: a.currency,
            created_at: a.created_at,
            open_holds: a.open_holds,
            entry_seq: a.entry_seq,
            last_hash: a.last_hash.clone(),
            low_balance: a.low_balance.into(),
            low_balance_base: a.low_balance_base,
            alert_level: a.alert_level.as_str().into(),
            credit_line_spent: a.credit_line_spent,
            credit_line_until: a.credit_line_until,
            price_book: a.price_book.clone(),
        }
    }
}

impl TryFrom<AccountV1> for Account {
    type Error = DecodeError;

    fn try_from(a: AccountV1) -> Decoded<Account> {
        Ok(Account {
            id: AccountId(a.id),
            external_id: a.external_id,
            unit: a.unit,
            unit_scale: a.unit_scale,
            status: name(&a.status)?,
            credit_line_limit: a.credit_line_limit,
            credit_line_used: a.credit_line_used,
            credit_line_held: a.credit_line_held,
            credit_line_price: a.credit_line_price,
            currency: a.currency,
            created_at: a.created_at,
            open_holds: a.open_holds,
            entry_seq: a.entry_seq,
            last_hash: a.last_hash,
            low_balance: a.low_balance.try_into()?,
            low_balance_base: a.low_balance_base,
            alert_level: name(&a.alert_level)?,
            credit_line_spent: a.credit_line_spent,
            credit_line_until: a.credit_line_until,
            // An outcome's account is an answer, never state a batch starts from.
            version: 0,
            price_book: a.price_book,
            carries: Default::default(),
            cost_carries: Default::default(),
            budgets: Vec::new(),
            auto_top_up: None,
            recurring_grants: Vec::new(),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct LotV1 {
    id: Uuid,
    account_id: Uuid,
    kind: String,
    status: String,
    priority: i32,
    #[serde(with = "super::stored_amount")]
    granted: Quantity,
    #[serde(with = "super::stored_amount")]
    remaining: Quantity,
    #[serde(with = "super::stored_amount")]
    held: Quantity,
    effective_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    scope: Vec<String>,
    #[serde(with = "super::stored_amount")]
    cost_basis: Money,
    #[serde(with = "super::stored_amount")]
    money_deferred: Money,
    /// Empty for a lot with no currency.
    #[serde(with = "super::stored_code::optional")]
    currency: Option<Currency>,
    reference: String,
    created_at: DateTime<Utc>,
}

impl From<&Lot> for LotV1 {
    fn from(l: &Lot) -> Self {
        LotV1 {
            id: l.id.0,
            account_id: l.account_id.0,
            kind: l.kind.as_str().into(),
            status: l.status.as_str().into(),
            priority: l.priority,
            granted: l.granted,
            remaining: l.remaining,
            held: l.held,
            effective_at: l.effective_at,
            expires_at: l.expires_at,
            scope: l.scope.clone(),
            cost_basis: l.cost_basis,
            money_deferred: l.money_deferred,
            currency: l.currency,
            reference: l.reference.clone(),
            created_at: l.created_at,
        }
    }
}

impl TryFrom<LotV1> for Lot {
    type Error = DecodeError;

    fn try_from(l: LotV1) -> Decoded<Lot> {
        Ok(Lot {
            id: LotId(l.id),
            account_id: AccountId(l.account_id),
            kind: name(&l.kind)?,
            status: name(&l.status)?,
            priority: l.priority,
            granted: l.granted,
            remaining: l.remaining,
            held: l.held,
            effective_at: l.effective_at,
            expires_at: l.expires_at,
            scope: l.scope,
            cost_basis: l.cost_basis,
            money_deferred: l.money_deferred,
            currency: l.currency,
            reference: l.reference,
            created_at: l.created_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct HoldV1 {
    id: Uuid,
    account_id: Uuid,
    status: String,
    #[serde(with = "super::stored_amount")]
    authorized: Quantity,
    #[serde(with = "super::stored_amount")]
    captured: Quantity,
    reserved: Vec<DrawV1>,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    meter: String,
    reference: String,
    // Came with rating: absent for a hold authorized by quantity, and in every earlier row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    price_book: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    price_version: Option<u32>,
    // Came with budgets: absent for a hold with no subject or budget, and in every earlier row.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    subject: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    budgets: Vec<Uuid>,
}

impl From<&Hold> for HoldV1 {
    fn from(h: &Hold) -> Self {
        HoldV1 {
            id: h.id.0,
            account_id: h.account_id.0,
            status: h.status.as_str().into(),
            authorized: h.authorized,
            captured: h.captured,
            reserved: draws_v1(&h.reserved),
            expires_at: h.expires_at,
            created_at: h.created_at,
            meter: h.meter.clone(),
            reference: h.reference.clone(),
            price_book: h.price.as_ref().map(|p| p.book.clone()),
            price_version: h.price.as_ref().map(|p| p.version),
            subject: h.subject.clone(),
            budgets: h.budgets.iter().map(|b| b.0).collect(),
        }
    }
}

impl TryFrom<HoldV1> for Hold {
    type Error = DecodeError;

    fn try_from(h: HoldV1) -> Decoded<Hold> {
        Ok(Hold {
            id: HoldId(h.id),
            account_id: AccountId(h.account_id),
            status: name(&h.status)?,
            authorized: h.authorized,
            captured: h.captured,
            reserved: draws(h.reserved),
            expires_at: h.expires_at,
            created_at: h.created_at,
            meter: h.meter,
            reference: h.reference,
            price: match (h.price_book, h.price_version) {
                (Some(book), Some(version)) => Some(PriceRef { book, version }),
                _ => None,
            },
            subject: h.subject,
            budgets: h.budgets.into_iter().map(BudgetId).collect(),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct CommitmentV1 {
    id: Uuid,
    account_id: Uuid,
    kind: String,
    status: String,
    term_start: DateTime<Utc>,
    term_end: DateTime<Utc>,
    #[serde(with = "super::stored_amount")]
    quantity: Quantity,
    #[serde(with = "super::stored_amount")]
    price: Money,
    #[serde(with = "super::stored_amount")]
    minimum_spend: Money,
    #[serde(with = "super::stored_code")]
    currency: Currency,
    lot_id: Option<Uuid>,
    #[serde(with = "super::stored_amount")]
    spent_at_start: Money,
    #[serde(with = "super::stored_amount")]
    used_at_start: Quantity,
    /// Quantity (prepaid) or money (postpaid), as the kind says.
    #[serde(with = "rust_decimal::serde::str")]
    consumed: Decimal,
    #[serde(with = "super::stored_amount")]
    shortfall: Money,
    true_up_entry_id: Option<Uuid>,
    notified: bool,
    reference: String,
    created_at: DateTime<Utc>,
}

impl From<&Commitment> for CommitmentV1 {
    fn from(c: &Commitment) -> Self {
        CommitmentV1 {
            id: c.id.0,
            account_id: c.account_id.0,
            kind: c.kind.as_str().into(),
            status: c.status.as_str().into(),
            term_start: c.term_start,
            term_end: c.term_end,
            quantity: c.quantity,
            price: c.price,
            minimum_spend: c.minimum_spend,
            currency: c.currency,
            lot_id: c.lot_id.map(|l| l.0),
            spent_at_start: c.spent_at_start,
            used_at_start: c.used_at_start,
            consumed: match c.consumed {
                Consumed::Quantity(q) => q.get(),
                Consumed::Money(m) => m.get(),
            },
            shortfall: c.shortfall,
            true_up_entry_id: c.true_up_entry_id.map(|e| e.0),
            notified: c.notified,
            reference: c.reference.clone(),
            created_at: c.created_at,
        }
    }
}

impl TryFrom<CommitmentV1> for Commitment {
    type Error = DecodeError;

    fn try_from(c: CommitmentV1) -> Decoded<Commitment> {
        let kind = name(&c.kind)?;
        let consumed = match kind {
            CommitmentKind::Prepaid => Quantity::new(c.consumed).map(Consumed::Quantity),
            CommitmentKind::Postpaid => Money::new(c.consumed).map(Consumed::Money),
        };
        Ok(Commitment {
            id: CommitmentId(c.id),
            account_id: AccountId(c.account_id),
            kind,
            status: name(&c.status)?,
            term_start: c.term_start,
            term_end: c.term_end,
            quantity: c.quantity,
            price: c.price,
            minimum_spend: c.minimum_spend,
            currency: c.currency,
            lot_id: c.lot_id.map(LotId),
            spent_at_start: c.spent_at_start,
            used_at_start: c.used_at_start,
            consumed: consumed.ok_or(DecodeError::Negative("consumed"))?,
            shortfall: c.shortfall,
            true_up_entry_id: c.true_up_entry_id.map(EntryId),
            notified: c.notified,
            reference: c.reference,
            created_at: c.created_at,
        })
    }
}
