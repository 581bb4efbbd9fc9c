//! `Usage`, the hot path: authorize, capture, release, extend, debit, and the balance.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use super::convert as c;
use super::{unexpected, Services};
use crate::journal::balance::balance_as_of;
use crate::ledger::rating;
use crate::ledger::{
    AccountId, Authorize, Capture, Command, Debit, ExtendHold, LedgerError, Outcome, Release,
};
use crate::proto as p;

pub struct UsageService(pub Arc<Services>);

impl UsageService {
    /// The balance at `as_of`, rebuilt from the journal. Holds post nothing, so nothing is
    /// held at a past time; available is posted plus the credit line's current limit.
    async fn past_balance(
        &self,
        account_id: AccountId,
        as_of: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Response<p::GetBalanceResponse>, Status> {
        if as_of > now {
            return Err(LedgerError::InvalidArgument {
                field: "as_of",
                reason: format!("must not be in the future (now is {now})"),
            }
            .into());
        }
        let a = self
            .0
            .store
            .account(account_id)
            .await?
            .ok_or(LedgerError::AccountNotFound {
                account: account_id.into(),
            })?;
        let past = balance_as_of(&self.0.store, account_id, as_of).await?;
        let lots = past
            .lots
            .iter()
            .map(|l| c::lot_balance(&l.lot, l.remaining, Decimal::ZERO))
            .collect();
        Ok(Response::new(p::GetBalanceResponse {
            account_id: a.id.to_string(),
            unit: a.unit.to_string(),
            posted: c::amount(past.posted),
            held: "0".into(),
            available: c::amount(past.posted + a.credit_line_limit.get()),
            credit_line_limit: c::amount(a.credit_line_limit),
            credit_line_used: c::amount(past.credit_line_used),
            credit_line_held: "0".into(),
            lots,
            as_of: Some(c::timestamp(as_of)),
        }))
    }
}

#[tonic::async_trait]
impl p::usage_server::Usage for UsageService {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn authorize(
        &self,
        request: Request<p::AuthorizeRequest>,
    ) -> Result<Response<p::AuthorizeResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let (quantity, usage) = c::quantity_or_usage(&r.quantity, r.usage)?;
        let meter = c::meter(r.meter)?;
        let reference = c::text("reference", r.reference, c::TextRule::REFERENCE)?;
        let subject = c::subject(r.subject)?;
        let command = Command::Authorize(Authorize {
            idempotency_key,
            account_id: self.0.resolve(account).await?,
            quantity,
            usage,
            ttl_ms: (r.ttl_ms != 0).then_some(r.ttl_ms),
            meter,
            reference,
            subject,
        });
        match self.0.submit(command).await? {
            Outcome::Authorized {
                hold,
                available,
                rated,
            } => Ok(Response::new(p::AuthorizeResponse {
                hold: Some(c::hold(&hold)),
                available: c::amount(available),
                rating: rated.as_ref().map(c::rating),
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn capture(
        &self,
        request: Request<p::CaptureRequest>,
    ) -> Result<Response<p::CaptureResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let hold_id = c::id_of("hold_id", &r.hold_id)?;
        let (quantity, usage) = c::quantity_or_usage(&r.quantity, r.usage)?;
        let command = Command::Capture(Capture {
            idempotency_key,
            hold_id,
            quantity,
            usage,
            is_final: r.r#final,
            overage: c::overage(r.overage)?,
        });
        match self.0.submit(command).await? {
            Outcome::Captured {
                hold,
                entry_id,
                charged,
                draws,
                released,
                rated,
            } => Ok(Response::new(p::CaptureResponse {
                hold: Some(c::hold(&hold)),
                entry_id: entry_id.map(|e| e.to_string()).unwrap_or_default(),
                charged: c::amount(charged),
                draws: c::draws(&draws),
                released: c::amount(released),
                rating: rated.as_ref().map(c::rating),
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn release(
        &self,
        request: Request<p::ReleaseRequest>,
    ) -> Result<Response<p::ReleaseResponse>, Status> {
        let r = request.into_inner();
        let command = Command::Release(Release {
            idempotency_key: c::key(r.idempotency_key)?,
            hold_id: c::id_of("hold_id", &r.hold_id)?,
        });
        match self.0.submit(command).await? {
            Outcome::Released { hold, released } => Ok(Response::new(p::ReleaseResponse {
                hold: Some(c::hold(&hold)),
                released: c::amount(released),
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn extend_hold(
        &self,
        request: Request<p::ExtendHoldRequest>,
    ) -> Result<Response<p::ExtendHoldResponse>, Status> {
        let r = request.into_inner();
        let command = Command::ExtendHold(ExtendHold {
            idempotency_key: c::key(r.idempotency_key)?,
            hold_id: c::id_of("hold_id", &r.hold_id)?,
            ttl_ms: r.ttl_ms,
        });
        match self.0.submit(command).await? {
            Outcome::Extended { hold } => Ok(Response::new(p::ExtendHoldResponse {
                hold: Some(c::hold(&hold)),
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn debit(
        &self,
        request: Request<p::DebitRequest>,
    ) -> Result<Response<p::DebitResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let (quantity, usage) = c::quantity_or_usage(&r.quantity, r.usage)?;
        let meter = c::meter(r.meter)?;
        let reference = c::text("reference", r.reference, c::TextRule::REFERENCE)?;
        let subject = c::subject(r.subject)?;
        let command = Command::Debit(Debit {
            idempotency_key,
            account_id: self.0.resolve(account).await?,
            quantity,
            usage,
            meter,
            reference,
            subject,
        });
        match self.0.submit(command).await? {
            Outcome::Debited {
                entry_id,
                charged,
                draws,
                available,
                rated,
            } => Ok(Response::new(p::DebitResponse {
                entry_id: entry_id.to_string(),
                charged: c::amount(charged),
                draws: c::draws(&draws),
                available: c::amount(available),
                rating: rated.as_ref().map(c::rating),
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn quote(
        &self,
        request: Request<p::QuoteRequest>,
    ) -> Result<Response<p::QuoteResponse>, Status> {
        let r = request.into_inner();
        let account = c::account_ref("account", r.account)?;
        let meter = c::text("meter", r.meter, c::TextRule::ID)?;
        let usage = c::usage_of(r.usage)?;
        let at = c::opt_time("at", r.at)?;
        let account_id = self.0.resolve(account).await?;
        let a = (self.0.store.account(account_id).await?).ok_or(LedgerError::AccountNotFound {
            account: account_id.into(),
        })?;
        let at = at.unwrap_or_else(|| self.0.clock.now());
        let rated = (self.0.prices.current())
            .rate_in_force(a.book(), at, &meter, a.unit, &usage)
            .map_err(LedgerError::NotPriced)?;
        Ok(Response::new(p::QuoteResponse {
            rating: Some(c::rating(&rated)),
            quantity: c::amount(rating::reserve(rated.value, a.unit_scale)),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn get_balance(
        &self,
        request: Request<p::GetBalanceRequest>,
    ) -> Result<Response<p::GetBalanceResponse>, Status> {
        let r = request.into_inner();
        let account = c::account_ref("account", r.account)?;
        let as_of = c::opt_time("as_of", r.as_of)?;
        self.0.scope(Some(&account)).await?;
        let account_id = self.0.resolve(account).await?;
        let now = self.0.clock.now();
        if let Some(as_of) = as_of {
            return self.past_balance(account_id, as_of, now).await;
        }
        let book = self.0.store.account_book(account_id, now).await?.ok_or(
            LedgerError::AccountNotFound {
                account: account_id.into(),
            },
        )?;
        let view = book.balance(now);
        let a = &book.account;
        let lots = view
            .lots
            .iter()
            .map(|l| c::lot_balance(l, l.remaining, l.held))
            .collect();
        Ok(Response::new(p::GetBalanceResponse {
            account_id: a.id.to_string(),
            unit: a.unit.to_string(),
            posted: c::amount(view.posted),
            held: c::amount(view.held),
            available: c::amount(view.available),
            credit_line_limit: c::amount(a.credit_line_limit),
            credit_line_used: c::amount(a.credit_line_used),
            credit_line_held: c::amount(a.credit_line_held),
            lots,
            as_of: Some(c::timestamp(now)),
        }))
    }
}
