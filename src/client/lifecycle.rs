//! Client subcommands for the credit lifecycle: support adjustments, commitments, and following
//! the event stream.

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use tokio_stream::StreamExt as _;
use tonic::transport::{Channel, Endpoint};

use super::{
    account_ref, draw_line, enum_label, lot_fields, parse_timestamp, print_fields, timestamp,
    Fields, IdempotencyArg, RpcResult,
};
use crate::proto::{self, credits_client::CreditsClient, events_client::EventsClient};

/// Which way an adjustment moves credit.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DirectionArg {
    /// Give the customer credit (a new promotional lot).
    Credit,
    /// Take free credit back.
    Debit,
}

#[derive(Debug, Args)]
pub struct AdjustArgs {
    /// Account UUID, or your external id.
    account: String,
    #[arg(long, value_enum)]
    direction: DirectionArg,
    #[arg(long, value_name = "X")]
    quantity: String,
    /// Why, for the audit trail (required).
    #[arg(long)]
    reason: String,
    /// Debit only: the lot to take from (otherwise free credit in drawdown order).
    #[arg(long, value_name = "LOT_ID")]
    lot: Option<String>,
    /// Credit only: when the new lot expires (RFC 3339).
    #[arg(long, value_parser = parse_timestamp)]
    expires_at: Option<prost_types::Timestamp>,
    #[command(flatten)]
    key: IdempotencyArg,
}

/// Commitment subcommands.
#[derive(Debug, Subcommand)]
pub enum CommitmentCommand {
    /// Commit to a spend over a term.
    Create(CreateCommitmentArgs),
    /// Show a commitment: committed, consumed, remaining, days left.
    Get(GetCommitmentArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CommitmentKindArg {
    /// A paid lot that expires at the term's end.
    Prepaid,
    /// A credit line for the term, with a minimum spend trued up at its end.
    Postpaid,
}

#[derive(Debug, Args)]
pub struct CreateCommitmentArgs {
    /// Account UUID, or your external id.
    account: String,
    #[arg(long, value_enum)]
    kind: CommitmentKindArg,
    /// Prepaid: the lot's quantity. Postpaid: the credit line the term opens.
    #[arg(long, value_name = "X")]
    quantity: String,
    /// Prepaid: the money paid. Postpaid: the money per unit drawn from the line.
    #[arg(long, value_name = "X")]
    price: String,
    /// Postpaid: the minimum spend over the term.
    #[arg(long, value_name = "X")]
    minimum_spend: Option<String>,
    /// The term's end (RFC 3339).
    #[arg(long, value_parser = parse_timestamp)]
    term_end: prost_types::Timestamp,
    /// Prepaid: the term's start (now when omitted).
    #[arg(long, value_parser = parse_timestamp)]
    term_start: Option<prost_types::Timestamp>,
    /// Defaults to the account's currency.
    #[arg(long)]
    currency: Option<String>,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct GetCommitmentArgs {
    commitment_id: String,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this account's events (UUID or external id).
    #[arg(long)]
    account: Option<String>,
    /// Resume after this event seq (0: from the first event).
    #[arg(long, default_value_t = 0, conflicts_with = "from_now")]
    after_seq: u64,
    /// Only events from now on.
    #[arg(long)]
    from_now: bool,
}

pub(super) async fn adjust(mut client: CreditsClient<Channel>, a: AdjustArgs) -> Result<()> {
    let direction = match a.direction {
        DirectionArg::Credit => proto::AdjustDirection::Credit,
        DirectionArg::Debit => proto::AdjustDirection::Debit,
    };
    let request = proto::AdjustRequest {
        idempotency_key: a.key.resolve(),
        account: Some(account_ref(&a.account)),
        direction: direction as i32,
        quantity: a.quantity,
        reason: a.reason,
        lot_id: a.lot.unwrap_or_default(),
        priority: 0,
        expires_at: a.expires_at,
    };
    let resp = client.adjust(request).await.rpc()?;
    let mut fields: Fields = vec![
        ("entry id", resp.entry_id),
        ("quantity", resp.quantity),
        ("money recognized", resp.money),
    ];
    for draw in &resp.draws {
        fields.push(("taken", draw_line(draw)));
    }
    print_fields(&fields);
    if let Some(lot) = resp.lot.as_ref() {
        println!();
        print_fields(&lot_fields(lot));
    }
    Ok(())
}

pub(super) async fn commitment(
    mut client: CreditsClient<Channel>,
    cmd: CommitmentCommand,
) -> Result<()> {
    let commitment = match cmd {
        CommitmentCommand::Create(a) => {
            let kind = match a.kind {
                CommitmentKindArg::Prepaid => proto::CommitmentKind::Prepaid,
                CommitmentKindArg::Postpaid => proto::CommitmentKind::Postpaid,
            };
            let request = proto::CreateCommitmentRequest {
                idempotency_key: a.key.resolve(),
                account: Some(account_ref(&a.account)),
                kind: kind as i32,
                quantity: a.quantity,
                price: a.price,
                minimum_spend: a.minimum_spend.unwrap_or_default(),
                currency: a.currency.unwrap_or_default(),
                term_start: a.term_start,
                term_end: Some(a.term_end),
                reference: String::new(),
            };
            client.create_commitment(request).await.rpc()?.commitment
        }
        CommitmentCommand::Get(a) => {
            let request = proto::GetCommitmentRequest {
                commitment_id: a.commitment_id,
            };
            client.get_commitment(request).await.rpc()?.commitment
        }
    };
    let c = commitment.context("the server's response carried no commitment")?;
    let kind = proto::CommitmentKind::try_from(c.kind).map(|k| k.as_str_name());
    let status = proto::CommitmentStatus::try_from(c.status).map(|s| s.as_str_name());
    print_fields(&[
        ("commitment id", c.commitment_id),
        ("account id", c.account_id),
        ("kind", enum_label(kind.ok(), "COMMITMENT_KIND_", c.kind)),
        (
            "status",
            enum_label(status.ok(), "COMMITMENT_STATUS_", c.status),
        ),
        (
            "term",
            format!(
                "{} to {}",
                timestamp(c.term_start.as_ref()),
                timestamp(c.term_end.as_ref())
            ),
        ),
        ("committed", c.committed),
        ("consumed", c.consumed),
        ("remaining", c.remaining),
        ("days left", c.days_left.to_string()),
        ("shortfall", format!("{} {}", c.shortfall, c.currency)),
        ("lot id", c.lot_id),
        ("true-up entry", c.true_up_entry_id),
    ]);
    Ok(())
}

/// Prints events as they come, one line each, until interrupted.
pub(super) async fn events(server_uri: &str, a: EventsArgs) -> Result<()> {
    // No request timeout here: the stream is meant to stay open.
    let channel = Endpoint::from_shared(server_uri.to_owned())?
        .connect()
        .await
        .with_context(|| format!("could not connect to {server_uri}"))?;
    let request = proto::SubscribeRequest {
        after_seq: a.after_seq,
        account: a.account.as_deref().map(account_ref),
        kinds: Vec::new(),
        from_now: a.from_now,
    };
    let mut stream = EventsClient::new(channel).subscribe(request).await.rpc()?;
    while let Some(event) = stream.next().await {
        let e =
            event.map_err(|status| anyhow::anyhow!("{:?}: {}", status.code(), status.message()))?;
        let kind = proto::EventKind::try_from(e.kind).map(|k| k.as_str_name());
        println!(
            "{} {} {} {} {}",
            e.seq,
            timestamp(e.occurred_at.as_ref()),
            enum_label(kind.ok(), "EVENT_KIND_", e.kind),
            e.account_id,
            detail(e.detail.as_ref()),
        );
    }
    Ok(())
}

/// A budget's subject as shown: the whole account when empty.
pub(super) fn shown_subject(subject: &str) -> &str {
    match subject {
        "" => "whole account",
        s => s,
    }
}

fn detail(detail: Option<&proto::event::Detail>) -> String {
    use proto::event::Detail;
    match detail {
        Some(Detail::LowBalance(d)) => {
            format!("available {} (threshold {})", d.available, d.threshold)
        }
        Some(Detail::Depleted(d)) => format!("available {}", d.available),
        Some(Detail::LotExpired(d)) => {
            format!(
                "lot {}: {} expired, {} {} breakage",
                d.lot_id, d.quantity, d.money, d.currency
            )
        }
        Some(Detail::HoldExpired(d)) => format!("hold {}: {} released", d.hold_id, d.released),
        Some(Detail::CommitmentEnding(d)) => format!(
            "commitment {} ends {}",
            d.commitment_id,
            timestamp(d.term_end.as_ref())
        ),
        Some(Detail::LowBalanceRecovered(d)) => match d.threshold.as_str() {
            "" => format!("available {}", d.available),
            threshold => format!("available {} (threshold {threshold})", d.available),
        },
        Some(Detail::BudgetAlert(d)) => format!(
            "budget {} ({}): {}% reached, {} of {} spent",
            d.budget_id,
            shown_subject(&d.subject),
            d.percent,
            d.spent,
            d.limit
        ),
        Some(Detail::BudgetExceeded(d)) => format!(
            "budget {} ({}): refused {}, {} spent and {} held of {}",
            d.budget_id,
            shown_subject(&d.subject),
            d.requested,
            d.spent,
            d.held,
            d.limit
        ),
        Some(Detail::BudgetReset(d)) => format!(
            "budget {} ({}): period ended {} with {} spent",
            d.budget_id,
            shown_subject(&d.subject),
            timestamp(d.ended.as_ref()),
            d.spent
        ),
        Some(Detail::TopUpRequested(d)) => format!(
            "request {}: top up {} (available {}, threshold {}, target {})",
            d.request_id, d.amount, d.available, d.threshold, d.target
        ),
        Some(Detail::TopUpFulfilled(d)) => format!(
            "request {}: {} credited to lot {}",
            d.request_id, d.credited, d.lot_id
        ),
        Some(Detail::TopUpFailed(d)) => format!(
            "request {}: {} failed ({}), failure {}, {}",
            d.request_id,
            d.amount,
            d.reason,
            d.failures,
            match &d.retry_at {
                Some(at) => format!("next request from {}", timestamp(Some(at))),
                None => "auto top-up is off".into(),
            }
        ),
        Some(Detail::RecurringGrantPosted(d)) => format!(
            "recurring grant {}: {} granted in lot {} until {}, {} rolled over, {} expired",
            d.grant_id,
            d.quantity,
            d.lot_id,
            timestamp(d.period_end.as_ref()),
            d.rolled_over,
            d.expired
        ),
        None => String::new(),
    }
}
