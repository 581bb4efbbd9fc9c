//! Closing a month: after it, nothing is booked effective inside it (a late effect is booked at
//! the start of the open period, its own time kept, see `docs/accounting.md`), and its snapshot
//! (every customer's sums per book, ledger account, unit or currency and lot, effective before
//! the month's end) lets reports start from it instead of the journal's beginning.
//!
//! Months close in order: the first close may be any month that has ended, each later one the
//! month after the last closed. A snapshot is the previous one plus the entries effective in
//! the month. Its hash chains it to the previous snapshot's hash and to the last entry (by
//! sequence) it covers, and covers every line, so `verify` can prove it.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::for_each_entry;
use crate::ledger::{AccountId, Book, Code, LedgerError, LotId, Side};
use crate::store::{EntryFilter, PeriodClose, PeriodLine, Store, StoreError, StoreResult};

/// Why a month was not closed: a refusal (the month malformed, not ended, out of order, or
/// being closed), or the store.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error(transparent)]
    Refused(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first instant of month `YYYY-MM` and of the month after, in UTC.
pub fn month_bounds(month: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), LedgerError> {
    let invalid = || LedgerError::InvalidArgument {
        field: "month",
        reason: format!(
            "a month is YYYY-MM from 1970-01, e.g. 2026-10; got {:?}",
            crate::ledger::amount::truncated(month)
        ),
    };
    let parsed = (month.len() == 7 && month.is_ascii() && month.as_bytes()[4] == b'-')
        .then(|| {
            Some((
                month[..4].parse::<i32>().ok()?,
                month[5..].parse::<u32>().ok()?,
            ))
        })
        .flatten();
    let Some((year, m)) = parsed.filter(|(y, m)| (1..=12).contains(m) && *y >= 1970) else {
        return Err(invalid());
    };
    let first = |y, m| Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single();
    let start = first(year, m).ok_or_else(invalid)?;
    let end = match m {
        12 => first(year + 1, 1),
        m => first(year, m + 1),
    }
    .ok_or_else(invalid)?;
    Ok((start, end))
}

type Key = (AccountId, Book, String, Code, Option<LotId>);

/// Closes `month` at `now` (it must have ended); closing a closed month again gives it back,
/// and closing one left closing (interrupted) finishes it.
pub async fn close_month(
    store: &Store,
    month: &str,
    now: DateTime<Utc>,
) -> Result<PeriodClose, CloseError> {
    let closed = close(store, month, now, false).await?;
    Ok(closed.expect("a close that need not claim the month closes it"))
}

/// The sweeper's close: every month that ended more than `after` before `now` and is not closed
/// yet, in order (the first ever is the last such month). A month another instance has begun to
/// close is left to it. Returns how many this call closed.
pub async fn close_due(
    store: &Store,
    now: DateTime<Utc>,
    after: chrono::Duration,
) -> Result<u64, CloseError> {
    let mut closed = 0;
    // Months that ended by `now - after`: before the month that holds it.
    let due_until = month_bounds(&super::period_of(now - after))?.0;
    for _ in 0..120 {
        let closes = store.period_closes().await?;
        let next = match closes.iter().rfind(|c| c.closed) {
            Some(last) => last.end,
            None => match month_bounds(&super::period_of(due_until - chrono::Duration::days(1))) {
                Ok((start, _)) => start,
                Err(_) => return Ok(closed),
            },
        };
        if next >= due_until {
            return Ok(closed);
        }
        match close(store, &super::period_of(next), now, true).await? {
            Some(_) => closed += 1,
            None => return Ok(closed),
        }
    }
    Ok(closed)
}

/// Closes `month`; with `claim`, only if this call is the one that begins its close (`None`
/// when another has).
async fn close(
    store: &Store,
    month: &str,
    now: DateTime<Utc>,
    claim: bool,
) -> Result<Option<PeriodClose>, CloseError> {
    let (start, end) = month_bounds(month)?;
    if end > now {
        return Err(LedgerError::PeriodNotEnded {
            period: month.to_string(),
            ends_at: end,
        }
        .into());
    }
    let closes = store.period_closes().await?;
    if let Some(done) = closes.iter().find(|c| c.period == month && c.closed) {
        return Ok((!claim).then(|| done.clone()));
    }
    let last = closes.iter().rfind(|c| c.closed);
    if let Some(last) = last {
        if last.end != start {
            return Err(LedgerError::PeriodOutOfOrder {
                period: month.to_string(),
                next: super::period_of(last.end),
            }
            .into());
        }
    }
    if let Some(pending) = closes.iter().find(|c| !c.closed && c.period != month) {
        return Err(LedgerError::PeriodClosing {
            period: pending.period.clone(),
        }
        .into());
    }
    let mut close = PeriodClose {
        period: month.to_string(),
        start,
        end,
        closed_at: now,
        closed: false,
        last_seq: last.map_or(0, |l| l.last_seq),
        last_hash: last.map_or_else(String::new, |l| l.last_hash.clone()),
        lines: 0,
        prev_hash: last.map_or_else(String::new, |l| l.hash.clone()),
        hash: String::new(),
    };
    // From here on no batch books anything effective before `end`.
    let begun = store.begin_close(&close).await?;
    if claim && !begun {
        return Ok(None);
    }
    let previous = match last {
        Some(last) => store.period_lines(&last.period).await?,
        None => Vec::new(),
    };
    let (lines, covered) = lines_through(store, previous, last.map(|l| l.end), end).await?;
    if let Some((seq, hash)) = covered.filter(|(seq, _)| *seq > close.last_seq) {
        close.last_seq = seq;
        close.last_hash = hash;
    }
    close.lines = lines.len() as i64;
    close.hash = snapshot_hash(&close, &lines);
    close.closed = true;
    store.finish_close(&close, &lines).await?;
    Ok(Some(close))
}

/// The lines of a snapshot at `end`: `previous` (the snapshot at `from`) plus the postings of
/// the entries effective in [from, end), in line order; and the last entry (by sequence) read,
/// with its hash.
async fn lines_through(
    store: &Store,
    previous: Vec<PeriodLine>,
    from: Option<DateTime<Utc>>,
    end: DateTime<Utc>,
) -> StoreResult<(Vec<PeriodLine>, Option<(i64, String)>)> {
    let mut sums: BTreeMap<Key, (Decimal, Decimal)> = BTreeMap::new();
    for line in previous {
        let key = (
            line.account_id,
            line.book,
            line.ledger_account,
            line.unit,
            line.lot_id,
        );
        sums.insert(key, (line.debits, line.credits));
    }
    let filter = EntryFilter {
        from,
        to: Some(end),
        ..EntryFilter::default()
    };
    let mut covered: Option<(i64, String)> = None;
    let mut reader = store.journal_reader().await?;
    for_each_entry(&mut reader, &filter, |e| {
        if covered.as_ref().is_none_or(|(seq, _)| e.seq > *seq) {
            covered = Some((e.seq, e.entry.hash.clone()));
        }
        for p in &e.entry.postings {
            let key = (
                e.entry.account_id,
                p.book,
                p.ledger_account.to_string(),
                p.unit,
                p.lot_id,
            );
            let (debits, credits) = sums.entry(key).or_default();
            match p.side {
                Side::Debit => *debits += p.amount,
                Side::Credit => *credits += p.amount,
            }
        }
    })
    .await?;
    reader.finish().await?;
    let lines = sums
        .into_iter()
        .map(
            |((account_id, book, ledger_account, unit, lot_id), (debits, credits))| PeriodLine {
                account_id,
                book,
                ledger_account,
                unit,
                lot_id,
                debits: debits.normalize(),
                credits: credits.normalize(),
            },
        )
        .collect();
    Ok((lines, covered))
}

/// The closed months' snapshots checked: each re-hashes to its stored hash and names the month
/// before's; the last entry each covers is in the journal with that hash; and with `full`, its
/// lines are what the journal adds up to (recomputed month by month from the first entry).
pub async fn check_snapshots(
    store: &Store,
    full: bool,
) -> StoreResult<Vec<super::verify::Violation>> {
    use super::verify::Violation;
    let mut found = Vec::new();
    let mut previous: Option<PeriodClose> = None;
    let mut recomputed: Vec<PeriodLine> = Vec::new();
    for close in store
        .period_closes()
        .await?
        .into_iter()
        .filter(|c| c.closed)
    {
        let lines = store.period_lines(&close.period).await?;
        let expected_prev = previous
            .as_ref()
            .map(|p| p.hash.clone())
            .unwrap_or_default();
        if close.prev_hash != expected_prev {
            found.push(Violation::SnapshotChain {
                period: close.period.clone(),
                prev_hash: close.prev_hash.clone(),
                previous: expected_prev,
            });
        }
        let computed = snapshot_hash(&close, &lines);
        if computed != close.hash {
            found.push(Violation::SnapshotHash {
                period: close.period.clone(),
                stored: close.hash.clone(),
                computed,
            });
        }
        if close.last_seq > 0
            && store.entry_hash_at(close.last_seq).await? != Some(close.last_hash.clone())
        {
            found.push(Violation::SnapshotAnchor {
                period: close.period.clone(),
                last_seq: close.last_seq,
                last_hash: close.last_hash.clone(),
            });
        }
        if full {
            let from = previous.as_ref().map(|p| p.end);
            let (again, _) =
                lines_through(store, std::mem::take(&mut recomputed), from, close.end).await?;
            let differing = (again.len().max(lines.len()))
                - again.iter().zip(&lines).filter(|(a, b)| a == b).count();
            if differing > 0 {
                found.push(Violation::SnapshotLines {
                    period: close.period.clone(),
                    stored: lines.len(),
                    differing,
                });
            }
            recomputed = again;
        }
        previous = Some(close);
    }
    Ok(found)
}

/// The hash of a snapshot: the previous snapshot's hash, the month, the last entry it covers
/// and every line, in line order.
pub fn snapshot_hash(close: &PeriodClose, lines: &[PeriodLine]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{}|{}|{}|{}|{}|{}|{}",
        close.prev_hash,
        close.period,
        close.start.timestamp_micros(),
        close.end.timestamp_micros(),
        close.last_seq,
        close.last_hash,
        lines.len()
    ));
    for l in lines {
        hasher.update(format!(
            "|{}:{}:{}:{}:{}:{}:{}",
            l.account_id,
            l.book.as_str(),
            l.ledger_account,
            l.unit,
            l.lot_id.map(|id| id.to_string()).unwrap_or_default(),
            l.debits.normalize(),
            l.credits.normalize(),
        ));
    }
    hex::encode(hasher.finalize())
}

/// The last closed month whose end is at or before `until`, if any: where a report of what is
/// effective before `until` starts.
pub async fn last_closed_by(
    store: &Store,
    until: DateTime<Utc>,
) -> StoreResult<Option<PeriodClose>> {
    let closes = store.period_closes().await?;
    Ok(closes.into_iter().rfind(|c| c.closed && c.end <= until))
}

/// [`last_closed_by`], with its snapshot.
pub async fn base_for(
    store: &Store,
    until: DateTime<Utc>,
) -> StoreResult<Option<(PeriodClose, Vec<PeriodLine>)>> {
    let Some(base) = last_closed_by(store, until).await? else {
        return Ok(None);
    };
    let lines = store.period_lines(&base.period).await?;
    Ok(Some((base, lines)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_spelled_yyyy_mm() {
        let (start, end) = month_bounds("2026-12").unwrap();
        assert_eq!(start.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "2026-00"] {
            assert!(month_bounds(bad).is_err(), "{bad}");
        }
    }
}
