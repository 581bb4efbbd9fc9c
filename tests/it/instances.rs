//! Two stateless instances serving one PostgreSQL database: row locks keep them correct, and a
//! unique key taken by the other instance turns into the precise refusal, not a failed batch.

use credit_ledger::proto as p;
use tonic::Code;

use crate::helpers::{by_id, reason, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_account_without_overspending() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let second = TestApp::start(first.db.same(), first.clock.clone()).await;
    let account = first.account("shared", 0).await;
    first.top_up(&account, "100", "10", "pay").await;
    let (one, two) = (first.usage().await, second.usage().await);
    let calls = (0..200).map(|i| {
        let mut usage = if i % 2 == 0 { one.clone() } else { two.clone() };
        let request = p::AuthorizeRequest {
            idempotency_key: format!("auth-{i}"),
            account: Some(by_id(&account)),
            quantity: "1".into(),
            ..Default::default()
        };
        tokio::spawn(async move { usage.authorize(request).await })
    });
    let results = futures::future::join_all(calls).await;
    let granted = results
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(granted, 100);
    assert_eq!(second.balance(&account).await.available, "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_id_taken_by_the_other_instance_is_refused_precisely() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let second = TestApp::start(first.db.same(), first.clock.clone()).await;
    let (one, two) = (first.accounts().await, second.accounts().await);
    let calls = (0..20).map(|i| {
        let mut accounts = if i % 2 == 0 { one.clone() } else { two.clone() };
        let request = p::CreateAccountRequest {
            idempotency_key: format!("create-{i}"),
            external_id: "contested".into(),
            unit: "CREDIT".parse().unwrap(),
            ..Default::default()
        };
        tokio::spawn(async move { accounts.create_account(request).await })
    });
    let mut created = 0;
    for result in futures::future::join_all(calls).await {
        match result.unwrap() {
            Ok(_) => created += 1,
            Err(status) => {
                assert_eq!(
                    (status.code(), reason(&status).as_str()),
                    (Code::AlreadyExists, "EXTERNAL_ID_TAKEN")
                )
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(first.store.count("accounts").await.unwrap(), 1);
}
