//! Overlapping batches: a batch is applied to the state the previous batch leaves while that
//! one commits, and written only if its accounts' versions, read under their locks, are still the
//! ones it was applied to. The commands are submitted one after another, so each batch has a
//! previous one whose state it can start from, and what happens is the same every run.

use credit_ledger::executor::{ExecError, ExecutorCounts};
use credit_ledger::journal::verify::verify;
use credit_ledger::ledger::*;

use crate::helpers::{Backend, ExecutorRig};

fn debit(key: &str, account: AccountId, quantity: &str) -> Command {
    Command::Debit(Debit {
        idempotency_key: key.into(),
        account_id: account,
        quantity: Quantity::parse("quantity", quantity).unwrap(),
        meter: String::new(),
        reference: String::new(),
        usage: None,
        subject: String::new(),
    })
}

fn authorize(key: &str, account: AccountId, quantity: &str) -> Command {
    Command::Authorize(Authorize {
        idempotency_key: key.into(),
        account_id: account,
        quantity: Quantity::parse("quantity", quantity).unwrap(),
        ttl_ms: None,
        meter: String::new(),
        reference: String::new(),
        usage: None,
        subject: String::new(),
    })
}

async fn available(rig: &ExecutorRig, account: AccountId) -> String {
    let book = rig.store.account_book(account, rig_now()).await.unwrap();
    book.expect("the account")
        .balance(rig_now())
        .available
        .to_string()
}

fn rig_now() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// Debits, an authorization and its capture, a retry and a refusal, one after another: each
/// batch after the first is written on the state the one before left, and the journal verifies.
async fn each_batch_starts_from_the_state_the_previous_one_leaves(backend: Backend) {
    let rig = ExecutorRig::start(backend).await;
    let account = rig.funded_account("carried", "10").await;
    let before = rig.executor.counts();
    let ex = &rig.executor;
    ex.submit(debit("d-1", account, "3")).await.unwrap();
    let Outcome::Authorized { hold, .. } = ex.submit(authorize("a-1", account, "4")).await.unwrap()
    else {
        panic!("not an authorization")
    };
    let capture = Command::Capture(Capture {
        idempotency_key: "c-1".into(),
        hold_id: hold.id,
        quantity: Quantity::parse("quantity", "2").unwrap(),
        is_final: true,
        overage: Overage::Reject,
        usage: None,
    });
    ex.submit(capture.clone()).await.unwrap();
    // The retry is answered from the record the batch before wrote.
    let first = ex.submit(debit("d-2", account, "1")).await.unwrap();
    assert_eq!(ex.submit(debit("d-2", account, "1")).await.unwrap(), first);
    // 10 - 3 - 2 - 1 = 4 left; 5 is refused.
    let refused = ex.submit(debit("d-3", account, "5")).await;
    assert!(
        matches!(
            refused,
            Err(ExecError::Ledger(LedgerError::InsufficientCredit { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(available(&rig, account).await, "4");
    let after = rig.executor.counts();
    let ExecutorCounts {
        carried, redone, ..
    } = after;
    assert_eq!(
        (carried - before.carried, redone - before.redone),
        (6, 0),
        "{before:?} → {after:?}"
    );
    let report = verify(&rig.store).await.unwrap();
    assert!(report.is_clean(), "{report}");
    rig.stop().await;
}

/// Another instance reserves credit on the account between two of this instance's batches (an
/// authorization: no entry, so nothing but the version tells). The state this instance carries
/// says two units are available; the store says one. The carried batch must see the version
/// change, apply again from the store and refuse, not overspend; the batch after it starts from
/// what the redone one committed.
async fn a_write_by_another_instance_sends_the_carried_batch_back_to_the_store(backend: Backend) {
    let first = ExecutorRig::start(backend).await;
    let second = first.second().await;
    let account = first.funded_account("shared", "3").await;
    let (one, two) = (&first.executor, &second.executor);
    one.submit(debit("one-1", account, "1")).await.unwrap();
    two.submit(authorize("two-1", account, "1")).await.unwrap();
    let before = one.counts();
    let overspend = one.submit(debit("one-2", account, "2")).await;
    assert!(
        matches!(
            overspend,
            Err(ExecError::Ledger(LedgerError::InsufficientCredit { .. }))
        ),
        "{overspend:?}"
    );
    let redone = one.counts();
    assert_eq!(
        (
            redone.redone - before.redone,
            redone.carried - before.carried
        ),
        (1, 0),
        "{before:?} → {redone:?}"
    );
    one.submit(debit("one-3", account, "1")).await.unwrap();
    let after = one.counts();
    assert_eq!(
        (after.redone - redone.redone, after.carried - redone.carried),
        (0, 1),
        "{redone:?} → {after:?}"
    );
    assert_eq!(available(&first, account).await, "0");
    let report = verify(&first.store).await.unwrap();
    assert!(report.is_clean(), "{report}");
    second.stop().await;
    first.stop().await;
}

crate::both_stores!(
    each_batch_starts_from_the_state_the_previous_one_leaves,
    a_write_by_another_instance_sends_the_carried_batch_back_to_the_store,
);
