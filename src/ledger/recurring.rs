//! Recurring grants: an allowance granted to an account every calendar period (a month by
//! default). Pure: the time comes in as an argument.
//!
//! Without a rollover cap, each period's lot expires at the period's end. With one, it is
//! granted to last through the next period too, and the next period's start caps it: of the
//! earlier periods' lots still live, the newest credit is kept up to the cap and the rest
//! expires then. So unspent credit rolls over one period, up to the cap, and rolled-over credit
//! stays what it was in both books (it is not granted again, and its deferred money is not new
//! revenue); no lot's expiry ever moves, so the balance at any past time reads the same before
//! and after.
//!
//! Each period is posted once, under the account's lock, whatever the number of sweepers: the
//! first at creation, the next by the sweeper once its start has come. A period the sweeper
//! never reached (the service was down throughout) is not granted: the allowance is for the
//! period holding the time of posting.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::amount::{Money, Quantity};
use super::budget::{next_start, period_start, Period};
use super::code::Currency;
use super::types::{LotId, LotKind, RecurringGrantId};

/// At most this many recurring grants per account.
pub const PER_ACCOUNT_MAX: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringGrant {
    pub id: RecurringGrantId,
    /// Granted every period.
    pub quantity: Quantity,
    /// Day, week or month.
    pub period: Period,
    pub time_zone: Tz,
    /// Paid (each period's lot bought at `price`, in `currency`) or promotional.
    pub kind: LotKind,
    pub price: Money,
    pub currency: Option<Currency>,
    /// At most this much unspent credit rolls over into the next period (0: none).
    pub rollover_cap: Quantity,
    pub created_at: DateTime<Utc>,
    /// The start of the next period to grant: due once the time reaches it.
    pub next_at: DateTime<Utc>,
    /// Periods granted so far.
    pub granted: u32,
}

/// One period to grant: its start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// What the rollover does to one of the schedule's lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roll {
    pub lot_id: LotId,
    /// Rolls over into the new period.
    pub keep: Quantity,
    /// Expires now, beyond the cap.
    pub expire: Quantity,
}

impl RecurringGrant {
    /// The reference of the lots the schedule grants, by which its rollover finds them.
    pub fn reference(&self) -> String {
        format!("recurring_grant:{}", self.id)
    }

    /// The end of the period after the one ending at `end`.
    pub fn period_end_after(&self, end: DateTime<Utc>) -> DateTime<Utc> {
        next_start(self.period, self.time_zone, end).unwrap_or(end)
    }

    /// The period to grant at `now`, if one is due: the one holding `now`.
    pub fn due(&self, now: DateTime<Utc>) -> Option<Due> {
        if self.next_at > now {
            return None;
        }
        let start = period_start(self.period, self.time_zone, now);
        let end = next_start(self.period, self.time_zone, start)?;
        Some(Due { start, end })
    }
}

/// The rollover of lots `(id, remaining, free)`, oldest first: the newest credit is kept up to
/// `cap`, the rest expires, though never what open holds reserve (that rolls over too).
pub fn rollover(cap: Quantity, lots: &[(LotId, Quantity, Quantity)]) -> Vec<Roll> {
    let mut left = cap;
    let mut rolls: Vec<Roll> = (lots.iter().rev())
        .map(|&(lot_id, remaining, free)| {
            let wanted = remaining.min(left);
            let expire = remaining.saturating_sub(wanted).min(free);
            let keep = remaining - expire;
            left = left.saturating_sub(keep);
            Roll {
                lot_id,
                keep,
                expire,
            }
        })
        .collect();
    rolls.reverse();
    rolls
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn q(s: &str) -> Quantity {
        Quantity::new(s.parse().unwrap()).unwrap()
    }

    fn lot(n: u128) -> LotId {
        LotId(Uuid::from_u128(n))
    }

    #[test]
    fn the_newest_credit_rolls_over_up_to_the_cap() {
        let lots = [(lot(1), q("30"), q("30")), (lot(2), q("80"), q("80"))];
        assert_eq!(
            rollover(q("100"), &lots),
            vec![
                Roll {
                    lot_id: lot(1),
                    keep: q("20"),
                    expire: q("10")
                },
                Roll {
                    lot_id: lot(2),
                    keep: q("80"),
                    expire: Quantity::ZERO
                },
            ]
        );
        let none = rollover(Quantity::ZERO, &lots);
        assert!(none.iter().all(|r| r.keep.is_zero()));
        // What a hold reserves does not expire: it rolls over beyond the cap.
        let held = rollover(q("10"), &[(lot(3), q("50"), q("20"))]);
        assert_eq!((held[0].keep, held[0].expire), (q("30"), q("20")));
    }

    #[test]
    fn the_period_holding_now_is_due_once_next_at_is_reached() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let grant = RecurringGrant {
            id: RecurringGrantId(Uuid::nil()),
            quantity: q("1000"),
            period: Period::Month,
            time_zone: Tz::UTC,
            kind: LotKind::Promotional,
            price: Money::ZERO,
            currency: None,
            rollover_cap: Quantity::ZERO,
            created_at: at("2026-11-15T12:00:00Z"),
            next_at: at("2026-12-01T00:00:00Z"),
            granted: 1,
        };
        assert_eq!(grant.due(at("2026-11-30T23:59:59Z")), None);
        let due = grant.due(at("2027-01-10T08:00:00Z")).unwrap();
        assert_eq!(
            (due.start, due.end),
            (at("2027-01-01T00:00:00Z"), at("2027-02-01T00:00:00Z"))
        );
    }
}
