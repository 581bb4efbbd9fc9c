//! `verify` over a store the real server wrote: clean after every kind of entry the service
//! posts, and precise about an altered posting, lot row or entry.

use credit_ledger::journal::verify::{verify, Counts, Report, Violation};
use credit_ledger::ledger::{codec, AccountId, Entry, EntryId, EntryKind, LotId};
use credit_ledger::proto as p;

use crate::helpers::{by_id, Backend, TestApp};

/// What the busy store holds, for the tampering tests to aim at.
struct Busy {
    /// The account with a top-up, a grant, a debit and two holds.
    spender: String,
    /// Its paid lot.
    paid_lot: String,
}

async fn debit(app: &TestApp, account: &str, quantity: &str, key: &str) {
    let request = p::DebitRequest {
        idempotency_key: key.into(),
        account: Some(by_id(account)),
        quantity: quantity.into(),
        ..Default::default()
    };
    app.usage().await.debit(request).await.expect("debit");
}

async fn authorize(app: &TestApp, account: &str, quantity: &str, key: &str) -> String {
    let request = p::AuthorizeRequest {
        idempotency_key: key.into(),
        account: Some(by_id(account)),
        quantity: quantity.into(),
        ..Default::default()
    };
    let response = app
        .usage()
        .await
        .authorize(request)
        .await
        .expect("authorize");
    response.into_inner().hold.expect("a hold").hold_id
}

async fn capture(app: &TestApp, hold_id: &str, quantity: &str, r#final: bool, key: &str) {
    let request = p::CaptureRequest {
        idempotency_key: key.into(),
        hold_id: hold_id.into(),
        quantity: quantity.into(),
        r#final,
        ..Default::default()
    };
    app.usage().await.capture(request).await.expect("capture");
}

/// Four accounts: a spender (paid top-up, promotional grant, a debit across both lots, a hold
/// captured in two increments, a hold released), a refunded customer (two top-ups, a debit, a
/// void), a postpaid one drawing on its credit line, and one that never did anything.
async fn busy_store(app: &TestApp) -> Busy {
    let spender = app.account("spender", 2).await;
    let paid_lot = app.top_up(&spender, "100", "10.00", "pay").await.lot_id;
    let grant = p::GrantCreditsRequest {
        idempotency_key: "promo".into(),
        account: Some(by_id(&spender)),
        quantity: "50".into(),
        ..Default::default()
    };
    app.credits()
        .await
        .grant_credits(grant)
        .await
        .expect("grant");
    debit(app, &spender, "60", "use").await;
    let hold = authorize(app, &spender, "40", "hold").await;
    capture(app, &hold, "15", false, "cap-1").await;
    capture(app, &hold, "5.25", true, "cap-2").await;
    let released = authorize(app, &spender, "10", "hold-2").await;
    let release = p::ReleaseRequest {
        idempotency_key: "let-go".into(),
        hold_id: released,
    };
    app.usage().await.release(release).await.expect("release");

    let refunded = app.account("refunded", 0).await;
    let first = app.top_up(&refunded, "20", "7", "r-pay-1").await.lot_id;
    app.top_up(&refunded, "10", "3", "r-pay-2").await;
    debit(app, &refunded, "5", "r-use").await;
    let void = p::VoidGrantRequest {
        idempotency_key: "refund".into(),
        account: Some(by_id(&refunded)),
        lot_id: first,
        reason: "customer refund".into(),
        release_holds: false,
    };
    app.credits().await.void_grant(void).await.expect("void");

    let create = p::CreateAccountRequest {
        idempotency_key: "create-postpaid".into(),
        external_id: "postpaid".into(),
        unit: "TOKENS".parse().unwrap(),
        credit_line_limit: "100".into(),
        credit_line_price: "0.5".into(),
        ..Default::default()
    };
    let response = app.accounts().await.create_account(create).await;
    let postpaid = response.expect("account").into_inner().account.unwrap();
    app.top_up(&postpaid.account_id, "10", "1", "p-pay").await;
    debit(app, &postpaid.account_id, "15", "p-use").await;
    app.account("idle", 0).await;
    Busy { spender, paid_lot }
}

async fn entries_of(app: &TestApp, account: &str) -> Vec<Entry> {
    let id: AccountId = account.parse().expect("an account id");
    app.store.account_entries(id).await.expect("entries")
}

async fn verified(app: &TestApp) -> Report {
    verify(&app.store).await.expect("the store can be read")
}

async fn busy_store_verifies_clean_and_counts_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    busy_store(&app).await;
    let report = verified(&app).await;
    assert_eq!(report.violations, vec![], "{report}");
    assert!(report.is_clean());
    // Spender: top-up 4 postings, grant 2, debit across both lots 2 + 4, captures 4 + 4.
    // Refunded: two top-ups 4 + 4, debit 4, void 4. Postpaid: top-up 4, debit (lot and line) 8.
    let expected = Counts {
        accounts: 4,
        entries: 11,
        postings: 20 + 16 + 12,
        lots: 5,
    };
    assert_eq!(report.checked, expected, "{report}");
    assert!(report.trial_balance.iter().all(|l| l.debits == l.credits));
    assert_eq!(report.trial_balance.len(), 3, "CREDIT, TOKENS and USD");
}

async fn altered_posting_amount_names_its_entry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let busy = busy_store(&app).await;
    let entries = entries_of(&app, &busy.spender).await;
    let debit = entries
        .iter()
        .find(|e| e.kind == EntryKind::Debit)
        .expect("the spender's debit");
    let mut forged = debit.postings.clone();
    forged[0].amount = "51".parse().unwrap();
    sqlx::query("UPDATE entries SET postings = $1 WHERE CAST(id AS TEXT) = $2")
        .bind(codec::encode_postings(&forged))
        .bind(debit.id.to_string())
        .execute(app.store.pool())
        .await
        .expect("tamper");
    let report = verified(&app).await;
    assert!(!report.is_clean());
    let names = |v: &Violation| match v {
        Violation::EntryUnbalanced { entry_id, .. } => *entry_id == debit.id,
        Violation::HashMismatch { entry_id, .. } => *entry_id == debit.id,
        _ => false,
    };
    assert_eq!(
        report.violations.iter().filter(|v| names(v)).count(),
        2,
        "{report}"
    );
    assert!(report.violations.iter().any(|v| matches!(v,
        Violation::TrialBalance { unit, .. } if unit == "CREDIT")));
    assert!(report.to_string().contains(&debit.id.to_string()));
}

async fn altered_lot_remaining_names_the_lot(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let busy = busy_store(&app).await;
    sqlx::query("UPDATE lots SET remaining = CAST($1 AS NUMERIC) WHERE CAST(id AS TEXT) = $2")
        .bind("99".to_string())
        .bind(busy.paid_lot.clone())
        .execute(app.store.pool())
        .await
        .expect("tamper");
    let report = verified(&app).await;
    let lot: LotId = busy.paid_lot.parse().unwrap();
    let quantity = report.violations.iter().find_map(|v| match v {
        Violation::LotQuantity {
            lot_id,
            granted,
            remaining,
            ..
        } if *lot_id == lot => Some((granted.to_string(), remaining.to_string())),
        _ => None,
    });
    assert_eq!(
        quantity,
        Some(("100".to_string(), "99".to_string())),
        "{report}"
    );
    assert!(
        report.violations.iter().all(|v| matches!(
            v,
            Violation::LotQuantity { .. }
                | Violation::LotRow {
                    column: "remaining",
                    ..
                }
        )),
        "only the lot's quantity is wrong: {report}"
    );
}

async fn altered_reference_breaks_only_that_entrys_hash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let busy = busy_store(&app).await;
    let entries = entries_of(&app, &busy.spender).await;
    let top_up: EntryId = entries[0].id;
    sqlx::query("UPDATE entries SET reference = $1 WHERE CAST(id AS TEXT) = $2")
        .bind("forged".to_string())
        .bind(top_up.to_string())
        .execute(app.store.pool())
        .await
        .expect("tamper");
    let report = verified(&app).await;
    let names: Vec<EntryId> = report
        .violations
        .iter()
        .map(|v| match v {
            Violation::HashMismatch { entry_id, .. } => Some(*entry_id),
            _ => None,
        })
        .collect::<Option<_>>()
        .unwrap_or_default();
    assert_eq!(names, vec![top_up], "{report}");
    assert!(report.to_string().contains(&top_up.to_string()));
}

crate::both_stores!(
    busy_store_verifies_clean_and_counts_everything,
    altered_posting_amount_names_its_entry,
    altered_lot_remaining_names_the_lot,
    altered_reference_breaks_only_that_entrys_hash,
);
