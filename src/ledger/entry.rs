//! Journal entries: immutable, balanced in each of the two books, chained per account by hash.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::accounts::LedgerAccount;
use super::amount::{Money, Quantity};
use super::code::{Code, Currency, Unit};
use super::names::named;
use super::types::{Account, AccountId, EntryId, HoldId, LotId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Book {
    /// Credit, in the account's unit.
    Quantity,
    /// Money, in the lot's purchase currency.
    Money,
}

named!(Book { Quantity => "quantity", Money => "money" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Debit,
    Credit,
}

named!(Side { Debit => "debit", Credit => "credit" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    TopUp,
    Grant,
    Capture,
    Debit,
    Expiry,
    Void,
    Adjustment,
    TrueUp,
}

named!(EntryKind {
    TopUp => "top_up",
    Grant => "grant",
    Capture => "capture",
    Debit => "debit",
    Expiry => "expiry",
    Void => "void",
    Adjustment => "adjustment",
    TrueUp => "true_up",
});

/// The ledger accounts by the names the handlers post to.
pub mod ledger_account {
    use super::super::accounts::LedgerAccount as A;
    pub use super::super::accounts::LedgerAccount;

    pub const ISSUED_PAID: A = A::IssuedPaid;
    pub const ISSUED_PROMOTIONAL: A = A::IssuedPromotional;
    pub const CONSUMED: A = A::Consumed;
    pub const EXPIRED: A = A::Expired;
    pub const VOIDED: A = A::Voided;
    pub const ADJUSTED: A = A::Adjusted;
    pub const CASH_CLEARING: A = A::CashClearing;
    pub const DEFERRED_REVENUE: A = A::DeferredRevenue;
    pub const REVENUE_USAGE: A = A::RevenueUsage;
    pub const REVENUE_BREAKAGE: A = A::RevenueBreakage;
    pub const REFUNDS_PAYABLE: A = A::RefundsPayable;
    pub const UNBILLED_RECEIVABLE: A = A::UnbilledReceivable;
    pub const REVENUE_COMMITMENT_SHORTFALL: A = A::RevenueCommitmentShortfall;
    pub const REVENUE_ADJUSTMENT: A = A::RevenueAdjustment;
    pub const COST_OF_REVENUE: A = A::CostOfRevenue;
    pub const ACCRUED_PROVIDER_COST: A = A::AccruedProviderCost;

    pub fn lot(id: super::LotId) -> A {
        A::Lot(id)
    }

    pub fn credit_line(id: super::AccountId) -> A {
        A::CreditLine(id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub book: Book,
    pub ledger_account: LedgerAccount,
    pub side: Side,
    /// Never negative (the side says which way): a quantity of `unit` in the quantity book,
    /// money in `unit` (a currency) in the money book. Kept as one decimal because the journal's
    /// reports sum postings of both books alike.
    pub amount: Decimal,
    /// The unit (quantity book) or currency (money book).
    pub unit: Code,
    /// The lot this posting concerns, for the per-lot sub-ledger of deferred revenue.
    pub lot_id: Option<LotId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    pub account_id: AccountId,
    pub account_seq: i64,
    pub kind: EntryKind,
    pub effective_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub reference: String,
    pub lot_id: Option<LotId>,
    pub hold_id: Option<HoldId>,
    pub postings: Vec<Posting>,
    pub prev_hash: String,
    pub hash: String,
    /// Who caused the entry: the prefix of the API key of the call that wrote it; empty when
    /// the call carried no key (a server on loopback) or time did (the sweeper).
    pub actor: String,
    /// How a charge rated from usage was rated.
    pub rating: Option<Rating>,
    /// A late effect's own time: the entry was effective before the books were closed up to
    /// `effective_at`, and is booked at the start of the open period instead.
    pub original_effective_at: Option<DateTime<Utc>>,
}

/// How a charge was rated: from any journal line of its entry back to the request's usage and
/// the prices that rated it. What it charged is `value + carried_in - carried_out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub meter: String,
    pub usage: crate::ledger::rating::Usage,
    pub book: String,
    pub version: u32,
    /// The usage's value at the version, to `rating::RATED_SCALE` decimals.
    pub value: Decimal,
    /// What earlier charges of the meter left below the account's scale, taken into this one.
    pub carried_in: Decimal,
    /// What this charge leaves below the scale for the next.
    pub carried_out: Decimal,
    /// What the usage cost upstream, when its version says: posted Dr `cost_of_revenue` / Cr
    /// `accrued_provider_cost` in its currency, carried below the money scale like the charge.
    pub cost: Option<RatedCost>,
}

/// The upstream cost of a rated charge: what was posted is `value + carried_in - carried_out`,
/// in `currency`, at most `MONEY_SCALE` decimals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedCost {
    pub currency: Currency,
    pub value: Decimal,
    pub carried_in: Decimal,
    pub carried_out: Decimal,
}

impl Entry {
    /// The hash that chains this entry to the account's previous one. It covers every field that
    /// has meaning, so changing any amount, account or time in the store breaks the chain.
    pub fn compute_hash(&self) -> String {
        let mut text = String::with_capacity(256 + 128 * self.postings.len());
        let _ = write!(
            text,
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.prev_hash,
            self.id,
            self.account_id,
            self.account_seq,
            self.kind.as_str(),
            self.effective_at.timestamp_micros(),
            self.recorded_at.timestamp_micros(),
            self.idempotency_key.len(),
            self.idempotency_key,
            self.lot_id.map(|l| l.to_string()).unwrap_or_default(),
            self.hold_id.map(|h| h.to_string()).unwrap_or_default(),
        );
        let _ = write!(text, "|{}|{}", self.reference.len(), self.reference);
        for p in &self.postings {
            let _ = write!(
                text,
                "|{}:{}:{}:{}:{}:{}",
                p.book.as_str(),
                p.ledger_account,
                p.lot_id.map(|l| l.to_string()).unwrap_or_default(),
                p.side.as_str(),
                p.amount.normalize(),
                p.unit,
            );
        }
        // Entries written before entries had an actor, and those with none, hash as before;
        // an actor, once there, is covered like every other field.
        if !self.actor.is_empty() {
            let _ = write!(text, "|actor|{}|{}", self.actor.len(), self.actor);
        }
        // Likewise the rating of a rated charge, in its stored encoding.
        if let Some(rating) = &self.rating {
            let rating = crate::ledger::codec::encode_rating(rating);
            let _ = write!(text, "|rating|{}|{}", rating.len(), rating);
        }
        // Likewise a late effect's own time.
        if let Some(original) = self.original_effective_at {
            let _ = write!(text, "|late|{}", original.timestamp_micros());
        }
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Sums of debits minus credits per (book, unit); a balanced entry has all zeros.
    pub fn imbalances(&self) -> BTreeMap<(Book, Code), Decimal> {
        let mut sums = BTreeMap::new();
        for p in &self.postings {
            let signed = match p.side {
                Side::Debit => p.amount,
                Side::Credit => -p.amount,
            };
            *sums.entry((p.book, p.unit)).or_insert(Decimal::ZERO) += signed;
        }
        sums.retain(|_, v| !v.is_zero());
        sums
    }
}

/// Collects an entry's postings in debit/credit pairs, then seals it onto the account's chain.
pub struct EntryDraft {
    pub kind: EntryKind,
    pub effective_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub reference: String,
    pub lot_id: Option<LotId>,
    pub hold_id: Option<HoldId>,
    pub postings: Vec<Posting>,
    pub rating: Option<Rating>,
}

impl EntryDraft {
    pub fn new(kind: EntryKind, effective_at: DateTime<Utc>, key: &str, reference: &str) -> Self {
        EntryDraft {
            kind,
            effective_at,
            idempotency_key: key.to_string(),
            reference: reference.to_string(),
            lot_id: None,
            hold_id: None,
            postings: Vec::new(),
            rating: None,
        }
    }

    /// Adds `Dr debit quantity / Cr credit quantity` in the quantity book, in the account's
    /// `unit`; a zero quantity adds nothing.
    pub fn quantity_pair(
        &mut self,
        debit: LedgerAccount,
        credit: LedgerAccount,
        quantity: Quantity,
        unit: Unit,
        lot_id: Option<LotId>,
    ) {
        self.pair(
            Book::Quantity,
            debit,
            credit,
            quantity.get(),
            unit.code(),
            lot_id,
        );
    }

    /// Adds `Dr debit money / Cr credit money` in the money book, in `currency`; zero adds
    /// nothing.
    pub fn money_pair(
        &mut self,
        debit: LedgerAccount,
        credit: LedgerAccount,
        money: Money,
        currency: Currency,
        lot_id: Option<LotId>,
    ) {
        self.pair(
            Book::Money,
            debit,
            credit,
            money.get(),
            currency.code(),
            lot_id,
        );
    }

    fn pair(
        &mut self,
        book: Book,
        debit: LedgerAccount,
        credit: LedgerAccount,
        amount: Decimal,
        unit: Code,
        lot_id: Option<LotId>,
    ) {
        if amount.is_zero() {
            return;
        }
        for (account, side) in [(debit, Side::Debit), (credit, Side::Credit)] {
            self.postings.push(Posting {
                book,
                ledger_account: account,
                side,
                amount,
                unit,
                lot_id,
            });
        }
    }

    /// Seals the draft as the account's next entry. One effective before `closed_until` (a
    /// closed period) is booked at `closed_until`, its own time kept.
    pub fn seal(
        self,
        id: EntryId,
        account: &mut Account,
        recorded_at: DateTime<Utc>,
        actor: String,
        closed_until: Option<DateTime<Utc>>,
    ) -> Entry {
        let (effective_at, original_effective_at) = match closed_until {
            Some(until) if self.effective_at < until => (until, Some(self.effective_at)),
            _ => (self.effective_at, None),
        };
        account.entry_seq += 1;
        let mut entry = Entry {
            id,
            account_id: account.id,
            account_seq: account.entry_seq,
            kind: self.kind,
            effective_at,
            recorded_at,
            idempotency_key: self.idempotency_key,
            reference: self.reference,
            lot_id: self.lot_id,
            hold_id: self.hold_id,
            postings: self.postings,
            prev_hash: std::mem::take(&mut account.last_hash),
            hash: String::new(),
            actor,
            rating: self.rating,
            original_effective_at,
        };
        entry.hash = entry.compute_hash();
        account.last_hash = entry.hash.clone();
        debug_assert!(entry.imbalances().is_empty(), "unbalanced entry {entry:?}");
        entry
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn entry(actor: &str) -> Entry {
        let at = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        let id = |n: u128| uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n);
        Entry {
            id: EntryId(id(4)),
            account_id: AccountId(id(1)),
            account_seq: 1,
            kind: EntryKind::TopUp,
            effective_at: at,
            recorded_at: at + chrono::Duration::microseconds(1),
            idempotency_key: "key".into(),
            reference: "ref".into(),
            lot_id: None,
            hold_id: None,
            postings: Vec::new(),
            prev_hash: String::new(),
            hash: String::new(),
            actor: actor.into(),
            rating: None,
            original_effective_at: None,
        }
    }

    /// The hash is pinned: an entry without an actor hashes as entries always have, so the
    /// chains written before actors existed still verify; an actor is appended under the hash.
    #[test]
    fn the_hash_is_pinned_with_and_without_an_actor() {
        assert_eq!(
            entry("").compute_hash(),
            "02d36ab915dfcac288e9c4bb20dcbf6a5edfcac9dddb999f620a92b65f3ed922"
        );
        assert_eq!(
            entry("0123456789ab").compute_hash(),
            "71f79233ad0251b1e77504a86b5febd4e0cc7d1a4eea13a9b31cb4f02e266e96"
        );
    }

    /// A rated entry's rating is covered by its hash, in its stored encoding, after the actor;
    /// an entry without one hashes as entries always have (above).
    #[test]
    fn the_rating_of_a_rated_entry_is_in_its_hash() {
        let rating = Rating {
            meter: "chat:large".into(),
            usage: BTreeMap::from([("input_tokens".into(), Decimal::from(1000))]),
            book: "default".into(),
            version: 1,
            value: "0.0025".parse().unwrap(),
            carried_in: Decimal::ZERO,
            carried_out: "0.0005".parse().unwrap(),
            cost: None,
        };
        let mut rated = entry("0123456789ab");
        rated.rating = Some(rating.clone());
        assert_eq!(
            rated.compute_hash(),
            "8dcfbb2f689386f72b55f00fabadc87ff3234ed8c541e9ed290a6a4589e77699"
        );
        let mut other = rated.clone();
        other.rating = Some(Rating {
            carried_out: Decimal::ZERO,
            ..rating
        });
        assert_ne!(other.compute_hash(), rated.compute_hash());
    }

    #[test]
    fn an_entry_dated_before_the_close_is_booked_at_it_with_its_own_time_hashed() {
        let at = |d: u32| Utc.with_ymd_and_hms(2026, 2, d, 0, 0, 0).unwrap();
        let mut account = Account::opened(
            AccountId(uuid::Uuid::from_u128(1)),
            "a".into(),
            "CREDIT".parse().unwrap(),
            0,
            "USD".parse().unwrap(),
            at(1),
        );
        let id = EntryId(uuid::Uuid::from_u128(2));
        let draft = |effective| EntryDraft::new(EntryKind::Expiry, effective, "k", "");
        // Inside the closed period: booked at the close, its own time kept.
        let late = draft(at(1) - chrono::Duration::days(3)).seal(
            id,
            &mut account.clone(),
            at(3),
            String::new(),
            Some(at(1)),
        );
        assert_eq!(late.effective_at, at(1));
        assert_eq!(
            late.original_effective_at,
            Some(at(1) - chrono::Duration::days(3))
        );
        // At or after the close, and with nothing closed, as dated.
        for (effective, closed) in [(at(1), Some(at(1))), (at(2), Some(at(1))), (at(2), None)] {
            let entry = draft(effective).seal(id, &mut account, at(3), String::new(), closed);
            assert_eq!(
                (entry.effective_at, entry.original_effective_at),
                (effective, None)
            );
        }
        // Its own time is covered by the hash (an entry without one hashes as before: the pinned
        // hashes above have none).
        let mut moved = late.clone();
        moved.original_effective_at = Some(at(1) - chrono::Duration::days(4));
        assert_ne!(moved.compute_hash(), late.compute_hash());
        moved.original_effective_at = None;
        assert_ne!(moved.compute_hash(), late.compute_hash());
        assert_eq!(late.hash, late.compute_hash());
    }
}
