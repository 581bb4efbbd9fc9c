//! A fuzzed API: a proptest harness that sends every RPC arbitrary bytes and well-formed but
//! wild messages (a valid request with fields replaced by extreme numbers, unknown enum values,
//! out-of-range times, wild decimals, control characters, long and random text, cleared
//! fields), through the real server, the conversion layer and the engine, and asserts after each
//! call:
//!
//! - the server answers (it did not fall over), and never INTERNAL, UNKNOWN, UNAVAILABLE or
//!   DATA_LOSS: a client's input is never our fault and never worth retrying as is;
//! - a refused call changed nothing (no balance, lot, hold, entry, key or event);
//!
//! and at the end that `verify` finds the books whole. The seed is fixed, so the suite is
//! deterministic; `CREDIT_LEDGER_FUZZ_CASES` and `CREDIT_LEDGER_FUZZ_SEED` run it longer or
//! elsewhere by hand, e.g.
//! `CREDIT_LEDGER_FUZZ_CASES=20000 cargo test --test it fuzz -- --nocapture`.

use std::sync::Arc;

use credit_ledger::journal::verify::verify;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, Value};
use tonic::Code;

use crate::helpers::{Backend, TestApp};
use crate::inputs::{bases, fixture, state, BAD_DECIMALS};
use crate::wire::{method, Wire};

/// What replaces a field: interpreted by the field's kind.
#[derive(Debug, Clone)]
enum Wild {
    Text(String),
    Number(i64),
    Unsigned(u64),
    Flag(bool),
    Time(i64, i32),
    Clear,
}

#[derive(Debug, Clone)]
enum Body {
    /// Arbitrary bytes, or a valid request's bytes with some of them overwritten.
    Bytes(Vec<u8>),
    Garbled(Vec<(usize, u8)>),
    /// A valid request with these fields (by index, modulo the field count) replaced.
    Wild(Vec<(usize, Wild)>),
}

fn wild_text(tokens: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(tokens),
        proptest::sample::select(BAD_DECIMALS.to_vec()).prop_map(str::to_string),
        "-?[0-9]{1,30}(\\.[0-9]{0,30})?",
        "[\\x00-\\x1f\\x7f]{1,4}",
        "\\PC{0,40}",
        ".{0,300}",
        Just(String::new()),
        (1usize..5).prop_map(|n| "9".repeat(n * 10)),
    ]
}

fn wild(tokens: Vec<String>) -> impl Strategy<Value = Wild> {
    prop_oneof![
        4 => wild_text(tokens).prop_map(Wild::Text),
        1 => prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1i64),
            Just(0i64),
            any::<i64>()
        ]
        .prop_map(Wild::Number),
        1 => prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>(), 0u64..10_000]
            .prop_map(Wild::Unsigned),
        1 => any::<bool>().prop_map(Wild::Flag),
        2 => (
            prop_oneof![
                Just(i64::MIN),
                Just(-62_135_596_801i64),
                Just(-1i64),
                Just(0i64),
                Just(1_768_478_400i64),
                Just(253_402_300_800i64),
                any::<i64>()
            ],
            prop_oneof![Just(0i32), Just(-1i32), Just(1_000_000_000i32), any::<i32>()]
        )
            .prop_map(|(s, n)| Wild::Time(s, n)),
        1 => Just(Wild::Clear),
    ]
}

fn body(tokens: Vec<String>) -> impl Strategy<Value = Body> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
        1 => proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4).prop_map(Body::Garbled),
        6 => proptest::collection::vec((any::<usize>(), wild(tokens)), 1..4).prop_map(Body::Wild),
    ]
}

/// Puts `value` into `field` in whatever shape the field takes.
fn apply(message: &mut DynamicMessage, field: &prost_reflect::FieldDescriptor, value: &Wild) {
    if matches!(value, Wild::Clear) {
        message.clear_field(field);
        return;
    }
    let single = match (field.kind(), value) {
        (Kind::String, Wild::Text(s)) => Value::String(s.clone()),
        (Kind::String, other) => Value::String(format!("{other:?}")),
        (Kind::Uint32, Wild::Unsigned(n)) => Value::U32(*n as u32),
        (Kind::Uint32, Wild::Number(n)) => Value::U32(*n as u32),
        (Kind::Uint64, Wild::Unsigned(n)) => Value::U64(*n),
        (Kind::Uint64, Wild::Number(n)) => Value::U64(*n as u64),
        (Kind::Int32, Wild::Number(n)) => Value::I32(*n as i32),
        (Kind::Int32, Wild::Unsigned(n)) => Value::I32(*n as i32),
        (Kind::Int64, Wild::Number(n)) => Value::I64(*n),
        (Kind::Bool, Wild::Flag(b)) => Value::Bool(*b),
        (Kind::Enum(_), Wild::Number(n)) => Value::EnumNumber(*n as i32),
        (Kind::Enum(_), Wild::Unsigned(n)) => Value::EnumNumber((*n % 12) as i32),
        (Kind::Message(m), Wild::Time(seconds, nanos))
            if m.full_name() == "google.protobuf.Timestamp" =>
        {
            let mut t = DynamicMessage::new(m.clone());
            t.set_field_by_name("seconds", Value::I64(*seconds));
            t.set_field_by_name("nanos", Value::I32(*nanos));
            Value::Message(t)
        }
        (Kind::Message(m), Wild::Text(s)) => {
            // An AccountRef or a threshold: its first (or second) string member.
            let mut inner = DynamicMessage::new(m.clone());
            let members: Vec<_> = m.fields().filter(|f| f.kind() == Kind::String).collect();
            if let Some(member) = members.get(s.len() % members.len().max(1)) {
                inner.set_field(member, Value::String(s.clone()));
            }
            Value::Message(inner)
        }
        // A value of another kind leaves the field as the valid request had it.
        _ => return,
    };
    let value = match field.is_list() {
        true => Value::List(vec![single]),
        false => single,
    };
    message.set_field(field, value);
}

fn fuzz(backend: Backend) {
    let cases: u32 = std::env::var("CREDIT_LEDGER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    let seed: u64 = std::env::var("CREDIT_LEDGER_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_cafe);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = Arc::new(runtime.block_on(TestApp::spawn(backend)));
    let f = runtime.block_on(fixture(&app));
    let wire = runtime.block_on(Wire::connect(&app));
    let bases = bases(&f);
    let tokens = vec![
        f.account.clone(),
        f.lot.clone(),
        f.hold.clone(),
        "1".into(),
        "0.5".into(),
        "100".into(),
        "USD".into(),
        "CREDIT".into(),
        "chat".into(),
        "inputs".into(),
        "k-fuzz".into(),
    ];
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = (0..bases.len(), body(tokens));
    let result = runner.run(&strategy, |(which, body)| {
        let (name, base) = &bases[which];
        let m = method(name);
        let bytes = match &body {
            Body::Bytes(bytes) => bytes.clone(),
            Body::Garbled(edits) => {
                let mut bytes = base.encode_to_vec();
                for (at, byte) in edits {
                    if !bytes.is_empty() {
                        let at = at % bytes.len();
                        bytes[at] = *byte;
                    }
                }
                bytes
            }
            Body::Wild(edits) => {
                let mut message = base.clone();
                let fields: Vec<_> = m.input().fields().collect();
                for (index, value) in edits {
                    apply(&mut message, &fields[index % fields.len()], value);
                }
                message.encode_to_vec()
            }
        };
        runtime.block_on(async {
            let before = state(&app).await;
            let answer = wire.call_raw(&m, bytes, None).await;
            if let Err(status) = &answer {
                let forbidden = [
                    Code::Internal,
                    Code::Unknown,
                    Code::Unavailable,
                    Code::DataLoss,
                ];
                if forbidden.contains(&status.code()) {
                    return Err(TestCaseError::fail(format!(
                        "{name} answered {:?}: {}",
                        status.code(),
                        status.message()
                    )));
                }
                if state(&app).await != before {
                    return Err(TestCaseError::fail(format!(
                        "{name} was refused ({:?}) but changed the store",
                        status.code()
                    )));
                }
            }
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("fuzzing found: {failure}");
    }
    // Still up, and the books are whole after everything that went through.
    let report = runtime.block_on(verify(&app.store)).unwrap();
    assert!(report.is_clean(), "{report:?}");
    runtime.block_on(async {
        let balance = app.balance(&f.account).await;
        assert!(!balance.posted.is_empty());
    });
}

#[test]
fn sqlite_fuzzed_requests_never_hurt_the_service() {
    fuzz(Backend::Sqlite)
}

#[test]
fn postgres_fuzzed_requests_never_hurt_the_service() {
    fuzz(Backend::Postgres)
}
