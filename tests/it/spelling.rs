//! One spelling for every amount: every RPC is called with amounts written with trailing zeros,
//! and every string of every answer that is a number (at any depth of any response type) must
//! be canonical: no trailing zeros, no exponent, no negative zero, no leading zeros. The export's
//! lines are held to the same rule.

use std::collections::BTreeSet;

use chrono::{Duration, TimeZone, Utc};
use credit_ledger::proto as p;
use prost_reflect::{DynamicMessage, Value};

use crate::helpers::{by_id, Backend, TestApp};
use crate::wire::{method, methods, request_of, Wire};

/// A number as the wire spells it: `-?digits(.digits)?`.
fn numeric(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn canonical(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (unsigned, None),
    };
    let no_leading_zero = whole == "0" || !whole.starts_with('0');
    let no_trailing_zero = fraction.is_none_or(|f| !f.ends_with('0'));
    let not_negative_zero = !(s.starts_with('-') && unsigned.trim_matches(['0', '.']).is_empty());
    no_leading_zero && no_trailing_zero && not_negative_zero
}

/// Every numeric string in `message`, with its path.
fn numbers(message: &DynamicMessage, path: &str, out: &mut Vec<(String, String)>) {
    for (field, value) in message.fields() {
        let path = format!("{path}.{}", field.name());
        let values: Vec<&Value> = match value {
            Value::List(items) => items.iter().collect(),
            other => vec![other],
        };
        for value in values {
            match value {
                Value::String(s) if numeric(s) => out.push((path.clone(), s.clone())),
                Value::Message(inner) => numbers(inner, &path, out),
                _ => {}
            }
        }
    }
}

struct Checker {
    wire: Wire,
    called: BTreeSet<String>,
    numbers_seen: usize,
    wrong: Vec<String>,
}

impl Checker {
    /// Calls `name` with `request` and holds every number of the answer to the rule.
    async fn call<M: prost::Message>(&mut self, name: &str, request: M) -> DynamicMessage {
        let m = method(name);
        let answer = self
            .wire
            .call(&m, &request_of(&m, &request))
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .unwrap_or_else(|| panic!("{name}: no answer"));
        let mut found = Vec::new();
        numbers(&answer, name, &mut found);
        self.numbers_seen += found.len();
        for (path, value) in found {
            if !canonical(&value) {
                self.wrong.push(format!("{path} = {value:?}"));
            }
        }
        self.called.insert(name.to_string());
        answer
    }
}

fn text(message: &DynamicMessage, path: &str) -> String {
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let value = message.get_field_by_name(head).expect("field").into_owned();
    match (value, rest) {
        (Value::String(s), "") => s,
        (Value::Message(inner), rest) => text(&inner, rest),
        (other, _) => panic!("{path}: {other:?}"),
    }
}

async fn every_amount_in_every_answer_has_one_spelling(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
    let ts = |t: chrono::DateTime<Utc>| {
        Some(prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: 0,
        })
    };
    let mut c = Checker {
        wire: Wire::connect(&app).await,
        called: BTreeSet::new(),
        numbers_seen: 0,
        wrong: Vec::new(),
    };
    let created = c
        .call(
            "Accounts/CreateAccount",
            p::CreateAccountRequest {
                idempotency_key: "create".into(),
                external_id: "spelling".into(),
                unit: "CREDIT".parse().unwrap(),
                unit_scale: 3,
                credit_line_limit: "20.000".into(),
                credit_line_price: "0.50".into(),
                currency: "USD".parse().unwrap(),
                low_balance: Some(p::LowBalanceThreshold {
                    threshold: Some(p::low_balance_threshold::Threshold::Absolute("90.0".into())),
                }),
            },
        )
        .await;
    let account = text(&created, "account.account_id");
    let acct = || Some(by_id(&account));
    // Before any activity: "0", never "-0".
    c.call(
        "Usage/GetBalance",
        p::GetBalanceRequest {
            account: acct(),
            as_of: None,
        },
    )
    .await;
    c.call(
        "Credits/TopUp",
        p::TopUpRequest {
            idempotency_key: "top-up".into(),
            account: acct(),
            quantity: "80.500".into(),
            price: "8.000".into(),
            currency: "USD".parse().unwrap(),
            expires_at: ts(now + Duration::days(40)),
            ..Default::default()
        },
    )
    .await;
    let granted = c
        .call(
            "Credits/GrantCredits",
            p::GrantCreditsRequest {
                idempotency_key: "grant".into(),
                account: acct(),
                quantity: "5.0".into(),
                ..Default::default()
            },
        )
        .await;
    let grant_lot = text(&granted, "lot.lot_id");
    let held = c
        .call(
            "Usage/Authorize",
            p::AuthorizeRequest {
                idempotency_key: "hold".into(),
                account: acct(),
                quantity: "10.0".into(),
                ..Default::default()
            },
        )
        .await;
    let hold = text(&held, "hold.hold_id");
    c.call(
        "Usage/Capture",
        p::CaptureRequest {
            idempotency_key: "capture".into(),
            hold_id: hold.clone(),
            quantity: "2.50".into(),
            ..Default::default()
        },
    )
    .await;
    c.call(
        "Usage/ExtendHold",
        p::ExtendHoldRequest {
            idempotency_key: "extend".into(),
            hold_id: hold.clone(),
            ttl_ms: 60_000,
        },
    )
    .await;
    c.call(
        "Usage/Release",
        p::ReleaseRequest {
            idempotency_key: "release".into(),
            hold_id: hold,
        },
    )
    .await;
    for (i, quantity) in ["0.100", "1.000", "70.0"].iter().enumerate() {
        c.call(
            "Usage/Debit",
            p::DebitRequest {
                idempotency_key: format!("debit-{i}"),
                account: acct(),
                quantity: quantity.to_string(),
                ..Default::default()
            },
        )
        .await;
    }
    // Prices written with trailing zeros, and usage rated by them: every figure of the version,
    // the quote and the rated debit comes back canonical.
    let price = |dimension: &str, price: &str, cost: &str| p::Price {
        meter: "chat:large".into(),
        dimension: dimension.into(),
        unit: "CREDIT".into(),
        block: 1_000_000,
        price: price.into(),
        cost: cost.into(),
        currency: "USD".into(),
    };
    c.call(
        "Pricing/PublishPriceVersion",
        p::PublishPriceVersionRequest {
            idempotency_key: "prices".into(),
            prices: vec![
                price("input_tokens", "2.500", "1.2500"),
                price("output_tokens", "10.0", "5.00"),
            ],
            ..Default::default()
        },
    )
    .await;
    c.call(
        "Pricing/GetPriceVersion",
        p::GetPriceVersionRequest::default(),
    )
    .await;
    c.call(
        "Pricing/ListPriceVersions",
        p::ListPriceVersionsRequest::default(),
    )
    .await;
    let usage = || {
        [("input_tokens", "1200.0"), ("output_tokens", "300")]
            .map(|(d, n)| (d.to_string(), n.to_string()))
            .into()
    };
    let budget = c
        .call(
            "Budgets/CreateBudget",
            p::CreateBudgetRequest {
                idempotency_key: "budget".into(),
                account: acct(),
                subject: "team:a/key:k1".into(),
                limit: "500.000".into(),
                period: p::BudgetPeriod::Day as i32,
                hard: true,
                alerts: vec![50],
                ..Default::default()
            },
        )
        .await;
    let budget_id = text(&budget, "budget.budget_id");
    c.call(
        "Budgets/UpdateBudget",
        p::UpdateBudgetRequest {
            idempotency_key: "budget-update".into(),
            account: acct(),
            budget_id: budget_id.clone(),
            limit: "400.50".into(),
            hard: true,
            alerts: vec![80],
            max_requests: None,
        },
    )
    .await;
    c.call(
        "Usage/Quote",
        p::QuoteRequest {
            account: acct(),
            meter: "chat:large".into(),
            usage: usage(),
            at: None,
        },
    )
    .await;
    c.call(
        "Usage/Debit",
        p::DebitRequest {
            idempotency_key: "rated".into(),
            account: acct(),
            meter: "chat:large".into(),
            usage: usage(),
            ..Default::default()
        },
    )
    .await;
    c.call(
        "Credits/Adjust",
        p::AdjustRequest {
            idempotency_key: "adjust".into(),
            account: acct(),
            direction: p::AdjustDirection::Debit as i32,
            quantity: "1.000".into(),
            reason: "goodwill taken back".into(),
            ..Default::default()
        },
    )
    .await;
    c.call(
        "Credits/VoidGrant",
        p::VoidGrantRequest {
            idempotency_key: "void".into(),
            account: acct(),
            lot_id: grant_lot,
            reason: "mistake".into(),
            release_holds: true,
        },
    )
    .await;
    let committed = c
        .call(
            "Credits/CreateCommitment",
            p::CreateCommitmentRequest {
                idempotency_key: "commit".into(),
                account: acct(),
                kind: p::CommitmentKind::Prepaid as i32,
                quantity: "100.00".into(),
                price: "9.90".into(),
                term_end: ts(now + Duration::days(60)),
                ..Default::default()
            },
        )
        .await;
    c.call(
        "Credits/GetCommitment",
        p::GetCommitmentRequest {
            commitment_id: text(&committed, "commitment.commitment_id"),
        },
    )
    .await;
    c.call(
        "Accounts/UpdateAccount",
        p::UpdateAccountRequest {
            idempotency_key: "update".into(),
            account: acct(),
            credit_line_limit: Some("30.0".into()),
            ..Default::default()
        },
    )
    .await;
    c.call(
        "Accounts/GetAccount",
        p::GetAccountRequest { account: acct() },
    )
    .await;
    c.call("Accounts/ListAccounts", p::ListAccountsRequest::default())
        .await;
    c.call(
        "Credits/ListLots",
        p::ListLotsRequest {
            account: acct(),
            include_inactive: true,
            ..Default::default()
        },
    )
    .await;
    c.call(
        "Journal/ListEntries",
        p::ListEntriesRequest {
            account: acct(),
            ..Default::default()
        },
    )
    .await;
    c.call(
        "Journal/GetTrialBalance",
        p::GetTrialBalanceRequest::default(),
    )
    .await;
    c.call(
        "Journal/GetRevenueReport",
        p::GetRevenueReportRequest {
            from: ts(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            to: ts(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()),
            ..Default::default()
        },
    )
    .await;
    c.call(
        "Usage/GetBalance",
        p::GetBalanceRequest {
            account: acct(),
            as_of: ts(now),
        },
    )
    .await;
    c.call(
        "Journal/GetMarginReport",
        p::GetMarginReportRequest {
            from: ts(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            to: ts(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()),
        },
    )
    .await;
    let event = c
        .call("Events/Subscribe", p::SubscribeRequest::default())
        .await;
    assert!(!text(&event, "event_id").is_empty());
    // The export's lines: every debit and credit of a detail and a summary export, as JSON Lines.
    for summary in [false, true] {
        let request = p::ExportJournalRequest {
            from: ts(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            to: ts(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()),
            format: p::ExportFormat::JsonLines as i32,
            summary,
            ..Default::default()
        };
        let exported = crate::journal::export(&app, request).await.unwrap();
        c.called.insert("Journal/ExportJournal".into());
        for line in exported.lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            for column in ["debit", "credit"] {
                if let Some(value) = record[column].as_str() {
                    c.numbers_seen += 1;
                    if !canonical(value) {
                        c.wrong
                            .push(format!("export {column} = {value:?} in {line}"));
                    }
                }
            }
        }
    }
    c.call(
        "Budgets/GetBudget",
        p::GetBudgetRequest {
            account: acct(),
            budget_id: budget_id.clone(),
        },
    )
    .await;
    c.call(
        "Budgets/ListBudgets",
        p::ListBudgetsRequest {
            account: acct(),
            subject: String::new(),
        },
    )
    .await;
    c.call(
        "Budgets/DeleteBudget",
        p::DeleteBudgetRequest {
            idempotency_key: "budget-delete".into(),
            account: acct(),
            budget_id,
        },
    )
    .await;
    // A threshold above anything available: setting it raises a request at once.
    c.call(
        "Refills/SetAutoTopUp",
        p::SetAutoTopUpRequest {
            idempotency_key: "auto".into(),
            account: acct(),
            enabled: true,
            threshold: "1000000.0".into(),
            target: "2000000.00".into(),
            monthly_cap: "5000000.000".into(),
        },
    )
    .await;
    let auto = c
        .call(
            "Refills/GetAutoTopUp",
            p::GetAutoTopUpRequest { account: acct() },
        )
        .await;
    c.call(
        "Refills/ReportTopUpFailure",
        p::ReportTopUpFailureRequest {
            idempotency_key: "auto-failed".into(),
            account: acct(),
            request_id: text(&auto, "auto_top_up.open_request.request_id"),
            reason: "card_declined".into(),
        },
    )
    .await;
    c.call(
        "Refills/ListTopUpRequests",
        p::ListTopUpRequestsRequest {
            account: acct(),
            limit: 0,
        },
    )
    .await;
    let grant = c
        .call(
            "Refills/CreateRecurringGrant",
            p::CreateRecurringGrantRequest {
                idempotency_key: "recurring".into(),
                account: acct(),
                quantity: "10.0".into(),
                rollover_cap: "5.00".into(),
                ..Default::default()
            },
        )
        .await;
    c.call(
        "Refills/ListRecurringGrants",
        p::ListRecurringGrantsRequest { account: acct() },
    )
    .await;
    c.call(
        "Refills/DeleteRecurringGrant",
        p::DeleteRecurringGrantRequest {
            idempotency_key: "recurring-delete".into(),
            account: acct(),
            grant_id: text(&grant, "grant.grant_id"),
        },
    )
    .await;
    c.call(
        "Journal/ClosePeriod",
        p::ClosePeriodRequest {
            month: "2025-12".into(),
        },
    )
    .await;
    c.call("Journal/ListClosedPeriods", p::ListClosedPeriodsRequest {})
        .await;
    let all: BTreeSet<String> = methods()
        .iter()
        .map(|m| format!("{}/{}", m.parent_service().name(), m.name()))
        .collect();
    let missed: Vec<&String> = all.difference(&c.called).collect();
    assert!(missed.is_empty(), "not called: {missed:?}");
    assert!(c.numbers_seen > 100, "only {} amounts seen", c.numbers_seen);
    assert!(c.wrong.is_empty(), "not canonical:\n{}", c.wrong.join("\n"));
}

#[test]
fn the_rule_itself() {
    for good in ["0", "80", "-0.1", "8", "0.5", "12.345", "1000"] {
        assert!(numeric(good) && canonical(good), "{good}");
    }
    for bad in [
        "80.0",
        "0.0",
        "8.000",
        "-0.10000000",
        "0.00000000",
        "-0",
        "007",
        "-0.0",
    ] {
        assert!(numeric(bad) && !canonical(bad), "{bad}");
    }
}

crate::both_stores!(every_amount_in_every_answer_has_one_spelling);
