//! `Budgets`: caps on what a subject under an account may spend. Changes go through the
//! executor like every other mutation (budgets live on the account's row); reads come from the
//! store, each budget as it stands at the time of the answer.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert as c;
use super::Services;
use crate::ledger::budget::{self, Budget};
use crate::ledger::{
    AccountId, BudgetId, Command, CreateBudget, DeleteBudget, LedgerError, Outcome, UpdateBudget,
};
use crate::proto as p;

pub struct BudgetsService(pub Arc<Services>);

impl BudgetsService {
    /// Submits a budget command on `account_id` and answers the budget it left (or deleted).
    async fn answer(
        &self,
        account_id: AccountId,
        command: Command,
    ) -> Result<Response<p::BudgetResponse>, Status> {
        match self.0.submit(command).await? {
            Outcome::Budget(b) | Outcome::BudgetDeleted(b) => {
                Ok(Response::new(p::BudgetResponse {
                    budget: Some(c::budget(account_id, &b, self.0.clock.now())),
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
        let (subject, meter) = (c::subject(r.subject)?, c::meter(r.meter)?);
        let limit = c::unit_amount_or_zero("limit", &r.limit)?;
        let (period, time_zone) = (c::budget_period(r.period)?, c::time_zone(&r.time_zone)?);
        let alerts = c::alerts(r.alerts)?;
        let account_id = self.0.resolve(account).await?;
        let command = Command::CreateBudget(CreateBudget {
            idempotency_key,
            account_id,
            subject,
            meter,
            limit,
            period,
            time_zone,
            hard: r.hard,
            alerts,
            window_seconds: r.window_seconds,
            max_requests: r.max_requests,
        });
        self.answer(account_id, command).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn update_budget(
        &self,
        request: Request<p::UpdateBudgetRequest>,
    ) -> Result<Response<p::BudgetResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let budget_id = c::id_of("budget_id", &r.budget_id)?;
        let limit = c::unit_amount_or_zero("limit", &r.limit)?;
        let alerts = c::alerts(r.alerts)?;
        let account_id = self.0.resolve(account).await?;
        let command = Command::UpdateBudget(UpdateBudget {
            idempotency_key,
            account_id,
            budget_id,
            limit,
            hard: r.hard,
            alerts,
            max_requests: r.max_requests,
        });
        self.answer(account_id, command).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn delete_budget(
        &self,
        request: Request<p::DeleteBudgetRequest>,
    ) -> Result<Response<p::BudgetResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let budget_id = c::id_of("budget_id", &r.budget_id)?;
        let account_id = self.0.resolve(account).await?;
        let command = Command::DeleteBudget(DeleteBudget {
            idempotency_key,
            account_id,
            budget_id,
        });
        self.answer(account_id, command).await
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
            budget: Some(c::budget(account_id, budget, self.0.clock.now())),
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
                .map(|b| c::budget(account_id, b, now))
                .collect(),
        }))
    }
}
