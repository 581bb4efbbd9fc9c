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
        }
    }
}
