//! Reads that go straight to the store, never through the executor: accounts, lots, balances and
//! the journal of an account.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::rows::*;
use super::sql::{select, Kind};
use super::{Store, StoreResult};
use crate::ledger::*;

impl Store {
    pub async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        let sql = format!(
            "SELECT {} FROM accounts WHERE id = {}",
            self.columns(ACCOUNT_COLUMNS),
            self.param(1, Kind::Id)
        );
        let row = select(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The account an external id names, found through the id's directory row.
    pub async fn account_by_external_id(&self, external_id: &str) -> StoreResult<Option<Account>> {
        let sql = format!(
            "SELECT {} FROM accounts WHERE id = \
             (SELECT account_id FROM account_external_ids WHERE external_id = $1)",
            self.columns(ACCOUNT_COLUMNS),
        );
        let row = select(&sql)
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Accounts in id order after `after`, at most `limit`.
    pub async fn list_accounts(
        &self,
        after: Option<AccountId>,
        limit: u32,
    ) -> StoreResult<Vec<Account>> {
        let after = after.map(|a| a.to_string());
        let rows = self.account_rows(&self.pool, after, limit).await?;
        rows.iter().map(account_from_row).collect()
    }

    /// Account rows in id order after the id `after` (from the first when `None`), at most
    /// `limit`, through `conn` (the pool, or a snapshot's transaction).
    pub(super) async fn account_rows<'e>(
        &self,
        conn: impl sqlx::Executor<'e, Database = sqlx::Any>,
        after: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let columns = self.columns(ACCOUNT_COLUMNS);
        let rows = match after {
            Some(after) => {
                let sql = format!(
                    "SELECT {columns} FROM accounts WHERE id > {} ORDER BY id LIMIT $2",
                    self.param(1, Kind::Id)
                );
                select(&sql)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(conn)
                    .await?
            }
            None => {
                let sql = format!("SELECT {columns} FROM accounts ORDER BY id LIMIT $1");
                select(&sql).bind(i64::from(limit)).fetch_all(conn).await?
            }
        };
        Ok(rows)
    }

    /// An account's lots in creation order (ids are time-ordered) after `after`, at most `limit`.
    pub async fn list_lots(
        &self,
        account: AccountId,
        include_inactive: bool,
        after: Option<LotId>,
        limit: u32,
    ) -> StoreResult<Vec<Lot>> {
        let status = match include_inactive {
            true => String::new(),
            false => format!(" AND status = '{}'", LotStatus::Active),
        };
        // From the first lot when there is no cursor (the nil id is below every other).
        let sql = format!(
            "SELECT {} FROM lots WHERE account_id = {} AND id > {}{status} ORDER BY id LIMIT $3",
            self.columns(LOT_COLUMNS),
            self.param(1, Kind::Id),
            self.param(2, Kind::Id),
        );
        let after = after.map(|a| a.0).unwrap_or(uuid::Uuid::nil());
        let rows = select(&sql)
            .bind(account.to_string())
            .bind(after.to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(lot_from_row).collect()
    }

    /// The account as the engine would see it at `now`: its live lots, with the holds that have
    /// expired but not yet been written back already let go.
    pub async fn account_book(
        &self,
        id: AccountId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AccountBook>> {
        let Some(account) = self.account(id).await? else {
            return Ok(None);
        };
        let lots = self.list_lots(id, false, None, u32::MAX).await?;
        let sql = format!(
            "SELECT {} FROM holds WHERE account_id = {} AND status = '{}' AND expires_at <= {}",
            self.columns(HOLD_COLUMNS),
            self.param(1, Kind::Id),
            HoldStatus::Open,
            self.param(2, Kind::Time),
        );
        let rows = select(&sql)
            .bind(id.to_string())
            .bind(micros(now))
            .fetch_all(&self.pool)
            .await?;
        let holds = rows.iter().map(hold_from_row).collect::<StoreResult<_>>()?;
        Ok(Some(AccountBook::new(account, lots, holds, now)))
    }

    /// A hold by id, its account found through the hold's directory row.
    pub async fn hold(&self, id: HoldId) -> StoreResult<Option<Hold>> {
        let sql = format!(
            "SELECT {} FROM holds WHERE account_id = \
             (SELECT account_id FROM hold_accounts WHERE hold_id = {id}) AND id = {id}",
            self.columns(HOLD_COLUMNS),
            id = self.param(1, Kind::Id),
        );
        let row = select(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    /// Every entry of an account with its postings, in account order.
    pub async fn account_entries(&self, id: AccountId) -> StoreResult<Vec<Entry>> {
        let sql = format!(
            "SELECT {} FROM entries WHERE account_id = {} ORDER BY account_seq",
            self.columns(ENTRY_COLUMNS),
            self.param(1, Kind::Id),
        );
        let rows = select(&sql)
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// A commitment by id: a read off the hot path (on a table distributed by account, one probe
    /// per shard).
    pub async fn commitment(&self, id: CommitmentId) -> StoreResult<Option<Commitment>> {
        let sql = format!(
            "SELECT {} FROM commitments WHERE id = {}",
            self.columns(COMMITMENT_COLUMNS),
            self.param(1, Kind::Id),
        );
        let row = select(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(commitment_from_row).transpose()
    }

    /// A lot of an account by id, whatever its status.
    pub async fn lot(&self, account: AccountId, id: LotId) -> StoreResult<Option<Lot>> {
        let sql = format!(
            "SELECT {} FROM lots WHERE account_id = {} AND id = {}",
            self.columns(LOT_COLUMNS),
            self.param(1, Kind::Id),
            self.param(2, Kind::Id),
        );
        let row = select(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(lot_from_row).transpose()
    }

    /// Events after the cursor `after` in seq order, optionally of one account, at most `limit`.
    pub async fn events_after(
        &self,
        after: i64,
        account: Option<AccountId>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let columns = format!("seq, {}", self.columns(EVENT_COLUMNS));
        let rows = match account {
            Some(account) => {
                let sql = format!(
                    "SELECT {columns} FROM events WHERE account_id = {} AND seq > $2 \
                     ORDER BY seq LIMIT $3",
                    self.param(1, Kind::Id)
                );
                select(&sql)
                    .bind(account.to_string())
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql =
                    format!("SELECT {columns} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2");
                select(&sql)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(event_from_row).collect()
    }

    /// An account's events of the `kinds` given, oldest first (what its auto top-up requests
    /// are read from).
    pub async fn account_events_of(
        &self,
        account: AccountId,
        kinds: &[&str],
    ) -> StoreResult<Vec<StoredEvent>> {
        let columns = format!("seq, {}", self.columns(EVENT_COLUMNS));
        let listed: Vec<String> = kinds.iter().map(|k| format!("'{k}'")).collect();
        let sql = format!(
            "SELECT {columns} FROM events WHERE account_id = {} AND kind IN ({}) ORDER BY seq",
            self.param(1, Kind::Id),
            listed.join(", ")
        );
        let rows = select(&sql)
            .bind(account.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The last event's seq (0 when there is none): where a subscription "from now" starts.
    pub async fn events_head(&self) -> StoreResult<i64> {
        let row = select("SELECT COALESCE(MAX(seq), 0) AS head FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("head")?)
    }

    /// Accounts with something due at `now`: active lots past their expiry, open holds past
    /// their TTL, active commitments whose term has ended or whose notice period has begun and
    /// has not been given. At most `limit` of each kind.
    pub async fn sweep_candidates(
        &self,
        now: DateTime<Utc>,
        notice_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<AccountId>> {
        // The literals match the partial indexes the sweeper reads (see the migrations).
        let (now_p, notice_p) = (self.param(1, Kind::Time), self.param(2, Kind::Time));
        let account = format!(
            "{} AS account_id",
            (super::ops(self.dialect).read)("account_id", Kind::Id)
        );
        let queries = [
            format!(
                "SELECT DISTINCT {account} FROM lots \
                 WHERE status = '{}' AND expires_at <= {now_p} LIMIT $3",
                LotStatus::Active
            ),
            format!(
                "SELECT DISTINCT {account} FROM holds \
                 WHERE status = '{}' AND expires_at <= {now_p} LIMIT $3",
                HoldStatus::Open
            ),
            format!(
                "SELECT DISTINCT {account} FROM commitments WHERE status = '{}' \
                 AND (term_end <= {now_p} OR (NOT notified AND term_end <= {notice_p})) \
                 LIMIT $3",
                CommitmentStatus::Active
            ),
            // Work on the account's row itself (budget periods, auto top-up, recurring grants),
            // on accounts nothing else touched since.
            format!(
                "SELECT {} AS account_id FROM accounts \
                 WHERE due_at IS NOT NULL AND due_at <= {now_p} LIMIT $3",
                (super::ops(self.dialect).read)("id", Kind::Id)
            ),
        ];
        let mut accounts = std::collections::BTreeSet::new();
        for sql in &queries {
            let rows = select(sql)
                .bind(micros(now))
                .bind(micros(notice_until))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
            for row in &rows {
                let id: String = row.try_get("account_id")?;
                accounts.insert(
                    id.parse::<AccountId>().map_err(|e| {
                        super::StoreError::Corrupt(anyhow::anyhow!("account_id: {e}"))
                    })?,
                );
            }
        }
        Ok(accounts.into_iter().collect())
    }

    /// Counts the rows of one of the ledger's tables, for tests and reports.
    pub async fn count(&self, table: &str) -> StoreResult<i64> {
        const TABLES: [&str; 10] = [
            "accounts",
            "account_external_ids",
            "account_creations",
            "lots",
            "holds",
            "hold_accounts",
            "entries",
            "idempotency",
            "commitments",
            "events",
        ];
        assert!(TABLES.contains(&table), "not a ledger table: {table}");
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let row = select(&sql).fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }
}
