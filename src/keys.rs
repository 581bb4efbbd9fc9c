//! Creating, listing and revoking API keys, straight on the database: for the `credit-ledger
//! key` commands (so the first key needs no running server) and the admin-only Keys service. A
//! running server picks a change up at its next key reload (`auth_refresh_ms`).

use chrono::{DateTime, Utc};

use crate::auth::{hash_of, ApiKey, Role, Secret, SecretError};
use crate::ledger::AccountId;
use crate::store::{Store, StoreError};

/// The longest name a key may have.
pub const NAME_LEN_MAX: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a key's name is 1 to {NAME_LEN_MAX} characters, none of them control characters")]
    InvalidName,
    #[error("an account-scoped key needs an account")]
    AccountRequired,
    #[error("only a key with role account is tied to an account")]
    AccountNotAllowed,
    #[error("no account {0}")]
    AccountNotFound(AccountId),
    #[error("no active key with prefix {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a key and returns it with its secret, which is shown this once and kept nowhere.
pub async fn create(
    store: &Store,
    role: Role,
    name: &str,
    account: Option<AccountId>,
    now: DateTime<Utc>,
) -> Result<(ApiKey, Secret), KeyError> {
    if name.is_empty() || name.len() > NAME_LEN_MAX || name.chars().any(char::is_control) {
        return Err(KeyError::InvalidName);
    }
    match (role, account) {
        (Role::Account, None) => return Err(KeyError::AccountRequired),
        (Role::Account, Some(account)) => {
            if store.account(account).await?.is_none() {
                return Err(KeyError::AccountNotFound(account));
            }
        }
        (_, Some(_)) => return Err(KeyError::AccountNotAllowed),
        (_, None) => {}
    }
    let secret = Secret::generate()?;
    let key = ApiKey {
        prefix: secret.prefix().to_string(),
        secret_hash: hash_of(&secret),
        role,
        name: name.to_string(),
        account,
        created_at: now,
        revoked_at: None,
    };
    store.create_key(&key).await?;
    Ok((key, secret))
}

/// One line of `key list`: prefix, role, created, state, name, account.
pub fn line(key: &ApiKey) -> String {
    let state = match key.revoked_at {
        Some(at) => format!("revoked {}", at.to_rfc3339()),
        None => "active".to_string(),
    };
    let account = key.account.map(|a| a.to_string()).unwrap_or_default();
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        key.prefix,
        key.role,
        key.created_at.to_rfc3339(),
        state,
        key.name,
        account
    )
}

pub async fn revoke(store: &Store, prefix: &str, now: DateTime<Utc>) -> Result<(), KeyError> {
    match store.revoke_key(prefix, now).await? {
        true => Ok(()),
        false => Err(KeyError::NotFound(prefix.to_string())),
    }
}
