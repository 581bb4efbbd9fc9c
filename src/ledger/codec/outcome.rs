//! Version 1 of a stored outcome: what a retry with the same key is answered.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::budget::BudgetV1;
use super::rating::RatedV1;
use super::records::*;
use super::refill::{AutoTopUpV1, RecurringGrantV1};
use super::{DecodeError, Decoded};
use crate::ledger::rating::Rated;
use crate::ledger::*;

#[derive(Serialize, Deserialize)]
pub(super) struct SweepV1 {
    lots_expired: u32,
    holds_expired: u32,
    commitments_ended: u32,
    notices: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    budgets_reset: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    grants_posted: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

// Built and dropped around one write or read; boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize)]
pub(super) enum OutcomeV1 {
    Account(AccountV1),
    Granted {
        lot: LotV1,
        entry_id: Uuid,
    },
    Voided {
        lot: LotV1,
        entry_id: Uuid,
        #[serde(with = "super::stored_amount")]
        quantity_voided: Quantity,
        #[serde(with = "super::stored_amount")]
        money_refunded: Money,
    },
    Authorized {
        hold: HoldV1,
        #[serde(with = "super::stored_amount")]
        available: Quantity,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rated: Option<RatedV1>,
    },
    Captured {
        hold: HoldV1,
        entry_id: Option<Uuid>,
        #[serde(with = "super::stored_amount")]
        charged: Quantity,
        draws: Vec<DrawV1>,
        #[serde(with = "super::stored_amount")]
        released: Quantity,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rated: Option<RatedV1>,
    },
    Released {
        hold: HoldV1,
        #[serde(with = "super::stored_amount")]
        released: Quantity,
    },
    Extended {
        hold: HoldV1,
    },
    Debited {
        entry_id: Uuid,
        #[serde(with = "super::stored_amount")]
        charged: Quantity,
        draws: Vec<DrawV1>,
        #[serde(with = "super::stored_amount")]
        available: Quantity,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rated: Option<RatedV1>,
    },
    Adjusted {
        entry_id: Uuid,
        lot: Option<LotV1>,
        draws: Vec<DrawV1>,
        #[serde(with = "super::stored_amount")]
        quantity: Quantity,
        #[serde(with = "super::stored_amount")]
        money: Money,
    },
    CommitmentCreated {
        commitment: CommitmentV1,
        lot: Option<LotV1>,
        entry_id: Option<Uuid>,
    },
    Swept(SweepV1),
    Budget(BudgetV1),
    BudgetDeleted(BudgetV1),
    AutoTopUp(AutoTopUpV1),
    RecurringGrant {
        grant: RecurringGrantV1,
        lot: LotV1,
    },
    RecurringGrantDeleted(RecurringGrantV1),
}

impl From<&Outcome> for OutcomeV1 {
    fn from(o: &Outcome) -> Self {
        match o {
            Outcome::Account(a) => OutcomeV1::Account(a.into()),
            Outcome::Granted { lot, entry_id } => OutcomeV1::Granted {
                lot: lot.into(),
                entry_id: entry_id.0,
            },
            Outcome::Voided {
                lot,
                entry_id,
                quantity_voided,
                money_refunded,
            } => OutcomeV1::Voided {
                lot: lot.into(),
                entry_id: entry_id.0,
                quantity_voided: *quantity_voided,
                money_refunded: *money_refunded,
            },
            Outcome::Authorized {
                hold,
                available,
                rated,
            } => OutcomeV1::Authorized {
                hold: hold.into(),
                available: *available,
                rated: rated.as_ref().map(RatedV1::from),
            },
            Outcome::Captured {
                hold,
                entry_id,
                charged,
                draws,
                released,
                rated,
            } => OutcomeV1::Captured {
                hold: hold.into(),
                entry_id: entry_id.map(|e| e.0),
                charged: *charged,
                draws: draws_v1(draws),
                released: *released,
                rated: rated.as_ref().map(RatedV1::from),
            },
            Outcome::Released { hold, released } => OutcomeV1::Released {
                hold: hold.into(),
                released: *released,
            },
            Outcome::Extended { hold } => OutcomeV1::Extended { hold: hold.into() },
            Outcome::Debited {
                entry_id,
                charged,
                draws,
                available,
                rated,
            } => OutcomeV1::Debited {
                entry_id: entry_id.0,
                charged: *charged,
                draws: draws_v1(draws),
                available: *available,
                rated: rated.as_ref().map(RatedV1::from),
            },
            Outcome::Adjusted {
                entry_id,
                lot,
                draws,
                quantity,
                money,
            } => OutcomeV1::Adjusted {
                entry_id: entry_id.0,
                lot: lot.as_ref().map(LotV1::from),
                draws: draws_v1(draws),
                quantity: *quantity,
                money: *money,
            },
            Outcome::CommitmentCreated {
                commitment,
                lot,
                entry_id,
            } => OutcomeV1::CommitmentCreated {
                commitment: commitment.as_ref().into(),
                lot: lot.as_deref().map(LotV1::from),
                entry_id: entry_id.map(|e| e.0),
            },
            Outcome::Swept(s) => OutcomeV1::Swept(SweepV1 {
                lots_expired: s.lots_expired,
                holds_expired: s.holds_expired,
                commitments_ended: s.commitments_ended,
                notices: s.notices,
                budgets_reset: s.budgets_reset,
                grants_posted: s.grants_posted,
            }),
            Outcome::Budget(b) => OutcomeV1::Budget(b.as_ref().into()),
            Outcome::BudgetDeleted(b) => OutcomeV1::BudgetDeleted(b.as_ref().into()),
            Outcome::AutoTopUp(a) => OutcomeV1::AutoTopUp(a.as_ref().into()),
            Outcome::RecurringGrant { grant, lot } => OutcomeV1::RecurringGrant {
                grant: grant.as_ref().into(),
                lot: lot.as_ref().into(),
            },
            Outcome::RecurringGrantDeleted(g) => {
                OutcomeV1::RecurringGrantDeleted(g.as_ref().into())
            }
        }
    }
}

impl TryFrom<OutcomeV1> for Outcome {
    type Error = DecodeError;

    fn try_from(o: OutcomeV1) -> Decoded<Outcome> {
        Ok(match o {
            OutcomeV1::Account(a) => Outcome::Account(a.try_into()?),
            OutcomeV1::Granted { lot, entry_id } => Outcome::Granted {
                lot: lot.try_into()?,
                entry_id: EntryId(entry_id),
            },
            OutcomeV1::Voided {
                lot,
                entry_id,
                quantity_voided,
                money_refunded,
            } => Outcome::Voided {
                lot: lot.try_into()?,
                entry_id: EntryId(entry_id),
                quantity_voided,
                money_refunded,
            },
            OutcomeV1::Authorized {
                hold,
                available,
                rated,
            } => Outcome::Authorized {
                hold: hold.try_into()?,
                available,
                rated: rated.map(Rated::try_from).transpose()?,
            },
            OutcomeV1::Captured {
                hold,
                entry_id,
                charged,
                draws: d,
                released,
                rated,
            } => Outcome::Captured {
                hold: hold.try_into()?,
                entry_id: entry_id.map(EntryId),
                charged,
                draws: draws(d),
                released,
                rated: rated.map(Rated::try_from).transpose()?,
            },
            OutcomeV1::Released { hold, released } => Outcome::Released {
                hold: hold.try_into()?,
                released,
            },
            OutcomeV1::Extended { hold } => Outcome::Extended {
                hold: hold.try_into()?,
            },
            OutcomeV1::Debited {
                entry_id,
                charged,
                draws: d,
                available,
                rated,
            } => Outcome::Debited {
                entry_id: EntryId(entry_id),
                charged,
                draws: draws(d),
                available,
                rated: rated.map(Rated::try_from).transpose()?,
            },
            OutcomeV1::Adjusted {
                entry_id,
                lot,
                draws: d,
                quantity,
                money,
            } => Outcome::Adjusted {
                entry_id: EntryId(entry_id),
                lot: lot.map(Lot::try_from).transpose()?,
                draws: draws(d),
                quantity,
                money,
            },
            OutcomeV1::CommitmentCreated {
                commitment,
                lot,
                entry_id,
            } => Outcome::CommitmentCreated {
                commitment: Box::new(commitment.try_into()?),
                lot: lot.map(Lot::try_from).transpose()?.map(Box::new),
                entry_id: entry_id.map(EntryId),
            },
            OutcomeV1::Swept(s) => Outcome::Swept(SweepSummary {
                lots_expired: s.lots_expired,
                holds_expired: s.holds_expired,
                commitments_ended: s.commitments_ended,
                notices: s.notices,
                budgets_reset: s.budgets_reset,
                grants_posted: s.grants_posted,
            }),
            OutcomeV1::Budget(b) => Outcome::Budget(Box::new(b.try_into()?)),
            OutcomeV1::BudgetDeleted(b) => Outcome::BudgetDeleted(Box::new(b.try_into()?)),
            OutcomeV1::AutoTopUp(a) => Outcome::AutoTopUp(Box::new(a.into())),
            OutcomeV1::RecurringGrant { grant, lot } => Outcome::RecurringGrant {
                grant: Box::new(grant.try_into()?),
                lot: Box::new(lot.try_into()?),
            },
            OutcomeV1::RecurringGrantDeleted(g) => {
                Outcome::RecurringGrantDeleted(Box::new(g.try_into()?))
            }
        })
    }
}
