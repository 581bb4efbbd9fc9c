//! `Refills`: auto top-up and recurring grants. Changes go through the executor (both live on
//! the account's row); reads come from the store, and an account's requests from its events.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert as c;
use super::{unexpected, Services};
use crate::ledger::budget::Period;
use crate::ledger::recurring::RecurringGrant;
use crate::ledger::top_up::{self, AutoTopUp, RequestRecord, State};
use crate::ledger::{
    Account, AccountId, Command, CreateRecurringGrant, DeleteRecurringGrant, FailTopUp,
    LedgerError, LotKind, Money, Outcome, Quantity, SetAutoTopUp,
};
use crate::proto as p;

pub struct RefillsService(pub Arc<Services>);

impl RefillsService {
    async fn account(&self, account: c::AccountRef) -> Result<Account, Status> {
        self.0.scope(Some(&account)).await?;
        let id = self.0.resolve(account).await?;
        match self.0.store.account(id).await? {
            Some(account) => Ok(account),
            None => Err(LedgerError::AccountNotFound { account: id.into() }.into()),
        }
    }

    async fn auto_top_up_answer(
        &self,
        account_id: AccountId,
        command: Command,
    ) -> Result<Response<p::AutoTopUpResponse>, Status> {
        match self.0.submit(command).await? {
            Outcome::AutoTopUp(auto) => Ok(Response::new(p::AutoTopUpResponse {
                auto_top_up: Some(auto_top_up(account_id, &auto, self.0.clock.now())),
            })),
            other => Err(unexpected(other)),
        }
    }
}

fn auto_top_up(
    account_id: AccountId,
    a: &AutoTopUp,
    now: chrono::DateTime<chrono::Utc>,
) -> p::AutoTopUp {
    p::AutoTopUp {
        account_id: account_id.to_string(),
        enabled: a.enabled,
        threshold: c::amount(a.threshold),
        target: c::amount(a.target),
        monthly_cap: a.monthly_cap.map(c::amount).unwrap_or_default(),
        open_request: a.open.as_ref().map(|r| p::AutoTopUpRequest {
            request_id: r.id.to_string(),
            amount: c::amount(r.amount),
            state: p::AutoTopUpRequestState::Open as i32,
            requested_at: Some(c::timestamp(r.requested_at)),
            ..Default::default()
        }),
        failures: a.failures,
        retry_at: a.retry_at.map(c::timestamp),
        requested_this_month: c::amount(a.requested_in(now)),
    }
}

fn request_record(r: &RequestRecord) -> p::AutoTopUpRequest {
    let state = match r.state {
        State::Open => p::AutoTopUpRequestState::Open,
        State::Fulfilled => p::AutoTopUpRequestState::Fulfilled,
        State::Failed => p::AutoTopUpRequestState::Failed,
    };
    p::AutoTopUpRequest {
        request_id: r.id.to_string(),
        amount: c::amount(r.amount),
        state: state as i32,
        requested_at: Some(c::timestamp(r.requested_at)),
        settled_at: r.settled_at.map(c::timestamp),
        credited: r.credited.map(|(q, _)| c::amount(q)).unwrap_or_default(),
        lot_id: r
            .credited
            .map(|(_, lot)| lot.to_string())
            .unwrap_or_default(),
        reason: r.reason.clone(),
    }
}

fn recurring_grant(account_id: AccountId, g: &RecurringGrant) -> p::RecurringGrant {
    p::RecurringGrant {
        grant_id: g.id.to_string(),
        account_id: account_id.to_string(),
        quantity: c::amount(g.quantity),
        period: match g.period {
            Period::Week => p::GrantPeriod::Week,
            Period::Day => p::GrantPeriod::Day,
            _ => p::GrantPeriod::Month,
        } as i32,
        time_zone: g.time_zone.name().to_string(),
        kind: c::lot_kind(g.kind) as i32,
        price: c::amount(g.price),
        currency: c::opt_code(g.currency),
        rollover_cap: c::amount(g.rollover_cap),
        created_at: Some(c::timestamp(g.created_at)),
        next_at: Some(c::timestamp(g.next_at)),
        periods_granted: g.granted,
    }
}

fn grant_period(value: i32) -> Result<Period, LedgerError> {
    match p::GrantPeriod::try_from(value) {
        Ok(p::GrantPeriod::Month) => Ok(Period::Month),
        Ok(p::GrantPeriod::Week) => Ok(Period::Week),
        Ok(p::GrantPeriod::Day) => Ok(Period::Day),
        Err(_) => Err(c::invalid("period", format!("unknown period {value}"))),
    }
}

/// A positive amount in the account's unit, or empty for none.
fn optional_quantity(field: &'static str, s: &str) -> Result<Option<Quantity>, LedgerError> {
    match s {
        "" => Ok(None),
        s => Ok(Some(c::unit_amount_or_zero(field, s)?)),
    }
}

#[tonic::async_trait]
impl p::refills_server::Refills for RefillsService {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn set_auto_top_up(
        &self,
        request: Request<p::SetAutoTopUpRequest>,
    ) -> Result<Response<p::AutoTopUpResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let threshold = c::unit_amount_or_zero("threshold", &r.threshold)?;
        let target = c::unit_amount_or_zero("target", &r.target)?;
        let monthly_cap = optional_quantity("monthly_cap", &r.monthly_cap)?;
        let account_id = self.0.resolve(account).await?;
        let command = Command::SetAutoTopUp(SetAutoTopUp {
            idempotency_key,
            account_id,
            enabled: r.enabled,
            threshold,
            target,
            monthly_cap,
        });
        self.auto_top_up_answer(account_id, command).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn get_auto_top_up(
        &self,
        request: Request<p::GetAutoTopUpRequest>,
    ) -> Result<Response<p::AutoTopUpResponse>, Status> {
        let account = c::account_ref("account", request.into_inner().account)?;
        let account = self.account(account).await?;
        let auto = (account.auto_top_up.as_ref()).ok_or(LedgerError::AutoTopUpNotSet {
            account_id: account.id,
        })?;
        Ok(Response::new(p::AutoTopUpResponse {
            auto_top_up: Some(auto_top_up(account.id, auto, self.0.clock.now())),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn report_top_up_failure(
        &self,
        request: Request<p::ReportTopUpFailureRequest>,
    ) -> Result<Response<p::AutoTopUpResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let request_id = c::id_of("request_id", &r.request_id)?;
        let reason = c::text("reason", r.reason, c::TextRule::REFERENCE)?;
        let account_id = self.0.resolve(account).await?;
        let command = Command::FailTopUp(FailTopUp {
            idempotency_key,
            account_id,
            request_id,
            reason,
        });
        self.auto_top_up_answer(account_id, command).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_top_up_requests(
        &self,
        request: Request<p::ListTopUpRequestsRequest>,
    ) -> Result<Response<p::ListTopUpRequestsResponse>, Status> {
        let r = request.into_inner();
        let account = c::account_ref("account", r.account)?;
        let limit = self.0.page_size(r.limit) as usize;
        let account = self.account(account).await?;
        let events = (self.0.store)
            .account_events_of(account.id, &top_up::EVENT_KINDS)
            .await?;
        let events: Vec<_> = events.into_iter().map(|e| e.event).collect();
        Ok(Response::new(p::ListTopUpRequestsResponse {
            requests: (top_up::requests(&events).iter())
                .take(limit)
                .map(request_record)
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn create_recurring_grant(
        &self,
        request: Request<p::CreateRecurringGrantRequest>,
    ) -> Result<Response<p::RecurringGrantResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let quantity = c::quantity(&r.quantity)?;
        let period = grant_period(r.period)?;
        let time_zone = c::time_zone(&r.time_zone)?;
        let kind = match p::LotKind::try_from(r.kind) {
            Ok(p::LotKind::Unspecified | p::LotKind::Promotional) => LotKind::Promotional,
            Ok(p::LotKind::Paid) => LotKind::Paid,
            Err(_) => return Err(c::invalid("kind", format!("unknown kind {}", r.kind)).into()),
        };
        let (price, currency) = match kind {
            LotKind::Paid => (
                c::price("price", &r.price)?,
                Some(c::currency(&r.currency)?),
            ),
            LotKind::Promotional if r.price.is_empty() && r.currency.is_empty() => {
                (Money::ZERO, None)
            }
            LotKind::Promotional => {
                return Err(
                    c::invalid("price", "a promotional grant has no price or currency").into(),
                )
            }
        };
        let rollover_cap =
            optional_quantity("rollover_cap", &r.rollover_cap)?.unwrap_or(Quantity::ZERO);
        let account_id = self.0.resolve(account).await?;
        let command = Command::CreateRecurringGrant(CreateRecurringGrant {
            idempotency_key,
            account_id,
            quantity,
            period,
            time_zone,
            kind,
            price,
            currency,
            rollover_cap,
        });
        match self.0.submit(command).await? {
            Outcome::RecurringGrant { grant, lot } => {
                Ok(Response::new(p::RecurringGrantResponse {
                    grant: Some(recurring_grant(account_id, &grant)),
                    lot: Some(c::lot(&lot, self.0.clock.now())),
                }))
            }
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn delete_recurring_grant(
        &self,
        request: Request<p::DeleteRecurringGrantRequest>,
    ) -> Result<Response<p::RecurringGrantResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let grant_id = c::id_of("grant_id", &r.grant_id)?;
        let account_id = self.0.resolve(account).await?;
        let command = Command::DeleteRecurringGrant(DeleteRecurringGrant {
            idempotency_key,
            account_id,
            grant_id,
        });
        match self.0.submit(command).await? {
            Outcome::RecurringGrantDeleted(grant) => Ok(Response::new(p::RecurringGrantResponse {
                grant: Some(recurring_grant(account_id, &grant)),
                lot: None,
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_recurring_grants(
        &self,
        request: Request<p::ListRecurringGrantsRequest>,
    ) -> Result<Response<p::ListRecurringGrantsResponse>, Status> {
        let account = c::account_ref("account", request.into_inner().account)?;
        let account = self.account(account).await?;
        Ok(Response::new(p::ListRecurringGrantsResponse {
            grants: (account.recurring_grants.iter())
                .map(|g| recurring_grant(account.id, g))
                .collect(),
        }))
    }
}
