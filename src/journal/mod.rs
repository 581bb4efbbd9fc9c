//! Reports over the journal as stored. [`verify`] owns the audit behind `credit-ledger verify`:
//! the checks of invariants 1, 3 and 6 of DESIGN.md over every entry, lot and hash chain, and the
//! report it prints.

pub mod verify;
