//! What the edge answers for the framework: a passed deadline is DEADLINE_EXCEEDED (never
//! CANCELLED), its outcome is settled by retrying with the same key, and nothing is charged
//! twice.
//!
//! tonic's own client enforces a deadline itself (and answers CANCELLED locally), so these calls
//! go through a bare HTTP/2 client that only sends `grpc-timeout`, as other languages' clients
//! that leave the deadline to the server do: the answer is the server's.

use std::time::Duration;

use credit_ledger::proto as p;
use tonic::Code;

use crate::helpers::{by_id, reason, Backend, TestApp};

async fn passed_deadlines_are_deadline_exceeded_and_settled_by_retry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("deadlines", 0).await;
    app.top_up(&account, "1000", "10", "fund").await;
    let debit = |i: usize| p::DebitRequest {
        idempotency_key: format!("d-{i}"),
        account: Some(by_id(&account)),
        quantity: "1".into(),
        ..Default::default()
    };
    let bare = bare_client(&app.addr);
    let calls = (0..200).map(|i| {
        let mut grpc = bare.clone();
        let mut request = tonic::Request::new(debit(i));
        request.set_timeout(Duration::from_millis(1));
        async move {
            grpc.ready().await.expect("ready");
            let codec = tonic_prost::ProstCodec::<p::DebitRequest, p::DebitResponse>::default();
            let path = "/creditledger.v1.Usage/Debit".parse().unwrap();
            grpc.unary(request, path, codec).await
        }
    });
    let usage = app.usage().await;
    let mut exceeded = 0;
    for result in futures::future::join_all(calls).await {
        match result {
            Ok(_) => {}
            Err(status) => {
                assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
                assert_eq!(reason(&status), "DEADLINE_EXCEEDED");
                exceeded += 1;
            }
        }
    }
    assert!(exceeded > 0, "a 1 ms deadline was never exceeded");
    // The outcome of each was unknown; the same key settles it, charging each debit once.
    for i in 0..200 {
        usage.clone().debit(debit(i)).await.expect("retried debit");
    }
    assert_eq!(app.balance(&account).await.posted, "800");
    assert_eq!(app.store.count("entries").await.unwrap(), 201);
}

type Bare = tonic::client::Grpc<
    hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        tonic::body::Body,
    >,
>;

fn bare_client(addr: &str) -> Bare {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    tonic::client::Grpc::with_origin(client, addr.parse().unwrap())
}

crate::both_stores!(passed_deadlines_are_deadline_exceeded_and_settled_by_retry);
