//! Who may call what: API keys and their roles. Pure: no I/O here. The store keeps the keys
//! (`store::keys`), the edge checks them on every call (`api::auth`).
//!
//! - A key is `cl_<prefix>_<secret>`: a 48-bit public prefix that names it in listings and logs,
//!   and a 256-bit secret. It is shown once, when created; the store keeps only its SHA-256.
//! - Each key has one [`Role`]. What each role may call is one table, [`RULES`], with a row per
//!   RPC. An account-scoped key is also tied to one account, which the services enforce.

mod roles;
mod secret;

pub use roles::{allowed, is_open, role_table, roles_for, Role, Rule, RULES};
pub use secret::{hash_of, Secret, SecretError, PREFIX_LEN};

use chrono::{DateTime, Utc};

use crate::ledger::AccountId;

/// A key as the store keeps it: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub prefix: String,
    /// Lower-case hex SHA-256 of the whole key.
    pub secret_hash: String,
    pub role: Role,
    /// Who or what holds it, for the operator.
    pub name: String,
    /// The one account an account-scoped key may read; `None` for every other role.
    pub account: Option<AccountId>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The caller of a request, once its key has been checked (see `api::auth::current_caller`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub prefix: String,
    pub role: Role,
    pub account: Option<AccountId>,
}
