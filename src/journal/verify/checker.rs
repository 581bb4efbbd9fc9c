//! The pure [`Checker`] of invariants 1, 3, 6 and 8, and the per-lot [`LotSums`] it keeps. It reads
//! nothing itself: it is fed each account, then that account's entries in `account_seq` order,
//! then the lots of the accounts seen since the last [`Checker::finish_lots`], and it keeps only
//! running sums, the chain of the account in hand and the per-lot sums of one page of accounts.
//! After a close it is fed differently: the entries since in the order recorded (each account's
//! first one takes up its chain), the hashes their chains link to, then a page at a time the
//! account rows, the snapshot's lines and the lots.
//! [`Checker::finish`] turns what it found into a [`Report`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;

use super::{Counts, Report, TrialLine, Violation, VIOLATIONS_KEPT_MAX};
use crate::ledger::amount::MONEY_SCALE;
use crate::ledger::entry::ledger_account as gl;
use crate::ledger::entry::Rating;
use crate::ledger::{
    Account, AccountId, Book, BudgetId, Code, Entry, EntryId, Hold, Lot, LotId, Posting, Quantity,
    Side,
};
use crate::store::audit::CorruptRow;
use crate::store::PeriodLine;

/// What the postings naming one lot add up to.
#[derive(Debug, Clone, Copy)]
struct LotSums {
    account_id: AccountId,
    /// Credits to `lot:{id}`.
    granted: Decimal,
    /// Debits to `lot:{id}`.
    drawn: Decimal,
    consumed: Decimal,
    expired: Decimal,
    voided: Decimal,
    /// Credits to `adjusted`: credit support took back (a credit adjustment's debit to
    /// `adjusted` is the source of a new lot, like `issued:*`).
    adjusted: Decimal,
    /// `deferred_revenue` credits − debits.
    deferred: Decimal,
    recognized: Decimal,
    breakage: Decimal,
    refunded: Decimal,
    money_adjusted: Decimal,
}

impl LotSums {
    fn new(account_id: AccountId) -> Self {
        let zero = Decimal::ZERO;
        LotSums {
            account_id,
            granted: zero,
            drawn: zero,
            consumed: zero,
            expired: zero,
            voided: zero,
            adjusted: zero,
            deferred: zero,
            recognized: zero,
            breakage: zero,
            refunded: zero,
            money_adjusted: zero,
        }
    }

    fn add(&mut self, lot_id: LotId, p: &Posting) {
        let net_credit = match p.side {
            Side::Credit => p.amount,
            Side::Debit => -p.amount,
        };
        let (sum, amount) = match (p.book, p.ledger_account) {
            (Book::Quantity, account) if account == gl::lot(lot_id) => match p.side {
                Side::Credit => (&mut self.granted, p.amount),
                Side::Debit => (&mut self.drawn, p.amount),
            },
            (Book::Quantity, gl::CONSUMED) => (&mut self.consumed, net_credit),
            (Book::Quantity, gl::EXPIRED) => (&mut self.expired, net_credit),
            (Book::Quantity, gl::VOIDED) => (&mut self.voided, net_credit),
            (Book::Quantity, gl::ADJUSTED) => match p.side {
                Side::Credit => (&mut self.adjusted, p.amount),
                Side::Debit => return,
            },
            (Book::Money, gl::DEFERRED_REVENUE) => (&mut self.deferred, net_credit),
            (Book::Money, gl::REVENUE_USAGE) => (&mut self.recognized, net_credit),
            (Book::Money, gl::REVENUE_BREAKAGE) => (&mut self.breakage, net_credit),
            (Book::Money, gl::REFUNDS_PAYABLE) => (&mut self.refunded, net_credit),
            (Book::Money, gl::REVENUE_ADJUSTMENT) => (&mut self.money_adjusted, net_credit),
            // The other side of a grant (issued:*, cash_clearing) says nothing about the lot.
            _ => return,
        };
        *sum += amount;
    }
}

/// The chain of the account in hand.
#[derive(Debug)]
struct Chain {
    /// The account row, when it exists and parsed; its head is checked at the end.
    account: Option<(AccountId, i64, String)>,
    /// The account row's unit scale and carries (of charges by meter, and of costs by meter
    /// and currency, keyed alike), when it parsed: a rated entry's carry stays below one unit
    /// of the scale, and the row's carries are its entries' last.
    rating: Option<(u32, BTreeMap<String, Decimal>)>,
    /// The same, as the account's rated entries carried them out (invariant 8).
    carries: BTreeMap<String, Decimal>,
    next_seq: i64,
    /// The previous entry's stored hash; `None` after an entry that could not be read.
    prev_hash: Option<String>,
    /// Whether `carries` holds every meter's carry: true from the chain's first entry, false
    /// for a chain taken up after a closed month, where a meter's carry is known only once one
    /// of its entries has been seen.
    carries_known: bool,
}

/// The first entry of a chain taken up after a close: its link to the entry before it (in the
/// closed months) is judged once that entry's hash has been read.
#[derive(Debug, Clone)]
pub struct ChainStart {
    pub account_id: AccountId,
    pub entry_id: EntryId,
    pub account_seq: i64,
    /// The hash the entry names as the one before it.
    pub prev_hash: String,
}

/// The pure checker; see the module doc for the order it must be fed in.
#[derive(Debug, Default)]
pub struct Checker {
    checked: Counts,
    trial: BTreeMap<(Book, Code), (Decimal, Decimal)>,
    chain: Option<Chain>,
    /// The chains taken up after a closed month ([`Checker::entry_after_close`]), by account: the
    /// walk after a close goes in the order entries were recorded, across accounts.
    resumed: HashMap<AccountId, Chain>,
    /// The first entry of each resumed chain (see [`Checker::take_chain_starts`]).
    chain_starts: Vec<ChainStart>,
    lot_sums: HashMap<LotId, LotSums>,
    /// Read by the unit tests in `super::tests`.
    pub(super) violations: Vec<Violation>,
    violations_total: u64,
}

impl Checker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn violation(&mut self, violation: Violation) {
        self.violations_total += 1;
        if self.violations.len() < VIOLATIONS_KEPT_MAX {
            self.violations.push(violation);
        }
    }

    /// Starts the chain of the next account; `None` when its row is missing or corrupt, in
    /// which case its entries are still chained but its head cannot be compared.
    pub fn start_account(&mut self, account: Option<&Account>) {
        self.finish_account();
        if account.is_some() {
            self.checked.accounts += 1;
        }
        self.chain = Some(Chain {
            account: account.map(|a| (a.id, a.entry_seq, a.last_hash.clone())),
            rating: account.map(|a| (a.unit_scale, carries_of(a))),
            carries: BTreeMap::new(),
            next_seq: 1,
            prev_hash: Some(String::new()),
            carries_known: true,
        });
    }

    /// Checks an entry recorded after a close on its account's chain, which its first such entry
    /// takes up: that entry's link to the one before it, in the closed months, is judged by
    /// [`Checker::link_into_close`] once the walk is over. `summed`: it is effective after the
    /// closed month, so its postings add to the sums (those effective before are in the month's
    /// snapshot, which [`Checker::opening_line`] adds). The chain is ended by
    /// [`Checker::account_after_close`].
    pub fn entry_after_close(&mut self, entry: &Entry, summed: bool) {
        self.finish_account();
        let chain = match self.resumed.remove(&entry.account_id) {
            Some(chain) => chain,
            None => {
                self.chain_starts.push(ChainStart {
                    account_id: entry.account_id,
                    entry_id: entry.id,
                    account_seq: entry.account_seq,
                    prev_hash: entry.prev_hash.clone(),
                });
                Chain {
                    account: None,
                    rating: None,
                    carries: BTreeMap::new(),
                    next_seq: entry.account_seq,
                    prev_hash: Some(entry.prev_hash.clone()),
                    carries_known: false,
                }
            }
        };
        self.chain = Some(chain);
        self.check(entry, summed);
        if let Some(chain) = self.chain.take() {
            self.resumed.insert(entry.account_id, chain);
        }
    }

    /// Where each chain taken up after a close begins, in the order met.
    pub fn take_chain_starts(&mut self) -> Vec<ChainStart> {
        std::mem::take(&mut self.chain_starts)
    }

    /// Judges a resumed chain's first link, given the stored hash of the entry before its first
    /// (`None` when there is none).
    pub fn link_into_close(&mut self, start: ChainStart, stored: Option<String>) {
        let ChainStart {
            account_id,
            entry_id,
            account_seq,
            prev_hash: found,
        } = start;
        let expected = match (account_seq, stored) {
            (1, _) => String::new(),
            (_, Some(hash)) => hash,
            (_, None) => {
                self.violation(Violation::SeqGap {
                    account_id,
                    entry_id,
                    expected: account_seq - 1,
                    found: account_seq,
                });
                return;
            }
        };
        if found != expected {
            self.violation(Violation::BrokenLink {
                account_id,
                entry_id,
                account_seq,
                expected,
                found,
            });
        }
    }

    /// An account row, after the entries recorded since the close: its head is compared with
    /// its resumed chain's last entry, if it has one. An account without entries since the
    /// close has its whole chain in the closed months, which `verify --full` walks.
    pub fn account_after_close(&mut self, account: &Account) {
        self.finish_account();
        self.checked.accounts += 1;
        if let Some(mut chain) = self.resumed.remove(&account.id) {
            chain.account = Some((account.id, account.entry_seq, account.last_hash.clone()));
            chain.rating = Some((account.unit_scale, carries_of(account)));
            self.chain = Some(chain);
            self.finish_account();
        }
    }

    /// A line of the last closed month's snapshot: the sums the entries effective after it
    /// start from (the trial balance, and the lot's sub-ledger).
    pub fn opening_line(&mut self, line: &PeriodLine) {
        let ledger_account = match line.ledger_account.parse() {
            Ok(account) => account,
            Err(e) => {
                self.violation(Violation::Corrupt(CorruptRow {
                    table: "period_lines",
                    key: format!("{} {}", line.account_id, line.ledger_account),
                    error: format!("{e}"),
                }));
                return;
            }
        };
        let sides = [(Side::Debit, line.debits), (Side::Credit, line.credits)];
        for (side, amount) in sides {
            let posting = Posting {
                book: line.book,
                ledger_account,
                side,
                amount,
                unit: line.unit,
                lot_id: line.lot_id,
            };
            self.sum(line.account_id, &posting);
        }
    }

    /// Checks the account row's head against its last entry (if an account is in hand).
    pub fn finish_account(&mut self) {
        let Some(chain) = self.chain.take() else {
            return;
        };
        let Some((account_id, entry_seq, last_hash)) = chain.account else {
            return;
        };
        if let Some((_, row)) = &chain.rating {
            let meters: BTreeSet<&String> = match chain.carries_known {
                true => row.keys().chain(chain.carries.keys()).collect(),
                false => chain.carries.keys().collect(),
            };
            for meter in meters {
                let (row, last) = (carry_of(row, meter), carry_of(&chain.carries, meter));
                if row != last {
                    self.violation(Violation::AccountCarry {
                        account_id,
                        meter: meter.to_string(),
                        row,
                        last_entry: last,
                    });
                }
            }
        }
        let last_seq = chain.next_seq - 1;
        if entry_seq != last_seq {
            self.violation(Violation::AccountHead {
                account_id,
                column: "entry_seq",
                row: entry_seq.to_string(),
                last_entry: last_seq.to_string(),
            });
        }
        // After an unreadable last entry its hash is unknown, and there is nothing to compare.
        match chain.prev_hash {
            Some(last_entry) if last_entry != last_hash => {
                self.violation(Violation::AccountHead {
                    account_id,
                    column: "last_hash",
                    row: last_hash,
                    last_entry,
                });
            }
            _ => {}
        }
    }

    /// Checks one entry of the account in hand and adds it to the sums.
    pub fn entry(&mut self, entry: &Entry) {
        self.check(entry, true);
    }

    /// Adds a posting to the trial balance and its lot's sums.
    fn sum(&mut self, account_id: AccountId, p: &Posting) {
        let line = self
            .trial
            .entry((p.book, p.unit))
            .or_insert((Decimal::ZERO, Decimal::ZERO));
        match p.side {
            Side::Debit => line.0 += p.amount,
            Side::Credit => line.1 += p.amount,
        }
        if let Some(lot_id) = p.lot_id {
            self.lot_sums
                .entry(lot_id)
                .or_insert_with(|| LotSums::new(account_id))
                .add(lot_id, p);
        }
    }

    fn check(&mut self, entry: &Entry, summed: bool) {
        self.checked.entries += 1;
        self.checked.postings += entry.postings.len() as u64;
        for ((book, unit), imbalance) in entry.imbalances() {
            self.violation(Violation::EntryUnbalanced {
                entry_id: entry.id,
                account_id: entry.account_id,
                book,
                unit,
                debits_minus_credits: imbalance,
            });
        }
        if summed {
            for p in &entry.postings {
                self.sum(entry.account_id, p);
            }
        }
        if let Some(rating) = &entry.rating {
            self.rated(entry, rating);
        }
        self.link(entry);
    }

    /// Invariant 8 for a rated entry: it charged its value plus what it carried in less what it
    /// carried out, its carry in is what the meter's last rated entry carried out, and its carry
    /// out lies in [0, one unit of the account's scale).
    fn rated(&mut self, entry: &Entry, rating: &Rating) {
        let charged: Decimal = (entry.postings.iter())
            .filter(|p| p.book == Book::Quantity && p.ledger_account == gl::CONSUMED)
            .map(|p| match p.side {
                Side::Credit => p.amount,
                Side::Debit => -p.amount,
            })
            .sum();
        let unit = (self.chain.as_ref())
            .and_then(|c| c.rating.as_ref())
            .map(|(scale, _)| Decimal::new(1, *scale));
        let carry_out_fits = !rating.carried_out.is_sign_negative()
            && unit.is_none_or(|unit| rating.carried_out < unit);
        if charged != rating.value + rating.carried_in - rating.carried_out || !carry_out_fits {
            self.violation(Violation::RatedCharge {
                entry_id: entry.id,
                account_id: entry.account_id,
                charged,
                value: rating.value,
                carried_in: rating.carried_in,
                carried_out: rating.carried_out,
            });
        }
        let mut carried = vec![(rating.meter.clone(), rating.carried_in, rating.carried_out)];
        if let Some(cost) = &rating.cost {
            let posted: Decimal = (entry.postings.iter())
                .filter(|p| p.book == Book::Money && p.ledger_account == gl::COST_OF_REVENUE)
                .filter(|p| p.unit == cost.currency.code())
                .map(|p| match p.side {
                    Side::Debit => p.amount,
                    Side::Credit => -p.amount,
                })
                .sum();
            let fits = !cost.carried_out.is_sign_negative()
                && cost.carried_out < Decimal::new(1, MONEY_SCALE);
            if posted != cost.value + cost.carried_in - cost.carried_out || !fits {
                self.violation(Violation::RatedCost {
                    entry_id: entry.id,
                    account_id: entry.account_id,
                    posted,
                    value: cost.value,
                    carried_in: cost.carried_in,
                    carried_out: cost.carried_out,
                });
            }
            let key = cost_key(&rating.meter, &cost.currency.to_string());
            carried.push((key, cost.carried_in, cost.carried_out));
        }
        let Some(chain) = self.chain.as_mut() else {
            return;
        };
        let mut broken = Vec::new();
        for (key, carried_in, carried_out) in carried {
            let known = chain.carries_known || chain.carries.contains_key(&key);
            let expected = carry_of(&chain.carries, &key);
            chain.carries.insert(key.clone(), carried_out);
            if known && carried_in != expected {
                broken.push((key, expected, carried_in));
            }
        }
        for (meter, expected, found) in broken {
            self.violation(Violation::CarryBroken {
                account_id: entry.account_id,
                entry_id: entry.id,
                meter,
                expected,
                found,
            });
        }
    }

    /// Invariant 6 for one entry: its place in the account's chain and its own hash.
    fn link(&mut self, entry: &Entry) {
        let computed = entry.compute_hash();
        if computed != entry.hash {
            self.violation(Violation::HashMismatch {
                account_id: entry.account_id,
                entry_id: entry.id,
                account_seq: entry.account_seq,
                stored: entry.hash.clone(),
                computed,
            });
        }
        let Some(chain) = self.chain.as_mut() else {
            return;
        };
        let (expected_seq, expected_hash) = (chain.next_seq, chain.prev_hash.clone());
        // The next link is judged against what is stored here, so one altered entry is reported
        // once rather than breaking every entry after it.
        chain.next_seq = entry.account_seq.saturating_add(1);
        chain.prev_hash = Some(entry.hash.clone());
        if entry.account_seq != expected_seq {
            self.violation(Violation::SeqGap {
                account_id: entry.account_id,
                entry_id: entry.id,
                expected: expected_seq,
                found: entry.account_seq,
            });
        }
        let Some(expected_hash) = expected_hash else {
            return;
        };
        if entry.prev_hash != expected_hash {
            self.violation(Violation::BrokenLink {
                account_id: entry.account_id,
                entry_id: entry.id,
                account_seq: entry.account_seq,
                expected: expected_hash,
                found: entry.prev_hash.clone(),
            });
        }
    }

    /// Steps over an entry whose row could not be read (the caller reports it): the chain goes
    /// on from its stored `account_seq`, and the next entry's link cannot be judged.
    pub fn unreadable_entry(&mut self, account_seq: i64) {
        if let Some(chain) = self.chain.as_mut() {
            chain.next_seq = account_seq.saturating_add(1);
            chain.prev_hash = None;
        }
    }

    /// Invariant 3 for one lot, against the postings fed so far that name it.
    pub fn lot(&mut self, lot: &Lot) {
        self.checked.lots += 1;
        let sums = self
            .lot_sums
            .remove(&lot.id)
            .unwrap_or_else(|| LotSums::new(lot.account_id));
        let (lot_id, account_id) = (lot.id, lot.account_id);
        if sums.account_id != account_id {
            self.violation(Violation::PostingsWithoutLot {
                lot_id,
                account_id: sums.account_id,
            });
        }
        if sums.consumed + sums.expired + sums.voided + sums.adjusted + lot.remaining.get()
            != lot.granted.get()
        {
            self.violation(Violation::LotQuantity {
                lot_id,
                account_id,
                granted: lot.granted.get(),
                consumed: sums.consumed,
                expired: sums.expired,
                voided: sums.voided,
                adjusted: sums.adjusted,
                remaining: lot.remaining.get(),
            });
        }
        let accounted = sums.recognized
            + sums.breakage
            + sums.refunded
            + sums.money_adjusted
            + lot.money_deferred.get();
        if accounted != lot.cost_basis.get() {
            self.violation(Violation::LotMoney {
                lot_id,
                account_id,
                currency: lot.currency,
                cost_basis: lot.cost_basis.get(),
                recognized: sums.recognized,
                breakage: sums.breakage,
                refunded: sums.refunded,
                adjusted: sums.money_adjusted,
                deferred: lot.money_deferred.get(),
            });
        }
        let columns = [
            ("granted", lot.granted.get(), sums.granted),
            ("remaining", lot.remaining.get(), sums.granted - sums.drawn),
            ("money_deferred", lot.money_deferred.get(), sums.deferred),
        ];
        for (column, row, posted) in columns {
            if row != posted {
                self.violation(Violation::LotRow {
                    lot_id,
                    account_id,
                    column,
                    row,
                    posted,
                });
            }
        }
    }

    /// Invariant 7 for a page of accounts: each calendar budget's `held` is what the open holds
    /// authorized against it still claim (`holds`: the page's open holds with budgets).
    pub fn budgets(&mut self, accounts: &[&Account], holds: &[Hold]) {
        let mut claims: HashMap<(AccountId, BudgetId), Quantity> = HashMap::new();
        for hold in holds {
            for budget in &hold.budgets {
                *claims.entry((hold.account_id, *budget)).or_default() += hold.claim();
            }
        }
        for account in accounts {
            // A velocity limit keeps no `held`: its window counts holds at their authorization.
            for budget in account.budgets.iter().filter(|b| b.window.is_none()) {
                let open_holds =
                    (claims.get(&(account.id, budget.id)).copied()).unwrap_or_default();
                if budget.held != open_holds {
                    self.violation(Violation::BudgetHeld {
                        account_id: account.id,
                        budget_id: budget.id,
                        row: budget.held,
                        open_holds,
                    });
                }
            }
        }
    }

    /// Ends a page of lots: sums left over name lots that were never fed.
    pub fn finish_lots(&mut self) {
        let mut left: Vec<(LotId, AccountId)> = self
            .lot_sums
            .drain()
            .map(|(lot_id, sums)| (lot_id, sums.account_id))
            .collect();
        left.sort();
        for (lot_id, account_id) in left {
            self.violation(Violation::PostingsWithoutLot { lot_id, account_id });
        }
    }

    /// Closes the walk: the last account's head, leftover lot sums, and the trial balance.
    pub fn finish(mut self) -> Report {
        self.finish_account();
        self.finish_lots();
        let mut trial_balance = Vec::with_capacity(self.trial.len());
        for ((book, unit), (debits, credits)) in std::mem::take(&mut self.trial) {
            if debits != credits {
                self.violation(Violation::TrialBalance {
                    book,
                    unit,
                    debits,
                    credits,
                });
            }
            trial_balance.push(TrialLine {
                book,
                unit,
                debits,
                credits,
            });
        }
        Report {
            checked: self.checked,
            trial_balance,
            violations: self.violations,
            violations_total: self.violations_total,
            since: None,
        }
    }
}

/// A meter's carry; none is zero.
fn carry_of(carries: &BTreeMap<String, Decimal>, meter: &str) -> Decimal {
    carries.get(meter).copied().unwrap_or_default().normalize()
}

/// How a cost carry is named beside the charges' carries: `{meter} cost in {currency}`.
fn cost_key(meter: &str, currency: &str) -> String {
    format!("{meter} cost in {currency}")
}

/// An account row's carries, of charges and of costs, keyed as the checker keys them.
fn carries_of(account: &Account) -> BTreeMap<String, Decimal> {
    let mut carries = account.carries.clone();
    for ((meter, currency), amount) in &account.cost_carries {
        carries.insert(cost_key(meter, currency.as_str()), *amount);
    }
    carries
}
