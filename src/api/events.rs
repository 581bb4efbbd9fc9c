//! `Events`: a subscription streams the outbox from a cursor. Each subscription polls the store
//! (every `events_poll_ms`) for events after the last seq it sent; seq follows commit order (see
//! the events table), so a cursor never passes an event that is yet to commit. The stream ends
//! when the client goes away or the server shuts down; the client resumes from its last seq.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert as c;
use super::Services;
use crate::ledger::{EventData, LedgerError};
use crate::proto as p;
use crate::store::StoredEvent;

pub struct EventsService(pub Arc<Services>);

/// Events read per query.
const PAGE: u32 = 500;

type EventStream = Pin<Box<dyn Stream<Item = Result<p::Event, Status>> + Send>>;

#[tonic::async_trait]
impl p::events_server::Events for EventsService {
    type SubscribeStream = EventStream;

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn subscribe(
        &self,
        request: Request<p::SubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let r = request.into_inner();
        let services = self.0.clone();
        let account = match r.account {
            Some(a) if a.r#ref.is_some() => Some(c::account_ref("account", Some(a))?),
            _ => None,
        };
        let kinds = r
            .kinds
            .iter()
            .map(|&k| match p::EventKind::try_from(k) {
                Ok(p::EventKind::Unspecified) | Err(_) => Err(LedgerError::InvalidArgument {
                    field: "kinds",
                    reason: format!("unknown event kind {k}"),
                }),
                Ok(kind) => Ok(kind),
            })
            .collect::<Result<HashSet<_>, _>>()?;
        let after_seq = i64::try_from(r.after_seq).map_err(|_| LedgerError::InvalidArgument {
            field: "after_seq",
            reason: format!("at most {}", i64::MAX),
        })?;
        services.scope(account.as_ref()).await?;
        let account = match account {
            Some(account) => Some(services.resolve_existing(account).await?),
            None => None,
        };
        let mut cursor = match r.from_now {
            true => services.store.events_head().await?,
            false => after_seq,
        };
        let (tx, rx) = mpsc::channel(PAGE as usize);
        let mut shutdown = services.shutdown.clone();
        let metrics = services.executor.metrics().clone();
        tokio::spawn(async move {
            metrics.subscriptions.inc();
            let _open = OnDrop(|| {
                metrics.subscriptions.dec();
            });
            loop {
                if *shutdown.borrow() {
                    return;
                }
                let events = match services.store.events_after(cursor, account, PAGE).await {
                    Ok(events) => events,
                    Err(error) => {
                        tracing::warn!(%error, "event subscription could not read the outbox");
                        let _ = tx.send(Err(Status::from(error))).await;
                        return;
                    }
                };
                let full = events.len() == PAGE as usize;
                for stored in events {
                    cursor = stored.seq;
                    let event = event(&stored);
                    if !kinds.is_empty() && !kinds.contains(&event.kind()) {
                        continue;
                    }
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                    metrics.events_sent.inc();
                    let lag = services.clock.now() - stored.event.occurred_at;
                    let lag = lag.to_std().unwrap_or_default().as_secs_f64();
                    metrics.event_lag_seconds.observe(lag);
                }
                if full {
                    continue;
                }
                tokio::select! {
                    _ = tokio::time::sleep(services.events_poll) => {}
                    _ = shutdown.changed() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

fn event(stored: &StoredEvent) -> p::Event {
    use p::event::Detail;
    let e = &stored.event;
    let (kind, detail) = match &e.data {
        EventData::LowBalance {
            available,
            threshold,
        } => (
            p::EventKind::LowBalance,
            Detail::LowBalance(p::LowBalance {
                available: c::amount(*available),
                threshold: c::amount(*threshold),
            }),
        ),
        EventData::Depleted { available } => (
            p::EventKind::Depleted,
            Detail::Depleted(p::Depleted {
                available: c::amount(*available),
            }),
        ),
        EventData::LotExpired {
            lot_id,
            quantity,
            money,
            currency,
            expired_at,
        } => (
            p::EventKind::LotExpired,
            Detail::LotExpired(p::LotExpired {
                lot_id: lot_id.to_string(),
                quantity: c::amount(*quantity),
                money: c::amount(*money),
                currency: c::opt_code(*currency),
                expired_at: Some(c::timestamp(*expired_at)),
            }),
        ),
        EventData::HoldExpired {
            hold_id,
            released,
            expired_at,
        } => (
            p::EventKind::HoldExpired,
            Detail::HoldExpired(p::HoldExpired {
                hold_id: hold_id.to_string(),
                released: c::amount(*released),
                expired_at: Some(c::timestamp(*expired_at)),
            }),
        ),
        EventData::CommitmentEnding {
            commitment_id,
            term_end,
        } => (
            p::EventKind::CommitmentEnding,
            Detail::CommitmentEnding(p::CommitmentEnding {
                commitment_id: commitment_id.to_string(),
                term_end: Some(c::timestamp(*term_end)),
            }),
        ),
        EventData::LowBalanceRecovered {
            available,
            threshold,
        } => (
            p::EventKind::LowBalanceRecovered,
            Detail::LowBalanceRecovered(p::LowBalanceRecovered {
                available: c::amount(*available),
                threshold: threshold.map(c::amount).unwrap_or_default(),
            }),
        ),
        EventData::BudgetAlert {
            budget_id,
            subject,
            meter,
            percent,
            spent,
            limit,
        } => (
            p::EventKind::BudgetAlert,
            Detail::BudgetAlert(p::BudgetAlert {
                budget_id: budget_id.to_string(),
                subject: subject.clone(),
                meter: meter.clone(),
                percent: *percent,
                spent: c::amount(*spent),
                limit: c::amount(*limit),
            }),
        ),
        EventData::BudgetExceeded {
            budget_id,
            subject,
            meter,
            limit,
            spent,
            held,
            requested,
        } => (
            p::EventKind::BudgetExceeded,
            Detail::BudgetExceeded(p::BudgetExceeded {
                budget_id: budget_id.to_string(),
                subject: subject.clone(),
                meter: meter.clone(),
                limit: c::amount(*limit),
                spent: c::amount(*spent),
                held: c::amount(*held),
                requested: c::amount(*requested),
            }),
        ),
        EventData::BudgetReset {
            budget_id,
            subject,
            meter,
            ended,
            spent,
            period_start,
        } => (
            p::EventKind::BudgetReset,
            Detail::BudgetReset(p::BudgetReset {
                budget_id: budget_id.to_string(),
                subject: subject.clone(),
                meter: meter.clone(),
                ended: Some(c::timestamp(*ended)),
                spent: c::amount(*spent),
                period_start: Some(c::timestamp(*period_start)),
            }),
        ),
        EventData::TopUpRequested {
            request_id,
            amount,
            available,
            threshold,
            target,
        } => (
            p::EventKind::TopUpRequested,
            Detail::TopUpRequested(p::TopUpRequested {
                request_id: request_id.to_string(),
                amount: c::amount(*amount),
                available: c::amount(*available),
                threshold: c::amount(*threshold),
                target: c::amount(*target),
            }),
        ),
        EventData::TopUpFulfilled {
            request_id,
            requested,
            credited,
            lot_id,
        } => (
            p::EventKind::TopUpFulfilled,
            Detail::TopUpFulfilled(p::TopUpFulfilled {
                request_id: request_id.to_string(),
                requested: c::amount(*requested),
                credited: c::amount(*credited),
                lot_id: lot_id.to_string(),
            }),
        ),
        EventData::TopUpFailed {
            request_id,
            amount,
            reason,
            failures,
            retry_at,
        } => (
            p::EventKind::TopUpFailed,
            Detail::TopUpFailed(p::TopUpFailed {
                request_id: request_id.to_string(),
                amount: c::amount(*amount),
                reason: reason.clone(),
                failures: *failures,
                retry_at: retry_at.map(c::timestamp),
            }),
        ),
        EventData::RecurringGrantPosted {
            grant_id,
            lot_id,
            quantity,
            rolled_over,
            expired,
            period_start,
            period_end,
        } => (
            p::EventKind::RecurringGrantPosted,
            Detail::RecurringGrantPosted(p::RecurringGrantPosted {
                grant_id: grant_id.to_string(),
                lot_id: lot_id.to_string(),
                quantity: c::amount(*quantity),
                rolled_over: c::amount(*rolled_over),
                expired: c::amount(*expired),
                period_start: Some(c::timestamp(*period_start)),
                period_end: Some(c::timestamp(*period_end)),
            }),
        ),
    };
    p::Event {
        seq: stored.seq as u64,
        event_id: e.id.to_string(),
        kind: kind as i32,
        account_id: e.account_id.to_string(),
        occurred_at: Some(c::timestamp(e.occurred_at)),
        detail: Some(detail),
    }
}

/// Runs its closure when dropped: a subscription's task is counted out however it ends.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}
