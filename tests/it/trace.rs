//! Trace context: a call's `traceparent` trace id (or a new one) is in the `ErrorInfo` of its
//! error, and in the JSON log lines written while it is served.

use std::time::Duration;

use credit_ledger::proto as p;
use tonic::metadata::MetadataValue;

use crate::helpers::{by_id, metadata, Backend, TestApp};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn traced<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("00-{TRACE}-00f067aa0ba902b7-01").parse().unwrap();
    request.metadata_mut().insert("traceparent", value);
    request
}

fn unknown_balance() -> p::GetBalanceRequest {
    p::GetBalanceRequest {
        account: Some(by_id(&uuid::Uuid::now_v7().to_string())),
        as_of: None,
    }
}

async fn an_error_carries_the_callers_trace_id_or_a_new_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut usage = app.usage().await;
    let status = usage
        .get_balance(traced(unknown_balance()))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "trace_id"), TRACE);
    let status = usage.get_balance(unknown_balance()).await.unwrap_err();
    let fresh = metadata(&status, "trace_id");
    assert_eq!(fresh.len(), 32, "{status:?}");
    assert_ne!(fresh, TRACE);
}

crate::both_stores!(an_error_carries_the_callers_trace_id_or_a_new_one);

/// The real binary with JSON logs: a line it writes while serving a traced call names the trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_log_lines_of_a_call_carry_its_trace_id() {
    use std::process::Stdio;
    use tokio::io::AsyncReadExt;

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_credit-ledger"))
        .arg("serve")
        .env(
            "CREDIT_LEDGER_DATABASE_URL",
            format!("sqlite://{}/l.db", dir.path().display()),
        )
        .env("CREDIT_LEDGER_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("CREDIT_LEDGER_LOG_FORMAT", "json")
        .env("CREDIT_LEDGER_SHUTDOWN_GRACE_MS", "0")
        .env("RUST_LOG", "info,credit_ledger::api=debug")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let url = format!("http://127.0.0.1:{port}");
    let mut channel = None;
    for _ in 0..200 {
        if let Ok(c) = tonic::transport::Channel::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
        {
            channel = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut usage = p::usage_client::UsageClient::new(channel.expect("the server listens"));
    // A debit of an account that does not exist: the engine refuses it, and the service logs
    // the refusal at debug while serving the call.
    let debit = p::DebitRequest {
        idempotency_key: "traced".into(),
        account: Some(by_id(&uuid::Uuid::now_v7().to_string())),
        quantity: "1".into(),
        ..Default::default()
    };
    let status = usage.debit(traced(debit)).await.unwrap_err();
    assert_eq!(metadata(&status, "trace_id"), TRACE);
    let pid = server.id().expect("running").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let mut out = String::new();
    let mut stdout = server.stdout.take().unwrap();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_to_string(&mut out))
        .await
        .expect("the server stops")
        .unwrap();
    let refused: Vec<&str> = out.lines().filter(|l| l.contains("\"refused\"")).collect();
    assert!(!refused.is_empty(), "no refusal logged:\n{out}");
    for line in refused {
        let line: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        // The call's span is among the spans the line was written in (the handler's own span
        // may be the innermost).
        let spans = line["spans"].as_array().expect("the line's spans");
        assert!(spans.iter().any(|s| s["trace_id"] == TRACE), "{line}");
    }
}
