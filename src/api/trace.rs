//! W3C trace context. Every call gets a trace id: the caller's, from its `traceparent` header,
//! or a new one. The id is a field of the call's span, so it is in every log line written while
//! the call is served (JSON logs carry the span's fields). It is also in the `ErrorInfo` of
//! every error the call is answered with, as metadata `trace_id`, so a client can quote it.

use std::future::Future;

tokio::task_local! {
    static TRACE_ID: String;
}

/// The trace id of the call being served, if this runs inside one.
pub fn current() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok()
}

/// The trace id of a `traceparent` header: `00-<32 hex trace id>-<16 hex parent id>-<2 hex
/// flags>`, neither id all zeros. `None` for anything else, which the call then replaces with a
/// new trace.
pub fn from_traceparent(value: &str) -> Option<String> {
    let mut parts = value.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then(|| trace.to_string())
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

    #[test]
    fn a_traceparent_gives_its_trace_id_and_nothing_else_does() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let good = format!("00-{id}-00f067aa0ba902b7-01");
        assert_eq!(from_traceparent(&good).as_deref(), Some(id));
        for bad in [
            String::new(),
            format!("01-{id}-00f067aa0ba902b7-01"),
            format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
            format!("00-{id}-{}-01", "0".repeat(16)),
            format!("00-{}-00f067aa0ba902b7-01", id.to_uppercase()),
            format!("00-{id}-00f067aa0ba902b7-01-extra"),
            format!("00-{id}-00f067aa0ba902b7"),
        ] {
            assert_eq!(from_traceparent(&bad), None, "{bad}");
        }
        assert_eq!(new_id().len(), 32);
        assert_eq!(current(), None);
        assert_eq!(sync_scope(id.into(), current).as_deref(), Some(id));
    }
}
