//! A store written by an earlier schema reads the same after the migrations of this release:
//! entries whose postings were rows of their own (before `postings_in_entries`) come back whole,
//! in order, with their amounts as written and their hashes intact; and a debit whose record an
//! earlier release kept in `idempotency` (before `idempotency_in_entries`) is still recognised.

use std::borrow::Cow;

use chrono::{TimeZone, Utc};
use credit_ledger::ledger::entry::{ledger_account as gl, EntryDraft};
use credit_ledger::ledger::*;
use credit_ledger::store::{Dialect, Store};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::helpers::{Backend, Database};

/// The first migration of the release that moved postings into their entry.
const POSTINGS_IN_ENTRIES: i64 = 20261128000003;

/// Two chained entries of one account as the engine seals them: a top-up (both books) and a
/// debit, with amounts whose written scale is not their normal form.
fn entries() -> Vec<Entry> {
    let id = |n: u128| Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n);
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let mut account = Account {
        id: AccountId(id(1)),
        external_id: "acme".into(),
        unit: "CREDIT".parse().unwrap(),
        unit_scale: 2,
        status: AccountStatus::Active,
        credit_line_limit: Quantity::ZERO,
        credit_line_used: Quantity::ZERO,
        credit_line_held: Quantity::ZERO,
        credit_line_price: Money::ZERO,
        currency: "USD".parse().unwrap(),
        created_at: at,
        open_holds: 0,
        entry_seq: 0,
        last_hash: String::new(),
        low_balance: LowBalance::None,
        low_balance_base: Quantity::ZERO,
        alert_level: AlertLevel::Ok,
        credit_line_spent: Money::ZERO,
        credit_line_until: None,
    };
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
        top_up.seal(EntryId(id(3)), &mut account, at),
        debit.seal(EntryId(id(4)), &mut account, at),
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
        .filter(|m| m.version < POSTINGS_IN_ENTRIES)
        .cloned()
        .collect();
    assert!(
        before.len() < earlier.migrations.len(),
        "the migration exists"
    );
    earlier.migrations = Cow::Owned(before);
    earlier.run(store.pool()).await.expect("the earlier schema");
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
    assert!(
        sqlx::query("SELECT 1 FROM postings")
            .fetch_all(store.pool())
            .await
            .is_err(),
        "the posting rows' table is gone"
    );
    store.close().await;
}

/// A debit committed by a release before `idempotency_in_entries` kept its record in the
/// `idempotency` table. Retried after the deploy, it is still answered from that record, exactly,
/// and charged nothing more; a different request under its key is still a conflict.
async fn a_retry_of_a_debit_recorded_the_old_way_is_not_charged_again(backend: Backend) {
    use crate::helpers::ExecutorRig;
    use credit_ledger::executor::ExecError;

    let rig = ExecutorRig::start(backend).await;
    let account = rig.funded_account("before-the-deploy", "100").await;
    let debit = |quantity: &str| {
        Command::Debit(Debit {
            idempotency_key: "charged-last-week".into(),
            account_id: account,
            quantity: Quantity::parse("quantity", quantity).unwrap(),
            meter: String::new(),
            reference: String::new(),
        })
    };
    let recorded = Outcome::Debited {
        entry_id: EntryId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0099)),
        charged: Quantity::parse("quantity", "7").unwrap(),
        draws: Vec::new(),
        available: Quantity::parse("quantity", "93").unwrap(),
    };
    sqlx::query(
        "INSERT INTO idempotency (scope, key, request_hash, outcome, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account.to_string())
    .bind("charged-last-week")
    .bind(fingerprint(&debit("7")))
    .bind(codec::encode_outcome(&recorded))
    .bind(0_i64)
    .execute(rig.store.pool())
    .await
    .expect("a record of the earlier release");
    let entries = rig.store.count("entries").await.unwrap();

    let retried = rig.executor.submit(debit("7")).await.expect("answered");
    assert_eq!(retried, recorded, "the outcome first answered, exactly");
    assert_eq!(rig.store.count("entries").await.unwrap(), entries);
    assert!(matches!(
        rig.executor.submit(debit("8")).await,
        Err(ExecError::Ledger(LedgerError::IdempotencyConflict { .. }))
    ));
    rig.stop().await;
}

crate::both_stores!(
    entries_written_before_postings_moved_read_back_whole,
    a_retry_of_a_debit_recorded_the_old_way_is_not_charged_again,
);
