//! The gRPC services, one file each. A handler parses its request (`convert`), submits a command
//! to the executor or reads the store, and converts the outcome back. No business rule and no SQL
//! lives here.

pub mod accounts;
pub mod auth;
pub mod budgets;
pub mod commitments;
pub mod convert;
pub mod credits;
pub mod edge;
pub mod events;
pub mod journal;
pub mod keys;
pub mod pricing;
pub mod refills;
pub mod status;
pub mod tls;
pub mod trace;
pub mod transport;
pub mod usage;

use std::sync::Arc;

use tonic::Status;

use crate::clock::Clock;
use crate::executor::Executor;
use crate::ledger::{AccountId, AccountName, Command, LedgerError, Outcome};
use crate::store::Store;
use convert::AccountRef;

/// What every service shares.
pub struct Services {
    pub store: Store,
    pub executor: Executor,
    pub clock: Arc<dyn Clock>,
    pub page_size_default: u32,
    pub page_size_max: u32,
    /// Turns true when the server shuts down: long-lived streams end on it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub events_poll: std::time::Duration,
    /// The price books, in memory: what the executor rates by, and what Quote reads.
    pub prices: crate::rates::Prices,
}

impl Services {
    /// Our id of the account the caller named. External ids are looked up once here; an
    /// account's id never changes, so the executor can work with ids alone.
    pub async fn resolve(&self, account: AccountRef) -> Result<AccountId, Status> {
        match account {
            AccountRef::Id(id) => Ok(id),
            AccountRef::External(external_id) => {
                match self.store.account_by_external_id(&external_id).await? {
                    Some(a) => Ok(a.id),
                    None => Err(LedgerError::AccountNotFound {
                        account: AccountName::External(external_id),
                    }
                    .into()),
                }
            }
        }
    }

    /// Like [`Services::resolve`], but an id is also looked up: reads that list what belongs to
    /// an account answer NOT_FOUND for one that does not exist, as GetBalance does, rather than
    /// an empty page or a silent stream. Mutations skip the lookup; the engine refuses an
    /// unknown account under the batch's lock.
    pub async fn resolve_existing(&self, account: AccountRef) -> Result<AccountId, Status> {
        let id = match account {
            // Found by its external id: it exists.
            external @ AccountRef::External(_) => return self.resolve(external).await,
            AccountRef::Id(id) => id,
        };
        match self.store.account(id).await? {
            Some(_) => Ok(id),
            None => Err(LedgerError::AccountNotFound { account: id.into() }.into()),
        }
    }

    pub async fn submit(&self, command: Command) -> Result<Outcome, Status> {
        let name = command.name();
        let result = (self.executor).submit_as(command, actor()).await;
        if let Err(error) = &result {
            tracing::debug!(command = name, %error, "refused");
        }
        Ok(result?)
    }

    /// Refuses an account-scoped caller any account but its own, before anything is looked
    /// up, so the answer does not say whether another account exists; a read across accounts
    /// (`None`) is refused it too. Every other caller may read any account.
    pub async fn scope(&self, account: Option<&AccountRef>) -> Result<(), Status> {
        let Some(own) = auth::current_caller().and_then(|c| c.account) else {
            return Ok(());
        };
        let same = match account {
            None => false,
            Some(AccountRef::Id(id)) => *id == own,
            Some(AccountRef::External(external)) => {
                (self.store.account(own).await?).is_some_and(|a| a.external_id == *external)
            }
        };
        match same {
            true => Ok(()),
            false => Err(status::with_metadata(
                tonic::Code::PermissionDenied,
                "ACCOUNT_NOT_ALLOWED",
                "this key may read only its own account, and must name it",
                &[("account", own.to_string())],
            )),
        }
    }

    pub fn page_size(&self, requested: u32) -> u32 {
        convert::page_size(requested, self.page_size_default, self.page_size_max)
    }
}

/// Who the entries of the call being served record: its key's prefix, or empty without a key.
fn actor() -> String {
    auth::current_caller()
        .map(|caller| caller.prefix)
        .unwrap_or_default()
}

/// An outcome of the wrong kind for the command means the engine and the API disagree.
pub fn unexpected(outcome: Outcome) -> Status {
    tracing::error!(?outcome, "unexpected outcome for command");
    status::internal()
}
