//! Budgets: creating, changing and deleting them, checking a request against every budget on its
//! subject's path, and counting what it spends. A hold's claim on its budgets is kept by the
//! book as the hold changes (`AccountBook::put_hold`).

use chrono::{DateTime, Utc};

use super::checks::check_open;
use super::checks::invalid;
use super::Ledger;
use crate::ledger::amount::Quantity;
use crate::ledger::budget::window::{check_seconds, Full, Window};
use crate::ledger::budget::{period_start, Budget, Period};
use crate::ledger::command::*;
use crate::ledger::error::{BudgetRefusal, LedgerError, VelocityRefusal};
use crate::ledger::types::*;

impl Ledger {
    pub(super) fn create_budget(&mut self, c: &CreateBudget) -> Result<Outcome, LedgerError> {
        let (now, max) = (self.now, self.limits.budgets_per_account_max);
        let id = BudgetId(self.ids.next_id());
        let book = self.book_mut(c.account_id)?;
        check_open(&book.account)?;
        let limit = c.limit.check_scale("limit", book.account.unit_scale)?;
        let window = match c.period {
            Period::Rolling => {
                let seconds = check_seconds(c.window_seconds)
                    .map_err(|reason| invalid("window_seconds", &reason))?;
                Some(Window::new(seconds, c.max_requests))
            }
            _ if c.window_seconds != 0 => {
                return Err(invalid(
                    "window_seconds",
                    "only a rolling period (a velocity limit) has a window",
                ))
            }
            _ => None,
        };
        check_velocity_terms(window.is_some(), c.hard, &c.alerts, c.max_requests)?;
        let seconds = |b: &Budget| b.window.as_ref().map(|w| w.seconds);
        let budgets = &book.account.budgets;
        if let Some(same) = budgets.iter().find(|b| {
            b.subject == c.subject
                && b.meter == c.meter
                && b.period == c.period
                && seconds(b) == window.as_ref().map(|w| w.seconds)
        }) {
            return Err(LedgerError::BudgetExists { budget_id: same.id });
        }
        if budgets.len() >= max as usize {
            return Err(LedgerError::TooManyBudgets {
                account_id: c.account_id,
                limit: max,
            });
        }
        let budget = Budget {
            id,
            subject: c.subject.clone(),
            meter: c.meter.clone(),
            limit,
            period: c.period,
            time_zone: c.time_zone,
            hard: c.hard,
            alerts: c.alerts.clone(),
            created_at: now,
            period_start: period_start(c.period, c.time_zone, now),
            spent: Quantity::ZERO,
            held: Quantity::ZERO,
            alerted: 0,
            hit: false,
            window,
        };
        let budgets = &mut book.touch_account().budgets;
        budgets.push(budget.clone());
        budgets.sort_by_key(|b| b.id);
        Ok(Outcome::Budget(Box::new(budget.with_standing(now))))
    }

    pub(super) fn update_budget(&mut self, c: &UpdateBudget) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.book_mut(c.account_id)?;
        check_open(&book.account)?;
        let limit = c.limit.check_scale("limit", book.account.unit_scale)?;
        let index = budget_index(&book.account, c.budget_id)?;
        let rolling = book.account.budgets[index].window.is_some();
        check_velocity_terms(rolling, c.hard, &c.alerts, c.max_requests)?;
        self.roll_budgets(c.account_id, &[c.budget_id]);
        let book = self.book_mut(c.account_id)?;
        let budget = &mut book.touch_account().budgets[index];
        budget.limit = limit;
        budget.hard = c.hard;
        budget.alerts = c.alerts.clone();
        if let Some(window) = &mut budget.window {
            window.requests = c.max_requests;
        }
        Ok(Outcome::Budget(Box::new(budget.with_standing(now))))
    }

    pub(super) fn delete_budget(&mut self, c: &DeleteBudget) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let book = self.book_mut(c.account_id)?;
        let index = budget_index(&book.account, c.budget_id)?;
        let budget = book.touch_account().budgets.remove(index);
        Ok(Outcome::BudgetDeleted(Box::new(budget.with_standing(now))))
    }

    /// Starts over the periods of the budgets `ids` that have ended, raising each one's reset;
    /// returns how many were.
    pub(super) fn roll_budgets(&mut self, account_id: AccountId, ids: &[BudgetId]) -> u32 {
        self.roll_where(account_id, |b| ids.contains(&b.id))
    }

    /// Like [`Ledger::roll_budgets`], for every budget of the account (the sweeper's).
    pub(super) fn roll_all_budgets(&mut self, account_id: AccountId) -> u32 {
        self.roll_where(account_id, |_| true)
    }

    fn roll_where(&mut self, account_id: AccountId, which: impl Fn(&Budget) -> bool) -> u32 {
        let now = self.now;
        let Some(book) = self.books.get_mut(&account_id) else {
            return 0;
        };
        let due = (book.account.budgets.iter())
            .any(|b| which(b) && b.resets_at().is_some_and(|end| end <= now));
        if !due {
            return 0;
        }
        let mut raised = Vec::new();
        for budget in book.touch_account().budgets.iter_mut().filter(|b| which(b)) {
            if let Some(reset) = budget.roll(now) {
                raised.push(EventData::BudgetReset {
                    budget_id: budget.id,
                    subject: budget.subject.clone(),
                    meter: budget.meter.clone(),
                    ended: reset.ended,
                    spent: reset.spent,
                    period_start: budget.period_start,
                });
            }
        }
        let count = raised.len() as u32;
        for data in raised {
            self.push_event(account_id, data);
        }
        count
    }

    /// Counts a request's spending against the budgets `ids` of the account, in their current
    /// periods and windows, and raises each alert it reaches.
    pub(super) fn spend_budgets(&mut self, account_id: AccountId, ids: &[BudgetId], spend: Spend) {
        if ids.is_empty() {
            return;
        }
        let now = self.now;
        self.roll_budgets(account_id, ids);
        let Some(book) = self.books.get_mut(&account_id) else {
            return;
        };
        let mut raised = Vec::new();
        for budget in (book.touch_account().budgets.iter_mut()).filter(|b| ids.contains(&b.id)) {
            if let Some(window) = &mut budget.window {
                window.add(now, spend.window, spend.requests);
                continue;
            }
            if spend.spent.is_zero() {
                continue;
            }
            budget.spent += spend.spent;
            for percent in budget.alerts_reached(budget.spent) {
                raised.push(EventData::BudgetAlert {
                    budget_id: budget.id,
                    subject: budget.subject.clone(),
                    meter: budget.meter.clone(),
                    percent,
                    spent: budget.spent,
                    limit: budget.limit,
                });
                budget.alerted = percent;
            }
        }
        for data in raised {
            self.push_event(account_id, data);
        }
    }

    /// After a refusal by a hard budget: its event, once per period. The refusal itself changed
    /// nothing; this records only that the budget was hit (in its current period).
    pub(super) fn note_budget_hit(&mut self, refusal: &BudgetRefusal) {
        let account_id = refusal.account_id;
        self.roll_budgets(account_id, &[refusal.budget_id]);
        let Some(book) = self.books.get_mut(&account_id) else {
            return;
        };
        let Ok(index) = budget_index(&book.account, refusal.budget_id) else {
            return;
        };
        if book.account.budgets[index].hit {
            return;
        }
        let budget = &mut book.touch_account().budgets[index];
        budget.hit = true;
        let data = EventData::BudgetExceeded {
            budget_id: budget.id,
            subject: budget.subject.clone(),
            meter: budget.meter.clone(),
            limit: refusal.limit,
            spent: refusal.spent,
            held: refusal.held,
            requested: refusal.requested,
        };
        self.push_event(account_id, data);
    }
}

/// What a request counts against its budgets.
pub(super) struct Spend {
    /// Against calendar budgets: what it charged.
    pub spent: Quantity,
    /// Against velocity limits, at this moment: what it authorized or charged, or what a capture
    /// took beyond its hold's authorization.
    pub window: Quantity,
    /// Against velocity limits: 1 for an Authorize or a Debit, 0 for a capture.
    pub requests: u32,
}

/// What a velocity limit may be: always hard, without alerts; and only a velocity limit caps
/// requests.
fn check_velocity_terms(
    rolling: bool,
    hard: bool,
    alerts: &[u32],
    max_requests: Option<u32>,
) -> Result<(), LedgerError> {
    match rolling {
        true if !hard => Err(invalid(
            "hard",
            "a velocity limit (rolling period) is always hard",
        )),
        true if !alerts.is_empty() => Err(invalid(
            "alerts",
            "a velocity limit (rolling period) raises no alerts",
        )),
        false if max_requests.is_some() => Err(invalid(
            "max_requests",
            "only a velocity limit (rolling period) caps requests",
        )),
        _ => Ok(()),
    }
}

/// The budgets a request of `subject` for `meter` counts against; refused, naming the budget,
/// when a hard one has no room for `quantity` beside what is spent and held, or a velocity limit
/// none in its window. Calendar budgets are checked before velocity limits (a refusal that lasts
/// is the more useful answer), each most specific subject first.
pub(super) fn check_budgets(
    account: &Account,
    subject: &str,
    meter: &str,
    quantity: Quantity,
    now: DateTime<Utc>,
) -> Result<Vec<BudgetId>, LedgerError> {
    let mut applying: Vec<&Budget> = (account.budgets.iter())
        .filter(|b| b.applies(subject, meter))
        .collect();
    applying.sort_by_key(|b| (b.window.is_some(), std::cmp::Reverse(b.subject.len()), b.id));
    if let Some(full) = applying.iter().find(|b| !b.admits(quantity, now)) {
        let standing = full.standing(now);
        if let (Some(window), Some(until)) = (&full.window, full.full_until(quantity, now)) {
            return Err(LedgerError::VelocityLimited(Box::new(VelocityRefusal {
                account_id: account.id,
                budget_id: full.id,
                subject: full.subject.clone(),
                limit: full.limit,
                seconds: window.seconds,
                max_requests: window.requests,
                spent: standing.spent,
                requests: standing.requests,
                requested: quantity,
                retry_at: match until {
                    Full::Until(at) => Some(at),
                    Full::Never => None,
                },
            })));
        }
        return Err(LedgerError::BudgetExceeded(Box::new(BudgetRefusal {
            account_id: account.id,
            budget_id: full.id,
            subject: full.subject.clone(),
            limit: full.limit,
            spent: standing.spent,
            held: standing.held,
            requested: quantity,
            resets_at: standing.resets_at,
        })));
    }
    Ok(applying.iter().map(|b| b.id).collect())
}

fn budget_index(account: &Account, id: BudgetId) -> Result<usize, LedgerError> {
    (account.budgets.iter())
        .position(|b| b.id == id)
        .ok_or(LedgerError::BudgetNotFound { budget_id: id })
}
