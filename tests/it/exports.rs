//! Exports safe to open in a spreadsheet: text a customer or a caller chose (external ids,
//! references, idempotency keys) that a spreadsheet would run as a formula is neutralised in CSV
//! with a leading apostrophe, amounts stay plain numbers, and JSON Lines keep every value exact.

use chrono::{TimeZone, Utc};
use credit_ledger::proto as p;

use crate::helpers::{by_id, Backend, TestApp};
use crate::journal::export;

/// Values that begin with each character a spreadsheet treats as the start of a formula.
const FORMULAS: &[&str] = &[
    "=1+2",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\tHYPERLINK(\"x\")",
    "\r=1",
];

async fn csv_fields_cannot_run_as_formulas(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app
        .accounts()
        .await
        .create_account(p::CreateAccountRequest {
            idempotency_key: "create".into(),
            external_id: "=1+2".into(),
            unit: "CREDIT".parse().unwrap(),
            unit_scale: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap()
        .account_id;
    app.top_up(&account, "100", "10", "@SUM(A1)").await;
    for (i, formula) in FORMULAS.iter().enumerate() {
        // Keys are identifiers (no tab or carriage return); references are free text.
        let key = match formula.starts_with(['\t', '\r']) {
            true => format!("-key-{i}"),
            false => format!("{formula}#{i}"),
        };
        let request = p::DebitRequest {
            idempotency_key: key,
            account: Some(by_id(&account)),
            quantity: "1.5".into(),
            reference: formula.to_string(),
            ..Default::default()
        };
        app.usage().await.debit(request).await.expect("debit");
    }
    let period = |format: p::ExportFormat| p::ExportJournalRequest {
        from: Some(prost_types::Timestamp {
            seconds: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp(),
            nanos: 0,
        }),
        to: Some(prost_types::Timestamp {
            seconds: Utc
                .with_ymd_and_hms(2026, 2, 1, 0, 0, 0)
                .unwrap()
                .timestamp(),
            nanos: 0,
        }),
        format: format as i32,
        ..Default::default()
    };
    let csv_text = export(&app, period(p::ExportFormat::Csv)).await.unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = 0;
    let mut neutralised = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        rows += 1;
        for (column, field) in header.iter().zip(record.iter()) {
            if column == "debit" || column == "credit" {
                // Plain numbers a spreadsheet sums.
                assert!(
                    field.is_empty() || field.parse::<rust_decimal::Decimal>().is_ok(),
                    "{column} = {field:?}"
                );
                continue;
            }
            assert!(
                !field.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{column} = {field:?} could run as a formula"
            );
            if let Some(original) = field.strip_prefix('\'') {
                neutralised.push((column.clone(), original.to_string()));
            }
        }
    }
    assert_eq!(
        rows,
        2 * (1 + FORMULAS.len()),
        "two money postings per entry"
    );
    // Each neutralised field is the original behind one apostrophe, nothing else changed.
    for (column, value) in [
        ("external_id", "=1+2"),
        ("idempotency_key", "@SUM(A1)"),
        ("idempotency_key", "=1+2#0"),
        ("idempotency_key", "-2+3#2"),
        ("idempotency_key", "@SUM(A1)#3"),
        ("idempotency_key", "-key-4"),
        ("reference", "\tHYPERLINK(\"x\")"),
        ("reference", "\r=1"),
        ("reference", "+cmd|' /C calc'!A0"),
    ] {
        assert!(
            neutralised.contains(&(column.to_string(), value.to_string())),
            "{column} {value:?} not found neutralised in {neutralised:?}"
        );
    }
    // JSON Lines stay exact.
    let jsonl = export(&app, period(p::ExportFormat::JsonLines))
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().all(|l| l["external_id"] == "=1+2"));
    for formula in FORMULAS {
        assert!(
            lines.iter().any(|l| l["reference"] == *formula),
            "{formula:?} kept exact in JSON Lines"
        );
    }
}

crate::both_stores!(csv_fields_cannot_run_as_formulas);
