//! The ledger's nouns: accounts, lots, holds and their identifiers.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::amount::{Money, Percent, Quantity};
use super::code::{Currency, Unit};
use super::names::named;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
id_type!(
    /// A commitment (a contracted spend over a term).
    CommitmentId
);
id_type!(
    /// An event in the outbox.
    EventId
);
id_type!(
    /// A budget on an account.
    BudgetId
);
id_type!(
    /// A request auto top-up made to the billing system: the idempotency key of the `TopUp`
    /// that fulfils it.
    TopUpRequestId
);
id_type!(
    /// A recurring grant (an allowance granted every period).
    RecurringGrantId
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Frozen,
    Closed,
}

named!(AccountStatus { Active => "active", Frozen => "frozen", Closed => "closed" });

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub external_id: String,
    pub unit: Unit,
    pub unit_scale: u32,
    pub status: AccountStatus,
    pub credit_line_limit: Quantity,
    pub credit_line_used: Quantity,
    pub credit_line_held: Quantity,
    pub credit_line_price: Money,
    pub currency: Currency,
    pub created_at: DateTime<Utc>,
    pub open_holds: u32,
    /// Number of entries on this account; the next entry gets `entry_seq + 1`.
    pub entry_seq: i64,
    /// Hash of the account's latest entry (hex); the chain starts from the empty string.
    pub last_hash: String,
    /// When the low-balance event fires.
    pub low_balance: LowBalance,
    /// What a percentage threshold is of: the credit available right after the account's latest
    /// grant, top-up or credit line change.
    pub low_balance_base: Quantity,
    /// The balance level last reported by an event, so each crossing is reported once.
    pub alert_level: AlertLevel,
    /// Money recognized on the credit line so far (cumulative), in `currency`: what a postpaid
    /// commitment's consumption is measured by.
    pub credit_line_spent: Money,
    /// The end of an active postpaid commitment's term: from then on the line lends nothing new.
    pub credit_line_until: Option<DateTime<Utc>>,
    /// Raised by one with every batch that changes anything in the account's book (the account,
    /// its lots or holds, an entry, a record, a commitment or an event): a batch applied to the
    /// state another batch left is written only if the version is still the one it started from.
    pub version: i64,
    /// The price book the account's usage is rated by; empty for the default book.
    pub price_book: String,
    /// Per meter, what rating left below the account's unit scale, to be charged with the
    /// meter's next charge (`rating::charge`): always less than one unit of the scale.
    pub carries: BTreeMap<String, Decimal>,
    /// Per meter and currency, what the upstream cost of its rated charges left below the money
    /// scale (`MONEY_SCALE`), posted with the next.
    pub cost_carries: BTreeMap<(String, Currency), Decimal>,
    /// The account's budgets, in id order: kept on the account's row, so a batch locks,
    /// versions and carries them with the rest of the account.
    pub budgets: Vec<crate::ledger::budget::Budget>,
    /// Auto top-up's settings and state, once set: on the row, so the batch that takes the
    /// balance below the threshold raises the request under the account's lock.
    pub auto_top_up: Option<crate::ledger::top_up::AutoTopUp>,
    /// The account's recurring grants, in id order.
    pub recurring_grants: Vec<crate::ledger::recurring::RecurringGrant>,
}

impl Account {
    /// The price book the account is rated by.
    pub fn book(&self) -> &str {
        match self.price_book.as_str() {
            "" => crate::ledger::rating::DEFAULT_BOOK,
            book => book,
        }
    }

    /// An account as it is opened: active, with no credit line, nothing used, held or spent, no
    /// entries yet and no low-balance threshold.
    pub fn opened(
        id: AccountId,
        external_id: String,
        unit: Unit,
        unit_scale: u32,
        currency: Currency,
        created_at: DateTime<Utc>,
    ) -> Account {
        Account {
            id,
            external_id,
            unit,
            unit_scale,
            status: AccountStatus::Active,
            credit_line_limit: Quantity::ZERO,
            credit_line_used: Quantity::ZERO,
            credit_line_held: Quantity::ZERO,
            credit_line_price: Money::ZERO,
            currency,
            created_at,
            open_holds: 0,
            entry_seq: 0,
            last_hash: String::new(),
            low_balance: LowBalance::None,
            low_balance_base: Quantity::ZERO,
            alert_level: AlertLevel::Ok,
            credit_line_spent: Money::ZERO,
            credit_line_until: None,
            version: 0,
            price_book: String::new(),
            carries: BTreeMap::new(),
            cost_carries: BTreeMap::new(),
            budgets: Vec::new(),
            auto_top_up: None,
            recurring_grants: Vec::new(),
        }
    }

    /// What the credit line can still lend at `now`.
    pub fn credit_line_free(&self, now: DateTime<Utc>) -> Quantity {
        if self.credit_line_until.is_some_and(|until| until <= now) {
            return Quantity::ZERO;
        }
        self.credit_line_limit
            .saturating_sub(self.credit_line_used)
            .saturating_sub(self.credit_line_held)
    }
}

/// An account's low-balance threshold: available credit at or below it raises a `low_balance`
/// event, once per crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LowBalance {
    #[default]
    None,
    /// A quantity of the account's unit.
    Absolute(Quantity),
    /// A percentage (0–100) of the credit available right after the account's latest grant,
    /// top-up or credit line change ([`Account::low_balance_base`]).
    Percent(Percent),
}

impl LowBalance {
    pub fn is_none(&self) -> bool {
        *self == LowBalance::None
    }
}

/// How much credit an account has, as events report it. Ordered from good to bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum AlertLevel {
    #[default]
    Ok,
    Low,
    Depleted,
    /// Opened with nothing to spend, and nothing reported yet: its first credit is not a
    /// recovery, and it has nothing to deplete until then.
    New,
}

named!(AlertLevel { Ok => "ok", Low => "low", Depleted => "depleted", New => "new" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LotKind {
    Paid,
    Promotional,
}

named!(LotKind { Paid => "paid", Promotional => "promotional" });

/// What the store keeps. `Pending` (not yet effective) is derived from `effective_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LotStatus {
    Active,
    Depleted,
    Expired,
    Voided,
}

named!(LotStatus { Active => "active", Depleted => "depleted", Expired => "expired", Voided => "voided" });

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub id: LotId,
    pub account_id: AccountId,
    pub kind: LotKind,
    pub status: LotStatus,
    pub priority: i32,
    pub granted: Quantity,
    pub remaining: Quantity,
    /// Reserved by open holds; always ≤ `remaining`.
    pub held: Quantity,
    pub effective_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scope: Vec<String>,
    pub cost_basis: Money,
    pub money_deferred: Money,
    /// The currency the lot was bought in; `None` for credit given away with no money in it.
    pub currency: Option<Currency>,
    pub reference: String,
    pub created_at: DateTime<Utc>,
}

impl Lot {
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether the lot still holds credit at `now`: active and not past its expiry (effective
    /// or not, whatever its scope).
    pub fn is_live_at(&self, now: DateTime<Utc>) -> bool {
        self.status == LotStatus::Active && !self.is_expired_at(now)
    }

    /// Whether the lot may be drawn on at `now` for `meter` (empty meter: unscoped lots only).
    pub fn usable_at(&self, now: DateTime<Utc>, meter: &str) -> bool {
        self.is_live_at(now) && self.effective_at <= now && self.in_scope(meter)
    }

    pub fn in_scope(&self, meter: &str) -> bool {
        self.scope.is_empty() || (!meter.is_empty() && self.scope.iter().any(|s| s == meter))
    }

    pub fn free(&self) -> Quantity {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Open,
    Captured,
    Released,
    Expired,
}

named!(HoldStatus { Open => "open", Captured => "captured", Released => "released", Expired => "expired" });

/// One lot's share of a hold or a charge; `lot_id: None` is the credit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    pub lot_id: Option<LotId>,
    pub quantity: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub account_id: AccountId,
    pub status: HoldStatus,
    pub authorized: Quantity,
    pub captured: Quantity,
    /// What the hold still reserves, per lot, in drawdown order.
    pub reserved: Vec<Draw>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub meter: String,
    pub reference: String,
    /// The price version a hold authorized by usage was rated at: its captures are rated at it
    /// too, whatever is published since.
    pub price: Option<PriceRef>,
    /// Who the hold is for, under the account (`""`: the account as a whole).
    pub subject: String,
    /// The budgets it was authorized against: while open, it claims `authorized - captured` of
    /// each of them.
    pub budgets: Vec<BudgetId>,
}

/// One version of one price book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRef {
    pub book: String,
    pub version: u32,
}

impl Hold {
    pub fn held(&self) -> Quantity {
        self.reserved.iter().map(|d| d.quantity).sum()
    }

    /// What the hold counts against its budgets: while open, what it authorized and has not
    /// captured; nothing once closed.
    pub fn claim(&self) -> Quantity {
        match self.status {
            HoldStatus::Open => self.authorized.saturating_sub(self.captured),
            _ => Quantity::ZERO,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitmentKind {
    /// Paid up front: a paid lot that expires at the term's end.
    Prepaid,
    /// A credit line for the term, with a minimum spend trued up at its end.
    Postpaid,
}

named!(CommitmentKind { Prepaid => "prepaid", Postpaid => "postpaid" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitmentStatus {
    Active,
    Ended,
}

named!(CommitmentStatus { Active => "active", Ended => "ended" });

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    pub id: CommitmentId,
    pub account_id: AccountId,
    pub kind: CommitmentKind,
    pub status: CommitmentStatus,
    pub term_start: DateTime<Utc>,
    pub term_end: DateTime<Utc>,
    /// Prepaid: the lot's quantity. Postpaid: the credit line the term opens.
    pub quantity: Quantity,
    /// Prepaid: the money paid for the lot. Postpaid: the price per unit drawn from the line.
    pub price: Money,
    /// Postpaid: the money the customer commits to spend over the term (zero for prepaid).
    pub minimum_spend: Money,
    pub currency: Currency,
    /// Prepaid: the commitment's lot.
    pub lot_id: Option<LotId>,
    /// Postpaid: the account's `credit_line_spent` and `credit_line_used` when the term began.
    pub spent_at_start: Money,
    pub used_at_start: Quantity,
    /// Set when the term ends: what the term consumed, and the shortfall trued up.
    pub consumed: Consumed,
    pub shortfall: Money,
    pub true_up_entry_id: Option<EntryId>,
    /// Whether the `commitment_ending` event has been raised.
    pub notified: bool,
    pub reference: String,
    pub created_at: DateTime<Utc>,
}

/// What a commitment's term consumed: quantity from a prepaid commitment's lot, money on a
/// postpaid commitment's credit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    Quantity(Quantity),
    Money(Money),
}

impl Consumed {
    /// Nothing yet, in the measure of `kind`.
    pub fn nothing(kind: CommitmentKind) -> Self {
        match kind {
            CommitmentKind::Prepaid => Consumed::Quantity(Quantity::ZERO),
            CommitmentKind::Postpaid => Consumed::Money(Money::ZERO),
        }
    }

    /// The number, whichever measure it is in (for an answer that reads the kind beside it).
    pub fn decimal(self) -> rust_decimal::Decimal {
        match self {
            Consumed::Quantity(q) => q.get(),
            Consumed::Money(m) => m.get(),
        }
    }
}

/// What an event reports. Stored in the outbox in the same transaction as the change behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    /// Available credit fell to or below the account's threshold.
    LowBalance {
        available: Quantity,
        threshold: Quantity,
    },
    /// Nothing is available any more.
    Depleted { available: Quantity },
    /// The sweeper posted a lot's expiry.
    LotExpired {
        lot_id: LotId,
        quantity: Quantity,
        money: Money,
        currency: Option<Currency>,
        expired_at: DateTime<Utc>,
    },
    /// A hold reached its expiry uncaptured and its credit was released.
    HoldExpired {
        hold_id: HoldId,
        released: Quantity,
        expired_at: DateTime<Utc>,
    },
    /// A commitment's term ends within the notice period (or has ended).
    CommitmentEnding {
        commitment_id: CommitmentId,
        term_end: DateTime<Utc>,
    },
    /// Available credit climbed back above the low-balance threshold after a low-balance or
    /// depleted event: alerts raised by those can be resolved.
    LowBalanceRecovered {
        available: Quantity,
        threshold: Option<Quantity>,
    },
    /// Spending in a budget's period reached one of its alert percentages (once per period).
    BudgetAlert {
        budget_id: BudgetId,
        subject: String,
        meter: String,
        percent: u32,
        spent: Quantity,
        limit: Quantity,
    },
    /// A hard budget refused a request (once per period).
    BudgetExceeded {
        budget_id: BudgetId,
        subject: String,
        meter: String,
        limit: Quantity,
        spent: Quantity,
        held: Quantity,
        requested: Quantity,
    },
    /// A budget's period ended and the next began, spending from zero.
    BudgetReset {
        budget_id: BudgetId,
        subject: String,
        meter: String,
        /// When the period ended.
        ended: DateTime<Utc>,
        /// What it had spent.
        spent: Quantity,
        /// The start of the period now counting.
        period_start: DateTime<Utc>,
    },
    /// Available credit fell below the auto top-up threshold: the billing system is asked to
    /// charge `amount` and call `TopUp` with `request_id` as its idempotency key.
    TopUpRequested {
        request_id: TopUpRequestId,
        amount: Quantity,
        available: Quantity,
        threshold: Quantity,
        target: Quantity,
    },
    /// A `TopUp` under the request's id fulfilled it.
    TopUpFulfilled {
        request_id: TopUpRequestId,
        requested: Quantity,
        credited: Quantity,
        lot_id: LotId,
    },
    /// The billing system reported that it could not charge for the request.
    TopUpFailed {
        request_id: TopUpRequestId,
        amount: Quantity,
        reason: String,
        /// Failures in a row.
        failures: u32,
        /// When the next request may be raised; `None`: auto top-up turned itself off.
        retry_at: Option<DateTime<Utc>>,
    },
    /// A recurring grant's period began: its allowance was granted, and the earlier periods'
    /// unspent credit was kept up to the rollover cap (the rest expired).
    RecurringGrantPosted {
        grant_id: RecurringGrantId,
        lot_id: LotId,
        quantity: Quantity,
        rolled_over: Quantity,
        expired: Quantity,
        period_start: DateTime<Utc>,
        period_end: DateTime<Utc>,
    },
}

impl EventData {
    pub fn kind(&self) -> &'static str {
        match self {
            EventData::LowBalance { .. } => "low_balance",
            EventData::Depleted { .. } => "depleted",
            EventData::LotExpired { .. } => "lot_expired",
            EventData::HoldExpired { .. } => "hold_expired",
            EventData::CommitmentEnding { .. } => "commitment_ending",
            EventData::LowBalanceRecovered { .. } => "low_balance_recovered",
            EventData::BudgetAlert { .. } => "budget_alert",
            EventData::BudgetExceeded { .. } => "budget_exceeded",
            EventData::BudgetReset { .. } => "budget_reset",
            EventData::TopUpRequested { .. } => "top_up_requested",
            EventData::TopUpFulfilled { .. } => "top_up_fulfilled",
            EventData::TopUpFailed { .. } => "top_up_failed",
            EventData::RecurringGrantPosted { .. } => "recurring_grant_posted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub account_id: AccountId,
    pub occurred_at: DateTime<Utc>,
    pub data: EventData,
}
