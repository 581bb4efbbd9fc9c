//! Publishing price book versions and reading them back, straight on the database: for the
//! `credit-ledger rates` commands, from a TOML or CSV file. A running server picks a new
//! version up at its next catalog reload.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::api::convert::TextRule;
use crate::ledger::amount::parse_decimal;
use crate::ledger::rating::{self, Catalog, Cost, Draft, DraftError, Rate, Retired, Version};
use crate::ledger::LedgerError;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RatesError {
    /// The file or request is not a version, or not one that may follow the version in force:
    /// `at` names the line, the price or the field that is wrong.
    #[error(transparent)]
    Refused(#[from] DraftError),
    #[error("key {key:?} already published version {version} of book {book:?} with other prices")]
    KeyReused {
        book: String,
        key: String,
        version: u32,
    },
    #[error("another version of book {0:?} was published at the same time; publish again")]
    Raced(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The catalog a server rates by, in memory: the executor takes the current one for each batch,
/// so rating never reads the database. Replaced whole when the store holds versions it lacks
/// (`refresh`), and at once with a version this server publishes.
#[derive(Debug, Clone, Default)]
pub struct Prices(Arc<RwLock<Arc<Catalog>>>);

impl Prices {
    pub fn current(&self) -> Arc<Catalog> {
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Adds a version this server just published.
    pub fn add(&self, version: Version) {
        let mut held = self.0.write().unwrap_or_else(|e| e.into_inner());
        let mut catalog = Catalog::clone(&held);
        catalog.add(version);
        *held = Arc::new(catalog);
    }

    /// Loads every version when the store holds more than the catalog; answers how many are held.
    pub async fn reload(&self, store: &Store) -> Result<usize, StoreError> {
        let stored = store.price_version_count().await?;
        let held = self.current().len();
        if usize::try_from(stored).is_ok_and(|n| n == held) {
            return Ok(held);
        }
        let mut catalog = Catalog::default();
        for version in store.price_versions().await? {
            catalog.add(version);
        }
        let count = catalog.len();
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        Ok(count)
    }

    /// Reloads every `every` until `stop`: a version published on another instance is rated by
    /// this one within that long.
    pub async fn refresh(
        self,
        store: Store,
        every: Duration,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        crate::clock::every(every, stop, || async {
            if let Err(error) = self.reload(&store).await {
                tracing::warn!(%error, "reloading the price books failed; keeping the ones held");
            }
        })
        .await
    }
}

/// What a request or a file asks to publish, before it is checked against the book.
#[derive(Debug, Clone)]
pub struct Request {
    pub book: String,
    pub idempotency_key: String,
    /// Now when not given; never before now (a price applies to what has not been rated yet).
    pub effective_at: Option<DateTime<Utc>>,
    pub rates: Vec<(String, Rate)>,
    pub retired: Vec<Retired>,
}

/// Publishes a version of `request.book` as the next number, checked against the version in
/// force at its `effective_at`. A retry with the same key and the same prices gets the version it
/// published; the same key with other prices is refused.
pub async fn publish(
    store: &Store,
    request: Request,
    now: DateTime<Utc>,
) -> Result<Version, RatesError> {
    let mut catalog = Catalog::default();
    for version in store.price_versions().await? {
        catalog.add(version);
    }
    let book = &request.book;
    if let Some(done) =
        (catalog.versions(book).iter()).find(|v| v.idempotency_key == request.idempotency_key)
    {
        let mut asked: Vec<&Rate> = request.rates.iter().map(|(_, r)| r).collect();
        asked.sort_by(|a, b| {
            (&a.meter, &a.dimension, a.unit).cmp(&(&b.meter, &b.dimension, b.unit))
        });
        let same = asked.into_iter().eq(done.rates.iter())
            && request
                .effective_at
                .is_none_or(|at| at == done.effective_at);
        return match same {
            true => Ok(Version::clone(done)),
            false => Err(RatesError::KeyReused {
                book: book.clone(),
                key: request.idempotency_key,
                version: done.version,
            }),
        };
    }
    let effective_at = request.effective_at.unwrap_or(now);
    if effective_at < now {
        return Err(refused(
            "effective_at",
            format!("{effective_at} is in the past: a version applies from now on"),
        ));
    }
    let in_force = catalog.in_force(book, effective_at).cloned();
    let draft = Draft {
        book: book.clone(),
        idempotency_key: request.idempotency_key,
        effective_at,
        rates: request.rates,
        retired: request.retired,
    };
    let version = rating::publish(draft, in_force.as_deref(), catalog.next_number(book), now)?;
    match store.publish_prices(&version).await {
        Ok(()) => Ok(version),
        Err(StoreError::UniqueViolation { .. }) => Err(RatesError::Raced(book.clone())),
        Err(error) => Err(error.into()),
    }
}

fn refused(at: &str, reason: impl Into<String>) -> RatesError {
    RatesError::Refused(DraftError {
        at: at.to_string(),
        reason: reason.into(),
    })
}

/// A book name, a meter or a dimension: an identifier (1 to 256 bytes, no control characters,
/// no padding).
fn ident(at: &str, field: &'static str, value: &str) -> Result<(), RatesError> {
    TextRule::ID
        .check(field, value)
        .map_err(|e| refused(at, e.to_string()))
}

/// One rate as a file or request spells it, each field as text.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateText {
    pub meter: String,
    pub dimension: String,
    pub unit: String,
    pub block: u64,
    pub price: String,
    #[serde(default)]
    pub cost: String,
    #[serde(default)]
    pub currency: String,
}

impl RateText {
    /// The rate, or what is wrong with it, named by `at`.
    pub fn parse(&self, at: &str) -> Result<Rate, RatesError> {
        let bad = |reason: String| refused(at, reason);
        ident(at, "meter", &self.meter)?;
        ident(at, "dimension", &self.dimension)?;
        let unit = (self.unit.parse()).map_err(|e| bad(format!("unit: {e}")))?;
        let amount = |field: &'static str, text: &str| -> Result<Decimal, RatesError> {
            // "2.50" and "2.5" are one price, stored one way.
            (parse_decimal(field, text).map(|d| d.normalize()))
                .map_err(|e| bad(LedgerError::from(e).to_string()))
        };
        let price = amount("price", &self.price)?;
        let cost = match (self.cost.as_str(), self.currency.as_str()) {
            ("", "") => None,
            ("", _) => return Err(bad("a currency without a cost".into())),
            (_, "") => return Err(bad("a cost needs its currency".into())),
            (cost, currency) => Some(Cost {
                amount: amount("cost", cost)?,
                currency: currency
                    .parse()
                    .map_err(|e| bad(format!("currency: {e}")))?,
            }),
        };
        Ok(Rate {
            meter: self.meter.clone(),
            dimension: self.dimension.clone(),
            unit,
            block: self.block,
            price,
            cost,
        })
    }
}

/// `meter` retires a whole meter, `meter/dimension` one dimension.
pub fn retired(text: &str) -> Result<Retired, RatesError> {
    let (meter, dimension) = text.rsplit_once('/').unwrap_or((text, ""));
    retirement(text, meter, dimension)
}

/// A meter (an empty `dimension`) or one of its dimensions to retire; a refusal names `at`.
pub fn retirement(at: &str, meter: &str, dimension: &str) -> Result<Retired, RatesError> {
    ident(at, "meter", meter)?;
    if !dimension.is_empty() {
        ident(at, "dimension", dimension)?;
    }
    Ok(Retired {
        meter: meter.into(),
        dimension: dimension.into(),
    })
}

/// A rates file as TOML: `effective_at` (RFC 3339, optional), `retired` (optional, as for
/// [`retired`]) and `[[rates]]` tables of the fields of [`RateText`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    effective_at: Option<toml::value::Datetime>,
    #[serde(default)]
    retired: Vec<String>,
    rates: Vec<toml::Spanned<RateText>>,
}

/// What a file says: its rates, each named by the line it starts on, its retirements and its
/// effective time.
#[derive(Debug, Default)]
pub struct FileRates {
    pub rates: Vec<(String, Rate)>,
    pub retired: Vec<Retired>,
    pub effective_at: Option<DateTime<Utc>>,
}

/// Reads a rates file: `.csv` (a header `meter,dimension,unit,block,price,cost,currency`, one
/// rate a line) or otherwise TOML.
pub fn read_file(path: &Path) -> Result<FileRates, RatesError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| refused(&path.display().to_string(), e.to_string()))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => from_csv(&text),
        _ => from_toml(&text),
    }
}

pub fn from_toml(text: &str) -> Result<FileRates, RatesError> {
    let file: TomlFile = toml::from_str(text).map_err(|e| refused("file", e.to_string()))?;
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let rates = (file.rates.iter())
        .map(|spanned| {
            let at = format!("line {}", line_of(spanned.span().start));
            spanned.get_ref().parse(&at).map(|rate| (at, rate))
        })
        .collect::<Result<_, _>>()?;
    let effective_at = match file.effective_at {
        None => None,
        Some(at) => Some(
            DateTime::parse_from_rfc3339(&at.to_string())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    refused(
                        "effective_at",
                        format!("{at} is not an RFC 3339 time ({e})"),
                    )
                })?,
        ),
    };
    Ok(FileRates {
        rates,
        retired: (file.retired.iter())
            .map(|r| retired(r))
            .collect::<Result<_, _>>()?,
        effective_at,
    })
}

pub fn from_csv(text: &str) -> Result<FileRates, RatesError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = (reader.headers().cloned()).map_err(|e| refused("line 1", e.to_string()))?;
    let mut rates = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| refused("file", e.to_string()))?;
        let at = format!("line {}", record.position().map_or(0, |p| p.line()));
        let row: RateText =
            (record.deserialize(Some(&headers))).map_err(|e| refused(&at, e.to_string()))?;
        rates.push((at.clone(), row.parse(&at)?));
    }
    Ok(FileRates {
        rates,
        ..FileRates::default()
    })
}

/// One line of `rates list`: a version, when it applies, when it was published.
pub fn line(version: &Version) -> String {
    format!(
        "{}\tv{}\teffective {}\tpublished {}\t{} prices",
        version.book,
        version.version,
        version.effective_at.to_rfc3339(),
        version.published_at.to_rfc3339(),
        version.rates.len()
    )
}

/// `rates show`: the version's prices, one a line.
pub fn shown(version: &Version) -> String {
    let mut out = line(version);
    for rate in &version.rates {
        out.push('\n');
        out.push_str(&rate.to_string());
    }
    out
}
