//! The price books: versions published whole in one transaction, and read whole by every
//! server's catalog (`rating::Catalog`), never on the hot path.

use std::collections::BTreeMap;

use super::rows::*;
use super::sql::{select, write_all, RowSet};
use super::{Store, StoreResult};
use crate::ledger::rating::{Rate, Version};

impl Store {
    /// Writes a version and its prices. A version of the same book and number written first by
    /// someone else is a `UniqueViolation`, and nothing of this one is kept.
    pub async fn publish_prices(&self, version: &Version) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let head = RowSet {
            table: "price_versions",
            columns: PRICE_VERSION_COLUMNS,
            suffix: String::new(),
            rows: vec![price_version_values(version)],
        };
        let prices = RowSet {
            table: "prices",
            columns: PRICE_COLUMNS,
            suffix: String::new(),
            rows: (version.rates.iter())
                .map(|rate| price_values(version, rate))
                .collect(),
        };
        // The version before its prices: the prices' foreign key names it.
        write_all(&mut tx, self.dialect(), vec![head]).await?;
        write_all(&mut tx, self.dialect(), vec![prices]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every published version of every book, each with its prices.
    pub async fn price_versions(&self) -> StoreResult<Vec<Version>> {
        let sql = format!(
            "SELECT {} FROM price_versions ORDER BY book, version",
            self.columns(PRICE_VERSION_COLUMNS)
        );
        let heads = select(&sql).fetch_all(&self.pool).await?;
        let sql = format!(
            "SELECT {} FROM prices ORDER BY book, version, meter, dimension, unit",
            self.columns(PRICE_COLUMNS)
        );
        let prices = select(&sql).fetch_all(&self.pool).await?;
        let mut rates: BTreeMap<(String, i64), Vec<Rate>> = BTreeMap::new();
        for row in &prices {
            let (book, version, rate) = price_from_row(row)?;
            rates.entry((book, version)).or_default().push(rate);
        }
        heads
            .iter()
            .map(|row| {
                let mut version = price_version_from_row(row)?;
                let key = (version.book.clone(), i64::from(version.version));
                version.rates = rates.remove(&key).unwrap_or_default();
                Ok(version)
            })
            .collect()
    }

    /// The number of versions published, for a cache to see whether it has them all.
    pub async fn price_version_count(&self) -> StoreResult<i64> {
        let row = select("SELECT COUNT(*) AS n FROM price_versions")
            .fetch_one(&self.pool)
            .await?;
        int(&row, "n")
    }
}
