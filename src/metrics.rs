//! The service's Prometheus metrics: one registry per application, updated where things happen
//! (the edge, the executor, the sweeper, event subscriptions, the key check) and served as
//! OpenMetrics text on `metrics_listen_addr` by [`serve`]. Names follow Prometheus conventions:
//! a `credit_ledger_` prefix, base units (`_seconds`), counters ending in `_total`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// A call's method and the gRPC code it was answered with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Call {
    pub method: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Method {
    pub method: String,
}

/// A label with one value out of a few, e.g. `way="carried"`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    pub kind: &'static str,
}

fn seconds() -> Histogram {
    // 100 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<Call, Counter>,
    pub request_seconds: Family<Method, Histogram, fn() -> Histogram>,
    pub queue_depth: Gauge,
    pub batch_commands: Histogram,
    /// Commands committed (a refused one too: it is answered from its committed batch).
    pub commands: Counter,
    pub commit_seconds: Histogram,
    /// Batches committed, by `kind`: `ordinary` or `carried`.
    pub batches: Family<Kind, Counter>,
    pub batches_redone: Counter,
    /// Store errors met by batches, by `kind`: `unavailable`, `unique_violation`, `refused`,
    /// `corrupt` or `other`.
    pub store_errors: Family<Kind, Counter>,
    pub offenders: Counter,
    pub sweeper_runs: Counter,
    /// What the sweeper posted: lots and holds expired, terms ended, notices raised.
    pub sweeper_postings: Counter,
    pub subscriptions: Gauge,
    pub events_sent: Counter,
    /// From an event's recording to its sending on a subscription.
    pub event_lag_seconds: Histogram,
    /// Key checks, by `kind`: `valid` or `invalid` (unknown, revoked or malformed).
    pub key_checks: Family<Kind, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut metrics = Metrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(seconds),
            queue_depth: Gauge::default(),
            batch_commands: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            commands: Counter::default(),
            commit_seconds: seconds(),
            batches: Family::default(),
            batches_redone: Counter::default(),
            store_errors: Family::default(),
            offenders: Counter::default(),
            sweeper_runs: Counter::default(),
            sweeper_postings: Counter::default(),
            subscriptions: Gauge::default(),
            events_sent: Counter::default(),
            event_lag_seconds: seconds(),
            key_checks: Family::default(),
            registry: Registry::with_prefix("credit_ledger"),
        };
        let r = &mut metrics.registry;
        r.register(
            "requests",
            "gRPC calls answered, by method and code",
            metrics.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "time from a call's arrival to its answer's headers, by method",
            metrics.request_seconds.clone(),
        );
        r.register(
            "executor_queue_depth",
            "commands waiting for a batch when the last batch was taken",
            metrics.queue_depth.clone(),
        );
        r.register(
            "batch_commands",
            "commands per committed batch",
            metrics.batch_commands.clone(),
        );
        r.register(
            "commands",
            "commands committed in batches",
            metrics.commands.clone(),
        );
        r.register(
            "batch_commit_duration_seconds",
            "a batch's write and commit",
            metrics.commit_seconds.clone(),
        );
        r.register(
            "batches",
            "batches committed, ordinary or carried (applied to the state the previous one left)",
            metrics.batches.clone(),
        );
        r.register(
            "batches_redone",
            "carried batches applied again from the store",
            metrics.batches_redone.clone(),
        );
        r.register(
            "store_errors",
            "store errors met by batches, by kind",
            metrics.store_errors.clone(),
        );
        r.register(
            "isolated_offenders",
            "commands answered alone after their batch failed on them",
            metrics.offenders.clone(),
        );
        r.register("sweeper_runs", "sweeper runs", metrics.sweeper_runs.clone());
        r.register(
            "sweeper_postings",
            "lots and holds expired, terms ended and notices raised by the sweeper",
            metrics.sweeper_postings.clone(),
        );
        r.register(
            "event_subscriptions",
            "open event subscriptions",
            metrics.subscriptions.clone(),
        );
        r.register(
            "events_sent",
            "events sent on subscriptions",
            metrics.events_sent.clone(),
        );
        r.register(
            "event_lag_seconds",
            "from an event's recording to its sending on a subscription",
            metrics.event_lag_seconds.clone(),
        );
        r.register(
            "api_key_checks",
            "API key checks, valid or invalid",
            metrics.key_checks.clone(),
        );
        r.register(
            "build",
            "the running build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        metrics
    }

    pub fn count(&self, family: &Family<Kind, Counter>, kind: &'static str) {
        family.get_or_create(&Kind { kind }).inc();
    }

    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The gRPC code's name as the gRPC specification spells it.
pub fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `listener` until `stop` turns true. Anything else is 404.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::debug!(%error, "metrics accept failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let metrics = metrics.clone();
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let metrics = metrics.clone();
            async move { Ok::<_, std::convert::Infallible>(answer(&metrics, &request)) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            // A scrape is small; a client that holds a connection open is cut off.
            let _ = tokio::time::timeout(Duration::from_secs(30), connection).await;
        });
    }
}

fn answer<B>(metrics: &Metrics, request: &http::Request<B>) -> http::Response<String> {
    let found = request.method() == http::Method::GET && request.uri().path() == "/metrics";
    let response = http::Response::builder();
    match found {
        true => response
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(metrics.render()),
        false => response
            .status(http::StatusCode::NOT_FOUND)
            .body("not found: GET /metrics\n".to_string()),
    }
    .expect("a valid response")
}

/// Binds the metrics listener, when one is configured.
pub async fn bind(addr: Option<SocketAddr>) -> anyhow::Result<Option<TcpListener>> {
    use anyhow::Context as _;
    match addr {
        Some(addr) => {
            Ok(Some(TcpListener::bind(addr).await.with_context(|| {
                format!("binding the metrics listener {addr}")
            })?))
        }
        None => Ok(None),
    }
}
