//! The roles, and the one table of what each may call. Health checks and server reflection are
//! open to anyone; every RPC of the API is in [`RULES`], and a test checks the table against the
//! services the server registers, so neither can change without the other.

use crate::ledger::names::named;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Everything.
    Admin,
    /// An inference gateway: the Usage service and GetAccount.
    Gateway,
    /// Checkout and account management: accounts, top-ups, grants, voids, commitments,
    /// balances and lots.
    Billing,
    /// Customer support: adjustments, voids and every read.
    Support,
    /// Finance: the Journal service and every read.
    Finance,
    /// Dashboards and consumers of events: every read and Subscribe.
    Reader,
    /// A customer-facing view of one account: its balance, lots, entries and events, and
    /// nothing of any other account.
    Account,
}

named!(Role {
    Admin => "admin",
    Gateway => "gateway",
    Billing => "billing",
    Support => "support",
    Finance => "finance",
    Reader => "reader",
    Account => "account",
});

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Gateway,
        Role::Billing,
        Role::Support,
        Role::Finance,
        Role::Reader,
        Role::Account,
    ];
}

/// One RPC and the roles that may call it (admin may call everything, and is not listed).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The gRPC path: `/package.Service/Method`.
    pub path: &'static str,
    pub roles: &'static [Role],
}

use Role::{Account as A, Billing as B, Finance as F, Gateway as G, Reader as R, Support as S};

const fn rule(path: &'static str, roles: &'static [Role]) -> Rule {
    Rule { path, roles }
}

/// Every RPC of the API, and who may call it besides admin.
pub const RULES: &[Rule] = &[
    rule("/creditledger.v1.Accounts/CreateAccount", &[B]),
    rule("/creditledger.v1.Accounts/GetAccount", &[G, B, S, F, R]),
    rule("/creditledger.v1.Accounts/UpdateAccount", &[B]),
    rule("/creditledger.v1.Accounts/ListAccounts", &[B, S, F, R]),
    rule("/creditledger.v1.Credits/TopUp", &[B]),
    rule("/creditledger.v1.Credits/GrantCredits", &[B]),
    rule("/creditledger.v1.Credits/VoidGrant", &[B, S]),
    rule("/creditledger.v1.Credits/ListLots", &[B, S, F, R, A]),
    rule("/creditledger.v1.Credits/Adjust", &[S]),
    rule("/creditledger.v1.Credits/CreateCommitment", &[B]),
    rule("/creditledger.v1.Credits/GetCommitment", &[B, S, F, R]),
    rule("/creditledger.v1.Usage/Authorize", &[G]),
    rule("/creditledger.v1.Usage/Capture", &[G]),
    rule("/creditledger.v1.Usage/Release", &[G]),
    rule("/creditledger.v1.Usage/ExtendHold", &[G]),
    rule("/creditledger.v1.Usage/Debit", &[G]),
    rule("/creditledger.v1.Usage/GetBalance", &[G, B, S, F, R, A]),
    rule("/creditledger.v1.Usage/Quote", &[G, B, S, F, R]),
    rule("/creditledger.v1.Pricing/PublishPriceVersion", &[B]),
    rule("/creditledger.v1.Pricing/GetPriceVersion", &[G, B, S, F, R]),
    rule(
        "/creditledger.v1.Pricing/ListPriceVersions",
        &[G, B, S, F, R],
    ),
    rule("/creditledger.v1.Budgets/CreateBudget", &[B]),
    rule("/creditledger.v1.Budgets/UpdateBudget", &[B]),
    rule("/creditledger.v1.Budgets/DeleteBudget", &[B]),
    rule("/creditledger.v1.Budgets/GetBudget", &[G, B, S, F, R, A]),
    rule("/creditledger.v1.Budgets/ListBudgets", &[G, B, S, F, R, A]),
    rule("/creditledger.v1.Refills/SetAutoTopUp", &[B]),
    rule("/creditledger.v1.Refills/GetAutoTopUp", &[B, S, F, R, A]),
    rule("/creditledger.v1.Refills/ReportTopUpFailure", &[B]),
    rule(
        "/creditledger.v1.Refills/ListTopUpRequests",
        &[B, S, F, R, A],
    ),
    rule("/creditledger.v1.Refills/CreateRecurringGrant", &[B]),
    rule("/creditledger.v1.Refills/DeleteRecurringGrant", &[B]),
    rule(
        "/creditledger.v1.Refills/ListRecurringGrants",
        &[B, S, F, R, A],
    ),
    rule("/creditledger.v1.Journal/ListEntries", &[S, F, R, A]),
    rule("/creditledger.v1.Journal/ExportJournal", &[F]),
    rule("/creditledger.v1.Journal/GetTrialBalance", &[F]),
    rule("/creditledger.v1.Journal/GetRevenueReport", &[F]),
    rule("/creditledger.v1.Journal/GetMarginReport", &[F]),
    rule("/creditledger.v1.Journal/ClosePeriod", &[F]),
    rule("/creditledger.v1.Journal/ListClosedPeriods", &[S, F, R]),
    rule("/creditledger.v1.Events/Subscribe", &[R, A]),
    rule("/creditledger.v1.Keys/CreateKey", &[]),
    rule("/creditledger.v1.Keys/ListKeys", &[]),
    rule("/creditledger.v1.Keys/RevokeKey", &[]),
];

/// Paths anyone may call: health checks (load balancers have no key) and server reflection
/// (it describes the API, not its data).
pub fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

/// The roles that may call `path`, admin first; `None` for a path outside the API.
pub fn roles_for(path: &str) -> Option<Vec<Role>> {
    let rule = RULES.iter().find(|r| r.path == path)?;
    Some(
        std::iter::once(Role::Admin)
            .chain(rule.roles.iter().copied())
            .collect(),
    )
}

/// Whether `role` may call `path`. Admin may call anything, even a path outside the table
/// (the server answers UNIMPLEMENTED); no other role may.
pub fn allowed(role: Role, path: &str) -> bool {
    role == Role::Admin || roles_for(path).is_some_and(|roles| roles.contains(&role))
}

/// [`RULES`] as a Markdown table, a row per RPC and a column per role besides admin: the
/// README's table, which a test holds to this one.
pub fn role_table() -> String {
    let roles = &Role::ALL[1..];
    let mut out = String::from("| RPC |");
    for role in roles {
        out.push_str(&format!(" {role} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(roles.len()));
    for rule in RULES {
        let method = rule.path.trim_start_matches("/creditledger.v1.");
        out.push_str(&format!("\n| `{method}` |"));
        for role in roles {
            out.push_str(if rule.roles.contains(role) {
                " ✓ |"
            } else {
                " |"
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_shows_the_table_as_it_is() {
        let readme = include_str!("../../README.md");
        let table = role_table();
        assert!(
            readme.contains(&table),
            "the README's role table should be:\n{table}"
        );
    }

    #[test]
    fn each_path_is_listed_once_and_admin_may_call_everything() {
        let mut paths: Vec<&str> = RULES.iter().map(|r| r.path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), RULES.len());
        for rule in RULES {
            assert!(allowed(Role::Admin, rule.path));
            assert!(!rule.roles.contains(&Role::Admin));
        }
        assert!(allowed(Role::Admin, "/creditledger.v1.Usage/NoSuchMethod"));
        assert!(!allowed(
            Role::Reader,
            "/creditledger.v1.Usage/NoSuchMethod"
        ));
    }

    #[test]
    fn the_gateway_spends_and_only_billing_mints() {
        assert!(allowed(Role::Gateway, "/creditledger.v1.Usage/Debit"));
        assert!(!allowed(Role::Gateway, "/creditledger.v1.Credits/TopUp"));
        assert!(allowed(Role::Billing, "/creditledger.v1.Credits/TopUp"));
        for role in [Role::Support, Role::Finance, Role::Reader, Role::Account] {
            assert!(!allowed(role, "/creditledger.v1.Credits/TopUp"), "{role}");
        }
        assert_eq!("account".parse::<Role>(), Ok(Role::Account));
    }
}
