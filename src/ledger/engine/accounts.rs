//! Opening and changing accounts.

use super::checks::{check_low_balance, check_open, check_price, check_unit_amount, invalid};
use super::Ledger;
use crate::ledger::amount::UNIT_SCALE_MAX;
use crate::ledger::book::AccountBook;
use crate::ledger::command::*;
use crate::ledger::error::LedgerError;
use crate::ledger::types::*;

impl Ledger {
    pub(super) fn create_account(&mut self, c: &CreateAccount) -> Result<Outcome, LedgerError> {
        if c.unit_scale > UNIT_SCALE_MAX {
            return Err(invalid("unit_scale", &format!("at most {UNIT_SCALE_MAX}")));
        }
        check_unit_amount("credit_line_limit", c.credit_line_limit, c.unit_scale)?;
        check_price(c.credit_line_price)?;
        check_low_balance(c.low_balance, c.unit_scale)?;
        if self.external_ids.contains(&c.external_id) {
            return Err(LedgerError::ExternalIdTaken {
                external_id: c.external_id.clone(),
            });
        }
        let account = Account {
            credit_line_limit: c.credit_line_limit,
            credit_line_price: c.credit_line_price,
            low_balance: c.low_balance,
            ..Account::opened(
                AccountId(self.ids.next_id()),
                c.external_id.clone(),
                c.unit,
                c.unit_scale,
                c.currency,
                self.now,
            )
        };
        self.external_ids.insert(c.external_id.clone());
        let mut book = AccountBook::new(account, Vec::new(), Vec::new(), self.now);
        // An account starts at the level it has, without an event: a new account with nothing
        // to spend is not news.
        book.rebase_low_balance(self.now);
        book.account.alert_level = match book.alert_level(self.now).0 {
            AlertLevel::Depleted => AlertLevel::New,
            level => level,
        };
        book.account_dirty = true;
        let account = book.account.clone();
        self.books.insert(account.id, book);
        Ok(Outcome::Account(account))
    }

    pub(super) fn update_account(&mut self, c: &UpdateAccount) -> Result<Outcome, LedgerError> {
        let now = self.now;
        let catalog = std::sync::Arc::clone(&self.catalog);
        let book = self.book_mut(c.account_id)?;
        let account = &book.account;
        check_open(account)?;
        match c.price_book.as_deref() {
            None | Some("") => {}
            Some(price_book) => {
                if !catalog.prices_unit(price_book, account.unit) {
                    return Err(LedgerError::PriceBookUnit {
                        book: price_book.to_string(),
                        unit: account.unit,
                    });
                }
            }
        }
        if let Some(limit) = c.credit_line_limit {
            check_unit_amount("credit_line_limit", limit, account.unit_scale)?;
            let in_use = account.credit_line_used + account.credit_line_held;
            if limit < in_use {
                return Err(LedgerError::CreditLineBelowUsage { limit, in_use });
            }
        }
        if let Some(price) = c.credit_line_price {
            check_price(price)?;
        }
        if let (Some(term_end), true) = (
            account.credit_line_until,
            c.credit_line_limit.is_some() || c.credit_line_price.is_some(),
        ) {
            return Err(LedgerError::CommitmentActive {
                account_id: account.id,
                term_end,
            });
        }
        if let Some(low_balance) = c.low_balance {
            check_low_balance(low_balance, account.unit_scale)?;
        }
        let account = book.touch_account();
        if let Some(low_balance) = c.low_balance {
            account.low_balance = low_balance;
        }
        if let Some(limit) = c.credit_line_limit {
            account.credit_line_limit = limit;
        }
        if let Some(price) = c.credit_line_price {
            account.credit_line_price = price;
        }
        if let Some(status) = c.status {
            account.status = status;
        }
        if let Some(price_book) = &c.price_book {
            account.price_book = price_book.clone();
        }
        if c.credit_line_limit.is_some() {
            book.rebase_low_balance(now);
        }
        Ok(Outcome::Account(book.account.clone()))
    }
}
