//! The hot path: holds (authorize, capture, release, extend) and one-shot debits.

use std::sync::Arc;

use crate::ledger::amount::{amount_max, Money, Quantity, MONEY_SCALE};
use crate::ledger::entry::ledger_account as gl;
use crate::ledger::entry::{RatedCost, Rating};
use crate::ledger::rating::{self, Catalog, Rated, Usage};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::budgets::{check_budgets, Spend};
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
        let catalog = Arc::clone(&self.catalog);
        let book = self.book_mut(c.account_id)?;
        check_can_spend(&book.account)?;
        let (quantity, rated) = match &c.usage {
            None => (
                c.quantity
                    .check_scale("quantity", book.account.unit_scale)?,
                None,
            ),
            Some(usage) => {
                let rated = rate(&catalog, now, &book.account, &c.meter, usage, None)?;
                let held = rating::reserve(rated.value, book.account.unit_scale);
                if held.is_zero() {
                    return Err(invalid(
                        "usage",
                        &format!(
                            "rates to 0 at {} version {}: there is nothing to hold",
                            rated.book, rated.version
                        ),
                    ));
                }
                (quantity_of(held)?, Some(rated))
            }
        };
        if book.account.open_holds >= limits.open_holds_per_account_max {
            return Err(LedgerError::TooManyOpenHolds {
                account_id: book.account.id,
                limit: limits.open_holds_per_account_max,
            });
        }
        let budgets = check_budgets(&book.account, &c.subject, &c.meter, quantity, now)?;
        let reserved = book.plan(quantity, now, &c.meter)?;
        let hold_id = HoldId(self.ids.next_id());
        let spend = Spend {
            spent: Quantity::ZERO,
            window: quantity,
            requests: 1,
        };
        self.spend_budgets(c.account_id, &budgets, spend);
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
            price: rated.as_ref().map(|r| PriceRef {
                book: r.book.clone(),
                version: r.version,
            }),
            subject: c.subject.clone(),
            budgets,
        };
        book.put_hold(hold.clone());
        let available = book.available(now, &c.meter);
        self.hold_accounts.insert(hold_id, c.account_id);
        Ok(Outcome::Authorized {
            hold,
            available,
            rated,
        })
    }

    pub(super) fn capture(&mut self, c: &Capture) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let catalog = Arc::clone(&self.catalog);
        let book = self.hold_book(c.hold_id)?;
        let mut hold = open_hold(book, c.hold_id, now)?.clone();
        check_open(&book.account)?;
        let asked = Asked {
            quantity: c.quantity,
            usage: c.usage.as_ref(),
            meter: &hold.meter,
            pinned: hold.price.as_ref(),
        };
        let (quantity, rated, rating) = asked.charge(&catalog, now, &book.account)?;
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
        if let Some(rating) = &rating {
            carry(book, rating, &mut draft);
        }
        draft.rating = rating;
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
        let over_before = hold.captured.saturating_sub(hold.authorized);
        hold.captured += charged;
        let over = hold.captured.saturating_sub(hold.authorized) - over_before;
        let mut released = Quantity::ZERO;
        if c.is_final || hold.reserved.is_empty() {
            released = book.release_reservations(&mut hold);
            hold.status = HoldStatus::Captured;
            book.close_hold(hold.clone());
        } else {
            book.put_hold(hold.clone());
        }
        let account = hold.account_id;
        // A rated capture is written even when it charges nothing: its usage and what it carries
        // belong in the journal.
        let written = !charged.is_zero() || draft.rating.is_some();
        let entry_id = written.then(|| self.seal(draft, account));
        // What a capture charges counts in full, beyond its hold too.
        if !charged.is_zero() {
            let spend = Spend {
                spent: charged,
                window: over,
                requests: 0,
            };
            self.spend_budgets(account, &hold.budgets, spend);
        }
        Ok(Outcome::Captured {
            hold,
            entry_id,
            charged,
            draws,
            released,
            rated,
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
        let catalog = Arc::clone(&self.catalog);
        let book = self.book_mut(c.account_id)?;
        check_can_spend(&book.account)?;
        let asked = Asked {
            quantity: c.quantity,
            usage: c.usage.as_ref(),
            meter: &c.meter,
            pinned: None,
        };
        let (quantity, rated, rating) = asked.charge(&catalog, now, &book.account)?;
        let budgets = check_budgets(&book.account, &c.subject, &c.meter, quantity, now)?;
        let draws = book.plan(quantity, now, &c.meter)?;
        let spend = Spend {
            spent: quantity,
            window: quantity,
            requests: 1,
        };
        self.spend_budgets(c.account_id, &budgets, spend);
        let book = self.book_mut(c.account_id)?;
        let mut draft = EntryDraft::new(EntryKind::Debit, now, &c.idempotency_key, &c.reference);
        for draw in &draws {
            book.consume(draw, false, &mut draft);
        }
        if let Some(rating) = &rating {
            carry(book, rating, &mut draft);
        }
        draft.rating = rating;
        let available = book.available(now, &c.meter);
        let entry_id = self.seal(draft, c.account_id);
        Ok(Outcome::Debited {
            entry_id,
            charged: quantity,
            draws,
            available,
            rated,
        })
    }
}

/// What a capture or a debit asks to charge: a quantity, or usage of a meter to rate (at the
/// pinned version, if any).
struct Asked<'a> {
    quantity: Quantity,
    usage: Option<&'a Usage>,
    meter: &'a str,
    pinned: Option<&'a PriceRef>,
}

impl Asked<'_> {
    /// The quantity to charge; for usage, also how it was rated and the entry's rating.
    fn charge(
        &self,
        catalog: &Catalog,
        now: DateTime<Utc>,
        account: &Account,
    ) -> Result<(Quantity, Option<Rated>, Option<Rating>), LedgerError> {
        let Some(usage) = self.usage else {
            let quantity = self.quantity.check_scale("quantity", account.unit_scale)?;
            return Ok((quantity, None, None));
        };
        let rated = rate(catalog, now, account, self.meter, usage, self.pinned)?;
        let (quantity, rating) = charge(account, self.meter, usage, &rated)?;
        Ok((quantity, Some(rated), Some(rating)))
    }
}

/// Rates `usage` of `meter` for `account`: at the `pinned` version (a hold's), or at the
/// version of the account's book in force `now`.
fn rate(
    catalog: &Catalog,
    now: DateTime<Utc>,
    account: &Account,
    meter: &str,
    usage: &Usage,
    pinned: Option<&PriceRef>,
) -> Result<Rated, LedgerError> {
    if meter.is_empty() {
        return Err(invalid(
            "meter",
            "usage is rated by its meter: required with usage",
        ));
    }
    let rated = match pinned {
        Some(p) => {
            let version = catalog.version(&p.book, p.version).ok_or_else(|| {
                LedgerError::PriceVersionNotLoaded {
                    book: p.book.clone(),
                    version: p.version,
                }
            })?;
            rating::rate(version, meter, account.unit, usage)
        }
        None => catalog.rate_in_force(account.book(), now, meter, account.unit, usage),
    };
    rated.map_err(LedgerError::NotPriced)
}

/// What a rated usage charges the account, with what it carries from and to the meter's
/// earlier and later charges.
fn charge(
    account: &Account,
    meter: &str,
    usage: &Usage,
    rated: &Rated,
) -> Result<(Quantity, Rating), LedgerError> {
    let carried_in = account.carries.get(meter).copied().unwrap_or_default();
    let (charged, carried_out) = rating::charge(rated.value, carried_in, account.unit_scale);
    let cost = rated.cost.map(|(currency, value)| {
        let key = (meter.to_string(), currency);
        let carried_in = account.cost_carries.get(&key).copied().unwrap_or_default();
        let (_, carried_out) = rating::charge(value, carried_in, MONEY_SCALE);
        RatedCost {
            currency,
            value,
            carried_in,
            carried_out,
        }
    });
    let rating = Rating {
        meter: meter.to_string(),
        usage: usage.clone(),
        book: rated.book.clone(),
        version: rated.version,
        value: rated.value,
        carried_in,
        carried_out,
        cost,
    };
    Ok((quantity_of(charged)?, rating))
}

/// A rated amount as a quantity: refused when the usage is worth more than any amount may be.
fn quantity_of(value: Decimal) -> Result<Quantity, LedgerError> {
    Quantity::new(value)
        .filter(|q| q.get() <= amount_max())
        .ok_or(LedgerError::AmountTooLarge {
            field: "usage",
            max: amount_max(),
        })
}

/// Posts a rated charge's upstream cost, and keeps what it and the charge leave below their
/// scales for the meter's next charge.
fn carry(book: &mut AccountBook, rating: &Rating, draft: &mut EntryDraft) {
    let account = book.touch_account();
    match rating.carried_out.is_zero() {
        true => account.carries.remove(&rating.meter),
        false => account
            .carries
            .insert(rating.meter.clone(), rating.carried_out),
    };
    let Some(cost) = &rating.cost else {
        return;
    };
    let key = (rating.meter.clone(), cost.currency);
    match cost.carried_out.is_zero() {
        true => account.cost_carries.remove(&key),
        false => account.cost_carries.insert(key, cost.carried_out),
    };
    let posted = Money::new(cost.value + cost.carried_in - cost.carried_out)
        .expect("a cost carry is below what it was taken from");
    draft.money_pair(
        gl::COST_OF_REVENUE,
        gl::ACCRUED_PROVIDER_COST,
        posted,
        cost.currency,
        None,
    );
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
