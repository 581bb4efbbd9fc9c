//! The [`Violation`] enum: one broken invariant, with the ids and amounts needed to find and judge
//! it, and its one-line `Display` as printed in the report. Nothing here decides whether an
//! invariant holds; [`Checker`](super::Checker) and the page walkers build these values.

use std::fmt;

use rust_decimal::Decimal;

use crate::ledger::{AccountId, Book, BudgetId, Code, Currency, EntryId, LotId, Quantity};
use crate::store::audit::CorruptRow;

/// One broken invariant, with everything needed to find and judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    EntryUnbalanced {
        entry_id: EntryId,
        account_id: AccountId,
        book: Book,
        unit: Code,
        debits_minus_credits: Decimal,
    },
    TrialBalance {
        book: Book,
        unit: Code,
        debits: Decimal,
        credits: Decimal,
    },
    /// A lot row's column (`granted`, `remaining` or `money_deferred`) is not what the postings
    /// naming the lot add up to.
    LotRow {
        lot_id: LotId,
        account_id: AccountId,
        column: &'static str,
        row: Decimal,
        posted: Decimal,
    },
    /// granted ≠ consumed + expired + voided + remaining.
    LotQuantity {
        lot_id: LotId,
        account_id: AccountId,
        granted: Decimal,
        consumed: Decimal,
        expired: Decimal,
        voided: Decimal,
        adjusted: Decimal,
        remaining: Decimal,
    },
    /// cost basis ≠ recognized + breakage + refunded + adjusted + deferred.
    LotMoney {
        lot_id: LotId,
        account_id: AccountId,
        currency: Option<Currency>,
        cost_basis: Decimal,
        recognized: Decimal,
        breakage: Decimal,
        refunded: Decimal,
        adjusted: Decimal,
        deferred: Decimal,
    },
    /// Postings name a lot that has no readable row on their account.
    PostingsWithoutLot {
        lot_id: LotId,
        account_id: AccountId,
    },
    SeqGap {
        account_id: AccountId,
        entry_id: EntryId,
        expected: i64,
        found: i64,
    },
    BrokenLink {
        account_id: AccountId,
        entry_id: EntryId,
        account_seq: i64,
        expected: String,
        found: String,
    },
    HashMismatch {
        account_id: AccountId,
        entry_id: EntryId,
        account_seq: i64,
        stored: String,
        computed: String,
    },
    /// The account row's `entry_seq` or `last_hash` is not its last entry's.
    AccountHead {
        account_id: AccountId,
        column: &'static str,
        row: String,
        last_entry: String,
    },
    /// A rated entry did not charge value + carried in − carried out, or carried out a carry
    /// outside [0, one unit of the account's scale).
    RatedCharge {
        entry_id: EntryId,
        account_id: AccountId,
        charged: Decimal,
        value: Decimal,
        carried_in: Decimal,
        carried_out: Decimal,
    },
    /// A rated entry's upstream cost posted to `cost_of_revenue` is not value + carried in −
    /// carried out, or its carry is not below the money scale.
    RatedCost {
        entry_id: EntryId,
        account_id: AccountId,
        posted: Decimal,
        value: Decimal,
        carried_in: Decimal,
        carried_out: Decimal,
    },
    /// A rated entry's carry in is not what the meter's previous rated entry carried out.
    CarryBroken {
        account_id: AccountId,
        entry_id: EntryId,
        meter: String,
        expected: Decimal,
        found: Decimal,
    },
    /// The account row's carry of a meter is not its last rated entry's carry out.
    AccountCarry {
        account_id: AccountId,
        meter: String,
        row: Decimal,
        last_entry: Decimal,
    },
    /// A budget's `held` is not what the open holds authorized against it still claim.
    BudgetHeld {
        account_id: AccountId,
        budget_id: BudgetId,
        row: Quantity,
        open_holds: Quantity,
    },
    /// Entries name an account that has no account row.
    EntriesWithoutAccount {
        account_key: String,
    },
    Corrupt(CorruptRow),
    /// Rows the walk by account never reached: they belong to no account (or no entry).
    Unreached {
        table: &'static str,
        stored: u64,
        reached: u64,
    },
    /// A closed month's snapshot does not re-hash to its stored hash (a line or its head was
    /// changed), or does not name the month before's hash.
    SnapshotHash {
        period: String,
        stored: String,
        computed: String,
    },
    SnapshotChain {
        period: String,
        prev_hash: String,
        previous: String,
    },
    /// The last entry a snapshot says it covers is not there with that hash.
    SnapshotAnchor {
        period: String,
        last_seq: i64,
        last_hash: String,
    },
    /// (`--full`) A snapshot's lines are not what the journal adds up to.
    SnapshotLines {
        period: String,
        stored: usize,
        differing: usize,
    },
}

fn hash_or_none(hash: &str) -> &str {
    if hash.is_empty() {
        "(none)"
    } else {
        hash
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Violation::*;
        match self {
            EntryUnbalanced {
                entry_id,
                account_id,
                book,
                unit,
                debits_minus_credits,
            } => write!(
                f,
                "invariant 1: entry {entry_id} (account {account_id}) does not balance in the {} \
                 book in {unit}: debits - credits = {debits_minus_credits}",
                book.as_str()
            ),
            TrialBalance {
                book,
                unit,
                debits,
                credits,
            } => write!(
                f,
                "invariant 1: the {} book's trial balance in {unit} is off by {}: debits \
                 {debits}, credits {credits}",
                book.as_str(),
                debits - credits
            ),
            LotRow {
                lot_id,
                account_id,
                column,
                row,
                posted,
            } => {
                let postings = match *column {
                    "granted" => format!("lot:{lot_id} was credited"),
                    "remaining" => format!("lot:{lot_id} has a balance of"),
                    _ => "its deferred_revenue postings net to".to_string(),
                };
                write!(
                    f,
                    "invariant 3: lot {lot_id} (account {account_id}): {column} is {row} on the \
                     lot row, but {postings} {posted}"
                )
            }
            LotQuantity {
                lot_id,
                account_id,
                granted,
                consumed,
                expired,
                voided,
                adjusted,
                remaining,
            } => {
                write!(
                    f,
                    "invariant 3: lot {lot_id} (account {account_id}): granted {granted} != \
                     consumed {consumed} + expired {expired} + voided {voided} + adjusted \
                     {adjusted} + remaining {remaining} = {}",
                    consumed + expired + voided + adjusted + remaining
                )
            }
            LotMoney {
                lot_id,
                account_id,
                currency,
                cost_basis,
                recognized,
                breakage,
                refunded,
                adjusted,
                deferred,
            } => {
                write!(
                    f,
                    "invariant 3: lot {lot_id} (account {account_id}): cost basis {cost_basis} \
                     {} != recognized {recognized} + breakage {breakage} + refunded \
                     {refunded} + adjusted {adjusted} + deferred {deferred} = {}",
                    currency.map(|c| c.to_string()).unwrap_or_default(),
                    recognized + breakage + refunded + adjusted + deferred
                )
            }
            PostingsWithoutLot { lot_id, account_id } => write!(
                f,
                "invariant 3: postings of account {account_id} name lot {lot_id}, which has no \
                 readable lot row on that account"
            ),
            SeqGap {
                account_id,
                entry_id,
                expected,
                found,
            } => write!(
                f,
                "invariant 6: account {account_id}: entry {entry_id} has account_seq {found}, \
                 expected {expected}"
            ),
            BrokenLink {
                account_id,
                entry_id,
                account_seq,
                expected,
                found,
            } => write!(
                f,
                "invariant 6: account {account_id}: entry {entry_id} (seq {account_seq}) has \
                 prev_hash {}, but the previous entry's hash is {}",
                hash_or_none(found),
                hash_or_none(expected)
            ),
            HashMismatch {
                account_id,
                entry_id,
                account_seq,
                stored,
                computed,
            } => write!(
                f,
                "invariant 6: account {account_id}: entry {entry_id} (seq {account_seq}) is \
                 stored with hash {stored}, but its content hashes to {computed}"
            ),
            AccountHead {
                account_id,
                column,
                row,
                last_entry,
            } => write!(
                f,
                "invariant 6: account {account_id}: {column} is {} on the account row, but the \
                 last entry's is {}",
                hash_or_none(row),
                hash_or_none(last_entry)
            ),
            RatedCharge {
                entry_id,
                account_id,
                charged,
                value,
                carried_in,
                carried_out,
            } => write!(
                f,
                "invariant 8: rated entry {entry_id} of account {account_id} charged {charged}, \
                 but its value {value} + carried in {carried_in} - carried out {carried_out} \
                 says otherwise (or the carry is not below one unit of the account's scale)"
            ),
            RatedCost {
                entry_id,
                account_id,
                posted,
                value,
                carried_in,
                carried_out,
            } => write!(
                f,
                "invariant 8: rated entry {entry_id} of account {account_id} posted a cost of \
                 {posted}, but its cost {value} + carried in {carried_in} - carried out \
                 {carried_out} says otherwise (or the carry is not below the money scale)"
            ),
            CarryBroken {
                account_id,
                entry_id,
                meter,
                expected,
                found,
            } => write!(
                f,
                "invariant 8: rated entry {entry_id} of account {account_id} carried in {found} \
                 of meter {meter:?}, but the meter's previous rated entry carried out {expected}"
            ),
            AccountCarry {
                account_id,
                meter,
                row,
                last_entry,
            } => write!(
                f,
                "invariant 8: account {account_id} carries {row} of meter {meter:?} on its row, \
                 but its last rated entry carried out {last_entry}"
            ),
            BudgetHeld {
                account_id,
                budget_id,
                row,
                open_holds,
            } => write!(
                f,
                "invariant 7: budget {budget_id} of account {account_id} holds {row} on its row, \
                 but the open holds authorized against it claim {open_holds}"
            ),
            EntriesWithoutAccount { account_key } => write!(
                f,
                "entries name account {account_key:?}, which has no account row"
            ),
            Corrupt(row) => write!(f, "corrupt {} row {:?}: {}", row.table, row.key, row.error),
            Unreached {
                table,
                stored,
                reached,
            } => write!(
                f,
                "{} of {stored} {table} rows are not reachable from any account and were not \
                 checked",
                stored.saturating_sub(*reached)
            ),
            SnapshotHash {
                period,
                stored,
                computed,
            } => write!(
                f,
                "closed month {period}: its snapshot hashes to {computed}, its stored hash is \
                 {stored}"
            ),
            SnapshotChain {
                period,
                prev_hash,
                previous,
            } => write!(
                f,
                "closed month {period}: it names {} as the month before's hash, which is {}",
                hash_or_none(prev_hash),
                hash_or_none(previous)
            ),
            SnapshotAnchor {
                period,
                last_seq,
                last_hash,
            } => write!(
                f,
                "closed month {period}: the last entry it covers, #{last_seq} with hash \
                 {last_hash}, is not in the journal"
            ),
            SnapshotLines {
                period,
                stored,
                differing,
            } => write!(
                f,
                "closed month {period}: {differing} of its {stored} snapshot lines differ from \
                 what the journal adds up to"
            ),
        }
    }
}
