//! The events a batch raises besides those of its commands: holds found past their TTL, and
//! accounts whose available credit crossed into a worse level. They go to the outbox with the
//! batch's other writes.

use super::Ledger;
use crate::ledger::types::*;

impl Ledger {
    /// Events for what the batch did to balances, account by account (in id order): holds that
    /// expired, and each account whose available credit crossed into a worse level (low, then
    /// depleted), once per crossing. A level that improves is recorded, so the next fall is
    /// reported again; one that climbs back to ok raises `LowBalanceRecovered`, so alerts raised
    /// by the fall can be resolved. Then the auto top-up request due, if any.
    pub(super) fn raise_balance_events(&mut self) {
        let now = self.now;
        let mut ids: Vec<AccountId> = self
            .books
            .iter()
            .filter(|(_, b)| b.account_dirty || !b.dirty_lots.is_empty())
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        for id in ids {
            let book = self.books.get_mut(&id).expect("listed above");
            let mut raised = Vec::new();
            for (hold_id, released, expired_at) in std::mem::take(&mut book.expired_holds) {
                raised.push(EventData::HoldExpired {
                    hold_id,
                    released,
                    expired_at,
                });
            }
            let (level, available, threshold) = book.alert_level(now);
            let stored = book.account.alert_level;
            // A new account reports nothing while it has nothing, and from its first credit on
            // reports as an account that was ok.
            let still_new = stored == AlertLevel::New && level == AlertLevel::Depleted;
            if level != stored && !still_new {
                let before = match stored {
                    AlertLevel::New => AlertLevel::Ok,
                    stored => stored,
                };
                if level > before {
                    if let (AlertLevel::Ok, Some(threshold)) = (before, threshold) {
                        raised.push(EventData::LowBalance {
                            available,
                            threshold,
                        });
                    }
                    if level == AlertLevel::Depleted {
                        raised.push(EventData::Depleted { available });
                    }
                } else if level == AlertLevel::Ok && before != AlertLevel::Ok {
                    raised.push(EventData::LowBalanceRecovered {
                        available,
                        threshold,
                    });
                }
                book.touch_account().alert_level = level;
            }
            for data in raised {
                self.push_event(id, data);
            }
            self.request_top_up(id, available);
        }
    }

    pub(super) fn push_event(&mut self, account_id: AccountId, data: EventData) {
        let id = EventId(self.ids.next_id());
        self.events.push(Event {
            id,
            account_id,
            occurred_at: self.now,
            data,
        });
    }
}
