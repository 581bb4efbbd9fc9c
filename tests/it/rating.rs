//! Usage rated on the hot path, through the real server on both stores: a hold pins the price
//! version its captures are rated at, a per-account book overrides the default, what is not
//! priced is refused by name and changes nothing, a replay returns the same rated figures, and
//! charges carry what is below the account's scale so that many small calls pay what their sum
//! costs.

use std::collections::HashMap;

use chrono::Duration;
use credit_ledger::clock::Clock as _;
use credit_ledger::journal::verify::verify;
use credit_ledger::proto as p;
use credit_ledger::proto::pricing_client::PricingClient;
use rust_decimal::Decimal;
use tonic::Code;

use crate::helpers::{by_id, metadata, reason, Backend, TestApp};

fn price(meter: &str, dimension: &str, block: u64, price: &str, cost: &str) -> p::Price {
    p::Price {
        meter: meter.into(),
        dimension: dimension.into(),
        unit: "CREDIT".into(),
        block,
        price: price.into(),
        cost: cost.into(),
        currency: if cost.is_empty() { "" } else { "USD" }.into(),
    }
}

/// Publishes `prices` as the next version of `book`, effective now.
async fn publish(app: &TestApp, key: &str, book: &str, prices: Vec<p::Price>) -> p::PriceVersion {
    let mut pricing = PricingClient::new(app.channel().await);
    pricing
        .publish_price_version(p::PublishPriceVersionRequest {
            idempotency_key: key.into(),
            book: book.into(),
            prices,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap()
}

fn chat(input: &str, output: &str) -> Vec<p::Price> {
    vec![
        price("chat:large", "input_tokens", 1_000_000, input, "1.25"),
        price("chat:large", "output_tokens", 1_000_000, output, "5"),
    ]
}

fn usage(items: &[(&str, &str)]) -> HashMap<String, String> {
    (items.iter())
        .map(|(d, n)| (d.to_string(), n.to_string()))
        .collect()
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

async fn available(app: &TestApp, account: &str) -> Decimal {
    let balance = (app.usage().await)
        .get_balance(p::GetBalanceRequest {
            account: Some(by_id(account)),
            as_of: None,
        })
        .await
        .unwrap()
        .into_inner();
    dec(&balance.available)
}

async fn a_hold_pins_its_version_and_a_debit_takes_the_one_in_force(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("gateway-customer", 4).await;
    app.top_up(&account, "100", "100", "t1").await;
    publish(&app, "v1", "", chat("2.5", "10")).await;
    let mut usage_client = app.usage().await;
    // The estimate: 1,000 prompt tokens and 4,000 of max output, at version 1:
    // 0.0025 + 0.04 = 0.0425 held.
    let hold = usage_client
        .authorize(p::AuthorizeRequest {
            idempotency_key: "a1".into(),
            account: Some(by_id(&account)),
            meter: "chat:large".into(),
            usage: usage(&[("input_tokens", "1000"), ("output_tokens", "4000")]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rating = hold.rating.clone().unwrap();
    assert_eq!((rating.book.as_str(), rating.version), ("default", 1));
    assert_eq!(rating.value, "0.0425");
    assert_eq!(rating.cost, "0.02125");
    assert_eq!(rating.cost_currency, "USD");
    let held = hold.hold.unwrap();
    assert_eq!(held.quantity_authorized, "0.0425");
    // Prices double; the hold's capture is still rated at version 1: 1,000 in and 1,234 out.
    app.clock.advance(Duration::seconds(1));
    publish(&app, "v2", "", chat("5", "20")).await;
    let capture = p::CaptureRequest {
        idempotency_key: "c1".into(),
        hold_id: held.hold_id.clone(),
        r#final: true,
        usage: usage(&[("input_tokens", "1000"), ("output_tokens", "1234")]),
        ..Default::default()
    };
    let captured = usage_client
        .capture(capture.clone())
        .await
        .unwrap()
        .into_inner();
    let rating = captured.rating.clone().unwrap();
    assert_eq!(rating.version, 1);
    // 0.0025 + 0.01234 = 0.01484: 0.0148 charged at scale 4, 0.00004 carried.
    assert_eq!(rating.value, "0.01484");
    assert_eq!(captured.charged, "0.0148");
    let dimensions: Vec<(&str, &str, &str)> = (rating.dimensions.iter())
        .map(|d| (d.dimension.as_str(), d.amount.as_str(), d.value.as_str()))
        .collect();
    assert_eq!(
        dimensions,
        [
            ("input_tokens", "1000", "0.0025"),
            ("output_tokens", "1234", "0.01234")
        ]
    );
    // A replay after yet another version answers the same rated figures; a changed usage under
    // the same key is a conflict.
    app.clock.advance(Duration::seconds(1));
    publish(&app, "v3", "", chat("7", "30")).await;
    let replayed = usage_client
        .capture(capture.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replayed, captured);
    let mut changed = capture;
    changed.usage = usage(&[("input_tokens", "1001"), ("output_tokens", "1234")]);
    let status = usage_client.capture(changed).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    // A debit now is rated at version 3, and takes the carried 0.00004 along:
    // 100 in, 100 out = 0.0007 + 0.003 = 0.0037, + 0.00004 = 0.00374: 0.0037 charged.
    let debited = usage_client
        .debit(p::DebitRequest {
            idempotency_key: "d1".into(),
            account: Some(by_id(&account)),
            meter: "chat:large".into(),
            usage: usage(&[("input_tokens", "100"), ("output_tokens", "100")]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(debited.rating.as_ref().unwrap().version, 3);
    assert_eq!(debited.charged, "0.0037");
    assert_eq!(
        available(&app, &account).await,
        dec("100") - dec("0.0148") - dec("0.0037")
    );
    // The journal keeps how each was rated.
    let entries = app
        .store
        .account_entries(account.parse().unwrap())
        .await
        .unwrap();
    let ratings: Vec<_> = entries.iter().filter_map(|e| e.rating.as_ref()).collect();
    assert_eq!(ratings.len(), 2);
    assert_eq!((ratings[0].version, ratings[0].carried_in), (1, dec("0")));
    assert_eq!(ratings[0].carried_out, dec("0.00004"));
    assert_eq!(
        (ratings[1].version, ratings[1].carried_in),
        (3, dec("0.00004"))
    );
    assert_eq!(ratings[1].usage["output_tokens"], dec("100"));
    // ListEntries and the export say the same, line by line.
    let listed = crate::journal::journal(&app)
        .await
        .list_entries(p::ListEntriesRequest {
            account: Some(by_id(&account)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let captured_entry = listed
        .iter()
        .find(|e| e.entry_id == captured.entry_id)
        .unwrap();
    let listed_rating = captured_entry.rating.clone().unwrap();
    assert_eq!(listed_rating.meter, "chat:large");
    assert_eq!(listed_rating.usage["output_tokens"], "1234");
    assert_eq!(
        (listed_rating.book.as_str(), listed_rating.version),
        ("default", 1)
    );
    assert_eq!(
        (
            listed_rating.value.as_str(),
            listed_rating.carried_in.as_str(),
            listed_rating.carried_out.as_str()
        ),
        ("0.01484", "0", "0.00004")
    );
    let now = app.clock.now();
    let exported = crate::journal::export(
        &app,
        p::ExportJournalRequest {
            from: Some(prost_types::Timestamp {
                seconds: (now - Duration::days(1)).timestamp(),
                nanos: 0,
            }),
            to: Some(prost_types::Timestamp {
                seconds: (now + Duration::days(1)).timestamp(),
                nanos: 0,
            }),
            book: p::Book::Quantity as i32,
            format: p::ExportFormat::JsonLines as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let lines: Vec<serde_json::Value> = (exported.lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["entry_id"] == captured.entry_id.as_str())
        .collect();
    assert!(!lines.is_empty());
    for line in lines {
        assert_eq!(line["meter"], "chat:large");
        assert_eq!(line["usage"], "input_tokens=1000 output_tokens=1234");
        assert_eq!(
            (line["price_book"].as_str(), line["price_version"].as_str()),
            (Some("default"), Some("1"))
        );
        assert_eq!(line["rated_value"], "0.01484");
        assert_eq!(line["carried_out"], "0.00004");
    }
    let report = verify(&app.store).await.unwrap();
    assert_eq!(report.violations, vec![], "{report}");
}

async fn an_accounts_own_book_overrides_the_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("negotiated-customer", 6).await;
    app.top_up(&account, "10", "10", "t1").await;
    publish(&app, "default", "", chat("2.5", "10")).await;
    let mut accounts = app.accounts().await;
    let assign = |book: &str, key: &str| p::UpdateAccountRequest {
        idempotency_key: key.into(),
        account: Some(by_id(&account)),
        price_book: Some(book.into()),
        ..Default::default()
    };
    // A book that prices nothing in the account's unit cannot be assigned.
    let mut dollars = chat("2", "8");
    for p in &mut dollars {
        p.unit = "USD".into();
    }
    publish(&app, "usd", "enterprise-usd", dollars).await;
    let status = accounts
        .update_account(assign("enterprise-usd", "u0"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "PRICE_BOOK_UNIT");
    publish(&app, "acme", "acme", chat("2", "8")).await;
    let updated = accounts
        .update_account(assign("acme", "u1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.account.unwrap().price_book, "acme");
    let quote = |book_usage: HashMap<String, String>| p::QuoteRequest {
        account: Some(by_id(&account)),
        meter: "chat:large".into(),
        usage: book_usage,
        at: None,
    };
    let mut usage_client = app.usage().await;
    let quoted = usage_client
        .quote(quote(usage(&[("input_tokens", "1000000")])))
        .await
        .unwrap()
        .into_inner();
    let rating = quoted.rating.unwrap();
    assert_eq!((rating.book.as_str(), rating.value.as_str()), ("acme", "2"));
    assert_eq!(quoted.quantity, "2");
    // Back to the default book.
    accounts
        .update_account(assign("default", "u2"))
        .await
        .unwrap();
    let quoted = usage_client
        .quote(quote(usage(&[("input_tokens", "1000000")])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(quoted.rating.unwrap().value, "2.5");
}

async fn what_is_not_priced_is_refused_by_name_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("careful", 2).await;
    app.top_up(&account, "10", "10", "t1").await;
    let mut usage_client = app.usage().await;
    let debit = |meter: &str, items: &[(&str, &str)], quantity: &str| p::DebitRequest {
        idempotency_key: "d".into(),
        account: Some(by_id(&account)),
        meter: meter.into(),
        usage: usage(items),
        quantity: quantity.into(),
        ..Default::default()
    };
    // No version at all yet.
    let status = (usage_client.debit(debit("chat:large", &[("input_tokens", "1")], "")))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::FailedPrecondition, "NO_PRICE_VERSION")
    );
    publish(&app, "v1", "", chat("2.5", "10")).await;
    let refused = [
        (
            debit("chat:tiny", &[("input_tokens", "1")], ""),
            Code::FailedPrecondition,
            "METER_NOT_PRICED",
        ),
        (
            debit(
                "chat:large",
                &[("input_tokens", "1"), ("reasoning_tokens", "0")],
                "",
            ),
            Code::FailedPrecondition,
            "DIMENSION_NOT_PRICED",
        ),
        (
            debit("chat:large", &[("input_tokens", "1")], "1"),
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            debit("", &[("input_tokens", "1")], ""),
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            debit("chat:large", &[("input_tokens", "-1")], ""),
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            debit("chat:large", &[("input_tokens", "1.5e3")], ""),
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            debit("chat:large", &[(" input_tokens", "1")], ""),
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
    ];
    for (request, code, expected) in refused {
        let status = usage_client.debit(request.clone()).await.unwrap_err();
        assert_eq!(
            (status.code(), reason(&status).as_str()),
            (code, expected),
            "{request:?}: {status:?}"
        );
    }
    let status = (usage_client.debit(debit("chat:large", &[("reasoning_tokens", "1")], "")))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "dimension"), "reasoning_tokens");
    assert_eq!(metadata(&status, "version"), "1");
    // An estimate worth nothing holds nothing, and says so.
    let status = usage_client
        .authorize(p::AuthorizeRequest {
            idempotency_key: "a".into(),
            account: Some(by_id(&account)),
            meter: "chat:large".into(),
            usage: usage(&[("input_tokens", "0")]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), metadata(&status, "field").as_str()),
        (Code::InvalidArgument, "usage")
    );
    assert_eq!(available(&app, &account).await, dec("10"));
    let entries = app
        .store
        .account_entries(account.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "only the top-up");
}

/// 10,000 calls of one token each at 21.3 per million: each is worth 0.0000213, far below the
/// account's 0.01, yet together they are charged what 10,000 tokens cost (0.213), less the
/// 0.003 still carried, and every journal line says how much came and went with the carry.
async fn ten_thousand_small_charges_pay_what_their_sum_costs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = app.account("many-small-calls", 2).await;
    app.top_up(&account, "100", "100", "t1").await;
    publish(
        &app,
        "v1",
        "",
        vec![price("embed:small", "input_tokens", 1_000_000, "21.3", "")],
    )
    .await;
    let calls = 10_000;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let mut client = app.usage().await;
        let account = account.clone();
        tasks.spawn(async move {
            let mut charged = Decimal::ZERO;
            for i in (worker..calls).step_by(32) {
                let debited = client
                    .debit(p::DebitRequest {
                        idempotency_key: format!("embed-{i}"),
                        account: Some(by_id(&account)),
                        meter: "embed:small".into(),
                        usage: usage(&[("input_tokens", "1")]),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                charged += dec(&debited.charged);
            }
            charged
        });
    }
    let mut charged = Decimal::ZERO;
    while let Some(part) = tasks.join_next().await {
        charged += part.unwrap();
    }
    assert_eq!(charged, dec("0.21"));
    assert_eq!(available(&app, &account).await, dec("100") - dec("0.21"));
    let entries = app
        .store
        .account_entries(account.parse().unwrap())
        .await
        .unwrap();
    let ratings: Vec<_> = entries.iter().filter_map(|e| e.rating.as_ref()).collect();
    assert_eq!(ratings.len(), calls);
    let value: Decimal = ratings.iter().map(|r| r.value).sum();
    assert_eq!(value, dec("0.213"));
    let last = ratings.last().unwrap();
    assert_eq!(charged + last.carried_out, value);
    let report = verify(&app.store).await.unwrap();
    assert_eq!(report.violations, vec![], "{report}");
}

/// Upstream cost is posted with every rated charge whose version prices it, promotional credit
/// included, and the margin report's revenue and cost columns are the `revenue_usage` and
/// `cost_of_revenue` postings of the period, to the last decimal, however they are cut.
async fn the_margin_report_ties_to_the_revenue_and_cost_postings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    publish(
        &app,
        "v1",
        "",
        vec![
            price("chat:large", "input_tokens", 1_000_000, "2.5", "1.25"),
            price("chat:large", "output_tokens", 1_000_000, "10", "5.5"),
            price("embed:small", "input_tokens", 1_000_000, "0.02", ""),
        ],
    )
    .await;
    let alice = app.account("alice", 2).await;
    let bob = app.account("bob", 6).await;
    // Alice spends promotional credit first (drawn before paid credit), then paid.
    (app.credits().await)
        .grant_credits(p::GrantCreditsRequest {
            idempotency_key: "promo".into(),
            account: Some(by_id(&alice)),
            quantity: "0.05".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    app.top_up(&alice, "10", "5", "alice-paid").await;
    app.top_up(&bob, "100", "120", "bob-paid").await;
    let mut usage_client = app.usage().await;
    let debit = |account: &str, key: &str, meter: &str, items: &[(&str, &str)]| p::DebitRequest {
        idempotency_key: key.into(),
        account: Some(by_id(account)),
        meter: meter.into(),
        usage: usage(items),
        ..Default::default()
    };
    // 0.0025 + 0.01 = 0.0125 worth, 0.01 charged from the promotional lot; its cost is real:
    // 0.00125 + 0.0055 = 0.00675 USD.
    let first = usage_client
        .debit(debit(
            &alice,
            "a1",
            "chat:large",
            &[("input_tokens", "1000"), ("output_tokens", "1000")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.rating.as_ref().unwrap().cost, "0.00675");
    for i in 0..20 {
        let items = [("input_tokens", "3000"), ("output_tokens", "2500")];
        usage_client
            .debit(debit(&alice, &format!("a-more-{i}"), "chat:large", &items))
            .await
            .unwrap();
        usage_client
            .debit(debit(
                &bob,
                &format!("b-{i}"),
                "embed:small",
                &[("input_tokens", "777")],
            ))
            .await
            .unwrap();
    }
    // A charge by quantity: revenue, no meter, no cost.
    usage_client
        .debit(p::DebitRequest {
            idempotency_key: "b-qty".into(),
            account: Some(by_id(&bob)),
            quantity: "1.5".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let hold = usage_client
        .authorize(p::AuthorizeRequest {
            idempotency_key: "b-auth".into(),
            account: Some(by_id(&bob)),
            meter: "chat:large".into(),
            usage: usage(&[("input_tokens", "10000"), ("output_tokens", "8000")]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    usage_client
        .capture(p::CaptureRequest {
            idempotency_key: "b-cap".into(),
            hold_id: hold.hold.unwrap().hold_id,
            r#final: true,
            usage: usage(&[("input_tokens", "10000"), ("output_tokens", "1234")]),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut journal = crate::journal::journal(&app).await;
    let month = |y: i32, m: u32| prost_types::Timestamp {
        seconds: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, y, m, 1, 0, 0, 0)
            .unwrap()
            .timestamp(),
        nanos: 0,
    };
    let report = journal
        .get_margin_report(p::GetMarginReportRequest {
            from: Some(month(2026, 1)),
            to: Some(month(2026, 2)),
        })
        .await
        .unwrap()
        .into_inner();
    let trial = journal
        .get_trial_balance(p::GetTrialBalanceRequest {
            as_of: Some(month(2026, 2)),
            detail: false,
        })
        .await
        .unwrap()
        .into_inner();
    let posted = |account: &str| -> Decimal {
        let line = (trial.books.iter())
            .flat_map(|b| &b.lines)
            .find(|l| l.ledger_account == account && l.unit == "USD")
            .unwrap_or_else(|| panic!("no {account} line"));
        dec(&line.debits) - dec(&line.credits)
    };
    assert_eq!(report.currencies.len(), 1);
    let usd = &report.currencies[0];
    assert_eq!(usd.currency, "USD");
    let total = usd.total.clone().unwrap();
    assert_eq!(dec(&total.revenue), -posted("revenue_usage"));
    assert_eq!(dec(&total.cost), posted("cost_of_revenue"));
    assert_eq!(dec(&total.cost), -posted("accrued_provider_cost"));
    assert!(dec(&total.cost) > Decimal::ZERO && dec(&total.revenue) > Decimal::ZERO);
    assert_eq!(dec(&total.margin), dec(&total.revenue) - dec(&total.cost));
    // Every cut adds up to the total.
    for lines in [&usd.by_customer, &usd.by_meter, &usd.by_customer_and_meter] {
        let sum =
            |f: fn(&p::MarginLine) -> &String| -> Decimal { lines.iter().map(|l| dec(f(l))).sum() };
        assert_eq!(sum(|l| &l.revenue), dec(&total.revenue));
        assert_eq!(sum(|l| &l.cost), dec(&total.cost));
        assert_eq!(sum(|l| &l.promotional_cost), dec(&total.promotional_cost));
    }
    let meters: Vec<&str> = usd.by_meter.iter().map(|l| l.meter.as_str()).collect();
    assert_eq!(meters, ["-", "chat:large", "embed:small"]);
    let embed = usd
        .by_meter
        .iter()
        .find(|l| l.meter == "embed:small")
        .unwrap();
    assert_eq!(embed.cost, "0");
    // Alice's first charge came wholly from promotional credit: its whole cost is promotional.
    let alice_chat = (usd.by_customer_and_meter.iter())
        .find(|l| l.external_id == "alice" && l.meter == "chat:large")
        .unwrap();
    assert!(
        dec(&alice_chat.promotional_cost) >= dec("0.00675"),
        "{alice_chat:?}"
    );
    let report = verify(&app.store).await.unwrap();
    assert_eq!(report.violations, vec![], "{report}");
}

crate::both_stores!(
    the_margin_report_ties_to_the_revenue_and_cost_postings,
    a_hold_pins_its_version_and_a_debit_takes_the_one_in_force,
    an_accounts_own_book_overrides_the_default,
    what_is_not_priced_is_refused_by_name_and_changes_nothing,
    ten_thousand_small_charges_pay_what_their_sum_costs,
);
