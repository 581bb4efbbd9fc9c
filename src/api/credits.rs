//! `Credits`: top-ups, promotional grants, voids and the lots of an account; adjustments and
//! commitments are in `commitments.rs`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert as c;
use super::{commitments, unexpected, Services};
use crate::ledger::{Command, Grant, LotKind, Money, Outcome, VoidGrant};
use crate::proto as p;

pub struct CreditsService(pub Arc<Services>);

impl CreditsService {
    /// A top-up and a promotional grant differ only in kind, price and currency: a grant
    /// arrives here in the top-up's shape with those left empty.
    async fn grant(
        &self,
        kind: LotKind,
        r: p::TopUpRequest,
    ) -> Result<Response<p::GrantResponse>, Status> {
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let quantity = c::quantity(&r.quantity)?;
        let (price, currency) = match kind {
            LotKind::Paid => (
                c::price("price", &r.price)?,
                Some(c::currency(&r.currency)?),
            ),
            LotKind::Promotional => (Money::ZERO, None),
        };
        let effective_at = c::opt_stored_time("effective_at", r.effective_at)?;
        let expires_at = c::opt_stored_time("expires_at", r.expires_at)?;
        let scope = c::scope(r.scope)?;
        let reference = c::text("reference", r.reference, c::TextRule::REFERENCE)?;
        let command = Command::Grant(Grant {
            idempotency_key,
            account_id: self.0.resolve(account).await?,
            kind,
            quantity,
            price,
            currency,
            priority: r.priority,
            effective_at,
            expires_at,
            scope,
            reference,
        });
        let outcome = self.0.submit(command).await?;
        let now = self.0.clock.now();
        match outcome {
            Outcome::Granted { lot, entry_id } => Ok(Response::new(p::GrantResponse {
                lot: Some(c::lot(&lot, now)),
                entry_id: entry_id.to_string(),
            })),
            other => Err(unexpected(other)),
        }
    }
}

#[tonic::async_trait]
impl p::credits_server::Credits for CreditsService {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn top_up(
        &self,
        request: Request<p::TopUpRequest>,
    ) -> Result<Response<p::GrantResponse>, Status> {
        self.grant(LotKind::Paid, request.into_inner()).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn grant_credits(
        &self,
        request: Request<p::GrantCreditsRequest>,
    ) -> Result<Response<p::GrantResponse>, Status> {
        let r = request.into_inner();
        let as_top_up = p::TopUpRequest {
            idempotency_key: r.idempotency_key,
            account: r.account,
            quantity: r.quantity,
            priority: r.priority,
            effective_at: r.effective_at,
            expires_at: r.expires_at,
            scope: r.scope,
            reference: r.reference,
            ..Default::default()
        };
        self.grant(LotKind::Promotional, as_top_up).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn void_grant(
        &self,
        request: Request<p::VoidGrantRequest>,
    ) -> Result<Response<p::VoidGrantResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let lot_id = c::id_of("lot_id", &r.lot_id)?;
        let reason = c::text("reason", r.reason, c::TextRule::REASON)?;
        let command = Command::VoidGrant(VoidGrant {
            idempotency_key,
            account_id: self.0.resolve(account).await?,
            lot_id,
            reason,
            release_holds: r.release_holds,
        });
        let outcome = self.0.submit(command).await?;
        let now = self.0.clock.now();
        match outcome {
            Outcome::Voided {
                lot,
                entry_id,
                quantity_voided,
                money_refunded,
            } => Ok(Response::new(p::VoidGrantResponse {
                currency: c::opt_code(lot.currency),
                lot: Some(c::lot(&lot, now)),
                entry_id: entry_id.to_string(),
                quantity_voided: c::amount(quantity_voided),
                money_refunded: c::amount(money_refunded),
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_lots(
        &self,
        request: Request<p::ListLotsRequest>,
    ) -> Result<Response<p::ListLotsResponse>, Status> {
        let r = request.into_inner();
        let account = c::account_ref("account", r.account)?;
        let size = self.0.page_size(r.page_size);
        let after = c::page_token(&r.page_token)?;
        self.0.scope(Some(&account)).await?;
        let account_id = self.0.resolve_existing(account).await?;
        let lots = self
            .0
            .store
            .list_lots(account_id, r.include_inactive, after, size)
            .await?;
        let now = self.0.clock.now();
        let next_page_token = match lots.len() as u32 == size {
            true => lots.last().map(|l| l.id.to_string()).unwrap_or_default(),
            false => String::new(),
        };
        Ok(Response::new(p::ListLotsResponse {
            lots: lots.iter().map(|l| c::lot(l, now)).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn adjust(
        &self,
        request: Request<p::AdjustRequest>,
    ) -> Result<Response<p::AdjustResponse>, Status> {
        commitments::adjust(&self.0, request.into_inner()).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn create_commitment(
        &self,
        request: Request<p::CreateCommitmentRequest>,
    ) -> Result<Response<p::CreateCommitmentResponse>, Status> {
        commitments::create_commitment(&self.0, request.into_inner()).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn get_commitment(
        &self,
        request: Request<p::GetCommitmentRequest>,
    ) -> Result<Response<p::GetCommitmentResponse>, Status> {
        commitments::get_commitment(&self.0, request.into_inner()).await
    }
}
