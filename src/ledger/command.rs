//! What callers ask the ledger to do, and what it answers. Commands are already parsed: amounts
//! are [`Quantity`]/[`Money`], ids are typed. Every command carries its idempotency key.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::amount::{Money, Quantity};
use super::types::{
    Account, AccountId, AccountStatus, Draw, EntryId, Hold, HoldId, Lot, LotId, LotKind,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    CreateAccount(CreateAccount),
    UpdateAccount(UpdateAccount),
    Grant(Grant),
    VoidGrant(VoidGrant),
    Authorize(Authorize),
    Capture(Capture),
    Release(Release),
    ExtendHold(ExtendHold),
    Debit(Debit),
}

/// Which records a command needs: the account it works on, or the hold that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    NewAccount,
    Account(AccountId),
    Hold(HoldId),
}

impl Command {
    pub fn idempotency_key(&self) -> &str {
        match self {
            Command::CreateAccount(c) => &c.idempotency_key,
            Command::UpdateAccount(c) => &c.idempotency_key,
            Command::Grant(c) => &c.idempotency_key,
            Command::VoidGrant(c) => &c.idempotency_key,
            Command::Authorize(c) => &c.idempotency_key,
            Command::Capture(c) => &c.idempotency_key,
            Command::Release(c) => &c.idempotency_key,
            Command::ExtendHold(c) => &c.idempotency_key,
            Command::Debit(c) => &c.idempotency_key,
        }
    }

    pub fn target(&self) -> Target {
        match self {
            Command::CreateAccount(_) => Target::NewAccount,
            Command::UpdateAccount(c) => Target::Account(c.account_id),
            Command::Grant(c) => Target::Account(c.account_id),
            Command::VoidGrant(c) => Target::Account(c.account_id),
            Command::Authorize(c) => Target::Account(c.account_id),
            Command::Debit(c) => Target::Account(c.account_id),
            Command::Capture(c) => Target::Hold(c.hold_id),
            Command::Release(c) => Target::Hold(c.hold_id),
            Command::ExtendHold(c) => Target::Hold(c.hold_id),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateAccount(_) => "create_account",
            Command::UpdateAccount(_) => "update_account",
            Command::Grant(_) => "grant",
            Command::VoidGrant(_) => "void_grant",
            Command::Authorize(_) => "authorize",
            Command::Capture(_) => "capture",
            Command::Release(_) => "release",
            Command::ExtendHold(_) => "extend_hold",
            Command::Debit(_) => "debit",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateAccount {
    pub idempotency_key: String,
    pub external_id: String,
    pub unit: String,
    pub unit_scale: u32,
    pub credit_line_limit: Decimal,
    pub credit_line_price: Money,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateAccount {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub credit_line_limit: Option<Decimal>,
    pub credit_line_price: Option<Money>,
    pub status: Option<AccountStatus>,
}

/// A top-up (paid, with a price) or a promotional grant (price zero).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub kind: LotKind,
    pub quantity: Quantity,
    pub price: Money,
    pub currency: String,
    pub priority: i32,
    pub effective_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scope: Vec<String>,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoidGrant {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub lot_id: LotId,
    pub reason: String,
    pub release_holds: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorize {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub quantity: Quantity,
    /// `None`: the server's default TTL.
    pub ttl_ms: Option<u64>,
    pub meter: String,
    pub reference: String,
}

/// What a capture beyond what the hold still reserves does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overage {
    Reject,
    Clamp,
    DrawAvailable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    pub idempotency_key: String,
    pub hold_id: HoldId,
    pub quantity: Quantity,
    pub is_final: bool,
    pub overage: Overage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub idempotency_key: String,
    pub hold_id: HoldId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtendHold {
    pub idempotency_key: String,
    pub hold_id: HoldId,
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Debit {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub quantity: Quantity,
    pub meter: String,
    pub reference: String,
}

/// The result of a successful command, exactly as first answered: an idempotent replay returns
/// this same value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Account(Account),
    Granted {
        lot: Lot,
        entry_id: EntryId,
    },
    Voided {
        lot: Lot,
        entry_id: EntryId,
        quantity_voided: Decimal,
        money_refunded: Decimal,
    },
    Authorized {
        hold: Hold,
        available: Decimal,
    },
    Captured {
        hold: Hold,
        /// `None` when nothing was charged (a clamped capture of an empty hold).
        entry_id: Option<EntryId>,
        charged: Decimal,
        draws: Vec<Draw>,
        released: Decimal,
    },
    Released {
        hold: Hold,
        released: Decimal,
    },
    Extended {
        hold: Hold,
    },
    Debited {
        entry_id: EntryId,
        charged: Decimal,
        draws: Vec<Draw>,
        available: Decimal,
    },
}
