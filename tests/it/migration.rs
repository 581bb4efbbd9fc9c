//! A store written by an earlier schema reads the same after the migrations of this release:
//! entries whose postings were rows of their own (before `postings_in_entries`) come back whole,
//! in order, with their amounts as written and their hashes intact (and, on PostgreSQL, as rows
//! of the `postings` view); and an account's creation and a debit whose records an earlier release
//! kept in `idempotency`, scoped by text (before `native_types_and_distribution_keys`), are still
//! recognised.

use std::borrow::Cow;

use chrono::{TimeZone, Utc};
use credit_ledger::ledger::entry::{ledger_account as gl, EntryDraft};
use credit_ledger::ledger::*;
use credit_ledger::store::{Dialect, Store};
use rust_decimal::Decimal;
use sqlx::Row;
use uuid::Uuid;

use crate::helpers::{Backend, Database};

/// The first migration of the release that moved postings into their entry.
const POSTINGS_IN_ENTRIES: i64 = 20261128000003;
/// The migration that gave PostgreSQL native types and moved lookups by other keys to
/// directory tables.
const NATIVE_TYPES: i64 = 20261128000005;

/// The account the entries and records below belong to.
fn account() -> Account {
    let id = |n: u128| Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n);
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    Account::opened(
        AccountId(id(1)),
        "acme".into(),
        "CREDIT".parse().unwrap(),
        2,
        "USD".parse().unwrap(),
        at,
    )
}

/// Two chained entries of one account as the engine seals them: a top-up (both books) and a
/// debit, with amounts whose written scale is not their normal form.
fn entries() -> Vec<Entry> {
    let id = |n: u128| Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n);
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let mut account = account();
    let lot = LotId(id(2));
    let q = |s: &str| Quantity::new(s.parse::<Decimal>().unwrap()).unwrap();
    let m = |s: &str| Money::new(s.parse::<Decimal>().unwrap()).unwrap();
    let (unit, currency) = (account.unit, account.currency);
    let mut top_up = EntryDraft::new(EntryKind::TopUp, at, "top-up-1", "order \"7\"");
    top_up.lot_id = Some(lot);
    top_up.quantity_pair(gl::ISSUED_PAID, gl::lot(lot), q("100.00"), unit, Some(lot));
    top_up.money_pair(
        gl::CASH_CLEARING,
        gl::DEFERRED_REVENUE,
        m("10.0"),
        currency,
        Some(lot),
    );
    let mut debit = EntryDraft::new(EntryKind::Debit, at, "debit-1", "");
    debit.quantity_pair(gl::lot(lot), gl::CONSUMED, q("2.50"), unit, Some(lot));
    debit.money_pair(
        gl::DEFERRED_REVENUE,
        gl::REVENUE_USAGE,
        m("0.25"),
        currency,
        Some(lot),
    );
    vec![
        top_up.seal(EntryId(id(3)), &mut account, at, String::new(), None),
        debit.seal(EntryId(id(4)), &mut account, at, String::new(), None),
    ]
}

/// Writes `entry` the way releases before `postings_in_entries` did: the entry's row, then one
/// row per posting.
async fn write_the_old_way(store: &Store, entry: &Entry) {
    sqlx::query(
        "INSERT INTO entries (id, account_id, account_seq, kind, effective_at, recorded_at, \
         idempotency_key, reference, lot_id, hold_id, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(entry.id.to_string())
    .bind(entry.account_id.to_string())
    .bind(entry.account_seq)
    .bind(entry.kind.as_str())
    .bind(entry.effective_at.timestamp_micros())
    .bind(entry.recorded_at.timestamp_micros())
    .bind(entry.idempotency_key.clone())
    .bind(entry.reference.clone())
    .bind(entry.lot_id.map(|l| l.to_string()))
    .bind(entry.hold_id.map(|h| h.to_string()))
    .bind(entry.prev_hash.clone())
    .bind(entry.hash.clone())
    .execute(store.pool())
    .await
    .expect("an entry row of the old schema");
    for (idx, p) in entry.postings.iter().enumerate() {
        sqlx::query(
            "INSERT INTO postings (entry_id, idx, account_id, book, ledger_account, side, \
             amount, unit, lot_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(entry.id.to_string())
        .bind(idx as i64)
        .bind(entry.account_id.to_string())
        .bind(p.book.as_str())
        .bind(p.ledger_account.to_string())
        .bind(p.side.as_str())
        .bind(p.amount.to_string())
        .bind(p.unit.to_string())
        .bind(p.lot_id.map(|l| l.to_string()))
        .execute(store.pool())
        .await
        .expect("a posting row of the old schema");
    }
}

async fn entries_written_before_postings_moved_read_back_whole(backend: Backend) {
    let (db, store) = store_before(backend, POSTINGS_IN_ENTRIES).await;
    let url = db.database_url();
    let written = entries();
    for entry in &written {
        write_the_old_way(&store, entry).await;
    }

    store.migrate().await.expect("this release's migrations");

    let read = store
        .account_entries(written[0].account_id)
        .await
        .expect("entries read with the new schema");
    assert_eq!(read, written);
    for entry in &read {
        assert_eq!(entry.compute_hash(), entry.hash, "the chain holds");
    }
    assert_eq!(read[0].postings[0].amount.to_string(), "100.00");
    let postings = sqlx::query(
        "SELECT CAST(entry_id AS TEXT) AS entry_id, book, ledger_account, side, \
         CAST(amount AS TEXT) AS amount, unit, CAST(lot_id AS TEXT) AS lot_id \
         FROM postings ORDER BY entry_seq, idx",
    )
    .fetch_all(store.pool())
    .await;
    match url.dialect() {
        Dialect::Sqlite => assert!(postings.is_err(), "the posting rows' table is gone"),
        // PostgreSQL unpacks them again in a view, amounts as numbers, for finance.
        Dialect::Postgres => {
            let rows: Vec<String> = postings
                .expect("the postings view")
                .iter()
                .map(|r| {
                    (0..7)
                        .map(|i| r.get::<Option<String>, _>(i).unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            let expected: Vec<String> = written
                .iter()
                .flat_map(|e| {
                    e.postings.iter().map(move |p| {
                        let lot = p.lot_id.map(|l| l.to_string()).unwrap_or_default();
                        format!(
                            "{},{},{},{},{},{},{lot}",
                            e.id,
                            p.book.as_str(),
                            p.ledger_account,
                            p.side.as_str(),
                            p.amount,
                            p.unit
                        )
                    })
                })
                .collect();
            assert_eq!(rows, expected);
        }
    }
    store.close().await;
}

/// The schema before a migration of this release, on a fresh database.
async fn store_before(backend: Backend, version: i64) -> (Database, Store) {
    let db = Database::fresh(backend).await;
    let url = db.database_url();
    let store = Store::connect(&url, 2, std::time::Duration::from_secs(5))
        .await
        .expect("store");
    let mut earlier = match url.dialect() {
        Dialect::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Dialect::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    let before: Vec<_> = earlier
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect();
    assert!(
        before.len() < earlier.migrations.len(),
        "the migration exists"
    );
    earlier.migrations = Cow::Owned(before);
    earlier.run(store.pool()).await.expect("the earlier schema");
    (db, store)
}

/// A record as releases before `native_types_and_distribution_keys` kept it: in `idempotency`,
/// scoped by the account's id or by `create_account`, times in microseconds.
async fn record_the_old_way(
    store: &Store,
    scope: &str,
    key: &str,
    command: &Command,
    outcome: &Outcome,
) {
    sqlx::query(
        "INSERT INTO idempotency (scope, key, request_hash, outcome, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(scope.to_string())
    .bind(key.to_string())
    .bind(fingerprint(command))
    .bind(codec::encode_outcome(outcome))
    .bind(0_i64)
    .execute(store.pool())
    .await
    .expect("a record of the earlier release");
}

/// An account opened and a debit committed by a release before the native schema kept their
/// records in the `idempotency` table, scoped by text. After the deploy (which moves the
/// creation's record to `account_creations` and types the rest), a retry of either is answered
/// from its record, exactly, charging and opening nothing; a changed request under the debit's
/// key is still a conflict.
async fn records_kept_before_the_native_schema_still_answer_retries(backend: Backend) {
    use crate::helpers::ExecutorRig;
    use credit_ledger::executor::ExecError;

    let (db, store) = store_before(backend, NATIVE_TYPES).await;
    let account = account();
    sqlx::query(
        "INSERT INTO accounts (id, external_id, unit, unit_scale, status, credit_line_limit, \
         credit_line_used, credit_line_held, credit_line_price, currency, open_holds, \
         entry_seq, last_hash, created_at) \
         VALUES ($1, 'acme', 'CREDIT', 2, 'active', '0', '0', '0', '0', 'USD', 0, 0, '', $2)",
    )
    .bind(account.id.to_string())
    .bind(account.created_at.timestamp_micros())
    .execute(store.pool())
    .await
    .expect("an account row of the earlier schema");
    let open = Command::CreateAccount(CreateAccount {
        idempotency_key: "open-acme".into(),
        external_id: "acme".into(),
        unit: account.unit,
        unit_scale: 2,
        credit_line_limit: Quantity::ZERO,
        credit_line_price: Money::ZERO,
        currency: account.currency,
        low_balance: LowBalance::None,
    });
    let opened_account = account.clone();
    let opened = Outcome::Account(account.clone());
    record_the_old_way(&store, "create_account", "open-acme", &open, &opened).await;
    let debit = |quantity: &str| {
        Command::Debit(Debit {
            idempotency_key: "charged-last-week".into(),
            account_id: account.id,
            quantity: Quantity::parse("quantity", quantity).unwrap(),
            meter: String::new(),
            reference: String::new(),
            usage: None,
            subject: String::new(),
        })
    };
    let debited = Outcome::Debited {
        entry_id: EntryId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0099)),
        charged: Quantity::parse("quantity", "7").unwrap(),
        draws: Vec::new(),
        available: Quantity::parse("quantity", "93").unwrap(),
        rated: None,
    };
    let scope = account.id.to_string();
    record_the_old_way(&store, &scope, "charged-last-week", &debit("7"), &debited).await;
    store.close().await;

    let rig = ExecutorRig::on(db).await;
    assert_eq!(rig.executor.submit(open).await.expect("answered"), opened);
    assert_eq!(rig.store.count("accounts").await.unwrap(), 1);
    assert_eq!(rig.store.count("account_creations").await.unwrap(), 1);
    let found = rig.store.account_by_external_id("acme").await.unwrap();
    assert_eq!(
        found,
        Some(opened_account),
        "the external id's directory row"
    );
    let retried = rig.executor.submit(debit("7")).await.expect("answered");
    assert_eq!(retried, debited, "the outcome first answered, exactly");
    assert_eq!(rig.store.count("entries").await.unwrap(), 0);
    assert!(matches!(
        rig.executor.submit(debit("8")).await,
        Err(ExecError::Ledger(LedgerError::IdempotencyConflict { .. }))
    ));
    rig.stop().await;
}

crate::both_stores!(
    entries_written_before_postings_moved_read_back_whole,
    records_kept_before_the_native_schema_still_answer_retries,
);
