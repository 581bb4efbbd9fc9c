//! The hot path: holds (authorize, capture, release, extend) and one-shot debits.

use crate::ledger::amount::Quantity;
use chrono::{DateTime, Duration, Utc};

use super::checks::{check_can_spend, check_open, invalid};
use super::Ledger;
use crate::ledger::book::AccountBook;
use crate::ledger::command::*;
use crate::ledger::entry::{EntryDraft, EntryKind};
use crate::ledger::error::LedgerError;
use crate::ledger::types::*;

impl Ledger {
    pub(super) fn authorize(&mut self, c: &Authorize) -> Result<Outcome, LedgerError> {
        let (now, limits) = (self.now, self.limits);
        let ttl_ms = c.ttl_ms.unwrap_or(limits.hold_ttl_default_ms);
        if ttl_ms == 0 || ttl_ms > limits.hold_ttl_max_ms {
            return Err(invalid(
                "ttl_ms",
                &format!("must be 1 to {}", limits.hold_ttl_max_ms),
            ));
        }
        let book = self.book_mut(c.account_id)?;
        check_can_spend(&book.account)?;
        let quantity = c
            .quantity
            .check_scale("quantity", book.account.unit_scale)?;
        if book.account.open_holds >= limits.open_holds_per_account_max {
            return Err(LedgerError::TooManyOpenHolds {
                account_id: book.account.id,
                limit: limits.open_holds_per_account_max,
            });
        }
        let reserved = book.plan(quantity, now, &c.meter)?;
        let hold_id = HoldId(self.ids.next_id());
        let book = self.book_mut(c.account_id)?;
        book.reserve(&reserved);
        book.touch_account().open_holds += 1;
        let hold = Hold {
            id: hold_id,
            account_id: c.account_id,
            status: HoldStatus::Open,
            authorized: quantity,
            captured: Quantity::ZERO,
            reserved,
            expires_at: now + Duration::milliseconds(ttl_ms as i64),
            created_at: now,
            meter: c.meter.clone(),
            reference: c.reference.clone(),
        };
        book.put_hold(hold.clone());
        let available = book.available(now, &c.meter);
        self.hold_accounts.insert(hold_id, c.account_id);
        Ok(Outcome::Authorized { hold, available })
    }

    pub(super) fn capture(&mut self, c: &Capture) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.hold_book(c.hold_id)?;
        let mut hold = open_hold(book, c.hold_id, now)?.clone();
        check_open(&book.account)?;
        let quantity = c
            .quantity
            .check_scale("quantity", book.account.unit_scale)?;
        let chargeable: Quantity = hold
            .reserved
            .iter()
            .filter(|d| book.draw_chargeable(d, now))
            .map(|d| d.quantity)
            .sum();
        let (from_hold, beyond) = match c.overage {
            _ if quantity <= chargeable => (quantity, Quantity::ZERO),
            Overage::Reject => {
                return Err(LedgerError::CaptureExceedsHold {
                    requested: quantity,
                    held: chargeable,
                })
            }
            Overage::Clamp => (chargeable, Quantity::ZERO),
            Overage::DrawAvailable => (chargeable, quantity - chargeable),
        };
        let extra = match beyond.is_zero() {
            true => Vec::new(),
            // Credit beyond the hold is new spending, which a frozen account may not do.
            false => check_can_spend(&book.account)
                .and_then(|()| book.plan(beyond, now, &hold.meter))
                .map_err(|e| match e {
                    LedgerError::InsufficientCredit { available, .. } => {
                        LedgerError::InsufficientCredit {
                            requested: quantity,
                            available: available + chargeable,
                        }
                    }
                    other => other,
                })?,
        };
        let mut draft =
            EntryDraft::new(EntryKind::Capture, now, &c.idempotency_key, &hold.reference);
        draft.hold_id = Some(hold.id);
        let mut draws = Vec::new();
        let mut left = from_hold;
        for reserved in hold.reserved.iter_mut() {
            if left.is_zero() {
                break;
            }
            if !book.draw_chargeable(reserved, now) {
                continue;
            }
            let draw = Draw {
                lot_id: reserved.lot_id,
                quantity: reserved.quantity.min(left),
            };
            book.consume(&draw, true, &mut draft);
            reserved.quantity -= draw.quantity;
            left -= draw.quantity;
            draws.push(draw);
        }
        for draw in extra {
            book.consume(&draw, false, &mut draft);
            draws.push(draw);
        }
        hold.reserved.retain(|d| !d.quantity.is_zero());
        let charged = from_hold + beyond;
        hold.captured += charged;
        let mut released = Quantity::ZERO;
        if c.is_final || hold.reserved.is_empty() {
            released = book.release_reservations(&mut hold);
            hold.status = HoldStatus::Captured;
            book.close_hold(hold.clone());
        } else {
            book.put_hold(hold.clone());
        }
        let account = hold.account_id;
        let entry_id = (!charged.is_zero()).then(|| self.seal(draft, account));
        Ok(Outcome::Captured {
            hold,
            entry_id,
            charged,
            draws,
            released,
        })
    }

    pub(super) fn release(&mut self, c: &Release) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.hold_book(c.hold_id)?;
        let mut hold = open_hold(book, c.hold_id, now)?.clone();
        let released = book.release_reservations(&mut hold);
        hold.status = HoldStatus::Released;
        book.close_hold(hold.clone());
        Ok(Outcome::Released { hold, released })
    }

    pub(super) fn extend_hold(&mut self, c: &ExtendHold) -> Result<Outcome, LedgerError> {
        let (now, max) = (self.now, self.limits.hold_ttl_max_ms);
        if c.ttl_ms == 0 || c.ttl_ms > max {
            return Err(invalid("ttl_ms", &format!("must be 1 to {max}")));
        }
        let book = self.hold_book(c.hold_id)?;
        let mut hold = open_hold(book, c.hold_id, now)?.clone();
        hold.expires_at = now + Duration::milliseconds(c.ttl_ms as i64);
        book.put_hold(hold.clone());
        Ok(Outcome::Extended { hold })
    }

    pub(super) fn debit(&mut self, c: &Debit) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.book_mut(c.account_id)?;
        check_can_spend(&book.account)?;
        let quantity = c
            .quantity
            .check_scale("quantity", book.account.unit_scale)?;
        let draws = book.plan(quantity, now, &c.meter)?;
        let mut draft = EntryDraft::new(EntryKind::Debit, now, &c.idempotency_key, &c.reference);
        for draw in &draws {
            book.consume(draw, false, &mut draft);
        }
        let available = book.available(now, &c.meter);
        let entry_id = self.seal(draft, c.account_id);
        Ok(Outcome::Debited {
            entry_id,
            charged: quantity,
            draws,
            available,
        })
    }
}

fn open_hold(book: &AccountBook, id: HoldId, now: DateTime<Utc>) -> Result<&Hold, LedgerError> {
    let hold = book
        .holds
        .get(&id)
        .ok_or(LedgerError::HoldNotFound { hold_id: id })?;
    let expired = || LedgerError::HoldExpired {
        hold_id: id,
        expired_at: hold.expires_at,
    };
    match hold.status {
        HoldStatus::Expired => Err(expired()),
        HoldStatus::Open if hold.expires_at <= now => Err(expired()),
        HoldStatus::Open => Ok(hold),
        status => Err(LedgerError::HoldNotOpen {
            hold_id: id,
            status,
        }),
    }
}
