//! The ledger's nouns: accounts, lots, holds and their identifiers.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

id_type!(
    /// Our id of an account.
    AccountId
);
id_type!(
    /// A lot (one block of granted credit).
    LotId
);
id_type!(
    /// A hold (an authorization).
    HoldId
);
id_type!(
    /// A journal entry.
    EntryId
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Frozen,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub external_id: String,
    pub unit: String,
    pub unit_scale: u32,
    pub status: AccountStatus,
    pub credit_line_limit: Decimal,
    pub credit_line_used: Decimal,
    pub credit_line_held: Decimal,
    pub credit_line_price: Decimal,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub open_holds: u32,
    /// Number of entries on this account; the next entry gets `entry_seq + 1`.
    pub entry_seq: i64,
    /// Hash of the account's latest entry (hex); the chain starts from the empty string.
    pub last_hash: String,
}

impl Account {
    /// What the credit line can still lend.
    pub fn credit_line_free(&self) -> Decimal {
        (self.credit_line_limit - self.credit_line_used - self.credit_line_held).max(Decimal::ZERO)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotKind {
    Paid,
    Promotional,
}

/// What the store keeps. `Pending` (not yet effective) is derived from `effective_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotStatus {
    Active,
    Depleted,
    Expired,
    Voided,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    pub id: LotId,
    pub account_id: AccountId,
    pub kind: LotKind,
    pub status: LotStatus,
    pub priority: i32,
    pub granted: Decimal,
    pub remaining: Decimal,
    /// Reserved by open holds; always ≤ `remaining`.
    pub held: Decimal,
    pub effective_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scope: Vec<String>,
    pub cost_basis: Decimal,
    pub money_deferred: Decimal,
    pub currency: String,
    pub reference: String,
    pub created_at: DateTime<Utc>,
}

impl Lot {
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether the lot may be drawn on at `now` for `meter` (empty meter: unscoped lots only).
    pub fn usable_at(&self, now: DateTime<Utc>, meter: &str) -> bool {
        self.status == LotStatus::Active
            && self.effective_at <= now
            && !self.is_expired_at(now)
            && self.in_scope(meter)
    }

    pub fn in_scope(&self, meter: &str) -> bool {
        self.scope.is_empty() || (!meter.is_empty() && self.scope.iter().any(|s| s == meter))
    }

    pub fn free(&self) -> Decimal {
        self.remaining - self.held
    }

    /// The drawdown order: lower priority number first; then the soonest expiry (never-expiring
    /// last); then promotional before paid; then oldest first (the id breaks exact ties).
    pub fn drawdown_key(&self) -> impl Ord + '_ {
        (
            self.priority,
            self.expires_at.is_none(),
            self.expires_at,
            self.kind == LotKind::Paid,
            self.created_at,
            self.id,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Open,
    Captured,
    Released,
    Expired,
}

/// One lot's share of a hold or a charge; `lot_id: None` is the credit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    pub lot_id: Option<LotId>,
    pub quantity: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: HoldId,
    pub account_id: AccountId,
    pub status: HoldStatus,
    pub authorized: Decimal,
    pub captured: Decimal,
    /// What the hold still reserves, per lot, in drawdown order.
    pub reserved: Vec<Draw>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub meter: String,
    pub reference: String,
}

impl Hold {
    pub fn held(&self) -> Decimal {
        self.reserved.iter().map(|d| d.quantity).sum()
    }
}
