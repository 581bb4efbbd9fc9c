//! Builds the application (store, executor, gRPC server with health and reflection) and runs it
//! until a shutdown signal: health goes NOT_SERVING, the server stops accepting and finishes the
//! requests in flight, the executor finishes its batch, the pool closes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::auth::{AuthLayer, KeyCache};
use crate::api::tls::TlsFiles;
use crate::api::transport::{serve, Transport};
use crate::api::{
    accounts::AccountsService, budgets::BudgetsService, credits::CreditsService,
    events::EventsService, journal::JournalService, keys::KeysService, pricing::PricingService,
    refills::RefillsService, usage::UsageService, Services,
};
use crate::clock::Clock;
use crate::config::Config;
use crate::config::Dialect;
use crate::executor::Executor;
use crate::executor::ExecutorConfig;
use crate::journal::export::GlCodes;
use crate::metrics::Metrics;
use crate::proto;
use crate::rates::Prices;
use crate::store::Store;
use crate::sweeper::Sweeper;
use crate::sweeper::SweeperConfig;
use tokio_rustls::TlsAcceptor;

pub struct Application {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    local_addr: SocketAddr,
    metrics_listener: Option<TcpListener>,
    services: Arc<Services>,
    executor_task: JoinHandle<()>,
    sweeper: Sweeper,
    stop: tokio::sync::watch::Sender<bool>,
    config: Config,
}

impl Application {
    /// Connects to the database (creating an SQLite file on first start), applies migrations,
    /// starts the executor and binds the listener.
    /// `config` is taken as valid: [`Config::load`] validates what it loads.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let store = Store::connect(
            &config.database_url,
            config.db_connections_max,
            Duration::from_millis(config.db_acquire_timeout_ms),
        )
        .await?;
        store.migrate().await?;
        let tls = match (&config.tls_cert_path, &config.tls_key_path) {
            (Some(cert), Some(key)) => Some(crate::api::tls::acceptor(&TlsFiles {
                cert,
                key,
                client_ca: config.tls_client_ca_path.as_deref(),
            })?),
            _ => None,
        };
        let metrics = Arc::new(Metrics::new());
        let prices = Prices::default();
        let versions = (prices.reload(&store).await).context("loading the price books")?;
        tracing::info!(versions, "price books loaded");
        let (executor, executor_task) = Executor::spawn(
            store.clone(),
            clock.clone(),
            executor_config(&config, prices.clone()),
            metrics,
        );
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("binding {}", config.listen_addr))?;
        let local_addr = listener.local_addr()?;
        let metrics_listener = crate::metrics::bind(config.metrics_listen_addr).await?;
        if let Some(metrics) = &metrics_listener {
            tracing::info!(addr = %metrics.local_addr()?, "metrics at GET /metrics");
        }
        tracing::info!(
            %local_addr,
            database = %config.database_url.redacted(),
            tls = tls.is_some(),
            mutual_tls = config.tls_client_ca_path.is_some(),
            "credit-ledger ready"
        );
        let sweeper = Sweeper::new(
            store.clone(),
            executor.clone(),
            clock.clone(),
            sweeper_config(&config),
        );
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let services = Arc::new(Services {
            store,
            executor,
            clock,
            page_size_default: config.page_size_default,
            page_size_max: config.page_size_max,
            shutdown,
            events_poll: Duration::from_millis(config.events_poll_ms),
            prices,
        });
        Ok(Application {
            listener,
            tls,
            local_addr,
            metrics_listener,
            services,
            executor_task,
            sweeper,
            stop,
            config,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `GET /metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn store(&self) -> Store {
        self.services.store.clone()
    }

    /// The application's sweeper, for running a sweep on demand (it also runs on its interval).
    pub fn sweeper(&self) -> Sweeper {
        self.sweeper.clone()
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            tls,
            metrics_listener,
            services,
            executor_task,
            sweeper,
            stop,
            config,
            ..
        } = self;
        let sweeper_task = tokio::spawn(sweeper.run(stop.subscribe()));
        let store = services.store.clone();
        let metrics = services.executor.metrics().clone();
        let auth = auth_layer(&config, &store, metrics.clone()).await?;
        let metrics_task = metrics_listener.map(|listener| {
            tokio::spawn(crate::metrics::serve(
                listener,
                metrics.clone(),
                stop.subscribe(),
            ))
        });
        let keys_task = tokio::spawn(auth.keys.clone().refresh(
            store.clone(),
            Duration::from_millis(config.auth_refresh_ms),
            stop.subscribe(),
        ));
        let prices_task = tokio::spawn(services.prices.clone().refresh(
            store.clone(),
            Duration::from_millis(config.rates_refresh_ms),
            stop.subscribe(),
        ));
        let (health, health_service) = tonic_health::server::health_reporter();
        set_serving(&health, true).await;
        // Both reflection versions: older grpcurl, Postman and Python's reflection client speak
        // only v1alpha.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1().context("building reflection")?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .context("building reflection")?;
        let size = config.message_size_max_bytes;
        let accounts =
            proto::accounts_server::AccountsServer::new(AccountsService(services.clone()))
                .max_decoding_message_size(size)
                .max_encoding_message_size(size);
        let credits = proto::credits_server::CreditsServer::new(CreditsService(services.clone()))
            .max_decoding_message_size(size)
            .max_encoding_message_size(size);
        let usage = proto::usage_server::UsageServer::new(UsageService(services.clone()))
            .max_decoding_message_size(size)
            .max_encoding_message_size(size);
        let journal = proto::journal_server::JournalServer::new(JournalService::new(
            services.clone(),
            GlCodes(config.gl_codes.clone()),
        ))
        .max_decoding_message_size(size)
        .max_encoding_message_size(size);
        let keys = proto::keys_server::KeysServer::new(KeysService(services.clone()))
            .max_decoding_message_size(size)
            .max_encoding_message_size(size);
        let pricing = proto::pricing_server::PricingServer::new(PricingService(services.clone()))
            .max_decoding_message_size(size)
            .max_encoding_message_size(size);
        let budgets = proto::budgets_server::BudgetsServer::new(BudgetsService(services.clone()))
            .max_decoding_message_size(size)
            .max_encoding_message_size(size);
        let refills = proto::refills_server::RefillsServer::new(RefillsService(services.clone()))
            .max_decoding_message_size(size)
            .max_encoding_message_size(size);
        let events = proto::events_server::EventsServer::new(EventsService(services))
            .max_decoding_message_size(size)
            .max_encoding_message_size(size);
        let grace = Duration::from_millis(config.shutdown_grace_ms);
        let stopping = async move {
            shutdown.await;
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "shutting down: health not serving, calls still served for the grace period"
            );
            set_serving(&health, false).await;
            tokio::time::sleep(grace).await;
            tracing::info!("closing the listener, draining requests in flight");
            // Ends the sweeper and the event subscriptions, which would otherwise hold the
            // server open.
            let _ = stop.send(true);
        };
        let routes = tonic::service::Routes::new(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(accounts)
            .add_service(credits)
            .add_service(usage)
            .add_service(events)
            .add_service(journal)
            .add_service(keys)
            .add_service(pricing)
            .add_service(budgets)
            .add_service(refills);
        let transport = Transport {
            tls,
            request_timeout: Duration::from_millis(config.request_timeout_ms),
            concurrency_per_connection_max: config.concurrency_per_connection_max,
        };
        serve(listener, routes, transport, auth, metrics, stopping).await;
        let _ = keys_task.await;
        let _ = prices_task.await;
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        sweeper_task.await.context("sweeper task")?;
        // Every executor handle went with the services and the sweeper; the loop ends after its
        // last batch.
        executor_task.await.context("executor task")?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The key check, with the keys loaded. Says in the log whether calls need a key, and warns at
/// every start when they do not on an address beyond loopback.
async fn auth_layer(
    config: &Config,
    store: &Store,
    metrics: Arc<Metrics>,
) -> anyhow::Result<AuthLayer> {
    let keys = KeyCache::new(metrics);
    let count = keys.reload(store).await.context("loading the API keys")?;
    let required = config.auth_required();
    let addr = config.listen_addr;
    match (required, addr.ip().is_loopback()) {
        (true, _) => tracing::info!(keys = count, "API keys required"),
        (false, true) => tracing::info!(
            keys = count,
            "API keys not required: listening on loopback only (a key that is sent is checked)"
        ),
        (false, false) => tracing::warn!(
            keys = count,
            %addr,
            "API keys NOT required on an address beyond loopback (auth = \"off\"): anyone who \
             can reach it can move credit"
        ),
    }
    Ok(AuthLayer { keys, required })
}

/// The executor's settings. SQLite has one writer, so it always gets one batch loop.
fn executor_config(config: &Config, prices: Prices) -> ExecutorConfig {
    ExecutorConfig {
        queue_capacity: config.queue_capacity,
        batch_size_max: config.batch_size_max,
        workers: match config.database_url.dialect() {
            Dialect::Postgres => config.executor_workers,
            Dialect::Sqlite => 1,
        },
        linger: Duration::from_micros(config.batch_linger_us),
        limits: config.limits(),
        prices,
    }
}

fn sweeper_config(config: &Config) -> SweeperConfig {
    SweeperConfig {
        interval: Duration::from_millis(config.sweep_interval_ms),
        accounts_per_round: config.sweep_accounts_max,
        commitment_notice_ms: config.commitment_notice_ms,
        close_after_ms: config.close_after_ms,
    }
}

async fn set_serving(health: &tonic_health::server::HealthReporter, serving: bool) {
    let status = if serving {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    for name in [
        "",
        "creditledger.v1.Accounts",
        "creditledger.v1.Credits",
        "creditledger.v1.Usage",
        "creditledger.v1.Events",
        "creditledger.v1.Journal",
    ] {
        health.set_service_status(name, status).await;
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
