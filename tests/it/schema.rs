//! The PostgreSQL schema, read back from the catalog after every migration has run: every table
//! can be distributed by account (Citus requires each primary key, unique constraint and foreign
//! key of a distributed table to include its distribution column), and every column has the type
//! a PostgreSQL user would expect (amounts `numeric`, times `timestamptz`, ids `uuid`, flags
//! `boolean`; text only where the value is text).

use std::collections::BTreeMap;

use credit_ledger::store::Store;
use sqlx::Row;

use crate::helpers::{Backend, Database};

/// Tables keyed by something other than the account, looked up by that key alone: each can be
/// distributed by its key (or kept as a reference table, as the API keys would be). Every other
/// table holds one account's rows and is distributed by `account_id` (`accounts` by its `id`).
const DIRECTORIES: [(&str, &str); 8] = [
    ("account_external_ids", "external_id"),
    ("hold_accounts", "hold_id"),
    ("account_creations", "key"),
    ("api_keys", "prefix"),
    ("price_versions", "book"),
    ("prices", "book"),
    // The books' close, one row, and each closed month's head: reference tables.
    ("books_closed", "name"),
    ("period_closes", "period"),
];

/// The columns whose values are text: names, codes, statuses, the store's own encodings,
/// hashes, keys and references. Any other column kept as text is an amount, a time or an id that
/// should have its own type.
const TEXT_COLUMNS: [&str; 37] = [
    "budgets",
    "period",
    "ledger_account",
    "auto_top_up",
    "recurring_grants",
    "subject",
    "cost_carry",
    "price_book",
    "rating_carry",
    "rating",
    "book",
    "dimension",
    "actor",
    "prefix",
    "secret_hash",
    "role",
    "name",
    "external_id",
    "unit",
    "status",
    "currency",
    "last_hash",
    "low_balance_kind",
    "alert_level",
    "kind",
    "scope",
    "reference",
    "reserved",
    "meter",
    "idempotency_key",
    "prev_hash",
    "hash",
    "postings",
    "request_hash",
    "outcome",
    "key",
    "payload",
];

/// The columns that are counts or sequence numbers.
const INTEGER_COLUMNS: [&str; 12] = [
    "price_version",
    "last_seq",
    "lines",
    "line",
    "block",
    "unit_scale",
    "open_holds",
    "entry_seq",
    "priority",
    "account_seq",
    "seq",
    "version",
];

async fn rows(store: &Store, sql: &str) -> Vec<sqlx::any::AnyRow> {
    sqlx::query(sql)
        .fetch_all(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The tables of the schema, each with the columns of its primary key, unique indexes and
/// foreign keys (as column lists).
async fn keys(store: &Store) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    let mut keys: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for row in rows(
        store,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations'",
    )
    .await
    {
        keys.insert(row.get(0), Vec::new());
    }
    // Unique indexes (primary keys among them), partial ones included.
    let unique = "SELECT t.relname::text, i.relname::text, \
                  string_agg(a.attname::text, ',' ORDER BY a.attname) \
                  FROM pg_index x \
                  JOIN pg_class t ON t.oid = x.indrelid \
                  JOIN pg_class i ON i.oid = x.indexrelid \
                  JOIN pg_namespace n ON n.oid = t.relnamespace \
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (x.indkey) \
                  WHERE n.nspname = 'public' AND x.indisunique \
                  GROUP BY t.relname, i.relname";
    // Foreign keys, by the columns of the referencing table and of the referenced one.
    let foreign = "SELECT t.relname::text, k.conname::text || ' -> ' || r.relname::text, \
                   (SELECT string_agg(a.attname::text, ',') FROM pg_attribute a \
                    WHERE a.attrelid = t.oid AND a.attnum = ANY (k.conkey)) || ' -> ' || \
                   (SELECT string_agg(a.attname::text, ',') FROM pg_attribute a \
                    WHERE a.attrelid = r.oid AND a.attnum = ANY (k.confkey)) \
                   FROM pg_constraint k \
                   JOIN pg_class t ON t.oid = k.conrelid \
                   JOIN pg_class r ON r.oid = k.confrelid \
                   JOIN pg_namespace n ON n.oid = t.relnamespace \
                   WHERE n.nspname = 'public' AND k.contype = 'f'";
    for sql in [unique, foreign] {
        for row in rows(store, sql).await {
            let table: String = row.get(0);
            let columns: String = row.get(2);
            let columns = columns.split(',').map(str::to_string).collect();
            if let Some(table_keys) = keys.get_mut(&table) {
                table_keys.push((row.get(1), columns));
            }
        }
    }
    keys
}

async fn migrated_postgres() -> (Database, Store) {
    let db = Database::fresh(Backend::Postgres).await;
    let store = Store::connect(&db.database_url(), 2, std::time::Duration::from_secs(5))
        .await
        .expect("store");
    store.migrate().await.expect("migrations");
    (db, store)
}

/// Every key of every table that leaves out the column the table would be distributed by.
fn keys_without_the_distribution_column(
    keys: &BTreeMap<String, Vec<(String, Vec<String>)>>,
) -> Vec<String> {
    let column_of = |table: &str| match DIRECTORIES.iter().find(|(t, _)| *t == table) {
        Some((_, key)) => *key,
        None if table == "accounts" => "id",
        None => "account_id",
    };
    let mut broken = Vec::new();
    for (table, table_keys) in keys {
        let column = column_of(table);
        if !table_keys.iter().any(|(name, _)| name.ends_with("_pkey")) {
            broken.push(format!("{table} has no primary key"));
        }
        for (name, columns) in table_keys {
            // A foreign key's columns read `referencing -> referenced`: it holds the distribution
            // column on this side and the referenced table's own on the other (the account's
            // id, or the directory's key), so both rows live on one shard.
            let holds = match name.split_once(" -> ") {
                Some((_, referenced)) => {
                    let joined = columns.join(",");
                    let (from, to) = joined.split_once(" -> ").unwrap_or_default();
                    let (from, to): (Vec<&str>, Vec<&str>) =
                        (from.split(',').collect(), to.split(',').collect());
                    from.contains(&column) && to.contains(&column_of(referenced))
                }
                None => columns.iter().any(|c| c == column),
            };
            if !holds {
                broken.push(format!(
                    "{table}: {name} ({}) leaves out {column}",
                    columns.join(",")
                ));
            }
        }
    }
    broken
}

#[tokio::test]
async fn postgres_every_table_can_be_distributed_by_its_key() {
    let (_db, store) = migrated_postgres().await;
    let keys = keys(&store).await;
    let broken = keys_without_the_distribution_column(&keys);
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    // The classification covers what it names: every directory and the customer-side tables.
    for (directory, _) in DIRECTORIES {
        assert!(keys.contains_key(directory), "{directory} exists");
    }
    for table in [
        "accounts",
        "lots",
        "holds",
        "entries",
        "idempotency",
        "commitments",
        "events",
    ] {
        assert!(keys.contains_key(table), "{table} exists");
    }
}

/// The rule fails on a key that leaves the account out, and on a table with no primary key: a
/// check of the check.
#[tokio::test]
async fn postgres_a_key_without_the_account_is_found() {
    let (_db, store) = migrated_postgres().await;
    for sql in [
        "CREATE UNIQUE INDEX lots_by_id_alone ON lots (id)",
        "CREATE TABLE notes (account_id uuid NOT NULL, body text NOT NULL)",
    ] {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    let broken = keys_without_the_distribution_column(&keys(&store).await);
    assert_eq!(
        broken,
        [
            "lots: lots_by_id_alone (id) leaves out account_id",
            "notes has no primary key"
        ]
    );
}

#[tokio::test]
async fn postgres_columns_have_native_types() {
    let (_db, store) = migrated_postgres().await;
    let columns = rows(
        &store,
        "SELECT table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name IN (SELECT tablename FROM pg_tables WHERE schemaname = 'public') \
         AND table_name <> '_sqlx_migrations'",
    )
    .await;
    let mut wrong = Vec::new();
    let mut amounts = 0;
    for row in &columns {
        let (table, column, data_type): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        let expected = if column == "id" || (column.ends_with("_id") && column != "external_id") {
            "uuid"
        } else if column.ends_with("_at")
            || [
                "term_start",
                "term_end",
                "credit_line_until",
                "period_start",
                "period_end",
                "closed_until",
            ]
            .contains(&column.as_str())
        {
            "timestamp with time zone"
        } else if TEXT_COLUMNS.contains(&column.as_str()) {
            "text"
        } else if INTEGER_COLUMNS.contains(&column.as_str()) {
            "bigint"
        } else if column == "notified" {
            "boolean"
        } else {
            amounts += 1;
            "numeric"
        };
        if data_type != expected {
            wrong.push(format!("{table}.{column} is {data_type}, not {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(amounts >= 20, "the amounts were found: {amounts}");
}

/// Finance can add up the journal in SQL: the `postings` view's amounts are numbers, and each
/// entry's debits equal its credits.
#[tokio::test]
async fn postgres_postings_view_sums_to_a_balanced_journal() {
    use crate::helpers::ExecutorRig;

    let rig = ExecutorRig::start(Backend::Postgres).await;
    rig.funded_account("summed", "100").await;
    let unbalanced = rows(
        &rig.store,
        "SELECT entry_id::text FROM postings GROUP BY entry_id, book, unit \
         HAVING SUM(CASE side WHEN 'debit' THEN amount ELSE -amount END) <> 0",
    )
    .await;
    assert!(
        unbalanced.is_empty(),
        "every entry balances per book and unit"
    );
    let issued = rows(
        &rig.store,
        "SELECT SUM(amount)::text FROM postings WHERE book = 'quantity' AND side = 'credit' \
         AND ledger_account LIKE 'lot:%'",
    )
    .await;
    assert_eq!(issued[0].get::<String, _>(0), "100");
    rig.stop().await;
}
