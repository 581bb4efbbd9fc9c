//! Where the service's logs and traces go: log lines to stdout (text or JSON, colours only on a
//! terminal) and, when `otlp_endpoint` is set, every span to an OpenTelemetry collector over
//! OTLP/gRPC. A call's span is a child of the caller's `traceparent` (`api/trace.rs`), so the
//! collector shows the ledger's part of the caller's trace.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

use crate::config::LogFormat;

/// What must be flushed before the process exits.
#[must_use = "shut it down to send the last spans"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// Installs the process's subscriber: `RUST_LOG` (default `info`) filters both logs and traces.
/// Called once, inside the tokio runtime (the exporter's channel lives on it).
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, never in a file or a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let logs = tracing_subscriber::fmt::layer().with_ansi(ansi);
    let logs = match format {
        LogFormat::Json => logs.json().boxed(),
        LogFormat::Text => logs.boxed(),
    };
    let traces = otlp_endpoint.map(exporter).transpose()?;
    let export = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(env!("CARGO_PKG_NAME")))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(export)
        .init();
    if let Some(endpoint) = otlp_endpoint {
        tracing::info!(endpoint, "exporting traces over OTLP");
    }
    Ok(Telemetry { traces })
}

/// Spans are sent in batches from a thread of the SDK's own, so a slow or absent collector never
/// holds up a call: when its queue is full, spans are dropped, not waited for.
fn exporter(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("the OTLP exporter for {endpoint}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(env!("CARGO_PKG_NAME"))
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

impl Telemetry {
    /// Sends the spans still queued (the SDK bounds how long that may take).
    pub fn shutdown(self) {
        if let Some(provider) = self.traces {
            if let Err(error) = provider.shutdown() {
                tracing::warn!(%error, "the last spans were not all exported");
            }
        }
    }
}
