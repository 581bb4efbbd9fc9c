//! Credit in: top-ups and promotional grants (one path, a lot and its entry); credit out by a
//! void, releasing the holds that reserved it.

use super::checks::{check_open, invalid};
use super::Ledger;
use crate::ledger::amount::Quantity;
use crate::ledger::book::{AccountBook, Drain};
use crate::ledger::command::*;
use crate::ledger::entry::{ledger_account as gl, EntryDraft, EntryKind};
use crate::ledger::error::LedgerError;
use crate::ledger::types::*;

impl Ledger {
    pub(super) fn grant(&mut self, c: &Grant) -> Result<Outcome, LedgerError> {
        let (now, limits) = (self.now, self.limits);
        let book = self.book_mut(c.account_id)?;
        let account = &book.account;
        check_open(account)?;
        let quantity = c.quantity.check_scale("quantity", account.unit_scale)?;
        if c.kind == LotKind::Paid && c.price.is_zero() {
            return Err(invalid("price", "a paid top-up needs a positive price"));
        }
        let currency = match (c.currency, c.price.is_zero()) {
            (Some(currency), _) => Some(currency),
            (None, true) => None,
            (None, false) => return Err(invalid("currency", "a price needs a currency")),
        };
        let effective_at = c.effective_at.unwrap_or(now);
        if let Some(expires_at) = c.expires_at {
            if expires_at <= effective_at || expires_at <= now {
                return Err(invalid(
                    "expires_at",
                    "must be after effective_at and in the future",
                ));
            }
        }
        if book.live_lots(now) >= limits.live_lots_per_account_max as usize {
            return Err(LedgerError::TooManyLots {
                account_id: account.id,
                limit: limits.live_lots_per_account_max,
            });
        }
        let lot = Lot {
            id: LotId(self.ids.next_id()),
            account_id: c.account_id,
            kind: c.kind,
            status: LotStatus::Active,
            priority: c.priority,
            granted: quantity,
            remaining: quantity,
            held: Quantity::ZERO,
            effective_at,
            expires_at: c.expires_at,
            scope: c.scope.clone(),
            cost_basis: c.price,
            money_deferred: c.price,
            currency,
            reference: c.reference.clone(),
            created_at: now,
        };
        let (kind, issued) = match c.kind {
            LotKind::Paid => (EntryKind::TopUp, gl::ISSUED_PAID),
            LotKind::Promotional => (EntryKind::Grant, gl::ISSUED_PROMOTIONAL),
        };
        let mut draft = EntryDraft::new(kind, now, &c.idempotency_key, &c.reference);
        draft.lot_id = Some(lot.id);
        let unit = self.books[&c.account_id].account.unit;
        draft.quantity_pair(issued, gl::lot(lot.id), quantity, unit, Some(lot.id));
        if let Some(currency) = currency {
            draft.money_pair(
                gl::CASH_CLEARING,
                gl::DEFERRED_REVENUE,
                lot.cost_basis,
                currency,
                Some(lot.id),
            );
        }
        let book = self.book_mut(c.account_id)?;
        book.insert_lot(lot.clone());
        book.rebase_low_balance(now);
        let entry_id = self.seal(draft, c.account_id);
        if c.kind == LotKind::Paid {
            self.fulfil_top_up(c.account_id, &c.idempotency_key, &lot);
        }
        Ok(Outcome::Granted { lot, entry_id })
    }

    pub(super) fn void_grant(&mut self, c: &VoidGrant) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.book_mut(c.account_id)?;
        let lot = book
            .lot(c.lot_id)
            .ok_or(LedgerError::LotNotFound { lot_id: c.lot_id })?;
        let not_active = |status| LedgerError::LotNotActive {
            lot_id: lot.id,
            status,
        };
        if lot.status != LotStatus::Active {
            return Err(not_active(lot.status));
        }
        if lot.is_expired_at(now) {
            return Err(not_active(LotStatus::Expired));
        }
        if !lot.held.is_zero() && !c.release_holds {
            return Err(LedgerError::LotHeld {
                lot_id: lot.id,
                held: lot.held,
            });
        }
        release_lot_from_holds(book, c.lot_id);
        let mut draft = EntryDraft::new(EntryKind::Void, now, &c.idempotency_key, &c.reason);
        draft.lot_id = Some(c.lot_id);
        let (quantity, money) =
            book.close_lot(c.lot_id, LotStatus::Voided, Drain::VOIDED, &mut draft);
        let lot = book.lot(c.lot_id).expect("the lot was found above").clone();
        let entry_id = self.seal(draft, c.account_id);
        Ok(Outcome::Voided {
            lot,
            entry_id,
            quantity_voided: quantity,
            money_refunded: money,
        })
    }
}

/// Takes a lot out of every hold that reserves part of it, closing holds left with nothing.
pub(super) fn release_lot_from_holds(book: &mut AccountBook, lot_id: LotId) {
    let affected: Vec<HoldId> = book
        .holds
        .values()
        .filter(|h| {
            h.status == HoldStatus::Open && h.reserved.iter().any(|d| d.lot_id == Some(lot_id))
        })
        .map(|h| h.id)
        .collect();
    for id in affected {
        let mut hold = book.holds[&id].clone();
        let (on_lot, rest): (Vec<Draw>, Vec<Draw>) = hold
            .reserved
            .drain(..)
            .partition(|d| d.lot_id == Some(lot_id));
        hold.reserved = on_lot;
        book.release_reservations(&mut hold);
        hold.reserved = rest;
        if hold.reserved.is_empty() {
            hold.status = HoldStatus::Released;
            book.close_hold(hold);
        } else {
            book.put_hold(hold);
        }
    }
}
