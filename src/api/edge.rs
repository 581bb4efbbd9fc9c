//! The edge: a tower layer in front of every service that keeps the framework's own answers to
//! a client's mistakes within the API's contract.
//!
//! - **Deadlines.** A call is given until the earlier of its `grpc-timeout` and the server's
//!   `request_timeout_ms`, and is answered `DEADLINE_EXCEEDED` when that passes. A mutation may
//!   still commit after its caller was told so (the batch it joined goes on): its outcome is
//!   unknown, and retrying with the same idempotency key returns it.
//! - **Undecodable requests.** tonic answers a body it cannot decode (bytes that are not a
//!   protobuf message, a string that is not UTF-8, a broken frame) `INTERNAL`, which would page
//!   an on-call engineer for a client's mistake. Our own `INTERNAL` answers always carry an
//!   `ErrorInfo` (see `status::internal`); one without details came from decoding the request,
//!   and is answered `INVALID_ARGUMENT` with reason `MALFORMED_REQUEST`.
//! - **Oversize requests.** tonic answers a message above `message_size_max_bytes`
//!   `OUT_OF_RANGE`; gRPC's own servers answer `RESOURCE_EXHAUSTED`, and so do we. No service of
//!   ours answers `OUT_OF_RANGE` itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::{Code, Status};
use tower::{Layer, Service};

use super::status::with_reason;
use super::trace;
use crate::metrics::{Call, Method, Metrics};
use tracing::Instrument as _;

#[derive(Clone)]
pub struct EdgeLayer {
    /// The longest any call may take, whatever its own deadline.
    pub request_timeout: Duration,
    /// Every call is counted by method and code, and timed.
    pub metrics: Arc<Metrics>,
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            request_timeout: self.request_timeout,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    request_timeout: Duration,
    metrics: Arc<Metrics>,
}

type Response = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for Edge<S>
where
    S: Service<http::Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let deadline = deadline(request.headers(), self.request_timeout);
        let method = request.uri().path().to_string();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let parent = trace::parent(request.headers());
        let span = tracing::info_span!("call", method = %method, trace_id = tracing::field::Empty);
        let trace_id = trace::adopt(&span, parent);
        let inner = &mut self.inner;
        let call = span.in_scope(|| trace::sync_scope(trace_id.clone(), || inner.call(request)));
        let answered = async move {
            let answer = match tokio::time::timeout(deadline, call).await {
                Ok(Ok(response)) => Ok(contract(response)),
                Ok(Err(error)) => Err(error),
                Err(_) => Ok(deadline_exceeded().into_http()),
            };
            if let Ok(response) = &answer {
                record(&metrics, method, response, started);
            }
            answer
        };
        Box::pin(trace::scope(trace_id, answered).instrument(span))
    }
}

/// Counts a call by its method and the code its answer's headers carry: an error answered
/// before any message carries its code there; a call answered with messages carries it in the
/// trailers, which come later, and is counted `OK` (a stream that fails midway included).
fn record(metrics: &Metrics, method: String, response: &Response, started: Instant) {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32);
    metrics
        .request_seconds
        .get_or_create(&Method {
            method: method.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    let code = crate::metrics::code_name(code).to_string();
    metrics.requests.get_or_create(&Call { method, code }).inc();
}

/// How long a call may take: its `grpc-timeout`, capped by the server's limit.
fn deadline(headers: &http::HeaderMap, request_timeout: Duration) -> Duration {
    let asked = headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    match asked {
        Some(asked) => asked.min(request_timeout),
        None => request_timeout,
    }
}

/// `grpc-timeout` as the gRPC spec writes it: at most 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3_600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn deadline_exceeded() -> Status {
    with_reason(
        Code::DeadlineExceeded,
        "DEADLINE_EXCEEDED",
        "the call's deadline passed before it was answered; a mutation's outcome is unknown: \
         retry it with the same idempotency key to learn it",
    )
}

/// Rewrites the framework's answers to undecodable and oversize requests (see the module doc).
fn contract(response: Response) -> Response {
    let headers = response.headers();
    let Some(code) = headers.get("grpc-status").and_then(|v| v.to_str().ok()) else {
        return response;
    };
    let from_framework = !headers.contains_key(Status::GRPC_STATUS_DETAILS);
    let message = Status::from_header_map(headers)
        .map(|s| s.message().to_string())
        .unwrap_or_default();
    let rewritten = match code {
        "13" if from_framework => with_reason(
            Code::InvalidArgument,
            "MALFORMED_REQUEST",
            &format!("the request could not be decoded: {message}"),
        ),
        "11" => with_reason(
            Code::ResourceExhausted,
            "MESSAGE_TOO_LARGE",
            &format!("the request is larger than the server accepts: {message}"),
        ),
        _ => return response,
    };
    tracing::debug!(%code, %message, "request refused at the edge");
    rewritten.into_http()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit_and_refuse_the_rest() {
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3_600)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("15m"), Some(Duration::from_millis(15)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "1", "1x", "-1S", "123456789S", " 1S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_server_limit_caps_a_call() {
        let limit = Duration::from_secs(10);
        let mut headers = http::HeaderMap::new();
        assert_eq!(deadline(&headers, limit), limit);
        headers.insert("grpc-timeout", "5m".parse().unwrap());
        assert_eq!(deadline(&headers, limit), Duration::from_millis(5));
        headers.insert("grpc-timeout", "1H".parse().unwrap());
        assert_eq!(deadline(&headers, limit), limit);
    }
}
