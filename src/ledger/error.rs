//! Every business outcome the engine can refuse a command with. Each variant carries what the
//! caller needs to act on it; `api::status` maps each one to a gRPC status, exhaustively.

use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::amount::{AmountError, Quantity};
use super::code::Unit;
use super::rating::RatingError;
use super::types::{
    AccountId, BudgetId, CommitmentId, HoldId, HoldStatus, LotId, LotStatus, RecurringGrantId,
    TopUpRequestId,
};

/// An account as a request named it: by our id or by the caller's external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountName {
    Id(AccountId),
    External(String),
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountName::Id(id) => id.fmt(f),
            AccountName::External(external) => f.write_str(external),
        }
    }
}

impl From<AccountId> for AccountName {
    fn from(id: AccountId) -> Self {
        AccountName::Id(id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("{field} must be positive, got {value}")]
    NonPositiveAmount { field: &'static str, value: String },
    #[error("{field} has {scale} fractional digits, at most {max_scale} allowed")]
    TooManyDecimals {
        field: &'static str,
        scale: u32,
        max_scale: u32,
    },
    #[error("{field} exceeds the largest allowed amount {max}")]
    AmountTooLarge {
        field: &'static str,
        /// The bound on the number itself, whichever amount the field is.
        max: Decimal,
    },
    #[error("account {account} not found")]
    AccountNotFound { account: AccountName },
    #[error("lot {lot_id} not found on this account")]
    LotNotFound { lot_id: LotId },
    #[error("hold {hold_id} not found")]
    HoldNotFound { hold_id: HoldId },
    #[error("account {account_id} is frozen")]
    AccountFrozen { account_id: AccountId },
    #[error("account {account_id} is closed")]
    AccountClosed { account_id: AccountId },
    #[error("insufficient credit: requested {requested}, available {available}")]
    InsufficientCredit {
        requested: Quantity,
        available: Quantity,
    },
    #[error("hold {hold_id} expired at {}", expired_at.to_rfc3339())]
    HoldExpired {
        hold_id: HoldId,
        expired_at: DateTime<Utc>,
    },
    #[error("hold {hold_id} is {status:?}, not open")]
    HoldNotOpen { hold_id: HoldId, status: HoldStatus },
    #[error("capture of {requested} exceeds the {held} the hold still reserves")]
    CaptureExceedsHold { requested: Quantity, held: Quantity },
    #[error("lot {lot_id} is {status:?}")]
    LotNotActive { lot_id: LotId, status: LotStatus },
    #[error("lot {lot_id} has {held} held by open holds; pass release_holds to release them")]
    LotHeld { lot_id: LotId, held: Quantity },
    #[error("credit line limit {limit} is below the {in_use} used and held")]
    CreditLineBelowUsage { limit: Quantity, in_use: Quantity },
    #[error("account {account_id} already has {limit} open holds")]
    TooManyOpenHolds { account_id: AccountId, limit: u32 },
    #[error("account {account_id} already has {limit} live lots")]
    TooManyLots { account_id: AccountId, limit: u32 },
    #[error("an account with external id {external_id:?} already exists")]
    ExternalIdTaken { external_id: String },
    #[error("idempotency key {key:?} was already used for a different request")]
    IdempotencyConflict { key: String },
    #[error("account {account_id} has a postpaid commitment until {}; its credit line is the commitment's", term_end.to_rfc3339())]
    CommitmentActive {
        account_id: AccountId,
        term_end: DateTime<Utc>,
    },
    #[error("commitment {commitment_id} not found")]
    CommitmentNotFound { commitment_id: CommitmentId },
    /// The usage names what no price version in force prices.
    #[error(transparent)]
    NotPriced(RatingError),
    /// A hold's pinned version is not in this server's catalog yet (published on another
    /// instance moments ago): nothing was done, and a retry will find it.
    #[error("price book {book:?} version {version} is not loaded on this server yet")]
    PriceVersionNotLoaded { book: String, version: u32 },
    #[error("price book {book:?} prices nothing in {unit}, the account's unit")]
    PriceBookUnit { book: String, unit: Unit },
    /// A hard budget on the request's path has no room for it: nothing was reserved anywhere.
    #[error(transparent)]
    BudgetExceeded(Box<BudgetRefusal>),
    /// A velocity limit on the request's path has no room for it in its window: nothing was
    /// reserved anywhere, and the request fits at `retry_at`.
    #[error(transparent)]
    VelocityLimited(Box<VelocityRefusal>),
    #[error("budget {budget_id} not found on this account")]
    BudgetNotFound { budget_id: BudgetId },
    #[error("budget {budget_id} already has this subject, meter and period")]
    BudgetExists { budget_id: BudgetId },
    #[error("account {account_id} already has {limit} budgets")]
    TooManyBudgets { account_id: AccountId, limit: u32 },
    #[error("account {account_id} has no auto top-up set")]
    AutoTopUpNotSet { account_id: AccountId },
    #[error("top-up request {request_id} is not the account's open request (fulfilled, failed, or never made)")]
    TopUpRequestNotOpen { request_id: TopUpRequestId },
    #[error("recurring grant {grant_id} not found on this account")]
    RecurringGrantNotFound { grant_id: RecurringGrantId },
    #[error("account {account_id} already has {limit} recurring grants")]
    TooManyRecurringGrants { account_id: AccountId, limit: u32 },
    #[error("{period} has not ended: it can be closed from {}", ends_at.to_rfc3339())]
    PeriodNotEnded {
        period: String,
        ends_at: DateTime<Utc>,
    },
    #[error("months close in order: the next to close is {next}")]
    PeriodOutOfOrder { period: String, next: String },
    #[error("{period} is being closed (or its close was interrupted: close it again to finish)")]
    PeriodClosing { period: String },
}

/// Which hard budget refused a request, and how full it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "budget {budget_id} for {} allows {limit}, and {spent} is spent and {held} held: no room for {requested}{}",
    shown_subject(subject),
    resets_at.map(|t| format!(" until {}", t.to_rfc3339())).unwrap_or_default()
)]
pub struct BudgetRefusal {
    pub account_id: AccountId,
    pub budget_id: BudgetId,
    pub subject: String,
    pub limit: Quantity,
    pub spent: Quantity,
    pub held: Quantity,
    pub requested: Quantity,
    pub resets_at: Option<DateTime<Utc>>,
}

/// Which velocity limit refused a request, what its window counts, and when the request fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "velocity limit {budget_id} for {} allows {limit}{} per {seconds} s, and its window counts {spent} in {requests} requests: no room for {requested} {}",
    shown_subject(subject),
    max_requests.map(|n| format!(" in at most {n} requests")).unwrap_or_default(),
    match retry_at {
        Some(t) => format!("until {}", t.to_rfc3339()),
        None => "in any window: it is more than the limit".into(),
    }
)]
pub struct VelocityRefusal {
    pub account_id: AccountId,
    pub budget_id: BudgetId,
    pub subject: String,
    pub limit: Quantity,
    pub seconds: u32,
    pub max_requests: Option<u32>,
    pub spent: Quantity,
    pub requests: u32,
    pub requested: Quantity,
    /// When the request fits in the window; `None` when it never does.
    pub retry_at: Option<DateTime<Utc>>,
}

fn shown_subject(subject: &str) -> String {
    match subject {
        "" => "the whole account".into(),
        s => format!("subject {s:?}"),
    }
}

impl LedgerError {
    /// A stable, machine-readable reason, sent to clients alongside the message.
    pub fn reason(&self) -> &'static str {
        match self {
            LedgerError::InvalidArgument { .. } => "INVALID_ARGUMENT",
            LedgerError::NonPositiveAmount { .. } => "NON_POSITIVE_AMOUNT",
            LedgerError::TooManyDecimals { .. } => "TOO_MANY_DECIMALS",
            LedgerError::AmountTooLarge { .. } => "AMOUNT_TOO_LARGE",
            LedgerError::AccountNotFound { .. } => "ACCOUNT_NOT_FOUND",
            LedgerError::LotNotFound { .. } => "LOT_NOT_FOUND",
            LedgerError::HoldNotFound { .. } => "HOLD_NOT_FOUND",
            LedgerError::AccountFrozen { .. } => "ACCOUNT_FROZEN",
            LedgerError::AccountClosed { .. } => "ACCOUNT_CLOSED",
            LedgerError::InsufficientCredit { .. } => "INSUFFICIENT_CREDIT",
            LedgerError::HoldExpired { .. } => "HOLD_EXPIRED",
            LedgerError::HoldNotOpen { .. } => "HOLD_NOT_OPEN",
            LedgerError::CaptureExceedsHold { .. } => "CAPTURE_EXCEEDS_HOLD",
            LedgerError::LotNotActive { .. } => "LOT_NOT_ACTIVE",
            LedgerError::LotHeld { .. } => "LOT_HELD",
            LedgerError::CreditLineBelowUsage { .. } => "CREDIT_LINE_BELOW_USAGE",
            LedgerError::TooManyOpenHolds { .. } => "TOO_MANY_OPEN_HOLDS",
            LedgerError::TooManyLots { .. } => "TOO_MANY_LOTS",
            LedgerError::BudgetExceeded(_) => "BUDGET_EXCEEDED",
            LedgerError::VelocityLimited(_) => "VELOCITY_LIMITED",
            LedgerError::BudgetNotFound { .. } => "BUDGET_NOT_FOUND",
            LedgerError::BudgetExists { .. } => "BUDGET_EXISTS",
            LedgerError::TooManyBudgets { .. } => "TOO_MANY_BUDGETS",
            LedgerError::AutoTopUpNotSet { .. } => "AUTO_TOP_UP_NOT_SET",
            LedgerError::TopUpRequestNotOpen { .. } => "TOP_UP_REQUEST_NOT_OPEN",
            LedgerError::RecurringGrantNotFound { .. } => "RECURRING_GRANT_NOT_FOUND",
            LedgerError::TooManyRecurringGrants { .. } => "TOO_MANY_RECURRING_GRANTS",
            LedgerError::PeriodNotEnded { .. } => "PERIOD_NOT_ENDED",
            LedgerError::PeriodOutOfOrder { .. } => "PERIOD_OUT_OF_ORDER",
            LedgerError::PeriodClosing { .. } => "PERIOD_CLOSING",
            LedgerError::ExternalIdTaken { .. } => "EXTERNAL_ID_TAKEN",
            LedgerError::IdempotencyConflict { .. } => "IDEMPOTENCY_CONFLICT",
            LedgerError::CommitmentActive { .. } => "COMMITMENT_ACTIVE",
            LedgerError::CommitmentNotFound { .. } => "COMMITMENT_NOT_FOUND",
            LedgerError::NotPriced(RatingError::NoVersion { .. }) => "NO_PRICE_VERSION",
            LedgerError::NotPriced(RatingError::UnknownMeter { .. }) => "METER_NOT_PRICED",
            LedgerError::NotPriced(RatingError::UnknownDimension { .. }) => "DIMENSION_NOT_PRICED",
            LedgerError::NotPriced(RatingError::NoUsage) => "INVALID_ARGUMENT",
            LedgerError::PriceVersionNotLoaded { .. } => "PRICE_VERSION_NOT_LOADED",
            LedgerError::PriceBookUnit { .. } => "PRICE_BOOK_UNIT",
        }
    }
}

impl From<AmountError> for LedgerError {
    fn from(error: AmountError) -> Self {
        match error {
            AmountError::Invalid { field, reason } => {
                LedgerError::InvalidArgument { field, reason }
            }
            AmountError::NonPositive { field, value } => {
                LedgerError::NonPositiveAmount { field, value }
            }
            AmountError::TooManyDecimals {
                field,
                scale,
                max_scale,
            } => LedgerError::TooManyDecimals {
                field,
                scale,
                max_scale,
            },
            AmountError::TooLarge { field, max } => LedgerError::AmountTooLarge { field, max },
        }
    }
}
