//! The JSON kept in text columns of the store, written by types of its own that say field by
//! field what goes out, so renaming or reordering a field of a ledger type changes no stored
//! byte: `idempotency.outcome` (an outcome, replayed to a retry, possibly by a later release),
//! `events.payload`, `lots.scope` and `holds.reserved`. It lives in the ledger beside the types
//! it encodes, so a new command or event says how it is kept without touching the store.
//!
//! **Version 1** is the shape the first releases wrote, kept byte for byte (golden tests below),
//! so every row they stored still reads. Enums are stored by their one name (`as_str`); amounts
//! as decimal strings; times as RFC 3339 in UTC; ids as hyphenated UUIDs. Fields added after the
//! first release read as their defaults when absent. A change of shape will be version 2, with a
//! `"v":2` member that version 1 never has, so a reader can tell them apart.
//!
//! An entry's postings (`entries.postings`) are not JSON but a compact text with its version in
//! front (`postings.rs`): they are written once per entry on the hot path.

use std::str::FromStr;

use serde::Serialize;

use crate::ledger::*;
use event::EventV1;
use outcome::OutcomeV1;
use records::DrawV1;

mod budget;
mod event;
mod outcome;
mod postings;
mod rating;
mod records;
mod refill;

pub use budget::{decode_budget_ids, decode_budgets, encode_budget_ids, encode_budgets};
pub use postings::{decode_postings, encode_postings};
pub use rating::{
    decode_carries, decode_cost_carries, decode_rating, encode_carries, encode_cost_carries,
    encode_rating,
};
pub use refill::{
    decode_auto_top_up, decode_recurring_grants, encode_auto_top_up, encode_recurring_grants,
};

/// A stored value that does not read back (a damaged row, or a newer release's).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Name(#[from] names::UnknownName),
    #[error("{0} is negative")]
    Negative(&'static str),
    #[error("not {0}")]
    Shape(&'static str),
}

pub(super) type Decoded<T> = Result<T, DecodeError>;

pub fn encode_outcome(outcome: &Outcome) -> String {
    to_json(&OutcomeV1::from(outcome))
}

pub fn decode_outcome(text: &str) -> Decoded<Outcome> {
    serde_json::from_str::<OutcomeV1>(text)?.try_into()
}

pub fn encode_event(data: &EventData) -> String {
    to_json(&EventV1::from(data))
}

pub fn decode_event(text: &str) -> Decoded<EventData> {
    Ok(serde_json::from_str::<EventV1>(text)?.into())
}

/// A lot's scope: a JSON array of meters.
pub fn encode_scope(scope: &[String]) -> String {
    to_json(&scope)
}

pub fn decode_scope(text: &str) -> Decoded<Vec<String>> {
    Ok(serde_json::from_str(text)?)
}

/// What a hold reserves: a JSON array of `{"lot_id": id or null, "quantity": amount}`.
pub fn encode_reserved(reserved: &[Draw]) -> String {
    to_json(&reserved.iter().map(DrawV1::from).collect::<Vec<_>>())
}

pub fn decode_reserved(text: &str) -> Decoded<Vec<Draw>> {
    let draws: Vec<DrawV1> = serde_json::from_str(text)?;
    Ok(draws.into_iter().map(Draw::from).collect())
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("stored values serialize")
}

pub(super) fn name<T: FromStr<Err = names::UnknownName>>(text: &str) -> Decoded<T> {
    Ok(text.parse()?)
}

/// Amounts as decimal strings, exactly as `Decimal` spells them (its scale kept), for serde's
/// `with`. Reading refuses a negative amount: no quantity, money or percentage is ever below
/// zero.
pub(super) mod stored_amount {
    use rust_decimal::Decimal;
    use serde::{de::Error, Deserializer, Serializer};

    use crate::ledger::amount::Amount;

    pub fn serialize<A: Amount, S: Serializer>(value: &A, s: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::str::serialize(&value.decimal(), s)
    }

    pub fn deserialize<'de, A: Amount, D: Deserializer<'de>>(d: D) -> Result<A, D::Error> {
        let value: Decimal = rust_decimal::serde::str::deserialize(d)?;
        A::from_decimal(value).ok_or_else(|| D::Error::custom("a negative amount"))
    }

    /// An amount that may be absent: written only when present (with
    /// `skip_serializing_if = "Option::is_none"`), read as `None` when the member is missing
    /// (with `default`).
    pub mod optional {
        use serde::{Deserialize, Deserializer, Serializer};

        use crate::ledger::amount::Amount;

        pub fn serialize<A: Amount, S: Serializer>(
            value: &Option<A>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => super::serialize(value, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, A: Amount, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<A>, D::Error> {
            #[derive(Deserialize)]
            struct Present<A: Amount>(#[serde(with = "super")] A);
            Ok(Option::<Present<A>>::deserialize(d)?.map(|Present(a)| a))
        }
    }
}

/// Unit and currency codes as their text, for serde's `with`; `optional` keeps "no currency" as
/// the empty string the first releases wrote.
pub(super) mod stored_code {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<C: Display, S: Serializer>(code: &C, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(code)
    }

    pub fn deserialize<'de, C, D>(d: D) -> Result<C, D::Error>
    where
        C: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        let text = <&str>::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }

    pub mod optional {
        use super::*;

        pub fn serialize<C: Display, S: Serializer>(
            code: &Option<C>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match code {
                Some(code) => s.collect_str(code),
                None => s.serialize_str(""),
            }
        }

        pub fn deserialize<'de, C, D>(d: D) -> Result<Option<C>, D::Error>
        where
            C: FromStr<Err: Display>,
            D: Deserializer<'de>,
        {
            match <&str>::deserialize(d)? {
                "" => Ok(None),
                text => text.parse().map(Some).map_err(D::Error::custom),
            }
        }
    }
}

#[cfg(test)]
mod tests;
