//! The `Credits` calls beyond grants: support adjustments and commitments. `credits.rs`
//! delegates here.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tonic::{Response, Status};

use super::convert as c;
use super::{unexpected, Services};
use crate::ledger::{
    self as l, AdjustDirection, Command, CommitmentKind, CommitmentStatus, LedgerError, Outcome,
};
use crate::proto as p;

pub async fn adjust(
    s: &Services,
    r: p::AdjustRequest,
) -> Result<Response<p::AdjustResponse>, Status> {
    let idempotency_key = c::key(r.idempotency_key)?;
    let account = c::account_ref("account", r.account)?;
    let direction = match p::AdjustDirection::try_from(r.direction) {
        Ok(p::AdjustDirection::Credit) => AdjustDirection::Credit,
        Ok(p::AdjustDirection::Debit) => AdjustDirection::Debit,
        _ => {
            return Err(LedgerError::InvalidArgument {
                field: "direction",
                reason: "must be CREDIT or DEBIT".into(),
            }
            .into())
        }
    };
    let quantity = c::quantity(&r.quantity)?;
    let reason = c::text("reason", r.reason, c::TextRule::REASON)?;
    let lot_id = match r.lot_id.as_str() {
        "" => None,
        id => Some(c::id_of("lot_id", id)?),
    };
    let expires_at = c::opt_stored_time("expires_at", r.expires_at)?;
    let command = Command::Adjust(l::Adjust {
        idempotency_key,
        account_id: s.resolve(account).await?,
        direction,
        quantity,
        lot_id,
        reason,
        priority: r.priority,
        expires_at,
    });
    let now = s.clock.now();
    match s.submit(command).await? {
        Outcome::Adjusted {
            entry_id,
            lot,
            draws,
            quantity,
            money,
        } => Ok(Response::new(p::AdjustResponse {
            entry_id: entry_id.to_string(),
            lot: lot.map(|lot| c::lot(&lot, now)),
            draws: c::draws(&draws),
            quantity: c::amount(quantity),
            money: c::amount(money),
        })),
        other => Err(unexpected(other)),
    }
}

pub async fn create_commitment(
    s: &Services,
    r: p::CreateCommitmentRequest,
) -> Result<Response<p::CreateCommitmentResponse>, Status> {
    let idempotency_key = c::key(r.idempotency_key)?;
    let account = c::account_ref("account", r.account)?;
    let kind = match p::CommitmentKind::try_from(r.kind) {
        Ok(p::CommitmentKind::Prepaid) => CommitmentKind::Prepaid,
        Ok(p::CommitmentKind::Postpaid) => CommitmentKind::Postpaid,
        _ => {
            return Err(LedgerError::InvalidArgument {
                field: "kind",
                reason: "must be PREPAID or POSTPAID".into(),
            }
            .into())
        }
    };
    let quantity = c::quantity(&r.quantity)?;
    let price = match kind {
        CommitmentKind::Prepaid => c::price("price", &r.price)?,
        CommitmentKind::Postpaid => c::money("price", &r.price)?,
    };
    let minimum_spend = c::money("minimum_spend", &r.minimum_spend)?;
    let currency = c::opt_currency(&r.currency)?;
    let term_start = c::opt_stored_time("term_start", r.term_start)?;
    let term_end = r.term_end.ok_or(LedgerError::InvalidArgument {
        field: "term_end",
        reason: "required".into(),
    })?;
    let term_end = c::stored_time("term_end", term_end)?;
    let reference = c::text("reference", r.reference, c::TextRule::REFERENCE)?;
    let account_id = s.resolve(account).await?;
    let currency = match currency {
        Some(code) => code,
        None => match s.store.account(account_id).await? {
            Some(a) => a.currency,
            None => {
                return Err(LedgerError::AccountNotFound {
                    account: account_id.into(),
                }
                .into())
            }
        },
    };
    let command = Command::CreateCommitment(l::CreateCommitment {
        idempotency_key,
        account_id,
        kind,
        quantity,
        price,
        minimum_spend,
        currency,
        term_start,
        term_end,
        reference,
    });
    let now = s.clock.now();
    match s.submit(command).await? {
        Outcome::CommitmentCreated {
            commitment,
            lot,
            entry_id,
        } => {
            let view = commitment_view(&commitment, lot.as_deref(), None, now);
            Ok(Response::new(p::CreateCommitmentResponse {
                commitment: Some(view),
                lot: lot.map(|lot| c::lot(&lot, now)),
                entry_id: entry_id.map(|e| e.to_string()).unwrap_or_default(),
            }))
        }
        other => Err(unexpected(other)),
    }
}

pub async fn get_commitment(
    s: &Services,
    r: p::GetCommitmentRequest,
) -> Result<Response<p::GetCommitmentResponse>, Status> {
    let id: l::CommitmentId = c::id_of("commitment_id", &r.commitment_id)?;
    let not_found = || LedgerError::CommitmentNotFound { commitment_id: id };
    let commitment = s.store.commitment(id).await?.ok_or_else(not_found)?;
    let lot = match commitment.lot_id {
        Some(lot) => s.store.lot(commitment.account_id, lot).await?,
        None => None,
    };
    let account = s.store.account(commitment.account_id).await?;
    let now = s.clock.now();
    Ok(Response::new(p::GetCommitmentResponse {
        commitment: Some(commitment_view(
            &commitment,
            lot.as_ref(),
            account.as_ref(),
            now,
        )),
    }))
}

/// What a commitment has come to at `now`. Prepaid terms are measured in the lot's quantity,
/// postpaid ones in money against the minimum spend. Once ended, the figures are those fixed
/// at the end.
fn commitment_view(
    m: &l::Commitment,
    lot: Option<&l::Lot>,
    account: Option<&l::Account>,
    now: DateTime<Utc>,
) -> p::Commitment {
    let ended = m.status == CommitmentStatus::Ended;
    let (committed, consumed) = match m.kind {
        CommitmentKind::Prepaid => {
            let consumed = match (ended, lot) {
                (true, _) => m.consumed.decimal(),
                (false, Some(lot)) => (lot.granted - lot.remaining).get(),
                (false, None) => Decimal::ZERO,
            };
            (m.quantity.get(), consumed)
        }
        CommitmentKind::Postpaid => {
            let consumed = match (ended, account) {
                (true, _) => m.consumed.decimal(),
                (false, Some(a)) => a.credit_line_spent.saturating_sub(m.spent_at_start).get(),
                (false, None) => Decimal::ZERO,
            };
            (m.minimum_spend.get(), consumed)
        }
    };
    let days_left = match ended || now >= m.term_end {
        true => 0,
        false => {
            let micros = (m.term_end - now).num_microseconds().unwrap_or(i64::MAX);
            let day = 86_400_000_000_i64;
            u32::try_from((micros + day - 1) / day).unwrap_or(u32::MAX)
        }
    };
    p::Commitment {
        commitment_id: m.id.to_string(),
        account_id: m.account_id.to_string(),
        kind: match m.kind {
            CommitmentKind::Prepaid => p::CommitmentKind::Prepaid,
            CommitmentKind::Postpaid => p::CommitmentKind::Postpaid,
        } as i32,
        status: match m.status {
            CommitmentStatus::Active => p::CommitmentStatus::Active,
            CommitmentStatus::Ended => p::CommitmentStatus::Ended,
        } as i32,
        term_start: Some(c::timestamp(m.term_start)),
        term_end: Some(c::timestamp(m.term_end)),
        currency: m.currency.to_string(),
        quantity: c::amount(m.quantity),
        price: c::amount(m.price),
        minimum_spend: c::amount(m.minimum_spend),
        lot_id: m.lot_id.map(|l| l.to_string()).unwrap_or_default(),
        committed: c::amount(committed),
        consumed: c::amount(consumed),
        remaining: c::amount((committed - consumed).max(Decimal::ZERO)),
        days_left,
        shortfall: c::amount(m.shortfall),
        true_up_entry_id: m
            .true_up_entry_id
            .map(|e| e.to_string())
            .unwrap_or_default(),
        reference: m.reference.clone(),
    }
}
