//! Version 1 of an account's auto top-up (`accounts.auto_top_up`: a JSON object, the empty
//! string when never set) and of its recurring grants (`accounts.recurring_grants`: a JSON array
//! in id order, the empty string when none). Each object is also what an outcome carries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{name, to_json, DecodeError, Decoded};
use crate::ledger::budget::Period;
use crate::ledger::recurring::RecurringGrant;
use crate::ledger::top_up::{AutoTopUp, TopUpRequest};
use crate::ledger::*;

#[derive(Serialize, Deserialize)]
pub(super) struct AutoTopUpV1 {
    enabled: bool,
    #[serde(with = "super::stored_amount")]
    threshold: Quantity,
    #[serde(with = "super::stored_amount")]
    target: Quantity,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::stored_amount::optional"
    )]
    monthly_cap: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open: Option<RequestV1>,
    failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_at: Option<DateTime<Utc>>,
    month_start: DateTime<Utc>,
    #[serde(with = "super::stored_amount")]
    requested: Quantity,
}

#[derive(Serialize, Deserialize)]
struct RequestV1 {
    id: Uuid,
    #[serde(with = "super::stored_amount")]
    amount: Quantity,
    requested_at: DateTime<Utc>,
}

impl From<&AutoTopUp> for AutoTopUpV1 {
    fn from(a: &AutoTopUp) -> Self {
        AutoTopUpV1 {
            enabled: a.enabled,
            threshold: a.threshold,
            target: a.target,
            monthly_cap: a.monthly_cap,
            open: a.open.as_ref().map(|r| RequestV1 {
                id: r.id.0,
                amount: r.amount,
                requested_at: r.requested_at,
            }),
            failures: a.failures,
            retry_at: a.retry_at,
            month_start: a.month_start,
            requested: a.requested,
        }
    }
}

impl From<AutoTopUpV1> for AutoTopUp {
    fn from(a: AutoTopUpV1) -> Self {
        AutoTopUp {
            enabled: a.enabled,
            threshold: a.threshold,
            target: a.target,
            monthly_cap: a.monthly_cap,
            open: a.open.map(|r| TopUpRequest {
                id: TopUpRequestId(r.id),
                amount: r.amount,
                requested_at: r.requested_at,
            }),
            failures: a.failures,
            retry_at: a.retry_at,
            month_start: a.month_start,
            requested: a.requested,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct RecurringGrantV1 {
    id: Uuid,
    #[serde(with = "super::stored_amount")]
    quantity: Quantity,
    period: String,
    time_zone: String,
    kind: String,
    #[serde(with = "super::stored_amount")]
    price: Money,
    #[serde(with = "super::stored_code::optional")]
    currency: Option<Currency>,
    #[serde(with = "super::stored_amount")]
    rollover_cap: Quantity,
    created_at: DateTime<Utc>,
    next_at: DateTime<Utc>,
    granted: u32,
}

impl From<&RecurringGrant> for RecurringGrantV1 {
    fn from(g: &RecurringGrant) -> Self {
        RecurringGrantV1 {
            id: g.id.0,
            quantity: g.quantity,
            period: g.period.as_str().into(),
            time_zone: g.time_zone.name().into(),
            kind: g.kind.as_str().into(),
            price: g.price,
            currency: g.currency,
            rollover_cap: g.rollover_cap,
            created_at: g.created_at,
            next_at: g.next_at,
            granted: g.granted,
        }
    }
}

impl TryFrom<RecurringGrantV1> for RecurringGrant {
    type Error = DecodeError;

    fn try_from(g: RecurringGrantV1) -> Decoded<RecurringGrant> {
        let period: Period = name(&g.period)?;
        if matches!(period, Period::None | Period::Rolling) {
            return Err(DecodeError::Shape("a calendar period"));
        }
        Ok(RecurringGrant {
            id: RecurringGrantId(g.id),
            quantity: g.quantity,
            period,
            time_zone: g
                .time_zone
                .parse()
                .map_err(|_| DecodeError::Shape("a time zone"))?,
            kind: name(&g.kind)?,
            price: g.price,
            currency: g.currency,
            rollover_cap: g.rollover_cap,
            created_at: g.created_at,
            next_at: g.next_at,
            granted: g.granted,
        })
    }
}

pub fn encode_auto_top_up(auto: Option<&AutoTopUp>) -> String {
    auto.map_or_else(String::new, |a| to_json(&AutoTopUpV1::from(a)))
}

pub fn decode_auto_top_up(text: &str) -> Decoded<Option<AutoTopUp>> {
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(serde_json::from_str::<AutoTopUpV1>(text)?.into()))
}

pub fn encode_recurring_grants(grants: &[RecurringGrant]) -> String {
    match grants.is_empty() {
        true => String::new(),
        false => to_json(
            &grants
                .iter()
                .map(RecurringGrantV1::from)
                .collect::<Vec<_>>(),
        ),
    }
}

pub fn decode_recurring_grants(text: &str) -> Decoded<Vec<RecurringGrant>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let stored: Vec<RecurringGrantV1> = serde_json::from_str(text)?;
    stored.into_iter().map(RecurringGrant::try_from).collect()
}
