//! Refills: auto top-up (setting it, a failure the billing system reports, the request a batch
//! raises when available credit falls below the threshold, the `TopUp` that fulfils it) and
//! recurring grants (creating and deleting them, and posting each period's allowance with its
//! rollover).

use chrono::{DateTime, Utc};

use super::checks::{check_open, invalid};
use super::Ledger;
use crate::ledger::amount::{Money, Quantity};
use crate::ledger::book::Drain;
use crate::ledger::budget::Period;
use crate::ledger::command::*;
use crate::ledger::entry::{EntryDraft, EntryKind};
use crate::ledger::error::LedgerError;
use crate::ledger::recurring::{self, RecurringGrant};
use crate::ledger::top_up::AutoTopUp;
use crate::ledger::types::*;

impl Ledger {
    pub(super) fn set_auto_top_up(&mut self, c: &SetAutoTopUp) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.book_mut(c.account_id)?;
        check_open(&book.account)?;
        let scale = book.account.unit_scale;
        let threshold = c.threshold.check_scale("threshold", scale)?;
        let target = c.target.check_scale("target", scale)?;
        if target <= threshold {
            return Err(invalid(
                "target",
                &format!("must be above the threshold ({threshold})"),
            ));
        }
        let monthly_cap = match c.monthly_cap {
            Some(cap) if cap.is_zero() => {
                return Err(invalid("monthly_cap", "must be positive (unset: no cap)"))
            }
            Some(cap) => Some(cap.check_scale("monthly_cap", scale)?),
            None => None,
        };
        let account = book.touch_account();
        let auto = match account.auto_top_up.take() {
            // The state carries over: an open request stays open, the month keeps its count.
            Some(mut auto) => {
                auto.threshold = threshold;
                auto.target = target;
                auto.monthly_cap = monthly_cap;
                auto
            }
            None => AutoTopUp::new(threshold, target, monthly_cap, now),
        };
        let auto = account.auto_top_up.insert(AutoTopUp {
            enabled: c.enabled,
            failures: 0,
            retry_at: None,
            ..auto
        });
        Ok(Outcome::AutoTopUp(Box::new(auto.clone())))
    }

    pub(super) fn fail_top_up(&mut self, c: &FailTopUp) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.book_mut(c.account_id)?;
        let Some(auto) = &book.account.auto_top_up else {
            return Err(LedgerError::AutoTopUpNotSet {
                account_id: c.account_id,
            });
        };
        if auto.open.as_ref().map(|r| r.id) != Some(c.request_id) {
            return Err(LedgerError::TopUpRequestNotOpen {
                request_id: c.request_id,
            });
        }
        let auto = (book.touch_account().auto_top_up.as_mut()).expect("checked above");
        let failure = auto.fail(c.request_id, now).expect("the open request");
        let answer = auto.clone();
        let data = EventData::TopUpFailed {
            request_id: c.request_id,
            amount: failure.request.amount,
            reason: c.reason.clone(),
            failures: failure.failures,
            retry_at: failure.retry_at,
        };
        self.push_event(c.account_id, data);
        Ok(Outcome::AutoTopUp(Box::new(answer)))
    }

    /// A paid top-up whose idempotency key is the open auto top-up request's id fulfils it.
    pub(super) fn fulfil_top_up(&mut self, account_id: AccountId, key: &str, lot: &Lot) {
        let Some(book) = self.books.get_mut(&account_id) else {
            return;
        };
        let open = (book.account.auto_top_up.as_ref()).and_then(|a| a.open.as_ref());
        if open.is_none_or(|r| r.id.to_string() != key) {
            return;
        }
        let auto = (book.touch_account().auto_top_up.as_mut()).expect("checked above");
        let Some(request) = auto.fulfil(key) else {
            return;
        };
        let data = EventData::TopUpFulfilled {
            request_id: request.id,
            requested: request.amount,
            credited: lot.granted,
            lot_id: lot.id,
        };
        self.push_event(account_id, data);
    }

    /// At the end of a batch, for an account it changed: the auto top-up request now due, if
    /// any (below the threshold, none open, not waiting after a failure, the cap not reached).
    pub(super) fn request_top_up(&mut self, account_id: AccountId, available: Quantity) {
        let now = self.now;
        let Some(book) = self.books.get_mut(&account_id) else {
            return;
        };
        let Some(auto) = &book.account.auto_top_up else {
            return;
        };
        let Some(amount) = auto.due(available, now) else {
            return;
        };
        let (threshold, target) = (auto.threshold, auto.target);
        let id = TopUpRequestId(self.ids.next_id());
        let auto = (book.touch_account().auto_top_up.as_mut()).expect("checked above");
        auto.raise(id, amount, now);
        let data = EventData::TopUpRequested {
            request_id: id,
            amount,
            available,
            threshold,
            target,
        };
        self.push_event(account_id, data);
    }

    /// The sweeper's part of auto top-up: a wait after a failure that is over is cleared (so
    /// the account is no longer due), and the batch's end raises the request if still due.
    pub(super) fn wake_auto_top_up(&mut self, account_id: AccountId) {
        let now = self.now;
        let Some(book) = self.books.get_mut(&account_id) else {
            return;
        };
        let over = (book.account.auto_top_up.as_ref())
            .and_then(AutoTopUp::wakes_at)
            .is_some_and(|at| at <= now);
        if over {
            (book.touch_account().auto_top_up.as_mut())
                .expect("checked above")
                .retry_at = None;
        }
    }

    pub(super) fn create_recurring_grant(
        &mut self,
        c: &CreateRecurringGrant,
    ) -> Result<Outcome, LedgerError> {
        let (now, live_max) = (self.now, self.limits.live_lots_per_account_max);
        let book = self.book_mut(c.account_id)?;
        check_open(&book.account)?;
        let scale = book.account.unit_scale;
        let quantity = c.quantity.check_scale("quantity", scale)?;
        let rollover_cap = c.rollover_cap.check_scale("rollover_cap", scale)?;
        if matches!(c.period, Period::None | Period::Rolling) {
            return Err(invalid(
                "period",
                "a recurring grant is granted every day, week or month",
            ));
        }
        match (c.kind, c.price.is_zero(), c.currency) {
            (LotKind::Paid, true, _) => {
                return Err(invalid("price", "a paid recurring grant needs a price"))
            }
            (LotKind::Paid, false, None) => {
                return Err(invalid("currency", "a price needs a currency"))
            }
            (LotKind::Promotional, false, _) => {
                return Err(invalid("price", "a promotional grant has no price"))
            }
            _ => {}
        }
        // Checked here too, so a refusal leaves nothing behind.
        if book.live_lots(now) >= live_max as usize {
            return Err(LedgerError::TooManyLots {
                account_id: c.account_id,
                limit: live_max,
            });
        }
        if book.account.recurring_grants.len() >= recurring::PER_ACCOUNT_MAX {
            return Err(LedgerError::TooManyRecurringGrants {
                account_id: c.account_id,
                limit: recurring::PER_ACCOUNT_MAX as u32,
            });
        }
        let grant = RecurringGrant {
            id: RecurringGrantId(self.ids.next_id()),
            quantity,
            period: c.period,
            time_zone: c.time_zone,
            kind: c.kind,
            price: c.price,
            currency: match c.kind {
                LotKind::Paid => c.currency,
                LotKind::Promotional => None,
            },
            rollover_cap,
            created_at: now,
            next_at: now,
            granted: 0,
        };
        let id = grant.id;
        let book = self.book_mut(c.account_id)?;
        let grants = &mut book.touch_account().recurring_grants;
        grants.push(grant);
        grants.sort_by_key(|g| g.id);
        let lot = self.post_recurring_grant(c.account_id, id)?;
        let book = self.book_mut(c.account_id)?;
        let grant = (book.account.recurring_grants.iter())
            .find(|g| g.id == id)
            .expect("just created");
        Ok(Outcome::RecurringGrant {
            grant: Box::new(grant.clone()),
            lot: Box::new(lot),
        })
    }

    pub(super) fn delete_recurring_grant(
        &mut self,
        c: &DeleteRecurringGrant,
    ) -> Result<Outcome, LedgerError> {
        let book = self.book_mut(c.account_id)?;
        let index = (book.account.recurring_grants.iter())
            .position(|g| g.id == c.grant_id)
            .ok_or(LedgerError::RecurringGrantNotFound {
                grant_id: c.grant_id,
            })?;
        let grant = book.touch_account().recurring_grants.remove(index);
        Ok(Outcome::RecurringGrantDeleted(Box::new(grant)))
    }

    /// The sweeper's part: every recurring grant of the account whose next period has begun.
    /// Returns how many periods were granted. A period whose grant is refused (the account
    /// closed, or at its limit of live lots) is skipped.
    pub(super) fn post_recurring_grants(&mut self, account_id: AccountId) -> u32 {
        let now = self.now;
        let Some(book) = self.books.get(&account_id) else {
            return 0;
        };
        let due: Vec<RecurringGrantId> = (book.account.recurring_grants.iter())
            .filter(|g| g.next_at <= now)
            .map(|g| g.id)
            .collect();
        let mut posted = 0;
        for id in due {
            match self.post_recurring_grant(account_id, id) {
                Ok(_) => posted += 1,
                Err(_) => self.skip_period(account_id, id),
            }
        }
        posted
    }

    fn skip_period(&mut self, account_id: AccountId, id: RecurringGrantId) {
        let now = self.now;
        let Some(book) = self.books.get_mut(&account_id) else {
            return;
        };
        let account = book.touch_account();
        if let Some(grant) = account.recurring_grants.iter_mut().find(|g| g.id == id) {
            if let Some(due) = grant.due(now) {
                grant.next_at = due.end;
            }
        }
    }

    /// Posts the period due of one recurring grant: the rollover of its lots, then the new
    /// period's lot (returned).
    fn post_recurring_grant(
        &mut self,
        account_id: AccountId,
        id: RecurringGrantId,
    ) -> Result<Lot, LedgerError> {
        let (now, live_max) = (self.now, self.limits.live_lots_per_account_max);
        let book = self.book_mut(account_id)?;
        let grant = (book.account.recurring_grants.iter())
            .find(|g| g.id == id)
            .cloned()
            .ok_or(LedgerError::RecurringGrantNotFound { grant_id: id })?;
        let Some(due) = grant.due(now) else {
            return Err(invalid("next_at", "no period is due"));
        };
        // What would refuse the grant is checked before anything is posted.
        check_open(&book.account)?;
        if book.live_lots(now) >= live_max as usize {
            return Err(LedgerError::TooManyLots {
                account_id,
                limit: live_max,
            });
        }
        let reference = grant.reference();
        // The earlier periods' lots still live: with a rollover cap they were granted to last a
        // period more; what they hold beyond the cap expires now.
        let mut lots: Vec<&Lot> = (book.lots.iter())
            .filter(|l| {
                l.reference == reference
                    && l.status == LotStatus::Active
                    && l.is_live_at(now)
                    && !l.remaining.is_zero()
            })
            .collect();
        lots.sort_by_key(|l| (l.created_at, l.id));
        let held: Vec<(LotId, Quantity, Quantity)> =
            lots.iter().map(|l| (l.id, l.remaining, l.free())).collect();
        let rolls = recurring::rollover(grant.rollover_cap, &held);
        let (mut rolled_over, mut expired) = (Quantity::ZERO, Quantity::ZERO);
        let mut drafts = Vec::new();
        for roll in rolls {
            rolled_over += roll.keep;
            if !roll.expire.is_zero() {
                expired += roll.expire;
                drafts.push(beyond_the_cap(
                    book,
                    roll.lot_id,
                    roll.expire,
                    now,
                    due.start,
                ));
            }
        }
        for draft in drafts {
            self.seal(draft, account_id);
        }
        // With a rollover cap, a period's lot lasts through the next period, whose start caps
        // what it keeps; without, it ends with its period.
        let expires_at = match grant.rollover_cap.is_zero() {
            true => due.end,
            false => grant.period_end_after(due.end),
        };
        let granted = self.grant(&Grant {
            idempotency_key: format!("{reference}:{}", due.start.to_rfc3339()),
            account_id,
            kind: grant.kind,
            quantity: grant.quantity,
            price: grant.price,
            currency: grant.currency,
            priority: 0,
            effective_at: None,
            expires_at: Some(expires_at),
            scope: Vec::new(),
            reference,
        })?;
        let Outcome::Granted { lot, .. } = granted else {
            unreachable!("a grant answers Granted")
        };
        let book = self.book_mut(account_id)?;
        let stored = (book.touch_account().recurring_grants.iter_mut())
            .find(|g| g.id == id)
            .expect("found above");
        stored.next_at = due.end;
        stored.granted += 1;
        let data = EventData::RecurringGrantPosted {
            grant_id: id,
            lot_id: lot.id,
            quantity: lot.granted,
            rolled_over,
            expired,
            period_start: due.start,
            period_end: due.end,
        };
        self.push_event(account_id, data);
        Ok(lot)
    }
}

/// What an earlier period's lot holds beyond the rollover cap, expired when the new period is
/// posted: breakage for its share of the lot's deferred money.
fn beyond_the_cap(
    book: &mut crate::ledger::AccountBook,
    lot_id: LotId,
    quantity: Quantity,
    now: DateTime<Utc>,
    period_start: DateTime<Utc>,
) -> EntryDraft {
    let reference = book.lot(lot_id).map(|l| l.reference.clone());
    let mut draft = EntryDraft::new(
        EntryKind::Expiry,
        now,
        &format!("expiry:{lot_id}:{}", period_start.to_rfc3339()),
        &reference.unwrap_or_default(),
    );
    draft.lot_id = Some(lot_id);
    let _: Money = book.draw_lot(lot_id, quantity, false, Drain::EXPIRED, &mut draft);
    draft
}
