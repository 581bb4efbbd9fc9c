//! What happens to credit besides spending it: support adjustments, commitments, and the sweep
//! that posts what time has made due (lot expiry with its breakage, hold expiry, the end of a
//! commitment's term with its true-up).

use chrono::Duration;

use super::checks::{check_open, check_price, invalid};
use super::credits::release_lot_from_holds;
use super::Ledger;
use crate::ledger::amount::{Money, Quantity};
use crate::ledger::book::{Drain, Source};
use crate::ledger::command::*;
use crate::ledger::entry::{ledger_account as gl, EntryDraft, EntryKind};
use crate::ledger::error::LedgerError;
use crate::ledger::types::*;

impl Ledger {
    pub(super) fn adjust(&mut self, c: &Adjust) -> Result<Outcome, LedgerError> {
        let (now, limits) = (self.now, self.limits);
        if c.reason.trim().is_empty() {
            return Err(invalid("reason", "an adjustment needs a reason"));
        }
        let new_lot = match c.direction {
            AdjustDirection::Credit => Some(LotId(self.ids.next_id())),
            AdjustDirection::Debit => None,
        };
        let book = self.book_mut(c.account_id)?;
        check_open(&book.account)?;
        let quantity = c
            .quantity
            .check_scale("quantity", book.account.unit_scale)?;
        let unit = book.account.unit;
        match c.direction {
            AdjustDirection::Credit => {
                if c.lot_id.is_some() {
                    return Err(invalid("lot_id", "a credit adjustment creates its own lot"));
                }
                if c.expires_at.is_some_and(|at| at <= now) {
                    return Err(invalid("expires_at", "must be in the future"));
                }
                if book.live_lots(now) >= limits.live_lots_per_account_max as usize {
                    return Err(LedgerError::TooManyLots {
                        account_id: book.account.id,
                        limit: limits.live_lots_per_account_max,
                    });
                }
                let lot = Lot {
                    id: new_lot.expect("made for credits above"),
                    account_id: c.account_id,
                    kind: LotKind::Promotional,
                    status: LotStatus::Active,
                    priority: c.priority,
                    granted: quantity,
                    remaining: quantity,
                    held: Quantity::ZERO,
                    effective_at: now,
                    expires_at: c.expires_at,
                    scope: Vec::new(),
                    cost_basis: Money::ZERO,
                    money_deferred: Money::ZERO,
                    currency: Some(book.account.currency),
                    reference: c.reason.clone(),
                    created_at: now,
                };
                let mut draft =
                    EntryDraft::new(EntryKind::Adjustment, now, &c.idempotency_key, &c.reason);
                draft.lot_id = Some(lot.id);
                draft.quantity_pair(gl::ADJUSTED, gl::lot(lot.id), quantity, unit, Some(lot.id));
                let book = self.book_mut(c.account_id)?;
                book.insert_lot(lot.clone());
                book.rebase_low_balance(now);
                let entry_id = self.seal(draft, c.account_id);
                Ok(Outcome::Adjusted {
                    entry_id,
                    lot: Some(lot),
                    draws: Vec::new(),
                    quantity,
                    money: Money::ZERO,
                })
            }
            AdjustDirection::Debit => {
                let draws = plan_adjustment(book, quantity, c.lot_id, now)?;
                let mut draft =
                    EntryDraft::new(EntryKind::Adjustment, now, &c.idempotency_key, &c.reason);
                draft.lot_id = c.lot_id;
                let money_total = draws
                    .iter()
                    .map(|draw| {
                        let id = draw.lot_id.expect("adjustments draw on lots only");
                        book.draw_lot(id, draw.quantity, false, Drain::ADJUSTED, &mut draft)
                    })
                    .sum();
                let entry_id = self.seal(draft, c.account_id);
                Ok(Outcome::Adjusted {
                    entry_id,
                    lot: None,
                    draws,
                    quantity,
                    money: money_total,
                })
            }
        }
    }

    pub(super) fn create_commitment(
        &mut self,
        c: &CreateCommitment,
    ) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let id = CommitmentId(self.ids.next_id());
        let book = self.book_mut(c.account_id)?;
        let account = &book.account;
        check_open(account)?;
        let quantity = c.quantity.check_scale("quantity", account.unit_scale)?;
        let term_start = c.term_start.unwrap_or(now);
        if c.term_end <= term_start || c.term_end <= now {
            return Err(invalid(
                "term_end",
                "must be after term_start and in the future",
            ));
        }
        let mut commitment = Commitment {
            id,
            account_id: c.account_id,
            kind: c.kind,
            status: CommitmentStatus::Active,
            term_start,
            term_end: c.term_end,
            quantity,
            price: c.price,
            minimum_spend: c.minimum_spend,
            currency: c.currency,
            lot_id: None,
            spent_at_start: Money::ZERO,
            used_at_start: Quantity::ZERO,
            consumed: Consumed::nothing(c.kind),
            shortfall: Money::ZERO,
            true_up_entry_id: None,
            notified: false,
            reference: c.reference.clone(),
            created_at: now,
        };
        let (lot, entry_id) = match c.kind {
            CommitmentKind::Prepaid => {
                if !c.minimum_spend.is_zero() {
                    return Err(invalid(
                        "minimum_spend",
                        "only a postpaid commitment has a minimum spend",
                    ));
                }
                // A prepaid commitment is a top-up whose lot lives for the term.
                let grant = Grant {
                    idempotency_key: c.idempotency_key.clone(),
                    account_id: c.account_id,
                    kind: LotKind::Paid,
                    quantity: c.quantity,
                    price: c.price,
                    currency: Some(c.currency),
                    priority: 0,
                    effective_at: Some(term_start),
                    expires_at: Some(c.term_end),
                    scope: Vec::new(),
                    reference: c.reference.clone(),
                };
                let Outcome::Granted { lot, entry_id } = self.grant(&grant)? else {
                    unreachable!("a grant answers Granted");
                };
                commitment.lot_id = Some(lot.id);
                (Some(lot), Some(entry_id))
            }
            CommitmentKind::Postpaid => {
                if term_start > now {
                    return Err(invalid("term_start", "a postpaid term starts now"));
                }
                if let Some(term_end) = account.credit_line_until {
                    return Err(LedgerError::CommitmentActive {
                        account_id: account.id,
                        term_end,
                    });
                }
                if c.currency != account.currency {
                    return Err(invalid(
                        "currency",
                        "a postpaid commitment is in the account's currency",
                    ));
                }
                check_price(c.price)?;
                let account = book.touch_account();
                commitment.spent_at_start = account.credit_line_spent;
                commitment.used_at_start = account.credit_line_used;
                // The term opens exactly `quantity` of new room on the line.
                account.credit_line_limit =
                    account.credit_line_used + account.credit_line_held + quantity;
                account.credit_line_price = c.price;
                account.credit_line_until = Some(c.term_end);
                book.rebase_low_balance(now);
                (None, None)
            }
        };
        self.dirty_commitments.insert(commitment.id);
        self.commitments.insert(commitment.id, commitment.clone());
        Ok(Outcome::CommitmentCreated {
            commitment: Box::new(commitment),
            lot: lot.map(Box::new),
            entry_id,
        })
    }

    /// Posts what is due on one account at `now`. Finding nothing due is a success that changes
    /// nothing, which is what makes a second sweep (or another instance's) harmless: each change
    /// also moves its row out of what the next sweep looks for, under the account's lock.
    pub(super) fn sweep(&mut self, c: &Sweep) -> Result<Outcome, LedgerError> {
        let now = self.now;
        self.book_mut(c.account_id)?;
        // Recurring grants: each new period's allowance, and the cap on what earlier periods'
        // lots keep (lots past their expiry are the expiry's, below).
        let grants_posted = self.post_recurring_grants(c.account_id);
        self.wake_auto_top_up(c.account_id);
        let book = self.book_mut(c.account_id)?;
        let mut summary = SweepSummary {
            holds_expired: book.expired_holds.len() as u32,
            grants_posted,
            ..SweepSummary::default()
        };
        let due_lots: Vec<LotId> = book
            .lots
            .iter()
            .filter(|l| l.status == LotStatus::Active && l.is_expired_at(now))
            .map(|l| l.id)
            .collect();
        let commitments: Vec<CommitmentId> = self
            .commitments
            .values()
            .filter(|m| m.account_id == c.account_id && m.status == CommitmentStatus::Active)
            .map(|m| m.id)
            .collect();
        let notice = Duration::milliseconds(c.commitment_notice_ms.min(i64::MAX as u64) as i64);
        // Commitments first: a prepaid term's consumption is read off its lot before the lot's
        // expiry empties it.
        for id in commitments {
            let commitment = &self.commitments[&id];
            let (account_id, term_end) = (commitment.account_id, commitment.term_end);
            if !commitment.notified && now >= term_end - notice {
                self.commitment_mut(id).notified = true;
                self.push_event(
                    account_id,
                    EventData::CommitmentEnding {
                        commitment_id: id,
                        term_end,
                    },
                );
                summary.notices += 1;
            }
            if now >= term_end {
                self.end_commitment(id);
                summary.commitments_ended += 1;
            }
        }
        for lot_id in due_lots {
            self.expire_lot(c.account_id, lot_id);
            summary.lots_expired += 1;
        }
        summary.budgets_reset = self.roll_all_budgets(c.account_id);
        Ok(Outcome::Swept(summary))
    }

    fn commitment_mut(&mut self, id: CommitmentId) -> &mut Commitment {
        self.dirty_commitments.insert(id);
        self.commitments
            .get_mut(&id)
            .expect("commitments are swept from the loaded ones")
    }

    /// The end of a term. Postpaid: the shortfall below the minimum spend is posted as a
    /// true-up effective at the term's end, and the line stops lending. Prepaid: the lot's own
    /// expiry (swept right after) posts the breakage.
    fn end_commitment(&mut self, id: CommitmentId) {
        let commitment = self.commitments[&id].clone();
        let book = self
            .books
            .get_mut(&commitment.account_id)
            .expect("commitments are loaded with their account");
        let (consumed, shortfall) = match commitment.kind {
            CommitmentKind::Prepaid => {
                let consumed = commitment
                    .lot_id
                    .and_then(|lot| book.lot(lot))
                    .map_or(commitment.quantity, |l| l.granted - l.remaining);
                (Consumed::Quantity(consumed), Money::ZERO)
            }
            CommitmentKind::Postpaid => {
                let account = book.touch_account();
                let consumed = account.credit_line_spent - commitment.spent_at_start;
                // What the line still reserves may be captured; nothing new is lent.
                account.credit_line_limit = account.credit_line_used + account.credit_line_held;
                account.credit_line_until = None;
                (
                    Consumed::Money(consumed),
                    commitment.minimum_spend.saturating_sub(consumed),
                )
            }
        };
        let mut true_up = None;
        if !shortfall.is_zero() {
            let mut draft = EntryDraft::new(
                EntryKind::TrueUp,
                commitment.term_end,
                &format!("true_up:{id}"),
                &commitment.reference,
            );
            draft.money_pair(
                gl::UNBILLED_RECEIVABLE,
                gl::REVENUE_COMMITMENT_SHORTFALL,
                shortfall,
                commitment.currency,
                None,
            );
            true_up = Some(self.seal(draft, commitment.account_id));
        }
        let commitment = self.commitment_mut(id);
        commitment.status = CommitmentStatus::Ended;
        commitment.consumed = consumed;
        commitment.shortfall = shortfall;
        commitment.true_up_entry_id = true_up;
    }

    /// Posts a lot's expiry, effective at its `expires_at`: what remains goes to `expired`, its
    /// deferred money to `revenue_breakage`. Reservations of open holds on it are released.
    fn expire_lot(&mut self, account_id: AccountId, lot_id: LotId) {
        let book = self
            .books
            .get_mut(&account_id)
            .expect("swept accounts are loaded");
        release_lot_from_holds(book, lot_id);
        let lot = book.lot(lot_id).expect("due lots are loaded");
        let expired_at = lot.expires_at.expect("only lots with an expiry are due");
        let currency = lot.currency;
        let mut draft = EntryDraft::new(
            EntryKind::Expiry,
            expired_at,
            &format!("expiry:{lot_id}"),
            &lot.reference,
        );
        draft.lot_id = Some(lot_id);
        let (quantity, money) =
            book.close_lot(lot_id, LotStatus::Expired, Drain::EXPIRED, &mut draft);
        if !draft.postings.is_empty() {
            self.seal(draft, account_id);
        }
        self.push_event(
            account_id,
            EventData::LotExpired {
                lot_id,
                quantity,
                money,
                currency,
                expired_at,
            },
        );
    }
}

/// Where a debit adjustment takes credit from: the named lot, or free credit on the account's
/// live lots in drawdown order (whatever their scope). Never the credit line, never held credit.
fn plan_adjustment(
    book: &crate::ledger::AccountBook,
    quantity: Quantity,
    lot_id: Option<LotId>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Draw>, LedgerError> {
    if let Some(id) = lot_id {
        let lot = book
            .lot(id)
            .ok_or(LedgerError::LotNotFound { lot_id: id })?;
        if !lot.is_live_at(now) {
            let status = match lot.status {
                LotStatus::Active => LotStatus::Expired,
                other => other,
            };
            return Err(LedgerError::LotNotActive { lot_id: id, status });
        }
        if quantity > lot.free() {
            return Err(LedgerError::InsufficientCredit {
                requested: quantity,
                available: lot.free(),
            });
        }
        return Ok(vec![Draw {
            lot_id: Some(id),
            quantity,
        }]);
    }
    book.plan_from(quantity, now, Source::TakeBack)
}
