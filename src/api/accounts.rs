//! `Accounts`: create, read, update and list accounts.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert as c;
use super::{unexpected, Services};
use crate::ledger::{Command, CreateAccount, LedgerError, Outcome, UpdateAccount};
use crate::proto as p;

pub struct AccountsService(pub Arc<Services>);

#[tonic::async_trait]
impl p::accounts_server::Accounts for AccountsService {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn create_account(
        &self,
        request: Request<p::CreateAccountRequest>,
    ) -> Result<Response<p::CreateAccountResponse>, Status> {
        let r = request.into_inner();
        let command = Command::CreateAccount(CreateAccount {
            idempotency_key: c::key(r.idempotency_key)?,
            external_id: c::text("external_id", r.external_id, c::TextRule::ID)?,
            unit: c::unit(&r.unit)?,
            unit_scale: r.unit_scale,
            credit_line_limit: c::unit_amount_or_zero("credit_line_limit", &r.credit_line_limit)?,
            credit_line_price: c::money("credit_line_price", &r.credit_line_price)?,
            currency: c::currency(&r.currency)?,
            low_balance: c::low_balance(r.low_balance)?,
        });
        match self.0.submit(command).await? {
            Outcome::Account(a) => Ok(Response::new(p::CreateAccountResponse {
                account: Some(c::account(&a)),
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn get_account(
        &self,
        request: Request<p::GetAccountRequest>,
    ) -> Result<Response<p::GetAccountResponse>, Status> {
        let id = self
            .0
            .resolve(c::account_ref("account", request.into_inner().account)?)
            .await?;
        let account = self
            .0
            .store
            .account(id)
            .await?
            .ok_or(LedgerError::AccountNotFound { account: id.into() })?;
        Ok(Response::new(p::GetAccountResponse {
            account: Some(c::account(&account)),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn update_account(
        &self,
        request: Request<p::UpdateAccountRequest>,
    ) -> Result<Response<p::UpdateAccountResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let account = c::account_ref("account", r.account)?;
        let credit_line_limit = r
            .credit_line_limit
            .map(|s| c::unit_amount_or_zero("credit_line_limit", &s))
            .transpose()?;
        let credit_line_price = r
            .credit_line_price
            .map(|s| c::money("credit_line_price", &s))
            .transpose()?;
        let status = c::account_status(r.status)?;
        let low_balance = r.low_balance.map(|t| c::low_balance(Some(t))).transpose()?;
        let price_book = r.price_book.map(c::price_book).transpose()?;
        let command = Command::UpdateAccount(UpdateAccount {
            idempotency_key,
            account_id: self.0.resolve(account).await?,
            credit_line_limit,
            credit_line_price,
            status,
            low_balance,
            price_book,
        });
        match self.0.submit(command).await? {
            Outcome::Account(a) => Ok(Response::new(p::UpdateAccountResponse {
                account: Some(c::account(&a)),
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_accounts(
        &self,
        request: Request<p::ListAccountsRequest>,
    ) -> Result<Response<p::ListAccountsResponse>, Status> {
        let r = request.into_inner();
        let size = self.0.page_size(r.page_size);
        let after = c::page_token(&r.page_token)?;
        let accounts = self.0.store.list_accounts(after, size).await?;
        let next_page_token = match accounts.len() as u32 == size {
            true => accounts
                .last()
                .map(|a| a.id.to_string())
                .unwrap_or_default(),
            false => String::new(),
        };
        Ok(Response::new(p::ListAccountsResponse {
            accounts: accounts.iter().map(c::account).collect(),
            next_page_token,
        }))
    }
}
