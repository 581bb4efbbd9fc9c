//! Rating: turning usage ("1,234 `input_tokens` of `chat:large`") into a quantity of credit by
//! a price book. A price book is named; it is made of immutable versions, each effective from a
//! time, each holding per meter, dimension and unit the price of a block of usage and optionally
//! the upstream cost of that block. Pure: the versions come in as values, the time as an argument.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use super::amount::{amount_max, canonical, MONEY_SCALE, UNIT_SCALE_MAX};
use super::code::{Currency, Unit};

/// The book an account without one of its own is rated by.
pub const DEFAULT_BOOK: &str = "default";

/// The decimals a rated value is kept to: far below any account's unit, so that what is carried
/// from one charge to the next (`charge`) loses nothing a customer could ever see.
pub const RATED_SCALE: u32 = 18;

/// The largest block: a price per trillion of anything is as fine as prices go.
pub const BLOCK_MAX: u64 = 1_000_000_000_000;

/// The price (and cost) of one block of one dimension of one meter, in one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub meter: String,
    pub dimension: String,
    pub unit: Unit,
    /// How much of the dimension the price is for, e.g. 1,000,000 tokens.
    pub block: u64,
    /// Credit of `unit` per block; zero is allowed (a free dimension).
    pub price: Decimal,
    /// What the block costs upstream, in money.
    pub cost: Option<Cost>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    pub currency: Currency,
    /// Per block, at most [`MONEY_SCALE`] decimals; zero is allowed.
    pub amount: Decimal,
}

/// A meter or one of its dimensions, retired on purpose by a new version (an empty dimension
/// retires the whole meter).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Retired {
    pub meter: String,
    pub dimension: String,
}

/// A version as it is asked to be published: `at[i]` says where `rates[i]` came from (`rates[3]`
/// of a request, `line 5` of a CSV file), so that a refusal names the line that is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub book: String,
    /// The publish's own key: a retry with it gets the version it published.
    pub idempotency_key: String,
    pub effective_at: DateTime<Utc>,
    pub rates: Vec<(String, Rate)>,
    pub retired: Vec<Retired>,
}

/// One published version: immutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub book: String,
    pub idempotency_key: String,
    /// 1, 2, … within its book, in publishing order.
    pub version: u32,
    pub effective_at: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
    /// Sorted by meter, dimension and unit; each at most once.
    pub rates: Vec<Rate>,
}

/// Why a version was refused; `at` names the rate (or field) that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct DraftError {
    pub at: String,
    pub reason: String,
}

fn refuse(at: &str, reason: impl Into<String>) -> DraftError {
    DraftError {
        at: at.to_string(),
        reason: reason.into(),
    }
}

/// Checks a draft on its own and against the version in force when it is published, and makes
/// it version `number` of its book.
///
/// Refused: no rate at all; a meter, dimension and unit listed twice; a block of zero or above
/// [`BLOCK_MAX`]; a negative price or one with more than [`UNIT_SCALE_MAX`] decimals; a negative
/// cost, one with more than [`MONEY_SCALE`] decimals, or one meter's costs in two currencies; a
/// meter or dimension of the version in force that the draft neither prices nor retires; a
/// retirement of something the version in force does not price, or that the draft prices.
pub fn publish(
    draft: Draft,
    in_force: Option<&Version>,
    number: u32,
    published_at: DateTime<Utc>,
) -> Result<Version, DraftError> {
    if draft.rates.is_empty() {
        return Err(refuse("rates", "a version prices at least one dimension"));
    }
    let mut seen = HashMap::new();
    let mut currencies: HashMap<&str, (Currency, &str)> = HashMap::new();
    for (at, rate) in &draft.rates {
        check_rate(at, rate)?;
        let key = (&rate.meter, &rate.dimension, rate.unit);
        if let Some(first) = seen.insert(key, at) {
            return Err(refuse(
                at,
                format!(
                    "{} {} in {} is priced twice (first at {first})",
                    rate.meter, rate.dimension, rate.unit
                ),
            ));
        }
        if let Some(cost) = &rate.cost {
            let first = currencies.entry(&rate.meter).or_insert((cost.currency, at));
            if first.0 != cost.currency {
                return Err(refuse(
                    at,
                    format!(
                        "the costs of meter {} are in {} at {}, and one meter's costs are in one \
                         currency",
                        rate.meter, first.0, first.1
                    ),
                ));
            }
        }
    }
    let priced: BTreeSet<(&str, &str)> = (draft.rates.iter())
        .map(|(_, r)| (r.meter.as_str(), r.dimension.as_str()))
        .collect();
    let meters: BTreeSet<&str> = priced.iter().map(|(m, _)| *m).collect();
    if let Some(current) = in_force {
        let before: BTreeSet<(&str, &str)> = (current.rates.iter())
            .map(|r| (r.meter.as_str(), r.dimension.as_str()))
            .collect();
        for (i, retired) in draft.retired.iter().enumerate() {
            let at = format!("retired[{i}]");
            let (meter, dimension) = (retired.meter.as_str(), retired.dimension.as_str());
            let known = match dimension {
                "" => before.iter().any(|(m, _)| *m == meter),
                _ => before.contains(&(meter, dimension)),
            };
            let still = match dimension {
                "" => meters.contains(meter),
                _ => priced.contains(&(meter, dimension)),
            };
            if !known {
                return Err(refuse(
                    &at,
                    format!("{} is not priced by the version in force", shown(retired)),
                ));
            }
            if still {
                return Err(refuse(
                    &at,
                    format!("{} is retired and priced at once", shown(retired)),
                ));
            }
        }
        let retired = |meter: &str, dimension: &str| {
            (draft.retired.iter())
                .any(|r| r.meter == meter && (r.dimension.is_empty() || r.dimension == dimension))
        };
        for (meter, dimension) in &before {
            if !priced.contains(&(*meter, *dimension)) && !retired(meter, dimension) {
                return Err(refuse(
                    "rates",
                    format!(
                        "{meter} {dimension} is priced by version {} in force and missing here; \
                         list it in retired to retire it on purpose",
                        current.version
                    ),
                ));
            }
        }
    } else if let Some(retired) = draft.retired.first() {
        return Err(refuse(
            "retired[0]",
            format!("{} is not priced by any version in force", shown(retired)),
        ));
    }
    let mut rates: Vec<Rate> = draft.rates.into_iter().map(|(_, r)| r).collect();
    rates.sort_by(|a, b| (&a.meter, &a.dimension, a.unit).cmp(&(&b.meter, &b.dimension, b.unit)));
    Ok(Version {
        book: draft.book,
        idempotency_key: draft.idempotency_key,
        version: number,
        effective_at: draft.effective_at,
        published_at,
        rates,
    })
}

fn shown(retired: &Retired) -> String {
    match retired.dimension.as_str() {
        "" => format!("meter {}", retired.meter),
        dimension => format!("{} {dimension}", retired.meter),
    }
}

fn check_rate(at: &str, rate: &Rate) -> Result<(), DraftError> {
    if rate.block == 0 || rate.block > BLOCK_MAX {
        return Err(refuse(
            at,
            format!("block must be 1 to {BLOCK_MAX}, got {}", rate.block),
        ));
    }
    check_decimal(at, "price", rate.price, UNIT_SCALE_MAX)?;
    if let Some(cost) = &rate.cost {
        check_decimal(at, "cost", cost.amount, MONEY_SCALE)?;
    }
    Ok(())
}

fn check_decimal(at: &str, what: &str, value: Decimal, scale: u32) -> Result<(), DraftError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(refuse(at, format!("{what} {value} is negative")));
    }
    if value.normalize().scale() > scale {
        return Err(refuse(
            at,
            format!("{what} {value} has more than {scale} decimals"),
        ));
    }
    if value > amount_max() {
        return Err(refuse(at, format!("{what} {value} is too large")));
    }
    Ok(())
}

/// Usage: how much of each dimension a request used (or may use), each amount at least zero.
pub type Usage = BTreeMap<String, Decimal>;

/// A usage rated by one version, for one meter and unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rated {
    pub book: String,
    pub version: u32,
    /// Σ of the lines' values, kept to [`RATED_SCALE`] decimals: what the usage is worth before
    /// the account's unit scale is applied.
    pub value: Decimal,
    /// In the usage's order (by dimension), zero amounts included.
    pub lines: Vec<RatedLine>,
    /// What the usage cost upstream, when the version says.
    pub cost: Option<(Currency, Decimal)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedLine {
    pub dimension: String,
    pub amount: Decimal,
    pub block: u64,
    pub price: Decimal,
    /// `amount / block × price`, to [`RATED_SCALE`] decimals.
    pub value: Decimal,
}

/// Why a usage could not be rated: a request's mistake, refused with what it got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    #[error("price book {book:?} has no version in force at {at}")]
    NoVersion { book: String, at: DateTime<Utc> },
    #[error("price book {book:?} version {version} does not price meter {meter:?} in {unit}")]
    UnknownMeter {
        book: String,
        version: u32,
        meter: String,
        unit: Unit,
    },
    #[error(
        "price book {book:?} version {version} does not price dimension {dimension:?} of meter \
         {meter:?} in {unit}"
    )]
    UnknownDimension {
        book: String,
        version: u32,
        meter: String,
        dimension: String,
        unit: Unit,
    },
    #[error("usage is empty")]
    NoUsage,
}

/// Rates `usage` of `meter` in `unit` by `version`. Every dimension of the usage must be priced
/// (a zero amount too: a misspelt dimension is a mistake, not a free one).
pub fn rate(
    version: &Version,
    meter: &str,
    unit: Unit,
    usage: &Usage,
) -> Result<Rated, RatingError> {
    if usage.is_empty() {
        return Err(RatingError::NoUsage);
    }
    let start = (version.rates).partition_point(|r| r.meter.as_str() < meter);
    let of_meter: Vec<&Rate> = (version.rates[start..].iter())
        .take_while(|r| r.meter == meter)
        .filter(|r| r.unit == unit)
        .collect();
    if of_meter.is_empty() {
        return Err(RatingError::UnknownMeter {
            book: version.book.clone(),
            version: version.version,
            meter: meter.to_string(),
            unit,
        });
    }
    let mut lines = Vec::with_capacity(usage.len());
    let mut cost: Option<(Currency, Decimal)> = None;
    for (dimension, &amount) in usage {
        let rate = (of_meter.iter())
            .find(|r| &r.dimension == dimension)
            .ok_or_else(|| RatingError::UnknownDimension {
                book: version.book.clone(),
                version: version.version,
                meter: meter.to_string(),
                dimension: dimension.clone(),
                unit,
            })?;
        let value = per_block(amount, rate.block, rate.price);
        if let Some(c) = &rate.cost {
            let spent = per_block(amount, rate.block, c.amount);
            let total = cost.get_or_insert((c.currency, Decimal::ZERO));
            total.1 = (total.1 + spent).normalize();
        }
        lines.push(RatedLine {
            dimension: dimension.clone(),
            amount,
            block: rate.block,
            price: rate.price,
            value,
        });
    }
    Ok(Rated {
        book: version.book.clone(),
        version: version.version,
        value: lines.iter().map(|l| l.value).sum::<Decimal>().normalize(),
        lines,
        cost,
    })
}

/// `amount / block × price` to [`RATED_SCALE`] decimals, half-even. Exact whenever the block is
/// a power of ten (amounts have at most 9 decimals, prices 9, blocks 12 digits); other blocks
/// (60 seconds) round in the 18th decimal.
fn per_block(amount: Decimal, block: u64, price: Decimal) -> Decimal {
    let block = Decimal::from(block);
    let value = match amount.checked_mul(price) {
        Some(product) => product / block,
        None => amount / block * price,
    };
    value
        .round_dp_with_strategy(RATED_SCALE, RoundingStrategy::MidpointNearestEven)
        .normalize()
}

/// What a rated value charges an account whose unit allows `scale` decimals, given what was
/// carried from its earlier charges of the same meter: the sum rounded down to the scale, and the
/// rest carried on. The carry stays below one unit of the scale, so over any run of charges the
/// account pays what the whole usage is worth, less under one unit.
pub fn charge(value: Decimal, carried: Decimal, scale: u32) -> (Decimal, Decimal) {
    let owed = value + carried;
    let charged = owed.round_dp_with_strategy(scale, RoundingStrategy::ToZero);
    (charged.normalize(), (owed - charged).normalize())
}

/// What a hold reserves for an estimate: the value rounded up to the scale, so that capturing
/// the estimate never needs more than was held.
pub fn reserve(value: Decimal, scale: u32) -> Decimal {
    value
        .round_dp_with_strategy(scale, RoundingStrategy::AwayFromZero)
        .normalize()
}

/// Every published version, by book: what rating reads, from memory.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Each book's versions in publishing order (`version` 1, 2, …).
    books: HashMap<String, Vec<Arc<Version>>>,
}

impl Catalog {
    /// Adds a version; one already held (same book and number) is left as it is.
    pub fn add(&mut self, version: Version) {
        let versions = self.books.entry(version.book.clone()).or_default();
        if versions.iter().any(|v| v.version == version.version) {
            return;
        }
        let at = versions.partition_point(|v| v.version < version.version);
        versions.insert(at, Arc::new(version));
    }

    /// The version of `book` in force at `at`: of those effective at or before it, the one
    /// effective last (the later published, when two are effective at once).
    pub fn in_force(&self, book: &str, at: DateTime<Utc>) -> Option<&Arc<Version>> {
        (self.books.get(book)?.iter())
            .filter(|v| v.effective_at <= at)
            .max_by_key(|v| (v.effective_at, v.version))
    }

    /// Rates `usage` of `meter`, in `unit`, at the version of `book` in force at `at`.
    pub fn rate_in_force(
        &self,
        book: &str,
        at: DateTime<Utc>,
        meter: &str,
        unit: Unit,
        usage: &Usage,
    ) -> Result<Rated, RatingError> {
        let version = self
            .in_force(book, at)
            .ok_or_else(|| RatingError::NoVersion {
                book: book.to_string(),
                at,
            })?;
        rate(version, meter, unit, usage)
    }

    pub fn version(&self, book: &str, version: u32) -> Option<&Arc<Version>> {
        let versions = self.books.get(book)?;
        versions
            .binary_search_by_key(&version, |v| v.version)
            .ok()
            .map(|i| &versions[i])
    }

    /// A book's versions in publishing order.
    pub fn versions(&self, book: &str) -> &[Arc<Version>] {
        self.books.get(book).map_or(&[], Vec::as_slice)
    }

    /// The number the next version of `book` gets.
    pub fn next_number(&self, book: &str) -> u32 {
        self.versions(book).last().map_or(1, |v| v.version + 1)
    }

    /// Whether any version of `book` prices anything in `unit`.
    pub fn prices_unit(&self, book: &str, unit: Unit) -> bool {
        (self.versions(book).iter()).any(|v| v.rates.iter().any(|r| r.unit == unit))
    }

    pub fn len(&self) -> usize {
        self.books.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} {} per {}",
            self.meter,
            self.dimension,
            canonical(self.price),
            self.unit,
            self.block
        )?;
        if let Some(cost) = &self.cost {
            write!(f, " (cost {} {})", canonical(cost.amount), cost.currency)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
