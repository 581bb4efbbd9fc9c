//! What callers ask the ledger to do, and what it answers. Commands are already parsed: amounts
//! are [`Quantity`]/[`Money`], ids are typed. Every command carries its idempotency key.

use chrono::{DateTime, Utc};

use super::amount::{Money, Quantity};
use super::code::{Currency, Unit};
use super::names::named;
use super::rating::{Rated, Usage};
use super::types::{
    Account, AccountId, AccountStatus, BudgetId, Commitment, CommitmentKind, Draw, EntryId, Hold,
    HoldId, Lot, LotId, LotKind, LowBalance, RecurringGrantId, TopUpRequestId,
};

#[derive(Debug, Clone, PartialEq)]
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
    Adjust(Adjust),
    CreateCommitment(CreateCommitment),
    CreateBudget(CreateBudget),
    UpdateBudget(UpdateBudget),
    DeleteBudget(DeleteBudget),
    SetAutoTopUp(SetAutoTopUp),
    FailTopUp(FailTopUp),
    CreateRecurringGrant(CreateRecurringGrant),
    DeleteRecurringGrant(DeleteRecurringGrant),
    /// The sweeper's work on one account; a system command with no idempotency key.
    Sweep(Sweep),
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
            Command::Adjust(c) => &c.idempotency_key,
            Command::CreateCommitment(c) => &c.idempotency_key,
            Command::CreateBudget(c) => &c.idempotency_key,
            Command::UpdateBudget(c) => &c.idempotency_key,
            Command::DeleteBudget(c) => &c.idempotency_key,
            Command::SetAutoTopUp(c) => &c.idempotency_key,
            Command::FailTopUp(c) => &c.idempotency_key,
            Command::CreateRecurringGrant(c) => &c.idempotency_key,
            Command::DeleteRecurringGrant(c) => &c.idempotency_key,
            Command::Sweep(_) => "",
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
            Command::Adjust(c) => Target::Account(c.account_id),
            Command::CreateCommitment(c) => Target::Account(c.account_id),
            Command::CreateBudget(c) => Target::Account(c.account_id),
            Command::UpdateBudget(c) => Target::Account(c.account_id),
            Command::DeleteBudget(c) => Target::Account(c.account_id),
            Command::SetAutoTopUp(c) => Target::Account(c.account_id),
            Command::FailTopUp(c) => Target::Account(c.account_id),
            Command::CreateRecurringGrant(c) => Target::Account(c.account_id),
            Command::DeleteRecurringGrant(c) => Target::Account(c.account_id),
            Command::Sweep(c) => Target::Account(c.account_id),
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
            Command::Adjust(_) => "adjust",
            Command::CreateCommitment(_) => "create_commitment",
            Command::CreateBudget(_) => "create_budget",
            Command::UpdateBudget(_) => "update_budget",
            Command::DeleteBudget(_) => "delete_budget",
            Command::SetAutoTopUp(_) => "set_auto_top_up",
            Command::FailTopUp(_) => "fail_top_up",
            Command::CreateRecurringGrant(_) => "create_recurring_grant",
            Command::DeleteRecurringGrant(_) => "delete_recurring_grant",
            Command::Sweep(_) => "sweep",
        }
    }

    /// Whether the command is kept under its idempotency key (system commands are not: they
    /// are idempotent by what they find).
    pub fn is_keyed(&self) -> bool {
        !matches!(self, Command::Sweep(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateAccount {
    pub idempotency_key: String,
    pub external_id: String,
    pub unit: Unit,
    pub unit_scale: u32,
    pub credit_line_limit: Quantity,
    pub credit_line_price: Money,
    pub currency: Currency,
    pub low_balance: LowBalance,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpdateAccount {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub credit_line_limit: Option<Quantity>,
    pub credit_line_price: Option<Money>,
    pub status: Option<AccountStatus>,
    pub low_balance: Option<LowBalance>,
    /// The price book to rate the account's usage by; empty for the default book.
    pub price_book: Option<String>,
}

/// A top-up (paid, with a price) or a promotional grant (price zero).
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub kind: LotKind,
    pub quantity: Quantity,
    pub price: Money,
    /// `None` for a promotional grant (no money changes hands).
    pub currency: Option<Currency>,
    pub priority: i32,
    pub effective_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scope: Vec<String>,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VoidGrant {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub lot_id: LotId,
    pub reason: String,
    pub release_holds: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Authorize {
    pub idempotency_key: String,
    pub account_id: AccountId,
    /// Zero when `usage` says what to hold.
    pub quantity: Quantity,
    /// The estimate to rate, at the version in force, instead of a quantity; the hold pins the
    /// version.
    pub usage: Option<Usage>,
    /// `None`: the server's default TTL.
    pub ttl_ms: Option<u64>,
    pub meter: String,
    pub reference: String,
    /// Who under the account the hold is for (`""`: the account as a whole): every budget on
    /// its path applies.
    pub subject: String,
}

/// What a capture beyond what the hold still reserves does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overage {
    Reject,
    Clamp,
    DrawAvailable,
}

named!(Overage { Reject => "reject", Clamp => "clamp", DrawAvailable => "draw_available" });

#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub idempotency_key: String,
    pub hold_id: HoldId,
    /// Zero when `usage` says what to charge.
    pub quantity: Quantity,
    /// The actual usage, rated at the hold's pinned version (the version in force for a hold
    /// authorized by quantity).
    pub usage: Option<Usage>,
    pub is_final: bool,
    pub overage: Overage,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub idempotency_key: String,
    pub hold_id: HoldId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExtendHold {
    pub idempotency_key: String,
    pub hold_id: HoldId,
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Debit {
    pub idempotency_key: String,
    pub account_id: AccountId,
    /// Zero when `usage` says what to charge.
    pub quantity: Quantity,
    /// The usage to rate at the version in force, instead of a quantity.
    pub usage: Option<Usage>,
    pub meter: String,
    pub reference: String,
    /// Who under the account spends (`""`: the account as a whole): every budget on its path
    /// applies.
    pub subject: String,
}

/// Which way a support adjustment moves credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustDirection {
    /// Gives the customer credit: a new promotional lot (cost basis zero).
    Credit,
    /// Takes credit back: from the named lot, or in drawdown order from free credit on lots.
    Debit,
}

named!(AdjustDirection { Credit => "credit", Debit => "debit" });

/// A manual correction by support staff; the reason is mandatory and becomes the entry's
/// reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjust {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub direction: AdjustDirection,
    pub quantity: Quantity,
    pub lot_id: Option<LotId>,
    pub reason: String,
    /// For a credit: the new lot's priority and expiry.
    pub priority: i32,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateCommitment {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub kind: CommitmentKind,
    /// Prepaid: the lot's quantity. Postpaid: the credit line opened for the term.
    pub quantity: Quantity,
    /// Prepaid: the money paid. Postpaid: the price per unit drawn from the line.
    pub price: Money,
    /// Postpaid: the minimum spend over the term.
    pub minimum_spend: Money,
    pub currency: Currency,
    /// `None`: now. Postpaid terms start now.
    pub term_start: Option<DateTime<Utc>>,
    pub term_end: DateTime<Utc>,
    pub reference: String,
}

/// A budget for a subject under an account, optionally for one meter.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateBudget {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub subject: String,
    pub meter: String,
    pub limit: Quantity,
    pub period: crate::ledger::budget::Period,
    pub time_zone: chrono_tz::Tz,
    pub hard: bool,
    pub alerts: Vec<u32>,
    /// A velocity limit's window in seconds (with `Period::Rolling` only; 0 otherwise).
    pub window_seconds: u32,
    /// A velocity limit's cap on requests in its window.
    pub max_requests: Option<u32>,
}

/// Replaces what a budget may change: its limit, whether it is hard, its alerts and a velocity
/// limit's requests cap. Its subject, meter, period, zone and window are what it is; another of
/// those is another budget.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateBudget {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub budget_id: BudgetId,
    pub limit: Quantity,
    pub hard: bool,
    pub alerts: Vec<u32>,
    pub max_requests: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeleteBudget {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub budget_id: BudgetId,
}

/// Sets an account's auto top-up (replacing its settings; an open request stays open). Setting
/// it clears the failures and any wait after them.
#[derive(Debug, Clone, PartialEq)]
pub struct SetAutoTopUp {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub enabled: bool,
    pub threshold: Quantity,
    pub target: Quantity,
    pub monthly_cap: Option<Quantity>,
}

/// The billing system could not charge for an auto top-up request.
#[derive(Debug, Clone, PartialEq)]
pub struct FailTopUp {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub request_id: TopUpRequestId,
    pub reason: String,
}

/// A schedule granting `quantity` every period; the first period's allowance is granted at once.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRecurringGrant {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub quantity: Quantity,
    pub period: crate::ledger::budget::Period,
    pub time_zone: chrono_tz::Tz,
    pub kind: LotKind,
    pub price: Money,
    pub currency: Option<Currency>,
    pub rollover_cap: Quantity,
}

/// Ends a schedule: nothing more is granted; its lots keep their credit until they expire.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteRecurringGrant {
    pub idempotency_key: String,
    pub account_id: AccountId,
    pub grant_id: RecurringGrantId,
}

/// Posts what time has made due on one account: the expiry of lots past `expires_at`, the
/// release of holds past their TTL, the end of commitment terms (with any true-up) and the
/// `commitment_ending` notices.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub account_id: AccountId,
    /// How long before a term's end its `commitment_ending` event is raised.
    pub commitment_notice_ms: u64,
}

/// The result of a successful command, exactly as first answered: an idempotent replay returns
/// this same value.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Account(Account),
    Granted {
        lot: Lot,
        entry_id: EntryId,
    },
    Voided {
        lot: Lot,
        entry_id: EntryId,
        quantity_voided: Quantity,
        money_refunded: Money,
    },
    Authorized {
        hold: Hold,
        available: Quantity,
        /// How the usage of a rated authorization was rated.
        rated: Option<Rated>,
    },
    Captured {
        hold: Hold,
        /// `None` when nothing was charged (a clamped capture of an empty hold).
        entry_id: Option<EntryId>,
        charged: Quantity,
        draws: Vec<Draw>,
        released: Quantity,
        rated: Option<Rated>,
    },
    Released {
        hold: Hold,
        released: Quantity,
    },
    Extended {
        hold: Hold,
    },
    Debited {
        entry_id: EntryId,
        charged: Quantity,
        draws: Vec<Draw>,
        available: Quantity,
        rated: Option<Rated>,
    },
    Adjusted {
        entry_id: EntryId,
        /// The new lot of a credit adjustment.
        lot: Option<Lot>,
        /// Where a debit adjustment took credit from.
        draws: Vec<Draw>,
        quantity: Quantity,
        /// Deferred money recognized by a debit adjustment (`revenue_adjustment`).
        money: Money,
    },
    CommitmentCreated {
        commitment: Box<Commitment>,
        lot: Option<Box<Lot>>,
        entry_id: Option<EntryId>,
    },
    /// A budget as created or updated.
    Budget(Box<crate::ledger::budget::Budget>),
    /// A budget as it was when deleted.
    BudgetDeleted(Box<crate::ledger::budget::Budget>),
    /// Auto top-up as set, or after a failure.
    AutoTopUp(Box<crate::ledger::top_up::AutoTopUp>),
    /// A recurring grant as created, with its first period's lot.
    RecurringGrant {
        grant: Box<crate::ledger::recurring::RecurringGrant>,
        lot: Box<Lot>,
    },
    /// A recurring grant as it was when deleted.
    RecurringGrantDeleted(Box<crate::ledger::recurring::RecurringGrant>),
    Swept(SweepSummary),
}

/// What one sweep of an account did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepSummary {
    pub lots_expired: u32,
    pub holds_expired: u32,
    pub commitments_ended: u32,
    pub notices: u32,
    /// Budget periods started over.
    pub budgets_reset: u32,
    /// Recurring grants' periods granted.
    pub grants_posted: u32,
}
