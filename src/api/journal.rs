//! `Journal`: the entries, the streaming export, the trial balance and the revenue report, all
//! read straight from the store. The conversions between the wire and the journal's types live
//! here rather than in `convert.rs`, as they concern this service alone.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert as c;
use super::Services;
use crate::journal::close::CloseError;
use crate::journal::export::{ExportSpec, Format, GlCodes};
use crate::journal::exporter::{export_journal, ExportSink};
use crate::journal::margin::{margin_report, Customer, Margin};
use crate::journal::previous_month;
use crate::journal::revenue::{revenue_report, Rollforward};
use crate::journal::trial_balance::{trial_balance, BalanceLine};
use crate::ledger::{Book, EntryKind, LedgerError, Side};
use crate::proto as p;
use crate::store::{EntryFilter, JournalEntry, StoreError};

/// Exports streaming at once; each holds a database connection for its whole length.
pub const EXPORTS_CONCURRENT_MAX: usize = 4;
/// Chunks buffered ahead of a slow client before the export waits for it.
const CHUNKS_AHEAD: usize = 4;

pub struct JournalService {
    services: Arc<Services>,
    gl_codes: Arc<GlCodes>,
    exports: Arc<Semaphore>,
}

impl JournalService {
    pub fn new(services: Arc<Services>, gl_codes: GlCodes) -> Self {
        JournalService {
            services,
            gl_codes: Arc::new(gl_codes),
            exports: Arc::new(Semaphore::new(EXPORTS_CONCURRENT_MAX)),
        }
    }
}

#[tonic::async_trait]
impl p::journal_server::Journal for JournalService {
    type ExportJournalStream = ReceiverStream<Result<p::ExportJournalChunk, Status>>;

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_entries(
        &self,
        request: Request<p::ListEntriesRequest>,
    ) -> Result<Response<p::ListEntriesResponse>, Status> {
        let r = request.into_inner();
        let account = r
            .account
            .map(|account| c::account_ref("account", Some(account)))
            .transpose()?;
        let (from, to) = (c::opt_time("from", r.from)?, c::opt_time("to", r.to)?);
        if let (Some(from), Some(to)) = (from, to) {
            period(from, to)?;
        }
        let kinds = r.kinds.into_iter().map(kind).collect::<Result<_, _>>()?;
        let newest_first = order(r.order)?;
        let size = self.services.page_size(r.page_size);
        let after = seq_token(&r.page_token)?;
        (self.services).scope(account.as_ref()).await?;
        let account_id = match account {
            Some(account) => Some(self.services.resolve_existing(account).await?),
            None => None,
        };
        let filter = EntryFilter {
            account_id,
            from,
            to,
            kinds,
            newest_first,
            from_seq: None,
        };
        let entries = self
            .services
            .store
            .list_entries(&filter, after, size)
            .await?;
        let next_page_token = match entries.len() as u32 == size {
            true => entries
                .last()
                .map(|e| e.seq.to_string())
                .unwrap_or_default(),
            false => String::new(),
        };
        Ok(Response::new(p::ListEntriesResponse {
            entries: entries.iter().map(journal_entry).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn export_journal(
        &self,
        request: Request<p::ExportJournalRequest>,
    ) -> Result<Response<Self::ExportJournalStream>, Status> {
        let spec = export_spec(request.into_inner())?;
        let permit =
            self.exports.clone().try_acquire_owned().map_err(|_| {
                Status::resource_exhausted("too many exports in flight; retry shortly")
            })?;
        let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
        let store = self.services.store.clone();
        let gl = self.gl_codes.clone();
        let mut shutdown = self.services.shutdown.clone();
        let stopping = async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::spawn(async move {
            let _permit = permit;
            let mut sink = ChannelSink(tx.clone());
            // A long export must not hold the server open at shutdown: it ends UNAVAILABLE, and
            // the client exports again from another instance or after the restart.
            let result = tokio::select! {
                result = export_journal(&store, &spec, &gl, &mut sink) => result,
                () = stopping => {
                    let status = Status::unavailable("the server is shutting down; export again");
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            match result {
                Ok(stats) => tracing::debug!(?stats, "export done"),
                Err(error) => {
                    let status = match error.downcast::<StoreError>() {
                        Ok(store_error) => Status::from(store_error),
                        Err(other) => {
                            tracing::debug!(error = %other, "export ended early");
                            Status::cancelled("export ended early")
                        }
                    };
                    let _ = tx.send(Err(status)).await;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn get_trial_balance(
        &self,
        request: Request<p::GetTrialBalanceRequest>,
    ) -> Result<Response<p::GetTrialBalanceResponse>, Status> {
        let r = request.into_inner();
        let as_of = c::opt_time("as_of", r.as_of)?.unwrap_or_else(|| self.services.clock.now());
        let books = trial_balance(&self.services.store, as_of, r.detail).await?;
        let books = books
            .into_iter()
            .map(|b| p::TrialBalanceBook {
                book: book_to_proto(b.book) as i32,
                lines: b.lines.iter().map(balance_line).collect(),
                totals: b.totals.iter().map(balance_line).collect(),
            })
            .collect();
        Ok(Response::new(p::GetTrialBalanceResponse {
            as_of: Some(c::timestamp(as_of)),
            books,
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn close_period(
        &self,
        request: Request<p::ClosePeriodRequest>,
    ) -> Result<Response<p::ClosedPeriod>, Status> {
        let month = request.into_inner().month;
        let now = self.services.clock.now();
        match crate::journal::close::close_month(&self.services.store, &month, now).await {
            Ok(closed) => Ok(Response::new(closed_period(&closed))),
            Err(CloseError::Refused(error)) => Err(error.into()),
            Err(CloseError::Store(error)) => Err(error.into()),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_closed_periods(
        &self,
        _request: Request<p::ListClosedPeriodsRequest>,
    ) -> Result<Response<p::ListClosedPeriodsResponse>, Status> {
        let closes = self.services.store.period_closes().await?;
        Ok(Response::new(p::ListClosedPeriodsResponse {
            periods: closes.iter().map(closed_period).collect(),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn get_margin_report(
        &self,
        request: Request<p::GetMarginReportRequest>,
    ) -> Result<Response<p::GetMarginReportResponse>, Status> {
        let r = request.into_inner();
        let (from, to) = report_period(r.from, r.to, self.services.clock.now())?;
        let reports = margin_report(&self.services.store, from, to).await?;
        let currencies = reports
            .iter()
            .map(|report| p::MarginReport {
                currency: report.currency.to_string(),
                total: Some(margin_line(None, None, &report.total)),
                by_customer: (report.by_customer.iter())
                    .map(|(customer, m)| margin_line(Some(customer), None, m))
                    .collect(),
                by_meter: (report.by_meter.iter())
                    .map(|(meter, m)| margin_line(None, Some(meter), m))
                    .collect(),
                by_customer_and_meter: (report.by_customer_and_meter.iter())
                    .map(|(customer, meter, m)| margin_line(Some(customer), Some(meter), m))
                    .collect(),
            })
            .collect();
        Ok(Response::new(p::GetMarginReportResponse {
            from: Some(c::timestamp(from)),
            to: Some(c::timestamp(to)),
            currencies,
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn get_revenue_report(
        &self,
        request: Request<p::GetRevenueReportRequest>,
    ) -> Result<Response<p::GetRevenueReportResponse>, Status> {
        let r = request.into_inner();
        let (from, to) = report_period(r.from, r.to, self.services.clock.now())?;
        let account_id = match r.account {
            Some(account) => Some(
                self.services
                    .resolve_existing(c::account_ref("account", Some(account))?)
                    .await?,
            ),
            None => None,
        };
        let reports = revenue_report(&self.services.store, from, to, account_id).await?;
        let currencies = reports
            .into_iter()
            .map(|report| p::RevenueReport {
                customers: report
                    .customers
                    .iter()
                    .map(|cust| {
                        revenue_line(
                            &cust.account_id.to_string(),
                            &cust.external_id,
                            &cust.rollforward,
                        )
                    })
                    .collect(),
                total: Some(revenue_line("", "", &report.total)),
                currency: report.currency.to_string(),
            })
            .collect();
        Ok(Response::new(p::GetRevenueReportResponse {
            from: Some(c::timestamp(from)),
            to: Some(c::timestamp(to)),
            currencies,
        }))
    }
}

/// Hands the export's chunks to the gRPC stream; a full channel makes the export wait for the
/// client, and a closed one (the client went away) ends it.
struct ChannelSink(mpsc::Sender<Result<p::ExportJournalChunk, Status>>);

#[async_trait::async_trait]
impl ExportSink for ChannelSink {
    async fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.0
            .send(Ok(p::ExportJournalChunk { data: chunk }))
            .await
            .map_err(|_| anyhow::anyhow!("the client went away"))
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> LedgerError {
    LedgerError::InvalidArgument {
        field,
        reason: reason.into(),
    }
}

/// A non-empty period [from, to).
/// A report's period [from, to): both given, or neither for the previous calendar month.
fn report_period(
    from: Option<prost_types::Timestamp>,
    to: Option<prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), LedgerError> {
    match (c::opt_time("from", from)?, c::opt_time("to", to)?) {
        (Some(from), Some(to)) => period(from, to),
        (None, None) => Ok(previous_month(now)),
        (Some(_), None) => Err(invalid("to", "give both from and to, or neither")),
        (None, Some(_)) => Err(invalid("from", "give both from and to, or neither")),
    }
}

fn period(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), LedgerError> {
    if from >= to {
        return Err(invalid("to", format!("must be after from ({from})")));
    }
    Ok((from, to))
}

fn export_spec(r: p::ExportJournalRequest) -> Result<ExportSpec, LedgerError> {
    let from = c::time("from", r.from.ok_or_else(|| invalid("from", "required"))?)?;
    let to = c::time("to", r.to.ok_or_else(|| invalid("to", "required"))?)?;
    let book = match p::Book::try_from(r.book) {
        Ok(p::Book::Unspecified | p::Book::Money) => Book::Money,
        Ok(p::Book::Quantity) => Book::Quantity,
        Err(_) => return Err(invalid("book", format!("unknown book {}", r.book))),
    };
    let format = match p::ExportFormat::try_from(r.format) {
        Ok(p::ExportFormat::Csv) => Format::Csv,
        Ok(p::ExportFormat::JsonLines) => Format::JsonLines,
        Err(_) => return Err(invalid("format", format!("unknown format {}", r.format))),
    };
    ExportSpec::new(from, to, book, format, r.summary, r.by_customer)
}

fn order(o: i32) -> Result<bool, LedgerError> {
    match p::EntryOrder::try_from(o) {
        Ok(p::EntryOrder::OldestFirst) => Ok(false),
        Ok(p::EntryOrder::NewestFirst) => Ok(true),
        Err(_) => Err(invalid("order", format!("unknown order {o}"))),
    }
}

fn kind(k: i32) -> Result<EntryKind, LedgerError> {
    match p::EntryKind::try_from(k) {
        Ok(p::EntryKind::TopUp) => Ok(EntryKind::TopUp),
        Ok(p::EntryKind::Grant) => Ok(EntryKind::Grant),
        Ok(p::EntryKind::Capture) => Ok(EntryKind::Capture),
        Ok(p::EntryKind::Debit) => Ok(EntryKind::Debit),
        Ok(p::EntryKind::Expiry) => Ok(EntryKind::Expiry),
        Ok(p::EntryKind::Void) => Ok(EntryKind::Void),
        Ok(p::EntryKind::Adjustment) => Ok(EntryKind::Adjustment),
        Ok(p::EntryKind::TrueUp) => Ok(EntryKind::TrueUp),
        Ok(p::EntryKind::Unspecified) | Err(_) => {
            Err(invalid("kinds", format!("unknown kind {k}")))
        }
    }
}

fn kind_to_proto(k: EntryKind) -> p::EntryKind {
    match k {
        EntryKind::TopUp => p::EntryKind::TopUp,
        EntryKind::Grant => p::EntryKind::Grant,
        EntryKind::Capture => p::EntryKind::Capture,
        EntryKind::Debit => p::EntryKind::Debit,
        EntryKind::Expiry => p::EntryKind::Expiry,
        EntryKind::Void => p::EntryKind::Void,
        EntryKind::Adjustment => p::EntryKind::Adjustment,
        EntryKind::TrueUp => p::EntryKind::TrueUp,
    }
}

fn book_to_proto(b: Book) -> p::Book {
    match b {
        Book::Quantity => p::Book::Quantity,
        Book::Money => p::Book::Money,
    }
}

/// Page tokens of entries are the last sequence number of the previous page.
fn seq_token(token: &str) -> Result<Option<i64>, LedgerError> {
    if token.is_empty() {
        return Ok(None);
    }
    match token.parse::<i64>() {
        Ok(seq) if seq >= 0 && !token.starts_with('+') => Ok(Some(seq)),
        _ => {
            let token = crate::ledger::amount::truncated(token);
            Err(invalid(
                "page_token",
                format!("not a page token: {token:?}"),
            ))
        }
    }
}

fn closed_period(c: &crate::store::PeriodClose) -> p::ClosedPeriod {
    p::ClosedPeriod {
        period: c.period.clone(),
        period_start: Some(c::timestamp(c.start)),
        period_end: Some(c::timestamp(c.end)),
        closed_at: Some(c::timestamp(c.closed_at)),
        closed: c.closed,
        last_seq: c.last_seq,
        last_hash: c.last_hash.clone(),
        lines: c.lines,
        prev_hash: c.prev_hash.clone(),
        hash: c.hash.clone(),
    }
}

fn journal_entry(j: &JournalEntry) -> p::JournalEntry {
    let e = &j.entry;
    let postings = e
        .postings
        .iter()
        .map(|posting| p::JournalPosting {
            book: book_to_proto(posting.book) as i32,
            ledger_account: posting.ledger_account.to_string(),
            side: match posting.side {
                Side::Debit => p::Side::Debit,
                Side::Credit => p::Side::Credit,
            } as i32,
            amount: c::amount(posting.amount),
            unit: posting.unit.to_string(),
            lot_id: posting.lot_id.map(|l| l.to_string()).unwrap_or_default(),
        })
        .collect();
    p::JournalEntry {
        seq: j.seq,
        entry_id: e.id.to_string(),
        account_id: e.account_id.to_string(),
        external_id: j.external_id.clone(),
        account_seq: e.account_seq,
        kind: kind_to_proto(e.kind) as i32,
        effective_at: Some(c::timestamp(e.effective_at)),
        recorded_at: Some(c::timestamp(e.recorded_at)),
        idempotency_key: e.idempotency_key.clone(),
        reference: e.reference.clone(),
        lot_id: e.lot_id.map(|l| l.to_string()).unwrap_or_default(),
        hold_id: e.hold_id.map(|h| h.to_string()).unwrap_or_default(),
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
        actor: e.actor.clone(),
        original_effective_at: e.original_effective_at.map(c::timestamp),
        postings,
        rating: e.rating.as_ref().map(|r| p::EntryRating {
            meter: r.meter.clone(),
            usage: (r.usage.iter())
                .map(|(dimension, amount)| (dimension.clone(), c::amount(*amount)))
                .collect(),
            book: r.book.clone(),
            version: r.version,
            value: c::amount(r.value),
            carried_in: c::amount(r.carried_in),
            carried_out: c::amount(r.carried_out),
        }),
    }
}

fn balance_line(l: &BalanceLine) -> p::TrialBalanceLine {
    p::TrialBalanceLine {
        ledger_account: l.ledger_account.clone(),
        unit: l.unit.to_string(),
        debits: c::amount(l.debits),
        credits: c::amount(l.credits),
        balance: c::amount(l.balance()),
    }
}

fn revenue_line(account_id: &str, external_id: &str, r: &Rollforward) -> p::RevenueLine {
    p::RevenueLine {
        account_id: account_id.to_string(),
        external_id: external_id.to_string(),
        opening_deferred: c::amount(r.opening),
        top_ups: c::amount(r.top_ups),
        recognized_usage: c::amount(r.recognized_usage),
        breakage: c::amount(r.breakage),
        refunds: c::amount(r.refunds),
        adjustments: c::amount(r.adjustments),
        other: c::amount(r.other),
        closing_deferred: c::amount(r.closing()),
        lots_deferred_at_close: c::amount(r.lots_deferred_at_close),
        ties: r.ties(),
        credit_line_usage_revenue: c::amount(r.credit_line_usage_revenue),
        commitment_shortfall_revenue: c::amount(r.commitment_shortfall_revenue),
    }
}

fn margin_line(customer: Option<&Customer>, meter: Option<&String>, m: &Margin) -> p::MarginLine {
    p::MarginLine {
        account_id: customer
            .map(|c| c.account_id.to_string())
            .unwrap_or_default(),
        external_id: customer.map(|c| c.external_id.clone()).unwrap_or_default(),
        meter: match meter.map(String::as_str) {
            None => String::new(),
            Some("") => "-".into(),
            Some(meter) => meter.into(),
        },
        revenue: c::amount(m.revenue),
        cost: c::amount(m.cost),
        margin: c::amount(m.margin()),
        margin_pct: m.margin_pct().map(c::amount).unwrap_or_default(),
        promotional_cost: c::amount(m.promotional_cost),
    }
}
