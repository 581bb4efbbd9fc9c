//! Accounts and credits through the real server: lookups and pages, the credit line, voids with
//! and without held credit, and the hash chain of what was stored.

use credit_ledger::ledger::{AccountId, Book, Side};
use credit_ledger::proto as p;
use rust_decimal::Decimal;
use tonic::Code;

use crate::helpers::{by_external, by_id, metadata, reason, Backend, TestApp};

async fn accounts_by_external_id_pages_and_updates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(app.account(name, 0).await);
    }
    ids.sort();
    let mut accounts = app.accounts().await;
    let got = accounts
        .get_account(p::GetAccountRequest {
            account: Some(by_external("b")),
        })
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap();
    assert_eq!(got.external_id, "b");
    let page = |token: String| p::ListAccountsRequest {
        page_size: 2,
        page_token: token,
    };
    let first = accounts
        .list_accounts(page(String::new()))
        .await
        .unwrap()
        .into_inner();
    let second = accounts
        .list_accounts(page(first.next_page_token.clone()))
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<String> = first
        .accounts
        .iter()
        .chain(&second.accounts)
        .map(|a| a.account_id.clone())
        .collect();
    assert_eq!(listed, ids);
    assert!(second.next_page_token.is_empty());
    let updated = accounts
        .update_account(p::UpdateAccountRequest {
            idempotency_key: "raise".into(),
            account: Some(by_external("c")),
            credit_line_limit: Some("25".into()),
            credit_line_price: Some("0.5".into()),
            status: p::AccountStatus::Unspecified as i32,
            low_balance: None,
            price_book: Default::default(),
        })
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap();
    assert_eq!(
        (
            updated.credit_line_limit.as_str(),
            updated.credit_line_price.as_str()
        ),
        ("25", "0.5")
    );
    let taken = accounts
        .create_account(p::CreateAccountRequest {
            idempotency_key: "again".into(),
            external_id: "a".into(),
            unit: "CREDIT".parse().unwrap(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (taken.code(), reason(&taken).as_str()),
        (Code::AlreadyExists, "EXTERNAL_ID_TAKEN")
    );
}

async fn credit_line_is_drawn_after_the_lots_at_its_price(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .accounts()
        .await
        .create_account(p::CreateAccountRequest {
            idempotency_key: "create".into(),
            external_id: "postpaid".into(),
            unit: "TOKENS".parse().unwrap(),
            credit_line_limit: "50".into(),
            credit_line_price: "0.02".into(),
            currency: "EUR".parse().unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    let account = response.into_inner().account.unwrap().account_id;
    let lot = app.top_up(&account, "10", "1", "pay").await;
    let debit = app.debit(by_id(&account), "30", "use").await.unwrap();
    let draws: Vec<(String, String)> = debit
        .draws
        .into_iter()
        .map(|d| (d.lot_id, d.quantity))
        .collect();
    assert_eq!(
        draws,
        vec![
            (lot.lot_id, "10".to_string()),
            (String::new(), "20".to_string())
        ]
    );
    let balance = app.balance(&account).await;
    assert_eq!(
        (
            balance.posted.as_str(),
            balance.available.as_str(),
            balance.credit_line_used.as_str()
        ),
        ("-20", "30", "20")
    );
    let refused = app
        .debit(by_id(&account), "31", "too-much")
        .await
        .unwrap_err();
    assert_eq!(metadata(&refused, "available"), "30");
    let entries = app
        .store
        .account_entries(account.parse::<AccountId>().unwrap())
        .await
        .unwrap();
    let receivable: Decimal = entries
        .iter()
        .flat_map(|e| &e.postings)
        .filter(|p| {
            p.book == Book::Money
                && p.ledger_account == "unbilled_receivable"
                && p.side == Side::Debit
        })
        .map(|p| p.amount)
        .sum();
    assert_eq!(receivable, Decimal::new(40, 2), "20 units at 0.02 EUR");
}

async fn void_refuses_held_credit_unless_told_to_release(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("refund", 0).await;
    let lot = app.top_up(&account, "100", "30", "pay").await;
    let hold = app.authorize(&account, "40", "hold", 0).await.unwrap();
    let void = |release_holds: bool, key: &str| p::VoidGrantRequest {
        idempotency_key: key.into(),
        account: Some(by_id(&account)),
        lot_id: lot.lot_id.clone(),
        reason: "customer refund".into(),
        release_holds,
    };
    let refused = app
        .credits()
        .await
        .void_grant(void(false, "v1"))
        .await
        .unwrap_err();
    assert_eq!(
        (
            reason(&refused).as_str(),
            metadata(&refused, "held").as_str()
        ),
        ("LOT_HELD", "40")
    );
    let voided = app
        .credits()
        .await
        .void_grant(void(true, "v2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            voided.quantity_voided.as_str(),
            voided.money_refunded.as_str()
        ),
        ("100", "30")
    );
    assert_eq!(voided.lot.unwrap().status, p::LotStatus::Voided as i32);
    let late = app
        .capture(&hold.hold_id, "1", "late", false)
        .await
        .unwrap_err();
    assert_eq!(reason(&late), "HOLD_NOT_OPEN");
    let balance = app.balance(&account).await;
    assert_eq!(
        (balance.available.as_str(), balance.held.as_str()),
        ("0", "0")
    );
}

async fn stored_entries_balance_and_chain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("chain", 3).await;
    app.top_up(&account, "10.5", "3.33", "pay").await;
    app.top_up(&account, "1", "0.01", "pay-2").await;
    for i in 0..5 {
        app.debit(by_id(&account), "2.125", &format!("d{i}"))
            .await
            .unwrap();
    }
    let entries = app
        .store
        .account_entries(account.parse::<AccountId>().unwrap())
        .await
        .unwrap();
    assert_eq!(entries.len(), 7);
    let mut previous = String::new();
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry.account_seq, i as i64 + 1);
        assert_eq!(entry.prev_hash, previous);
        assert_eq!(
            entry.compute_hash(),
            entry.hash,
            "entry {} re-hashes to its stored hash",
            entry.id
        );
        assert!(
            entry.imbalances().is_empty(),
            "entry {} balances in each book",
            entry.id
        );
        previous = entry.hash.clone();
    }
    let recognized: Decimal = entries
        .iter()
        .flat_map(|e| &e.postings)
        .filter(|p| p.ledger_account == "revenue_usage")
        .map(|p| p.amount)
        .sum();
    assert_eq!(
        recognized,
        Decimal::new(333125, 5),
        "all of the first lot (3.33) and 0.125 of the second (0.00125)"
    );
}

crate::both_stores!(
    accounts_by_external_id_pages_and_updates,
    credit_line_is_drawn_after_the_lots_at_its_price,
    void_refuses_held_credit_unless_told_to_release,
    stored_entries_balance_and_chain,
);
