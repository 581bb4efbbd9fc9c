//! Budgets: caps on what a subject under an account (an API key, a team, a user, or the whole
//! account) may spend, optionally for one meter, per calendar period or in all. Pure: the time
//! comes in as an argument.
//!
//! A subject is a path of `/`-separated segments (`team:research/key:k1`); a budget applies to
//! its own subject and to every subject under it, and `""` is the whole account. What counts
//! against a budget is what was spent in its current period plus what open holds authorized
//! against it still claim. A hard budget refuses a request that would take that past its limit;
//! a soft one only raises its alerts.
//!
//! A velocity limit is a hard budget over a rolling window instead of a calendar period
//! ([`Period::Rolling`], see [`window`]): at most its limit spent, and optionally at most so
//! many requests, in any run of the window's length. An open hold counts in the window at the
//! moment it was authorized, for what it authorized; when it closes, what it did not capture is
//! given back to that moment, and what a capture takes beyond the authorization counts at the
//! capture's.

pub mod window;

use std::fmt;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::amount::Quantity;
use super::names::named;
use super::types::BudgetId;
use window::{Full, Window};

/// The longest subject, in bytes.
pub const SUBJECT_LEN_MAX: usize = 256;
/// At most this many alert thresholds per budget.
pub const ALERTS_MAX: usize = 10;

/// How often a budget's spending starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// Never: the limit is for all time.
    None,
    /// From local midnight.
    Day,
    /// From Monday, local midnight (ISO weeks).
    Week,
    /// From the first of the month, local midnight.
    Month,
    /// A rolling window (the budget's [`Window`]): a velocity limit.
    Rolling,
}

named!(Period { None => "none", Day => "day", Week => "week", Month => "month", Rolling => "rolling" });

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub id: BudgetId,
    pub subject: String,
    /// Empty: every meter.
    pub meter: String,
    /// In the account's unit.
    pub limit: Quantity,
    pub period: Period,
    /// The zone whose calendar the periods follow.
    pub time_zone: Tz,
    /// Refuses what would pass the limit; a soft budget only alerts.
    pub hard: bool,
    /// Percentages of the limit, ascending, each raised once per period when spending reaches it.
    pub alerts: Vec<u32>,
    pub created_at: DateTime<Utc>,
    /// The start of the period `spent` counts (the creation time for a budget without period).
    pub period_start: DateTime<Utc>,
    pub spent: Quantity,
    /// What open holds authorized against this budget still claim.
    pub held: Quantity,
    /// The highest alert raised in this period (0: none).
    pub alerted: u32,
    /// Whether a refusal in this period has raised its event.
    pub hit: bool,
    /// A velocity limit's window (with [`Period::Rolling`] only): what it counts instead of
    /// `spent` and `held`.
    pub window: Option<Window>,
}

/// What a budget counts at a moment, its period started over if it has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub period_start: DateTime<Utc>,
    pub spent: Quantity,
    pub held: Quantity,
    /// `limit - spent - held`, or zero when that is below zero.
    pub remaining: Quantity,
    /// When the period ends; `None` without a period. For a velocity limit, when the oldest
    /// spend it counts leaves the window.
    pub resets_at: Option<DateTime<Utc>>,
    /// A velocity limit's requests in the window (0 for others).
    pub requests: u32,
}

/// A period that ended: what it had spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    pub ended: DateTime<Utc>,
    pub spent: Quantity,
}

impl Budget {
    /// Whether this budget counts a request of `subject` for `meter`.
    pub fn applies(&self, subject: &str, meter: &str) -> bool {
        covers(&self.subject, subject) && (self.meter.is_empty() || self.meter == meter)
    }

    /// The end of the current period; `None` without a period.
    pub fn resets_at(&self) -> Option<DateTime<Utc>> {
        next_start(self.period, self.time_zone, self.period_start)
    }

    pub fn standing(&self, now: DateTime<Utc>) -> Standing {
        if let Some(window) = &self.window {
            let (spent, requests) = window.counted(now);
            return Standing {
                period_start: now - chrono::Duration::seconds(i64::from(window.seconds)),
                spent,
                held: Quantity::ZERO,
                remaining: self.limit.saturating_sub(spent),
                resets_at: window.next_release(now),
                requests,
            };
        }
        let (period_start, spent) = match self.resets_at() {
            Some(end) if end <= now => (
                period_start(self.period, self.time_zone, now),
                Quantity::ZERO,
            ),
            _ => (self.period_start, self.spent),
        };
        Standing {
            period_start,
            spent,
            held: self.held,
            remaining: self.limit.saturating_sub(spent + self.held),
            resets_at: next_start(self.period, self.time_zone, period_start),
            requests: 0,
        }
    }

    /// Starts a new period if the current one has ended by `now`: spending from zero, alerts
    /// and the hit armed again. Holds still open keep their claim.
    pub fn roll(&mut self, now: DateTime<Utc>) -> Option<Reset> {
        if let Some(window) = &mut self.window {
            window.prune(now);
            return None;
        }
        let ended = self.resets_at().filter(|end| *end <= now)?;
        let reset = Reset {
            ended,
            spent: self.spent,
        };
        self.period_start = period_start(self.period, self.time_zone, now);
        self.spent = Quantity::ZERO;
        self.alerted = 0;
        self.hit = false;
        Some(reset)
    }

    /// This budget as it stands at `now`: its period started over if it has ended.
    pub fn with_standing(&self, now: DateTime<Utc>) -> Budget {
        let mut budget = self.clone();
        budget.roll(now);
        budget
    }

    /// Whether `more` fits under a hard limit, with what is spent and held (at `now`).
    pub fn admits(&self, more: Quantity, now: DateTime<Utc>) -> bool {
        match &self.window {
            Some(window) => window.fits(self.limit, more, 1, now).is_ok(),
            None => !self.hard || self.spent_at(now) + self.held + more <= self.limit,
        }
    }

    /// For a velocity limit with no room for one more request of `more`: when it would fit.
    pub fn full_until(&self, more: Quantity, now: DateTime<Utc>) -> Option<Full> {
        self.window.as_ref()?.fits(self.limit, more, 1, now).err()
    }

    /// What is spent in the period that holds `now`: nothing once the current one has ended.
    fn spent_at(&self, now: DateTime<Utc>) -> Quantity {
        match self.resets_at() {
            Some(end) if end <= now => Quantity::ZERO,
            _ => self.spent,
        }
    }

    /// The alerts that spending `spent` reaches beyond those already raised, ascending.
    pub fn alerts_reached(&self, spent: Quantity) -> Vec<u32> {
        if self.limit.is_zero() {
            return Vec::new();
        }
        let used = spent.get() * rust_decimal::Decimal::ONE_HUNDRED / self.limit.get();
        (self.alerts.iter().copied())
            .filter(|&a| a > self.alerted && used >= rust_decimal::Decimal::from(a))
            .collect()
    }
}

/// Whether a budget for `budget` counts requests of `subject`: the same path, or one under it.
pub fn covers(budget: &str, subject: &str) -> bool {
    budget.is_empty()
        || subject
            .strip_prefix(budget)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A subject as requests and budgets name it: empty, or `/`-separated segments, none empty, with
/// no whitespace or control characters, at most [`SUBJECT_LEN_MAX`] bytes in all.
pub fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Ok(());
    }
    if subject.len() > SUBJECT_LEN_MAX {
        return Err(format!(
            "at most {SUBJECT_LEN_MAX} bytes, got {}",
            subject.len()
        ));
    }
    if let Some(c) = subject
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "no whitespace or control characters (found U+{:04X})",
            c as u32
        ));
    }
    if subject.split('/').any(str::is_empty) {
        return Err("segments separated by single '/', none empty, e.g. team:a/key:k1".into());
    }
    Ok(())
}

/// Alert thresholds as given: each 1 to 100 percent, at most [`ALERTS_MAX`]; kept ascending
/// without repeats.
pub fn check_alerts(mut alerts: Vec<u32>) -> Result<Vec<u32>, String> {
    if alerts.len() > ALERTS_MAX {
        return Err(format!("at most {ALERTS_MAX} thresholds"));
    }
    if let Some(bad) = alerts.iter().find(|&&a| a == 0 || a > 100) {
        return Err(format!("each threshold is 1 to 100 percent, got {bad}"));
    }
    alerts.sort_unstable();
    alerts.dedup();
    Ok(alerts)
}

/// The start of the period of `kind` in `zone` that holds `at`; `at` itself without a period.
pub fn period_start(kind: Period, zone: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
    let date = at.with_timezone(&zone).date_naive();
    let first = match kind {
        Period::None | Period::Rolling => return at,
        Period::Day => date,
        Period::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
        Period::Month => date.with_day(1).expect("every month has a first"),
    };
    midnight(zone, first)
}

/// The start of the period after the one that starts at `start`; `None` without a period.
pub fn next_start(kind: Period, zone: Tz, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let date = start.with_timezone(&zone).date_naive();
    let next = match kind {
        Period::None | Period::Rolling => return None,
        Period::Day => date + Days::new(1),
        Period::Week => date + Days::new(7),
        Period::Month => date.with_day(1)? + Months::new(1),
    };
    Some(midnight(zone, next))
}

/// The first instant of `date` in `zone`: local midnight, the earlier one when the clocks turn
/// back over it, and the first minute that exists when they skip it.
fn midnight(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut local = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..(24 * 60) {
        if let Some(t) = zone.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(1);
    }
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = match self.subject.as_str() {
            "" => "the whole account",
            s => s,
        };
        write!(f, "budget {} ({subject}", self.id)?;
        if !self.meter.is_empty() {
            write!(f, ", meter {}", self.meter)?;
        }
        write!(f, ")")
    }
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

    fn budget(period: Period, zone: Tz, created: &str) -> Budget {
        let created_at = at(created);
        Budget {
            id: BudgetId(Uuid::nil()),
            subject: "team:a".into(),
            meter: String::new(),
            limit: q("100"),
            period,
            time_zone: zone,
            hard: true,
            alerts: vec![50, 80, 100],
            created_at,
            period_start: period_start(period, zone, created_at),
            spent: Quantity::ZERO,
            held: Quantity::ZERO,
            alerted: 0,
            hit: false,
            window: None,
        }
    }

    #[test]
    fn a_subject_covers_itself_and_what_is_under_it_by_whole_segments() {
        assert!(covers("", ""));
        assert!(covers("", "team:a/key:1"));
        assert!(covers("team:a", "team:a"));
        assert!(covers("team:a", "team:a/key:1"));
        assert!(!covers("team:a", "team:ab"));
        assert!(!covers("team:a", "team"));
        assert!(!covers("team:a/key:1", "team:a"));
        assert!(!covers("team:a", ""));
    }

    #[test]
    fn subjects_are_checked_segment_by_segment() {
        assert!(check_subject("").is_ok());
        assert!(check_subject("team:research/key:k1").is_ok());
        for bad in ["/a", "a/", "a//b", "a b", "a\tb", "a\u{7}"] {
            assert!(check_subject(bad).is_err(), "{bad:?}");
        }
        assert!(check_subject(&"x".repeat(SUBJECT_LEN_MAX)).is_ok());
        assert!(check_subject(&"x".repeat(SUBJECT_LEN_MAX + 1)).is_err());
    }

    #[test]
    fn alerts_are_percentages_kept_ascending() {
        assert_eq!(check_alerts(vec![80, 50, 80]).unwrap(), vec![50, 80]);
        assert!(check_alerts(vec![0]).is_err());
        assert!(check_alerts(vec![101]).is_err());
        assert!(check_alerts((1..=11).collect()).is_err());
    }

    #[test]
    fn periods_start_at_local_midnight_mondays_and_firsts() {
        let utc = Tz::UTC;
        let t = at("2026-11-29T15:30:00Z"); // a Sunday
        assert_eq!(
            period_start(Period::Day, utc, t),
            at("2026-11-29T00:00:00Z")
        );
        assert_eq!(
            period_start(Period::Week, utc, t),
            at("2026-11-23T00:00:00Z")
        );
        assert_eq!(
            period_start(Period::Month, utc, t),
            at("2026-11-01T00:00:00Z")
        );
        assert_eq!(period_start(Period::None, utc, t), t);
        let month = period_start(Period::Month, utc, t);
        assert_eq!(
            next_start(Period::Month, utc, month),
            Some(at("2026-12-01T00:00:00Z"))
        );
        assert_eq!(
            next_start(Period::Month, utc, at("2026-12-01T00:00:00Z")),
            Some(at("2027-01-01T00:00:00Z"))
        );
        assert_eq!(next_start(Period::None, utc, t), None);
        // New York is UTC-5 in winter: its day starts at 05:00 UTC.
        let ny = chrono_tz::America::New_York;
        assert_eq!(
            period_start(Period::Day, ny, at("2026-11-29T03:00:00Z")),
            at("2026-11-28T05:00:00Z")
        );
        // The day the clocks go forward is 23 hours long.
        let day = period_start(Period::Day, ny, at("2026-03-08T12:00:00Z"));
        assert_eq!(day, at("2026-03-08T05:00:00Z"));
        assert_eq!(
            next_start(Period::Day, ny, day),
            Some(at("2026-03-09T04:00:00Z"))
        );
    }

    #[test]
    fn a_period_that_skips_midnight_starts_at_the_first_minute_that_exists() {
        // Santiago moved its clocks from 00:00 to 01:00 on 2022-09-11.
        let zone = chrono_tz::America::Santiago;
        let start = period_start(Period::Day, zone, at("2022-09-11T12:00:00Z"));
        assert_eq!(start, at("2022-09-11T04:00:00Z"));
    }

    #[test]
    fn a_period_rolls_once_it_ends_and_holds_keep_their_claim() {
        let mut b = budget(Period::Day, Tz::UTC, "2026-11-29T10:00:00Z");
        b.spent = q("70");
        b.held = q("20");
        b.alerted = 50;
        assert!(!b.admits(q("11"), at("2026-11-29T23:59:59Z")));
        assert!(b.admits(q("10"), at("2026-11-29T23:59:59Z")));
        assert_eq!(b.roll(at("2026-11-29T23:59:59Z")), None);
        let next = at("2026-11-30T00:00:00Z");
        let s = b.standing(next);
        assert_eq!(
            (s.spent, s.held, s.remaining),
            (Quantity::ZERO, q("20"), q("80"))
        );
        assert_eq!(s.resets_at, Some(at("2026-12-01T00:00:00Z")));
        assert!(b.admits(q("80"), next));
        assert_eq!(
            b.roll(next),
            Some(Reset {
                ended: next,
                spent: q("70")
            })
        );
        assert_eq!(
            (b.spent, b.held, b.alerted, b.period_start),
            (Quantity::ZERO, q("20"), 0, next)
        );
        // Days with nothing in them are skipped: the period is the one holding now.
        let later = at("2026-12-05T08:00:00Z");
        assert!(b.roll(later).is_some());
        assert_eq!(b.period_start, at("2026-12-05T00:00:00Z"));
    }

    #[test]
    fn a_soft_budget_admits_anything_and_alerts_each_threshold_once() {
        let mut b = budget(Period::None, Tz::UTC, "2026-11-29T10:00:00Z");
        b.hard = false;
        assert!(b.admits(q("1000"), at("2026-11-29T11:00:00Z")));
        assert_eq!(b.alerts_reached(q("49.99")), Vec::<u32>::new());
        assert_eq!(b.alerts_reached(q("85")), vec![50, 80]);
        b.alerted = 80;
        assert_eq!(b.alerts_reached(q("99")), Vec::<u32>::new());
        assert_eq!(b.alerts_reached(q("250")), vec![100]);
        b.limit = Quantity::ZERO;
        assert_eq!(b.alerts_reached(q("1")), Vec::<u32>::new());
    }

    #[test]
    fn a_budget_applies_to_its_meter_only_when_it_names_one() {
        let mut b = budget(Period::None, Tz::UTC, "2026-11-29T10:00:00Z");
        assert!(b.applies("team:a/key:1", "chat"));
        b.meter = "chat".into();
        assert!(b.applies("team:a", "chat"));
        assert!(!b.applies("team:a", "embed"));
        assert!(!b.applies("team:b", "chat"));
    }
}
