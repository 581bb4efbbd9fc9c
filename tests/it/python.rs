//! A client from another language: `examples/python/gateway.py`, whose client code is generated
//! from `proto/` alone, drives the hot path against the real server with a gateway key, each
//! call's first try timed out so that every call is retried with its idempotency key. The
//! balance must show each charge exactly once. A machine without Python 3 fails this test; it is
//! never skipped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use credit_ledger::auth::Role;
use credit_ledger::keys;
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::helpers::{Backend, TestApp};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A virtual environment with the example's requirements, made once per test run (and kept in
/// the target directory for the next).
async fn python() -> &'static Path {
    static VENV: OnceCell<PathBuf> = OnceCell::const_new();
    VENV.get_or_init(|| async {
        let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-venv");
        let python = venv.join("bin").join("python");
        let ready = Command::new(&python)
            .args(["-c", "import grpc, grpc_tools"])
            .output()
            .await
            .is_ok_and(|o| o.status.success());
        if !ready {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).await;
            let requirements = repo().join("examples/python/requirements.txt");
            run(Command::new(&python)
                .args(["-m", "pip", "install", "-q", "-r"])
                .arg(requirements))
            .await;
        }
        python
    })
    .await
}

async fn run(command: &mut Command) -> String {
    let output = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("finished within 5 minutes")
        .unwrap_or_else(|e| panic!("{command:?} could not start (is Python 3 installed?): {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

async fn the_python_gateway_charges_each_call_once_through_retries(backend: Backend) {
    let python = python().await;
    let app = TestApp::spawn(backend).await;
    let account = app.account("python-customer", 0).await;
    app.top_up(&account, "1000", "10", "pay").await;
    let (_, key) = keys::create(&app.store, Role::Gateway, "python", None, Utc::now())
        .await
        .unwrap();
    crate::auth::until(&app, &key, true).await;
    let stubs =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("python-stubs-{backend:?}"));
    let server = app.addr.trim_start_matches("http://").to_string();
    let out = run(Command::new(python)
        .arg(repo().join("examples/python/gateway.py"))
        .args(["python-customer", "10"])
        .env("CREDIT_LEDGER_SERVER", server)
        .env("CREDIT_LEDGER_API_KEY", key.expose())
        .env("CREDIT_LEDGER_STUBS", stubs)
        .env("GATEWAY_FLAKY", "1"))
    .await;
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("a JSON summary");
    // Calls 4 and 9 fail and are released; the others use 3 + i % 4.
    let charged: i64 = [0, 1, 2, 3, 5, 6, 7, 8].iter().map(|i| 3 + i % 4).sum();
    assert_eq!(summary["authorized"], 10, "{summary}");
    assert_eq!(summary["captured"], 8, "{summary}");
    assert_eq!(summary["released"], 2, "{summary}");
    assert_eq!(summary["charged"], charged, "{summary}");
    assert!(summary["retries"].as_i64().unwrap() >= 10, "{summary}");
    let available = 1000 - charged;
    assert_eq!(summary["available"], available.to_string(), "{summary}");
    assert_eq!(app.balance(&account).await.available, available.to_string());
}

/// The same gateway over TLS: it trusts the CA named by `CREDIT_LEDGER_TLS_CA`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_gateway_speaks_tls() {
    use credit_ledger::proto as p;

    let python = python().await;
    let pki = crate::tls::Pki::new();
    let app = crate::tls::tls_app(Backend::Sqlite, &pki, false).await;
    let port = app.addr.rsplit(':').next().unwrap().to_string();
    let channel = tonic::transport::Channel::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(crate::tls::trusting(&pki))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // On loopback no key is required for the set-up; the gateway sends its own.
    p::accounts_client::AccountsClient::new(channel.clone())
        .create_account(p::CreateAccountRequest {
            idempotency_key: "create".into(),
            external_id: "tls-customer".into(),
            unit: "CREDIT".parse().unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    p::credits_client::CreditsClient::new(channel)
        .top_up(p::TopUpRequest {
            idempotency_key: "pay".into(),
            account: Some(p::AccountRef {
                r#ref: Some(p::account_ref::Ref::ExternalId("tls-customer".into())),
            }),
            quantity: "100".into(),
            price: "1".into(),
            currency: "USD".parse().unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    let (_, key) = keys::create(&app.store, Role::Gateway, "python-tls", None, Utc::now())
        .await
        .unwrap();
    let stubs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-stubs-tls");
    let mut taken = false;
    for _ in 0..100 {
        // The key is taken at the server's next reload (every 20 ms in tests).
        let out = Command::new(python)
            .arg(repo().join("examples/python/gateway.py"))
            .args(["tls-customer", "3"])
            .env("CREDIT_LEDGER_SERVER", format!("localhost:{port}"))
            .env("CREDIT_LEDGER_API_KEY", key.expose())
            .env("CREDIT_LEDGER_TLS_CA", pki.path("ca.pem"))
            .env("CREDIT_LEDGER_STUBS", &stubs)
            .output()
            .await
            .expect("Python runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && stderr.contains("UNAUTHENTICATED") {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert!(out.status.success(), "{stderr}");
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // Calls 0, 1 and 2 use 3, 4 and 5.
        assert_eq!(summary["charged"], 12, "{summary}");
        assert_eq!(summary["available"], "88", "{summary}");
        taken = true;
        break;
    }
    assert!(taken, "the gateway key was never taken");
}

crate::both_stores!(the_python_gateway_charges_each_call_once_through_retries);
