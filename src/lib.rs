//! # credit-ledger
//!
//! A prepaid credit ledger service: inference gateways authorize and debit credit on the hot
//! path, checkout tops it up, finance exports a double-entry journal that ties to the balances.
//!
//! # Layout
//!
//! - [`ledger`]: the pure engine. Accounts, lots, holds, the drawdown order, both books'
//!   postings, idempotency and every business refusal; what a batch needs loaded
//!   (`ledger/needs.rs`); the versioned fingerprint of a request (`ledger/fingerprint.rs`); the one
//!   spelling of every stored enum (`ledger/names.rs`) and ledger account
//!   (`ledger/accounts.rs`); the versioned encodings of outcomes and events kept in the store
//!   (`ledger/codec/`). No I/O and no clock; the domain types derive no serde.
//! - [`auth`]: API keys and roles, pure: the key format and its hash, and the one table of
//!   which role may call which RPC. `store/keys.rs` keeps the keys, `api/auth.rs` checks them.
//! - [`keys`]: the `key` commands (create, list, revoke), straight on the database.
//! - [`rates`]: the `rates` commands: price book versions published from TOML or CSV files and
//!   read back, straight on the database.
//! - [`executor`]: the batch loop. A bounded queue feeds batches; each batch is one database
//!   transaction (lock, load, apply, write, commit) and nobody is answered before its commit; the
//!   next batch is applied to the state the previous one leaves while that one commits; a batch
//!   that fails for its content is split down to the offending command.
//! - [`store`]: the database behind one contract, SQLite (embedded default) and PostgreSQL, with
//!   what differs said once in `store/sqlite.rs` and `store/postgres.rs`. The only module that
//!   names sqlx; it also holds the SQL of the bench's naive baseline (`store/naive.rs`), which the
//!   service never uses.
//! - [`api`]: the tonic services, one file each; `api/convert.rs` parses the wire into domain
//!   types and back, by the field rules of `common.proto`; `api/status.rs` maps every domain
//!   error to a gRPC status; `api/edge.rs` keeps deadlines and undecodable or oversize requests
//!   within the API's contract; `api/transport.rs` is the HTTP/2 accept loop that serves them.
//! - [`config`]: defaults → optional TOML file → `CREDIT_LEDGER_*` environment, typed and
//!   validated once; it knows nothing above the ledger.
//! - [`server`]: assembles the subsystems (store, executor, sweeper, gRPC server) from the
//!   configuration and runs them until shutdown.
//! - [`client`]: the command-line client subcommands for first calls.
//! - [`journal`]: reports over the stored journal: the export (CSV, JSON Lines, summaries with
//!   carried rounding), the trial balance, the revenue roll-forward and past balances;
//!   `journal::verify` audits invariants 1, 3, 6 and 8.
//! - [`bench`](mod@bench): `credit-ledger bench`, the load generator with its own server
//!   processes, driving the service and the naive one-transaction-per-request baseline alike.
//! - [`metrics`]: the Prometheus metrics, updated where things happen and served on their own
//!   listener.
//! - [`sweeper`]: posts what time makes due (lot and hold expiry, commitment terms) through the
//!   executor, on an interval.
//! - [`telemetry`]: where logs and traces go: stdout, and an OpenTelemetry collector when one
//!   is configured.
//! - [`clock`]: the time source the executor passes to the engine (system or manual in tests).
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod bench;
pub mod client;
pub mod clock;
pub mod config;
pub mod executor;
pub mod journal;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod rates;
pub mod server;
pub mod store;
pub mod sweeper;
pub mod telemetry;

pub mod proto {
    #![allow(clippy::all)]
    tonic::include_proto!("creditledger.v1");

    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("creditledger_descriptor");
}
