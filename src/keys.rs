//! The `credit-ledger key` commands: create, list and revoke API keys straight on the database,
//! so the first key needs no running server. A running server picks a change up at its next key
//! reload (`auth_refresh_ms`).

use anyhow::{bail, ensure, Context as _};
use chrono::{DateTime, Utc};

use crate::auth::{hash_of, ApiKey, Role, Secret};
use crate::ledger::AccountId;
use crate::store::Store;

/// The longest name a key may have.
pub const NAME_LEN_MAX: usize = 200;

/// Creates a key and returns it with its secret, which is shown this once and kept nowhere.
pub async fn create(
    store: &Store,
    role: Role,
    name: &str,
    account: Option<AccountId>,
    now: DateTime<Utc>,
) -> anyhow::Result<(ApiKey, Secret)> {
    ensure!(
        !name.is_empty() && name.len() <= NAME_LEN_MAX && !name.chars().any(char::is_control),
        "a key's name is 1 to {NAME_LEN_MAX} characters, none of them control characters"
    );
    match (role, account) {
        (Role::Account, None) => bail!("an account-scoped key needs --account"),
        (Role::Account, Some(account)) => {
            let found = store
                .account(account)
                .await
                .context("reading the account")?;
            ensure!(found.is_some(), "no account {account}");
        }
        (_, Some(_)) => bail!("only a key with role account is tied to an account"),
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
    store.create_key(&key).await.context("storing the key")?;
    Ok((key, secret))
}

/// One line of `key list`: prefix, role, state, name, account.
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

pub async fn revoke(store: &Store, prefix: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let revoked = store.revoke_key(prefix, now).await?;
    ensure!(revoked, "no active key with prefix {prefix:?}");
    Ok(())
}
