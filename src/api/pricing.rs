//! `Pricing`: price book versions published whole and read back. A version published here is
//! rated by this server at once, and by the others within their `rates_refresh_ms`.

use std::sync::Arc;

use tonic::{Code, Request, Response, Status};

use super::convert as c;
use super::status::with_metadata;
use super::Services;
use crate::ledger::rating::{Retired, Version, DEFAULT_BOOK};
use crate::proto as p;
use crate::rates::{self, RateText, RatesError};

pub struct PricingService(pub Arc<Services>);

#[tonic::async_trait]
impl p::pricing_server::Pricing for PricingService {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn publish_price_version(
        &self,
        request: Request<p::PublishPriceVersionRequest>,
    ) -> Result<Response<p::PublishPriceVersionResponse>, Status> {
        let r = request.into_inner();
        let idempotency_key = c::key(r.idempotency_key)?;
        let book = book(r.book)?;
        let effective_at = c::opt_stored_time("effective_at", r.effective_at)?;
        let mut prices = Vec::with_capacity(r.prices.len());
        for (i, price) in r.prices.into_iter().enumerate() {
            let at = format!("prices[{i}]");
            let text = RateText {
                meter: price.meter,
                dimension: price.dimension,
                unit: price.unit,
                block: price.block,
                price: price.price,
                cost: price.cost,
                currency: price.currency,
            };
            prices.push((at.clone(), text.parse(&at).map_err(status)?));
        }
        let retired = (r.retired.into_iter().enumerate())
            .map(|(i, r)| {
                rates::retirement(&format!("retired[{i}]"), &r.meter, &r.dimension).map_err(status)
            })
            .collect::<Result<Vec<Retired>, Status>>()?;
        let request = rates::Request {
            book,
            idempotency_key,
            effective_at,
            rates: prices,
            retired,
        };
        let now = self.0.clock.now();
        let version = rates::publish(&self.0.store, request, now)
            .await
            .map_err(status)?;
        self.0.prices.add(version.clone());
        tracing::info!(book = %version.book, version = version.version, "price version published");
        Ok(Response::new(p::PublishPriceVersionResponse {
            version: Some(price_version(&version)),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn get_price_version(
        &self,
        request: Request<p::GetPriceVersionRequest>,
    ) -> Result<Response<p::GetPriceVersionResponse>, Status> {
        let r = request.into_inner();
        let book = book(r.book)?;
        let at = c::opt_time("at", r.at)?;
        let catalog = self.0.prices.current();
        let found = match r.version {
            0 => catalog.in_force(&book, at.unwrap_or_else(|| self.0.clock.now())),
            number => catalog.version(&book, number),
        };
        let found = found.ok_or_else(|| {
            with_metadata(
                Code::NotFound,
                "PRICE_VERSION_NOT_FOUND",
                &format!("price book {book:?} has no such version"),
                &[("book", book.clone()), ("version", r.version.to_string())],
            )
        })?;
        Ok(Response::new(p::GetPriceVersionResponse {
            version: Some(price_version(found)),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_price_versions(
        &self,
        request: Request<p::ListPriceVersionsRequest>,
    ) -> Result<Response<p::ListPriceVersionsResponse>, Status> {
        let book = book(request.into_inner().book)?;
        let catalog = self.0.prices.current();
        Ok(Response::new(p::ListPriceVersionsResponse {
            versions: catalog
                .versions(&book)
                .iter()
                .map(|v| price_version(v))
                .collect(),
        }))
    }
}

/// A book's name; empty is the default book.
fn book(name: String) -> Result<String, Status> {
    match name.as_str() {
        "" => Ok(DEFAULT_BOOK.to_string()),
        _ => Ok(c::text("book", name, c::TextRule::ID)?),
    }
}

fn price_version(v: &Version) -> p::PriceVersion {
    p::PriceVersion {
        book: v.book.clone(),
        version: v.version,
        effective_at: Some(c::timestamp(v.effective_at)),
        published_at: Some(c::timestamp(v.published_at)),
        prices: (v.rates.iter())
            .map(|r| p::Price {
                meter: r.meter.clone(),
                dimension: r.dimension.clone(),
                unit: r.unit.to_string(),
                block: r.block,
                price: c::amount(r.price),
                cost: r
                    .cost
                    .as_ref()
                    .map(|c| c::amount(c.amount))
                    .unwrap_or_default(),
                currency: (r.cost.as_ref())
                    .map(|c| c.currency.to_string())
                    .unwrap_or_default(),
            })
            .collect(),
    }
}

/// A refused version names what is wrong as the request spells it (`prices[i]`, `retired[i]`,
/// `effective_at`, or `prices` for the version as a whole).
fn status(error: RatesError) -> Status {
    match error {
        RatesError::Refused(refused) => {
            let at = match refused.at.as_str() {
                "rates" => "prices".to_string(),
                at => at.to_string(),
            };
            with_metadata(
                Code::InvalidArgument,
                "INVALID_PRICE_VERSION",
                &format!("{at}: {}", refused.reason),
                &[("field", at.clone())],
            )
        }
        RatesError::KeyReused { book, key, version } => with_metadata(
            Code::AlreadyExists,
            "IDEMPOTENCY_CONFLICT",
            &format!(
                "key {key:?} already published version {version} of {book:?} with other prices"
            ),
            &[("book", book), ("version", version.to_string())],
        ),
        RatesError::Raced(book) => with_metadata(
            Code::Aborted,
            "CONCURRENT_PUBLISH",
            &format!("another version of {book:?} was published at the same time; publish again"),
            &[("book", book)],
        ),
        RatesError::Store(error) => error.into(),
    }
}
