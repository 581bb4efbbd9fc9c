//! The integration suite: one binary, a module per capability. Every store-backed test runs
//! once against SQLite and once against PostgreSQL (`both_stores!`).

mod helpers;

mod idempotency;
mod lifecycle;
mod refusals;
