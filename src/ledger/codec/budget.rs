//! Version 1 of an account's budgets (`accounts.budgets`: a JSON array, one object per budget in
//! id order, the empty string when there are none) and of the budgets a hold was authorized
//! against (`holds.budgets`: a JSON array of ids, the empty string when none). A budget's object
//! is also what an outcome carries. A velocity limit's object also has its `window`: its length,
//! its requests cap if any, and its slots in time order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{name, to_json, DecodeError, Decoded};
use crate::ledger::budget::window::{check_seconds, Slot, Window};
use crate::ledger::budget::{check_alerts, Budget, Period};
use crate::ledger::*;

#[derive(Serialize, Deserialize)]
pub(super) struct BudgetV1 {
    id: Uuid,
    subject: String,
    meter: String,
    #[serde(with = "super::stored_amount")]
    limit: Quantity,
    period: String,
    time_zone: String,
    hard: bool,
    alerts: Vec<u32>,
    created_at: DateTime<Utc>,
    period_start: DateTime<Utc>,
    #[serde(with = "super::stored_amount")]
    spent: Quantity,
    #[serde(with = "super::stored_amount")]
    held: Quantity,
    alerted: u32,
    hit: bool,
    // Came with velocity limits: present exactly when the period is "rolling".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<WindowV1>,
}

#[derive(Serialize, Deserialize)]
struct WindowV1 {
    seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requests: Option<u32>,
    slots: Vec<SlotV1>,
}

#[derive(Serialize, Deserialize)]
struct SlotV1 {
    at: DateTime<Utc>,
    #[serde(with = "super::stored_amount")]
    spent: Quantity,
    requests: u32,
}

impl From<&Window> for WindowV1 {
    fn from(w: &Window) -> Self {
        WindowV1 {
            seconds: w.seconds,
            requests: w.requests,
            slots: (w.slots.iter())
                .map(|s| SlotV1 {
                    at: s.at,
                    spent: s.spent,
                    requests: s.requests,
                })
                .collect(),
        }
    }
}

impl TryFrom<WindowV1> for Window {
    type Error = DecodeError;

    fn try_from(w: WindowV1) -> Decoded<Window> {
        check_seconds(w.seconds).map_err(|_| DecodeError::Shape("a window's seconds"))?;
        let slots: Vec<Slot> = (w.slots.into_iter())
            .map(|s| Slot {
                at: s.at,
                spent: s.spent,
                requests: s.requests,
            })
            .collect();
        if slots.windows(2).any(|pair| pair[0].at >= pair[1].at) {
            return Err(DecodeError::Shape("a window's slots in time order"));
        }
        Ok(Window {
            seconds: w.seconds,
            requests: w.requests,
            slots,
        })
    }
}

impl From<&Budget> for BudgetV1 {
    fn from(b: &Budget) -> Self {
        BudgetV1 {
            id: b.id.0,
            subject: b.subject.clone(),
            meter: b.meter.clone(),
            limit: b.limit,
            period: b.period.as_str().into(),
            time_zone: b.time_zone.name().into(),
            hard: b.hard,
            alerts: b.alerts.clone(),
            created_at: b.created_at,
            period_start: b.period_start,
            spent: b.spent,
            held: b.held,
            alerted: b.alerted,
            hit: b.hit,
            window: b.window.as_ref().map(WindowV1::from),
        }
    }
}

impl TryFrom<BudgetV1> for Budget {
    type Error = DecodeError;

    fn try_from(b: BudgetV1) -> Decoded<Budget> {
        let period: Period = name(&b.period)?;
        if (period == Period::Rolling) != b.window.is_some() {
            return Err(DecodeError::Shape("a window exactly with a rolling period"));
        }
        Ok(Budget {
            id: BudgetId(b.id),
            subject: b.subject,
            meter: b.meter,
            limit: b.limit,
            period,
            time_zone: b
                .time_zone
                .parse()
                .map_err(|_| DecodeError::Shape("a time zone"))?,
            hard: b.hard,
            alerts: check_alerts(b.alerts).map_err(|_| DecodeError::Shape("alert percentages"))?,
            created_at: b.created_at,
            period_start: b.period_start,
            spent: b.spent,
            held: b.held,
            alerted: b.alerted,
            hit: b.hit,
            window: b.window.map(Window::try_from).transpose()?,
        })
    }
}

pub fn encode_budgets(budgets: &[Budget]) -> String {
    match budgets.is_empty() {
        true => String::new(),
        false => to_json(&budgets.iter().map(BudgetV1::from).collect::<Vec<_>>()),
    }
}

pub fn decode_budgets(text: &str) -> Decoded<Vec<Budget>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let stored: Vec<BudgetV1> = serde_json::from_str(text)?;
    stored.into_iter().map(Budget::try_from).collect()
}

pub fn encode_budget_ids(ids: &[BudgetId]) -> String {
    match ids.is_empty() {
        true => String::new(),
        false => to_json(&ids.iter().map(|b| b.0).collect::<Vec<_>>()),
    }
}

pub fn decode_budget_ids(text: &str) -> Decoded<Vec<BudgetId>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = serde_json::from_str(text)?;
    Ok(ids.into_iter().map(BudgetId).collect())
}
