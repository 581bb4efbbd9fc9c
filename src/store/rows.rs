//! Rows ↔ domain values. Everything read back is parsed again, so a damaged row becomes a
//! `StoreError::Corrupt` naming the column rather than a wrong balance.

use std::str::FromStr;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::Kind::*;
use super::sql::{col, Column, Value};
use super::{StoreError, StoreResult};
use crate::ledger::amount::Amount;
use crate::ledger::codec;
use crate::ledger::*;

pub(super) const ACCOUNT_COLUMNS: &[Column] = &[
    col("id", Id),
    col("external_id", Text),
    col("unit", Text),
    col("unit_scale", Int),
    col("status", Text),
    col("credit_line_limit", Amount),
    col("credit_line_used", Amount),
    col("credit_line_held", Amount),
    col("credit_line_price", Amount),
    col("currency", Text),
    col("open_holds", Int),
    col("entry_seq", Int),
    col("last_hash", Text),
    col("created_at", Time),
    col("low_balance_kind", Text),
    col("low_balance_value", Amount),
    col("low_balance_base", Amount),
    col("alert_level", Text),
    col("credit_line_spent", Amount),
    col("credit_line_until", Time),
    col("version", Int),
    col("price_book", Text),
    col("rating_carry", Text),
    col("cost_carry", Text),
    col("budgets", Text),
    col("due_at", Time),
    col("auto_top_up", Text),
    col("recurring_grants", Text),
];
pub(super) const LOT_COLUMNS: &[Column] = &[
    col("id", Id),
    col("account_id", Id),
    col("kind", Text),
    col("status", Text),
    col("priority", Int),
    col("granted", Amount),
    col("remaining", Amount),
    col("held", Amount),
    col("effective_at", Time),
    col("expires_at", Time),
    col("scope", Text),
    col("cost_basis", Amount),
    col("money_deferred", Amount),
    col("currency", Text),
    col("reference", Text),
    col("created_at", Time),
];
pub(super) const HOLD_COLUMNS: &[Column] = &[
    col("id", Id),
    col("account_id", Id),
    col("status", Text),
    col("authorized", Amount),
    col("captured", Amount),
    col("reserved", Text),
    col("expires_at", Time),
    col("created_at", Time),
    col("meter", Text),
    col("reference", Text),
    col("price_book", Text),
    col("price_version", Int),
    col("subject", Text),
    col("budgets", Text),
];
/// An entry's columns, then any that follow them in a statement.
macro_rules! entry_columns {
    ($($more:expr),*) => {
        &[
            col("id", Id),
            col("account_id", Id),
            col("account_seq", Int),
            col("kind", Text),
            col("effective_at", Time),
            col("recorded_at", Time),
            col("idempotency_key", Text),
            col("reference", Text),
            col("lot_id", Id),
            col("hold_id", Id),
            col("prev_hash", Text),
            col("hash", Text),
            col("postings", Text),
            col("actor", Text),
            col("rating", Text),
            col("original_effective_at", Time),
            $($more),*
        ]
    };
}
pub(super) const ENTRY_COLUMNS: &[Column] = entry_columns!();
/// What an entry's insert writes: its columns, then the idempotency record of the command that
/// wrote it (null when that record is kept in `idempotency`).
pub(super) const ENTRY_INSERT_COLUMNS: &[Column] =
    entry_columns!(col("request_hash", Text), col("outcome", Text));
/// The idempotency record of a command on an account that wrote no entry.
pub(super) const IDEMPOTENCY_COLUMNS: &[Column] = &[
    col("account_id", Id),
    col("key", Text),
    col("request_hash", Text),
    col("outcome", Text),
    col("created_at", Time),
];
/// The idempotency record of an account's creation, keyed by the key alone (the account does not
/// exist when a retry comes).
pub(super) const CREATION_COLUMNS: &[Column] = &[
    col("key", Text),
    col("request_hash", Text),
    col("outcome", Text),
    col("created_at", Time),
];
/// Which account owns an external id; the id's uniqueness lives here.
pub(super) const EXTERNAL_ID_COLUMNS: &[Column] =
    &[col("external_id", Text), col("account_id", Id)];
/// Which account holds a hold, so a capture that names only the hold finds its account by a key
/// lookup.
pub(super) const HOLD_ACCOUNT_COLUMNS: &[Column] = &[col("hold_id", Id), col("account_id", Id)];
pub(super) const COMMITMENT_COLUMNS: &[Column] = &[
    col("id", Id),
    col("account_id", Id),
    col("kind", Text),
    col("status", Text),
    col("term_start", Time),
    col("term_end", Time),
    col("quantity", Amount),
    col("price", Amount),
    col("minimum_spend", Amount),
    col("currency", Text),
    col("lot_id", Id),
    col("spent_at_start", Amount),
    col("used_at_start", Amount),
    col("consumed", Amount),
    col("shortfall", Amount),
    col("true_up_entry_id", Id),
    col("notified", Bool),
    col("reference", Text),
    col("created_at", Time),
];
/// What is inserted; `seq` is assigned by the database.
pub(super) const EVENT_COLUMNS: &[Column] = &[
    col("id", Id),
    col("account_id", Id),
    col("kind", Text),
    col("occurred_at", Time),
    col("payload", Text),
];

fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(anyhow!("column {column}: {e}"))
}

/// A row's columns by name: a driver's row, or an entry packed as JSON (SQLite's streamed
/// reads, see `journal.rs`). Every reader below is written once over the two lookups.
pub(super) trait Fields {
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
}

/// A driver's row: the Any driver's, or PostgreSQL's own (its long reads, see `journal.rs`).
macro_rules! row_fields {
    ($($row:ty),*) => {$(
        impl Fields for $row {
            fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
                self.try_get::<Option<String>, _>(column)
                    .map_err(|e| corrupt(column, e))
            }

            fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
                self.try_get::<Option<i64>, _>(column)
                    .map_err(|e| corrupt(column, e))
            }
        }
    )*};
}

row_fields!(AnyRow, sqlx::postgres::PgRow);

pub(super) fn text(row: &impl Fields, column: &str) -> StoreResult<String> {
    row.opt_text(column)?
        .ok_or_else(|| corrupt(column, "null where text is required"))
}

fn opt_text(row: &impl Fields, column: &str) -> StoreResult<Option<String>> {
    row.opt_text(column)
}

pub(super) fn int(row: &impl Fields, column: &str) -> StoreResult<i64> {
    row.opt_int(column)?
        .ok_or_else(|| corrupt(column, "null where a number is required"))
}

pub(super) fn parsed<T: FromStr>(row: &impl Fields, column: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    text(row, column)?.parse().map_err(|e| corrupt(column, e))
}

pub(super) fn opt_parsed<T: FromStr>(row: &impl Fields, column: &str) -> StoreResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    opt_text(row, column)?
        .map(|t| t.parse().map_err(|e| corrupt(column, e)))
        .transpose()
}

fn dec(row: &AnyRow, column: &str) -> StoreResult<Decimal> {
    parsed(row, column)
}

/// An amount column: a decimal that must be the amount it is (no negative quantity).
fn amount<A: Amount>(row: &AnyRow, column: &str) -> StoreResult<A> {
    A::from_decimal(dec(row, column)?).ok_or_else(|| corrupt(column, "a negative amount"))
}

/// An amount as its column keeps it: the decimal as written, its scale kept.
fn amount_value(a: impl Amount) -> Value {
    Value::Text(a.decimal().to_string())
}

pub(super) fn time(row: &impl Fields, column: &str) -> StoreResult<DateTime<Utc>> {
    let micros = int(row, column)?;
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt(column, "time out of range"))
}

pub(super) fn opt_time(row: &impl Fields, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
    row.opt_int(column)?
        .map(|m| {
            DateTime::from_timestamp_micros(m).ok_or_else(|| corrupt(column, "time out of range"))
        })
        .transpose()
}

/// A text column holding one of the store's own encodings (`codec`).
fn decoded<T>(
    row: &impl Fields,
    column: &str,
    decode: impl Fn(&str) -> Result<T, codec::DecodeError>,
) -> StoreResult<T> {
    decode(&text(row, column)?).map_err(|e| corrupt(column, e))
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn account_from_row(row: &AnyRow) -> StoreResult<Account> {
    Ok(Account {
        id: parsed(row, "id")?,
        external_id: text(row, "external_id")?,
        unit: parsed(row, "unit")?,
        unit_scale: u32::try_from(int(row, "unit_scale")?).map_err(|e| corrupt("unit_scale", e))?,
        status: parsed(row, "status")?,
        credit_line_limit: amount(row, "credit_line_limit")?,
        credit_line_used: amount(row, "credit_line_used")?,
        credit_line_held: amount(row, "credit_line_held")?,
        credit_line_price: amount(row, "credit_line_price")?,
        currency: parsed(row, "currency")?,
        open_holds: u32::try_from(int(row, "open_holds")?).map_err(|e| corrupt("open_holds", e))?,
        entry_seq: int(row, "entry_seq")?,
        last_hash: text(row, "last_hash")?,
        created_at: time(row, "created_at")?,
        low_balance: low_balance_from_row(row)?,
        low_balance_base: amount(row, "low_balance_base")?,
        alert_level: parsed(row, "alert_level")?,
        credit_line_spent: amount(row, "credit_line_spent")?,
        credit_line_until: opt_time(row, "credit_line_until")?,
        version: int(row, "version")?,
        price_book: text(row, "price_book")?,
        carries: decoded(row, "rating_carry", codec::decode_carries)?,
        cost_carries: decoded(row, "cost_carry", codec::decode_cost_carries)?,
        budgets: decoded(row, "budgets", codec::decode_budgets)?,
        auto_top_up: decoded(row, "auto_top_up", codec::decode_auto_top_up)?,
        recurring_grants: decoded(row, "recurring_grants", codec::decode_recurring_grants)?,
    })
}

fn low_balance_from_row(row: &AnyRow) -> StoreResult<LowBalance> {
    let column = "low_balance_value";
    match text(row, "low_balance_kind")?.as_str() {
        "none" => Ok(LowBalance::None),
        "absolute" => Ok(LowBalance::Absolute(amount(row, column)?)),
        "percent" => Ok(LowBalance::Percent(amount(row, column)?)),
        other => Err(corrupt(
            "low_balance_kind",
            format!("unknown kind {other:?}"),
        )),
    }
}

fn low_balance_values(low_balance: LowBalance) -> [Value; 2] {
    let (kind, value) = match low_balance {
        LowBalance::None => ("none", Decimal::ZERO),
        LowBalance::Absolute(v) => ("absolute", v.get()),
        LowBalance::Percent(v) => ("percent", v.get()),
    };
    [Value::Text(kind.into()), amount_value(value)]
}

pub(super) fn account_values(a: &Account) -> Vec<Value> {
    let mut values = vec![
        Value::Text(a.id.to_string()),
        Value::Text(a.external_id.clone()),
        Value::Text(a.unit.to_string()),
        Value::Int(a.unit_scale.into()),
        Value::Text(a.status.as_str().into()),
        amount_value(a.credit_line_limit),
        amount_value(a.credit_line_used),
        amount_value(a.credit_line_held),
        amount_value(a.credit_line_price),
        Value::Text(a.currency.to_string()),
        Value::Int(a.open_holds.into()),
        Value::Int(a.entry_seq),
        Value::Text(a.last_hash.clone()),
        Value::Int(micros(a.created_at)),
    ];
    values.extend(low_balance_values(a.low_balance));
    values.extend([
        amount_value(a.low_balance_base),
        Value::Text(a.alert_level.as_str().into()),
        amount_value(a.credit_line_spent),
        Value::OptInt(a.credit_line_until.map(micros)),
        Value::Int(a.version),
        Value::Text(a.price_book.clone()),
        Value::Text(codec::encode_carries(&a.carries)),
        Value::Text(codec::encode_cost_carries(&a.cost_carries)),
        Value::Text(codec::encode_budgets(&a.budgets)),
        // When the sweeper next has something to do on the row itself.
        Value::OptInt(due_at(a).map(micros)),
        Value::Text(codec::encode_auto_top_up(a.auto_top_up.as_ref())),
        Value::Text(codec::encode_recurring_grants(&a.recurring_grants)),
    ]);
    values
}

/// The earliest of: a budget period to start over (and its event to raise), an auto top-up's
/// wait after a failure to end, a recurring grant's next period to grant.
fn due_at(a: &Account) -> Option<DateTime<Utc>> {
    let budgets = a.budgets.iter().filter_map(|b| b.resets_at());
    let top_up = a.auto_top_up.as_ref().and_then(|t| t.wakes_at());
    let grants = a.recurring_grants.iter().map(|g| g.next_at);
    budgets.chain(top_up).chain(grants).min()
}

/// A new account's row in `account_external_ids`.
pub(super) fn external_id_values(a: &Account) -> Vec<Value> {
    vec![
        Value::Text(a.external_id.clone()),
        Value::Text(a.id.to_string()),
    ]
}

pub(super) fn lot_from_row(row: &AnyRow) -> StoreResult<Lot> {
    Ok(Lot {
        id: parsed(row, "id")?,
        account_id: parsed(row, "account_id")?,
        kind: parsed(row, "kind")?,
        status: parsed(row, "status")?,
        priority: i32::try_from(int(row, "priority")?).map_err(|e| corrupt("priority", e))?,
        granted: amount(row, "granted")?,
        remaining: amount(row, "remaining")?,
        held: amount(row, "held")?,
        effective_at: time(row, "effective_at")?,
        expires_at: opt_time(row, "expires_at")?,
        scope: decoded(row, "scope", codec::decode_scope)?,
        cost_basis: amount(row, "cost_basis")?,
        money_deferred: amount(row, "money_deferred")?,
        currency: match text(row, "currency")?.as_str() {
            "" => None,
            code => Some(code.parse().map_err(|e| corrupt("currency", e))?),
        },
        reference: text(row, "reference")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn lot_values(l: &Lot) -> Vec<Value> {
    vec![
        Value::Text(l.id.to_string()),
        Value::Text(l.account_id.to_string()),
        Value::Text(l.kind.as_str().into()),
        Value::Text(l.status.as_str().into()),
        Value::Int(l.priority.into()),
        amount_value(l.granted),
        amount_value(l.remaining),
        amount_value(l.held),
        Value::Int(micros(l.effective_at)),
        Value::OptInt(l.expires_at.map(micros)),
        Value::Text(codec::encode_scope(&l.scope)),
        amount_value(l.cost_basis),
        amount_value(l.money_deferred),
        Value::Text(l.currency.map(|c| c.to_string()).unwrap_or_default()),
        Value::Text(l.reference.clone()),
        Value::Int(micros(l.created_at)),
    ]
}

pub(super) fn hold_from_row(row: &AnyRow) -> StoreResult<Hold> {
    Ok(Hold {
        id: parsed(row, "id")?,
        account_id: parsed(row, "account_id")?,
        status: parsed(row, "status")?,
        authorized: amount(row, "authorized")?,
        captured: amount(row, "captured")?,
        reserved: decoded(row, "reserved", codec::decode_reserved)?,
        expires_at: time(row, "expires_at")?,
        created_at: time(row, "created_at")?,
        meter: text(row, "meter")?,
        reference: text(row, "reference")?,
        price: match (
            opt_text(row, "price_book")?,
            row_opt_int(row, "price_version")?,
        ) {
            (Some(book), Some(version)) => Some(PriceRef {
                book,
                version: u32::try_from(version).map_err(|e| corrupt("price_version", e))?,
            }),
            (None, None) => None,
            _ => {
                return Err(corrupt(
                    "price_book",
                    "a book without its version, or the reverse",
                ))
            }
        },
        subject: text(row, "subject")?,
        budgets: decoded(row, "budgets", codec::decode_budget_ids)?,
    })
}

fn row_opt_int(row: &AnyRow, column: &str) -> StoreResult<Option<i64>> {
    row.opt_int(column)
}

pub(super) fn hold_values(h: &Hold) -> Vec<Value> {
    vec![
        Value::Text(h.id.to_string()),
        Value::Text(h.account_id.to_string()),
        Value::Text(h.status.as_str().into()),
        amount_value(h.authorized),
        amount_value(h.captured),
        Value::Text(codec::encode_reserved(&h.reserved)),
        Value::Int(micros(h.expires_at)),
        Value::Int(micros(h.created_at)),
        Value::Text(h.meter.clone()),
        Value::Text(h.reference.clone()),
        Value::OptText(h.price.as_ref().map(|p| p.book.clone())),
        Value::OptInt(h.price.as_ref().map(|p| i64::from(p.version))),
        Value::Text(h.subject.clone()),
        Value::Text(codec::encode_budget_ids(&h.budgets)),
    ]
}

/// A new hold's row in `hold_accounts`.
pub(super) fn hold_account_values(h: &Hold) -> Vec<Value> {
    vec![
        Value::Text(h.id.to_string()),
        Value::Text(h.account_id.to_string()),
    ]
}

/// An entry's row, with the idempotency record kept in it, if any.
pub(super) fn entry_values(e: &Entry, record: Option<&IdempotencyRecord>) -> Vec<Value> {
    vec![
        Value::Text(e.id.to_string()),
        Value::Text(e.account_id.to_string()),
        Value::Int(e.account_seq),
        Value::Text(e.kind.as_str().into()),
        Value::Int(micros(e.effective_at)),
        Value::Int(micros(e.recorded_at)),
        Value::Text(e.idempotency_key.clone()),
        Value::Text(e.reference.clone()),
        Value::OptText(e.lot_id.map(|l| l.to_string())),
        Value::OptText(e.hold_id.map(|h| h.to_string())),
        Value::Text(e.prev_hash.clone()),
        Value::Text(e.hash.clone()),
        Value::Text(codec::encode_postings(&e.postings)),
        Value::Text(e.actor.clone()),
        Value::OptText(e.rating.as_ref().map(codec::encode_rating)),
        Value::OptInt(e.original_effective_at.map(micros)),
        Value::OptText(record.map(|r| r.request_hash.clone())),
        Value::OptText(record.map(|r| codec::encode_outcome(&r.outcome))),
    ]
}

/// Rebuilds an entry from its row, postings included.
pub(super) fn entry_from_row(row: &impl Fields) -> StoreResult<Entry> {
    Ok(Entry {
        id: parsed(row, "id")?,
        account_id: parsed(row, "account_id")?,
        account_seq: int(row, "account_seq")?,
        kind: parsed(row, "kind")?,
        effective_at: time(row, "effective_at")?,
        recorded_at: time(row, "recorded_at")?,
        idempotency_key: text(row, "idempotency_key")?,
        reference: text(row, "reference")?,
        lot_id: opt_parsed(row, "lot_id")?,
        hold_id: opt_parsed(row, "hold_id")?,
        postings: decoded(row, "postings", codec::decode_postings)?,
        prev_hash: text(row, "prev_hash")?,
        hash: text(row, "hash")?,
        actor: text(row, "actor")?,
        rating: opt_text(row, "rating")?
            .map(|t| codec::decode_rating(&t).map_err(|e| corrupt("rating", e)))
            .transpose()?,
        original_effective_at: opt_time(row, "original_effective_at")?,
    })
}

pub(super) fn idempotency_from_row(row: &AnyRow) -> StoreResult<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        scope: parsed(row, "scope")?,
        key: text(row, "key")?,
        request_hash: text(row, "request_hash")?,
        outcome: decoded(row, "outcome", codec::decode_outcome)?,
        created_at: time(row, "created_at")?,
    })
}

/// A record's row: in `idempotency` with its account first, in `account_creations` without.
pub(super) fn idempotency_values(r: &IdempotencyRecord) -> Vec<Value> {
    let account = match r.scope {
        Scope::Account(account) => Some(Value::Text(account.to_string())),
        Scope::CreateAccount => None,
    };
    account.into_iter().chain(record_values(r)).collect()
}

fn record_values(r: &IdempotencyRecord) -> [Value; 4] {
    [
        Value::Text(r.key.clone()),
        Value::Text(r.request_hash.clone()),
        Value::Text(codec::encode_outcome(&r.outcome)),
        Value::Int(micros(r.created_at)),
    ]
}

pub(super) fn commitment_from_row(row: &AnyRow) -> StoreResult<Commitment> {
    let kind = parsed(row, "kind")?;
    Ok(Commitment {
        id: parsed(row, "id")?,
        account_id: parsed(row, "account_id")?,
        kind,
        status: parsed(row, "status")?,
        term_start: time(row, "term_start")?,
        term_end: time(row, "term_end")?,
        quantity: amount(row, "quantity")?,
        price: amount(row, "price")?,
        minimum_spend: amount(row, "minimum_spend")?,
        currency: parsed(row, "currency")?,
        lot_id: opt_parsed(row, "lot_id")?,
        spent_at_start: amount(row, "spent_at_start")?,
        used_at_start: amount(row, "used_at_start")?,
        consumed: consumed_from_row(row, kind)?,
        shortfall: amount(row, "shortfall")?,
        true_up_entry_id: opt_parsed(row, "true_up_entry_id")?,
        notified: int(row, "notified")? != 0,
        reference: text(row, "reference")?,
        created_at: time(row, "created_at")?,
    })
}

/// What a term consumed is kept as one number, in the measure its kind says.
fn consumed_from_row(row: &AnyRow, kind: CommitmentKind) -> StoreResult<Consumed> {
    Ok(match kind {
        CommitmentKind::Prepaid => Consumed::Quantity(amount(row, "consumed")?),
        CommitmentKind::Postpaid => Consumed::Money(amount(row, "consumed")?),
    })
}

pub(super) fn commitment_values(c: &Commitment) -> Vec<Value> {
    vec![
        Value::Text(c.id.to_string()),
        Value::Text(c.account_id.to_string()),
        Value::Text(c.kind.as_str().into()),
        Value::Text(c.status.as_str().into()),
        Value::Int(micros(c.term_start)),
        Value::Int(micros(c.term_end)),
        amount_value(c.quantity),
        amount_value(c.price),
        amount_value(c.minimum_spend),
        Value::Text(c.currency.to_string()),
        Value::OptText(c.lot_id.map(|l| l.to_string())),
        amount_value(c.spent_at_start),
        amount_value(c.used_at_start),
        amount_value(match c.consumed {
            Consumed::Quantity(q) => q.get(),
            Consumed::Money(m) => m.get(),
        }),
        amount_value(c.shortfall),
        Value::OptText(c.true_up_entry_id.map(|e| e.to_string())),
        Value::Int(i64::from(c.notified)),
        Value::Text(c.reference.clone()),
        Value::Int(micros(c.created_at)),
    ]
}

pub(super) fn event_values(e: &Event) -> Vec<Value> {
    vec![
        Value::Text(e.id.to_string()),
        Value::Text(e.account_id.to_string()),
        Value::Text(e.data.kind().into()),
        Value::Int(micros(e.occurred_at)),
        Value::Text(codec::encode_event(&e.data)),
    ]
}

/// An event as stored, with the cursor the database gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: Event,
}

pub(super) fn event_from_row(row: &AnyRow) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        seq: int(row, "seq")?,
        event: Event {
            id: parsed(row, "id")?,
            account_id: parsed(row, "account_id")?,
            occurred_at: time(row, "occurred_at")?,
            data: decoded(row, "payload", codec::decode_event)?,
        },
    })
}

pub(super) const KEY_COLUMNS: &[Column] = &[
    col("prefix", Text),
    col("secret_hash", Text),
    col("role", Text),
    col("name", Text),
    col("account_id", Id),
    col("created_at", Time),
    col("revoked_at", Time),
];

pub(super) fn key_from_row(row: &AnyRow) -> StoreResult<crate::auth::ApiKey> {
    Ok(crate::auth::ApiKey {
        prefix: text(row, "prefix")?,
        secret_hash: text(row, "secret_hash")?,
        role: parsed(row, "role")?,
        name: text(row, "name")?,
        account: opt_parsed(row, "account_id")?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(super) const PRICE_VERSION_COLUMNS: &[Column] = &[
    col("book", Text),
    col("version", Int),
    col("effective_at", Time),
    col("published_at", Time),
    col("idempotency_key", Text),
];

pub(super) fn price_version_values(v: &rating::Version) -> Vec<Value> {
    vec![
        Value::Text(v.book.clone()),
        Value::Int(i64::from(v.version)),
        Value::Int(micros(v.effective_at)),
        Value::Int(micros(v.published_at)),
        Value::Text(v.idempotency_key.clone()),
    ]
}

/// A version without its prices, which are rows of their own.
pub(super) fn price_version_from_row(row: &AnyRow) -> StoreResult<rating::Version> {
    let version = int(row, "version")?;
    Ok(rating::Version {
        book: text(row, "book")?,
        version: u32::try_from(version).map_err(|e| corrupt("version", e))?,
        effective_at: time(row, "effective_at")?,
        published_at: time(row, "published_at")?,
        idempotency_key: text(row, "idempotency_key")?,
        rates: Vec::new(),
    })
}

pub(super) const PRICE_COLUMNS: &[Column] = &[
    col("book", Text),
    col("version", Int),
    col("meter", Text),
    col("dimension", Text),
    col("unit", Text),
    col("block", Int),
    col("price", Amount),
    col("cost", Amount),
    col("currency", Text),
];

pub(super) fn price_values(v: &rating::Version, r: &rating::Rate) -> Vec<Value> {
    let block = i64::try_from(r.block).expect("a block is at most rating::BLOCK_MAX");
    vec![
        Value::Text(v.book.clone()),
        Value::Int(i64::from(v.version)),
        Value::Text(r.meter.clone()),
        Value::Text(r.dimension.clone()),
        Value::Text(r.unit.to_string()),
        Value::Int(block),
        Value::Text(r.price.to_string()),
        Value::OptText(r.cost.as_ref().map(|c| c.amount.to_string())),
        Value::OptText(r.cost.as_ref().map(|c| c.currency.to_string())),
    ]
}

/// One price row: its book, its version's number, and the rate.
pub(super) fn price_from_row(row: &AnyRow) -> StoreResult<(String, i64, rating::Rate)> {
    let block = int(row, "block")?;
    let cost = match (opt_parsed(row, "cost")?, opt_parsed(row, "currency")?) {
        (Some(amount), Some(currency)) => Some(rating::Cost { currency, amount }),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "cost",
                "a cost without its currency, or the reverse",
            ))
        }
    };
    let rate = rating::Rate {
        meter: text(row, "meter")?,
        dimension: text(row, "dimension")?,
        unit: parsed(row, "unit")?,
        block: u64::try_from(block).map_err(|e| corrupt("block", e))?,
        price: dec(row, "price")?,
        cost,
    };
    Ok((text(row, "book")?, int(row, "version")?, rate))
}
