//! One account's working state inside a batch: the account row, its live lots in drawdown order,
//! and the holds the batch touches. Every mutation goes through here so the book knows what it
//! has to write back.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::accounts::LedgerAccount;
use super::amount::{money_share, price_of, Money, NetQuantity, Quantity};
use super::code::{Currency, Unit};
use super::entry::{ledger_account as gl, EntryDraft};
use super::error::LedgerError;
use super::types::{
    Account, AlertLevel, Draw, Hold, HoldId, HoldStatus, Lot, LotId, LotStatus, LowBalance,
};

#[derive(Debug, Clone)]
pub struct AccountBook {
    pub account: Account,
    /// Live lots (and any the batch names), kept in drawdown order.
    pub lots: Vec<Lot>,
    pub holds: HashMap<HoldId, Hold>,
    pub(super) account_dirty: bool,
    pub(super) dirty_lots: BTreeSet<LotId>,
    pub(super) dirty_holds: BTreeSet<HoldId>,
    /// Holds this batch found past their TTL and let go: (hold, released, expired at).
    pub(super) expired_holds: Vec<(HoldId, Quantity, DateTime<Utc>)>,
}

/// Which credit a plan may draw on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// Spending for a meter: effective, unexpired lots in scope, then the credit line.
    Spend { meter: &'a str },
    /// Support taking credit back: free credit on any live lot (active and not expired),
    /// whatever its scope or start, never the credit line.
    TakeBack,
}

impl Source<'_> {
    fn takes(&self, lot: &Lot, now: DateTime<Utc>) -> bool {
        match self {
            Source::Spend { meter } => lot.usable_at(now, meter),
            Source::TakeBack => lot.is_live_at(now),
        }
    }
}

/// The balance of an account at a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceView {
    /// Credit on lots that are not expired, voided or used up, minus credit line used.
    pub posted: NetQuantity,
    pub held: Quantity,
    /// What an unscoped authorization could reserve.
    pub available: Quantity,
    /// The lots counted in `posted` (active and not expired), in drawdown order.
    pub lots: Vec<Lot>,
}

impl AccountBook {
    /// Builds the book and lets every open hold that has reached its expiry go: its credit is
    /// available again at once, whether or not a sweeper has seen it.
    pub fn new(account: Account, mut lots: Vec<Lot>, holds: Vec<Hold>, now: DateTime<Utc>) -> Self {
        lots.sort_by(|a, b| a.drawdown_key().cmp(&b.drawdown_key()));
        let mut book = AccountBook {
            account,
            lots,
            holds: holds.into_iter().map(|h| (h.id, h)).collect(),
            account_dirty: false,
            dirty_lots: BTreeSet::new(),
            dirty_holds: BTreeSet::new(),
            expired_holds: Vec::new(),
        };
        book.expire_holds(now);
        book
    }

    fn expire_holds(&mut self, now: DateTime<Utc>) {
        let due: Vec<HoldId> = self
            .holds
            .values()
            .filter(|h| h.status == HoldStatus::Open && h.expires_at <= now)
            .map(|h| h.id)
            .collect();
        for id in due {
            let mut hold = self.holds.get(&id).cloned().expect("hold listed above");
            let released = self.release_reservations(&mut hold);
            hold.status = HoldStatus::Expired;
            self.expired_holds.push((id, released, hold.expires_at));
            self.close_hold(hold);
        }
    }

    pub fn lot(&self, id: LotId) -> Option<&Lot> {
        self.lots.iter().find(|l| l.id == id)
    }

    pub(super) fn lot_mut(&mut self, id: LotId) -> &mut Lot {
        self.dirty_lots.insert(id);
        self.lots
            .iter_mut()
            .find(|l| l.id == id)
            .expect("a draw names a loaded lot")
    }

    pub(super) fn insert_lot(&mut self, lot: Lot) {
        let at = self
            .lots
            .partition_point(|l| l.drawdown_key() < lot.drawdown_key());
        self.dirty_lots.insert(lot.id);
        self.lots.insert(at, lot);
    }

    /// Lots that still count against the account's limit: active and not past their expiry.
    pub fn live_lots(&self, now: DateTime<Utc>) -> usize {
        self.lots.iter().filter(|l| l.is_live_at(now)).count()
    }

    /// Stores a hold, and moves its budgets' `held` by what its claim on them changed. A
    /// velocity limit counted what the hold authorized at its authorization: once the hold is
    /// closed, what it did not capture is given back there.
    pub(super) fn put_hold(&mut self, hold: Hold) {
        let before = self.holds.get(&hold.id).map_or(Quantity::ZERO, Hold::claim);
        let after = hold.claim();
        if before != after && !hold.budgets.is_empty() {
            self.account_dirty = true;
            let closed = hold.status != HoldStatus::Open;
            let unused = hold.authorized.saturating_sub(hold.captured);
            for budget in (self.account.budgets.iter_mut()).filter(|b| hold.budgets.contains(&b.id))
            {
                match &mut budget.window {
                    Some(window) if closed => window.give_back(hold.created_at, unused),
                    Some(_) => {}
                    None => budget.held = (budget.held + after).saturating_sub(before),
                }
            }
        }
        self.dirty_holds.insert(hold.id);
        self.holds.insert(hold.id, hold);
    }

    /// Stores a hold that is no longer open and counts it out of the open holds.
    pub(super) fn close_hold(&mut self, hold: Hold) {
        self.account.open_holds = self.account.open_holds.saturating_sub(1);
        self.account_dirty = true;
        self.put_hold(hold);
    }

    /// Records what the account has after new credit (a grant, a top-up, a credit line change):
    /// what a percentage low-balance threshold is of until the next.
    pub(super) fn rebase_low_balance(&mut self, now: DateTime<Utc>) {
        let available = self.available(now, "");
        self.touch_account().low_balance_base = available;
    }

    pub(super) fn touch_account(&mut self) -> &mut Account {
        self.account_dirty = true;
        &mut self.account
    }

    /// Whether a hold's reservation can still be charged: the credit line always, a lot only
    /// while it is active and not past its expiry.
    pub fn draw_chargeable(&self, draw: &Draw, now: DateTime<Utc>) -> bool {
        match draw.lot_id {
            None => true,
            Some(id) => self.lot(id).is_some_and(|l| l.is_live_at(now)),
        }
    }

    pub fn available(&self, now: DateTime<Utc>, meter: &str) -> Quantity {
        let lots: Quantity = self
            .lots
            .iter()
            .filter(|l| l.usable_at(now, meter))
            .map(Lot::free)
            .sum();
        lots + self.account.credit_line_free(now)
    }

    /// The level events report for the account at `now`, with what it is measured on:
    /// (level, available, the low-balance threshold in units if one is set).
    pub fn alert_level(&self, now: DateTime<Utc>) -> (AlertLevel, Quantity, Option<Quantity>) {
        let available = self.available(now, "");
        let threshold = match self.account.low_balance {
            LowBalance::None => None,
            LowBalance::Absolute(q) => Some(q),
            LowBalance::Percent(pct) => {
                Some(pct.of(self.account.low_balance_base, self.account.unit_scale))
            }
        };
        let level = if available.is_zero() {
            AlertLevel::Depleted
        } else if threshold.is_some_and(|t| available <= t) {
            AlertLevel::Low
        } else {
            AlertLevel::Ok
        };
        (level, available, threshold)
    }

    pub fn balance(&self, now: DateTime<Utc>) -> BalanceView {
        let lots: Vec<Lot> = self
            .lots
            .iter()
            .filter(|l| l.is_live_at(now))
            .cloned()
            .collect();
        let (remaining, held) = lots
            .iter()
            .fold((Quantity::ZERO, Quantity::ZERO), |(r, h), l| {
                (r + l.remaining, h + l.held)
            });
        BalanceView {
            posted: NetQuantity::of(remaining, self.account.credit_line_used),
            held: held + self.account.credit_line_held,
            available: self.available(now, ""),
            lots,
        }
    }

    /// Where `amount` would come from, in drawdown order, or the refusal with what is
    /// available. Spending draws on the lots usable for `meter`, then the credit line.
    pub fn plan(
        &self,
        amount: Quantity,
        now: DateTime<Utc>,
        meter: &str,
    ) -> Result<Vec<Draw>, LedgerError> {
        self.plan_from(amount, now, Source::Spend { meter })
    }

    /// The drawdown loop every plan shares; `source` says which credit it may take.
    pub fn plan_from(
        &self,
        amount: Quantity,
        now: DateTime<Utc>,
        source: Source<'_>,
    ) -> Result<Vec<Draw>, LedgerError> {
        let mut left = amount;
        let mut draws = Vec::new();
        for lot in self.lots.iter().filter(|l| source.takes(l, now)) {
            if left.is_zero() {
                break;
            }
            let take = lot.free().min(left);
            if !take.is_zero() {
                draws.push(Draw {
                    lot_id: Some(lot.id),
                    quantity: take,
                });
                left -= take;
            }
        }
        let line = match source {
            Source::Spend { .. } => self.account.credit_line_free(now),
            Source::TakeBack => Quantity::ZERO,
        };
        let from_line = line.min(left);
        if !from_line.is_zero() {
            draws.push(Draw {
                lot_id: None,
                quantity: from_line,
            });
            left -= from_line;
        }
        if !left.is_zero() {
            let lots: Quantity = self
                .lots
                .iter()
                .filter(|l| source.takes(l, now))
                .map(Lot::free)
                .sum();
            return Err(LedgerError::InsufficientCredit {
                requested: amount,
                available: lots + line,
            });
        }
        Ok(draws)
    }

    pub(super) fn reserve(&mut self, draws: &[Draw]) {
        for draw in draws {
            match draw.lot_id {
                Some(id) => self.lot_mut(id).held += draw.quantity,
                None => self.touch_account().credit_line_held += draw.quantity,
            }
        }
    }

    /// Gives back everything a hold still reserves and returns how much that was.
    pub(super) fn release_reservations(&mut self, hold: &mut Hold) -> Quantity {
        let released = hold.held();
        for draw in std::mem::take(&mut hold.reserved) {
            match draw.lot_id {
                Some(id) => {
                    let lot = self.lot_mut(id);
                    lot.held -= draw.quantity;
                }
                None => self.touch_account().credit_line_held -= draw.quantity,
            }
        }
        released
    }

    /// Consumes `draw` (from a reservation when `reserved`), posting both books onto `draft`.
    pub(super) fn consume(&mut self, draw: &Draw, reserved: bool, draft: &mut EntryDraft) {
        let quantity = draw.quantity;
        match draw.lot_id {
            Some(id) => {
                self.draw_lot(id, quantity, reserved, Drain::CONSUMED, draft);
            }
            None => {
                let unit = self.account.unit;
                let account = self.touch_account();
                account.credit_line_used += quantity;
                if reserved {
                    account.credit_line_held -= quantity;
                }
                let money = price_of(quantity, account.credit_line_price);
                account.credit_line_spent += money;
                let (id, currency) = (account.id, account.currency);
                draft.quantity_pair(gl::credit_line(id), gl::CONSUMED, quantity, unit, None);
                draft.money_pair(
                    gl::UNBILLED_RECEIVABLE,
                    gl::REVENUE_USAGE,
                    money,
                    currency,
                    None,
                );
            }
        }
    }

    /// Draws `quantity` off a lot (from a reservation when `reserved`) and posts where it goes:
    /// Dr lot / Cr `drain.quantity_to` in the quantity book, and its share of the lot's deferred
    /// money (exactly all of it on the lot's last draw) Dr deferred_revenue / Cr `drain.money_to`.
    /// Returns that money.
    pub(super) fn draw_lot(
        &mut self,
        id: LotId,
        quantity: Quantity,
        reserved: bool,
        drain: Drain,
        draft: &mut EntryDraft,
    ) -> Money {
        let unit = self.account.unit;
        let lot = self.lot_mut(id);
        let money = money_share(lot.money_deferred, quantity, lot.remaining);
        lot.remaining -= quantity;
        lot.money_deferred -= money;
        if reserved {
            lot.held -= quantity;
        }
        if lot.remaining.is_zero() {
            lot.status = LotStatus::Depleted;
        }
        let currency = lot.currency;
        drain.post(draft, id, quantity, unit, money, currency);
        money
    }

    /// Empties a lot that ends before it is used up (voided or expired): what remains and the
    /// money it still defers are posted as `drain` says, and the lot takes `status`. Returns
    /// (quantity, money). The caller has released the lot from its holds.
    pub(super) fn close_lot(
        &mut self,
        id: LotId,
        status: LotStatus,
        drain: Drain,
        draft: &mut EntryDraft,
    ) -> (Quantity, Money) {
        let unit = self.account.unit;
        let lot = self.lot_mut(id);
        let (quantity, money) = (lot.remaining, lot.money_deferred);
        lot.remaining = Quantity::ZERO;
        lot.money_deferred = Money::ZERO;
        lot.status = status;
        let currency = lot.currency;
        drain.post(draft, id, quantity, unit, money, currency);
        (quantity, money)
    }
}

/// Where credit drawn off a lot goes: the quantity book's counter account and the money book's
/// account that its deferred revenue moves to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Drain {
    pub quantity_to: LedgerAccount,
    pub money_to: LedgerAccount,
}

impl Drain {
    pub const CONSUMED: Drain = Drain {
        quantity_to: gl::CONSUMED,
        money_to: gl::REVENUE_USAGE,
    };
    pub const EXPIRED: Drain = Drain {
        quantity_to: gl::EXPIRED,
        money_to: gl::REVENUE_BREAKAGE,
    };
    pub const VOIDED: Drain = Drain {
        quantity_to: gl::VOIDED,
        money_to: gl::REFUNDS_PAYABLE,
    };
    pub const ADJUSTED: Drain = Drain {
        quantity_to: gl::ADJUSTED,
        money_to: gl::REVENUE_ADJUSTMENT,
    };

    /// A lot with no currency (credit given away) has no money to move.
    fn post(
        self,
        draft: &mut EntryDraft,
        lot: LotId,
        quantity: Quantity,
        unit: Unit,
        money: Money,
        currency: Option<Currency>,
    ) {
        draft.quantity_pair(gl::lot(lot), self.quantity_to, quantity, unit, Some(lot));
        match currency {
            Some(currency) => draft.money_pair(
                gl::DEFERRED_REVENUE,
                self.money_to,
                money,
                currency,
                Some(lot),
            ),
            None => debug_assert!(money.is_zero(), "money on a lot without a currency"),
        }
    }
}
