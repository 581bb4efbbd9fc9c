//! Version 1 of an entry's postings, kept in the entry's own row (`entries.postings`) rather
//! than as rows of their own: one row per entry instead of one per posting and entry.
//!
//! `1;` then the postings in order, separated by `;`, each
//! `book,ledger_account,side,amount,unit,lot_id` with the one spelling of each enum and ledger
//! account, the amount as its decimal was written (scale kept) and the lot id empty when there
//! is none. None of these can hold `,` or `;`. A migration writes the same text from the
//! posting rows of earlier releases, in SQL.

use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::{DecodeError, Decoded};
use crate::ledger::*;

const VERSION: &str = "1;";

pub fn encode_postings(postings: &[Posting]) -> String {
    let mut out = String::with_capacity(VERSION.len() + 112 * postings.len());
    out.push_str(VERSION);
    for (i, p) in postings.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        let _ = write!(
            out,
            "{},{},{},{},{},",
            p.book.as_str(),
            p.ledger_account,
            p.side.as_str(),
            p.amount,
            p.unit
        );
        if let Some(lot) = p.lot_id {
            let _ = write!(out, "{lot}");
        }
    }
    out
}

pub fn decode_postings(text: &str) -> Decoded<Vec<Posting>> {
    let body = text
        .strip_prefix(VERSION)
        .ok_or(DecodeError::Shape("postings without their version"))?;
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(';').map(posting).collect()
}

/// A field that does not read as what it must be.
fn bad<E>(what: &'static str) -> impl Fn(E) -> DecodeError {
    move |_| DecodeError::Shape(what)
}

fn posting(text: &str) -> Decoded<Posting> {
    let mut fields = text.split(',');
    let mut field = || fields.next();
    let (Some(book), Some(account), Some(side), Some(amount), Some(unit), Some(lot), None) = (
        field(),
        field(),
        field(),
        field(),
        field(),
        field(),
        field(),
    ) else {
        return Err(DecodeError::Shape("a posting is six fields"));
    };
    Ok(Posting {
        book: book.parse()?,
        ledger_account: account.parse().map_err(bad("a ledger account"))?,
        side: side.parse()?,
        amount: Decimal::from_str(amount).map_err(bad("an amount"))?,
        unit: unit.parse().map_err(bad("a unit"))?,
        lot_id: match lot {
            "" => None,
            lot => Some(lot.parse().map_err(bad("a lot id"))?),
        },
    })
}
