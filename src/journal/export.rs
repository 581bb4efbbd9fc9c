//! What a journal export is asked for ([`ExportSpec`]), the lines it writes (a detail record per
//! posting, a summary record per group) and their text: CSV with a header and quoting, or JSON
//! Lines keyed by the same column names. Pure: the streaming lives in `exporter`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::summary::SummaryLine;
use crate::ledger::amount::canonical;
use crate::ledger::{Book, LedgerError, Posting, Side};
use crate::store::JournalEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

/// An export request, known good: a non-empty period, and `by_customer` only with `summary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub book: Book,
    pub format: Format,
    pub summary: bool,
    pub by_customer: bool,
}

impl ExportSpec {
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        book: Book,
        format: Format,
        summary: bool,
        by_customer: bool,
    ) -> Result<ExportSpec, LedgerError> {
        if from >= to {
            return Err(LedgerError::InvalidArgument {
                field: "to",
                reason: format!("the period [from, to) is empty: {from} is not before {to}"),
            });
        }
        if by_customer && !summary {
            return Err(LedgerError::InvalidArgument {
                field: "by_customer",
                reason: "applies to summary exports only; detail lines name the customer".into(),
            });
        }
        Ok(ExportSpec {
            from,
            to,
            book,
            format,
            summary,
            by_customer,
        })
    }

    /// The columns of this export's lines, in order.
    pub fn columns(&self) -> &'static [&'static str] {
        match (self.summary, self.by_customer) {
            (false, _) => DETAIL_COLUMNS,
            (true, false) => SUMMARY_COLUMNS,
            (true, true) => SUMMARY_BY_CUSTOMER_COLUMNS,
        }
    }
}

pub const DETAIL_COLUMNS: &[&str] = &[
    "seq",
    "entry_id",
    "kind",
    "effective_at",
    "recorded_at",
    "book",
    "ledger_account",
    "debit",
    "credit",
    "unit_or_currency",
    "account_id",
    "external_id",
    "lot_id",
    "hold_id",
    "reference",
    "idempotency_key",
    "actor",
    "meter",
    "usage",
    "price_book",
    "price_version",
    "rated_value",
    "carried_in",
    "carried_out",
    // A late effect's own time (booked after its month was closed); empty for every other line.
    "original_effective_at",
];
pub const SUMMARY_COLUMNS: &[&str] = &[
    "period",
    "book",
    "ledger_account",
    "unit_or_currency",
    "debit",
    "credit",
];
pub const SUMMARY_BY_CUSTOMER_COLUMNS: &[&str] = &[
    "period",
    "book",
    "ledger_account",
    "unit_or_currency",
    "external_id",
    "debit",
    "credit",
];

/// One line's fields in column order; `None` is an empty CSV field and a JSON null.
pub type Record = Vec<Option<String>>;

/// The GL codes finance books the money accounts under; an account without one is named as is.
/// Quantity accounts are never mapped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlCodes(pub BTreeMap<String, String>);

impl GlCodes {
    pub fn code<'a>(&'a self, book: Book, ledger_account: &'a str) -> &'a str {
        match book {
            Book::Money => self
                .0
                .get(ledger_account)
                .map_or(ledger_account, String::as_str),
            Book::Quantity => ledger_account,
        }
    }
}

/// RFC 3339 in UTC with microseconds, e.g. `2026-10-31T23:59:59.000000Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The detail record of each of an entry's postings in `book`.
pub fn detail_records<'a>(
    journal_entry: &'a JournalEntry,
    book: Book,
    gl: &'a GlCodes,
) -> impl Iterator<Item = Record> + 'a {
    journal_entry
        .entry
        .postings
        .iter()
        .filter(move |p| p.book == book)
        .map(move |p| detail_record(journal_entry, p, gl))
}

fn detail_record(journal_entry: &JournalEntry, p: &Posting, gl: &GlCodes) -> Record {
    let e = &journal_entry.entry;
    let (debit, credit) = match p.side {
        Side::Debit => (Some(canonical(p.amount)), None),
        Side::Credit => (None, Some(canonical(p.amount))),
    };
    let mut record = vec![
        Some(journal_entry.seq.to_string()),
        Some(e.id.to_string()),
        Some(e.kind.as_str().into()),
        Some(rfc3339(e.effective_at)),
        Some(rfc3339(e.recorded_at)),
        Some(p.book.as_str().into()),
        Some(gl.code(p.book, &p.ledger_account.to_string()).into()),
        debit,
        credit,
        Some(p.unit.to_string()),
        Some(e.account_id.to_string()),
        Some(journal_entry.external_id.clone()),
        p.lot_id.map(|l| l.to_string()),
        e.hold_id.map(|h| h.to_string()),
        Some(e.reference.clone()),
        Some(e.idempotency_key.clone()),
        Some(e.actor.clone()),
    ];
    let rating = e.rating.as_ref();
    record.extend([
        rating.map(|r| r.meter.clone()),
        rating.map(|r| usage_text(&r.usage)),
        rating.map(|r| r.book.clone()),
        rating.map(|r| r.version.to_string()),
        rating.map(|r| canonical(r.value)),
        rating.map(|r| canonical(r.carried_in)),
        rating.map(|r| canonical(r.carried_out)),
        e.original_effective_at.map(rfc3339),
    ]);
    record
}

/// A rated entry's usage in one field: `dimension=amount` pairs in dimension order, separated
/// by spaces (`input_tokens=1234 output_tokens=567`).
fn usage_text(usage: &crate::ledger::rating::Usage) -> String {
    let pairs: Vec<String> = (usage.iter())
        .map(|(dimension, amount)| format!("{dimension}={}", canonical(*amount)))
        .collect();
    pairs.join(" ")
}

/// A summary line's record: its net on the debit side when positive (or zero), else on the
/// credit side, rounded to the currency's minor unit and spelled like every other amount (no
/// trailing zeros: "3.3", not "3.30").
pub fn summary_record(line: &SummaryLine, book: Book, by_customer: bool, gl: &GlCodes) -> Record {
    let amount = canonical(line.rounded.abs());
    let (debit, credit) = match line.rounded.is_sign_negative() && !line.rounded.is_zero() {
        false => (Some(amount), None),
        true => (None, Some(amount)),
    };
    let key = &line.key;
    let mut record = vec![
        Some(key.period.clone()),
        Some(book.as_str().into()),
        Some(gl.code(book, &key.ledger_account).into()),
        Some(key.unit.to_string()),
    ];
    if by_customer {
        record.push(key.customer.clone());
    }
    record.extend([debit, credit]);
    record
}

/// Appends the header row (CSV only; JSON Lines names the fields on every line).
pub fn write_header(out: &mut String, format: Format, columns: &[&str]) {
    if format == Format::Csv {
        let header: Record = columns.iter().map(|c| Some(c.to_string())).collect();
        write_record(out, format, columns, &header);
    }
}

/// Appends one line.
pub fn write_record(out: &mut String, format: Format, columns: &[&str], record: &Record) {
    debug_assert_eq!(columns.len(), record.len());
    match format {
        Format::Csv => csv_record(out, columns, record),
        Format::JsonLines => {
            out.push('{');
            for (i, (column, field)) in columns.iter().zip(record).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let value = field.as_deref().map_or(serde_json::Value::Null, |v| {
                    serde_json::Value::String(v.to_string())
                });
                let _ = write!(out, "\"{column}\":{value}");
            }
            out.push('}');
        }
    }
    out.push('\n');
}

/// Columns holding amounts: plain numbers a spreadsheet sums, never neutralised.
const AMOUNT_COLUMNS: &[&str] = &["debit", "credit"];

/// One CSV line (RFC 4180, through the `csv` crate: quoted when a field holds a comma, a quote
/// or a line break, with quotes doubled), every text field neutralised against formula
/// injection.
fn csv_record(out: &mut String, columns: &[&str], record: &Record) {
    let fields = columns.iter().zip(record).map(|(column, field)| {
        let field = field.as_deref().unwrap_or("");
        match AMOUNT_COLUMNS.contains(column) {
            true => std::borrow::Cow::Borrowed(field),
            false => neutralised(field),
        }
    });
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(512)
        .from_writer(Vec::with_capacity(256));
    let line = writer
        .write_record(fields.map(|f| f.into_owned()))
        .and_then(|()| writer.flush().map_err(csv::Error::from))
        .map_err(|e| e.to_string())
        .and_then(|()| writer.into_inner().map_err(|e| e.to_string()));
    match line {
        // The fields are UTF-8 and the writer adds only ASCII.
        Ok(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
        Err(error) => unreachable!("writing CSV to memory cannot fail: {error}"),
    }
    // The terminator is added below, with JSON Lines'.
    if out.ends_with('\n') {
        out.pop();
    }
}

/// A text field a spreadsheet would run as a formula (it begins with `=`, `+`, `-`, `@`, a tab
/// or a carriage return) gets a leading apostrophe, as OWASP recommends: the spreadsheet shows
/// the text as it was, and runs nothing. External ids, references and idempotency keys come from
/// other systems and, through them, from customers.
pub fn neutralised(field: &str) -> std::borrow::Cow<'_, str> {
    match field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => std::borrow::Cow::Owned(format!("'{field}")),
        false => std::borrow::Cow::Borrowed(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::summary::GroupKey;
    use chrono::TimeZone;

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let columns = ["a", "b", "c", "d"];
        let record = vec![
            Some("plain".into()),
            Some("x,y".into()),
            Some("say \"hi\"\nbye".into()),
            None,
        ];
        let mut out = String::new();
        write_record(&mut out, Format::Csv, &columns, &record);
        assert_eq!(out, "plain,\"x,y\",\"say \"\"hi\"\"\nbye\",\n");
    }

    #[test]
    fn json_lines_keep_column_order_and_nulls() {
        let columns = ["a", "b"];
        let mut out = String::new();
        write_record(
            &mut out,
            Format::JsonLines,
            &columns,
            &vec![Some("q\"".into()), None],
        );
        assert_eq!(out, "{\"a\":\"q\\\"\",\"b\":null}\n");
        let parsed: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(parsed["a"], "q\"");
    }

    #[test]
    fn times_are_utc_with_microseconds() {
        let t = Utc.with_ymd_and_hms(2026, 10, 1, 8, 30, 0).unwrap();
        assert_eq!(rfc3339(t), "2026-10-01T08:30:00.000000Z");
    }

    #[test]
    fn money_accounts_map_to_gl_codes_and_quantity_accounts_do_not() {
        let gl = GlCodes(BTreeMap::from([
            ("deferred_revenue".to_string(), "2400".to_string()),
            ("consumed".to_string(), "nope".to_string()),
        ]));
        assert_eq!(gl.code(Book::Money, "deferred_revenue"), "2400");
        assert_eq!(gl.code(Book::Money, "revenue_usage"), "revenue_usage");
        assert_eq!(gl.code(Book::Quantity, "consumed"), "consumed");
    }

    #[test]
    fn summary_records_put_the_net_on_one_side_at_the_minor_unit() {
        let line = |rounded: &str, scale| SummaryLine {
            key: GroupKey {
                period: "2026-10".into(),
                unit: "USD".parse().unwrap(),
                ledger_account: "revenue_usage".into(),
                customer: Some("c1".into()),
            },
            exact: rounded.parse().unwrap(),
            rounded: rounded.parse().unwrap(),
            scale,
        };
        let gl = GlCodes::default();
        let credit = summary_record(&line("-3.3", Some(2)), Book::Money, true, &gl);
        assert_eq!(credit[4].as_deref(), Some("c1"));
        assert_eq!(
            (credit[5].clone(), credit[6].clone()),
            (None, Some("3.3".into()))
        );
        let zero = summary_record(&line("0", Some(2)), Book::Money, false, &gl);
        assert_eq!((zero[4].clone(), zero[5].clone()), (Some("0".into()), None));
    }

    #[test]
    fn empty_periods_and_detail_by_customer_are_refused() {
        let t = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
        let e = ExportSpec::new(t, t, Book::Money, Format::Csv, false, false).unwrap_err();
        assert!(matches!(
            e,
            LedgerError::InvalidArgument { field: "to", .. }
        ));
        let later = t + chrono::Duration::days(1);
        let e = ExportSpec::new(t, later, Book::Money, Format::Csv, false, true).unwrap_err();
        assert!(matches!(
            e,
            LedgerError::InvalidArgument {
                field: "by_customer",
                ..
            }
        ));
    }
}
