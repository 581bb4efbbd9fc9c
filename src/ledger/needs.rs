//! What a batch of commands refers to: the engine says it, the store loads it. Adding a command
//! means saying here what it needs, never editing the store.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::command::{Command, Target};
use super::names::UnknownName;
use super::types::{AccountId, HoldId, LotId};

/// Where an idempotency key is kept: per account, and apart for account creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    CreateAccount,
    Account(AccountId),
}

const CREATE_ACCOUNT: &str = "create_account";

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::CreateAccount => f.write_str(CREATE_ACCOUNT),
            Scope::Account(id) => id.fmt(f),
        }
    }
}

impl FromStr for Scope {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            CREATE_ACCOUNT => Ok(Scope::CreateAccount),
            id => id.parse().map(Scope::Account).map_err(|_| UnknownName {
                kind: "Scope",
                name: id.to_string(),
            }),
        }
    }
}

/// The scope of a command's key as the batch knows it before loading: a capture names its hold,
/// whose account the store finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyScope {
    Known(Scope),
    HoldOf(HoldId),
}

/// Everything a batch of commands refers to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Needs {
    /// Accounts named by id; the store adds the accounts of the holds.
    pub accounts: BTreeSet<AccountId>,
    pub holds: BTreeSet<HoldId>,
    /// Accounts whose every open hold must be loaded (a void or a sweep releases from them).
    pub all_open_holds: BTreeSet<AccountId>,
    /// Lots named by id, loaded even when no longer active, to be refused precisely.
    pub named_lots: BTreeSet<LotId>,
    /// External ids that account creations ask for.
    pub external_ids: BTreeSet<String>,
    /// Idempotency keys with what scopes them.
    pub keys: BTreeSet<(KeyScope, String)>,
    /// Accounts the batch sweeps: their active commitments are loaded.
    pub sweeps: BTreeSet<AccountId>,
}

impl Needs {
    pub fn of(commands: &[&Command]) -> Needs {
        let mut needs = Needs::default();
        for command in commands {
            let target = command.target();
            if command.is_keyed() {
                let scope = match target {
                    Target::NewAccount => KeyScope::Known(Scope::CreateAccount),
                    Target::Account(id) => KeyScope::Known(Scope::Account(id)),
                    Target::Hold(id) => KeyScope::HoldOf(id),
                };
                needs
                    .keys
                    .insert((scope, command.idempotency_key().to_string()));
            }
            match target {
                Target::NewAccount => {}
                Target::Account(id) => {
                    needs.accounts.insert(id);
                }
                Target::Hold(id) => {
                    needs.holds.insert(id);
                }
            }
            match command {
                Command::CreateAccount(c) => {
                    needs.external_ids.insert(c.external_id.clone());
                }
                Command::VoidGrant(c) => {
                    needs.all_open_holds.insert(c.account_id);
                    needs.named_lots.insert(c.lot_id);
                }
                Command::Adjust(c) => needs.named_lots.extend(c.lot_id),
                // Expiring a lot releases it from the holds that reserve it.
                Command::Sweep(c) => {
                    needs.all_open_holds.insert(c.account_id);
                    needs.sweeps.insert(c.account_id);
                }
                Command::UpdateAccount(_)
                | Command::Grant(_)
                | Command::Authorize(_)
                | Command::Capture(_)
                | Command::Release(_)
                | Command::ExtendHold(_)
                | Command::Debit(_)
                | Command::CreateCommitment(_)
                | Command::CreateBudget(_)
                | Command::UpdateBudget(_)
                | Command::DeleteBudget(_)
                | Command::SetAutoTopUp(_)
                | Command::FailTopUp(_)
                | Command::CreateRecurringGrant(_)
                | Command::DeleteRecurringGrant(_) => {}
            }
        }
        needs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_spelled_as_stored() {
        let id = AccountId(uuid::Uuid::from_u128(7));
        for scope in [Scope::CreateAccount, Scope::Account(id)] {
            assert_eq!(scope.to_string().parse::<Scope>(), Ok(scope));
        }
        assert_eq!(Scope::CreateAccount.to_string(), "create_account");
        assert!("nonsense".parse::<Scope>().is_err());
    }
}
