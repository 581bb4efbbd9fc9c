//! A velocity limit's rolling window: what was spent, and how many requests were made, in the
//! last `seconds`. Pure: the time comes in as an argument.
//!
//! The window keeps one slot per sixtieth of its length (its *granule*), so it never holds more
//! than 61 slots whatever the traffic. A spend counts from its slot, the end of the granule it
//! happened in (epoch-aligned; a spend on a granule's boundary is its own slot), until that slot
//! plus `seconds`. Counting a spend until a little after a true rolling window would let it go
//! is what makes the limit hold over every window of that length: no run of `seconds` ever
//! spends more than the limit. It also makes the time at which a refused request fits exact:
//! the moment enough slots have left.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::ledger::amount::Quantity;

/// The longest window: a day.
pub const SECONDS_MAX: u32 = 86_400;
/// A window's slots: one per granule.
pub const GRANULES: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The window's length, 1 to [`SECONDS_MAX`].
    pub seconds: u32,
    /// At most this many requests in the window, besides the amount; `None`: any number.
    pub requests: Option<u32>,
    /// What was counted in the window, by slot, oldest first; none empty.
    pub slots: Vec<Slot>,
}

/// What the spends of one granule count in the window, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The end of the granule: the spends count until `at + seconds`.
    pub at: DateTime<Utc>,
    pub spent: Quantity,
    pub requests: u32,
}

/// Why a window has no room for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// It fits once the window has let go of enough, at this time.
    Until(DateTime<Utc>),
    /// It is more than the limit itself: it never fits.
    Never,
}

impl Window {
    pub fn new(seconds: u32, requests: Option<u32>) -> Window {
        Window {
            seconds,
            requests,
            slots: Vec::new(),
        }
    }

    fn length(&self) -> Duration {
        Duration::seconds(i64::from(self.seconds))
    }

    /// The granule in milliseconds: a sixtieth of the window, rounded up.
    fn granule_ms(&self) -> i64 {
        (i64::from(self.seconds) * 1000 + GRANULES - 1) / GRANULES
    }

    /// The slot a spend at `at` counts in.
    pub fn slot_of(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let granule = self.granule_ms();
        let ms = at.timestamp_millis();
        let end = ms.div_euclid(granule) * granule;
        let end = if end == ms { end } else { end + granule };
        Utc.timestamp_millis_opt(end).single().unwrap_or(at)
    }

    /// Lets go of the slots whose time in the window is over at `now`.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let length = self.length();
        self.slots.retain(|s| s.at + length > now);
    }

    /// What the window counts at `now`: spent, and requests.
    pub fn counted(&self, now: DateTime<Utc>) -> (Quantity, u32) {
        let length = self.length();
        (self.slots.iter())
            .filter(|s| s.at + length > now)
            .fold((Quantity::ZERO, 0), |(spent, requests), s| {
                (spent + s.spent, requests + s.requests)
            })
    }

    /// When the oldest slot still counted at `now` lets go; `None` when nothing is counted.
    pub fn next_release(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let length = self.length();
        (self.slots.iter())
            .map(|s| s.at + length)
            .find(|end| *end > now)
    }

    /// Whether a request of `more` (counting `requests` requests) fits under `limit` at `now`;
    /// when it does not, the earliest time it would.
    pub fn fits(
        &self,
        limit: Quantity,
        more: Quantity,
        requests: u32,
        now: DateTime<Utc>,
    ) -> Result<(), Full> {
        let cap = self.requests.unwrap_or(u32::MAX);
        if more > limit || requests > cap {
            return Err(Full::Never);
        }
        let (mut spent, mut counted) = self.counted(now);
        let fits = |spent: Quantity, counted: u32| {
            spent + more <= limit && counted.saturating_add(requests) <= cap
        };
        if fits(spent, counted) {
            return Ok(());
        }
        let length = self.length();
        for slot in self.slots.iter().filter(|s| s.at + length > now) {
            spent = spent.saturating_sub(slot.spent);
            counted -= slot.requests;
            if fits(spent, counted) {
                return Err(Full::Until(slot.at + length));
            }
        }
        Err(Full::Never)
    }

    /// Counts `spent` and `requests` at `at`, letting go of what is over first.
    pub fn add(&mut self, at: DateTime<Utc>, spent: Quantity, requests: u32) {
        if spent.is_zero() && requests == 0 {
            return;
        }
        self.prune(at);
        let slot = self.slot_of(at);
        let index = self.slots.partition_point(|s| s.at < slot);
        match self.slots.get_mut(index) {
            Some(s) if s.at == slot => {
                s.spent += spent;
                s.requests += requests;
            }
            _ => self.slots.insert(
                index,
                Slot {
                    at: slot,
                    spent,
                    requests,
                },
            ),
        }
    }

    /// Gives back `amount` of what a hold authorized at `authorized_at` counted, if its slot is
    /// still in the window (the request itself still counts).
    pub fn give_back(&mut self, authorized_at: DateTime<Utc>, amount: Quantity) {
        let slot = self.slot_of(authorized_at);
        if let Some(s) = self.slots.iter_mut().find(|s| s.at == slot) {
            s.spent = s.spent.saturating_sub(amount);
        }
        self.slots
            .retain(|s| !(s.spent.is_zero() && s.requests == 0));
    }
}

/// A window's length as given: 1 to [`SECONDS_MAX`] seconds.
pub fn check_seconds(seconds: u32) -> Result<u32, String> {
    match seconds {
        1..=SECONDS_MAX => Ok(seconds),
        _ => Err(format!(
            "a rolling window is 1 to {SECONDS_MAX} seconds, got {seconds}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn q(s: &str) -> Quantity {
        Quantity::new(s.parse().unwrap()).unwrap()
    }

    #[test]
    fn a_spend_counts_from_the_end_of_its_granule() {
        let minute = Window::new(60, None);
        assert_eq!(
            minute.slot_of(at("2026-11-29T12:00:00Z")),
            at("2026-11-29T12:00:00Z")
        );
        assert_eq!(
            minute.slot_of(at("2026-11-29T12:00:00.001Z")),
            at("2026-11-29T12:00:01Z")
        );
        // A day's granule is 24 minutes.
        let day = Window::new(SECONDS_MAX, None);
        assert_eq!(
            day.slot_of(at("2026-11-29T00:01:00Z")),
            at("2026-11-29T00:24:00Z")
        );
        // A second's is 17 ms.
        assert_eq!(
            Window::new(1, None).slot_of(at("1970-01-01T00:00:00.001Z")),
            at("1970-01-01T00:00:00.017Z")
        );
    }

    #[test]
    fn a_full_window_names_the_time_the_request_fits() {
        let mut w = Window::new(60, Some(3));
        let t0 = at("2026-11-29T12:00:00Z");
        w.add(t0, q("60"), 1);
        w.add(t0 + Duration::seconds(30), q("40"), 1);
        let t = t0 + Duration::seconds(40);
        assert_eq!(w.counted(t), (q("100"), 2));
        assert_eq!(
            w.fits(q("100"), q("1"), 1, t),
            Err(Full::Until(t0 + Duration::seconds(60)))
        );
        // 61 fits only once both have gone.
        assert_eq!(
            w.fits(q("100"), q("61"), 1, t),
            Err(Full::Until(t0 + Duration::seconds(90)))
        );
        assert_eq!(w.fits(q("100"), q("101"), 1, t), Err(Full::Never));
        assert_eq!(
            w.fits(q("100"), q("1"), 1, t0 + Duration::seconds(60)),
            Ok(())
        );
        // The requests cap: a third request fits, a fourth waits for the first to go.
        w.add(t0 + Duration::seconds(61), q("1"), 1);
        let t = t0 + Duration::seconds(62);
        assert_eq!(w.counted(t), (q("41"), 2));
        w.add(t, Quantity::ZERO, 1);
        assert_eq!(
            w.fits(q("100"), Quantity::ZERO, 1, t),
            Err(Full::Until(t0 + Duration::seconds(90)))
        );
        assert_eq!(w.slots.len(), 3, "the first slot was let go");
        assert_eq!(w.next_release(t), Some(t0 + Duration::seconds(90)));
    }

    #[test]
    fn a_hold_gives_back_what_it_did_not_spend_while_its_slot_is_in_the_window() {
        let mut w = Window::new(60, None);
        let t0 = at("2026-11-29T12:00:00Z");
        w.add(t0, q("50"), 1);
        w.add(t0, q("10"), 1);
        w.give_back(t0, q("45"));
        assert_eq!(w.counted(t0), (q("15"), 2));
        // Once its slot has gone, nothing is left to give back.
        w.add(t0 + Duration::seconds(61), q("5"), 1);
        w.give_back(t0, q("15"));
        assert_eq!(w.counted(t0 + Duration::seconds(61)), (q("5"), 1));
    }

    #[test]
    fn a_window_never_keeps_more_than_61_slots() {
        let mut w = Window::new(60, None);
        let t0 = at("2026-11-29T12:00:00.5Z");
        for i in 0..1000 {
            w.add(t0 + Duration::milliseconds(i * 250), q("1"), 1);
            assert!(w.slots.len() <= 61);
        }
        assert!(check_seconds(0).is_err());
        assert!(check_seconds(SECONDS_MAX + 1).is_err());
    }
}
