//! The expiry sweeper: a lot past its expiry is unusable at once; the sweeper posts its expiry
//! once (run twice, or by two instances at the same time), effective at `expires_at`, with the
//! lot's remaining deferred money as breakage to the last decimal; and it finalizes expired
//! holds.

use chrono::Duration;
use credit_ledger::clock::Clock;
use credit_ledger::journal::verify::verify;
use credit_ledger::ledger::amount::Amount;
use credit_ledger::ledger::entry::ledger_account as gl;
use credit_ledger::ledger::{AccountId, Book, Entry, EntryKind, LedgerAccount, LotId, Side};
use credit_ledger::proto as p;
use rust_decimal::Decimal;

use crate::helpers::{by_id, reason, Backend, TestApp};

/// A decimal, or a quantity or money, as the place it goes says.
fn dec<A: Amount>(text: &str) -> A {
    A::from_decimal(text.parse().expect("a valid test decimal")).expect("a valid test amount")
}

async fn top_up_expiring(
    app: &TestApp,
    account: &str,
    quantity: &str,
    price: &str,
    key: &str,
    hours: i64,
) -> p::Lot {
    let request = p::TopUpRequest {
        idempotency_key: key.into(),
        account: Some(by_id(account)),
        quantity: quantity.into(),
        price: price.into(),
        currency: "USD".parse().unwrap(),
        expires_at: Some(credit_ledger::api::convert::timestamp(
            app.clock.now() + Duration::hours(hours),
        )),
        ..Default::default()
    };
    app.credits()
        .await
        .top_up(request)
        .await
        .expect("top-up")
        .into_inner()
        .lot
        .unwrap()
}

async fn entries(app: &TestApp, account: &str) -> Vec<Entry> {
    app.store
        .account_entries(account.parse::<AccountId>().unwrap())
        .await
        .unwrap()
}

fn amount(entry: &Entry, book: Book, account: LedgerAccount, side: Side) -> Decimal {
    entry
        .postings
        .iter()
        .filter(|p| p.book == book && p.ledger_account == account && p.side == side)
        .map(|p| p.amount)
        .sum()
}

async fn lot(app: &TestApp, lot: &p::Lot) -> credit_ledger::ledger::Lot {
    app.store
        .lot(
            lot.account_id.parse().unwrap(),
            lot.lot_id.parse::<LotId>().unwrap(),
        )
        .await
        .unwrap()
        .expect("the lot exists")
}

async fn expiring_lot_is_unusable_at_once_and_swept_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("expiring", 2).await;
    // 10 credits for 3.00: an awkward ratio, so breakage is not a round number.
    let soon = top_up_expiring(&app, &account, "10", "3.00", "soon", 1).await;
    let lasting = app.top_up(&account, "5", "2.00", "lasting").await;
    // Drawdown takes the soonest expiry first: 3 of the 10, recognizing 0.90.
    app.debit(by_id(&account), "3", "before")
        .await
        .expect("debit");
    let deferred_before = lot(&app, &soon).await.money_deferred;
    assert_eq!(deferred_before, dec("2.1"));

    app.clock.advance(Duration::hours(1));
    // Past its expiry and not yet swept: the lot is already out of reach.
    let balance = app.balance(&account).await;
    assert_eq!(balance.available, "5");
    let refused = app
        .debit(by_id(&account), "6", "too-much")
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "INSUFFICIENT_CREDIT");
    let debited = app
        .debit(by_id(&account), "1", "after")
        .await
        .expect("debit");
    assert_eq!(debited.draws.len(), 1);
    assert_eq!(debited.draws[0].lot_id, lasting.lot_id);

    let first = app.sweep().await;
    assert_eq!(first.lots_expired, 1, "{first:?}");
    let second = app.sweep().await;
    assert_eq!(second.lots_expired, 0, "{second:?}");
    assert_eq!(second.accounts, 0, "nothing is due any more: {second:?}");

    let expiries: Vec<Entry> = entries(&app, &account)
        .await
        .into_iter()
        .filter(|e| e.kind == EntryKind::Expiry)
        .collect();
    assert_eq!(expiries.len(), 1, "exactly one expiry entry");
    let expiry = &expiries[0];
    let lot_account: LedgerAccount = format!("lot:{}", soon.lot_id).parse().unwrap();
    assert_eq!(
        Some(expiry.effective_at),
        soon.expires_at
            .map(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32).unwrap())
    );
    assert!(expiry.recorded_at >= expiry.effective_at);
    assert_eq!(
        amount(expiry, Book::Quantity, lot_account, Side::Debit),
        dec("7")
    );
    assert_eq!(
        amount(expiry, Book::Quantity, gl::EXPIRED, Side::Credit),
        dec("7")
    );
    assert_eq!(
        amount(expiry, Book::Money, gl::DEFERRED_REVENUE, Side::Debit),
        deferred_before.get()
    );
    assert_eq!(
        amount(expiry, Book::Money, gl::REVENUE_BREAKAGE, Side::Credit),
        deferred_before.get()
    );
    let swept = lot(&app, &soon).await;
    assert!(swept.remaining.is_zero());
    assert!(swept.money_deferred.is_zero());
    assert_eq!(swept.status, credit_ledger::ledger::LotStatus::Expired);
    // Balances are what they were just before the sweep.
    assert_eq!(app.balance(&account).await.available, "4");
    let report = verify(&app.store).await.unwrap();
    assert!(report.violations.is_empty(), "{report}");
}

async fn two_instances_sweep_each_expiry_once(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = TestApp::start(first.db.same(), first.clock.clone()).await;
    let mut accounts = Vec::new();
    for i in 0..12 {
        let account = first.account(&format!("c{i}"), 0).await;
        top_up_expiring(&first, &account, "10", "1.00", &format!("lot-{i}"), 1).await;
        first
            .authorize(&account, "2", &format!("hold-{i}"), 60_000)
            .await
            .expect("hold");
        accounts.push(account);
    }
    first.clock.advance(Duration::hours(2));
    let (a, b) = tokio::join!(first.sweep(), second.sweep());
    assert_eq!(a.lots_expired + b.lots_expired, 12, "{a:?} {b:?}");
    assert_eq!(a.holds_expired + b.holds_expired, 12, "{a:?} {b:?}");
    let (a, b) = tokio::join!(first.sweep(), second.sweep());
    assert_eq!(
        a.lots_expired + b.lots_expired + a.holds_expired + b.holds_expired,
        0
    );
    for account in &accounts {
        let expiries = entries(&first, account)
            .await
            .into_iter()
            .filter(|e| e.kind == EntryKind::Expiry)
            .count();
        assert_eq!(expiries, 1, "account {account}");
        let balance = first.balance(account).await;
        assert_eq!((balance.posted.as_str(), balance.held.as_str()), ("0", "0"));
    }
    let events = first.store.events_after(0, None, 1_000).await.unwrap();
    let count = |kind: &str| {
        events
            .iter()
            .filter(|e| e.event.data.kind() == kind)
            .count()
    };
    assert_eq!(count("lot_expired"), 12);
    assert_eq!(count("hold_expired"), 12);
    let report = verify(&first.store).await.unwrap();
    assert!(report.violations.is_empty(), "{report}");
}

async fn sweeper_finalizes_expired_holds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("holder", 0).await;
    app.top_up(&account, "10", "1.00", "pay").await;
    let hold = app
        .authorize(&account, "4", "hold", 1_000)
        .await
        .expect("hold");
    app.clock.advance(Duration::seconds(2));
    let report = app.sweep().await;
    assert_eq!(report.holds_expired, 1, "{report:?}");
    let stored = app
        .store
        .hold(hold.hold_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, credit_ledger::ledger::HoldStatus::Expired);
    assert!(stored.held().is_zero());
    let account_row = app
        .store
        .account(account.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account_row.open_holds, 0);
    assert_eq!(app.sweep().await.holds_expired, 0);
    let capture = app
        .capture(&hold.hold_id, "1", "late", false)
        .await
        .unwrap_err();
    assert_eq!(reason(&capture), "HOLD_EXPIRED");
}

crate::both_stores!(
    expiring_lot_is_unusable_at_once_and_swept_once,
    two_instances_sweep_each_expiry_once,
    sweeper_finalizes_expired_holds,
);
