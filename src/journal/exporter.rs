//! The streaming export that both `ExportJournal` and `credit-ledger export` run: it walks the
//! period's entries a page at a time inside one snapshot and hands whole lines to an
//! [`ExportSink`] in chunks, so neither side ever holds the journal in memory. A detail export
//! writes as it reads; a summary export keeps one running sum per group and writes at the end.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use futures::TryStreamExt as _;

use super::export::{summary_record, write_detail, Lines, CHUNK};
use super::export::{ExportSpec, GlCodes};
use super::summary::Summarizer;
use crate::config::DatabaseUrl;
use crate::store::{EntryFilter, JournalEntry, JournalReader, Store, StoreResult};
use tokio::sync::mpsc;

/// Where an export's chunks go: a gRPC stream, a file, stdout.
#[async_trait::async_trait]
pub trait ExportSink: Send {
    /// Takes a chunk of whole lines; an error (say, the client went away) ends the export.
    async fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()>;

    /// Whether to count the entries first and report [`ExportSink::progress`] (detail only).
    fn wants_progress(&self) -> bool {
        false
    }

    fn progress(&mut self, _entries_done: u64, _entries_total: u64) {}
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub entries: u64,
    /// Lines after the header.
    pub rows: u64,
    pub bytes: u64,
}

/// Runs the export described by `spec` to `sink`.
pub async fn export_journal(
    store: &Store,
    spec: &ExportSpec,
    gl: &GlCodes,
    sink: &mut dyn ExportSink,
) -> anyhow::Result<ExportStats> {
    let filter = EntryFilter {
        from: Some(spec.from),
        to: Some(spec.to),
        ..EntryFilter::default()
    };
    let mut reader = store.journal_reader().await?;
    let total = match !spec.summary && sink.wants_progress() {
        true => Some(reader.count_entries(&filter).await?),
        false => None,
    };
    let mut out = Lines::new(spec.format, spec.columns());
    let mut stats = ExportStats::default();
    let mut summary = spec
        .summary
        .then(|| Summarizer::new(spec.book, spec.by_customer));
    // Reading and decoding run on a task of their own, so the lines of one batch are written
    // while the next is read: on two cores, the export costs the larger of the two, not both.
    let (batches, mut read) = tokio::sync::mpsc::channel(BATCHES_IN_FLIGHT);
    let reading = tokio::spawn(read_batches(reader, filter, batches));
    while let Some(batch) = read.recv().await {
        for journal_entry in batch? {
            stats.entries += 1;
            if let Some(summary) = &mut summary {
                for p in &journal_entry.entry.postings {
                    let effective_at = journal_entry.entry.effective_at;
                    summary.add(effective_at, p, &journal_entry.external_id);
                }
                continue;
            }
            stats.rows += write_detail(&mut out, &journal_entry, spec.book, gl);
            if out.len() >= CHUNK {
                stats.bytes += out.len() as u64;
                sink.write(out.take()).await?;
                if let Some(total) = total {
                    sink.progress(stats.entries, total);
                }
            }
        }
    }
    reading.await.context("the export's reading task")??;
    for line in summary.map(Summarizer::finish).unwrap_or_default() {
        let record = summary_record(&line, spec.book, spec.by_customer, gl);
        out.record(&record);
        stats.rows += 1;
        if out.len() >= CHUNK {
            stats.bytes += out.len() as u64;
            sink.write(out.take()).await?;
        }
    }
    if !out.is_empty() {
        stats.bytes += out.len() as u64;
        sink.write(out.take()).await?;
    }
    Ok(stats)
}

/// Entries handed from the reading task to the writing one at a time.
const BATCH: usize = 256;
/// Batches read ahead of the writing (with `BATCH`, what bounds the export's memory).
const BATCHES_IN_FLIGHT: usize = 4;

/// Streams what `filter` selects through `reader` to `batches`, then ends the snapshot. A read
/// error is sent on, and ends the reading; so does the writing side going away.
async fn read_batches(
    mut reader: JournalReader,
    filter: EntryFilter,
    batches: mpsc::Sender<StoreResult<Vec<JournalEntry>>>,
) -> StoreResult<()> {
    let query = reader.query(&filter);
    let mut entries = reader.stream(&query);
    let mut batch = Vec::with_capacity(BATCH);
    let mut writing = true;
    while writing {
        match entries.try_next().await {
            Ok(Some(entry)) => batch.push(entry),
            Ok(None) => break,
            Err(error) => {
                let _ = batches.send(Err(error)).await;
                batch.clear();
                break;
            }
        }
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            writing = batches.send(Ok(full)).await.is_ok();
        }
    }
    if writing && !batch.is_empty() {
        let _ = batches.send(Ok(batch)).await;
    }
    drop(entries);
    reader.finish().await
}

/// `credit-ledger export`: runs the export straight on the database at `database_url` (no
/// server) into `output`, or stdout when `None`. A detail export shows a progress line on
/// stderr when stderr is a terminal.
pub async fn export_to(
    database_url: &DatabaseUrl,
    spec: &ExportSpec,
    gl: &GlCodes,
    output: Option<&Path>,
) -> anyhow::Result<ExportStats> {
    let store = Store::connect(database_url, 1, Duration::from_secs(10)).await?;
    let writer: Box<dyn std::io::Write + Send> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut sink = WriterSink {
        writer: std::io::BufWriter::new(writer),
        progress: (!spec.summary && std::io::stderr().is_terminal()).then(Progress::default),
    };
    let result = export_journal(&store, spec, gl, &mut sink).await;
    store.close().await;
    if let Some(progress) = &mut sink.progress {
        progress.clear();
    }
    let stats = result?;
    sink.writer.flush().context("writing the export")?;
    Ok(stats)
}

struct WriterSink {
    writer: std::io::BufWriter<Box<dyn std::io::Write + Send>>,
    progress: Option<Progress>,
}

#[async_trait::async_trait]
impl ExportSink for WriterSink {
    async fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.writer.write_all(&chunk).context("writing the export")
    }

    fn wants_progress(&self) -> bool {
        self.progress.is_some()
    }

    fn progress(&mut self, entries_done: u64, entries_total: u64) {
        if let Some(progress) = &mut self.progress {
            progress.show(entries_done, entries_total);
        }
    }
}

/// The progress line on stderr, redrawn in place with `\r` when the percentage moves.
#[derive(Debug, Default)]
struct Progress {
    shown_percent: Option<u64>,
}

impl Progress {
    fn show(&mut self, done: u64, total: u64) {
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        if self.shown_percent == Some(percent) {
            return;
        }
        self.shown_percent = Some(percent);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\rexporting: {done}/{total} entries ({percent}%)");
        let _ = stderr.flush();
    }

    /// Blanks the line, so what follows on the terminal starts clean.
    fn clear(&mut self) {
        if self.shown_percent.take().is_some() {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
        }
    }
}
