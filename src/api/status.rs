//! Every failure a client can see, mapped to one gRPC status with machine-readable details: an
//! `ErrorInfo` whose reason is stable (e.g. `INSUFFICIENT_CREDIT`) and whose metadata carries
//! the numbers (e.g. `available`), and a `BadRequest` naming the field for invalid arguments.
//! The mapping from `LedgerError` is exhaustive, so a new outcome cannot ship unmapped. Internal
//! error text is logged, never sent.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::convert::amount;
use crate::executor::ExecError;
use crate::ledger::rating::RatingError;
use crate::ledger::LedgerError;
use crate::store::StoreError;

const DOMAIN: &str = "creditledger.v1";

/// ErrorInfo metadata: the given pairs, and the trace id of the call being answered.
fn metadata_of(pairs: &[(&str, String)]) -> HashMap<String, String> {
    let mut metadata: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    if let Some(trace_id) = super::trace::current() {
        metadata.insert("trace_id".into(), trace_id);
    }
    metadata
}

fn info(code: Code, error: &LedgerError, metadata: &[(&str, String)]) -> Status {
    let metadata = metadata_of(metadata);
    let details = ErrorDetails::with_error_info(error.reason(), DOMAIN, metadata);
    Status::with_error_details(code, error.to_string(), details)
}

fn bad_request(error: &LedgerError, field: &str) -> Status {
    let mut details = ErrorDetails::with_bad_request_violation(field, error.to_string());
    details.set_error_info(
        error.reason(),
        DOMAIN,
        metadata_of(&[("field", field.into())]),
    );
    Status::with_error_details(Code::InvalidArgument, error.to_string(), details)
}

impl From<LedgerError> for Status {
    fn from(error: LedgerError) -> Status {
        use LedgerError as E;
        match &error {
            E::InvalidArgument { field, .. }
            | E::NonPositiveAmount { field, .. }
            | E::TooManyDecimals { field, .. }
            | E::AmountTooLarge { field, .. } => bad_request(&error, field),
            E::AccountNotFound { account } => {
                info(Code::NotFound, &error, &[("account", account.to_string())])
            }
            E::LotNotFound { lot_id } => {
                info(Code::NotFound, &error, &[("lot_id", lot_id.to_string())])
            }
            E::HoldNotFound { hold_id } => {
                info(Code::NotFound, &error, &[("hold_id", hold_id.to_string())])
            }
            E::CommitmentNotFound { commitment_id } => info(
                Code::NotFound,
                &error,
                &[("commitment_id", commitment_id.to_string())],
            ),
            E::NotPriced(RatingError::NoUsage) => bad_request(&error, "usage"),
            E::NotPriced(RatingError::NoVersion { book, at }) => info(
                Code::FailedPrecondition,
                &error,
                &[("book", book.clone()), ("at", at.to_rfc3339())],
            ),
            E::NotPriced(RatingError::UnknownMeter {
                book,
                version,
                meter,
                unit,
            }) => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("book", book.clone()),
                    ("version", version.to_string()),
                    ("meter", meter.clone()),
                    ("unit", unit.to_string()),
                ],
            ),
            E::NotPriced(RatingError::UnknownDimension {
                book,
                version,
                meter,
                dimension,
                unit,
            }) => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("book", book.clone()),
                    ("version", version.to_string()),
                    ("meter", meter.clone()),
                    ("dimension", dimension.clone()),
                    ("unit", unit.to_string()),
                ],
            ),
            E::PriceVersionNotLoaded { book, version } => info(
                Code::Unavailable,
                &error,
                &[("book", book.clone()), ("version", version.to_string())],
            ),
            E::PriceBookUnit { book, unit } => info(
                Code::FailedPrecondition,
                &error,
                &[("book", book.clone()), ("unit", unit.to_string())],
            ),
            E::CommitmentActive {
                account_id,
                term_end,
            } => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("account_id", account_id.to_string()),
                    ("term_end", term_end.to_rfc3339()),
                ],
            ),
            E::AccountFrozen { account_id } | E::AccountClosed { account_id } => info(
                Code::FailedPrecondition,
                &error,
                &[("account_id", account_id.to_string())],
            ),
            E::InsufficientCredit {
                requested,
                available,
            } => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("requested", amount(*requested)),
                    ("available", amount(*available)),
                ],
            ),
            E::HoldExpired {
                hold_id,
                expired_at,
            } => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("hold_id", hold_id.to_string()),
                    ("expired_at", expired_at.to_rfc3339()),
                ],
            ),
            E::HoldNotOpen { hold_id, status } => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("hold_id", hold_id.to_string()),
                    ("status", status.as_str().into()),
                ],
            ),
            E::CaptureExceedsHold { requested, held } => info(
                Code::FailedPrecondition,
                &error,
                &[("requested", amount(*requested)), ("held", amount(*held))],
            ),
            E::LotNotActive { lot_id, status } => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("lot_id", lot_id.to_string()),
                    ("status", status.as_str().into()),
                ],
            ),
            E::LotHeld { lot_id, held } => info(
                Code::FailedPrecondition,
                &error,
                &[("lot_id", lot_id.to_string()), ("held", amount(*held))],
            ),
            E::CreditLineBelowUsage { limit, in_use } => info(
                Code::FailedPrecondition,
                &error,
                &[("limit", amount(*limit)), ("in_use", amount(*in_use))],
            ),
            E::BudgetExceeded(r) => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("budget_id", r.budget_id.to_string()),
                    ("subject", r.subject.clone()),
                    ("limit", amount(r.limit)),
                    ("spent", amount(r.spent)),
                    ("held", amount(r.held)),
                    ("requested", amount(r.requested)),
                    (
                        "resets_at",
                        r.resets_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    ),
                ],
            ),
            E::VelocityLimited(r) => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("budget_id", r.budget_id.to_string()),
                    ("subject", r.subject.clone()),
                    ("limit", amount(r.limit)),
                    ("window_seconds", r.seconds.to_string()),
                    (
                        "max_requests",
                        r.max_requests.map(|n| n.to_string()).unwrap_or_default(),
                    ),
                    ("spent", amount(r.spent)),
                    ("requests", r.requests.to_string()),
                    ("requested", amount(r.requested)),
                    (
                        "retry_at",
                        r.retry_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    ),
                ],
            ),
            E::BudgetNotFound { budget_id } => info(
                Code::NotFound,
                &error,
                &[("budget_id", budget_id.to_string())],
            ),
            E::BudgetExists { budget_id } => info(
                Code::AlreadyExists,
                &error,
                &[("budget_id", budget_id.to_string())],
            ),
            E::AutoTopUpNotSet { account_id } => info(
                Code::FailedPrecondition,
                &error,
                &[("account_id", account_id.to_string())],
            ),
            E::TopUpRequestNotOpen { request_id } => info(
                Code::FailedPrecondition,
                &error,
                &[("request_id", request_id.to_string())],
            ),
            E::PeriodNotEnded { period, ends_at } => info(
                Code::FailedPrecondition,
                &error,
                &[
                    ("period", period.clone()),
                    ("ends_at", ends_at.to_rfc3339()),
                ],
            ),
            E::PeriodOutOfOrder { period, next } => info(
                Code::FailedPrecondition,
                &error,
                &[("period", period.clone()), ("next", next.clone())],
            ),
            E::PeriodClosing { period } => info(
                Code::FailedPrecondition,
                &error,
                &[("period", period.clone())],
            ),
            E::RecurringGrantNotFound { grant_id } => info(
                Code::NotFound,
                &error,
                &[("grant_id", grant_id.to_string())],
            ),
            E::TooManyOpenHolds { limit, .. }
            | E::TooManyLots { limit, .. }
            | E::TooManyBudgets { limit, .. }
            | E::TooManyRecurringGrants { limit, .. } => info(
                Code::ResourceExhausted,
                &error,
                &[("limit", limit.to_string())],
            ),
            E::ExternalIdTaken { external_id } => info(
                Code::AlreadyExists,
                &error,
                &[("external_id", external_id.clone())],
            ),
            E::IdempotencyConflict { key } => info(
                Code::AlreadyExists,
                &error,
                &[("idempotency_key", key.clone())],
            ),
        }
    }
}

/// A status with an `ErrorInfo` carrying a stable reason and no numbers.
pub fn with_reason(code: Code, reason: &str, message: &str) -> Status {
    with_metadata(code, reason, message, &[])
}

/// A status with a reason and metadata in its `ErrorInfo`.
pub fn with_metadata(
    code: Code,
    reason: &str,
    message: &str,
    metadata: &[(&str, String)],
) -> Status {
    let details = ErrorDetails::with_error_info(reason, DOMAIN, metadata_of(metadata));
    Status::with_error_details(code, message, details)
}

/// Our own fault, never the client's: a bug or a damaged row, logged where it happened. It
/// always carries reason `INTERNAL`, which is how the edge tells it from a framework's
/// undecodable-request error (see `api::edge`).
pub fn internal() -> Status {
    with_reason(Code::Internal, "INTERNAL", "internal error")
}

impl From<ExecError> for Status {
    fn from(error: ExecError) -> Status {
        match error {
            ExecError::Ledger(e) => e.into(),
            ExecError::Unavailable => {
                Status::unavailable("storage unavailable; retry with the same idempotency key")
            }
            ExecError::Overloaded => {
                Status::resource_exhausted("too many requests in flight; retry shortly")
            }
            ExecError::Unstorable => with_reason(
                Code::InvalidArgument,
                "UNSTORABLE_REQUEST",
                "the store refused this request's data; it was not applied, and the same \
                 request will be refused again",
            ),
            ExecError::ShuttingDown => Status::unavailable("the service is shutting down"),
            ExecError::Internal => internal(),
        }
    }
}

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Status {
        match error {
            StoreError::Unavailable(_) | StoreError::NotBegun(_) => {
                tracing::warn!(error = %error, "read failed");
                Status::unavailable("storage unavailable; retry")
            }
            _ => {
                tracing::error!(error = %error, "read failed");
                internal()
            }
        }
    }
}
