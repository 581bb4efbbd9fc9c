//! What rating leaves in the store: an entry's rating (`entries.rating`), an outcome's rated
//! usage (inside `idempotency.outcome` and the entries' outcomes), and an account's carries
//! (`accounts.rating_carry`). Version 1, field by field; decimals as strings, the usage as an
//! object of dimension to amount in dimension order.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{to_json, DecodeError, Decoded};
use crate::ledger::code::Currency;
use crate::ledger::entry::{RatedCost, Rating};
use crate::ledger::rating::{Rated, RatedLine};

/// Version 1 of an entry's rating, as it is read.
#[derive(Deserialize)]
pub(super) struct RatingV1 {
    meter: String,
    #[serde(deserialize_with = "decimals::deserialize")]
    usage: BTreeMap<String, Decimal>,
    book: String,
    version: u32,
    #[serde(with = "rust_decimal::serde::str")]
    value: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    carried_in: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    carried_out: Decimal,
    // Only when the version priced the usage's upstream cost.
    #[serde(default)]
    cost: Option<RatedCostV1>,
}

#[derive(Deserialize)]
struct RatedCostV1 {
    currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    value: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    carried_in: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    carried_out: Decimal,
}

/// Version 1 as it is written: the same fields in the same order, borrowed from the rating
/// (it is written with every rated charge, for its hash and for its row).
#[derive(Serialize)]
struct RatingV1Out<'a> {
    meter: &'a str,
    #[serde(serialize_with = "decimals::serialize")]
    usage: &'a BTreeMap<String, Decimal>,
    book: &'a str,
    version: u32,
    #[serde(serialize_with = "shown")]
    value: &'a Decimal,
    #[serde(serialize_with = "shown")]
    carried_in: &'a Decimal,
    #[serde(serialize_with = "shown")]
    carried_out: &'a Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<RatedCostV1Out<'a>>,
}

#[derive(Serialize)]
struct RatedCostV1Out<'a> {
    #[serde(serialize_with = "shown")]
    currency: &'a Currency,
    #[serde(serialize_with = "shown")]
    value: &'a Decimal,
    #[serde(serialize_with = "shown")]
    carried_in: &'a Decimal,
    #[serde(serialize_with = "shown")]
    carried_out: &'a Decimal,
}

/// A value as the string it displays as, written without an intermediate `String`.
fn shown<T: std::fmt::Display, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

pub fn encode_rating(r: &Rating) -> String {
    to_json(&RatingV1Out {
        meter: &r.meter,
        usage: &r.usage,
        book: &r.book,
        version: r.version,
        value: &r.value,
        carried_in: &r.carried_in,
        carried_out: &r.carried_out,
        cost: r.cost.as_ref().map(|c| RatedCostV1Out {
            currency: &c.currency,
            value: &c.value,
            carried_in: &c.carried_in,
            carried_out: &c.carried_out,
        }),
    })
}

pub fn decode_rating(text: &str) -> Decoded<Rating> {
    let r: RatingV1 = serde_json::from_str(text)?;
    non_negative("usage", r.usage.values().copied())?;
    non_negative("rating", [r.value, r.carried_in, r.carried_out])?;
    let cost = match r.cost {
        None => None,
        Some(c) => {
            non_negative("cost", [c.value, c.carried_in, c.carried_out])?;
            Some(RatedCost {
                currency: c
                    .currency
                    .parse()
                    .map_err(|_| DecodeError::Shape("a currency"))?,
                value: c.value,
                carried_in: c.carried_in,
                carried_out: c.carried_out,
            })
        }
    };
    Ok(Rating {
        meter: r.meter,
        usage: r.usage,
        book: r.book,
        version: r.version,
        value: r.value,
        carried_in: r.carried_in,
        carried_out: r.carried_out,
        cost,
    })
}

fn non_negative(
    what: &'static str,
    values: impl IntoIterator<Item = Decimal>,
) -> Result<(), DecodeError> {
    match values
        .into_iter()
        .any(|v| v.is_sign_negative() && !v.is_zero())
    {
        true => Err(DecodeError::Negative(what)),
        false => Ok(()),
    }
}

/// How an outcome's usage was rated, kept with the outcome so that a retry is answered the same
/// figures whatever is published later. Compact, as it is written with every rated charge: an
/// array `[book, version, value, lines, cost]`, each line `[dimension, amount, block, price,
/// value]`, the cost `[currency, amount]` or null; decimals as strings.
#[derive(Serialize, Deserialize)]
pub(super) struct RatedV1(
    String,
    u32,
    String,
    Vec<(String, String, u64, String, String)>,
    Option<(String, String)>,
);

impl From<&Rated> for RatedV1 {
    fn from(r: &Rated) -> Self {
        RatedV1(
            r.book.clone(),
            r.version,
            r.value.to_string(),
            (r.lines.iter())
                .map(|l| {
                    (
                        l.dimension.clone(),
                        l.amount.to_string(),
                        l.block,
                        l.price.to_string(),
                        l.value.to_string(),
                    )
                })
                .collect(),
            r.cost
                .map(|(currency, amount)| (currency.to_string(), amount.to_string())),
        )
    }
}

impl TryFrom<RatedV1> for Rated {
    type Error = DecodeError;

    fn try_from(RatedV1(book, version, value, lines, cost): RatedV1) -> Decoded<Rated> {
        let amount = |text: &str| -> Decoded<Decimal> {
            let value: Decimal = text.parse().map_err(|_| DecodeError::Shape("an amount"))?;
            non_negative("rated", [value])?;
            Ok(value)
        };
        let cost = match cost {
            None => None,
            Some((currency, cost)) => Some((
                currency
                    .parse()
                    .map_err(|_| DecodeError::Shape("a currency"))?,
                amount(&cost)?,
            )),
        };
        let lines = (lines.into_iter())
            .map(|(dimension, quantity, block, price, value)| {
                Ok(RatedLine {
                    dimension,
                    amount: amount(&quantity)?,
                    block,
                    price: amount(&price)?,
                    value: amount(&value)?,
                })
            })
            .collect::<Decoded<Vec<_>>>()?;
        Ok(Rated {
            book,
            version,
            value: amount(&value)?,
            lines,
            cost,
        })
    }
}

/// An account's carries: a JSON object of meter to carried amount; the empty string when there
/// are none (every account before rating, and most after).
pub fn encode_carries(carries: &BTreeMap<String, Decimal>) -> String {
    match carries.is_empty() {
        true => String::new(),
        false => to_json(&CarriesOut(carries)),
    }
}

pub fn decode_carries(text: &str) -> Decoded<BTreeMap<String, Decimal>> {
    if text.is_empty() {
        return Ok(BTreeMap::new());
    }
    let Carries(carries) = serde_json::from_str(text)?;
    non_negative("carry", carries.values().copied())?;
    Ok(carries)
}

#[derive(Deserialize)]
struct Carries(#[serde(deserialize_with = "decimals::deserialize")] BTreeMap<String, Decimal>);

#[derive(Serialize)]
struct CarriesOut<'a>(
    #[serde(serialize_with = "decimals::serialize")] &'a BTreeMap<String, Decimal>,
);

/// An account's cost carries: a JSON array of `[meter, currency, amount]`, in meter and currency
/// order; the empty string when there are none.
pub fn encode_cost_carries(carries: &BTreeMap<(String, Currency), Decimal>) -> String {
    if carries.is_empty() {
        return String::new();
    }
    let rows: Vec<(&str, String, String)> = (carries.iter())
        .map(|((meter, currency), amount)| {
            (meter.as_str(), currency.to_string(), amount.to_string())
        })
        .collect();
    to_json(&rows)
}

pub fn decode_cost_carries(text: &str) -> Decoded<BTreeMap<(String, Currency), Decimal>> {
    if text.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<(String, String, String)> = serde_json::from_str(text)?;
    let mut carries = BTreeMap::new();
    for (meter, currency, amount) in rows {
        let currency = currency
            .parse()
            .map_err(|_| DecodeError::Shape("a currency"))?;
        let amount: Decimal = amount
            .parse()
            .map_err(|_| DecodeError::Shape("an amount"))?;
        non_negative("cost carry", [amount])?;
        carries.insert((meter, currency), amount);
    }
    Ok(carries)
}

/// A map of names to decimals, each decimal as its string.
mod decimals {
    use std::collections::BTreeMap;

    use rust_decimal::Decimal;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// In key order, each decimal written as it displays.
    pub fn serialize<S: Serializer>(
        map: &&BTreeMap<String, Decimal>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(Some(map.len()))?;
        for (k, v) in map.iter() {
            out.serialize_entry(k, &Shown(v))?;
        }
        out.end()
    }

    struct Shown<'a>(&'a Decimal);

    impl Serialize for Shown<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self.0)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Decimal>, D::Error> {
        let texts = BTreeMap::<String, String>::deserialize(d)?;
        texts
            .into_iter()
            .map(|(k, v)| v.parse().map(|v| (k, v)).map_err(serde::de::Error::custom))
            .collect()
    }
}
