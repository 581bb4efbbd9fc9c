//! The pure ledger engine: amounts, accounts, lots, holds, the drawdown order, postings of both
//! books and every business refusal. No I/O, no clock (time is an argument), no tokio, sqlx or
//! tonic: it is where the rules live and where the model-based tests run.

pub mod accounts;
pub mod amount;
pub mod book;
pub mod budget;
pub mod code;
pub mod codec;
pub mod command;
pub mod engine;
pub mod entry;
pub mod error;
pub mod fingerprint;
pub mod names;
pub mod needs;
pub mod rating;
pub mod recurring;
pub mod top_up;
pub mod types;

pub use accounts::LedgerAccount;
pub use amount::{Money, NetQuantity, Percent, Quantity};
pub use book::{AccountBook, BalanceView, Source};
pub use code::{Code, Currency, Unit};
pub use command::*;
pub use engine::{IdSource, IdempotencyRecord, Ledger, Limits, Snapshot, Writes};
pub use entry::{Book, Entry, EntryKind, Posting, Side};
pub use error::{AccountName, BudgetRefusal, LedgerError, VelocityRefusal};
pub use fingerprint::fingerprint;
pub use needs::{KeyScope, Needs, Scope};
pub use types::*;
