//! Support adjustments and commitments: a credit adjustment adds a promotional lot, a debit takes
//! free credit back and recognizes its deferred money as `revenue_adjustment`; a prepaid
//! commitment is a paid lot that expires at term end; a postpaid one lends on the credit line
//! for the term and is trued up to its minimum spend by the sweeper, once.

use chrono::Duration;
use credit_ledger::api::convert::timestamp;
use credit_ledger::clock::Clock;
use credit_ledger::journal::verify::verify;
use credit_ledger::ledger::amount::Amount;
use credit_ledger::ledger::entry::ledger_account as gl;
use credit_ledger::ledger::{AccountId, Book, Entry, EntryKind, LedgerAccount, Side};
use credit_ledger::proto as p;
use rust_decimal::Decimal;

use crate::helpers::{by_id, reason, Backend, TestApp};

/// A decimal, or a quantity or money, as the place it goes says.
fn dec<A: Amount>(text: &str) -> A {
    A::from_decimal(text.parse().expect("a valid test decimal")).expect("a valid test amount")
}

async fn entries_of(app: &TestApp, account: &str, kind: EntryKind) -> Vec<Entry> {
    app.store
        .account_entries(account.parse::<AccountId>().unwrap())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

fn posted(entry: &Entry, book: Book, account: LedgerAccount, side: Side) -> Decimal {
    entry
        .postings
        .iter()
        .filter(|p| p.book == book && p.ledger_account == account && p.side == side)
        .map(|p| p.amount)
        .sum()
}

async fn adjust(app: &TestApp, r: p::AdjustRequest) -> Result<p::AdjustResponse, tonic::Status> {
    app.credits().await.adjust(r).await.map(|r| r.into_inner())
}

async fn adjustments_credit_and_debit_with_a_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("adjusted", 2).await;
    let paid = app.top_up(&account, "10", "5.00", "pay").await;
    let no_reason = adjust(
        &app,
        p::AdjustRequest {
            idempotency_key: "a0".into(),
            account: Some(by_id(&account)),
            direction: p::AdjustDirection::Credit as i32,
            quantity: "1".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(no_reason.code(), tonic::Code::InvalidArgument);
    assert!(no_reason.message().contains("reason"), "{no_reason:?}");

    let credit = adjust(
        &app,
        p::AdjustRequest {
            idempotency_key: "a1".into(),
            account: Some(by_id(&account)),
            direction: p::AdjustDirection::Credit as i32,
            quantity: "2.5".into(),
            reason: "outage credit, ticket 4411".into(),
            ..Default::default()
        },
    )
    .await
    .expect("credit adjustment");
    let goodwill = credit.lot.expect("a new lot");
    assert_eq!(goodwill.kind, p::LotKind::Promotional as i32);
    assert_eq!(goodwill.quantity_granted, "2.5");
    assert_eq!(goodwill.reference, "outage credit, ticket 4411");

    let debit = adjust(
        &app,
        p::AdjustRequest {
            idempotency_key: "a2".into(),
            account: Some(by_id(&account)),
            direction: p::AdjustDirection::Debit as i32,
            quantity: "4".into(),
            reason: "duplicate top-up".into(),
            lot_id: paid.lot_id.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("debit adjustment");
    // 4 of 10 credits bought for 5.00: 2.00 of deferred revenue recognized.
    assert_eq!(debit.money, "2");
    let too_much = adjust(
        &app,
        p::AdjustRequest {
            idempotency_key: "a3".into(),
            account: Some(by_id(&account)),
            direction: p::AdjustDirection::Debit as i32,
            quantity: "7".into(),
            reason: "more than the lot has".into(),
            lot_id: paid.lot_id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&too_much), "INSUFFICIENT_CREDIT");

    let balance = app.balance(&account).await;
    assert_eq!(balance.posted, "8.5");
    // A lot that is no longer active is named as such, not as unknown.
    let void = p::VoidGrantRequest {
        idempotency_key: "void-goodwill".into(),
        account: Some(by_id(&account)),
        lot_id: goodwill.lot_id.clone(),
        reason: "issued by mistake".into(),
        release_holds: false,
    };
    app.credits().await.void_grant(void).await.expect("void");
    let gone = adjust(
        &app,
        p::AdjustRequest {
            idempotency_key: "a4".into(),
            account: Some(by_id(&account)),
            direction: p::AdjustDirection::Debit as i32,
            quantity: "1".into(),
            reason: "too late".into(),
            lot_id: goodwill.lot_id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&gone), "LOT_NOT_ACTIVE");
    let entries = entries_of(&app, &account, EntryKind::Adjustment).await;
    assert_eq!(app.balance(&account).await.posted, "6");
    assert_eq!(entries.len(), 2);
    let taken = &entries[1];
    assert_eq!(taken.reference, "duplicate top-up");
    assert_eq!(
        posted(taken, Book::Quantity, gl::ADJUSTED, Side::Credit),
        dec("4")
    );
    assert_eq!(
        posted(taken, Book::Money, gl::REVENUE_ADJUSTMENT, Side::Credit),
        dec("2")
    );
    let report = verify(&app.store).await.unwrap();
    assert!(report.violations.is_empty(), "{report}");
}

async fn create_commitment(
    app: &TestApp,
    r: p::CreateCommitmentRequest,
) -> Result<p::CreateCommitmentResponse, tonic::Status> {
    app.credits()
        .await
        .create_commitment(r)
        .await
        .map(|r| r.into_inner())
}

async fn get_commitment(app: &TestApp, id: &str) -> p::Commitment {
    app.credits()
        .await
        .get_commitment(p::GetCommitmentRequest {
            commitment_id: id.into(),
        })
        .await
        .expect("commitment")
        .into_inner()
        .commitment
        .unwrap()
}

async fn prepaid_commitment_is_a_lot_for_the_term(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("prepaid", 0).await;
    let created = create_commitment(
        &app,
        p::CreateCommitmentRequest {
            idempotency_key: "commit".into(),
            account: Some(by_id(&account)),
            kind: p::CommitmentKind::Prepaid as i32,
            quantity: "100".into(),
            price: "50.00".into(),
            term_end: Some(timestamp(app.clock.now() + Duration::days(30))),
            reference: "annual plan".into(),
            ..Default::default()
        },
    )
    .await
    .expect("commitment");
    let commitment = created.commitment.unwrap();
    let lot = created.lot.expect("a prepaid commitment is a lot");
    assert_eq!(lot.expires_at, commitment.term_end);
    assert_eq!(lot.cost_basis, "50");
    app.debit(by_id(&account), "40", "use")
        .await
        .expect("debit");
    let now = get_commitment(&app, &commitment.commitment_id).await;
    assert_eq!(
        (
            now.committed.as_str(),
            now.consumed.as_str(),
            now.remaining.as_str()
        ),
        ("100", "40", "60")
    );
    assert_eq!(now.days_left, 30);
    assert_eq!(now.status, p::CommitmentStatus::Active as i32);

    app.clock.advance(Duration::days(29) + Duration::hours(1));
    assert_eq!(
        get_commitment(&app, &commitment.commitment_id)
            .await
            .days_left,
        1
    );
    app.clock.advance(Duration::days(1));
    let report = app.sweep().await;
    assert_eq!(
        (report.commitments_ended, report.lots_expired),
        (1, 1),
        "{report:?}"
    );
    let ended = get_commitment(&app, &commitment.commitment_id).await;
    assert_eq!(ended.status, p::CommitmentStatus::Ended as i32);
    assert_eq!((ended.consumed.as_str(), ended.days_left), ("40", 0));
    // 60 of 100 credits unused at term end: 30.00 of the 50.00 is breakage.
    let expiry = entries_of(&app, &account, EntryKind::Expiry).await;
    assert_eq!(expiry.len(), 1);
    assert_eq!(
        posted(&expiry[0], Book::Money, gl::REVENUE_BREAKAGE, Side::Credit),
        dec("30")
    );
    assert_eq!(app.sweep().await, Default::default());
}

async fn postpaid_commitment_is_trued_up_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("postpaid", 0).await;
    let term_end = app.clock.now() + Duration::days(30);
    let request = p::CreateCommitmentRequest {
        idempotency_key: "commit".into(),
        account: Some(by_id(&account)),
        kind: p::CommitmentKind::Postpaid as i32,
        quantity: "1000".into(),
        price: "0.10".into(),
        minimum_spend: "50.00".into(),
        term_end: Some(timestamp(term_end)),
        reference: "enterprise".into(),
        ..Default::default()
    };
    let commitment = create_commitment(&app, request.clone())
        .await
        .expect("commitment")
        .commitment
        .unwrap();
    let again = create_commitment(
        &app,
        p::CreateCommitmentRequest {
            idempotency_key: "commit-2".into(),
            ..request
        },
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&again), "COMMITMENT_ACTIVE");
    let raise = app
        .accounts()
        .await
        .update_account(p::UpdateAccountRequest {
            idempotency_key: "raise".into(),
            account: Some(by_id(&account)),
            credit_line_limit: Some("5000".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&raise), "COMMITMENT_ACTIVE");

    // 200 units on the line at 0.10: 20.00 of the 50.00 minimum.
    app.debit(by_id(&account), "200", "use")
        .await
        .expect("debit on the line");
    let now = get_commitment(&app, &commitment.commitment_id).await;
    assert_eq!(
        (
            now.committed.as_str(),
            now.consumed.as_str(),
            now.remaining.as_str()
        ),
        ("50", "20", "30")
    );

    app.clock.set(term_end);
    // The term is over: the line lends nothing new, swept or not.
    let late = app.debit(by_id(&account), "1", "late").await.unwrap_err();
    assert_eq!(reason(&late), "INSUFFICIENT_CREDIT");
    let report = app.sweep().await;
    assert_eq!(report.commitments_ended, 1, "{report:?}");
    assert_eq!(app.sweep().await.commitments_ended, 0);
    let ended = get_commitment(&app, &commitment.commitment_id).await;
    assert_eq!(ended.status, p::CommitmentStatus::Ended as i32);
    assert_eq!(
        (ended.consumed.as_str(), ended.shortfall.as_str()),
        ("20", "30")
    );
    let true_ups = entries_of(&app, &account, EntryKind::TrueUp).await;
    assert_eq!(true_ups.len(), 1);
    let true_up = &true_ups[0];
    assert_eq!(true_up.id.to_string(), ended.true_up_entry_id);
    assert_eq!(true_up.effective_at, term_end);
    assert_eq!(
        posted(true_up, Book::Money, gl::UNBILLED_RECEIVABLE, Side::Debit),
        dec("30")
    );
    assert_eq!(
        posted(
            true_up,
            Book::Money,
            gl::REVENUE_COMMITMENT_SHORTFALL,
            Side::Credit
        ),
        dec("30")
    );
    // The line is no longer the commitment's: it can be managed again, and lends nothing new.
    let account_row = app
        .store
        .account(account.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account_row.credit_line_until, None);
    assert_eq!(account_row.credit_line_limit, dec("200"));
    let report = verify(&app.store).await.unwrap();
    assert!(report.violations.is_empty(), "{report}");
}

crate::both_stores!(
    adjustments_credit_and_debit_with_a_reason,
    prepaid_commitment_is_a_lot_for_the_term,
    postpaid_commitment_is_trued_up_once,
);
