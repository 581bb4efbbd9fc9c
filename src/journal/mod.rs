//! Reports over the journal as stored, all read straight from the store (never through the
//! executor) and all of effective time, never of sequence.
//!
//! - [`export`]: the lines of a journal export (detail and summary rows) and their CSV and JSON
//!   Lines text.
//! - [`summary`]: the summary export's groups and the rounding to a currency's minor unit with
//!   carried remainders.
//! - [`exporter`]: the streaming export both `ExportJournal` and `credit-ledger export` run, a
//!   page of entries at a time, with the CLI's file and progress line.
//! - [`trial_balance`]: every ledger account's debits, credits and balance as of a time.
//! - [`revenue`]: the roll-forward of deferred revenue over a period.
//! - [`margin`]: what usage earned, cost upstream and left as margin over a period.
//! - [`balance`]: an account's balance at a past time, rebuilt from its postings.
//! - [`verify`]: the audit behind `credit-ledger verify`: the checks of invariants 1, 3, 6 and 8 of
//!   `docs/design.md` over every entry, lot and hash chain, and the report it prints.

pub mod balance;
pub mod close;
pub mod export;
pub mod exporter;
pub mod margin;
pub mod revenue;
pub mod summary;
pub mod trial_balance;
pub mod verify;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use futures::TryStreamExt as _;

use crate::store::{EntryFilter, JournalEntry, JournalReader, StoreResult};

/// The calendar month (UTC) of a time, e.g. `2026-10`.
pub fn period_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// Feeds every entry the filter selects, in sequence order, to `visit`, as one stream.
pub async fn for_each_entry(
    reader: &mut JournalReader,
    filter: &EntryFilter,
    mut visit: impl FnMut(&JournalEntry),
) -> StoreResult<()> {
    let query = reader.query(filter);
    let mut entries = reader.stream(&query);
    while let Some(entry) = entries.try_next().await? {
        visit(&entry);
    }
    Ok(())
}

/// The calendar month (UTC) before the one `now` is in.
pub fn previous_month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let month_start = |year, month| Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single();
    let this = month_start(now.year(), now.month()).expect("the first of a month exists");
    let (year, month) = match now.month() {
        1 => (now.year() - 1, 12),
        m => (now.year(), m - 1),
    };
    let previous = month_start(year, month).expect("the first of a month exists");
    (previous, this)
}

/// The calendar month (UTC) named `YYYY-MM`, as [start, end).
pub fn month(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (year, month) = text.split_once('-')?;
    let (year, month): (i32, u32) = (year.parse().ok()?, month.parse().ok()?);
    let start = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single()?;
    let (next_year, next_month) = match month {
        12 => (year + 1, 1),
        m => (year, m + 1),
    };
    let end = Utc
        .with_ymd_and_hms(next_year, next_month, 1, 0, 0, 0)
        .single()?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_utc_months() {
        let t = Utc.with_ymd_and_hms(2026, 10, 31, 23, 59, 59).unwrap();
        assert_eq!(period_of(t), "2026-10");
        assert_eq!(period_of(t + chrono::Duration::seconds(1)), "2026-11");
    }

    #[test]
    fn a_month_is_its_first_instant_to_the_next_months() {
        let at = |y, m| Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap();
        assert_eq!(month("2026-10"), Some((at(2026, 10), at(2026, 11))));
        assert_eq!(month("2026-12"), Some((at(2026, 12), at(2027, 1))));
        assert_eq!(month("2026-13"), None);
        assert_eq!(month("October"), None);
        let nov = Utc.with_ymd_and_hms(2026, 11, 24, 5, 0, 0).unwrap();
        assert_eq!(previous_month(nov), (at(2026, 10), at(2026, 11)));
    }

    #[test]
    fn the_previous_month_wraps_the_year() {
        let jan = Utc.with_ymd_and_hms(2027, 1, 15, 12, 0, 0).unwrap();
        let (from, to) = previous_month(jan);
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(to, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    }
}
