//! Unit tests of the pure [`Checker`]: a small consistent journal (top-up, debit, void of one
//! lot) that must come out clean, and alterations of it that must each be reported as the
//! violation they are, together with the report's text and the cap on violations kept.

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::{Checker, Counts, Report, Violation, VIOLATIONS_KEPT_MAX};
use crate::ledger::amount::Amount;
use crate::ledger::entry::ledger_account as gl;
use crate::ledger::entry::{EntryDraft, Rating};
use crate::ledger::{Account, AccountId, Book, Entry, EntryId, Lot, LotId};
use crate::ledger::{EntryKind, LotKind, LotStatus};
use crate::ledger::{Money, Quantity};

/// A decimal, or a quantity or money, as the place it goes says.
fn dec<A: Amount>(text: &str) -> A {
    A::from_decimal(text.parse().expect("a valid test decimal")).expect("a valid test amount")
}

fn account() -> Account {
    Account::opened(
        AccountId(Uuid::from_u128(1)),
        "acme".into(),
        "CREDIT".parse().unwrap(),
        0,
        "USD".parse().unwrap(),
        Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
    )
}

/// A lot of 100 bought for 10 USD, after 30 were consumed (3 USD) and the rest voided.
fn voided_lot(account: &Account) -> Lot {
    Lot {
        id: LotId(Uuid::from_u128(7)),
        account_id: account.id,
        kind: LotKind::Paid,
        status: LotStatus::Voided,
        priority: 0,
        granted: dec("100"),
        remaining: Quantity::ZERO,
        held: Quantity::ZERO,
        effective_at: account.created_at,
        expires_at: None,
        scope: Vec::new(),
        cost_basis: dec("10"),
        money_deferred: Money::ZERO,
        currency: Some("USD".parse().unwrap()),
        reference: String::new(),
        created_at: account.created_at,
    }
}

/// The entries that produce `voided_lot`: top-up, debit, void.
fn journal(account: &mut Account, lot: &Lot) -> Vec<Entry> {
    rated_journal(account, lot, None)
}

/// The same, with the debit rated as `rating` says.
fn rated_journal(account: &mut Account, lot: &Lot, rating: Option<Rating>) -> Vec<Entry> {
    let steps = [
        (
            EntryKind::TopUp,
            gl::ISSUED_PAID,
            gl::lot(lot.id),
            "100",
            gl::CASH_CLEARING,
            gl::DEFERRED_REVENUE,
            "10",
        ),
        (
            EntryKind::Debit,
            gl::lot(lot.id),
            gl::CONSUMED,
            "30",
            gl::DEFERRED_REVENUE,
            gl::REVENUE_USAGE,
            "3",
        ),
        (
            EntryKind::Void,
            gl::lot(lot.id),
            gl::VOIDED,
            "70",
            gl::DEFERRED_REVENUE,
            gl::REFUNDS_PAYABLE,
            "7",
        ),
    ];
    let mut entries = Vec::new();
    for (n, (kind, q_debit, q_credit, q, m_debit, m_credit, m)) in steps.into_iter().enumerate() {
        let at = account.created_at;
        let mut draft = EntryDraft::new(kind, at, &format!("key-{n}"), "");
        draft.lot_id = Some(lot.id);
        draft.quantity_pair(q_debit, q_credit, dec(q), account.unit, Some(lot.id));
        draft.money_pair(m_debit, m_credit, dec(m), account.currency, Some(lot.id));
        if kind == EntryKind::Debit {
            draft.rating = rating.clone();
        }
        let id = EntryId(Uuid::from_u128(100 + n as u128));
        entries.push(draft.seal(id, account, at, String::new(), None));
    }
    entries
}

fn check(account: &Account, entries: &[Entry], lots: &[Lot]) -> Report {
    let mut checker = Checker::new();
    checker.start_account(Some(account));
    for entry in entries {
        checker.entry(entry);
    }
    for lot in lots {
        checker.lot(lot);
    }
    checker.finish()
}

fn fixture() -> (Account, Vec<Entry>, Lot) {
    let mut account = account();
    let lot = voided_lot(&account);
    let entries = journal(&mut account, &lot);
    (account, entries, lot)
}

#[test]
fn a_consistent_journal_is_clean_and_counted() {
    let (account, entries, lot) = fixture();
    let report = check(&account, &entries, &[lot]);
    assert_eq!(report.violations, vec![]);
    let counts = Counts {
        accounts: 1,
        entries: 3,
        postings: 12,
        lots: 1,
    };
    assert_eq!(report.checked, counts);
    let usd = &report.trial_balance[1];
    assert_eq!(
        (usd.book, usd.debits, usd.credits),
        (Book::Money, dec("20"), dec("20"))
    );
    assert!(report
        .to_string()
        .ends_with("ok: invariants 1, 3, 6 and 8 hold"));
}

#[test]
fn an_altered_amount_unbalances_its_entry_the_book_and_its_hash() {
    let (account, mut entries, lot) = fixture();
    entries[1].postings[0].amount = dec("31");
    let entry_id = entries[1].id;
    let report = check(&account, &entries, &[lot]);
    assert!(report.violations.contains(&Violation::EntryUnbalanced {
        entry_id,
        account_id: account.id,
        book: Book::Quantity,
        unit: "CREDIT".parse().unwrap(),
        debits_minus_credits: dec("1"),
    }));
    assert!(report.violations.iter().any(|v| matches!(v,
        Violation::HashMismatch { entry_id: e, .. } if *e == entry_id)));
    assert!(report.violations.iter().any(|v| matches!(
        v,
        Violation::TrialBalance {
            book: Book::Quantity,
            ..
        }
    )));
    let text = report.to_string();
    assert!(
        text.contains(&entry_id.to_string())
            && text.ends_with("FAILED: the store breaks the invariants above")
    );
}

#[test]
fn a_lot_row_that_disagrees_with_its_postings_is_named() {
    let (account, entries, mut lot) = fixture();
    lot.remaining = dec("5");
    lot.money_deferred = dec("1");
    let report = check(&account, &entries, std::slice::from_ref(&lot));
    let (lot_id, account_id) = (lot.id, account.id);
    let row = |column, row: &str| Violation::LotRow {
        lot_id,
        account_id,
        column,
        row: dec(row),
        posted: dec("0"),
    };
    let expected = vec![
        Violation::LotQuantity {
            lot_id,
            account_id,
            granted: dec("100"),
            consumed: dec("30"),
            expired: dec("0"),
            voided: dec("70"),
            adjusted: dec("0"),
            remaining: dec("5"),
        },
        Violation::LotMoney {
            lot_id,
            account_id,
            currency: Some("USD".parse().unwrap()),
            cost_basis: dec("10"),
            recognized: dec("3"),
            breakage: dec("0"),
            refunded: dec("7"),
            adjusted: dec("0"),
            deferred: dec("1"),
        },
        row("remaining", "5"),
        row("money_deferred", "1"),
    ];
    assert_eq!(report.violations, expected);
}

#[test]
fn postings_naming_a_missing_lot_are_reported() {
    let (account, entries, lot) = fixture();
    let report = check(&account, &entries, &[]);
    let expected = Violation::PostingsWithoutLot {
        lot_id: lot.id,
        account_id: account.id,
    };
    assert_eq!(report.violations, vec![expected]);
}

#[test]
fn a_missing_entry_breaks_the_chain_where_it_was() {
    let (account, mut entries, lot) = fixture();
    let gone = entries.remove(1);
    let (kept, account_id) = (entries[1].clone(), account.id);
    let report = check(&account, &entries, &[lot]);
    let chain: Vec<&Violation> = report
        .violations
        .iter()
        .filter(|v| matches!(v, Violation::SeqGap { .. } | Violation::BrokenLink { .. }))
        .collect();
    let expected = [
        Violation::SeqGap {
            account_id,
            entry_id: kept.id,
            expected: 2,
            found: 3,
        },
        Violation::BrokenLink {
            account_id,
            entry_id: kept.id,
            account_seq: 3,
            expected: entries[0].hash.clone(),
            found: gone.hash,
        },
    ];
    assert_eq!(chain, expected.iter().collect::<Vec<_>>());
}

#[test]
fn an_account_head_behind_its_entries_is_reported() {
    let (mut account, entries, lot) = fixture();
    let last = entries[2].hash.clone();
    account.entry_seq = 2;
    account.last_hash = entries[1].hash.clone();
    let report = check(&account, &entries, &[lot]);
    let account_id = account.id;
    let expected = vec![
        Violation::AccountHead {
            account_id,
            column: "entry_seq",
            row: "2".into(),
            last_entry: "3".into(),
        },
        Violation::AccountHead {
            account_id,
            column: "last_hash",
            row: entries[1].hash.clone(),
            last_entry: last,
        },
    ];
    assert_eq!(report.violations, expected);
}

#[test]
fn an_unreadable_entry_is_stepped_over_without_a_cascade() {
    let (account, entries, _) = fixture();
    let mut checker = Checker::new();
    checker.start_account(Some(&account));
    checker.entry(&entries[0]);
    checker.unreadable_entry(2);
    checker.entry(&entries[2]);
    checker.finish_account();
    let chain = checker.violations.iter().filter(|v| {
        !matches!(
            v,
            Violation::TrialBalance { .. } | Violation::PostingsWithoutLot { .. }
        )
    });
    assert_eq!(chain.count(), 0, "{:?}", checker.violations);
}

#[test]
fn violations_beyond_the_cap_are_counted_not_kept() {
    let mut checker = Checker::new();
    for _ in 0..VIOLATIONS_KEPT_MAX + 3 {
        checker.violation(Violation::EntriesWithoutAccount {
            account_key: "x".into(),
        });
    }
    let report = checker.finish();
    assert_eq!(report.violations.len(), VIOLATIONS_KEPT_MAX);
    assert_eq!(report.violations_total, VIOLATIONS_KEPT_MAX as u64 + 3);
    assert!(report.to_string().contains("… and 3 more"));
}

/// The debit of 30 rated at 30.4, carrying 0.4 out (the account's scale is 0).
fn rating(value: &str) -> Rating {
    Rating {
        meter: "chat:large".into(),
        usage: [("input_tokens".to_string(), dec("12160"))].into(),
        book: "default".into(),
        version: 1,
        value: dec(value),
        carried_in: dec("0"),
        carried_out: dec("0.4"),
        cost: None,
    }
}

#[test]
fn a_rated_charge_its_carry_and_the_account_row_are_held_to_invariant_8() {
    let mut account = account();
    let lot = voided_lot(&account);
    let entries = rated_journal(&mut account, &lot, Some(rating("30.4")));
    account.carries = [("chat:large".to_string(), dec("0.4"))].into();
    let report = check(&account, &entries, std::slice::from_ref(&lot));
    assert_eq!(report.violations, vec![], "{report}");
    // The row forgot the carry.
    let mut forgetful = account.clone();
    forgetful.carries.clear();
    let report = check(&forgetful, &entries, std::slice::from_ref(&lot));
    assert!(
        matches!(&report.violations[..], [Violation::AccountCarry { row, last_entry, .. }]
            if row.is_zero() && *last_entry == dec::<rust_decimal::Decimal>("0.4")),
        "{report}"
    );
    // A rating that does not add up to what was charged.
    let mut account = self::account();
    let entries = rated_journal(&mut account, &lot, Some(rating("31.4")));
    account.carries = [("chat:large".to_string(), dec("0.4"))].into();
    let report = check(&account, &entries, &[lot]);
    assert!(
        matches!(&report.violations[..], [Violation::RatedCharge { charged, .. }] if *charged == dec::<rust_decimal::Decimal>("30")),
        "{report}"
    );
    assert!(report.to_string().contains("invariant 8"), "{report}");
}

#[test]
fn a_rated_cost_that_was_not_posted_is_reported() {
    let mut account = account();
    let lot = voided_lot(&account);
    let mut rated = rating("30.4");
    rated.cost = Some(crate::ledger::entry::RatedCost {
        currency: "USD".parse().unwrap(),
        value: dec("0.123456789"),
        carried_in: dec("0"),
        carried_out: dec("0.000000009"),
    });
    let entries = rated_journal(&mut account, &lot, Some(rated));
    account.carries = [("chat:large".to_string(), dec("0.4"))].into();
    account.cost_carries = [(
        ("chat:large".to_string(), "USD".parse().unwrap()),
        dec("0.000000009"),
    )]
    .into();
    let report = check(&account, &entries, std::slice::from_ref(&lot));
    assert!(
        matches!(&report.violations[..], [Violation::RatedCost { posted, .. }] if posted.is_zero()),
        "{report}"
    );
}
