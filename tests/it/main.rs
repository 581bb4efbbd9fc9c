//! The integration suite: one binary, a module per capability. Every store-backed test runs
//! once against SQLite and once against PostgreSQL (`both_stores!`).

mod helpers;

mod accounting;
mod accounts_credits;
mod auth;
mod batching;
mod budgets;
mod commitments;
mod edge;
mod engine;
mod events;
mod expiry;
mod exports;
mod fuzz;
mod idempotency;
mod inputs;
mod instances;
mod journal;
mod lifecycle;
mod metrics;
mod migration;
mod overlap;
mod periods;
mod poison;
mod python;
mod rates;
mod rating;
mod refills;
mod refusals;
mod rounding;
mod schema;
mod spelling;
mod tieout;
mod tls;
mod trace;
mod velocity;
mod verify;
mod wire;
