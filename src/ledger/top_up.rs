//! Auto top-up: when an account's available credit falls below a threshold, the ledger asks the
//! billing system, by an event carrying a request id, to charge the customer for what reaches the
//! target; the billing system fulfils the request by calling `TopUp` with the request id as its
//! idempotency key, or reports that the charge failed. Pure: the time comes in as an argument.
//!
//! - At most one request is open at a time.
//! - What auto top-up may request in a calendar month (UTC) is capped: a request asks for what
//!   reaches the target, or for what the cap still allows if that is less, and nothing once the
//!   cap is reached. A failed request gives its amount back to the month.
//! - After a failure the next request waits: [`backoff`] after the first, longer after the
//!   second; [`FAILURES_MAX`] failures in a row turn auto top-up off until it is set again.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::amount::Quantity;
use super::budget::{period_start, Period};
use super::types::{Event, EventData, LotId, TopUpRequestId};

/// Failures in a row after which auto top-up turns itself off.
pub const FAILURES_MAX: u32 = 3;

/// How long the next request waits after `failures` failures in a row: 1 hour after the first,
/// 4 hours after the second.
pub fn backoff(failures: u32) -> Duration {
    Duration::hours(4_i64.pow(failures.saturating_sub(1).min(8)))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoTopUp {
    /// Off: no new request (an open one can still be fulfilled or failed).
    pub enabled: bool,
    /// A request is raised when available credit falls below this.
    pub threshold: Quantity,
    /// A request asks for what brings available credit to this.
    pub target: Quantity,
    /// At most this much requested per calendar month (UTC); `None`: no cap.
    pub monthly_cap: Option<Quantity>,
    /// The request waiting for the billing system, if any.
    pub open: Option<TopUpRequest>,
    /// Failures in a row since the last fulfilled request (or since it was set).
    pub failures: u32,
    /// After a failure: no request before this.
    pub retry_at: Option<DateTime<Utc>>,
    /// The month `requested` counts.
    pub month_start: DateTime<Utc>,
    /// What was requested in that month, open or fulfilled.
    pub requested: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUpRequest {
    pub id: TopUpRequestId,
    pub amount: Quantity,
    pub requested_at: DateTime<Utc>,
}

/// A failure reported on the open request: what it did to auto top-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub request: TopUpRequest,
    pub failures: u32,
    /// When the next request may be raised; `None` when auto top-up turned itself off.
    pub retry_at: Option<DateTime<Utc>>,
}

fn month_of(at: DateTime<Utc>) -> DateTime<Utc> {
    period_start(Period::Month, Tz::UTC, at)
}

impl AutoTopUp {
    pub fn new(
        threshold: Quantity,
        target: Quantity,
        monthly_cap: Option<Quantity>,
        now: DateTime<Utc>,
    ) -> AutoTopUp {
        AutoTopUp {
            enabled: true,
            threshold,
            target,
            monthly_cap,
            open: None,
            failures: 0,
            retry_at: None,
            month_start: month_of(now),
            requested: Quantity::ZERO,
        }
    }

    /// What was requested in the month holding `now`.
    pub fn requested_in(&self, now: DateTime<Utc>) -> Quantity {
        match self.month_start == month_of(now) {
            true => self.requested,
            false => Quantity::ZERO,
        }
    }

    /// What the cap still allows in the month holding `now`; `None`: no cap.
    pub fn cap_left(&self, now: DateTime<Utc>) -> Option<Quantity> {
        (self.monthly_cap).map(|cap| cap.saturating_sub(self.requested_in(now)))
    }

    /// What to request at `now` with `available` credit: `None` when nothing is due (off, a
    /// request open, waiting after a failure, above the threshold, or the month's cap reached).
    pub fn due(&self, available: Quantity, now: DateTime<Utc>) -> Option<Quantity> {
        let waiting = self.retry_at.is_some_and(|at| at > now);
        if !self.enabled || self.open.is_some() || waiting || available >= self.threshold {
            return None;
        }
        let wanted = self.target.saturating_sub(available);
        let amount = match self.cap_left(now) {
            Some(left) => wanted.min(left),
            None => wanted,
        };
        (!amount.is_zero()).then_some(amount)
    }

    /// Opens a request for `amount` (what [`AutoTopUp::due`] said).
    pub fn raise(&mut self, id: TopUpRequestId, amount: Quantity, now: DateTime<Utc>) {
        self.requested = self.requested_in(now) + amount;
        self.month_start = month_of(now);
        self.retry_at = None;
        self.open = Some(TopUpRequest {
            id,
            amount,
            requested_at: now,
        });
    }

    /// The open request, if `key` (a top-up's idempotency key) is its id: fulfilled, it closes
    /// and the failures start over.
    pub fn fulfil(&mut self, key: &str) -> Option<TopUpRequest> {
        let open = self.open.as_ref()?;
        if open.id.to_string() != key {
            return None;
        }
        self.failures = 0;
        self.open.take()
    }

    /// The billing system could not charge for the open request `id`: it closes, its amount
    /// goes back to its month, and the next waits (or auto top-up turns off). `None` when `id`
    /// is not the open request.
    pub fn fail(&mut self, id: TopUpRequestId, now: DateTime<Utc>) -> Option<Failure> {
        if self.open.as_ref().map(|r| r.id) != Some(id) {
            return None;
        }
        let request = self.open.take()?;
        if self.month_start == month_of(request.requested_at) {
            self.requested = self.requested.saturating_sub(request.amount);
        }
        self.failures += 1;
        self.retry_at = match self.failures >= FAILURES_MAX {
            true => {
                self.enabled = false;
                None
            }
            false => Some(now + backoff(self.failures)),
        };
        Some(Failure {
            request,
            failures: self.failures,
            retry_at: self.retry_at,
        })
    }

    /// When the sweeper has a request to raise again (after a failure's wait).
    pub fn wakes_at(&self) -> Option<DateTime<Utc>> {
        self.retry_at
            .filter(|_| self.enabled && self.open.is_none())
    }
}

/// Where a request stands, as its events tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    Fulfilled,
    Failed,
}

/// One request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub id: TopUpRequestId,
    pub amount: Quantity,
    pub state: State,
    pub requested_at: DateTime<Utc>,
    /// When it was fulfilled or failed.
    pub settled_at: Option<DateTime<Utc>>,
    /// Fulfilled: what was credited, and the lot.
    pub credited: Option<(Quantity, LotId)>,
    /// Failed: the reason reported.
    pub reason: String,
}

/// The event kinds [`requests`] reads.
pub const EVENT_KINDS: [&str; 3] = ["top_up_requested", "top_up_fulfilled", "top_up_failed"];

/// An account's requests from its events (oldest first), newest first.
pub fn requests(events: &[Event]) -> Vec<RequestRecord> {
    let mut records: Vec<RequestRecord> = Vec::new();
    for event in events {
        match &event.data {
            EventData::TopUpRequested {
                request_id, amount, ..
            } => records.push(RequestRecord {
                id: *request_id,
                amount: *amount,
                state: State::Open,
                requested_at: event.occurred_at,
                settled_at: None,
                credited: None,
                reason: String::new(),
            }),
            EventData::TopUpFulfilled {
                request_id,
                credited,
                lot_id,
                ..
            } => {
                if let Some(r) = records.iter_mut().find(|r| r.id == *request_id) {
                    r.state = State::Fulfilled;
                    r.settled_at = Some(event.occurred_at);
                    r.credited = Some((*credited, *lot_id));
                }
            }
            EventData::TopUpFailed {
                request_id, reason, ..
            } => {
                if let Some(r) = records.iter_mut().find(|r| r.id == *request_id) {
                    r.state = State::Failed;
                    r.settled_at = Some(event.occurred_at);
                    r.reason = reason.clone();
                }
            }
            _ => {}
        }
    }
    records.reverse();
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn q(s: &str) -> Quantity {
        Quantity::new(s.parse().unwrap()).unwrap()
    }

    fn id(n: u128) -> TopUpRequestId {
        TopUpRequestId(Uuid::from_u128(n))
    }

    #[test]
    fn a_request_reaches_the_target_once_below_the_threshold_one_at_a_time() {
        let now = at("2026-11-29T10:00:00Z");
        let mut auto = AutoTopUp::new(q("20"), q("100"), None, now);
        assert_eq!(auto.due(q("20"), now), None);
        assert_eq!(auto.due(q("19.5"), now), Some(q("80.5")));
        auto.raise(id(1), q("80.5"), now);
        assert_eq!(auto.due(q("1"), now), None, "one request at a time");
        assert_eq!(auto.fulfil("someone-else"), None);
        assert_eq!(auto.fulfil(&id(1).to_string()).unwrap().amount, q("80.5"));
        assert_eq!(auto.fulfil(&id(1).to_string()), None);
        assert_eq!(auto.due(q("1"), now), Some(q("99")));
    }

    #[test]
    fn the_monthly_cap_bounds_what_is_requested_and_starts_over_each_month() {
        let now = at("2026-11-29T10:00:00Z");
        let mut auto = AutoTopUp::new(q("20"), q("100"), Some(q("150")), now);
        auto.raise(id(1), q("100"), now);
        auto.fulfil(&id(1).to_string());
        assert_eq!(auto.due(q("0"), now), Some(q("50")));
        auto.raise(id(2), q("50"), now);
        auto.fulfil(&id(2).to_string());
        assert_eq!(auto.due(q("0"), now), None, "the cap is reached");
        assert_eq!(auto.due(q("0"), at("2026-12-01T00:00:00Z")), Some(q("100")));
    }

    #[test]
    fn failures_back_off_then_turn_auto_top_up_off() {
        let now = at("2026-11-29T10:00:00Z");
        let mut auto = AutoTopUp::new(q("20"), q("100"), Some(q("150")), now);
        auto.raise(id(1), q("100"), now);
        assert_eq!(auto.fail(id(2), now), None, "not the open request");
        let first = auto.fail(id(1), now).unwrap();
        assert_eq!(
            (first.failures, first.retry_at),
            (1, Some(now + Duration::hours(1)))
        );
        assert_eq!(
            auto.requested_in(now),
            Quantity::ZERO,
            "a failure gives back"
        );
        assert_eq!(auto.due(q("0"), now + Duration::minutes(59)), None);
        assert_eq!(auto.wakes_at(), Some(now + Duration::hours(1)));
        let later = now + Duration::hours(1);
        assert_eq!(auto.due(q("0"), later), Some(q("100")));
        auto.raise(id(2), q("100"), later);
        assert_eq!(
            auto.fail(id(2), later).unwrap().retry_at,
            Some(later + Duration::hours(4))
        );
        let last = later + Duration::hours(4);
        auto.raise(id(3), q("100"), last);
        let third = auto.fail(id(3), last).unwrap();
        assert_eq!(
            (third.failures, third.retry_at, auto.enabled),
            (3, None, false)
        );
        assert_eq!(auto.due(q("0"), last + Duration::days(1)), None);
        assert_eq!(auto.wakes_at(), None);
    }
}
