//! What a journal export is asked for ([`ExportSpec`]), the lines it writes (a detail record per
//! posting, a summary record per group) and their text: CSV with a header and quoting, or JSON
//! Lines keyed by the same column names. Pure: the streaming lives in `exporter`.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use chrono::{DateTime, Utc};

use super::summary::SummaryLine;
use crate::ledger::amount::{canonical, Canonical};
use crate::ledger::{Book, LedgerError, Side};
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
    Rfc3339(t).to_string()
}

/// [`rfc3339`] as it is written, without a string of its own.
struct Rfc3339(DateTime<Utc>);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::format::{Fixed, Item, Numeric::*, Pad::Zero};
        const ITEMS: &[Item<'static>] = &[
            Item::Numeric(Year, Zero),
            Item::Literal("-"),
            Item::Numeric(Month, Zero),
            Item::Literal("-"),
            Item::Numeric(Day, Zero),
            Item::Literal("T"),
            Item::Numeric(Hour, Zero),
            Item::Literal(":"),
            Item::Numeric(Minute, Zero),
            Item::Literal(":"),
            Item::Numeric(Second, Zero),
            Item::Fixed(Fixed::Nanosecond6),
            Item::Literal("Z"),
        ];
        write!(f, "{}", self.0.format_with_items(ITEMS.iter()))
    }
}

/// A detail line's field: empty, text the entry (or the GL codes) holds, or text written into
/// the export's scratch buffer, so no field needs a string of its own.
#[derive(Debug, Clone)]
enum Field<'a> {
    Empty,
    Held(&'a str),
    Written(std::ops::Range<usize>),
}

impl Field<'_> {
    fn text<'t>(&'t self, scratch: &'t str) -> Option<&'t str> {
        match self {
            Field::Empty => None,
            Field::Held(text) => Some(text),
            Field::Written(range) => Some(&scratch[range.clone()]),
        }
    }
}

/// Writes `value` at the end of `scratch`; the field is where it went.
fn written(scratch: &mut String, value: impl fmt::Display) -> Field<'static> {
    let start = scratch.len();
    let _ = write!(scratch, "{value}");
    Field::Written(start..scratch.len())
}

/// Writes the detail line of each of an entry's postings in `book`, and answers how many. The
/// entry's own fields are spelled once, for all its lines.
pub fn write_detail(
    lines: &mut Lines,
    journal_entry: &JournalEntry,
    book: Book,
    gl: &GlCodes,
) -> u64 {
    use Field::{Empty, Held};
    let e = &journal_entry.entry;
    let mut postings = e.postings.iter().filter(|p| p.book == book).peekable();
    if postings.peek().is_none() {
        return 0;
    }
    let mut scratch = std::mem::take(&mut lines.scratch);
    scratch.clear();
    let s = &mut scratch;
    let rating = e.rating.as_ref();
    // In DETAIL_COLUMNS order; the posting's own fields are filled in per line.
    let mut fields: [Field; 25] = [
        written(s, journal_entry.seq),
        written(s, e.id),
        Held(e.kind.as_str()),
        written(s, Rfc3339(e.effective_at)),
        written(s, Rfc3339(e.recorded_at)),
        Held(book.as_str()),
        Empty, // ledger_account
        Empty, // debit
        Empty, // credit
        Empty, // unit_or_currency
        written(s, e.account_id),
        Held(&journal_entry.external_id),
        Empty, // lot_id
        e.hold_id.map_or(Empty, |h| written(s, h)),
        Held(&e.reference),
        Held(&e.idempotency_key),
        Held(&e.actor),
        rating.map_or(Empty, |r| Held(&r.meter)),
        rating.map_or(Empty, |r| written(s, usage_text(&r.usage))),
        rating.map_or(Empty, |r| Held(&r.book)),
        rating.map_or(Empty, |r| written(s, r.version)),
        rating.map_or(Empty, |r| written(s, Canonical(r.value))),
        rating.map_or(Empty, |r| written(s, Canonical(r.carried_in))),
        rating.map_or(Empty, |r| written(s, Canonical(r.carried_out))),
        e.original_effective_at
            .map_or(Empty, |t| written(s, Rfc3339(t))),
    ];
    let entry_fields = s.len();
    let mut written_lines = 0;
    for p in postings {
        s.truncate(entry_fields);
        // Only a named account can have a GL code; a lot's or a credit line's is spelled.
        fields[6] = match p.ledger_account.name() {
            Some(name) => Held(gl.code(p.book, name)),
            None => written(s, p.ledger_account),
        };
        let amount = written(s, Canonical(p.amount));
        (fields[7], fields[8]) = match p.side {
            Side::Debit => (amount, Empty),
            Side::Credit => (Empty, amount),
        };
        fields[9] = Held(p.unit.as_str());
        fields[12] = p.lot_id.map_or(Empty, |l| written(s, l));
        lines.fields(fields.iter().map(|f| f.text(s)));
        written_lines += 1;
    }
    lines.scratch = scratch;
    written_lines
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

/// An export's text as it is written: lines appended one at a time into one buffer, taken a
/// chunk at a time. CSV goes through one `csv` writer for the whole export (RFC 4180: quoted
/// when a field holds a comma, a quote or a line break, with quotes doubled); every text field
/// is neutralised against formula injection.
pub struct Lines {
    format: Format,
    columns: &'static [&'static str],
    /// Which columns hold amounts: plain numbers a spreadsheet sums, never neutralised.
    amounts: Vec<bool>,
    /// CSV lines are written here; a chunk is taken by swapping in a fresh writer.
    csv: csv::Writer<Vec<u8>>,
    /// JSON lines are written here.
    json: Vec<u8>,
    /// Where a detail line's fields are spelled (kept, so its capacity is reused).
    scratch: String,
}

/// Columns holding amounts.
const AMOUNT_COLUMNS: &[&str] = &["debit", "credit"];

impl Lines {
    /// Lines of `columns`, with the header first (CSV only; JSON Lines names the fields on
    /// every line).
    pub fn new(format: Format, columns: &'static [&'static str]) -> Lines {
        let mut lines = Lines {
            format,
            columns,
            amounts: columns.iter().map(|c| AMOUNT_COLUMNS.contains(c)).collect(),
            csv: csv_writer(),
            json: Vec::new(),
            scratch: String::new(),
        };
        if format == Format::Csv {
            lines.fields(columns.iter().map(|c| Some(*c)));
        }
        lines
    }

    /// Appends one line.
    pub fn record(&mut self, record: &Record) {
        debug_assert_eq!(self.columns.len(), record.len());
        self.fields(record.iter().map(Option::as_deref));
    }

    /// Appends one line of these fields, one per column in order (`None`: empty, or null).
    pub fn fields<'a>(&mut self, fields: impl Iterator<Item = Option<&'a str>>) {
        match self.format {
            Format::Csv => {
                for (field, amount) in fields.zip(&self.amounts) {
                    let field = field.unwrap_or("");
                    let written = match amount {
                        true => self.csv.write_field(field),
                        false => self.csv.write_field(neutralised(field).as_bytes()),
                    };
                    if let Err(error) = written {
                        unreachable!("writing CSV to memory cannot fail: {error}");
                    }
                }
                if let Err(error) = self.csv.write_record(None::<&[u8]>) {
                    unreachable!("writing CSV to memory cannot fail: {error}");
                }
            }
            Format::JsonLines => {
                let out = &mut self.json;
                out.push(b'{');
                for (i, (column, field)) in self.columns.iter().zip(fields).enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    // Column names are plain identifiers: nothing to escape.
                    out.push(b'"');
                    out.extend_from_slice(column.as_bytes());
                    out.extend_from_slice(b"\":");
                    if let Err(error) = serde_json::to_writer(&mut *out, &field) {
                        unreachable!("writing JSON to memory cannot fail: {error}");
                    }
                }
                out.extend_from_slice(b"}\n");
            }
        }
    }

    /// Bytes written and not yet taken.
    pub fn len(&mut self) -> usize {
        self.flush();
        self.csv.get_ref().len() + self.json.len()
    }

    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// The whole lines written since the last take.
    pub fn take(&mut self) -> Vec<u8> {
        if self.format == Format::JsonLines {
            return std::mem::take(&mut self.json);
        }
        match std::mem::replace(&mut self.csv, csv_writer()).into_inner() {
            Ok(bytes) => bytes,
            Err(error) => unreachable!("writing CSV to memory cannot fail: {error}"),
        }
    }

    fn flush(&mut self) {
        if let Err(error) = self.csv.flush() {
            unreachable!("writing CSV to memory cannot fail: {error}");
        }
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::with_capacity(2 * CHUNK))
}

/// Bytes of whole lines gathered before a chunk goes out (well under a gRPC message's limit).
pub const CHUNK: usize = 64 * 1024;

/// A text field a spreadsheet would run as a formula (it begins with `=`, `+`, `-`, `@`, a tab
/// or a carriage return) gets a leading apostrophe, as OWASP recommends: the spreadsheet shows
/// the text as it was, and runs nothing. External ids, references and idempotency keys come from
/// other systems and, through them, from customers.
pub fn neutralised(field: &str) -> std::borrow::Cow<'_, str> {
    match matches!(
        field.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    ) {
        true => std::borrow::Cow::Owned(format!("'{field}")),
        false => std::borrow::Cow::Borrowed(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::summary::GroupKey;
    use chrono::TimeZone;

    /// The text of `records` as [`Lines`] writes them, the header aside.
    fn text(format: Format, columns: &'static [&'static str], records: &[Record]) -> String {
        let mut lines = Lines::new(format, columns);
        let _header = lines.take();
        for record in records {
            lines.record(record);
        }
        String::from_utf8(lines.take()).unwrap()
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let record = vec![
            Some("plain".into()),
            Some("x,y".into()),
            Some("say \"hi\"\nbye".into()),
            None,
        ];
        let out = text(Format::Csv, &["a", "b", "c", "d"], &[record]);
        assert_eq!(out, "plain,\"x,y\",\"say \"\"hi\"\"\nbye\",\n");
    }

    #[test]
    fn csv_neutralises_text_but_not_amounts_and_writes_its_header_once() {
        let mut lines = Lines::new(Format::Csv, &["reference", "debit"]);
        lines.record(&vec![Some("=1+1".into()), Some("-5".into())]);
        lines.record(&vec![Some("@x".into()), None]);
        let out = String::from_utf8(lines.take()).unwrap();
        assert_eq!(out, "reference,debit\n'=1+1,-5\n'@x,\n");
        assert!(lines.is_empty());
    }

    #[test]
    fn json_lines_keep_column_order_and_nulls() {
        let out = text(
            Format::JsonLines,
            &["a", "b"],
            &[vec![Some("q\"".into()), None]],
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
