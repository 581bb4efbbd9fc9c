//! Version 1 of an event's stored payload.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ledger::*;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(super) enum EventV1 {
    LowBalance {
        #[serde(with = "super::stored_amount")]
        available: Quantity,
        #[serde(with = "super::stored_amount")]
        threshold: Quantity,
    },
    Depleted {
        #[serde(with = "super::stored_amount")]
        available: Quantity,
    },
    LotExpired {
        lot_id: Uuid,
        #[serde(with = "super::stored_amount")]
        quantity: Quantity,
        #[serde(with = "super::stored_amount")]
        money: Money,
        /// Empty for a lot with no currency.
        #[serde(with = "super::stored_code::optional")]
        currency: Option<Currency>,
        expired_at: DateTime<Utc>,
    },
    HoldExpired {
        hold_id: Uuid,
        #[serde(with = "super::stored_amount")]
        released: Quantity,
        expired_at: DateTime<Utc>,
    },
    CommitmentEnding {
        commitment_id: Uuid,
        term_end: DateTime<Utc>,
    },
    LowBalanceRecovered {
        #[serde(with = "super::stored_amount")]
        available: Quantity,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "super::stored_amount::optional"
        )]
        threshold: Option<Quantity>,
    },
    BudgetAlert {
        budget_id: Uuid,
        subject: String,
        meter: String,
        percent: u32,
        #[serde(with = "super::stored_amount")]
        spent: Quantity,
        #[serde(with = "super::stored_amount")]
        limit: Quantity,
    },
    BudgetExceeded {
        budget_id: Uuid,
        subject: String,
        meter: String,
        #[serde(with = "super::stored_amount")]
        limit: Quantity,
        #[serde(with = "super::stored_amount")]
        spent: Quantity,
        #[serde(with = "super::stored_amount")]
        held: Quantity,
        #[serde(with = "super::stored_amount")]
        requested: Quantity,
    },
    BudgetReset {
        budget_id: Uuid,
        subject: String,
        meter: String,
        ended: DateTime<Utc>,
        #[serde(with = "super::stored_amount")]
        spent: Quantity,
        period_start: DateTime<Utc>,
    },
    TopUpRequested {
        request_id: Uuid,
        #[serde(with = "super::stored_amount")]
        amount: Quantity,
        #[serde(with = "super::stored_amount")]
        available: Quantity,
        #[serde(with = "super::stored_amount")]
        threshold: Quantity,
        #[serde(with = "super::stored_amount")]
        target: Quantity,
    },
    TopUpFulfilled {
        request_id: Uuid,
        #[serde(with = "super::stored_amount")]
        requested: Quantity,
        #[serde(with = "super::stored_amount")]
        credited: Quantity,
        lot_id: Uuid,
    },
    TopUpFailed {
        request_id: Uuid,
        #[serde(with = "super::stored_amount")]
        amount: Quantity,
        reason: String,
        failures: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<DateTime<Utc>>,
    },
    RecurringGrantPosted {
        grant_id: Uuid,
        lot_id: Uuid,
        #[serde(with = "super::stored_amount")]
        quantity: Quantity,
        #[serde(with = "super::stored_amount")]
        rolled_over: Quantity,
        #[serde(with = "super::stored_amount")]
        expired: Quantity,
        period_start: DateTime<Utc>,
        period_end: DateTime<Utc>,
    },
}

impl From<&EventData> for EventV1 {
    fn from(e: &EventData) -> Self {
        match e.clone() {
            EventData::LowBalance {
                available,
                threshold,
            } => EventV1::LowBalance {
                available,
                threshold,
            },
            EventData::Depleted { available } => EventV1::Depleted { available },
            EventData::LotExpired {
                lot_id,
                quantity,
                money,
                currency,
                expired_at,
            } => EventV1::LotExpired {
                lot_id: lot_id.0,
                quantity,
                money,
                currency,
                expired_at,
            },
            EventData::HoldExpired {
                hold_id,
                released,
                expired_at,
            } => EventV1::HoldExpired {
                hold_id: hold_id.0,
                released,
                expired_at,
            },
            EventData::CommitmentEnding {
                commitment_id,
                term_end,
            } => EventV1::CommitmentEnding {
                commitment_id: commitment_id.0,
                term_end,
            },
            EventData::LowBalanceRecovered {
                available,
                threshold,
            } => EventV1::LowBalanceRecovered {
                available,
                threshold,
            },
            EventData::BudgetAlert {
                budget_id,
                subject,
                meter,
                percent,
                spent,
                limit,
            } => EventV1::BudgetAlert {
                budget_id: budget_id.0,
                subject,
                meter,
                percent,
                spent,
                limit,
            },
            EventData::BudgetExceeded {
                budget_id,
                subject,
                meter,
                limit,
                spent,
                held,
                requested,
            } => EventV1::BudgetExceeded {
                budget_id: budget_id.0,
                subject,
                meter,
                limit,
                spent,
                held,
                requested,
            },
            EventData::BudgetReset {
                budget_id,
                subject,
                meter,
                ended,
                spent,
                period_start,
            } => EventV1::BudgetReset {
                budget_id: budget_id.0,
                subject,
                meter,
                ended,
                spent,
                period_start,
            },
            EventData::TopUpRequested {
                request_id,
                amount,
                available,
                threshold,
                target,
            } => EventV1::TopUpRequested {
                request_id: request_id.0,
                amount,
                available,
                threshold,
                target,
            },
            EventData::TopUpFulfilled {
                request_id,
                requested,
                credited,
                lot_id,
            } => EventV1::TopUpFulfilled {
                request_id: request_id.0,
                requested,
                credited,
                lot_id: lot_id.0,
            },
            EventData::TopUpFailed {
                request_id,
                amount,
                reason,
                failures,
                retry_at,
            } => EventV1::TopUpFailed {
                request_id: request_id.0,
                amount,
                reason,
                failures,
                retry_at,
            },
            EventData::RecurringGrantPosted {
                grant_id,
                lot_id,
                quantity,
                rolled_over,
                expired,
                period_start,
                period_end,
            } => EventV1::RecurringGrantPosted {
                grant_id: grant_id.0,
                lot_id: lot_id.0,
                quantity,
                rolled_over,
                expired,
                period_start,
                period_end,
            },
        }
    }
}

impl From<EventV1> for EventData {
    fn from(e: EventV1) -> Self {
        match e {
            EventV1::LowBalance {
                available,
                threshold,
            } => EventData::LowBalance {
                available,
                threshold,
            },
            EventV1::Depleted { available } => EventData::Depleted { available },
            EventV1::LotExpired {
                lot_id,
                quantity,
                money,
                currency,
                expired_at,
            } => EventData::LotExpired {
                lot_id: LotId(lot_id),
                quantity,
                money,
                currency,
                expired_at,
            },
            EventV1::HoldExpired {
                hold_id,
                released,
                expired_at,
            } => EventData::HoldExpired {
                hold_id: HoldId(hold_id),
                released,
                expired_at,
            },
            EventV1::CommitmentEnding {
                commitment_id,
                term_end,
            } => EventData::CommitmentEnding {
                commitment_id: CommitmentId(commitment_id),
                term_end,
            },
            EventV1::LowBalanceRecovered {
                available,
                threshold,
            } => EventData::LowBalanceRecovered {
                available,
                threshold,
            },
            EventV1::BudgetAlert {
                budget_id,
                subject,
                meter,
                percent,
                spent,
                limit,
            } => EventData::BudgetAlert {
                budget_id: BudgetId(budget_id),
                subject,
                meter,
                percent,
                spent,
                limit,
            },
            EventV1::BudgetExceeded {
                budget_id,
                subject,
                meter,
                limit,
                spent,
                held,
                requested,
            } => EventData::BudgetExceeded {
                budget_id: BudgetId(budget_id),
                subject,
                meter,
                limit,
                spent,
                held,
                requested,
            },
            EventV1::BudgetReset {
                budget_id,
                subject,
                meter,
                ended,
                spent,
                period_start,
            } => EventData::BudgetReset {
                budget_id: BudgetId(budget_id),
                subject,
                meter,
                ended,
                spent,
                period_start,
            },
            EventV1::TopUpRequested {
                request_id,
                amount,
                available,
                threshold,
                target,
            } => EventData::TopUpRequested {
                request_id: TopUpRequestId(request_id),
                amount,
                available,
                threshold,
                target,
            },
            EventV1::TopUpFulfilled {
                request_id,
                requested,
                credited,
                lot_id,
            } => EventData::TopUpFulfilled {
                request_id: TopUpRequestId(request_id),
                requested,
                credited,
                lot_id: LotId(lot_id),
            },
            EventV1::TopUpFailed {
                request_id,
                amount,
                reason,
                failures,
                retry_at,
            } => EventData::TopUpFailed {
                request_id: TopUpRequestId(request_id),
                amount,
                reason,
                failures,
                retry_at,
            },
            EventV1::RecurringGrantPosted {
                grant_id,
                lot_id,
                quantity,
                rolled_over,
                expired,
                period_start,
                period_end,
            } => EventData::RecurringGrantPosted {
                grant_id: RecurringGrantId(grant_id),
                lot_id: LotId(lot_id),
                quantity,
                rolled_over,
                expired,
                period_start,
                period_end,
            },
        }
    }
}
