//! Same key, same request: the original result and nothing posted again. Same key, another
//! request: ALREADY_EXISTS naming the key.

use credit_ledger::proto as p;
use tonic::Code;

use crate::helpers::{by_id, metadata, reason, Backend, TestApp};

async fn replayed_top_up_and_debit_post_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("replay", 0).await;
    let request = p::TopUpRequest {
        idempotency_key: "order-42".into(),
        account: Some(by_id(&account)),
        quantity: "100".into(),
        price: "20".into(),
        currency: "USD".parse().unwrap(),
        ..Default::default()
    };
    let mut credits = app.credits().await;
    let first = credits.top_up(request.clone()).await.unwrap().into_inner();
    let again = credits.top_up(request).await.unwrap().into_inner();
    assert_eq!(
        first, again,
        "a replay returns the original result, same ids"
    );
    let first = app.debit(by_id(&account), "7", "call-1").await.unwrap();
    let again = app.debit(by_id(&account), "7", "call-1").await.unwrap();
    assert_eq!(first.entry_id, again.entry_id);
    assert_eq!(app.balance(&account).await.available, "93");
    assert_eq!(app.store.count("entries").await.unwrap(), 2);
    assert_eq!(app.store.count("lots").await.unwrap(), 1);
}

async fn conflicting_replay_is_already_exists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("conflict", 0).await;
    app.top_up(&account, "100", "20", "order-1").await;
    let other = p::TopUpRequest {
        idempotency_key: "order-1".into(),
        account: Some(by_id(&account)),
        quantity: "999".into(),
        price: "20".into(),
        currency: "USD".parse().unwrap(),
        ..Default::default()
    };
    let status = app.credits().await.top_up(other).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status), "IDEMPOTENCY_CONFLICT");
    assert_eq!(metadata(&status, "idempotency_key"), "order-1");
    assert_eq!(app.balance(&account).await.available, "100");
}

async fn replays_inside_one_batch_post_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("burst", 0).await;
    app.top_up(&account, "100", "20", "order-1").await;
    let usage = app.usage().await;
    let calls = (0..50).map(|_| {
        let mut usage = usage.clone();
        let request = p::DebitRequest {
            idempotency_key: "same".into(),
            account: Some(by_id(&account)),
            quantity: "3".into(),
            ..Default::default()
        };
        tokio::spawn(async move { usage.debit(request).await.unwrap().into_inner().entry_id })
    });
    let ids: std::collections::HashSet<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.balance(&account).await.available, "97");
}

crate::both_stores!(
    replayed_top_up_and_debit_post_once,
    conflicting_replay_is_already_exists,
    replays_inside_one_batch_post_once,
);
