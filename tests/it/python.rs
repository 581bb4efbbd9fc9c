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

crate::both_stores!(the_python_gateway_charges_each_call_once_through_retries);
