use super::*;
use chrono::TimeZone;

/// A decimal from its text, for tables that read like the price lists they test.
fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap()
}

fn credit() -> Unit {
    "CREDIT".parse().unwrap()
}

fn line(meter: &str, dimension: &str, block: u64, price: &str, cost: Option<&str>) -> Rate {
    Rate {
        meter: meter.into(),
        dimension: dimension.into(),
        unit: credit(),
        block,
        price: price.parse().unwrap(),
        cost: cost.map(|c| Cost {
            currency: "USD".parse().unwrap(),
            amount: c.parse().unwrap(),
        }),
    }
}

fn draft(rates: Vec<Rate>) -> Draft {
    Draft {
        book: DEFAULT_BOOK.into(),
        idempotency_key: "publish".into(),
        effective_at: at(1),
        rates: (rates.into_iter().enumerate())
            .map(|(i, r)| (format!("rates[{i}]"), r))
            .collect(),
        retired: Vec::new(),
    }
}

fn chat() -> Version {
    let rates = vec![
        line("chat:large", "input_tokens", 1_000_000, "2.5", Some("1.25")),
        line(
            "chat:large",
            "cached_input_tokens",
            1_000_000,
            "0.25",
            Some("0.125"),
        ),
        line("chat:large", "output_tokens", 1_000_000, "10", Some("5")),
        line("image:xl", "images", 1, "0.04", None),
        line("audio:rt", "seconds", 60, "0.06", None),
    ];
    publish(draft(rates), None, 1, at(1)).unwrap()
}

fn usage(items: &[(&str, &str)]) -> Usage {
    (items.iter())
        .map(|(d, a)| (d.to_string(), a.parse().unwrap()))
        .collect()
}

#[test]
fn each_dimension_is_priced_per_block_and_summed() {
    let version = chat();
    let rated = rate(
        &version,
        "chat:large",
        credit(),
        &usage(&[
            ("input_tokens", "1234"),
            ("output_tokens", "567"),
            ("cached_input_tokens", "0"),
        ]),
    )
    .unwrap();
    // 1234 × 2.5 / 10^6 + 567 × 10 / 10^6 = 0.003085 + 0.00567.
    assert_eq!(rated.value, dec("0.008755"));
    let values: Vec<(&str, Decimal)> = (rated.lines.iter())
        .map(|l| (l.dimension.as_str(), l.value))
        .collect();
    assert_eq!(
        values,
        [
            ("cached_input_tokens", dec("0")),
            ("input_tokens", dec("0.003085")),
            ("output_tokens", dec("0.00567")),
        ]
    );
    // 1234 × 1.25 / 10^6 + 567 × 5 / 10^6.
    assert_eq!(rated.cost, Some(("USD".parse().unwrap(), dec("0.0043775"))));
    assert_eq!((rated.book.as_str(), rated.version), (DEFAULT_BOOK, 1));
}

#[test]
fn blocks_of_one_and_of_sixty() {
    let version = chat();
    let images = rate(&version, "image:xl", credit(), &usage(&[("images", "3")])).unwrap();
    assert_eq!(images.value, dec("0.12"));
    assert_eq!(images.cost, None);
    // 0.06 a minute, 45 seconds: 0.045; 1 second: 0.001 exactly.
    let audio = |s: &str| rate(&version, "audio:rt", credit(), &usage(&[("seconds", s)]));
    assert_eq!(audio("45").unwrap().value, dec("0.045"));
    assert_eq!(audio("1").unwrap().value, dec("0.001"));
    // 0.06 / 60 × 7 = 0.007; 1/3 of a block rounds in the 18th decimal only.
    assert_eq!(audio("20").unwrap().value, dec("0.02"));
    let seventh = rate(
        &publish(draft(vec![line("m", "d", 7, "1", None)]), None, 1, at(1)).unwrap(),
        "m",
        credit(),
        &usage(&[("d", "1")]),
    )
    .unwrap();
    assert_eq!(seventh.value, dec("0.142857142857142857"));
}

#[test]
fn an_unknown_meter_dimension_or_unit_is_refused_by_name() {
    let version = chat();
    let refused = |meter: &str, unit: &str, items: &[(&str, &str)]| {
        rate(&version, meter, unit.parse().unwrap(), &usage(items)).unwrap_err()
    };
    assert!(matches!(
        refused("chat:small", "CREDIT", &[("input_tokens", "1")]),
        RatingError::UnknownMeter { meter, .. } if meter == "chat:small"
    ));
    assert!(matches!(
        refused("chat:large", "USD", &[("input_tokens", "1")]),
        RatingError::UnknownMeter { unit, .. } if unit == "USD"
    ));
    // A zero amount of a dimension the meter does not have is still a mistake.
    assert!(matches!(
        refused("chat:large", "CREDIT", &[("input_tokens", "1"), ("reasoning_tokens", "0")]),
        RatingError::UnknownDimension { dimension, .. } if dimension == "reasoning_tokens"
    ));
    assert_eq!(refused("chat:large", "CREDIT", &[]), RatingError::NoUsage);
}

#[test]
fn a_malformed_version_is_refused_at_the_rate_that_is_wrong() {
    let refused = |rates: Vec<Rate>| publish(draft(rates), None, 1, at(1)).unwrap_err();
    let error = refused(vec![
        line("chat:large", "input_tokens", 1_000, "1", None),
        line("chat:large", "output_tokens", 1_000, "1", None),
        line("chat:large", "input_tokens", 1_000_000, "2", None),
    ]);
    assert_eq!(error.at, "rates[2]");
    assert!(
        error.reason.contains("priced twice (first at rates[0])"),
        "{error}"
    );
    let error = refused(vec![line("m", "d", 0, "1", None)]);
    assert_eq!(error.at, "rates[0]");
    assert!(error.reason.contains("block"), "{error}");
    let error = refused(vec![
        line("m", "d", 1, "1", None),
        line("m", "e", 1, "-1", None),
    ]);
    assert_eq!(
        (error.at.as_str(), error.reason.contains("negative")),
        ("rates[1]", true)
    );
    let error = refused(vec![line("m", "d", 1, "0.0000000001", None)]);
    assert!(error.reason.contains("more than 9 decimals"), "{error}");
    let error = refused(vec![line("m", "d", 1, "1", Some("0.000000001"))]);
    assert!(
        error.reason.contains("cost") && error.reason.contains("8 decimals"),
        "{error}"
    );
    let mut euro = line("m", "e", 1, "1", Some("1"));
    euro.cost.as_mut().unwrap().currency = "EUR".parse().unwrap();
    let error = refused(vec![line("m", "d", 1, "1", Some("1")), euro]);
    assert_eq!(error.at, "rates[1]");
    assert!(error.reason.contains("one currency"), "{error}");
    assert_eq!(refused(Vec::new()).at, "rates");
    // A free dimension is fine.
    publish(
        draft(vec![line("m", "d", 1, "0", Some("0"))]),
        None,
        1,
        at(1),
    )
    .unwrap();
}

#[test]
fn what_the_version_in_force_prices_is_kept_unless_retired_on_purpose() {
    let current = chat();
    let mut next = draft(current.rates.clone());
    next.rates
        .retain(|(_, r)| r.meter != "image:xl" && r.dimension != "cached_input_tokens");
    let error = publish(next.clone(), Some(&current), 2, at(2)).unwrap_err();
    assert!(error.reason.contains("missing here"), "{error}");
    next.retired = vec![
        Retired {
            meter: "image:xl".into(),
            dimension: String::new(),
        },
        Retired {
            meter: "chat:large".into(),
            dimension: "cached_input_tokens".into(),
        },
    ];
    let published = publish(next.clone(), Some(&current), 2, at(2)).unwrap();
    assert_eq!(published.version, 2);
    assert_eq!(published.rates.len(), 3);
    // Retiring what is not priced, or what the draft still prices, is a mistake.
    next.retired.push(Retired {
        meter: "chat:tiny".into(),
        dimension: String::new(),
    });
    let error = publish(next.clone(), Some(&current), 2, at(2)).unwrap_err();
    assert_eq!(error.at, "retired[2]");
    next.retired.pop();
    next.retired.push(Retired {
        meter: "chat:large".into(),
        dimension: "input_tokens".into(),
    });
    let error = publish(next, Some(&current), 2, at(2)).unwrap_err();
    assert!(
        error.reason.contains("retired and priced at once"),
        "{error}"
    );
}

#[test]
fn the_version_in_force_is_the_one_effective_last() {
    let mut catalog = Catalog::default();
    let one = chat();
    let mut two = draft(one.rates.clone());
    two.effective_at = at(10);
    let two = publish(two, Some(&one), 2, at(2)).unwrap();
    catalog.add(two);
    catalog.add(one.clone());
    catalog.add(one);
    assert_eq!(catalog.len(), 2);
    assert_eq!(catalog.in_force(DEFAULT_BOOK, at(1)).unwrap().version, 1);
    assert_eq!(catalog.in_force(DEFAULT_BOOK, at(9)).unwrap().version, 1);
    assert_eq!(catalog.in_force(DEFAULT_BOOK, at(10)).unwrap().version, 2);
    assert!(catalog
        .in_force(DEFAULT_BOOK, at(1) - chrono::Duration::seconds(1))
        .is_none());
    assert!(catalog.in_force("negotiated", at(10)).is_none());
    assert_eq!(
        catalog.version(DEFAULT_BOOK, 2).unwrap().effective_at,
        at(10)
    );
    assert_eq!(catalog.next_number(DEFAULT_BOOK), 3);
    assert_eq!(catalog.next_number("negotiated"), 1);
    assert!(catalog.prices_unit(DEFAULT_BOOK, credit()));
    assert!(!catalog.prices_unit(DEFAULT_BOOK, "USD".parse().unwrap()));
}

#[test]
fn ten_thousand_one_token_charges_pay_what_ten_thousand_tokens_cost() {
    let version = chat();
    let one = usage(&[("input_tokens", "1")]);
    let (mut paid, mut carried) = (Decimal::ZERO, Decimal::ZERO);
    for _ in 0..10_000 {
        let rated = rate(&version, "chat:large", credit(), &one).unwrap();
        let (charged, carry) = charge(rated.value, carried, 2);
        assert!(charged.scale() <= 2 && carry < dec("0.01") && carry >= Decimal::ZERO);
        paid += charged;
        carried = carry;
    }
    // 10,000 × 2.5 / 10^6 = 0.025: 0.02 charged, 0.005 carried, nothing lost.
    assert_eq!(paid, dec("0.02"));
    assert_eq!(paid + carried, dec("0.025"));
    let whole = rate(
        &version,
        "chat:large",
        credit(),
        &usage(&[("input_tokens", "10000")]),
    );
    assert_eq!(paid + carried, whole.unwrap().value);
}

#[test]
fn a_hold_reserves_the_estimate_rounded_up() {
    assert_eq!(reserve(dec("0.008755"), 2), dec("0.01"));
    assert_eq!(reserve(dec("0.02"), 2), dec("0.02"));
    assert_eq!(
        charge(dec("0.008755"), dec("0.001245"), 2),
        (dec("0.01"), dec("0"))
    );
}
