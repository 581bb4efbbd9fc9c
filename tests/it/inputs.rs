//! The bad-input table: hundreds of malformed requests across all five services, through the
//! real gRPC server, on both stores. Each asserts its exact code, reason and field, that the
//! server still answers, and that nothing changed (no balance, lot, hold, entry, key or event);
//! `verify` passes at the end.
//!
//! Most rows are generated: every text field of every request gets a NUL, a control character
//! and a 1 MB string; every amount field gets every wrong spelling. The rest are written out:
//! unknown and malformed ids, out-of-range times, unknown enum values, missing fields, page
//! sizes, undecodable and oversize bodies, and the validation order.

use chrono::{Duration, TimeZone, Utc};
use credit_ledger::journal::verify::verify;
use credit_ledger::proto as p;
use prost_reflect::{DynamicMessage, Kind, MethodDescriptor, Value};
use sqlx::Row as _;
use tonic::Code;

use crate::helpers::{by_id, metadata, reason, Backend, TestApp};
use crate::wire::{method, request_of, set, Wire};

/// What the table expects of one request.
#[derive(Debug, Clone)]
pub struct Expect {
    pub code: Code,
    pub reason: &'static str,
    /// The field an INVALID_ARGUMENT names.
    pub field: Option<&'static str>,
}

fn invalid(field: &'static str) -> Expect {
    Expect {
        code: Code::InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: Some(field),
    }
}

fn refused(code: Code, reason: &'static str) -> Expect {
    Expect {
        code,
        reason,
        field: None,
    }
}

fn ok() -> Expect {
    refused(Code::Ok, "")
}

pub struct Row {
    pub name: String,
    pub method: MethodDescriptor,
    pub body: Vec<u8>,
    pub expect: Expect,
}

/// The objects the requests name.
pub struct Fixture {
    pub account: String,
    pub lot: String,
    pub hold: String,
}

pub async fn fixture(app: &TestApp) -> Fixture {
    let account = app.account("inputs", 2).await;
    let lot = app.top_up(&account, "100", "10", "fund").await.lot_id;
    let hold = app
        .authorize(&account, "5", "hold", 0)
        .await
        .unwrap()
        .hold_id;
    Fixture { account, lot, hold }
}

fn ts(t: chrono::DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// A valid request of every RPC, naming the fixture; each row breaks one thing in one of them.
pub fn bases(f: &Fixture) -> Vec<(&'static str, DynamicMessage)> {
    let now = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
    let account = Some(by_id(&f.account));
    macro_rules! base {
        ($name:literal, $request:expr) => {
            ($name, request_of(&method($name), &$request))
        };
    }
    vec![
        base!(
            "Accounts/CreateAccount",
            p::CreateAccountRequest {
                idempotency_key: "k-create".into(),
                external_id: "new-customer".into(),
                unit: "CREDIT".parse().unwrap(),
                unit_scale: 2,
                credit_line_limit: "10".into(),
                credit_line_price: "0.5".into(),
                currency: "USD".parse().unwrap(),
                ..Default::default()
            }
        ),
        base!(
            "Accounts/GetAccount",
            p::GetAccountRequest {
                account: account.clone()
            }
        ),
        base!(
            "Accounts/UpdateAccount",
            p::UpdateAccountRequest {
                idempotency_key: "k-update".into(),
                account: account.clone(),
                credit_line_limit: Some("5".into()),
                credit_line_price: Some("1".into()),
                ..Default::default()
            }
        ),
        base!(
            "Accounts/ListAccounts",
            p::ListAccountsRequest {
                page_size: 10,
                page_token: String::new(),
            }
        ),
        base!(
            "Credits/TopUp",
            p::TopUpRequest {
                idempotency_key: "k-topup".into(),
                account: account.clone(),
                quantity: "10".into(),
                price: "1".into(),
                currency: "USD".parse().unwrap(),
                expires_at: ts(now + Duration::days(30)),
                scope: vec!["chat".into()],
                reference: "order-1".into(),
                ..Default::default()
            }
        ),
        base!(
            "Credits/GrantCredits",
            p::GrantCreditsRequest {
                idempotency_key: "k-grant".into(),
                account: account.clone(),
                quantity: "10".into(),
                scope: vec!["chat".into()],
                reference: "promo".into(),
                ..Default::default()
            }
        ),
        base!(
            "Credits/VoidGrant",
            p::VoidGrantRequest {
                idempotency_key: "k-void".into(),
                account: account.clone(),
                lot_id: f.lot.clone(),
                reason: "refund".into(),
                release_holds: true,
            }
        ),
        base!(
            "Credits/ListLots",
            p::ListLotsRequest {
                account: account.clone(),
                ..Default::default()
            }
        ),
        base!(
            "Credits/Adjust",
            p::AdjustRequest {
                idempotency_key: "k-adjust".into(),
                account: account.clone(),
                direction: p::AdjustDirection::Credit as i32,
                quantity: "1".into(),
                reason: "support".into(),
                ..Default::default()
            }
        ),
        base!(
            "Credits/CreateCommitment",
            p::CreateCommitmentRequest {
                idempotency_key: "k-commit".into(),
                account: account.clone(),
                kind: p::CommitmentKind::Prepaid as i32,
                quantity: "10".into(),
                price: "1".into(),
                minimum_spend: "0".into(),
                currency: "USD".parse().unwrap(),
                term_end: ts(now + Duration::days(30)),
                reference: "contract".into(),
                ..Default::default()
            }
        ),
        base!(
            "Credits/GetCommitment",
            p::GetCommitmentRequest {
                commitment_id: "00000000-0000-0000-0000-00000000c0de".into(),
            }
        ),
        base!(
            "Usage/Authorize",
            p::AuthorizeRequest {
                idempotency_key: "k-auth".into(),
                account: account.clone(),
                quantity: "1".into(),
                ttl_ms: 1_000,
                meter: "chat".into(),
                reference: "req-1".into(),
                usage: Default::default(),
                subject: String::new(),
            }
        ),
        base!(
            "Usage/Capture",
            p::CaptureRequest {
                idempotency_key: "k-capture".into(),
                hold_id: f.hold.clone(),
                quantity: "1".into(),
                ..Default::default()
            }
        ),
        base!(
            "Usage/Release",
            p::ReleaseRequest {
                idempotency_key: "k-release".into(),
                hold_id: f.hold.clone(),
            }
        ),
        base!(
            "Usage/ExtendHold",
            p::ExtendHoldRequest {
                idempotency_key: "k-extend".into(),
                hold_id: f.hold.clone(),
                ttl_ms: 1_000,
            }
        ),
        base!(
            "Usage/Debit",
            p::DebitRequest {
                idempotency_key: "k-debit".into(),
                account: account.clone(),
                quantity: "1".into(),
                meter: "chat".into(),
                reference: "req-2".into(),
                usage: Default::default(),
                subject: String::new(),
            }
        ),
        base!(
            "Usage/GetBalance",
            p::GetBalanceRequest {
                account: account.clone(),
                as_of: None,
            }
        ),
        base!(
            "Journal/ListEntries",
            p::ListEntriesRequest {
                account: account.clone(),
                ..Default::default()
            }
        ),
        base!(
            "Journal/ExportJournal",
            p::ExportJournalRequest {
                from: ts(now - Duration::days(30)),
                to: ts(now),
                ..Default::default()
            }
        ),
        base!(
            "Journal/GetTrialBalance",
            p::GetTrialBalanceRequest::default()
        ),
        base!(
            "Journal/GetRevenueReport",
            p::GetRevenueReportRequest {
                account: account.clone(),
                ..Default::default()
            }
        ),
        base!(
            "Refills/SetAutoTopUp",
            p::SetAutoTopUpRequest {
                idempotency_key: "k-auto".into(),
                account: account.clone(),
                enabled: true,
                threshold: "10".into(),
                target: "50".into(),
                monthly_cap: "500".into(),
            }
        ),
        base!(
            "Refills/GetAutoTopUp",
            p::GetAutoTopUpRequest {
                account: account.clone(),
            }
        ),
        base!(
            "Refills/ReportTopUpFailure",
            p::ReportTopUpFailureRequest {
                idempotency_key: "k-auto-failed".into(),
                account: account.clone(),
                request_id: "0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e77".into(),
                reason: "card_declined".into(),
            }
        ),
        base!(
            "Refills/ListTopUpRequests",
            p::ListTopUpRequestsRequest {
                account: account.clone(),
                limit: 0,
            }
        ),
        base!(
            "Refills/CreateRecurringGrant",
            p::CreateRecurringGrantRequest {
                idempotency_key: "k-recurring".into(),
                account: account.clone(),
                quantity: "10".into(),
                period: p::GrantPeriod::Month as i32,
                time_zone: "Europe/Paris".into(),
                kind: p::LotKind::Paid as i32,
                price: "5".into(),
                currency: "USD".into(),
                rollover_cap: "1".into(),
            }
        ),
        base!(
            "Refills/DeleteRecurringGrant",
            p::DeleteRecurringGrantRequest {
                idempotency_key: "k-recurring-delete".into(),
                account: account.clone(),
                grant_id: "0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e77".into(),
            }
        ),
        base!(
            "Refills/ListRecurringGrants",
            p::ListRecurringGrantsRequest {
                account: account.clone(),
            }
        ),
        base!(
            "Journal/ClosePeriod",
            p::ClosePeriodRequest {
                month: "2025-12".into(),
            }
        ),
        base!(
            "Events/Subscribe",
            p::SubscribeRequest {
                account,
                ..Default::default()
            }
        ),
    ]
}

/// Amount fields, per RPC.
const AMOUNTS: &[(&str, &str)] = &[
    ("Accounts/CreateAccount", "credit_line_limit"),
    ("Accounts/CreateAccount", "credit_line_price"),
    ("Accounts/UpdateAccount", "credit_line_limit"),
    ("Accounts/UpdateAccount", "credit_line_price"),
    ("Credits/TopUp", "quantity"),
    ("Credits/TopUp", "price"),
    ("Credits/GrantCredits", "quantity"),
    ("Credits/Adjust", "quantity"),
    ("Credits/CreateCommitment", "quantity"),
    ("Credits/CreateCommitment", "price"),
    ("Credits/CreateCommitment", "minimum_spend"),
    ("Usage/Authorize", "quantity"),
    ("Usage/Capture", "quantity"),
    ("Usage/Debit", "quantity"),
    ("Refills/SetAutoTopUp", "threshold"),
    ("Refills/SetAutoTopUp", "target"),
    ("Refills/SetAutoTopUp", "monthly_cap"),
    ("Refills/CreateRecurringGrant", "quantity"),
    ("Refills/CreateRecurringGrant", "price"),
    ("Refills/CreateRecurringGrant", "rollover_cap"),
];

/// Every wrong spelling of "1" (and a few of other numbers).
pub const BAD_DECIMALS: &[&str] = &[
    " 1", "1 ", "\t1", "\n1", "1\u{a0}", "1e3", "1E3", "+1", ".5", "1.", "0x10", "1,5", "1_000",
    "\u{661}", "--1", "-0", "1.2.3", "NaN", "Infinity", "٫5",
];

fn text_values() -> Vec<(&'static str, String)> {
    vec![
        ("NUL", "a\u{0}b".to_string()),
        ("control character", "a\u{1}b".to_string()),
        ("1 MB", "x".repeat(1_000_000)),
    ]
}

fn row(name: String, method: &MethodDescriptor, message: &DynamicMessage, expect: Expect) -> Row {
    use prost::Message as _;
    Row {
        name,
        method: method.clone(),
        body: message.encode_to_vec(),
        expect,
    }
}

/// Every text field (and each AccountRef's two) × NUL, a control character and 1 MB.
fn text_rows(bases: &[(&'static str, DynamicMessage)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (name, base) in bases {
        let m = method(name);
        for field in m.input().fields() {
            let paths: Vec<(String, &'static str)> = match field.kind() {
                Kind::String if !field.is_list() => vec![(
                    field.name().to_string(),
                    Box::leak(field.name().to_string().into_boxed_str()),
                )],
                Kind::String => vec![(field.name().to_string(), "scope")],
                Kind::Message(m) if m.full_name() == "creditledger.v1.AccountRef" => vec![
                    (format!("{}.account_id", field.name()), "account"),
                    (format!("{}.external_id", field.name()), "account"),
                ],
                _ => continue,
            };
            for (path, expected_field) in paths {
                for (what, value) in text_values() {
                    let mut message = base.clone();
                    let value = match field.is_list() {
                        true => Value::List(vec![Value::String(value)]),
                        false => Value::String(value),
                    };
                    set(&mut message, &path, value);
                    rows.push(row(
                        format!("{name} {path}: {what}"),
                        &m,
                        &message,
                        invalid(expected_field),
                    ));
                }
            }
        }
    }
    rows
}

/// Every amount field × every wrong spelling.
fn amount_rows(bases: &[(&'static str, DynamicMessage)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (name, field) in AMOUNTS {
        let (_, base) = bases.iter().find(|(n, _)| n == name).expect("a base");
        let m = method(name);
        for bad in BAD_DECIMALS {
            let mut message = base.clone();
            set(&mut message, field, Value::String(bad.to_string()));
            rows.push(row(
                format!("{name} {field}: {bad:?}"),
                &m,
                &message,
                invalid(field),
            ));
        }
    }
    rows
}

fn timestamp(seconds: i64, nanos: i32) -> Value {
    let desc = crate::wire::pool()
        .get_message_by_name("google.protobuf.Timestamp")
        .expect("Timestamp");
    let mut t = DynamicMessage::new(desc);
    t.set_field_by_name("seconds", Value::I64(seconds));
    t.set_field_by_name("nanos", Value::I32(nanos));
    Value::Message(t)
}

/// 10000-01-01T00:00:00Z, the first second past the protobuf Timestamp range.
const YEAR_10000: i64 = 253_402_300_800;
/// 0000-12-31T23:59:59Z, the last second before it.
const YEAR_0: i64 = -62_135_596_801;

/// The rows written out one by one.
fn written_rows(bases: &[(&'static str, DynamicMessage)]) -> Vec<Row> {
    let unknown = "0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e77";
    let base = |name: &str| {
        bases
            .iter()
            .find(|(n, _)| *n == name)
            .expect("base")
            .1
            .clone()
    };
    let mut rows = Vec::new();
    let mut add = |name: &str, edits: Vec<(&str, Value)>, expect: Expect| {
        let m = method(name);
        let mut message = base(name);
        for (path, value) in edits {
            match value {
                Value::EnumNumber(-1) => {
                    message.clear_field_by_name(path);
                }
                value => set(&mut message, path, value),
            }
        }
        rows.push(row(format!("{name} {expect:?}"), &m, &message, expect));
    };
    let s = |v: &str| Value::String(v.to_string());
    let clear = Value::EnumNumber(-1);
    let not_found = refused(Code::NotFound, "ACCOUNT_NOT_FOUND");
    // Unknown accounts: NOT_FOUND on every call that names one.
    for name in [
        "Accounts/GetAccount",
        "Accounts/UpdateAccount",
        "Credits/TopUp",
        "Credits/GrantCredits",
        "Credits/VoidGrant",
        "Credits/ListLots",
        "Credits/Adjust",
        "Credits/CreateCommitment",
        "Usage/Authorize",
        "Usage/Debit",
        "Usage/GetBalance",
        "Journal/ListEntries",
        "Journal/GetRevenueReport",
        "Events/Subscribe",
    ] {
        add(
            name,
            vec![("account.account_id", s(unknown))],
            not_found.clone(),
        );
        add(
            name,
            vec![("account.external_id", s("nobody-by-that-name"))],
            not_found.clone(),
        );
    }
    // Malformed ids.
    for bad in [
        "",
        " 0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e77",
        "{0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e77}",
        "urn:uuid:0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e77",
        "0b9e0d8a2d0f4a4c9c513d3b8d1f0e77",
        "0b9e0d8a-2d0f-4a4c-9c51-3d3b8d1f0e7g",
    ] {
        add(
            "Usage/Capture",
            vec![("hold_id", s(bad))],
            invalid("hold_id"),
        );
        add(
            "Credits/VoidGrant",
            vec![("lot_id", s(bad))],
            invalid("lot_id"),
        );
        add(
            "Credits/GetCommitment",
            vec![("commitment_id", s(bad))],
            invalid("commitment_id"),
        );
        if !bad.is_empty() {
            add(
                "Usage/Debit",
                vec![("account.account_id", s(bad))],
                invalid("account"),
            );
            add(
                "Accounts/ListAccounts",
                vec![("page_token", s(bad))],
                invalid("page_token"),
            );
        }
    }
    // Unknown objects named by id.
    add(
        "Usage/Capture",
        vec![("hold_id", s(unknown))],
        refused(Code::NotFound, "HOLD_NOT_FOUND"),
    );
    add(
        "Usage/Release",
        vec![("hold_id", s(unknown))],
        refused(Code::NotFound, "HOLD_NOT_FOUND"),
    );
    add(
        "Credits/VoidGrant",
        vec![("lot_id", s(unknown))],
        refused(Code::NotFound, "LOT_NOT_FOUND"),
    );
    add(
        "Credits/GetCommitment",
        vec![],
        refused(Code::NotFound, "COMMITMENT_NOT_FOUND"),
    );
    // Validation order: the form of every field comes before what the request names. An
    // unknown lot with no reason is told about the reason first; an unknown account with a
    // malformed quantity about the quantity.
    add(
        "Credits/VoidGrant",
        vec![("lot_id", s(unknown)), ("reason", s(""))],
        invalid("reason"),
    );
    add(
        "Usage/Debit",
        vec![("account.account_id", s(unknown)), ("quantity", s(" 1"))],
        invalid("quantity"),
    );
    add(
        "Usage/Capture",
        vec![("hold_id", s(unknown)), ("quantity", s("1.5.0"))],
        invalid("quantity"),
    );
    // Missing required fields.
    for name in [
        "Accounts/CreateAccount",
        "Accounts/UpdateAccount",
        "Credits/TopUp",
        "Credits/GrantCredits",
        "Credits/VoidGrant",
        "Credits/Adjust",
        "Credits/CreateCommitment",
        "Usage/Authorize",
        "Usage/Capture",
        "Usage/Release",
        "Usage/ExtendHold",
        "Usage/Debit",
    ] {
        add(
            name,
            vec![("idempotency_key", s(""))],
            invalid("idempotency_key"),
        );
    }
    for name in [
        "Accounts/GetAccount",
        "Credits/TopUp",
        "Credits/ListLots",
        "Usage/Debit",
        "Usage/GetBalance",
    ] {
        add(name, vec![("account", clear.clone())], invalid("account"));
    }
    for name in [
        "Credits/TopUp",
        "Usage/Authorize",
        "Usage/Capture",
        "Usage/Debit",
    ] {
        add(name, vec![("quantity", s(""))], invalid("quantity"));
    }
    add("Credits/TopUp", vec![("price", s(""))], invalid("price"));
    add("Credits/Adjust", vec![("reason", s(""))], invalid("reason"));
    add(
        "Credits/Adjust",
        vec![("reason", s("  "))],
        invalid("reason"),
    );
    add(
        "Credits/VoidGrant",
        vec![("reason", s(""))],
        invalid("reason"),
    );
    add(
        "Accounts/CreateAccount",
        vec![("external_id", s(""))],
        invalid("external_id"),
    );
    add(
        "Accounts/CreateAccount",
        vec![("unit", s(""))],
        invalid("unit"),
    );
    add(
        "Credits/CreateCommitment",
        vec![("term_end", clear.clone())],
        invalid("term_end"),
    );
    add(
        "Journal/ExportJournal",
        vec![("from", clear.clone())],
        invalid("from"),
    );
    // Identifiers with surrounding whitespace, codes that are not codes.
    add(
        "Usage/Debit",
        vec![("idempotency_key", s(" k"))],
        invalid("idempotency_key"),
    );
    add(
        "Accounts/CreateAccount",
        vec![("external_id", s("customer "))],
        invalid("external_id"),
    );
    add("Usage/Debit", vec![("meter", s(" chat"))], invalid("meter"));
    add(
        "Credits/TopUp",
        vec![("currency", s(" USD"))],
        invalid("currency"),
    );
    add(
        "Credits/TopUp",
        vec![("currency", s("usd"))],
        invalid("currency"),
    );
    add(
        "Accounts/CreateAccount",
        vec![("unit", s("CRÉDIT"))],
        invalid("unit"),
    );
    add(
        "Usage/Debit",
        vec![("idempotency_key", s(&"k".repeat(129)))],
        invalid("idempotency_key"),
    );
    // Out-of-range times.
    for (name, field) in [
        ("Credits/TopUp", "expires_at"),
        ("Credits/TopUp", "effective_at"),
        ("Credits/GrantCredits", "expires_at"),
        ("Credits/Adjust", "expires_at"),
        ("Credits/CreateCommitment", "term_end"),
        ("Credits/CreateCommitment", "term_start"),
    ] {
        add(
            name,
            vec![(field, timestamp(YEAR_10000, 0))],
            invalid(field),
        );
        add(name, vec![(field, timestamp(-1, 0))], invalid(field));
        add(name, vec![(field, timestamp(0, -1))], invalid(field));
        add(
            name,
            vec![(field, timestamp(0, 1_000_000_000))],
            invalid(field),
        );
    }
    for (name, field) in [
        ("Usage/GetBalance", "as_of"),
        ("Journal/GetTrialBalance", "as_of"),
        ("Journal/ListEntries", "from"),
        ("Journal/ExportJournal", "to"),
    ] {
        add(
            name,
            vec![(field, timestamp(YEAR_10000, 0))],
            invalid(field),
        );
        add(name, vec![(field, timestamp(YEAR_0, 0))], invalid(field));
        add(name, vec![(field, timestamp(i64::MIN, 0))], invalid(field));
    }
    // Unknown enum values.
    for (name, field) in [
        ("Accounts/UpdateAccount", "status"),
        ("Usage/Capture", "overage"),
        ("Credits/Adjust", "direction"),
        ("Credits/CreateCommitment", "kind"),
        ("Journal/ExportJournal", "book"),
        ("Journal/ExportJournal", "format"),
        ("Journal/ListEntries", "order"),
    ] {
        add(name, vec![(field, Value::EnumNumber(99))], invalid(field));
        add(name, vec![(field, Value::EnumNumber(-5))], invalid(field));
    }
    for name in ["Journal/ListEntries", "Events/Subscribe"] {
        add(
            name,
            vec![("kinds", Value::List(vec![Value::EnumNumber(99)]))],
            invalid("kinds"),
        );
    }
    // Numbers out of range.
    add(
        "Usage/Authorize",
        vec![("ttl_ms", Value::U64(u64::MAX))],
        invalid("ttl_ms"),
    );
    add(
        "Usage/ExtendHold",
        vec![("ttl_ms", Value::U64(0))],
        invalid("ttl_ms"),
    );
    add(
        "Accounts/CreateAccount",
        vec![("unit_scale", Value::U32(10))],
        invalid("unit_scale"),
    );
    add(
        "Events/Subscribe",
        vec![("after_seq", Value::U64(u64::MAX))],
        invalid("after_seq"),
    );
    add(
        "Accounts/CreateAccount",
        vec![("low_balance.percent", s("101"))],
        invalid("low_balance_percent"),
    );
    add(
        "Accounts/CreateAccount",
        vec![("low_balance.absolute", s(" 5"))],
        invalid("low_balance_threshold"),
    );
    // Page sizes: 0 is the default, anything above the maximum is the maximum.
    for size in [0u32, 1, 1_001, u32::MAX] {
        add(
            "Accounts/ListAccounts",
            vec![("page_size", Value::U32(size))],
            ok(),
        );
        add(
            "Credits/ListLots",
            vec![("page_size", Value::U32(size))],
            ok(),
        );
        add(
            "Journal/ListEntries",
            vec![("page_size", Value::U32(size))],
            ok(),
        );
    }
    add(
        "Journal/ListEntries",
        vec![("page_token", s("-1x"))],
        invalid("page_token"),
    );
    rows
}

/// Bodies that do not decode, and one above the message size limit.
fn body_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let malformed = refused(Code::InvalidArgument, "MALFORMED_REQUEST");
    for name in [
        "Usage/Debit",
        "Accounts/CreateAccount",
        "Journal/ExportJournal",
        "Events/Subscribe",
    ] {
        let m = method(name);
        for (what, body) in [
            ("ff ff ff ff ff", vec![0xff; 5]),
            // Field 1 (a string in every request here) holding bytes that are not UTF-8.
            ("a string that is not UTF-8", vec![0x0a, 0x02, 0xff, 0xfe]),
            // A length running past the end.
            ("a truncated field", vec![0x0a, 0x10, b'a']),
        ] {
            rows.push(Row {
                name: format!("{name}: {what}"),
                method: m.clone(),
                body,
                expect: malformed.clone(),
            });
        }
    }
    rows.push(Row {
        name: "Usage/Debit: 2 MB".into(),
        method: method("Usage/Debit"),
        body: [vec![0x0a, 0x80, 0x80, 0x80, 0x01], vec![b'k'; 2 << 20]].concat(),
        expect: refused(Code::ResourceExhausted, "MESSAGE_TOO_LARGE"),
    });
    rows
}

pub fn table(f: &Fixture) -> Vec<Row> {
    let bases = bases(f);
    let mut rows = text_rows(&bases);
    rows.extend(amount_rows(&bases));
    rows.extend(written_rows(&bases));
    rows.extend(body_rows());
    rows
}

/// Everything a request could change, in one string.
pub async fn state(app: &TestApp) -> String {
    let mut out = String::new();
    for table in [
        "accounts",
        "account_external_ids",
        "account_creations",
        "lots",
        "holds",
        "hold_accounts",
        "entries",
        "idempotency",
        "commitments",
        "events",
    ] {
        out.push_str(&format!(
            "{table}={} ",
            app.store.count(table).await.unwrap()
        ));
    }
    // Every column read as text, whatever type the store keeps it in.
    let pool = app.store.pool();
    let queries = [
        "SELECT CAST(id AS TEXT), status, CAST(entry_seq AS TEXT), last_hash, \
         CAST(credit_line_limit AS TEXT), CAST(credit_line_price AS TEXT), \
         CAST(open_holds AS TEXT) FROM accounts ORDER BY id",
        "SELECT CAST(id AS TEXT), status, CAST(remaining AS TEXT), CAST(held AS TEXT) \
         FROM lots ORDER BY id",
        "SELECT CAST(id AS TEXT), status, CAST(expires_at AS TEXT), reserved \
         FROM holds ORDER BY id",
    ];
    for sql in queries {
        for r in sqlx::query(sql).fetch_all(pool).await.unwrap() {
            out.push('\n');
            for i in 0..r.len() {
                out.push_str(&r.get::<String, _>(i));
                out.push(' ');
            }
        }
    }
    out
}

async fn every_malformed_request_is_refused_exactly_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let f = fixture(&app).await;
    let wire = Wire::connect(&app).await;
    let rows = table(&f);
    assert!(rows.len() >= 100, "{} rows", rows.len());
    let before = state(&app).await;
    let mut failures = Vec::new();
    for row in &rows {
        let result = wire.call_raw(&row.method, row.body.clone(), None).await;
        let (code, got_reason, field) = match &result {
            Ok(_) => (Code::Ok, String::new(), String::new()),
            Err(status) => (status.code(), reason(status), metadata(status, "field")),
        };
        let expected_field = row.expect.field.unwrap_or("");
        if (code, got_reason.as_str(), field.as_str())
            != (row.expect.code, row.expect.reason, expected_field)
        {
            let message = result.err().map(|s| s.message().to_string());
            failures.push(format!(
                "{}: got {code:?} {got_reason:?} field {field:?} ({message:?}), expected {:?}",
                row.name, row.expect
            ));
        }
        let after = state(&app).await;
        if after != before {
            failures.push(format!("{}: changed the store", row.name));
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    // The server is still up and the books are whole.
    let balance = app.balance(&f.account).await;
    assert_eq!(balance.posted, "100");
    let report = verify(&app.store).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

crate::both_stores!(every_malformed_request_is_refused_exactly_and_changes_nothing);
