//! A model-based property test. Random sequences of commands run against the engine, a few per
//! batch, and against a small reference model written from `docs/design.md` alone. After every step the
//! engine's answer must equal the model's, every lot, hold and account must agree with the
//! model, and the invariants of `docs/design.md` must hold.

mod reference;
pub mod world;

use credit_ledger::ledger::{AccountStatus, LotKind, Overage};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, RngSeed};
use rust_decimal::Decimal;

use reference::{MGrant, MOp};
use world::World;

const SCALE: u32 = 2;
const OPEN_HOLDS_MAX: u32 = 3;
const LIVE_LOTS_MAX: u32 = 6;
const TTL_DEFAULT_MS: u64 = 30_000;
const TTL_MAX_MS: u64 = 600_000;
/// Account 0 has no credit line; account 1 has a line of 10 at this price per unit.
const LINE_PRICE: &str = "0.3";
/// Grant expiries, relative to the time of the grant; the first one is in the past.
const EXPIRIES_MS: [i64; 5] = [-1_000, 15_000, 45_000, 200_000, 2_000_000];
/// An index that never names anything: the id of an unknown account, lot or hold.
const UNKNOWN: usize = usize::MAX;

/// One random step. Picks (of a hold, a lot, an earlier request) are resolved against the state
/// when the step runs, so that a shrunk sequence still means something.
#[derive(Clone, Debug)]
pub enum Op {
    /// A command that names no hold or lot: an authorize, a debit or an account update.
    Plain(MOp),
    /// A top-up or a promotional grant, with its times relative to the moment it is sent.
    Grant(MGrant),
    Capture {
        pick: usize,
        quantity: Decimal,
        is_final: bool,
        overage: Overage,
        tokens: Option<u32>,
    },
    Release {
        pick: usize,
    },
    Extend {
        pick: usize,
        ttl_ms: u64,
    },
    Void {
        pick: usize,
        release_holds: bool,
        other_account: bool,
    },
    /// The request of an earlier step, sent again: exactly, or with its amounts spelled with
    /// one more trailing zero ("1.5" as "1.50"), which is still the same request.
    Replay {
        pick: usize,
        respell: bool,
    },
    /// Ends the batch; the next one starts this many milliseconds later, with the depleted and
    /// voided lots loaded too when `dead_lots`.
    NextBatch {
        advance_ms: i64,
        dead_lots: bool,
    },
}

#[derive(Clone, Debug)]
pub struct Step {
    pub op: Op,
    /// Sends the step under the idempotency key of an earlier step instead of a fresh one.
    pub reuse_key: Option<usize>,
}

fn account() -> impl Strategy<Value = usize> {
    prop_oneof![20 => 0..2usize, 1 => Just(UNKNOWN)]
}

/// Mostly multiples of 0.25 up to 10, now and then one finer than the unit.
fn quantity() -> impl Strategy<Value = Decimal> {
    prop_oneof![20 => (1i64..=40).prop_map(|n| Decimal::new(n * 25, 2)), 1 => Just(Decimal::new(1_234, 3))]
}

fn expiry() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![5 => Just(None), 1 => Just(Some(0)), 8 => (1..EXPIRIES_MS.len()).prop_map(Some)]
}

fn ttl_ms() -> impl Strategy<Value = u64> {
    let usual = prop::sample::select(vec![2_000u64, 10_000, 40_000, 150_000, TTL_MAX_MS]);
    prop_oneof![10 => usual, 1 => Just(0u64), 1 => Just(TTL_MAX_MS + 1)]
}

/// Freezes often enough that holds opened before a freeze get captured while it lasts.
fn status() -> impl Strategy<Value = Option<AccountStatus>> {
    use AccountStatus::*;
    prop_oneof![10 => Just(None), 5 => Just(Some(Active)), 6 => Just(Some(Frozen)), 1 => Just(Some(Closed))]
}

fn overage() -> impl Strategy<Value = Overage> {
    prop::sample::select(vec![
        Overage::Reject,
        Overage::Clamp,
        Overage::DrawAvailable,
    ])
}

fn top_up() -> impl Strategy<Value = Op> {
    let cents = prop_oneof![1 => Just(0i64), 30 => 1i64..=4_000];
    (account(), 5i64..=40, cents, 0..3i32, expiry()).prop_map(
        |(account, units, cents, priority, expiry)| {
            Op::Grant(MGrant {
                account,
                kind: LotKind::Paid,
                quantity: Decimal::from(units),
                price: Decimal::new(cents, 2),
                priority,
                effective_ms: None,
                expires_ms: expiry.map(|i| EXPIRIES_MS[i]),
                scoped: false,
            })
        },
    )
}

/// A promotion, now and then scoped to the "gpu" meter or taking effect a little later.
fn promo() -> impl Strategy<Value = Op> {
    let (scoped, delayed) = (prop::bool::weighted(0.2), prop::bool::weighted(0.15));
    (account(), 2i64..=20, 0..3i32, expiry(), scoped, delayed).prop_map(
        |(account, units, priority, expiry, scoped, delayed)| {
            let effective_ms = if delayed { 5_000 } else { 0 };
            Op::Grant(MGrant {
                account,
                kind: LotKind::Promotional,
                quantity: Decimal::from(units),
                price: Decimal::ZERO,
                priority,
                effective_ms: delayed.then_some(effective_ms),
                expires_ms: expiry.map(|i| effective_ms + EXPIRIES_MS[i]),
                scoped,
            })
        },
    )
}

/// Tokens now and then instead of a quantity: few enough that many are worth less than a unit.
fn tokens() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![3 => Just(None), 2 => (0u32..=400).prop_map(Some)]
}

/// Who spends: mostly someone with budgets on the path, now and then the whole account.
fn subject() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(0usize), 6 => 1..reference::SUBJECTS.len()]
}

fn authorize() -> impl Strategy<Value = Op> {
    let ttl = prop_oneof![2 => Just(None), 5 => ttl_ms().prop_map(Some)];
    (
        account(),
        quantity(),
        ttl,
        prop::bool::weighted(0.2),
        tokens(),
        subject(),
    )
        .prop_map(|(account, quantity, ttl_ms, gpu, tokens, subject)| {
            Op::Plain(MOp::Authorize {
                account,
                quantity,
                ttl_ms,
                gpu,
                tokens,
                subject,
            })
        })
}

fn capture() -> impl Strategy<Value = Op> {
    (0..64usize, quantity(), any::<bool>(), overage(), tokens()).prop_map(
        |(pick, quantity, is_final, overage, tokens)| Op::Capture {
            pick,
            quantity,
            is_final,
            overage,
            tokens,
        },
    )
}

/// A debit of a quantity, or now and then of tokens rated by the model's prices (few enough
/// that many are worth less than a unit, and carried).
fn debit() -> impl Strategy<Value = Op> {
    (
        account(),
        quantity(),
        prop::bool::weighted(0.2),
        tokens(),
        subject(),
    )
        .prop_map(|(account, quantity, gpu, tokens, subject)| {
            Op::Plain(MOp::Debit {
                account,
                quantity,
                gpu,
                tokens,
                subject,
            })
        })
}

fn void() -> impl Strategy<Value = Op> {
    (0..64usize, any::<bool>(), prop::bool::weighted(0.1)).prop_map(
        |(pick, release_holds, other_account)| Op::Void {
            pick,
            release_holds,
            other_account,
        },
    )
}

fn update() -> impl Strategy<Value = Op> {
    let limit = prop::option::of(prop::sample::select(vec![0i64, 5, 10, 25]));
    (account(), limit, status()).prop_map(|(account, limit, status)| {
        Op::Plain(MOp::Update {
            account,
            limit: limit.map(Decimal::from),
            status,
        })
    })
}

fn next_batch() -> impl Strategy<Value = Op> {
    let advance = prop::sample::select(vec![0i64, 0, 1_000, 12_000, 35_000, 160_000, 800_000]);
    (advance, any::<bool>()).prop_map(|(advance_ms, dead_lots)| Op::NextBatch {
        advance_ms,
        dead_lots,
    })
}

fn op() -> impl Strategy<Value = Op> {
    let release = (0..64usize).prop_map(|pick| Op::Release { pick });
    let extend = (0..64usize, ttl_ms()).prop_map(|(pick, ttl_ms)| Op::Extend { pick, ttl_ms });
    let replay =
        (0..64usize, any::<bool>()).prop_map(|(pick, respell)| Op::Replay { pick, respell });
    Union::new_weighted(vec![
        (8, top_up().boxed()),
        (8, promo().boxed()),
        (14, authorize().boxed()),
        (14, capture().boxed()),
        (4, release.boxed()),
        (4, extend.boxed()),
        (12, debit().boxed()),
        (5, void().boxed()),
        (6, update().boxed()),
        (
            5,
            account()
                .prop_map(|account| Op::Plain(MOp::Sweep { account }))
                .boxed(),
        ),
        (5, replay.boxed()),
        (14, next_batch().boxed()),
    ])
}

fn step() -> impl Strategy<Value = Step> {
    (op(), prop::option::weighted(0.08, 0..64usize))
        .prop_map(|(op, reuse_key)| Step { op, reuse_key })
}

fn config() -> Config {
    Config {
        cases: 256,
        // A fixed seed keeps the run deterministic; no regression files are written.
        rng_seed: RngSeed::Fixed(0x0c0f_fee0_1ed9_e500),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_engine_agrees_with_the_reference_model(steps in prop::collection::vec(step(), 40..80)) {
        let mut world = World::new();
        for (n, step) in steps.iter().enumerate() {
            world.run(n, step);
        }
    }
}
