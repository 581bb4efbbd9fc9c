//! Every refusal through the real server: the gRPC code, the machine-readable reason and its
//! numbers, and that nothing changed.

use credit_ledger::proto as p;
use tonic::Code;

use crate::helpers::{by_external, by_id, metadata, reason, Backend, TestApp};

struct Case {
    name: &'static str,
    code: Code,
    reason: &'static str,
    detail: Option<(&'static str, &'static str)>,
}

fn case(
    name: &'static str,
    code: Code,
    reason: &'static str,
    detail: Option<(&'static str, &'static str)>,
) -> Case {
    Case {
        name,
        code,
        reason,
        detail,
    }
}

async fn freeze(app: &TestApp, account: &str) {
    let request = p::UpdateAccountRequest {
        idempotency_key: "freeze".into(),
        account: Some(by_id(account)),
        status: p::AccountStatus::Frozen as i32,
        ..Default::default()
    };
    app.accounts().await.update_account(request).await.unwrap();
}

async fn every_refusal_has_its_code_reason_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("refusals", 2).await;
    app.top_up(&account, "10", "1", "pay").await;
    let frozen = app.account("frozen", 2).await;
    app.top_up(&frozen, "10", "1", "pay").await;
    freeze(&app, &frozen).await;
    let hold = app.authorize(&account, "4", "hold", 0).await.unwrap();
    let released = app.authorize(&account, "1", "hold-2", 0).await.unwrap();
    let release = p::ReleaseRequest {
        idempotency_key: "rel".into(),
        hold_id: released.hold_id.clone(),
    };
    app.usage().await.release(release).await.unwrap();
    let entries_before = app.store.count("entries").await.unwrap();
    let balance_before = app.balance(&account).await;

    let cases = [
        (
            case(
                "insufficient credit",
                Code::FailedPrecondition,
                "INSUFFICIENT_CREDIT",
                Some(("available", "6")),
            ),
            app.debit(by_id(&account), "6.01", "d1").await.map(|_| ()),
        ),
        (
            case(
                "unknown account id",
                Code::NotFound,
                "ACCOUNT_NOT_FOUND",
                None,
            ),
            app.debit(by_id(&uuid::Uuid::new_v4().to_string()), "1", "d2")
                .await
                .map(|_| ()),
        ),
        (
            case(
                "unknown external id",
                Code::NotFound,
                "ACCOUNT_NOT_FOUND",
                Some(("account", "nobody")),
            ),
            app.debit(by_external("nobody"), "1", "d3")
                .await
                .map(|_| ()),
        ),
        (
            case(
                "frozen account",
                Code::FailedPrecondition,
                "ACCOUNT_FROZEN",
                None,
            ),
            app.debit(by_id(&frozen), "1", "d4").await.map(|_| ()),
        ),
        (
            case(
                "too many decimals",
                Code::InvalidArgument,
                "TOO_MANY_DECIMALS",
                Some(("field", "quantity")),
            ),
            app.debit(by_id(&account), "0.001", "d5").await.map(|_| ()),
        ),
        (
            case(
                "zero amount",
                Code::InvalidArgument,
                "NON_POSITIVE_AMOUNT",
                Some(("field", "quantity")),
            ),
            app.debit(by_id(&account), "0", "d6").await.map(|_| ()),
        ),
        (
            case(
                "negative amount",
                Code::InvalidArgument,
                "NON_POSITIVE_AMOUNT",
                None,
            ),
            app.debit(by_id(&account), "-1", "d7").await.map(|_| ()),
        ),
        (
            case(
                "not a number",
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
                Some(("field", "quantity")),
            ),
            app.debit(by_id(&account), "1e3", "d8").await.map(|_| ()),
        ),
        (
            case("overflow", Code::InvalidArgument, "AMOUNT_TOO_LARGE", None),
            app.debit(by_id(&account), "100000000000000000000", "d9")
                .await
                .map(|_| ()),
        ),
        (
            case(
                "missing idempotency key",
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
                Some(("field", "idempotency_key")),
            ),
            app.debit(by_id(&account), "1", "").await.map(|_| ()),
        ),
        (
            case(
                "idempotency conflict",
                Code::AlreadyExists,
                "IDEMPOTENCY_CONFLICT",
                Some(("idempotency_key", "hold")),
            ),
            app.authorize(&account, "3", "hold", 0).await.map(|_| ()),
        ),
        (
            case(
                "capture beyond the hold",
                Code::FailedPrecondition,
                "CAPTURE_EXCEEDS_HOLD",
                Some(("held", "4")),
            ),
            app.capture(&hold.hold_id, "4.5", "c1", false)
                .await
                .map(|_| ()),
        ),
        (
            case(
                "capture of a released hold",
                Code::FailedPrecondition,
                "HOLD_NOT_OPEN",
                Some(("status", "released")),
            ),
            app.capture(&released.hold_id, "1", "c2", false)
                .await
                .map(|_| ()),
        ),
        (
            case("unknown hold", Code::NotFound, "HOLD_NOT_FOUND", None),
            app.capture(&uuid::Uuid::new_v4().to_string(), "1", "c3", false)
                .await
                .map(|_| ()),
        ),
        (
            case(
                "malformed hold id",
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
                Some(("field", "hold_id")),
            ),
            app.capture("not-a-uuid", "1", "c4", false)
                .await
                .map(|_| ()),
        ),
    ];
    for (case, result) in cases {
        let status = result.expect_err(case.name);
        assert_eq!(status.code(), case.code, "{}: {status:?}", case.name);
        assert_eq!(reason(&status), case.reason, "{}", case.name);
        if let Some((key, value)) = case.detail {
            assert_eq!(metadata(&status, key), value, "{}: {status:?}", case.name);
        }
    }
    assert_eq!(app.store.count("entries").await.unwrap(), entries_before);
    assert_eq!(
        app.balance(&account).await.available,
        balance_before.available
    );
}

crate::both_stores!(every_refusal_has_its_code_reason_and_changes_nothing);
