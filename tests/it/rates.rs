//! Price book versions published from files, straight on the database, and read back: what is
//! stored is what was published, a retry is the same version, and a malformed or incomplete
//! version is refused at the line that is wrong, writing nothing.

use chrono::{Duration, TimeZone, Utc};
use credit_ledger::ledger::rating::{self, Catalog, DEFAULT_BOOK};
use credit_ledger::rates::{self, RatesError, Request};
use credit_ledger::store::Store;

use crate::helpers::{Backend, Database};

async fn store(backend: Backend) -> (Database, Store) {
    let db = Database::fresh(backend).await;
    let store = Store::connect(&db.database_url(), 2, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (db, store)
}

fn request(key: &str, file: &rates::FileRates) -> Request {
    Request {
        book: DEFAULT_BOOK.into(),
        idempotency_key: key.into(),
        effective_at: file.effective_at,
        rates: file.rates.clone(),
        retired: file.retired.clone(),
    }
}

fn example() -> rates::FileRates {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rates.toml");
    rates::read_file(&path).unwrap()
}

async fn a_published_version_is_stored_whole_and_a_retry_gets_it_back(backend: Backend) {
    let (_db, store) = store(backend).await;
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
    let file = example();
    let first = rates::publish(&store, request("k1", &file), now)
        .await
        .unwrap();
    assert_eq!((first.version, first.effective_at), (1, now));
    assert_eq!(first.rates.len(), 7);
    let stored = store.price_versions().await.unwrap();
    assert_eq!(stored, vec![first.clone()]);
    // The same key and prices, later: the same version, nothing new.
    let later = now + Duration::minutes(5);
    let again = rates::publish(&store, request("k1", &file), later)
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(store.price_version_count().await.unwrap(), 1);
    // The same key with other prices is refused.
    let mut other = request("k1", &file);
    other.rates[0].1.price = "3".parse().unwrap();
    let error = rates::publish(&store, other.clone(), later)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RatesError::KeyReused { version: 1, .. }),
        "{error}"
    );
    // Under a key of its own it is version 2, in force from its time on.
    other.idempotency_key = "k2".into();
    let second = rates::publish(&store, other, later).await.unwrap();
    assert_eq!(second.version, 2);
    let mut catalog = Catalog::default();
    for version in store.price_versions().await.unwrap() {
        catalog.add(version);
    }
    assert_eq!(catalog.in_force(DEFAULT_BOOK, now).unwrap().version, 1);
    assert_eq!(catalog.in_force(DEFAULT_BOOK, later).unwrap().version, 2);
    let usage = rating::Usage::from([("input_tokens".to_string(), "1000000".parse().unwrap())]);
    let credit = "CREDIT".parse().unwrap();
    let old = rating::rate(
        catalog.version(DEFAULT_BOOK, 1).unwrap(),
        "chat:large",
        credit,
        &usage,
    );
    let new = rating::rate(
        catalog.version(DEFAULT_BOOK, 2).unwrap(),
        "chat:large",
        credit,
        &usage,
    );
    assert_eq!(old.unwrap().value.to_string(), "2.5");
    assert_eq!(new.unwrap().value.to_string(), "3");
}

async fn an_incomplete_or_malformed_version_is_refused_and_nothing_is_written(backend: Backend) {
    let (_db, store) = store(backend).await;
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
    rates::publish(&store, request("k1", &example()), now)
        .await
        .unwrap();
    // Dropping image:xl without retiring it.
    let mut file = example();
    file.rates.retain(|(_, r)| r.meter != "image:xl");
    let error = rates::publish(&store, request("k2", &file), now)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("image:xl images"), "{error}");
    file.retired = vec![rates::retired("image:xl").unwrap()];
    assert_eq!(
        rates::publish(&store, request("k2", &file), now)
            .await
            .unwrap()
            .version,
        2
    );
    // A price with too many decimals, named by its line of the file.
    let toml = "[[rates]]\nmeter = \"m\"\ndimension = \"d\"\nunit = \"CREDIT\"\nblock = 1\nprice = \"1\"\n\n\
                [[rates]]\nmeter = \"m\"\ndimension = \"e\"\nunit = \"CREDIT\"\nblock = 1\nprice = \"0.0000000001\"\n";
    let file = rates::from_toml(toml).unwrap();
    assert_eq!(file.rates[1].0, "line 8");
    let error = rates::publish(&store, request("k3", &file), now)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 8: price 0.0000000001 has more than 9 decimals"
    );
    // A float where a decimal string belongs, and a cost without a currency.
    let error = rates::from_toml(&toml.replace("price = \"1\"", "price = 1.5")).unwrap_err();
    assert!(error.to_string().contains("line 6"), "{error}");
    let csv = "meter,dimension,unit,block,price,cost,currency\nm,d,CREDIT,1,1,,\nm,e,CREDIT,1000,1,0.5,\n";
    let error = rates::from_csv(csv).unwrap_err();
    assert_eq!(error.to_string(), "line 3: a cost needs its currency");
    // A dimension listed twice, in CSV.
    let csv =
        "meter,dimension,unit,block,price,cost,currency\nm,d,CREDIT,1,1,,\nm,d,CREDIT,1000,1,,\n";
    let file = rates::from_csv(csv).unwrap();
    let error = rates::publish(&store, request("k4", &file), now)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("line 3: m d in CREDIT is priced twice"),
        "{error}"
    );
    // A version effective before now.
    let mut past = request("k5", &example());
    past.effective_at = Some(now - Duration::seconds(1));
    let error = rates::publish(&store, past, now).await.unwrap_err();
    assert!(error.to_string().contains("in the past"), "{error}");
    assert_eq!(store.price_version_count().await.unwrap(), 2);
}

crate::both_stores!(
    a_published_version_is_stored_whole_and_a_retry_gets_it_back,
    an_incomplete_or_malformed_version_is_refused_and_nothing_is_written,
);
