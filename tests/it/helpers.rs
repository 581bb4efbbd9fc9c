//! Starts the real server on port 0 against a fresh database per test: an SQLite file in a
//! temporary directory, or a new PostgreSQL database on the server named by
//! `CREDIT_LEDGER_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). A
//! PostgreSQL server that cannot be reached fails the test; it is never skipped.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use credit_ledger::clock::ManualClock;
use credit_ledger::config::{Config, DatabaseUrl};
use credit_ledger::proto::{
    self as p, accounts_client::AccountsClient, budgets_client::BudgetsClient,
    credits_client::CreditsClient, events_client::EventsClient, refills_client::RefillsClient,
    usage_client::UsageClient,
};
use credit_ledger::server::Application;
use credit_ledger::store::Store;
use credit_ledger::sweeper::{SweepReport, Sweeper};
use sqlx::{Connection, Executor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("CREDIT_LEDGER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The URL of database `name` on the admin URL's server.
fn pg_url_for(name: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

pub async fn pg_admin() -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&pg_admin_url())
        .await
        .expect("PostgreSQL must be reachable for the test suite (see README: Tests)")
}

pub struct Database {
    pub url: String,
    pub pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Database {
    pub fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url).expect("a test database URL")
    }

    /// Another handle on the same database, for a second instance (the first keeps ownership).
    pub fn same(&self) -> Database {
        Database {
            url: self.url.clone(),
            pg_name: self.pg_name.clone(),
            _dir: None,
        }
    }

    pub async fn fresh(backend: Backend) -> Database {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
                Database {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!("cl_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = pg_admin().await;
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create database");
                Database {
                    url: pg_url_for(&name),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

pub struct TestApp {
    pub addr: String,
    /// Where `GET /metrics` is served, when the test's configuration asked for it.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub clock: ManualClock,
    pub store: Store,
    pub db: Database,
    /// Holds an executor handle, so it is let go before the server is stopped (the executor
    /// drains once every handle is gone).
    sweeper: Option<Sweeper>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub fn test_config(url: &str) -> Config {
    Config {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        database_url: DatabaseUrl::parse(url).expect("a test database URL"),
        db_connections_max: 4,
        db_acquire_timeout_ms: 1_000,
        // Tests sweep when they choose to (`TestApp::sweep`), on their manual clock.
        sweep_interval_ms: 0,
        events_poll_ms: 20,
        // Tests stop at once; one test sets a grace period to watch it.
        shutdown_grace_ms: 0,
        // A key made during a test is taken within a few polls.
        auth_refresh_ms: 20,
        ..Config::default()
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap());
        Self::start(Database::fresh(backend).await, clock).await
    }

    /// A server whose test configuration `tweak` changes first.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap());
        let db = Database::fresh(backend).await;
        let mut config = test_config(&db.url);
        tweak(&mut config);
        Self::start_with(db, clock, config).await
    }

    pub async fn start(db: Database, clock: ManualClock) -> TestApp {
        let config = test_config(&db.url);
        Self::start_with(db, clock, config).await
    }

    async fn start_with(db: Database, clock: ManualClock, config: Config) -> TestApp {
        let app = Application::build(config, Arc::new(clock.clone()))
            .await
            .expect("application builds");
        let addr = format!("http://{}", app.local_addr());
        let metrics_addr = app.metrics_addr();
        let store = app.store();
        let sweeper = app.sweeper();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            metrics_addr,
            clock,
            store,
            db,
            sweeper: Some(sweeper),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and starts a new one on the same database.
    pub async fn restart(mut self) -> TestApp {
        self.shutdown().await;
        let db = std::mem::replace(
            &mut self.db,
            Database {
                url: String::new(),
                pg_name: None,
                _dir: None,
            },
        );
        Self::start(db, self.clock.clone()).await
    }

    /// Sends the server its shutdown signal without waiting for it to stop.
    pub fn signal_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn shutdown(&mut self) {
        self.sweeper = None;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.addr.clone())
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    pub async fn accounts(&self) -> AccountsClient<Channel> {
        AccountsClient::new(self.channel().await)
    }

    pub async fn credits(&self) -> CreditsClient<Channel> {
        CreditsClient::new(self.channel().await)
    }

    pub async fn usage(&self) -> UsageClient<Channel> {
        UsageClient::new(self.channel().await)
    }

    pub async fn budgets(&self) -> BudgetsClient<Channel> {
        BudgetsClient::new(self.channel().await)
    }

    pub async fn refills(&self) -> RefillsClient<Channel> {
        RefillsClient::new(self.channel().await)
    }

    pub async fn events(&self) -> EventsClient<Channel> {
        EventsClient::new(self.channel().await)
    }

    /// Runs the sweeper once at the test clock's time.
    pub async fn sweep(&self) -> SweepReport {
        let sweeper = self.sweeper.as_ref().expect("the server is running");
        sweeper.run_once().await.expect("sweep")
    }

    /// Creates an account with the given unit scale and returns its id.
    pub async fn account(&self, external_id: &str, unit_scale: u32) -> String {
        let response = self
            .accounts()
            .await
            .create_account(p::CreateAccountRequest {
                idempotency_key: format!("create-{external_id}"),
                external_id: external_id.into(),
                unit: "CREDIT".parse().unwrap(),
                unit_scale,
                ..Default::default()
            })
            .await
            .expect("account created");
        response.into_inner().account.unwrap().account_id
    }

    pub async fn top_up(&self, account: &str, quantity: &str, price: &str, key: &str) -> p::Lot {
        let request = p::TopUpRequest {
            idempotency_key: key.into(),
            account: Some(by_id(account)),
            quantity: quantity.into(),
            price: price.into(),
            currency: "USD".parse().unwrap(),
            ..Default::default()
        };
        self.credits()
            .await
            .top_up(request)
            .await
            .expect("top-up")
            .into_inner()
            .lot
            .unwrap()
    }

    /// Debits `quantity` from `account`; the raw result, so refusals can be asserted on.
    pub async fn debit(
        &self,
        account: p::AccountRef,
        quantity: &str,
        key: &str,
    ) -> Result<p::DebitResponse, tonic::Status> {
        let request = p::DebitRequest {
            idempotency_key: key.into(),
            account: Some(account),
            quantity: quantity.into(),
            ..Default::default()
        };
        self.usage()
            .await
            .debit(request)
            .await
            .map(|r| r.into_inner())
    }

    /// Places a hold on `account` (by id) for `ttl_ms`, 0 meaning the server's default; the
    /// hold, or the refusal.
    pub async fn authorize(
        &self,
        account: &str,
        quantity: &str,
        key: &str,
        ttl_ms: u64,
    ) -> Result<p::Hold, tonic::Status> {
        let request = p::AuthorizeRequest {
            idempotency_key: key.into(),
            account: Some(by_id(account)),
            quantity: quantity.into(),
            ttl_ms,
            ..Default::default()
        };
        self.usage()
            .await
            .authorize(request)
            .await
            .map(|r| r.into_inner().hold.expect("authorize returns the hold"))
    }

    /// Captures `quantity` of a hold, releasing the rest when `is_final`; the raw result.
    pub async fn capture(
        &self,
        hold_id: &str,
        quantity: &str,
        key: &str,
        is_final: bool,
    ) -> Result<p::CaptureResponse, tonic::Status> {
        let request = p::CaptureRequest {
            idempotency_key: key.into(),
            hold_id: hold_id.into(),
            quantity: quantity.into(),
            r#final: is_final,
            ..Default::default()
        };
        self.usage()
            .await
            .capture(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn balance(&self, account: &str) -> p::GetBalanceResponse {
        let request = p::GetBalanceRequest {
            account: Some(by_id(account)),
            as_of: None,
        };
        self.usage()
            .await
            .get_balance(request)
            .await
            .expect("balance")
            .into_inner()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A store on a fresh database with an executor on it (batches of up to 512, one loop), with no
/// server in front: for tests that queue commands themselves.
pub struct ExecutorRig {
    pub store: Store,
    pub executor: credit_ledger::executor::Executor,
    pub task: JoinHandle<()>,
    _db: Database,
}

impl ExecutorRig {
    pub async fn start(backend: Backend) -> ExecutorRig {
        ExecutorRig::on(Database::fresh(backend).await).await
    }

    /// An executor on `db`, migrated to this release first.
    pub async fn on(db: Database) -> ExecutorRig {
        use credit_ledger::executor::{Executor, ExecutorConfig};

        let store = Store::connect(&db.database_url(), 4, std::time::Duration::from_secs(5))
            .await
            .expect("store");
        store.migrate().await.expect("migrations");
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        ));
        let config = ExecutorConfig {
            queue_capacity: 1_000,
            batch_size_max: 512,
            workers: 1,
            linger: std::time::Duration::ZERO,
            limits: credit_ledger::ledger::Limits::default(),
            prices: Default::default(),
        };
        let (executor, task) = Executor::spawn(store.clone(), clock, config, Default::default());
        ExecutorRig {
            store,
            executor,
            task,
            _db: db,
        }
    }

    /// Opens an account named `name` and tops it up with `quantity` (for a tenth as much USD).
    pub async fn funded_account(
        &self,
        name: &str,
        quantity: &str,
    ) -> credit_ledger::ledger::AccountId {
        use credit_ledger::ledger::*;

        let created = self
            .executor
            .submit(Command::CreateAccount(CreateAccount {
                idempotency_key: format!("create-{name}"),
                external_id: name.into(),
                unit: "CREDIT".parse().unwrap(),
                unit_scale: 0,
                credit_line_limit: Default::default(),
                credit_line_price: Money::ZERO,
                currency: "USD".parse().unwrap(),
                low_balance: LowBalance::None,
            }))
            .await
            .expect("account created");
        let Outcome::Account(account) = created else {
            panic!("not an account: {created:?}")
        };
        let quantity = Quantity::parse("quantity", quantity).expect("a quantity");
        let price = (quantity.get() / rust_decimal::Decimal::TEN).normalize();
        let price = Money::parse("price", &price.to_string()).expect("a price");
        self.executor
            .submit(Command::Grant(Grant {
                idempotency_key: format!("fund-{name}"),
                account_id: account.id,
                kind: LotKind::Paid,
                quantity,
                price,
                currency: Some("USD".parse().unwrap()),
                priority: 0,
                effective_at: None,
                expires_at: None,
                scope: Vec::new(),
                reference: String::new(),
            }))
            .await
            .expect("funded");
        account.id
    }

    /// The PostgreSQL database's name, for tests that act on its sessions.
    pub fn pg_name(&self) -> Option<String> {
        self._db.pg_name.clone()
    }

    /// A second instance: its own store and executor on the same database.
    pub async fn second(&self) -> ExecutorRig {
        ExecutorRig::on(self._db.same()).await
    }

    /// Drops the executor's handle and waits for its loop to drain.
    pub async fn stop(self) {
        drop(self.executor);
        self.task.await.expect("executor task");
    }
}

/// Installs a trigger named `name` that refuses every entry whose reference is `reference`, the
/// way a store refuses a value it cannot hold: SQLite's RAISE(ABORT) is a constraint failure,
/// PostgreSQL's a check violation (class 23). Returns the statement that drops it again.
pub async fn refuse_entries(
    store: &Store,
    backend: Backend,
    name: &str,
    reference: &str,
) -> String {
    let pool = store.pool();
    match backend {
        Backend::Sqlite => {
            pool.execute(
                format!(
                    "CREATE TRIGGER {name} BEFORE INSERT ON entries \
                     WHEN NEW.reference = '{reference}' BEGIN SELECT RAISE(ABORT, '{name}'); END"
                )
                .as_str(),
            )
            .await
            .expect("trigger");
            format!("DROP TRIGGER {name}")
        }
        Backend::Postgres => {
            pool.execute(
                format!(
                    "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN \
                     IF NEW.reference = '{reference}' THEN \
                     RAISE EXCEPTION '{name}' USING ERRCODE = 'check_violation'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql"
                )
                .as_str(),
            )
            .await
            .expect("trigger function");
            pool.execute(
                format!(
                    "CREATE TRIGGER {name} BEFORE INSERT ON entries FOR EACH ROW \
                     EXECUTE FUNCTION {name}()"
                )
                .as_str(),
            )
            .await
            .expect("trigger");
            format!("DROP TRIGGER {name} ON entries")
        }
    }
}

pub fn by_id(id: &str) -> p::AccountRef {
    p::AccountRef {
        r#ref: Some(p::account_ref::Ref::AccountId(id.to_string())),
    }
}

pub fn by_external(id: &str) -> p::AccountRef {
    p::AccountRef {
        r#ref: Some(p::account_ref::Ref::ExternalId(id.to_string())),
    }
}

/// The machine-readable reason of a refusal (`ErrorInfo.reason`).
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

pub fn metadata(status: &tonic::Status, key: &str) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .and_then(|i| i.metadata.get(key).cloned())
        .unwrap_or_default()
}

/// Runs an async test function once on each store.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// xorshift64*: small, deterministic, good enough to pick a seeded workload's operations.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A positive amount with `scale` decimals, at most `max` whole units.
    pub fn amount(&mut self, max: u64, scale: u32) -> String {
        let units = 10u64.pow(scale);
        rust_decimal::Decimal::new((1 + self.below(max * units)) as i64, scale).to_string()
    }
}
