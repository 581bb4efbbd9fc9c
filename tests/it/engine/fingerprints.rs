//! Golden fingerprints: the identity of a request under its idempotency key must survive every
//! deploy. These hex strings were computed by the release before the fingerprint got its own
//! explicit encoding (sha256 of the serde JSON of the command, the old code path), for one
//! request of every command with every field set and one with every optional field unset. A
//! record written by that release must still be recognised: if any of these change, every
//! retry after a deploy would be refused IDEMPOTENCY_CONFLICT.

use chrono::{TimeZone, Utc};
use credit_ledger::ledger::fingerprint::document;
use credit_ledger::ledger::*;
use rust_decimal::Decimal;
use uuid::Uuid;

fn q(s: &str) -> Quantity {
    Quantity::parse("q", s).unwrap()
}

fn m(s: &str) -> Money {
    Money::parse("m", s).unwrap()
}

pub fn samples() -> Vec<(&'static str, Command)> {
    let account = AccountId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001));
    let lot = LotId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0002));
    let hold = HoldId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0003));
    let t1 = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
    let t2 =
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + chrono::Duration::microseconds(250);
    vec![
        (
            "create_account",
            Command::CreateAccount(CreateAccount {
                idempotency_key: "create-acme".into(),
                external_id: "acme".into(),
                unit: "CREDIT".parse().unwrap(),
                unit_scale: 2,
                credit_line_limit: Quantity::new(Decimal::new(1050, 1)).unwrap(),
                credit_line_price: m("0.25"),
                currency: "USD".parse().unwrap(),
                low_balance: LowBalance::None,
            }),
        ),
        (
            "create_account_with_threshold",
            Command::CreateAccount(CreateAccount {
                idempotency_key: "create-beta".into(),
                external_id: "beta \"quoted\" é".into(),
                unit: "TOKENS".parse().unwrap(),
                unit_scale: 0,
                credit_line_limit: Quantity::ZERO,
                credit_line_price: Money::ZERO,
                currency: "EUR".parse().unwrap(),
                low_balance: LowBalance::Percent(Percent::new(Decimal::new(125, 1)).unwrap()),
            }),
        ),
        (
            "update_account",
            Command::UpdateAccount(UpdateAccount {
                idempotency_key: "update-1".into(),
                account_id: account,
                credit_line_limit: Some(Quantity::new(Decimal::new(5, 0)).unwrap()),
                credit_line_price: Some(m("1.5")),
                status: Some(AccountStatus::Frozen),
                low_balance: Some(LowBalance::Absolute(
                    Quantity::new(Decimal::new(10, 0)).unwrap(),
                )),
                price_book: Default::default(),
            }),
        ),
        (
            "update_account_unset",
            Command::UpdateAccount(UpdateAccount {
                idempotency_key: "update-2".into(),
                account_id: account,
                credit_line_limit: None,
                credit_line_price: None,
                status: None,
                low_balance: None,
                price_book: Default::default(),
            }),
        ),
        (
            "update_account_threshold_removed",
            Command::UpdateAccount(UpdateAccount {
                idempotency_key: "update-3".into(),
                account_id: account,
                credit_line_limit: None,
                credit_line_price: None,
                status: Some(AccountStatus::Closed),
                low_balance: Some(LowBalance::None),
                price_book: Default::default(),
            }),
        ),
        (
            "top_up",
            Command::Grant(Grant {
                idempotency_key: "order-1".into(),
                account_id: account,
                kind: LotKind::Paid,
                quantity: q("100.50"),
                price: m("10.00"),
                currency: Some("USD".parse().unwrap()),
                priority: -3,
                effective_at: Some(t1),
                expires_at: Some(t2),
                scope: vec!["chat:large".into(), "embed".into()],
                reference: "checkout 1".into(),
            }),
        ),
        (
            "grant",
            Command::Grant(Grant {
                idempotency_key: "promo-1".into(),
                account_id: account,
                kind: LotKind::Promotional,
                quantity: q("5"),
                price: Money::ZERO,
                currency: None,
                priority: 0,
                effective_at: None,
                expires_at: None,
                scope: Vec::new(),
                reference: String::new(),
            }),
        ),
        (
            "void_grant",
            Command::VoidGrant(VoidGrant {
                idempotency_key: "void-1".into(),
                account_id: account,
                lot_id: lot,
                reason: "refund\nline two".into(),
                release_holds: true,
            }),
        ),
        (
            "authorize",
            Command::Authorize(Authorize {
                idempotency_key: "auth-1".into(),
                account_id: account,
                quantity: q("0.001"),
                ttl_ms: Some(60_000),
                meter: "chat:large".into(),
                reference: "req-1".into(),
                usage: None,
                subject: String::new(),
            }),
        ),
        (
            "authorize_default_ttl",
            Command::Authorize(Authorize {
                idempotency_key: "auth-2".into(),
                account_id: account,
                quantity: q("3"),
                ttl_ms: None,
                meter: String::new(),
                reference: String::new(),
                usage: None,
                subject: String::new(),
            }),
        ),
        (
            "capture",
            Command::Capture(Capture {
                idempotency_key: "cap-1".into(),
                hold_id: hold,
                quantity: q("2.5"),
                is_final: true,
                overage: Overage::DrawAvailable,
                usage: None,
            }),
        ),
        (
            "capture_clamp",
            Command::Capture(Capture {
                idempotency_key: "cap-2".into(),
                hold_id: hold,
                quantity: q("1"),
                is_final: false,
                overage: Overage::Clamp,
                usage: None,
            }),
        ),
        (
            "release",
            Command::Release(Release {
                idempotency_key: "rel-1".into(),
                hold_id: hold,
            }),
        ),
        (
            "extend_hold",
            Command::ExtendHold(ExtendHold {
                idempotency_key: "ext-1".into(),
                hold_id: hold,
                ttl_ms: 1,
            }),
        ),
        (
            "debit",
            Command::Debit(Debit {
                idempotency_key: "debit-1".into(),
                account_id: account,
                quantity: q("1000000000000000"),
                meter: "embed".into(),
                reference: "req-2".into(),
                usage: None,
                subject: String::new(),
            }),
        ),
        (
            "adjust_debit",
            Command::Adjust(Adjust {
                idempotency_key: "adj-1".into(),
                account_id: account,
                direction: AdjustDirection::Debit,
                quantity: q("7"),
                lot_id: Some(lot),
                reason: "goodwill back".into(),
                priority: 0,
                expires_at: None,
            }),
        ),
        (
            "adjust_credit",
            Command::Adjust(Adjust {
                idempotency_key: "adj-2".into(),
                account_id: account,
                direction: AdjustDirection::Credit,
                quantity: q("0.5"),
                lot_id: None,
                reason: "sorry".into(),
                priority: 9,
                expires_at: Some(t2),
            }),
        ),
        (
            "commitment_prepaid",
            Command::CreateCommitment(CreateCommitment {
                idempotency_key: "commit-1".into(),
                account_id: account,
                kind: CommitmentKind::Prepaid,
                quantity: q("1000"),
                price: m("90"),
                minimum_spend: Money::ZERO,
                currency: "USD".parse().unwrap(),
                term_start: Some(t1),
                term_end: t2,
                reference: "contract 7".into(),
            }),
        ),
        (
            "commitment_postpaid",
            Command::CreateCommitment(CreateCommitment {
                idempotency_key: "commit-2".into(),
                account_id: account,
                kind: CommitmentKind::Postpaid,
                quantity: q("500"),
                price: m("0.1"),
                minimum_spend: m("40"),
                currency: "USD".parse().unwrap(),
                term_start: None,
                term_end: t2,
                reference: String::new(),
            }),
        ),
    ]
}

/// Computed by the release before the explicit encoding (serde JSON of the command).
const GOLDEN: &[(&str, &str)] = &[
    (
        "create_account",
        "b5ef0fa95a55c97b1eaf11c5efb1c574e603d9107b28374d3f1aebe7ee49a5e0",
    ),
    (
        "create_account_with_threshold",
        "c4d33df11ff969295f991722f862c8d2a816f4475482cf50367ecfbc4f1e7bb5",
    ),
    (
        "update_account",
        "0c50a708f403b5479e879c60a080897561d454e032b8f897235427bff7ba3b28",
    ),
    (
        "update_account_unset",
        "a5f0e9ecbbc0f70550e8211c119bb4ca5644bf91af0308117c1c6df653b5fd83",
    ),
    (
        "update_account_threshold_removed",
        "7426bda69ddb75760eb0af87f2d3afe92bfc1afd0ca0fe7c52174ace4062802a",
    ),
    (
        "top_up",
        "d9a0962cf2b17c98a3a096fccaf24fd06abda0a3a111afdd6cfccd0872ef6088",
    ),
    (
        "grant",
        "23d652fd7facaa0389c701a7eea50058f77aa0921a1e4372a8c441d0ad1e9086",
    ),
    (
        "void_grant",
        "8d6d0c8bde38202d3e7a05d0b79acb3f1ae410fbf02cdfc73817723ff4c171a9",
    ),
    (
        "authorize",
        "64362231fabfddd8d50b19202adf485ebed66ef4b4a05557fe84ae5d51765a1b",
    ),
    (
        "authorize_default_ttl",
        "5f56fe5b10c10ba72c95ef3c0bb36dd9d439f98ccd6dfb250d276508a1f24581",
    ),
    (
        "capture",
        "a95caddceaffa9bb5ab8e85d099dced3a4143e44eeadfb1c28f17d416236d308",
    ),
    (
        "capture_clamp",
        "0ec04765f4897b79ad4b6674f11635cc549875f8752c3c85f6a32d4eac7d1403",
    ),
    (
        "release",
        "beb9c8d5000a82df19c322f3242772ff056aa68358386e91a7300e639c241174",
    ),
    (
        "extend_hold",
        "0d927c71ab1e11b95146c22c12dc49651faaacd364e2ebb77ce3851d8bbfb487",
    ),
    (
        "debit",
        "493fd8a607a80551dbdda70bace3501d35bd51ca367b8b5bb6d697da291c4333",
    ),
    (
        "adjust_debit",
        "f94f9448d30283acaaf517967dfd518a2054b652453fdc0294873c9742fd7022",
    ),
    (
        "adjust_credit",
        "c0b9d816f85a9d8e77fa7d1a09304f5a097e52ef0893c13fbc327f01d5180ee0",
    ),
    (
        "commitment_prepaid",
        "a0afb46943ae7641a89a03b23e92bd2295161d18bf7df1d64feba474c97d7ea0",
    ),
    (
        "commitment_postpaid",
        "5f0fbb2f2d5957ae8d7adae851690b320461f5e85ed650cfa1f368488dbf3db9",
    ),
];

#[test]
fn fingerprints_written_by_earlier_releases_are_still_recognised() {
    let samples = samples();
    assert_eq!(samples.len(), GOLDEN.len());
    for ((name, command), (golden_name, golden)) in samples.iter().zip(GOLDEN) {
        assert_eq!(name, golden_name);
        assert_eq!(
            fingerprint(command),
            *golden,
            "{name}: {}",
            document(command)
        );
    }
}

#[test]
fn the_version_1_document_is_pinned_byte_for_byte() {
    let samples = samples();
    let document_of = |wanted: &str| {
        let (_, command) = samples.iter().find(|(n, _)| *n == wanted).unwrap();
        document(command)
    };
    assert_eq!(
        document_of("top_up"),
        "{\"Grant\":{\"idempotency_key\":\"order-1\",\
         \"account_id\":\"01930000-0000-7000-8000-000000000001\",\"kind\":\"paid\",\
         \"quantity\":\"100.5\",\"price\":\"10\",\"currency\":\"USD\",\"priority\":-3,\
         \"effective_at\":\"2026-01-15T12:00:00Z\",\
         \"expires_at\":\"2026-03-01T00:00:00.000250Z\",\"scope\":[\"chat:large\",\"embed\"],\
         \"reference\":\"checkout 1\"}}"
    );
    assert_eq!(
        document_of("update_account_unset"),
        "{\"UpdateAccount\":{\"idempotency_key\":\"update-2\",\
         \"account_id\":\"01930000-0000-7000-8000-000000000001\",\"credit_line_limit\":null,\
         \"credit_line_price\":null,\"status\":null}}"
    );
    assert_eq!(
        document_of("create_account_with_threshold"),
        "{\"CreateAccount\":{\"idempotency_key\":\"create-beta\",\
         \"external_id\":\"beta \\\"quoted\\\" é\",\"unit\":\"TOKENS\",\"unit_scale\":0,\
         \"credit_line_limit\":\"0\",\"credit_line_price\":\"0\",\"currency\":\"EUR\",\
         \"low_balance\":{\"kind\":\"percent\",\"value\":\"12.5\"}}}"
    );
}
