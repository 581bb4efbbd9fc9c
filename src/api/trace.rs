//! W3C trace context. Every call gets a trace id: the caller's, from its `traceparent` header
//! (read by OpenTelemetry's propagator), or a new one. The id is a field of the call's span, so
//! it is in every log line written while the call is served (JSON logs carry the span's fields).
//! It is also in the `ErrorInfo` of every error the call is answered with, as metadata
//! `trace_id`, so a client can quote it. When traces are exported (`otlp_endpoint`), the call's
//! span is a child of the caller's span, and the id is the one the collector files it under.

use std::future::Future;

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

tokio::task_local! {
    static TRACE_ID: String;
}

/// The trace id of the call being served, if this runs inside one.
pub fn current() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok()
}

/// The caller's trace context: its `traceparent` (and `tracestate`), or an empty context when it
/// sent none or one that is not well formed.
pub fn parent(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&Headers(headers))
}

/// Makes `span` a child of `parent` (when spans are exported) and records on it the trace id the
/// call goes by, which it returns: the exported span's own (the caller's trace, or the new trace
/// the span starts); without export, the caller's, or else a new one.
pub fn adopt(span: &tracing::Span, parent: Context) -> String {
    let callers = id_of(&parent);
    // Without the export layer there is no parent to set, and that is not an error.
    let _ = span.set_parent(parent);
    let id = id_of(&span.context()).or(callers).unwrap_or_else(new_id);
    span.record("trace_id", id.as_str());
    id
}

/// The trace id (32 lower-case hex digits) of a context's span, if it has a valid one.
fn id_of(context: &Context) -> Option<String> {
    let span = context.span();
    let span = span.span_context();
    span.is_valid().then(|| span.trace_id().to_string())
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// A new random trace id (128 bits, lower-case hex).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Runs `f` with `id` as the current trace id.
pub fn sync_scope<R>(id: String, f: impl FnOnce() -> R) -> R {
    TRACE_ID.sync_scope(id, f)
}

/// Polls `future` with `id` as the current trace id.
pub fn scope<F: Future>(id: String, future: F) -> impl Future<Output = F::Output> {
    TRACE_ID.scope(id, future)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traceparent(value: &str) -> Option<String> {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", value.parse().unwrap());
        id_of(&parent(&headers))
    }

    #[test]
    fn a_traceparent_gives_its_trace_id_and_nothing_else_does() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let good = format!("00-{id}-00f067aa0ba902b7-01");
        assert_eq!(traceparent(&good).as_deref(), Some(id));
        for bad in [
            String::new(),
            format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
            format!("00-{id}-{}-01", "0".repeat(16)),
            format!("00-{}-00f067aa0ba902b7-01", id.to_uppercase()),
            format!("00-{id}-00f067aa0ba902b7-01-extra"),
            format!("00-{id}-00f067aa0ba902b7"),
            format!("ff-{id}-00f067aa0ba902b7-01"),
        ] {
            assert_eq!(traceparent(&bad), None, "{bad}");
        }
        assert_eq!(id_of(&parent(&http::HeaderMap::new())), None);
    }

    #[test]
    fn a_call_goes_by_the_callers_trace_or_a_new_one() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut headers = http::HeaderMap::new();
        let value = format!("00-{id}-00f067aa0ba902b7-01");
        headers.insert("traceparent", value.parse().unwrap());
        let span = tracing::Span::none();
        assert_eq!(adopt(&span, parent(&headers)), id);
        let fresh = adopt(&span, parent(&http::HeaderMap::new()));
        assert_eq!(fresh.len(), 32);
        assert_ne!(fresh, id);
        assert_eq!(new_id().len(), 32);
        assert_eq!(current(), None);
        assert_eq!(sync_scope(id.into(), current).as_deref(), Some(id));
    }
}
