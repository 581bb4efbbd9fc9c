//! One row per refusal: each sets up a small state, applies one command, expects one exact error,
//! and checks that the refused command changed nothing. The outcomes that sit next to a refusal
//! (a clamped capture, an idempotent replay, a void that releases holds) follow the table.

use std::panic::{catch_unwind, AssertUnwindSafe};

use credit_ledger::ledger::{
    budget, CreateBudget, CreateRecurringGrant, DeleteRecurringGrant, FailTopUp, RecurringGrantId,
    SetAutoTopUp, TopUpRequestId,
};
use uuid::Uuid;

use super::*;

/// What a row expects. Messages are written for people, so an `InvalidArgument` is matched on its
/// field only; every other refusal is matched whole, payload included.
enum Expect {
    Error(LedgerError),
    Invalid(&'static str),
}

type Row = (&'static str, fn(&mut Harness) -> (Command, Expect));

const TTL_MAX_MS: u64 = 3_600_000;

fn limits() -> Limits {
    Limits {
        open_holds_per_account_max: 2,
        live_lots_per_account_max: 3,
        hold_ttl_default_ms: 30_000,
        hold_ttl_max_ms: TTL_MAX_MS,
        budgets_per_account_max: 100,
    }
}

/// An account in a unit with two decimals and no credit line, holding one paid lot of 10 bought
/// for 5.
fn funded(h: &mut Harness) -> (AccountId, LotId) {
    let account = h.open_account(2, "0", "0");
    let lot = h.top_up(account, "10", "5");
    (account, lot)
}

fn insufficient(requested: &str, available: &str) -> Expect {
    Expect::Error(LedgerError::InsufficientCredit {
        requested: dec(requested),
        available: dec(available),
    })
}

fn frozen(account: AccountId) -> Expect {
    Expect::Error(LedgerError::AccountFrozen {
        account_id: account,
    })
}

fn closed(account: AccountId) -> Expect {
    Expect::Error(LedgerError::AccountClosed {
        account_id: account,
    })
}

fn too_fine() -> Expect {
    Expect::Error(LedgerError::TooManyDecimals {
        field: "quantity",
        scale: 3,
        max_scale: 2,
    })
}

fn hold_expired(hold: HoldId, expired_at_ms: i64) -> Expect {
    let expired_at = at(expired_at_ms);
    Expect::Error(LedgerError::HoldExpired {
        hold_id: hold,
        expired_at,
    })
}

fn hold_not_open(hold: HoldId, status: HoldStatus) -> Expect {
    Expect::Error(LedgerError::HoldNotOpen {
        hold_id: hold,
        status,
    })
}

fn lot_not_active(lot: LotId, status: LotStatus) -> Expect {
    Expect::Error(LedgerError::LotNotActive {
        lot_id: lot,
        status,
    })
}

fn adjust(key: &str, account: AccountId, direction: AdjustDirection, quantity: &str) -> Adjust {
    Adjust {
        idempotency_key: key.into(),
        account_id: account,
        direction,
        quantity: q(quantity),
        lot_id: None,
        reason: "support ticket".into(),
        priority: 0,
        expires_at: None,
    }
}

/// A 30-day commitment of 100 units from now, in the account's currency.
fn commitment(h: &mut Harness, account: AccountId, kind: CommitmentKind) -> CreateCommitment {
    CreateCommitment {
        idempotency_key: h.key(),
        account_id: account,
        kind,
        quantity: q("100"),
        price: money("10"),
        minimum_spend: money("0"),
        currency: "USD".parse().unwrap(),
        term_start: None,
        term_end: at(h.now_ms + 30 * 86_400_000),
        reference: String::new(),
    }
}

fn unknown_hold() -> HoldId {
    HoldId(Uuid::from_u128(u128::MAX))
}

fn rows() -> Vec<Row> {
    vec![
        ("debit beyond the lots", |h| {
            let (a, _) = funded(h);
            (debit(&h.key(), a, q("12")), insufficient("12", "10"))
        }),
        ("authorize beyond what an open hold leaves", |h| {
            let (a, _) = funded(h);
            h.hold(a, "4", None);
            (authorize(&h.key(), a, q("7"), None), insufficient("7", "6"))
        }),
        ("debit beyond the lots and the credit line", |h| {
            let a = h.open_account(2, "5", "0.1");
            h.top_up(a, "10", "5");
            (debit(&h.key(), a, q("16")), insufficient("16", "15"))
        }),
        (
            "debit of credit that has expired, though no sweeper ran",
            |h| {
                let a = h.open_account(2, "0", "0");
                h.promo(a, "10", Some(1_000));
                h.next_batch(1_000);
                (debit(&h.key(), a, q("1")), insufficient("1", "0"))
            },
        ),
        ("debit of credit scoped to another meter", |h| {
            let a = h.open_account(2, "0", "0");
            let key = h.key();
            h.grant_lot(Grant {
                scope: vec!["gpu".into()],
                ..grant(&key, a, LotKind::Promotional, q("10"), "0")
            });
            (debit(&h.key(), a, q("1")), insufficient("1", "0"))
        }),
        ("debit on an unknown account", |h| {
            funded(h);
            let unknown = AccountId(Uuid::from_u128(u128::MAX));
            let expect = Expect::Error(LedgerError::AccountNotFound {
                account: unknown.into(),
            });
            (debit(&h.key(), unknown, q("1")), expect)
        }),
        ("capture of an unknown hold", |h| {
            funded(h);
            let expect = Expect::Error(LedgerError::HoldNotFound {
                hold_id: unknown_hold(),
            });
            (
                capture(&h.key(), unknown_hold(), q("1"), true, Overage::Reject),
                expect,
            )
        }),
        ("release of an unknown hold", |h| {
            funded(h);
            let expect = Expect::Error(LedgerError::HoldNotFound {
                hold_id: unknown_hold(),
            });
            (release(&h.key(), unknown_hold()), expect)
        }),
        ("extend of an unknown hold", |h| {
            funded(h);
            let expect = Expect::Error(LedgerError::HoldNotFound {
                hold_id: unknown_hold(),
            });
            (extend(&h.key(), unknown_hold(), 1_000), expect)
        }),
        ("authorize on a frozen account", |h| {
            let (a, _) = funded(h);
            h.set_status(a, AccountStatus::Frozen);
            (authorize(&h.key(), a, q("1"), None), frozen(a))
        }),
        ("debit on a frozen account", |h| {
            let (a, _) = funded(h);
            h.set_status(a, AccountStatus::Frozen);
            (debit(&h.key(), a, q("1")), frozen(a))
        }),
        ("authorize on a closed account", |h| {
            let (a, _) = funded(h);
            h.set_status(a, AccountStatus::Closed);
            (authorize(&h.key(), a, q("1"), None), closed(a))
        }),
        ("debit on a closed account", |h| {
            let (a, _) = funded(h);
            h.set_status(a, AccountStatus::Closed);
            (debit(&h.key(), a, q("1")), closed(a))
        }),
        ("top-up of a closed account", |h| {
            let (a, _) = funded(h);
            h.set_status(a, AccountStatus::Closed);
            (
                Command::Grant(grant(&h.key(), a, LotKind::Paid, q("1"), "1")),
                closed(a),
            )
        }),
        ("capture on a closed account", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", None);
            h.set_status(a, AccountStatus::Closed);
            (
                capture(&h.key(), hold, q("1"), true, Overage::Reject),
                closed(a),
            )
        }),
        ("update of a closed account", |h| {
            let (a, _) = funded(h);
            h.set_status(a, AccountStatus::Closed);
            let reopen = UpdateAccount {
                status: Some(AccountStatus::Active),
                ..update(&h.key(), a)
            };
            (Command::UpdateAccount(reopen), closed(a))
        }),
        ("capture of a hold past its TTL", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", Some(1_000));
            h.next_batch(5_000);
            (
                capture(&h.key(), hold, q("1"), true, Overage::Reject),
                hold_expired(hold, 1_000),
            )
        }),
        ("capture of a hold whose TTL ends exactly now", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", Some(1_000));
            h.next_batch(1_000);
            (
                capture(&h.key(), hold, q("1"), true, Overage::Clamp),
                hold_expired(hold, 1_000),
            )
        }),
        ("release of a hold past its TTL", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", Some(1_000));
            h.next_batch(5_000);
            (release(&h.key(), hold), hold_expired(hold, 1_000))
        }),
        ("capture of a released hold", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", None);
            let key = h.key();
            h.ok(&release(&key, hold));
            (
                capture(&h.key(), hold, q("1"), true, Overage::Reject),
                hold_not_open(hold, HoldStatus::Released),
            )
        }),
        ("capture of a fully captured hold", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", None);
            let key = h.key();
            h.ok(&capture(&key, hold, q("4"), false, Overage::Reject));
            (
                capture(&h.key(), hold, q("1"), true, Overage::Clamp),
                hold_not_open(hold, HoldStatus::Captured),
            )
        }),
        ("extend of a released hold", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", None);
            let key = h.key();
            h.ok(&release(&key, hold));
            (
                extend(&h.key(), hold, 1_000),
                hold_not_open(hold, HoldStatus::Released),
            )
        }),
        ("capture beyond the hold with Overage::Reject", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", None);
            let expect = LedgerError::CaptureExceedsHold {
                requested: dec("5"),
                held: dec("4"),
            };
            (
                capture(&h.key(), hold, q("5"), true, Overage::Reject),
                Expect::Error(expect),
            )
        }),
        ("capture beyond what a partial capture left", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", None);
            let key = h.key();
            h.ok(&capture(&key, hold, q("3"), false, Overage::Reject));
            let expect = LedgerError::CaptureExceedsHold {
                requested: dec("2"),
                held: dec("1"),
            };
            (
                capture(&h.key(), hold, q("2"), true, Overage::Reject),
                Expect::Error(expect),
            )
        }),
        (
            "capture of a hold whose lot expired, with Overage::Reject",
            |h| {
                let a = h.open_account(2, "0", "0");
                h.promo(a, "5", Some(10_000));
                let hold = h.hold(a, "4", Some(60_000));
                h.next_batch(10_000);
                let expect = LedgerError::CaptureExceedsHold {
                    requested: dec("1"),
                    held: dec("0"),
                };
                (
                    capture(&h.key(), hold, q("1"), true, Overage::Reject),
                    Expect::Error(expect),
                )
            },
        ),
        // The refusal names the whole capture as requested, against what the hold can still
        // charge (4) plus what the account has available (1).
        (
            "capture beyond the hold and available with Overage::DrawAvailable",
            |h| {
                let (a, _) = funded(h);
                let hold = h.hold(a, "4", None);
                let key = h.key();
                h.ok(&debit(&key, a, q("5")));
                (
                    capture(&h.key(), hold, q("7"), true, Overage::DrawAvailable),
                    insufficient("7", "5"),
                )
            },
        ),
        // Credit beyond the hold is new spending, which a frozen account may not do, even when
        // it has the credit.
        (
            "capture beyond the hold on a frozen account with Overage::DrawAvailable",
            |h| {
                let (a, _) = funded(h);
                let hold = h.hold(a, "4", None);
                h.set_status(a, AccountStatus::Frozen);
                (
                    capture(&h.key(), hold, q("5"), true, Overage::DrawAvailable),
                    frozen(a),
                )
            },
        ),
        ("authorize finer than the unit", |h| {
            let (a, _) = funded(h);
            (authorize(&h.key(), a, q("1.234"), None), too_fine())
        }),
        ("debit finer than the unit", |h| {
            let (a, _) = funded(h);
            (debit(&h.key(), a, q("1.234")), too_fine())
        }),
        ("top-up finer than the unit", |h| {
            let (a, _) = funded(h);
            (
                Command::Grant(grant(&h.key(), a, LotKind::Paid, q("1.234"), "1")),
                too_fine(),
            )
        }),
        ("capture finer than the unit", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", None);
            (
                capture(&h.key(), hold, q("1.234"), true, Overage::Reject),
                too_fine(),
            )
        }),
        ("a second account with a taken external id", |h| {
            let key = h.key();
            h.ok(&create_account(&key, "acme", 2, "0", "0"));
            let expect = LedgerError::ExternalIdTaken {
                external_id: "acme".into(),
            };
            (
                create_account(&h.key(), "acme", 0, "0", "0"),
                Expect::Error(expect),
            )
        }),
        ("an account in a unit finer than the finest allowed", |h| {
            funded(h);
            (
                create_account(&h.key(), "too-fine", 10, "0", "0"),
                Expect::Invalid("unit_scale"),
            )
        }),
        ("an idempotency key reused for another debit", |h| {
            let (a, _) = funded(h);
            h.ok(&debit("order-1", a, q("1")));
            let expect = LedgerError::IdempotencyConflict {
                key: "order-1".into(),
            };
            (debit("order-1", a, q("2")), Expect::Error(expect))
        }),
        (
            "an idempotency key reused for another kind of command",
            |h| {
                let (a, _) = funded(h);
                h.ok(&debit("order-1", a, q("1")));
                let expect = LedgerError::IdempotencyConflict {
                    key: "order-1".into(),
                };
                (authorize("order-1", a, q("1"), None), Expect::Error(expect))
            },
        ),
        ("an idempotency key reused by a hold command", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "4", None);
            h.ok(&release("call-1", hold));
            let expect = LedgerError::IdempotencyConflict {
                key: "call-1".into(),
            };
            (
                capture("call-1", hold, q("1"), true, Overage::Reject),
                Expect::Error(expect),
            )
        }),
        ("one open hold too many", |h| {
            let (a, _) = funded(h);
            h.hold(a, "1", None);
            h.hold(a, "1", None);
            let expect = LedgerError::TooManyOpenHolds {
                account_id: a,
                limit: 2,
            };
            (authorize(&h.key(), a, q("1"), None), Expect::Error(expect))
        }),
        ("one live lot too many", |h| {
            let (a, _) = funded(h);
            h.top_up(a, "1", "1");
            h.promo(a, "1", None);
            let expect = LedgerError::TooManyLots {
                account_id: a,
                limit: 3,
            };
            (
                Command::Grant(grant(&h.key(), a, LotKind::Paid, q("1"), "1")),
                Expect::Error(expect),
            )
        }),
        (
            "void of a lot with held credit, without release_holds",
            |h| {
                let (a, lot) = funded(h);
                h.hold(a, "4", None);
                let expect = LedgerError::LotHeld {
                    lot_id: lot,
                    held: dec("4"),
                };
                (void(&h.key(), a, lot, false), Expect::Error(expect))
            },
        ),
        ("void of a used-up lot", |h| {
            let (a, lot) = funded(h);
            let key = h.key();
            h.ok(&debit(&key, a, q("10")));
            (
                void(&h.key(), a, lot, true),
                lot_not_active(lot, LotStatus::Depleted),
            )
        }),
        ("void of a voided lot", |h| {
            let (a, lot) = funded(h);
            let key = h.key();
            h.ok(&void(&key, a, lot, false));
            (
                void(&h.key(), a, lot, true),
                lot_not_active(lot, LotStatus::Voided),
            )
        }),
        ("void of an expired lot", |h| {
            let a = h.open_account(2, "0", "0");
            let lot = h.promo(a, "5", Some(1_000));
            h.next_batch(2_000);
            (
                void(&h.key(), a, lot, true),
                lot_not_active(lot, LotStatus::Expired),
            )
        }),
        ("void of another account's lot", |h| {
            let (_, lot) = funded(h);
            let other = h.open_account(2, "0", "0");
            let expect = LedgerError::LotNotFound { lot_id: lot };
            (void(&h.key(), other, lot, true), Expect::Error(expect))
        }),
        ("a credit line limit below what is used and held", |h| {
            let a = h.open_account(2, "10", "0.5");
            let key = h.key();
            h.ok(&debit(&key, a, q("4")));
            h.hold(a, "3", None);
            let lower = UpdateAccount {
                credit_line_limit: Some(dec("6")),
                ..update(&h.key(), a)
            };
            let expect = LedgerError::CreditLineBelowUsage {
                limit: dec("6"),
                in_use: dec("7"),
            };
            (Command::UpdateAccount(lower), Expect::Error(expect))
        }),
        (
            "an account with a credit line price above the maximum",
            |h| {
                funded(h);
                let expect = LedgerError::AmountTooLarge {
                    field: "credit_line_price",
                    max: dec("1000000000"),
                };
                let command = create_account(&h.key(), "pricey", 2, "10", "1000000000.01");
                (command, Expect::Error(expect))
            },
        ),
        ("a credit line price raised above the maximum", |h| {
            let (a, _) = funded(h);
            let expect = LedgerError::AmountTooLarge {
                field: "credit_line_price",
                max: dec("1000000000"),
            };
            let raise = UpdateAccount {
                credit_line_price: Some(money("1000000001")),
                ..update(&h.key(), a)
            };
            (Command::UpdateAccount(raise), Expect::Error(expect))
        }),
        ("a paid top-up with a zero price", |h| {
            let (a, _) = funded(h);
            (
                Command::Grant(grant(&h.key(), a, LotKind::Paid, q("10"), "0")),
                Expect::Invalid("price"),
            )
        }),
        ("a priced grant without a currency", |h| {
            let (a, _) = funded(h);
            let grant = Grant {
                currency: None,
                ..grant(&h.key(), a, LotKind::Paid, q("10"), "5")
            };
            (Command::Grant(grant), Expect::Invalid("currency"))
        }),
        ("a grant that expires in the past", |h| {
            let (a, _) = funded(h);
            let expires_at = Some(at(h.now_ms - 1));
            let g = Grant {
                expires_at,
                ..grant(&h.key(), a, LotKind::Promotional, q("1"), "0")
            };
            (Command::Grant(g), Expect::Invalid("expires_at"))
        }),
        ("a grant that expires before it takes effect", |h| {
            let (a, _) = funded(h);
            let (effective_at, expires_at) =
                (Some(at(h.now_ms + 5_000)), Some(at(h.now_ms + 4_000)));
            let g = Grant {
                effective_at,
                expires_at,
                ..grant(&h.key(), a, LotKind::Promotional, q("1"), "0")
            };
            (Command::Grant(g), Expect::Invalid("expires_at"))
        }),
        ("authorize with a zero TTL", |h| {
            let (a, _) = funded(h);
            (
                authorize(&h.key(), a, q("1"), Some(0)),
                Expect::Invalid("ttl_ms"),
            )
        }),
        ("authorize with a TTL above the maximum", |h| {
            let (a, _) = funded(h);
            (
                authorize(&h.key(), a, q("1"), Some(TTL_MAX_MS + 1)),
                Expect::Invalid("ttl_ms"),
            )
        }),
        ("extend with a zero TTL", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "1", None);
            (extend(&h.key(), hold, 0), Expect::Invalid("ttl_ms"))
        }),
        ("extend with a TTL above the maximum", |h| {
            let (a, _) = funded(h);
            let hold = h.hold(a, "1", None);
            (
                extend(&h.key(), hold, TTL_MAX_MS + 1),
                Expect::Invalid("ttl_ms"),
            )
        }),
        ("an adjustment without a reason", |h| {
            let (a, _) = funded(h);
            let c = Adjust {
                reason: "  ".into(),
                ..adjust(&h.key(), a, AdjustDirection::Credit, "1")
            };
            (Command::Adjust(c), Expect::Invalid("reason"))
        }),
        ("a credit adjustment naming a lot", |h| {
            let (a, lot) = funded(h);
            let c = Adjust {
                lot_id: Some(lot),
                ..adjust(&h.key(), a, AdjustDirection::Credit, "1")
            };
            (Command::Adjust(c), Expect::Invalid("lot_id"))
        }),
        ("a debit adjustment beyond the lot's free credit", |h| {
            let (a, lot) = funded(h);
            h.hold(a, "2", None);
            let c = Adjust {
                lot_id: Some(lot),
                ..adjust(&h.key(), a, AdjustDirection::Debit, "9")
            };
            (Command::Adjust(c), insufficient("9", "8"))
        }),
        ("a debit adjustment beyond the account's free credit", |h| {
            let (a, _) = funded(h);
            let c = adjust(&h.key(), a, AdjustDirection::Debit, "10.01");
            (Command::Adjust(c), insufficient("10.01", "10"))
        }),
        ("a debit adjustment of an unknown lot", |h| {
            let (a, _) = funded(h);
            let lot = LotId(Uuid::from_u128(u128::MAX - 7));
            let c = Adjust {
                lot_id: Some(lot),
                ..adjust(&h.key(), a, AdjustDirection::Debit, "1")
            };
            let expect = Expect::Error(LedgerError::LotNotFound { lot_id: lot });
            (Command::Adjust(c), expect)
        }),
        ("an adjustment on a closed account", |h| {
            let (a, _) = funded(h);
            h.set_status(a, AccountStatus::Closed);
            let c = adjust(&h.key(), a, AdjustDirection::Credit, "1");
            (Command::Adjust(c), closed(a))
        }),
        ("a prepaid commitment with a minimum spend", |h| {
            let (a, _) = funded(h);
            let c = CreateCommitment {
                minimum_spend: money("1"),
                ..commitment(h, a, CommitmentKind::Prepaid)
            };
            (
                Command::CreateCommitment(c),
                Expect::Invalid("minimum_spend"),
            )
        }),
        ("a commitment whose term has ended", |h| {
            let (a, _) = funded(h);
            let c = CreateCommitment {
                term_end: at(h.now_ms),
                ..commitment(h, a, CommitmentKind::Prepaid)
            };
            (Command::CreateCommitment(c), Expect::Invalid("term_end"))
        }),
        ("a postpaid commitment starting later", |h| {
            let (a, _) = funded(h);
            let c = CreateCommitment {
                term_start: Some(at(h.now_ms + 1_000)),
                ..commitment(h, a, CommitmentKind::Postpaid)
            };
            (Command::CreateCommitment(c), Expect::Invalid("term_start"))
        }),
        ("a postpaid commitment in another currency", |h| {
            let (a, _) = funded(h);
            let c = CreateCommitment {
                currency: "EUR".parse().unwrap(),
                ..commitment(h, a, CommitmentKind::Postpaid)
            };
            (Command::CreateCommitment(c), Expect::Invalid("currency"))
        }),
        ("a second postpaid commitment", |h| {
            let (a, _) = funded(h);
            let first = commitment(h, a, CommitmentKind::Postpaid);
            let term_end = first.term_end;
            h.ok(&Command::CreateCommitment(first));
            let c = commitment(h, a, CommitmentKind::Postpaid);
            let expect = Expect::Error(LedgerError::CommitmentActive {
                account_id: a,
                term_end,
            });
            (Command::CreateCommitment(c), expect)
        }),
        ("a credit line change during a postpaid commitment", |h| {
            let (a, _) = funded(h);
            let first = commitment(h, a, CommitmentKind::Postpaid);
            let term_end = first.term_end;
            h.ok(&Command::CreateCommitment(first));
            let c = UpdateAccount {
                credit_line_limit: Some(dec("5")),
                ..update(&h.key(), a)
            };
            let expect = Expect::Error(LedgerError::CommitmentActive {
                account_id: a,
                term_end,
            });
            (Command::UpdateAccount(c), expect)
        }),
        ("a low-balance percentage above 100", |h| {
            let (a, _) = funded(h);
            let c = UpdateAccount {
                low_balance: Some(LowBalance::Percent(dec("100.5"))),
                ..update(&h.key(), a)
            };
            (
                Command::UpdateAccount(c),
                Expect::Invalid("low_balance_percent"),
            )
        }),
        ("a low-balance threshold finer than the unit", |h| {
            let (a, _) = funded(h);
            let c = UpdateAccount {
                low_balance: Some(LowBalance::Absolute(dec("0.001"))),
                ..update(&h.key(), a)
            };
            let expect = Expect::Error(LedgerError::TooManyDecimals {
                field: "low_balance_threshold",
                scale: 3,
                max_scale: 2,
            });
            (Command::UpdateAccount(c), expect)
        }),
        ("an auto top-up target at its threshold", |h| {
            let (a, _) = funded(h);
            let c = auto_top_up(&h.key(), a, "5", "5", None);
            (Command::SetAutoTopUp(c), Expect::Invalid("target"))
        }),
        ("an auto top-up monthly cap of 0", |h| {
            let (a, _) = funded(h);
            let c = auto_top_up(&h.key(), a, "5", "20", Some("0"));
            (Command::SetAutoTopUp(c), Expect::Invalid("monthly_cap"))
        }),
        ("a failed charge reported without auto top-up", |h| {
            let (a, _) = funded(h);
            let c = fail_top_up(&h.key(), a);
            let expect = Expect::Error(LedgerError::AutoTopUpNotSet { account_id: a });
            (Command::FailTopUp(c), expect)
        }),
        ("a failed charge reported on no open request", |h| {
            let (a, _) = funded(h);
            // Available (10) is above the threshold: nothing is requested.
            let set = auto_top_up(&h.key(), a, "5", "20", None);
            h.ok(&Command::SetAutoTopUp(set));
            let c = fail_top_up(&h.key(), a);
            let expect = Expect::Error(LedgerError::TopUpRequestNotOpen {
                request_id: c.request_id,
            });
            (Command::FailTopUp(c), expect)
        }),
        ("a recurring grant without a calendar period", |h| {
            let (a, _) = funded(h);
            let c = CreateRecurringGrant {
                period: budget::Period::Rolling,
                ..recurring_grant(&h.key(), a)
            };
            (Command::CreateRecurringGrant(c), Expect::Invalid("period"))
        }),
        ("a paid recurring grant without a price", |h| {
            let (a, _) = funded(h);
            let c = CreateRecurringGrant {
                kind: LotKind::Paid,
                currency: Some("USD".parse().unwrap()),
                ..recurring_grant(&h.key(), a)
            };
            (Command::CreateRecurringGrant(c), Expect::Invalid("price"))
        }),
        ("a recurring grant on an account at its lot limit", |h| {
            let (a, _) = funded(h);
            h.top_up(a, "1", "1");
            h.top_up(a, "1", "1");
            let c = recurring_grant(&h.key(), a);
            let expect = Expect::Error(LedgerError::TooManyLots {
                account_id: a,
                limit: 3,
            });
            (Command::CreateRecurringGrant(c), expect)
        }),
        ("deleting a recurring grant that is not there", |h| {
            let (a, _) = funded(h);
            let grant_id = RecurringGrantId(Uuid::from_u128(77));
            let c = DeleteRecurringGrant {
                idempotency_key: h.key(),
                account_id: a,
                grant_id,
            };
            let expect = Expect::Error(LedgerError::RecurringGrantNotFound { grant_id });
            (Command::DeleteRecurringGrant(c), expect)
        }),
        ("a soft velocity limit", |h| {
            let (a, _) = funded(h);
            let c = CreateBudget {
                idempotency_key: h.key(),
                account_id: a,
                subject: "key:k1".into(),
                meter: String::new(),
                limit: dec("10"),
                period: budget::Period::Rolling,
                time_zone: chrono_tz::Tz::UTC,
                hard: false,
                alerts: Vec::new(),
                window_seconds: 60,
                max_requests: None,
            };
            (Command::CreateBudget(c), Expect::Invalid("hard"))
        }),
    ]
}

fn auto_top_up(
    key: &str,
    account: AccountId,
    threshold: &str,
    target: &str,
    cap: Option<&str>,
) -> SetAutoTopUp {
    SetAutoTopUp {
        idempotency_key: key.into(),
        account_id: account,
        enabled: true,
        threshold: dec(threshold),
        target: dec(target),
        monthly_cap: cap.map(dec),
    }
}

fn fail_top_up(key: &str, account: AccountId) -> FailTopUp {
    FailTopUp {
        idempotency_key: key.into(),
        account_id: account,
        request_id: TopUpRequestId(Uuid::from_u128(99)),
        reason: "card_declined".into(),
    }
}

/// A promotional monthly grant of 5, without rollover.
fn recurring_grant(key: &str, account: AccountId) -> CreateRecurringGrant {
    CreateRecurringGrant {
        idempotency_key: key.into(),
        account_id: account,
        quantity: dec("5"),
        period: budget::Period::Month,
        time_zone: chrono_tz::Tz::UTC,
        kind: LotKind::Promotional,
        price: Money::ZERO,
        currency: None,
        rollover_cap: Quantity::ZERO,
    }
}

#[test]
fn every_refusal_is_exact_and_changes_nothing() {
    let rows = rows();
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|(name, setup)| run_row(*setup).err().map(|why| format!("{name}: {why}")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// Everything a refused command must leave alone: each account with its lots and holds.
fn books(h: &Harness) -> Vec<(Account, Vec<Lot>, Vec<Hold>)> {
    let ids: Vec<AccountId> = h.store.accounts.keys().copied().collect();
    ids.into_iter()
        .map(|id| {
            let book = h.book(id);
            let mut holds: Vec<Hold> = book.holds.values().cloned().collect();
            holds.sort_by_key(|hold| hold.id);
            (book.account.clone(), book.lots.clone(), holds)
        })
        .collect()
}

fn run_row(setup: fn(&mut Harness) -> (Command, Expect)) -> Result<(), String> {
    let mut h = Harness::new(limits());
    let (command, expect) = setup(&mut h);
    let before = books(&h);
    let (result, changed) = h.apply(&command);
    let error = match result {
        Ok(outcome) => return Err(format!("accepted: {outcome:?}")),
        Err(error) => error,
    };
    let matches = match &expect {
        Expect::Error(expected) => *expected == error,
        Expect::Invalid(field) => {
            matches!(&error, LedgerError::InvalidArgument { field: f, .. } if f == field)
        }
    };
    if !matches {
        return Err(format!("refused with {error:?}"));
    }
    if !changed.is_empty() {
        return Err(format!("the refused command wrote {changed:?}"));
    }
    if books(&h) != before {
        return Err("the refused command changed the books".into());
    }
    // A refusal keeps no idempotency record, so the same request is refused the same way again.
    let (again, _) = h.apply(&command);
    if again != Err(error.clone()) {
        return Err(format!("a retry of the refused command got {again:?}"));
    }
    check_invariants(&h);
    Ok(())
}

#[test]
fn amounts_that_do_not_parse_are_refused_with_the_field() {
    let invalid = |reason: &str| LedgerError::InvalidArgument {
        field: "quantity",
        reason: reason.into(),
    };
    let non_positive = |value: &str| LedgerError::NonPositiveAmount {
        field: "quantity",
        value: value.into(),
    };
    let max = dec("1000000000000000");
    let cases = [
        ("0", non_positive("0")),
        ("-1", non_positive("-1")),
        ("0.00", non_positive("0.00")),
        ("1e5", invalid("not a plain decimal number (digits, at most one point, no spaces or exponent): \"1e5\"")),
        ("abc", invalid("not a plain decimal number (digits, at most one point, no spaces or exponent): \"abc\"")),
        ("1.2.3", invalid("not a plain decimal number (digits, at most one point, no spaces or exponent): \"1.2.3\"")),
        ("", invalid("an amount is required: \"\"")),
        (
            "1000000000000001",
            LedgerError::AmountTooLarge {
                field: "quantity",
                max,
            },
        ),
        (
            "1000000000000000.000000001",
            LedgerError::AmountTooLarge {
                field: "quantity",
                max,
            },
        ),
        (
            "0.0000000001",
            LedgerError::TooManyDecimals {
                field: "quantity",
                scale: 10,
                max_scale: 9,
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            Quantity::parse("quantity", text).map_err(LedgerError::from),
            Err(expected),
            "Quantity::parse({text:?})"
        );
    }
    assert_eq!(
        Quantity::parse("quantity", "1000000000000000").map(Quantity::get),
        Ok(max)
    );
    assert_eq!(
        Quantity::parse("quantity", "0.000000001").map(Quantity::get),
        Ok(dec("0.000000001"))
    );
    assert_eq!(
        Quantity::parse("quantity", "999999999999999.999999999").map(Quantity::get),
        Ok(dec("999999999999999.999999999"))
    );
    let money_cases = [
        (
            "-1",
            LedgerError::NonPositiveAmount {
                field: "price",
                value: "-1".into(),
            },
        ),
        (
            "0.123456789",
            LedgerError::TooManyDecimals {
                field: "price",
                scale: 9,
                max_scale: 8,
            },
        ),
        (
            "1000000000000001",
            LedgerError::AmountTooLarge {
                field: "price",
                max,
            },
        ),
    ];
    for (text, expected) in money_cases {
        assert_eq!(
            Money::parse("price", text).map_err(LedgerError::from),
            Err(expected),
            "Money::parse({text:?})"
        );
    }
    assert_eq!(
        Money::parse("price", "0").map(Money::get),
        Ok(Decimal::ZERO)
    );
}

/// Parsing normalizes: the value and its text lose their trailing zeros ("1.50" is 1.5).
#[test]
fn parsed_amounts_are_normalized() {
    let text = |d: Decimal| d.to_string();
    for (given, want) in [("1.50", "1.5"), ("2.000", "2"), ("0.10", "0.1"), ("7", "7")] {
        assert_eq!(text(q(given).get()), want, "Quantity::parse({given:?})");
        assert_eq!(text(money(given).get()), want, "Money::parse({given:?})");
    }
    assert_eq!(text(money("0.00").get()), "0");
    // Trailing zeros beyond the scale limits are not decimals either.
    assert_eq!(text(q("1.5000000000").get()), "1.5");
    assert_eq!(text(money("3.000000000").get()), "3");
}

#[test]
fn trailing_zeros_do_not_count_as_decimals() {
    let mut h = Harness::new(limits());
    let (a, _) = funded(&mut h);
    let key = h.key();
    let outcome = h.ok(&authorize(&key, a, q("1.230"), None));
    assert!(matches!(outcome, Outcome::Authorized { available, .. } if available == dec("8.77")));
}

fn captured(outcome: Outcome) -> (Decimal, Vec<(Option<LotId>, Decimal)>, Decimal, HoldStatus) {
    match outcome {
        Outcome::Captured {
            charged,
            draws,
            released,
            hold,
            ..
        } => (
            charged.get(),
            draws
                .into_iter()
                .map(|d| (d.lot_id, d.quantity.get()))
                .collect(),
            released.get(),
            hold.status,
        ),
        other => panic!("not a capture: {other:?}"),
    }
}

#[test]
fn overage_clamp_charges_exactly_what_is_held() {
    let mut h = Harness::new(limits());
    let (a, lot) = funded(&mut h);
    let hold = h.hold(a, "4", None);
    let key = h.key();
    let outcome = h.ok(&capture(&key, hold, q("6"), false, Overage::Clamp));
    let expected = (
        dec("4"),
        vec![(Some(lot), dec("4"))],
        dec("0"),
        HoldStatus::Captured,
    );
    assert_eq!(captured(outcome), expected);
    assert_eq!(h.book(a).available(h.now(), ""), dec("6"));
    check_invariants(&h);
}

#[test]
fn overage_draw_available_charges_the_extra_from_available() {
    let mut h = Harness::new(limits());
    let (a, lot) = funded(&mut h);
    let hold = h.hold(a, "4", None);
    let key = h.key();
    let outcome = h.ok(&capture(&key, hold, q("6"), false, Overage::DrawAvailable));
    let expected = (
        dec("6"),
        vec![(Some(lot), dec("4")), (Some(lot), dec("2"))],
        dec("0"),
        HoldStatus::Captured,
    );
    assert_eq!(captured(outcome), expected);
    assert_eq!(h.book(a).available(h.now(), ""), dec("4"));
    check_invariants(&h);
}

/// A frozen account may still capture what a hold already reserved, even with
/// `Overage::DrawAvailable`; only credit beyond the hold is refused (see the table).
#[test]
fn a_frozen_account_still_captures_within_its_hold() {
    let mut h = Harness::new(limits());
    let (a, lot) = funded(&mut h);
    let hold = h.hold(a, "4", None);
    h.set_status(a, AccountStatus::Frozen);
    let key = h.key();
    let outcome = h.ok(&capture(&key, hold, q("3"), false, Overage::DrawAvailable));
    let expected = (
        dec("3"),
        vec![(Some(lot), dec("3"))],
        dec("0"),
        HoldStatus::Open,
    );
    assert_eq!(captured(outcome), expected);
    let key = h.key();
    let outcome = h.ok(&capture(&key, hold, q("1"), true, Overage::DrawAvailable));
    let expected = (
        dec("1"),
        vec![(Some(lot), dec("1"))],
        dec("0"),
        HoldStatus::Captured,
    );
    assert_eq!(captured(outcome), expected);
    assert_eq!(h.book(a).lot(lot).map(|l| l.remaining), Some(dec("6")));
    check_invariants(&h);
}

#[test]
fn void_with_release_holds_takes_the_lot_out_of_its_holds() {
    let mut h = Harness::new(limits());
    let (a, paid) = funded(&mut h);
    let promo = h.promo(a, "5", None);
    // Promotional credit goes first, so the first hold spans both lots and the second only the
    // paid one.
    let spanning = h.hold(a, "12", None);
    let paid_only = h.hold(a, "2", None);
    let key = h.key();
    let outcome = h.ok(&void(&key, a, paid, true));
    let Outcome::Voided {
        quantity_voided,
        money_refunded,
        lot,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (quantity_voided, money_refunded, lot.status),
        (dec("10"), dec("5"), LotStatus::Voided)
    );
    let book = h.book(a);
    assert_eq!(book.holds[&spanning].status, HoldStatus::Open);
    assert_eq!(book.holds[&spanning].held(), dec("5"));
    assert_eq!(book.holds[&paid_only].status, HoldStatus::Released);
    assert_eq!(book.lot(promo).map(|l| l.held), Some(dec("5")));
    assert_eq!(
        (book.account.open_holds, book.available(h.now(), "")),
        (1, dec("0"))
    );
    check_invariants(&h);
}

#[test]
fn a_replayed_request_returns_the_first_outcome_and_posts_nothing() {
    let mut h = Harness::new(limits());
    let (a, lot) = funded(&mut h);
    let (first, changed) = h.apply(&debit("order-7", a, q("3")));
    assert_eq!((changed.entries, changed.idempotency), (1, 1));
    let first = first.expect("the first debit succeeds");
    for advance_ms in [0, 60_000] {
        h.next_batch(advance_ms);
        let (replay, changed) = h.apply(&debit("order-7", a, q("3")));
        assert_eq!(replay, Ok(first.clone()), "a replay after {advance_ms} ms");
        assert!(changed.is_empty(), "a replay wrote {changed:?}");
        // Within one batch too: the record written a moment ago answers the replay.
        let (again, changed) = h.apply(&debit("order-7", a, q("3")));
        assert_eq!((again, changed.is_empty()), (Ok(first.clone()), true));
    }
    assert_eq!(h.book(a).lot(lot).map(|l| l.remaining), Some(dec("7")));
    check_invariants(&h);
}

/// "1.5" and "1.50" are the same amount, so the same key with either spelling is the same
/// request: a replay with the first outcome, not a conflict, and nothing posted twice.
#[test]
fn a_request_respelled_with_trailing_zeros_is_a_replay() {
    let mut h = Harness::new(limits());
    let (a, lot) = funded(&mut h);
    let first = h.ok(&debit("order-8", a, q("1.5")));
    let (replay, changed) = h.apply(&debit("order-8", a, q("1.50")));
    assert_eq!((replay, changed.is_empty()), (Ok(first.clone()), true));
    h.next_batch(1_000);
    let (replay, changed) = h.apply(&debit("order-8", a, q("1.500")));
    assert_eq!((replay, changed.is_empty()), (Ok(first), true));
    // A different amount under the same key is still a conflict.
    let (other, changed) = h.apply(&debit("order-8", a, q("1.51")));
    let conflict = LedgerError::IdempotencyConflict {
        key: "order-8".into(),
    };
    assert_eq!((other, changed.is_empty()), (Err(conflict), true));
    assert_eq!(h.book(a).lot(lot).map(|l| l.remaining), Some(dec("8.5")));
    // The price of a top-up too: "5" and "5.00" are the same top-up.
    let first = h.ok(&Command::Grant(grant(
        "top-9",
        a,
        LotKind::Paid,
        q("2"),
        "5",
    )));
    let respelled = grant("top-9", a, LotKind::Paid, q("2.0"), "5.00");
    let (replay, changed) = h.apply(&Command::Grant(respelled));
    assert_eq!((replay, changed.is_empty()), (Ok(first), true));
    assert_eq!(h.store.lots.len(), 2);
    check_invariants(&h);
}

#[test]
fn a_replayed_authorize_returns_the_same_hold_and_reserves_nothing_more() {
    let mut h = Harness::new(limits());
    let (a, _) = funded(&mut h);
    let first = h.ok(&authorize("call-9", a, q("4"), None));
    let (replay, changed) = h.apply(&authorize("call-9", a, q("4"), None));
    assert_eq!((replay, changed.is_empty()), (Ok(first), true));
    assert_eq!(h.book(a).available(h.now(), ""), dec("6"));
}

#[test]
fn an_expired_lot_is_skipped_before_any_sweeper_runs() {
    let mut h = Harness::new(limits());
    let a = h.open_account(2, "0", "0");
    // The promotion expires soonest, so it would be drawn first while it lasts.
    let promo = h.promo(a, "5", Some(1_000));
    let paid = h.top_up(a, "10", "5");
    h.next_batch(1_000);
    let key = h.key();
    let Outcome::Debited { draws, .. } = h.ok(&debit(&key, a, q("3"))) else {
        panic!("not a debit")
    };
    assert_eq!(
        draws
            .iter()
            .map(|d| (d.lot_id, d.quantity))
            .collect::<Vec<_>>(),
        vec![(Some(paid), dec("3"))]
    );
    assert_eq!(
        h.book(a).lot(promo).map(|l| (l.remaining, l.status)),
        Some((dec("5"), LotStatus::Active))
    );
    let key = h.key();
    let (refused, _) = h.apply(&debit(&key, a, q("8")));
    assert_eq!(
        refused,
        Err(LedgerError::InsufficientCredit {
            requested: dec("8"),
            available: dec("7")
        })
    );
    check_invariants(&h);
}

/// The sweep posts a lot's expiry once, effective at its expiry, releasing it from the holds
/// that reserved it; adjustments keep every lot's sub-ledger whole.
#[test]
fn a_sweep_posts_each_expiry_once_and_the_books_stay_whole() {
    let mut h = Harness::new(limits());
    let a = h.open_account(2, "0", "0");
    // 7 for 3.00: breakage of the 4 left is 4 × 3/7, so the division is not exact.
    let key = h.key();
    let expiring = h.grant_lot(Grant {
        expires_at: Some(at(5_000)),
        ..grant(&key, a, LotKind::Paid, q("7"), "3")
    });
    let paid = h.top_up(a, "10", "5");
    let key = h.key();
    h.ok(&debit(&key, a, q("3")));
    let key = h.key();
    h.ok(&Command::Adjust(Adjust {
        lot_id: Some(paid),
        ..adjust(&key, a, AdjustDirection::Debit, "2.5")
    }));
    let key = h.key();
    h.ok(&Command::Adjust(adjust(
        &key,
        a,
        AdjustDirection::Credit,
        "1",
    )));
    let hold = h.hold(a, "5", Some(60_000));
    h.next_batch(5_000);
    let deferred = h.store.lots[&expiring].money_deferred;
    let sweep = Command::Sweep(Sweep {
        account_id: a,
        commitment_notice_ms: 0,
    });
    let Outcome::Swept(first) = h.ok(&sweep) else {
        panic!("not a sweep")
    };
    assert_eq!(first.lots_expired, 1);
    let Outcome::Swept(second) = h.ok(&sweep) else {
        panic!("not a sweep")
    };
    assert_eq!(second, SweepSummary::default());
    h.next_batch(0);
    let expiries: Vec<&Entry> = h
        .store
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Expiry)
        .collect();
    assert_eq!(expiries.len(), 1);
    assert_eq!(expiries[0].effective_at, at(5_000));
    let breakage: Decimal = expiries[0]
        .postings
        .iter()
        .filter(|p| p.ledger_account == "revenue_breakage")
        .map(|p| p.amount)
        .sum();
    assert_eq!(breakage, deferred.get());
    assert_eq!(deferred, dec("1.71428571"), "3 × 4/7 at the money scale");
    // The hold reserved 4 on the expired lot and 1 on the paid one: only the latter is left.
    let held = &h.store.holds[&hold];
    assert_eq!(held.held(), dec("1"));
    assert!(h
        .store
        .events
        .iter()
        .any(|e| e.data.kind() == "lot_expired"));
    check_invariants(&h);
}

/// A percentage threshold is of what was available right after the latest top-up; each crossing
/// raises its event once, and a recovery re-arms it.
#[test]
fn low_balance_by_percentage_fires_once_per_crossing() {
    let mut h = Harness::new(limits());
    let a = h.open_account(0, "0", "0");
    let key = h.key();
    h.ok(&Command::UpdateAccount(UpdateAccount {
        low_balance: Some(LowBalance::Percent(dec("20"))),
        ..update(&key, a)
    }));
    h.top_up(a, "100", "10");
    let kinds = |h: &Harness| {
        h.store
            .events
            .iter()
            .map(|e| e.data.kind())
            .collect::<Vec<_>>()
    };
    let key = h.key();
    h.ok(&debit(&key, a, q("79")));
    h.next_batch(1);
    assert!(kinds(&h).is_empty(), "21 of 100 left is above 20%");
    let key = h.key();
    h.ok(&debit(&key, a, q("1")));
    h.next_batch(1);
    assert_eq!(kinds(&h), ["low_balance"]);
    let key = h.key();
    h.ok(&debit(&key, a, q("5")));
    h.next_batch(1);
    assert_eq!(kinds(&h), ["low_balance"], "still low: no new event");
    // A top-up of 100 makes the base what is available after it, 115: 20% of it is 23.
    h.top_up(a, "100", "10");
    h.next_batch(1);
    let key = h.key();
    h.ok(&debit(&key, a, q("115")));
    h.next_batch(1);
    assert_eq!(
        kinds(&h),
        [
            "low_balance",
            "low_balance_recovered",
            "low_balance",
            "depleted"
        ]
    );
    match &h.store.events[1].data {
        EventData::LowBalanceRecovered {
            available,
            threshold,
        } => assert_eq!((*available, *threshold), (dec("115"), Some(dec("23")))),
        other => panic!("{other:?}"),
    }
    match &h.store.events[2].data {
        EventData::LowBalance {
            available,
            threshold,
        } => assert_eq!((*available, *threshold), (dec("0"), dec("23"))),
        other => panic!("{other:?}"),
    }
    check_invariants(&h);
}

/// The largest amount there is: 10^15.
const BIG: &str = "1000000000000000";

/// Amounts up to 10^15 parse, so the engine must handle the largest of them without its
/// `Decimal` arithmetic (28 digits) overflowing into a panic, and keep the money exact. (Before
/// commit 1a44a64 both of these panicked with "Multiplication overflowed".)
#[test]
fn the_money_of_the_largest_amounts_does_not_overflow() {
    // A large lot bought for a large price, then a large draw: the money share is D × u / Q.
    let mut h = Harness::new(limits());
    let a = h.open_account(0, "0", "0");
    let lot = h.top_up(a, BIG, BIG);
    assert_eq!(
        apply_cleanly(&mut h, debit("big-1", a, q("100000000000000"))),
        None
    );
    let lot = h.book(a).lot(lot).cloned().expect("the lot");
    assert_eq!(
        (lot.remaining, lot.money_deferred),
        (dec("900000000000000"), dec("900000000000000"))
    );
    assert_eq!(
        money_posted(&h, "revenue_usage", Side::Credit),
        dec("100000000000000")
    );
    // The largest credit line at the highest price: the money for a draw is u × p, 10^24.
    let mut h = Harness::new(limits());
    let a = h.open_account(0, BIG, "1000000000");
    assert_eq!(apply_cleanly(&mut h, debit("big-2", a, q(BIG))), None);
    assert_eq!(h.book(a).account.credit_line_used, dec(BIG));
    assert_eq!(
        money_posted(&h, "unbilled_receivable", Side::Debit),
        dec("1000000000000000000000000")
    );
}

/// A `Decimal` holds 28 significant digits. The largest amount (10^15) in the finest unit
/// (9 decimals) less the smallest unit, 999999999999999.999999999, needs 24: the lot must go
/// down by exactly the debit, and its postings must still account for it (invariant 3).
#[test]
fn the_largest_lot_in_the_finest_unit_stays_exact() {
    let mut h = Harness::new(limits());
    let a = h.open_account(9, "0", "0");
    let lot = h.top_up(a, BIG, "1");
    assert_eq!(
        apply_cleanly(&mut h, debit("tiny", a, q("0.000000001"))),
        None
    );
    let remaining = h.book(a).lot(lot).map(|l| l.remaining).expect("the lot");
    assert_eq!(remaining, dec("999999999999999.999999999"));
    assert_eq!(dec::<Quantity>(BIG) - remaining, dec("0.000000001"));
    check_invariants(&h);
}

/// The money on a ledger account over every entry so far, counted positive on its `normal` side.
fn money_posted(h: &Harness, ledger_account: &str, normal: Side) -> Decimal {
    let postings = h.store.entries.iter().flat_map(|e| &e.postings);
    postings
        .filter(|p| p.book == Book::Money && p.ledger_account == ledger_account)
        .map(|p| match p.side == normal {
            true => p.amount,
            false => -p.amount,
        })
        .sum()
}

/// Applies a command that must succeed with every invariant intact (every amount within the
/// limits fits a `Decimal` exactly); says what went wrong otherwise, a panic included.
fn apply_cleanly(h: &mut Harness, command: Command) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(|| h.apply(&command))) {
        Err(panic) => {
            let text = panic.downcast_ref::<&str>().map(|s| s.to_string());
            let text = text
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Some(format!("{command:?} panicked: {text}"))
        }
        Ok((Ok(_), _)) => catch_unwind(AssertUnwindSafe(|| check_invariants(h)))
            .err()
            .map(|_| format!("{command:?} broke an invariant (see above)")),
        Ok((Err(refusal), _)) => Some(format!("{command:?} was refused with {refusal:?}")),
    }
}
