//! Closed periods: the one row that says up to when the books are closed (`books_closed`), each
//! closed month's head (`period_closes`) and its snapshot (`period_lines`). A close is two
//! transactions: the first moves `closed_until` under an exclusive lock (every batch reads it
//! under a shared one, so no batch that could still post inside the month is in flight once it
//! commits) and records the month as closing; the second writes the snapshot and its hash.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::Connection as _;

use super::rows::{int, micros, opt_parsed, parsed, text, time};
use super::sql::{col, select, write_all, Column, Kind, RowSet, Value};
use super::{Store, StoreResult};
use crate::ledger::{AccountId, Book, Code, LotId};

const CLOSE_COLUMNS: &[Column] = &[
    col("period", Kind::Text),
    col("period_start", Kind::Time),
    col("period_end", Kind::Time),
    col("closed_at", Kind::Time),
    col("status", Kind::Text),
    col("last_seq", Kind::Int),
    col("last_hash", Kind::Text),
    col("lines", Kind::Int),
    col("prev_hash", Kind::Text),
    col("hash", Kind::Text),
];

pub(super) const LINE_COLUMNS: &[Column] = &[
    col("account_id", Kind::Id),
    col("period", Kind::Text),
    col("line", Kind::Int),
    col("book", Kind::Text),
    col("ledger_account", Kind::Text),
    col("unit", Kind::Text),
    col("lot_id", Kind::Id),
    col("debits", Kind::Amount),
    col("credits", Kind::Amount),
];

/// A closed (or closing) month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodClose {
    /// `YYYY-MM`.
    pub period: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub closed_at: DateTime<Utc>,
    /// Its snapshot is written: `closing` until then.
    pub closed: bool,
    /// The last entry (by sequence) its snapshot covers, and that entry's hash.
    pub last_seq: i64,
    pub last_hash: String,
    pub lines: i64,
    /// The month before's hash (empty for the first close).
    pub prev_hash: String,
    pub hash: String,
}

/// One line of a snapshot: what one customer's postings to one ledger account, in one unit or
/// currency and for one lot, add up to, effective before the period's end.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PeriodLine {
    pub account_id: AccountId,
    pub book: Book,
    pub ledger_account: String,
    pub unit: Code,
    pub lot_id: Option<LotId>,
    pub debits: Decimal,
    pub credits: Decimal,
}

fn close_from_row(row: &sqlx::any::AnyRow) -> StoreResult<PeriodClose> {
    Ok(PeriodClose {
        period: text(row, "period")?,
        start: time(row, "period_start")?,
        end: time(row, "period_end")?,
        closed_at: time(row, "closed_at")?,
        closed: text(row, "status")? == "closed",
        last_seq: int(row, "last_seq")?,
        last_hash: text(row, "last_hash")?,
        lines: int(row, "lines")?,
        prev_hash: text(row, "prev_hash")?,
        hash: text(row, "hash")?,
    })
}

fn close_values(c: &PeriodClose) -> Vec<Value> {
    vec![
        Value::Text(c.period.clone()),
        Value::Int(micros(c.start)),
        Value::Int(micros(c.end)),
        Value::Int(micros(c.closed_at)),
        Value::Text(if c.closed { "closed" } else { "closing" }.into()),
        Value::Int(c.last_seq),
        Value::Text(c.last_hash.clone()),
        Value::Int(c.lines),
        Value::Text(c.prev_hash.clone()),
        Value::Text(c.hash.clone()),
    ]
}

/// A month's head, as its row is written.
fn head_row(close: &PeriodClose) -> RowSet<'static> {
    RowSet {
        table: "period_closes",
        columns: CLOSE_COLUMNS,
        suffix: String::new(),
        rows: vec![close_values(close)],
    }
}

impl Store {
    /// Every closed or closing month, oldest first.
    pub async fn period_closes(&self) -> StoreResult<Vec<PeriodClose>> {
        let sql = format!(
            "SELECT {} FROM period_closes ORDER BY period_end",
            self.columns(CLOSE_COLUMNS)
        );
        let rows = select(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(close_from_row).collect()
    }

    /// Closes the books up to `close.end` (never moving the close back) and records the month
    /// as closing. Once this commits, no batch books anything effective before `close.end`.
    /// Whether this call recorded the month (false: it was recorded already, by another close).
    pub async fn begin_close(&self, close: &PeriodClose) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        // Waits for the batches in flight, which hold ROW SHARE on it from their first
        // statement, and keeps new ones waiting until the close has moved. (SQLite has one
        // writer at a time: the update below takes its write lock first.)
        if self.dialect == super::Dialect::Postgres {
            select("LOCK TABLE books_closed IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let update = format!(
            "UPDATE books_closed SET closed_until = {p} WHERE name = 'books' \
             AND (closed_until IS NULL OR closed_until < {p})",
            p = self.param(1, Kind::Time)
        );
        select(&update)
            .bind(micros(close.end))
            .execute(&mut *tx)
            .await?;
        let found = select("SELECT period FROM period_closes WHERE period = $1")
            .bind(close.period.clone())
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            write_all(&mut tx, self.dialect, vec![head_row(close)]).await?;
        }
        tx.commit().await?;
        Ok(found.is_none())
    }

    /// Writes a month's snapshot and its head, now closed.
    pub async fn finish_close(&self, close: &PeriodClose, lines: &[PeriodLine]) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        for table in ["period_lines", "period_closes"] {
            select(&format!("DELETE FROM {table} WHERE period = $1"))
                .bind(close.period.clone())
                .execute(&mut *tx)
                .await?;
        }
        write_all(&mut tx, self.dialect, vec![head_row(close)]).await?;
        // `line` numbers each customer's lines of the month.
        let mut numbers: std::collections::HashMap<AccountId, i64> = Default::default();
        for chunk in lines.chunks(1_000) {
            let rows = (chunk.iter())
                .map(|l| {
                    let line = numbers.entry(l.account_id).or_default();
                    *line += 1;
                    vec![
                        Value::Text(l.account_id.to_string()),
                        Value::Text(close.period.clone()),
                        Value::Int(*line),
                        Value::Text(l.book.as_str().into()),
                        Value::Text(l.ledger_account.clone()),
                        Value::Text(l.unit.to_string()),
                        Value::OptText(l.lot_id.map(|id| id.to_string())),
                        Value::Text(l.debits.to_string()),
                        Value::Text(l.credits.to_string()),
                    ]
                })
                .collect();
            let set = RowSet {
                table: "period_lines",
                columns: LINE_COLUMNS,
                suffix: String::new(),
                rows,
            };
            write_all(&mut tx, self.dialect, vec![set]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A month's snapshot, in line order.
    pub async fn period_lines(&self, period: &str) -> StoreResult<Vec<PeriodLine>> {
        self.lines_where(period, None).await
    }

    /// One customer's lines of a month's snapshot, in line order.
    pub async fn period_lines_of(
        &self,
        period: &str,
        account_id: AccountId,
    ) -> StoreResult<Vec<PeriodLine>> {
        self.lines_where(period, Some(account_id)).await
    }

    async fn lines_where(
        &self,
        period: &str,
        account_id: Option<AccountId>,
    ) -> StoreResult<Vec<PeriodLine>> {
        let account = match account_id {
            Some(_) => format!(" AND account_id = {}", self.param(2, Kind::Id)),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {} FROM period_lines WHERE period = $1{account}",
            self.columns(LINE_COLUMNS)
        );
        let mut query = select(&sql).bind(period.to_string());
        if let Some(id) = account_id {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut lines: Vec<PeriodLine> =
            rows.iter().map(line_from_row).collect::<StoreResult<_>>()?;
        lines.sort();
        Ok(lines)
    }
}

pub(super) fn line_from_row(row: &sqlx::any::AnyRow) -> StoreResult<PeriodLine> {
    Ok(PeriodLine {
        account_id: parsed(row, "account_id")?,
        book: parsed(row, "book")?,
        ledger_account: text(row, "ledger_account")?,
        unit: parsed(row, "unit")?,
        lot_id: opt_parsed(row, "lot_id")?,
        debits: parsed(row, "debits")?,
        credits: parsed(row, "credits")?,
    })
}

impl Store {
    /// The external ids of `ids`, a thousand at a time (reports name customers by them).
    pub async fn external_ids_of(
        &self,
        ids: &[AccountId],
    ) -> StoreResult<std::collections::HashMap<AccountId, String>> {
        let mut found = std::collections::HashMap::new();
        let mut unique: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(1_000) {
            let sql = format!(
                "SELECT {} FROM accounts WHERE id IN ({})",
                self.columns(&[col("id", Kind::Id), col("external_id", Kind::Text)]),
                super::sql::placeholders(self.dialect, 1, chunk.len(), Kind::Id)
            );
            let mut query = select(&sql);
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.insert(parsed(&row, "id")?, text(&row, "external_id")?);
            }
        }
        Ok(found)
    }
}

impl Store {
    /// The hash of the entry with global sequence `seq`, if there is one.
    pub async fn entry_hash_at(&self, seq: i64) -> StoreResult<Option<String>> {
        let row = select("SELECT hash FROM entries WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| text(&r, "hash")).transpose()
    }
}
