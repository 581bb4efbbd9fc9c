//! The Prometheus endpoint, scraped over plain HTTP/1.1 as Prometheus does, after a known
//! workload: the counts are exactly the workload's.

use std::collections::BTreeMap;

use credit_ledger::metrics::code_name;
use credit_ledger::proto as p;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{by_id, Backend, TestApp};

async fn scrape(app: &TestApp, path: &str) -> (String, String) {
    let addr = app.metrics_addr.expect("metrics are served");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    (head.to_string(), body.to_string())
}

/// `name{labels} value` lines, by `name{labels}`.
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

async fn a_scrape_counts_the_workload_exactly(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.metrics_listen_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let account = app.account("metered", 0).await;
    app.top_up(&account, "10", "1", "pay-1").await;
    app.top_up(&account, "5", "1", "pay-2").await;
    let mut usage = app.usage().await;
    let debit = |key: &str, quantity: &str| p::DebitRequest {
        idempotency_key: key.into(),
        account: Some(by_id(&account)),
        quantity: quantity.into(),
        ..Default::default()
    };
    usage.debit(debit("d-1", "4")).await.unwrap();
    let refused = usage.debit(debit("d-2", "100")).await.unwrap_err();
    assert_eq!(app.balance(&account).await.available, "11");

    let (head, body) = scrape(&app, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: application/openmetrics-text"));
    assert!(body.ends_with("# EOF\n"), "{body}");
    let s = samples(&body);
    let requests = |method: &str, code: &str| {
        let key = format!(
            "credit_ledger_requests_total{{method=\"/creditledger.v1.{method}\",code=\"{code}\"}}"
        );
        s.get(&key).copied().unwrap_or(0.0)
    };
    assert_eq!(requests("Accounts/CreateAccount", "OK"), 1.0);
    assert_eq!(requests("Credits/TopUp", "OK"), 2.0);
    assert_eq!(requests("Usage/Debit", "OK"), 1.0);
    assert_eq!(requests("Usage/Debit", code_name(refused.code())), 1.0);
    assert_eq!(requests("Usage/GetBalance", "OK"), 1.0);
    let timed =
        "credit_ledger_request_duration_seconds_count{method=\"/creditledger.v1.Credits/TopUp\"}";
    assert_eq!(s.get(timed), Some(&2.0), "{body}");
    // Five commands were committed (the refused debit too: it was answered from its batch).
    assert_eq!(
        s.get("credit_ledger_batch_commands_sum"),
        Some(&5.0),
        "{body}"
    );
    let batches: f64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("credit_ledger_batches_total"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(Some(&batches), s.get("credit_ledger_batch_commands_count"));
    assert_eq!(
        s.get("credit_ledger_batch_commit_duration_seconds_count"),
        Some(&batches)
    );
    assert_eq!(s.get("credit_ledger_isolated_offenders_total"), Some(&0.0));
    assert_eq!(s.get("credit_ledger_event_subscriptions"), Some(&0.0));
    let build = format!(
        "credit_ledger_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(s.get(&build), Some(&1.0), "{body}");

    let (head, _) = scrape(&app, "/other").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

crate::both_stores!(a_scrape_counts_the_workload_exactly);
