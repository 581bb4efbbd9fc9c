//! One batch's database work, inside its transaction: find the accounts the commands name, lock
//! them in id order, load what the engine needs, and write back everything it changed with a
//! handful of multi-row statements.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Connection, Row, Transaction};

use super::rows::*;
use super::sql::{self, padded, placeholders, write_all, RowSet, Value};
use super::{ops, Store, StoreError, StoreResult};
use crate::ledger::*;

/// The connection a batch loop keeps across batches, rather than taking one from the pool (and
/// pinging it) each time. After a failed batch it is let go, and the next batch takes a fresh one.
#[derive(Default)]
pub struct BatchConnection(Option<PoolConnection<Any>>);

impl BatchConnection {
    pub fn reset(&mut self) {
        self.0 = None;
    }
}

/// One batch's transaction: load what the commands need, write what the engine changed,
/// commit. Dropping it without committing rolls it back.
pub struct Batch<'c> {
    store: &'c Store,
    tx: Transaction<'c, Any>,
}

impl Store {
    /// Starts a batch on `conn` (taking a connection first if it has none). SQLite takes its
    /// write lock up front, so a batch never has to upgrade a read lock (and fail) halfway. A
    /// failure here is before any of the batch's data was sent: it is always worth a retry.
    pub async fn batch<'c>(&'c self, conn: &'c mut BatchConnection) -> StoreResult<Batch<'c>> {
        let conn = match &mut conn.0 {
            Some(conn) => conn,
            slot => slot.insert(
                self.pool
                    .acquire()
                    .await
                    .map_err(|e| StoreError::from(e).before_any_data())?,
            ),
        };
        let conn: &'c mut AnyConnection = conn;
        let tx = conn
            .begin_with(ops(self.dialect).begin_batch)
            .await
            .map_err(|e| StoreError::from(e).before_any_data())?;
        Ok(Batch { store: self, tx })
    }
}

impl Batch<'_> {
    /// Locks the batch's accounts (in id order) and loads what the commands need.
    pub async fn load(&mut self, needs: &Needs, now: DateTime<Utc>) -> StoreResult<Snapshot> {
        self.store.load_batch(&mut self.tx, needs, now).await
    }

    /// Writes everything the batch changed.
    pub async fn write(&mut self, writes: Writes) -> StoreResult<()> {
        self.store.write_batch(&mut self.tx, writes).await
    }

    pub async fn commit(self) -> StoreResult<()> {
        Ok(self.tx.commit().await?)
    }
}

fn strings<T: ToString>(values: impl IntoIterator<Item = T>) -> Vec<String> {
    values.into_iter().map(|v| v.to_string()).collect()
}

/// `SELECT {columns} FROM {table} WHERE {column} IN (…)`, padded; returns the rows.
async fn select_in(
    store: &Store,
    conn: &mut AnyConnection,
    select: &str,
    column: &str,
    values: &[String],
    rest: &str,
) -> StoreResult<Vec<sqlx::any::AnyRow>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let values = padded(values);
    let sql = format!(
        "{select} WHERE {column} IN ({}){rest}",
        placeholders(1, values.len())
    );
    let mut query = sql::lookup(&sql);
    for v in values {
        query = query.bind(v);
    }
    store.statements.fetch_add(1, Ordering::Relaxed);
    Ok(query.fetch_all(conn).await?)
}

impl Store {
    /// Locks the batch's accounts (in id order) and loads its snapshot.
    async fn load_batch(
        &self,
        tx: &mut Transaction<'_, Any>,
        needs: &Needs,
        now: DateTime<Utc>,
    ) -> StoreResult<Snapshot> {
        let conn: &mut AnyConnection = tx;
        let mut accounts = needs.accounts.clone();
        let mut hold_accounts = HashMap::new();
        let hold_ids = strings(&needs.holds);
        let hold_rows = select_in(
            self,
            conn,
            "SELECT id, account_id FROM holds",
            "id",
            &hold_ids,
            "",
        )
        .await?;
        for row in &hold_rows {
            let account: String = row
                .try_get("account_id")
                .map_err(super::StoreError::Other)?;
            let hold: String = row.try_get("id").map_err(super::StoreError::Other)?;
            if let (Ok(hold), Ok(account)) = (hold.parse::<HoldId>(), account.parse::<AccountId>())
            {
                hold_accounts.insert(hold, account);
                accounts.insert(account);
            }
        }
        let lock = ops(self.dialect).lock_accounts;
        let account_ids = strings(&accounts);
        let select = format!("SELECT {} FROM accounts", ACCOUNT_COLUMNS.join(", "));
        let rows = select_in(
            self,
            conn,
            &select,
            "id",
            &account_ids,
            &format!(" ORDER BY id{lock}"),
        )
        .await?;
        let mut snapshot = Snapshot {
            accounts: rows
                .iter()
                .map(account_from_row)
                .collect::<StoreResult<_>>()?,
            ..Snapshot::default()
        };
        snapshot.lots = self.load_lots(conn, &account_ids, needs).await?;
        // Only accounts with open holds can have holds past their expiry to let go.
        let holding: Vec<String> = snapshot
            .accounts
            .iter()
            .filter(|a| a.open_holds > 0)
            .map(|a| a.id.to_string())
            .collect();
        snapshot.holds = self
            .load_holds(conn, &holding, &hold_ids, needs, now)
            .await?;
        snapshot.idempotency = load_idempotency(self, conn, needs, &hold_accounts).await?;
        let external = strings(&needs.external_ids);
        let taken = select_in(
            self,
            conn,
            "SELECT external_id FROM accounts",
            "external_id",
            &external,
            "",
        )
        .await?;
        snapshot.external_ids_taken = taken
            .iter()
            .map(|r| r.try_get::<String, _>("external_id"))
            .collect::<Result<_, _>>()?;
        let select = format!("SELECT {} FROM commitments", COMMITMENT_COLUMNS.join(", "));
        let sweeping = strings(&needs.sweeps);
        snapshot.commitments = select_in(
            self,
            conn,
            &select,
            "account_id",
            &sweeping,
            &format!(" AND status = '{}'", CommitmentStatus::Active),
        )
        .await?
        .iter()
        .map(commitment_from_row)
        .collect::<StoreResult<_>>()?;
        Ok(snapshot)
    }

    async fn load_lots(
        &self,
        conn: &mut AnyConnection,
        account_ids: &[String],
        needs: &Needs,
    ) -> StoreResult<Vec<Lot>> {
        let select = format!("SELECT {} FROM lots", LOT_COLUMNS.join(", "));
        let active = LotStatus::Active;
        let mut rows = select_in(
            self,
            conn,
            &select,
            "account_id",
            account_ids,
            &format!(" AND status = '{active}'"),
        )
        .await?;
        let named = strings(&needs.named_lots);
        let inactive = format!(" AND status <> '{active}'");
        rows.extend(select_in(self, conn, &select, "id", &named, &inactive).await?);
        rows.iter().map(lot_from_row).collect()
    }

    async fn load_holds(
        &self,
        conn: &mut AnyConnection,
        account_ids: &[String],
        hold_ids: &[String],
        needs: &Needs,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Hold>> {
        let select = format!("SELECT {} FROM holds", HOLD_COLUMNS.join(", "));
        // Open holds past their expiry must be let go before anything is drawn.
        let mut rows = Vec::new();
        if !account_ids.is_empty() {
            let ids = padded(account_ids);
            let sql = format!(
                "{select} WHERE account_id IN ({}) AND status = '{}' AND expires_at <= ${}",
                placeholders(1, ids.len()),
                HoldStatus::Open,
                ids.len() + 1
            );
            let mut query = sql::lookup(&sql);
            for id in ids {
                query = query.bind(id);
            }
            self.statements.fetch_add(1, Ordering::Relaxed);
            rows = query.bind(micros(now)).fetch_all(&mut *conn).await?;
        }
        rows.extend(select_in(self, conn, &select, "id", hold_ids, "").await?);
        let voiding = strings(&needs.all_open_holds);
        rows.extend(
            select_in(
                self,
                conn,
                &select,
                "account_id",
                &voiding,
                &format!(" AND status = '{}'", HoldStatus::Open),
            )
            .await?,
        );
        let mut holds: HashMap<HoldId, Hold> = HashMap::new();
        for row in &rows {
            let hold = hold_from_row(row)?;
            holds.insert(hold.id, hold);
        }
        Ok(holds.into_values().collect())
    }

    /// Writes everything the batch changed: accounts, lots and holds as upserts by id; entries
    /// (with their postings, and the idempotency record of the command that wrote each) and the
    /// other idempotency records as inserts.
    async fn write_batch(&self, tx: &mut Transaction<'_, Any>, writes: Writes) -> StoreResult<()> {
        // A command's record goes into the entry it wrote: the one on the record's account with
        // the record's key (at most one entry a command; a sweep's entries have keys of their own
        // and no record).
        let mut apart = Vec::new();
        let mut by_account: HashMap<(AccountId, &str), &IdempotencyRecord> = HashMap::new();
        for record in &writes.idempotency {
            match record.scope {
                Scope::Account(account) => {
                    by_account.insert((account, record.key.as_str()), record);
                }
                _ => apart.push(record),
            }
        }
        let entries = writes
            .entries
            .iter()
            .map(|e| {
                let record = by_account.remove(&(e.account_id, e.idempotency_key.as_str()));
                entry_values(e, record)
            })
            .collect();
        // Records whose command wrote no entry are kept apart.
        apart.extend(by_account.into_values());
        let sets = vec![
            upsert(
                "accounts",
                ACCOUNT_COLUMNS,
                writes.accounts.iter().map(account_values).collect(),
            ),
            upsert(
                "lots",
                LOT_COLUMNS,
                writes.lots.iter().map(lot_values).collect(),
            ),
            upsert(
                "holds",
                HOLD_COLUMNS,
                writes.holds.iter().map(hold_values).collect(),
            ),
            insert("entries", ENTRY_INSERT_COLUMNS, entries),
            insert(
                "idempotency",
                IDEMPOTENCY_COLUMNS,
                apart.into_iter().map(idempotency_values).collect(),
            ),
            upsert(
                "commitments",
                COMMITMENT_COLUMNS,
                writes.commitments.iter().map(commitment_values).collect(),
            ),
            insert(
                "events",
                EVENT_COLUMNS,
                writes.events.iter().map(event_values).collect(),
            ),
        ];
        if let (false, Some(lock)) = (writes.events.is_empty(), ops(self.dialect).lock_events) {
            // Events take their seq in commit order: see the events table's comment.
            sqlx::query(lock).execute(&mut **tx).await?;
            self.statements.fetch_add(1, Ordering::Relaxed);
        }
        let written = write_all(tx, self.dialect, sets).await?;
        self.statements.fetch_add(written, Ordering::Relaxed);
        Ok(())
    }
}

/// Loads the records of the (scope, key) pairs the batch names, from `idempotency` and from the
/// entries that keep their command's record. Both indexes lead with the key, so `key IN (…)`
/// probes them once per key whatever the planner's statistics say (a plan made when the table
/// was small once turned a lookup into a scan of every key of a hot account); pairs are matched
/// exactly here.
async fn load_idempotency(
    store: &Store,
    conn: &mut AnyConnection,
    needs: &Needs,
    hold_accounts: &HashMap<HoldId, AccountId>,
) -> StoreResult<Vec<IdempotencyRecord>> {
    let pairs: BTreeSet<(Scope, String)> = needs
        .keys
        .iter()
        .filter_map(|(scope, key)| {
            let scope = match scope {
                KeyScope::Known(scope) => *scope,
                KeyScope::HoldOf(id) => Scope::Account(*hold_accounts.get(id)?),
            };
            Some((scope, key.clone()))
        })
        .collect();
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let keys: BTreeSet<&String> = pairs.iter().map(|(_, k)| k).collect();
    let scopes: BTreeSet<String> = pairs.iter().map(|(s, _)| s.to_string()).collect();
    let keys = padded(&keys.into_iter().cloned().collect::<Vec<_>>());
    let scopes = padded(&scopes.into_iter().collect::<Vec<_>>());
    // The records kept apart, and those kept in the entries their commands wrote (an account's
    // scope is its id), in one statement. `account_id || ''` keeps the account off any index:
    // the one index an entry's record may be found by is the one that leads with the key (a
    // plan by `entries (account_id, account_seq)`, made while the table was small, would read
    // every entry of a hot account).
    let (keys_in, scopes_in) = (
        placeholders(1, keys.len()),
        placeholders(keys.len() + 1, scopes.len()),
    );
    let sql = format!(
        "SELECT {} FROM idempotency WHERE key IN ({keys_in}) AND scope IN ({scopes_in}) \
         UNION ALL \
         SELECT account_id AS scope, idempotency_key AS key, request_hash, outcome, \
         recorded_at AS created_at FROM entries \
         WHERE idempotency_key IN ({keys_in}) AND account_id || '' IN ({scopes_in}) \
         AND outcome IS NOT NULL",
        IDEMPOTENCY_COLUMNS.join(", "),
    );
    let mut query = sql::lookup(&sql);
    for value in keys.into_iter().chain(scopes) {
        query = query.bind(value);
    }
    store.statements.fetch_add(1, Ordering::Relaxed);
    let rows = query.fetch_all(conn).await?;
    let records = rows
        .iter()
        .map(idempotency_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(records
        .into_iter()
        .filter(|r| pairs.contains(&(r.scope, r.key.clone())))
        .collect())
}

fn insert<'a>(table: &'a str, columns: &'a [&'a str], rows: Vec<Vec<Value>>) -> RowSet<'a> {
    RowSet {
        table,
        columns,
        suffix: String::new(),
        rows,
    }
}

/// Inserts new rows and overwrites existing ones, keyed by id.
fn upsert<'a>(table: &'a str, columns: &'a [&'a str], rows: Vec<Vec<Value>>) -> RowSet<'a> {
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let suffix = format!(" ON CONFLICT (id) DO UPDATE SET {}", updates.join(", "));
    RowSet {
        table,
        columns,
        suffix,
        rows,
    }
}
