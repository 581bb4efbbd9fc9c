//! One batch's database work, inside its transaction: find the accounts the commands name, lock
//! them in id order, load what the engine needs, and write back everything it changed with a
//! handful of multi-row statements.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Connection, Row, Transaction};

use super::rows::*;
use super::sql::{self, padded, placeholders, select, write_all, Column, Kind};
use super::sql::{RowSet, Value};
use super::{ops, Dialect, Store, StoreError, StoreResult};
use crate::ledger::*;

/// The connection a batch loop keeps across batches, rather than taking one from the pool (and
/// pinging it) each time. After a failed batch it is let go, and the next batch takes a fresh one.
#[derive(Default)]
pub struct BatchConnection(Option<PoolConnection<Any>>);

impl BatchConnection {
    pub fn reset(&mut self) {
        self.0 = None;
    }

    /// Whether it holds a connection kept from an earlier batch.
    pub fn is_kept(&self) -> bool {
        self.0.is_some()
    }
}

/// One batch's transaction: load what the commands need, write what the engine changed,
/// commit. Dropping it without committing rolls it back.
pub struct Batch<'c> {
    store: &'c Store,
    stage: Stage<'c>,
    /// What the commands were applied to, so the write knows which accounts and holds are new
    /// (and owe a row in their directory table).
    found: Basis,
}

/// What a batch was applied to: its accounts, at their versions, and the holds that already
/// existed. A batch applied to the state the previous one leaves is written only if its accounts
/// still have these versions once locked.
#[derive(Debug, Clone, Default)]
pub struct Basis {
    accounts: BTreeMap<AccountId, i64>,
    holds: HashSet<HoldId>,
    closed_until: Option<DateTime<Utc>>,
}

/// Where a batch is on its connection.
enum Stage<'c> {
    /// Looking up, before its transaction: SQLite's batch on carried state, whose transaction
    /// would take the write lock and so wait for the batch before it.
    Before(&'c mut AnyConnection),
    In(Transaction<'c, Any>),
    /// Its transaction failed to begin.
    Failed,
}

impl Basis {
    pub fn of(snapshot: &Snapshot) -> Basis {
        Basis {
            accounts: snapshot
                .accounts
                .iter()
                .map(|a| (a.id, a.version))
                .collect(),
            holds: snapshot.holds.iter().map(|h| h.id).collect(),
            closed_until: snapshot.closed_until,
        }
    }
}

impl Store {
    /// Starts a batch on `conn` (taking a connection first if it has none). SQLite takes its
    /// write lock up front, so a batch never has to upgrade a read lock (and fail) halfway. A
    /// failure here is before any of the batch's data was sent: it is always worth a retry.
    pub async fn batch<'c>(&'c self, conn: &'c mut BatchConnection) -> StoreResult<Batch<'c>> {
        let conn = self.connection(conn).await?;
        Ok(Batch {
            store: self,
            stage: Stage::In(begin_batch(self.dialect, conn).await?),
            found: Basis::default(),
        })
    }

    /// Starts a batch that is applied to the state the previous batch leaves (see
    /// [`Batch::load_onto`]). Its lookups take no lock, so they run while the previous batch
    /// commits: on PostgreSQL inside the batch's transaction, on SQLite before it (its
    /// transaction begins with the write lock, at [`Batch::confirm`]).
    pub async fn carried_batch<'c>(
        &'c self,
        conn: &'c mut BatchConnection,
    ) -> StoreResult<Batch<'c>> {
        let conn = self.connection(conn).await?;
        let stage = match ops(self.dialect).lookups_before_transaction {
            true => Stage::Before(conn),
            false => Stage::In(begin_batch(self.dialect, conn).await?),
        };
        Ok(Batch {
            store: self,
            stage,
            found: Basis::default(),
        })
    }

    async fn connection<'c>(
        &'c self,
        conn: &'c mut BatchConnection,
    ) -> StoreResult<&'c mut AnyConnection> {
        let conn = match &mut conn.0 {
            Some(conn) => conn,
            slot => slot.insert(
                self.pool
                    .acquire()
                    .await
                    .map_err(|e| StoreError::from(e).before_any_data())?,
            ),
        };
        Ok(conn)
    }
}

async fn begin_batch(
    dialect: Dialect,
    conn: &mut AnyConnection,
) -> StoreResult<Transaction<'_, Any>> {
    conn.begin_with(ops(dialect).begin_batch)
        .await
        .map_err(|e| StoreError::from(e).before_any_data())
}

impl<'c> Batch<'c> {
    /// Locks the batch's accounts (in id order) and loads what the commands need.
    pub async fn load(&mut self, needs: &Needs, now: DateTime<Utc>) -> StoreResult<Snapshot> {
        let snapshot = self
            .store
            .load_batch(self.conn()?, needs, now, None)
            .await?;
        let snapshot = snapshot.expect("a locked load covers every account");
        self.found = Basis::of(&snapshot);
        Ok(snapshot)
    }

    /// Loads what the commands need on top of `carried`, the state the previous batch leaves
    /// (not committed yet): its accounts and their active lots come from it, and what the
    /// lookups return of its holds and records gives way to its own. Nothing is locked; the
    /// versions are checked by [`Batch::confirm`] before the write. `None` when a command
    /// reaches an account the carry lacks, or needs what only the locked load reads (named lots,
    /// external ids, commitments): such a batch runs the ordinary way.
    pub async fn load_onto(
        &mut self,
        needs: &Needs,
        now: DateTime<Utc>,
        carried: &Snapshot,
    ) -> StoreResult<Option<Snapshot>> {
        self.store
            .load_batch(self.conn()?, needs, now, Some(carried))
            .await
    }

    /// Locks the accounts a batch was applied to (in id order, as every batch does) and says
    /// whether each still has the version it was applied to: whether nothing was written to
    /// their books since the state the batch started from. Once it has said yes, the write and
    /// commit go on under those locks.
    pub async fn confirm(&mut self, basis: &Basis) -> StoreResult<bool> {
        let ids = strings(basis.accounts.keys());
        let lock = ops(self.store.dialect).lock_accounts;
        let select = format!(
            "SELECT {}, version, {} FROM accounts",
            self.store.columns(&[sql::col("id", Kind::Id)]),
            self.store.closed_until_column()
        );
        let store = self.store;
        let rows = select_in(
            store,
            self.tx().await?,
            &select,
            &[of("id", Kind::Id, &ids)],
            &format!(" ORDER BY id{lock}"),
        )
        .await?;
        let mut stored = BTreeMap::new();
        for row in &rows {
            stored.insert(parsed(row, "id")?, int(row, "version")?);
        }
        self.found = basis.clone();
        // A period closed since the batch was applied: it runs again, the ordinary way.
        let closed_until = match rows.first() {
            Some(row) => opt_time(row, "closed_until")?,
            None => basis.closed_until,
        };
        Ok(stored == basis.accounts && closed_until == basis.closed_until)
    }

    /// Writes everything the batch changed.
    pub async fn write(&mut self, writes: Writes) -> StoreResult<()> {
        let (store, found) = (self.store, std::mem::take(&mut self.found));
        store.write_batch(self.tx().await?, writes, &found).await
    }

    /// The connection the lookups run on, in the transaction or before it.
    fn conn(&mut self) -> StoreResult<&mut AnyConnection> {
        match &mut self.stage {
            Stage::Before(conn) => Ok(conn),
            Stage::In(tx) => Ok(tx),
            Stage::Failed => Err(not_begun()),
        }
    }

    /// The batch's transaction, begun now if its lookups ran before it.
    async fn tx(&mut self) -> StoreResult<&mut Transaction<'c, Any>> {
        if let Stage::Before(_) = self.stage {
            let Stage::Before(conn) = std::mem::replace(&mut self.stage, Stage::Failed) else {
                unreachable!("matched above")
            };
            self.stage = Stage::In(begin_batch(self.store.dialect, conn).await?);
        }
        match &mut self.stage {
            Stage::In(tx) => Ok(tx),
            _ => Err(not_begun()),
        }
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self.stage {
            Stage::In(tx) => Ok(tx.commit().await?),
            _ => Err(not_begun()),
        }
    }
}

fn not_begun() -> StoreError {
    StoreError::NotBegun(sqlx::Error::Protocol(
        "the batch's transaction did not begin".into(),
    ))
}

fn strings<T: ToString>(values: impl IntoIterator<Item = T>) -> Vec<String> {
    values.into_iter().map(|v| v.to_string()).collect()
}

/// The values a column must be among.
struct In<'a> {
    column: Column,
    values: &'a [String],
}

/// `{select} WHERE {column} IN (…) AND …{rest}`, each list padded; returns the rows (none when a
/// list is empty).
async fn select_in(
    store: &Store,
    conn: &mut AnyConnection,
    select: &str,
    lists: &[In<'_>],
    rest: &str,
) -> StoreResult<Vec<sqlx::any::AnyRow>> {
    if lists.iter().any(|list| list.values.is_empty()) {
        return Ok(Vec::new());
    }
    let mut clauses = Vec::new();
    let mut bound = Vec::new();
    for list in lists {
        let values = padded(list.values);
        clauses.push(format!(
            "{} IN ({})",
            list.column.name,
            placeholders(
                store.dialect,
                bound.len() + 1,
                values.len(),
                list.column.kind
            )
        ));
        bound.extend(values);
    }
    let sql = format!("{select} WHERE {}{rest}", clauses.join(" AND "));
    let mut query = sql::lookup(&sql);
    for v in bound {
        query = query.bind(v);
    }
    store.statements.fetch_add(1, Ordering::Relaxed);
    Ok(query.fetch_all(conn).await?)
}

fn of<'a>(column: &'static str, kind: Kind, values: &'a [String]) -> In<'a> {
    In {
        column: sql::col(column, kind),
        values,
    }
}

impl Store {
    /// Locks the batch's accounts (in id order) and loads its snapshot; or, given the state the
    /// previous batch leaves, loads only what that state lacks, without locks (see
    /// [`Batch::load_onto`]).
    async fn load_batch(
        &self,
        conn: &mut AnyConnection,
        needs: &Needs,
        now: DateTime<Utc>,
        carried: Option<&Snapshot>,
    ) -> StoreResult<Option<Snapshot>> {
        if carried.is_some()
            && !(needs.named_lots.is_empty()
                && needs.external_ids.is_empty()
                && needs.sweeps.is_empty())
        {
            return Ok(None);
        }
        let mut accounts = needs.accounts.clone();
        let mut hold_accounts = HashMap::new();
        // A command that names only a hold finds its account in the hold's directory row, or in
        // the carried state for a hold the previous batch made.
        let mut unknown = Vec::new();
        for id in &needs.holds {
            match carried.and_then(|c| c.holds.iter().find(|h| h.id == *id)) {
                Some(hold) => {
                    hold_accounts.insert(hold.id, hold.account_id);
                }
                None => unknown.push(id.to_string()),
            }
        }
        let select = format!(
            "SELECT {} FROM hold_accounts",
            self.columns(HOLD_ACCOUNT_COLUMNS)
        );
        let hold_rows = select_in(
            self,
            conn,
            &select,
            &[of("hold_id", Kind::Id, &unknown)],
            "",
        )
        .await?;
        for row in &hold_rows {
            let account: String = row.try_get("account_id").map_err(StoreError::Other)?;
            let hold: String = row.try_get("hold_id").map_err(StoreError::Other)?;
            if let (Ok(hold), Ok(account)) = (hold.parse::<HoldId>(), account.parse::<AccountId>())
            {
                hold_accounts.insert(hold, account);
            }
        }
        accounts.extend(hold_accounts.values().copied());
        let account_ids = strings(&accounts);
        let mut snapshot = match carried {
            Some(carried) => match carried_accounts(carried, &accounts) {
                Some(snapshot) => snapshot,
                None => return Ok(None),
            },
            None => {
                let lock = ops(self.dialect).lock_accounts;
                let select = format!(
                    "SELECT {}, {} FROM accounts",
                    self.columns(ACCOUNT_COLUMNS),
                    self.closed_until_column()
                );
                let rows = select_in(
                    self,
                    conn,
                    &select,
                    &[of("id", Kind::Id, &account_ids)],
                    &format!(" ORDER BY id{lock}"),
                )
                .await?;
                // Read with the accounts, in the batch's transaction (a batch that reaches no
                // stored account reads it alone).
                let closed_until = match rows.first() {
                    Some(row) => opt_time(row, "closed_until")?,
                    None => self.closed_until(conn).await?,
                };
                Snapshot {
                    accounts: rows
                        .iter()
                        .map(account_from_row)
                        .collect::<StoreResult<_>>()?,
                    lots: self.load_lots(conn, &account_ids, needs).await?,
                    closed_until,
                    ..Snapshot::default()
                }
            }
        };
        // Only accounts with open holds can have holds past their expiry to let go.
        let holding: Vec<String> = snapshot
            .accounts
            .iter()
            .filter(|a| a.open_holds > 0)
            .map(|a| a.id.to_string())
            .collect();
        let hold_ids = strings(&needs.holds);
        snapshot.holds = self
            .load_holds(conn, &account_ids, &holding, &hold_ids, needs, now)
            .await?;
        let pairs = key_pairs(needs, &hold_accounts);
        snapshot.idempotency = load_idempotency(self, conn, &pairs).await?;
        if let Some(carried) = carried {
            overlay(&mut snapshot, carried, needs, &pairs, now);
        }
        let external = strings(&needs.external_ids);
        let taken = select_in(
            self,
            conn,
            "SELECT external_id FROM account_external_ids",
            &[of("external_id", Kind::Text, &external)],
            "",
        )
        .await?;
        snapshot.external_ids_taken = taken
            .iter()
            .map(|r| r.try_get::<String, _>("external_id"))
            .collect::<Result<_, _>>()?;
        let select = format!(
            "SELECT {} FROM commitments",
            self.columns(COMMITMENT_COLUMNS)
        );
        let sweeping = strings(&needs.sweeps);
        snapshot.commitments = select_in(
            self,
            conn,
            &select,
            &[of("account_id", Kind::Id, &sweeping)],
            &format!(" AND status = '{}'", CommitmentStatus::Active),
        )
        .await?
        .iter()
        .map(commitment_from_row)
        .collect::<StoreResult<_>>()?;
        Ok(Some(snapshot))
    }

    /// `books_closed.closed_until` as a column of a batch's account query: the end of the last
    /// closed period, read in the batch's transaction. A close waits for the batches in flight
    /// (on PostgreSQL they hold a lock on `books_closed` from their first statement, see
    /// `begin_batch`; SQLite has one writer at a time), so a batch that read it before a close
    /// cannot write after it.
    fn closed_until_column(&self) -> String {
        let read = ops(self.dialect).read;
        let query = "(SELECT closed_until FROM books_closed WHERE name = 'books')";
        format!("{} AS closed_until", read(query, Kind::Time))
    }

    /// The end of the last closed period, read alone.
    pub(super) async fn closed_until(
        &self,
        conn: &mut AnyConnection,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let sql = format!(
            "SELECT {} FROM books_closed WHERE name = 'books'",
            self.columns(&[sql::col("closed_until", Kind::Time)]),
        );
        let row = select(&sql).fetch_one(&mut *conn).await?;
        opt_time(&row, "closed_until")
    }

    /// The accounts' active lots, and the lots the commands name whatever their status. The
    /// named ones are found by id alone: with the account offered too, a generic plan reads every
    /// lot of the account by its primary key and filters the ids. (Only commands that name a lot,
    /// voids and adjustments, send it; a lot of an account outside the batch is not used.)
    async fn load_lots(
        &self,
        conn: &mut AnyConnection,
        account_ids: &[String],
        needs: &Needs,
    ) -> StoreResult<Vec<Lot>> {
        let select = format!("SELECT {} FROM lots", self.columns(LOT_COLUMNS));
        let active = LotStatus::Active;
        let mut rows = select_in(
            self,
            conn,
            &select,
            &[of("account_id", Kind::Id, account_ids)],
            &format!(" AND status = '{active}'"),
        )
        .await?;
        let named = strings(&needs.named_lots);
        let inactive = format!(" AND status <> '{active}'");
        rows.extend(
            select_in(
                self,
                conn,
                &select,
                &[of("id", Kind::Id, &named)],
                &inactive,
            )
            .await?,
        );
        rows.iter().map(lot_from_row).collect()
    }

    async fn load_holds(
        &self,
        conn: &mut AnyConnection,
        account_ids: &[String],
        holding: &[String],
        hold_ids: &[String],
        needs: &Needs,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Hold>> {
        let select = format!("SELECT {} FROM holds", self.columns(HOLD_COLUMNS));
        // Open holds past their expiry must be let go before anything is drawn.
        let mut rows = Vec::new();
        if !holding.is_empty() {
            let ids = padded(holding);
            let sql = format!(
                "{select} WHERE account_id IN ({}) AND status = '{}' AND expires_at <= {}",
                placeholders(self.dialect, 1, ids.len(), Kind::Id),
                HoldStatus::Open,
                self.param(ids.len() + 1, Kind::Time),
            );
            let mut query = sql::lookup(&sql);
            for id in ids {
                query = query.bind(id);
            }
            self.statements.fetch_add(1, Ordering::Relaxed);
            rows = query.bind(micros(now)).fetch_all(&mut *conn).await?;
        }
        rows.extend(
            select_in(
                self,
                conn,
                &select,
                &[
                    of("account_id", Kind::Id, account_ids),
                    of("id", Kind::Id, hold_ids),
                ],
                "",
            )
            .await?,
        );
        let voiding = strings(&needs.all_open_holds);
        rows.extend(
            select_in(
                self,
                conn,
                &select,
                &[of("account_id", Kind::Id, &voiding)],
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

    /// Writes everything the batch changed: accounts, lots, holds and commitments as upserts by
    /// key; entries (with their postings, and the idempotency record of the command that wrote
    /// each), the other idempotency records, events and the directory rows of new accounts and
    /// holds as inserts.
    async fn write_batch(
        &self,
        tx: &mut Transaction<'_, Any>,
        writes: Writes,
        found: &Basis,
    ) -> StoreResult<()> {
        // A command's record goes into the entry it wrote: the one on the record's account with
        // the record's key (at most one entry a command; a sweep's entries have keys of their own
        // and no record).
        let mut creations = Vec::new();
        let mut by_account: HashMap<(AccountId, &str), &IdempotencyRecord> = HashMap::new();
        for record in &writes.idempotency {
            match record.scope {
                Scope::Account(account) => {
                    by_account.insert((account, record.key.as_str()), record);
                }
                Scope::CreateAccount => creations.push(idempotency_values(record)),
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
        let apart = by_account.into_values().map(idempotency_values).collect();
        let external_ids = writes
            .accounts
            .iter()
            .filter(|a| !found.accounts.contains_key(&a.id))
            .map(external_id_values)
            .collect();
        let hold_accounts = writes
            .holds
            .iter()
            .filter(|h| !found.holds.contains(&h.id))
            .map(hold_account_values)
            .collect();
        let sets = vec![
            upsert(
                "accounts",
                ACCOUNT_COLUMNS,
                &["id"],
                writes.accounts.iter().map(account_values).collect(),
            ),
            insert("account_external_ids", EXTERNAL_ID_COLUMNS, external_ids),
            insert("account_creations", CREATION_COLUMNS, creations),
            upsert(
                "lots",
                LOT_COLUMNS,
                &["account_id", "id"],
                writes.lots.iter().map(lot_values).collect(),
            ),
            upsert(
                "holds",
                HOLD_COLUMNS,
                &["id", "account_id"],
                writes.holds.iter().map(hold_values).collect(),
            ),
            insert("hold_accounts", HOLD_ACCOUNT_COLUMNS, hold_accounts),
            insert("entries", ENTRY_INSERT_COLUMNS, entries),
            insert("idempotency", IDEMPOTENCY_COLUMNS, apart),
            upsert(
                "commitments",
                COMMITMENT_COLUMNS,
                &["id", "account_id"],
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

/// Loads the records of the (scope, key) pairs the batch names: those of account creations from
/// `account_creations` by key; those of commands on accounts from `idempotency` and from the
/// entries that keep their command's record, by key and account. The indexes of both lead with
/// the key, so `key IN (…)` probes them once per key whatever the planner's statistics say (a
/// plan made when the table was small once turned a lookup into a scan of every key of a hot
/// account); pairs are matched exactly here.
async fn load_idempotency(
    store: &Store,
    conn: &mut AnyConnection,
    pairs: &BTreeSet<(Scope, String)>,
) -> StoreResult<Vec<IdempotencyRecord>> {
    let dialect = store.dialect;
    let mut creation_keys = BTreeSet::new();
    let mut account_keys = BTreeSet::new();
    let mut accounts = BTreeSet::new();
    for (scope, key) in pairs {
        match scope {
            Scope::CreateAccount => {
                creation_keys.insert(key.clone());
            }
            Scope::Account(account) => {
                account_keys.insert(key.clone());
                accounts.insert(account.to_string());
            }
        }
    }
    let mut parts = Vec::new();
    let mut bound: Vec<String> = Vec::new();
    let list = |bound: &mut Vec<String>, values: &BTreeSet<String>, kind: Kind| {
        let values = padded(&values.iter().cloned().collect::<Vec<_>>());
        let sql = placeholders(dialect, bound.len() + 1, values.len(), kind);
        bound.extend(values);
        sql
    };
    if !creation_keys.is_empty() {
        let keys = list(&mut bound, &creation_keys, Kind::Text);
        parts.push(format!(
            "SELECT '{}' AS scope, {} FROM account_creations WHERE key IN ({keys})",
            Scope::CreateAccount,
            store.columns(CREATION_COLUMNS),
        ));
    }
    if !account_keys.is_empty() {
        let keys = list(&mut bound, &account_keys, Kind::Text);
        let ids = list(&mut bound, &accounts, Kind::Id);
        let read = |column: &str, kind: Kind| (ops(dialect).read)(column, kind);
        parts.push(format!(
            "SELECT {} AS scope, {} FROM idempotency \
             WHERE key IN ({keys}) AND account_id IN ({ids})",
            read("account_id", Kind::Id),
            store.columns(CREATION_COLUMNS),
        ));
        // The records kept in the entries their commands wrote. `account_id || ''` (text on
        // both stores) keeps the account off every index: the one an entry's record may be found
        // by leads with the key (a plan by an index that leads with the account, made while the
        // table was small, reads every entry of a hot account every batch).
        let texts = list(&mut bound, &accounts, Kind::Text);
        parts.push(format!(
            "SELECT {} AS scope, idempotency_key AS key, request_hash, outcome, \
             {} AS created_at FROM entries \
             WHERE idempotency_key IN ({keys}) AND account_id || '' IN ({texts}) \
             AND outcome IS NOT NULL",
            read("account_id", Kind::Id),
            read("recorded_at", Kind::Time),
        ));
    }
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = parts.join(" UNION ALL ");
    let mut query = sql::lookup(&sql);
    for value in bound {
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

/// The (scope, key) pairs of the batch's keyed commands, a capture's scope being its hold's
/// account (a key whose hold is not found has no record to find).
fn key_pairs(
    needs: &Needs,
    hold_accounts: &HashMap<HoldId, AccountId>,
) -> BTreeSet<(Scope, String)> {
    needs
        .keys
        .iter()
        .filter_map(|(scope, key)| {
            let scope = match scope {
                KeyScope::Known(scope) => *scope,
                KeyScope::HoldOf(id) => Scope::Account(*hold_accounts.get(id)?),
            };
            Some((scope, key.clone()))
        })
        .collect()
}

/// The carried accounts and their active lots, if the carry holds every account the batch
/// reaches.
fn carried_accounts(carried: &Snapshot, accounts: &BTreeSet<AccountId>) -> Option<Snapshot> {
    let found: Vec<Account> = carried
        .accounts
        .iter()
        .filter(|a| accounts.contains(&a.id))
        .cloned()
        .collect();
    if found.len() != accounts.len() {
        return None;
    }
    Some(Snapshot {
        accounts: found,
        lots: carried
            .lots
            .iter()
            .filter(|l| accounts.contains(&l.account_id))
            .cloned()
            .collect(),
        ..Snapshot::default()
    })
}

/// Lays the carried state over what the lookups returned, which is what was committed before
/// the previous batch: the carry's holds and records win, and the holds kept are those the
/// locked load would return from the state the previous batch leaves (named, past their expiry
/// on an account that has open holds, or every open one of an account a command voids from).
fn overlay(
    snapshot: &mut Snapshot,
    carried: &Snapshot,
    needs: &Needs,
    pairs: &BTreeSet<(Scope, String)>,
    now: DateTime<Utc>,
) {
    // The batch's accounts, and whether each has open holds.
    let holding: HashMap<AccountId, bool> = snapshot
        .accounts
        .iter()
        .map(|a| (a.id, a.open_holds > 0))
        .collect();
    let mut holds: HashMap<HoldId, Hold> = std::mem::take(&mut snapshot.holds)
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    for hold in &carried.holds {
        if holding.contains_key(&hold.account_id) {
            holds.insert(hold.id, hold.clone());
        }
    }
    snapshot.holds = holds
        .into_values()
        .filter(|h| {
            let open = h.status == HoldStatus::Open;
            needs.holds.contains(&h.id)
                || open && needs.all_open_holds.contains(&h.account_id)
                || open && h.expires_at <= now && holding.get(&h.account_id) == Some(&true)
        })
        .collect();
    let mut records: HashMap<(Scope, String), IdempotencyRecord> =
        std::mem::take(&mut snapshot.idempotency)
            .into_iter()
            .map(|r| ((r.scope, r.key.clone()), r))
            .collect();
    for record in &carried.idempotency {
        let pair = (record.scope, record.key.clone());
        if pairs.contains(&pair) {
            records.insert(pair, record.clone());
        }
    }
    snapshot.idempotency = records.into_values().collect();
}

fn insert<'a>(table: &'a str, columns: &'a [Column], rows: Vec<Vec<Value>>) -> RowSet<'a> {
    RowSet {
        table,
        columns,
        suffix: String::new(),
        rows,
    }
}

/// Inserts new rows and overwrites existing ones, keyed by `key` (whose columns stay as they
/// are).
fn upsert<'a>(
    table: &'a str,
    columns: &'a [Column],
    key: &[&str],
    rows: Vec<Vec<Value>>,
) -> RowSet<'a> {
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !key.contains(&c.name))
        .map(|c| format!("{0} = excluded.{0}", c.name))
        .collect();
    let suffix = format!(
        " ON CONFLICT ({}) DO UPDATE SET {}",
        key.join(", "),
        updates.join(", ")
    );
    RowSet {
        table,
        columns,
        suffix,
        rows,
    }
}
