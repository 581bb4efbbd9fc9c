//! Trace context: a call's `traceparent` trace id (or a new one) is in the `ErrorInfo` of its
//! error, and in the JSON log lines written while it is served.

use std::time::Duration;

use credit_ledger::proto as p;
use tonic::metadata::MetadataValue;

use crate::helpers::{by_id, metadata, Backend, TestApp};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn traced<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("00-{TRACE}-00f067aa0ba902b7-01").parse().unwrap();
    request.metadata_mut().insert("traceparent", value);
    request
}

fn unknown_balance() -> p::GetBalanceRequest {
    p::GetBalanceRequest {
        account: Some(by_id(&uuid::Uuid::now_v7().to_string())),
        as_of: None,
    }
}

async fn an_error_carries_the_callers_trace_id_or_a_new_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut usage = app.usage().await;
    let status = usage
        .get_balance(traced(unknown_balance()))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "trace_id"), TRACE);
    let status = usage.get_balance(unknown_balance()).await.unwrap_err();
    let fresh = metadata(&status, "trace_id");
    assert_eq!(fresh.len(), 32, "{status:?}");
    assert_ne!(fresh, TRACE);
}

crate::both_stores!(an_error_carries_the_callers_trace_id_or_a_new_one);

/// The real binary, serving SQLite in a fresh directory with JSON logs and `env` besides; a
/// channel to it once it listens.
async fn serve(
    dir: &std::path::Path,
    env: &[(&str, String)],
) -> (tokio::process::Child, tonic::transport::Channel) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = tokio::process::Command::new(env!("CARGO_BIN_EXE_credit-ledger"))
        .arg("serve")
        .env(
            "CREDIT_LEDGER_DATABASE_URL",
            format!("sqlite://{}/l.db", dir.display()),
        )
        .env("CREDIT_LEDGER_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("CREDIT_LEDGER_LOG_FORMAT", "json")
        .env("CREDIT_LEDGER_SHUTDOWN_GRACE_MS", "0")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if let Ok(channel) = tonic::transport::Channel::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
        {
            return (server, channel);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server does not listen on {url}");
}

/// A debit of an account that does not exist, with the test's `traceparent`: the engine refuses
/// it, and the service logs the refusal at debug while serving the call.
async fn traced_refusal(channel: tonic::transport::Channel) {
    let mut usage = p::usage_client::UsageClient::new(channel);
    let debit = p::DebitRequest {
        idempotency_key: "traced".into(),
        account: Some(by_id(&uuid::Uuid::now_v7().to_string())),
        quantity: "1".into(),
        ..Default::default()
    };
    let status = usage.debit(traced(debit)).await.unwrap_err();
    assert_eq!(metadata(&status, "trace_id"), TRACE);
}

/// Stops the server as an orchestrator does (SIGTERM) and answers what it wrote to stdout.
async fn stop(mut server: tokio::process::Child) -> String {
    use tokio::io::AsyncReadExt;

    let pid = server.id().expect("running").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let mut out = String::new();
    let mut stdout = server.stdout.take().unwrap();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_to_string(&mut out))
        .await
        .expect("the server stops")
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .expect("the server exits")
        .unwrap();
    assert!(status.success(), "{status:?}\n{out}");
    out
}

/// The real binary with JSON logs: a line it writes while serving a traced call names the trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_log_lines_of_a_call_carry_its_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let debug = [("RUST_LOG", "info,credit_ledger::api=debug".to_string())];
    let (server, channel) = serve(dir.path(), &debug).await;
    traced_refusal(channel).await;
    let out = stop(server).await;
    let refused: Vec<&str> = out.lines().filter(|l| l.contains("\"refused\"")).collect();
    assert!(!refused.is_empty(), "no refusal logged:\n{out}");
    for line in refused {
        let line: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        // The call's span is among the spans the line was written in (the handler's own span
        // may be the innermost).
        let spans = line["spans"].as_array().expect("the line's spans");
        assert!(spans.iter().any(|s| s["trace_id"] == TRACE), "{line}");
    }
}

/// An OTLP collector in the test: it keeps every span it is sent.
struct Collector(tokio::sync::mpsc::UnboundedSender<otlp::trace::v1::Span>);

use opentelemetry_proto::tonic as otlp;
use otlp::collector::trace::v1 as collector;

#[tonic::async_trait]
impl collector::trace_service_server::TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<collector::ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<collector::ExportTraceServiceResponse>, tonic::Status> {
        for resource in request.into_inner().resource_spans {
            let service = (resource.resource.iter())
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.clone());
            let name = otlp::common::v1::any_value::Value::StringValue("credit-ledger".into());
            assert_eq!(service, Some(name), "the resource names the service");
            for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                let _ = self.0.send(span);
            }
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

/// With `otlp_endpoint` set, the span of a traced call reaches the collector by the time the
/// server has stopped: in the caller's trace, as a child of the caller's span, naming its method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_span_is_exported_as_a_child_of_the_callers_span() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (spans, mut received) = tokio::sync::mpsc::unbounded_channel();
    let service = collector::trace_service_server::TraceServiceServer::new(Collector(spans));
    let collector = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let (server, channel) = serve(dir.path(), &[("CREDIT_LEDGER_OTLP_ENDPOINT", endpoint)]).await;
    traced_refusal(channel).await;
    stop(server).await;
    collector.abort();
    let mut calls = Vec::new();
    while let Ok(span) = received.try_recv() {
        if span.name == "call" {
            calls.push(span);
        }
    }
    let debit = calls.iter().find(|span| {
        span.attributes.iter().any(|a| {
            a.key == "method"
                && a.value.as_ref().and_then(|v| v.value.clone())
                    == Some(otlp::common::v1::any_value::Value::StringValue(
                        "/creditledger.v1.Usage/Debit".into(),
                    ))
        })
    });
    let debit = debit.unwrap_or_else(|| panic!("no span of the debit among {calls:#?}"));
    assert_eq!(hex::encode(&debit.trace_id), TRACE);
    assert_eq!(hex::encode(&debit.parent_span_id), "00f067aa0ba902b7");
}
