//! `Budgets`: caps on what a subject under an account may spend. Changes go through the
//! executor like every other mutation (budgets live on the account's row); reads come from the
//! store, each budget as it stands at the time of the answer.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert as c;
use super::Services;
use crate::ledger::budget::{self, Budget, Period};
use crate::ledger::{
    AccountId, BudgetId, Command, CreateBudget, DeleteBudget, LedgerError, Outcome, UpdateBudget,
};
use crate::proto as p;

pub struct BudgetsService(pub Arc<Services>);

impl BudgetsService {
    async fn answer(&self, command: Command) -> Result<Response<p::BudgetResponse>, Status> {
        let account_id = match &command {
            Command::CreateBudget(c) => c.account_id,
            Command::UpdateBudget(c) => c.account_id,
            Command::DeleteBudget(c) => c.account_id,
            _ => unreachable!("only budget commands are answered here"),
        };
        match self.0.submit(command).await? {
            Outcome::Budget(b) | Outcome::BudgetDeleted(b) => {
                Ok(Response::new(p::BudgetResponse {
                    budget: Some(budget_of(account_id, &b, self.0.clock.now())),
                }))
            }
            other => Err(super::unexpected(other)),
        }
    }

    /// The account's budgets, read from the store.
    async fn budgets(&self, account: c::AccountRef) -> Result<(AccountId, Vec<Budget>), Status> {
        self.0.scope(Some(&account)).await?;
        let id = self.0.resolve(account).await?;
        match self.0.store.account(id).await? {
            Some(account) => Ok((id, account.budgets)),
            None => Err(LedgerError::AccountNotFound { account: id.into() }.into()),
        }
    }
}

#[tonic::async_trait]
impl p::budgets_server::Budgets for BudgetsService {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn create_budget(
        &self,
        request: Request<p::CreateBudgetRequest>,
    ) -> Result<Response<p::BudgetResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let command = Command::CreateBudget(CreateBudget {
            idempotency_key,
            subject: c::subject(r.subject)?,
            meter: c::meter(r.meter)?,
            limit: c::unit_amount_or_zero("limit", &r.limit)?,
            period: period(r.period)?,
            time_zone: time_zone(&r.time_zone)?,
            hard: r.hard,
            alerts: alerts(r.alerts)?,
            account_id: self.0.resolve(account).await?,
        });
        self.answer(command).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn update_budget(
        &self,
        request: Request<p::UpdateBudgetRequest>,
    ) -> Result<Response<p::BudgetResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let command = Command::UpdateBudget(UpdateBudget {
            idempotency_key,
            budget_id: c::id_of("budget_id", &r.budget_id)?,
            limit: c::unit_amount_or_zero("limit", &r.limit)?,
            hard: r.hard,
            alerts: alerts(r.alerts)?,
            account_id: self.0.resolve(account).await?,
        });
        self.answer(command).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn delete_budget(
        &self,
        request: Request<p::DeleteBudgetRequest>,
    ) -> Result<Response<p::BudgetResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let command = Command::DeleteBudget(DeleteBudget {
            idempotency_key,
            budget_id: c::id_of("budget_id", &r.budget_id)?,
            account_id: self.0.resolve(account).await?,
        });
        self.answer(command).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn get_budget(
        &self,
        request: Request<p::GetBudgetRequest>,
    ) -> Result<Response<p::BudgetResponse>, Status> {
        let r = request.into_inner();
        let account = c::account_ref("account", r.account)?;
        let budget_id: BudgetId = c::id_of("budget_id", &r.budget_id)?;
        let (account_id, budgets) = self.budgets(account).await?;
        let budget = (budgets.iter())
            .find(|b| b.id == budget_id)
            .ok_or(LedgerError::BudgetNotFound { budget_id })?;
        Ok(Response::new(p::BudgetResponse {
            budget: Some(budget_of(account_id, budget, self.0.clock.now())),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_budgets(
        &self,
        request: Request<p::ListBudgetsRequest>,
    ) -> Result<Response<p::ListBudgetsResponse>, Status> {
        let r = request.into_inner();
        let account = c::account_ref("account", r.account)?;
        let subject = c::subject(r.subject)?;
        let (account_id, budgets) = self.budgets(account).await?;
        let now = self.0.clock.now();
        Ok(Response::new(p::ListBudgetsResponse {
            budgets: (budgets.iter())
                .filter(|b| subject.is_empty() || budget::covers(&b.subject, &subject))
                .map(|b| budget_of(account_id, b, now))
                .collect(),
        }))
    }
}

/// A budget as it stands at `now`.
fn budget_of(account_id: AccountId, b: &Budget, now: chrono::DateTime<chrono::Utc>) -> p::Budget {
    let standing = b.standing(now);
    p::Budget {
        budget_id: b.id.to_string(),
        account_id: account_id.to_string(),
        subject: b.subject.clone(),
        meter: b.meter.clone(),
        limit: c::amount(b.limit),
        period: match b.period {
            Period::None => p::BudgetPeriod::None,
            Period::Day => p::BudgetPeriod::Day,
            Period::Week => p::BudgetPeriod::Week,
            Period::Month => p::BudgetPeriod::Month,
        } as i32,
        time_zone: b.time_zone.name().to_string(),
        hard: b.hard,
        alerts: b.alerts.clone(),
        spent: c::amount(standing.spent),
        held: c::amount(standing.held),
        remaining: c::amount(standing.remaining),
        period_start: Some(c::timestamp(standing.period_start)),
        resets_at: standing.resets_at.map(c::timestamp),
        created_at: Some(c::timestamp(b.created_at)),
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> LedgerError {
    LedgerError::InvalidArgument {
        field,
        reason: reason.into(),
    }
}

fn period(value: i32) -> Result<Period, LedgerError> {
    match p::BudgetPeriod::try_from(value) {
        Ok(p::BudgetPeriod::None) => Ok(Period::None),
        Ok(p::BudgetPeriod::Day) => Ok(Period::Day),
        Ok(p::BudgetPeriod::Week) => Ok(Period::Week),
        Ok(p::BudgetPeriod::Month) => Ok(Period::Month),
        Err(_) => Err(invalid("period", format!("unknown period {value}"))),
    }
}

/// An IANA zone name; empty is UTC.
fn time_zone(name: &str) -> Result<chrono_tz::Tz, LedgerError> {
    match name {
        "" => Ok(chrono_tz::Tz::UTC),
        name => name.parse().map_err(|_| {
            invalid(
                "time_zone",
                format!(
                    "not an IANA time zone name (e.g. Europe/Paris): {:?}",
                    crate::ledger::amount::truncated(name)
                ),
            )
        }),
    }
}

fn alerts(values: Vec<u32>) -> Result<Vec<u32>, LedgerError> {
    budget::check_alerts(values).map_err(|reason| invalid("alerts", reason))
}
