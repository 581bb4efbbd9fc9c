//! Client subcommands for refills: auto top-up (set, show, report a failed charge, list the
//! requests) and recurring grants (create, delete, list).

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use tonic::transport::Channel;

use super::{account_ref, lot_fields, print_fields, timestamp, Fields, IdempotencyArg, RpcResult};
use crate::proto::{self, refills_client::RefillsClient};

#[derive(Debug, Subcommand)]
pub enum AutoTopUpCommand {
    /// Ask the billing system to top up to --target whenever available credit falls below
    /// --threshold (TOP_UP_REQUESTED events; fulfil each with `top-up --idempotency-key ID`).
    Set(SetArgs),
    /// Show an account's auto top-up: settings, open request, failures, this month's requests.
    Get(AccountArgs),
    /// Report that the charge for an open request failed (the next request backs off).
    Fail(FailArgs),
    /// List an account's requests, newest first, with their state.
    Requests(AccountArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Account UUID, or your external id.
    account: String,
    #[arg(long, value_name = "X")]
    threshold: String,
    #[arg(long, value_name = "X")]
    target: String,
    /// At most this much requested per calendar month (UTC); no cap when omitted.
    #[arg(long, value_name = "X", default_value = "")]
    monthly_cap: String,
    /// Turn auto top-up off (an open request can still be fulfilled).
    #[arg(long)]
    off: bool,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct AccountArgs {
    /// Account UUID, or your external id.
    account: String,
}

#[derive(Debug, Args)]
pub struct FailArgs {
    /// Account UUID, or your external id.
    account: String,
    request_id: String,
    /// Why the charge failed, e.g. card_declined.
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Subcommand)]
pub enum RecurringGrantCommand {
    /// Grant an allowance every period (the first at once), expiring at the period's end
    /// except what rolls over, up to --rollover-cap.
    Create(CreateArgs),
    /// Stop granting (lots already granted keep their credit until they expire).
    Delete(DeleteArgs),
    /// List an account's recurring grants.
    List(AccountArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PeriodArg {
    Month,
    Week,
    Day,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Account UUID, or your external id.
    account: String,
    /// Granted every period.
    #[arg(long, value_name = "X")]
    quantity: String,
    #[arg(long, value_enum, default_value = "month")]
    period: PeriodArg,
    /// IANA zone whose calendar the periods follow (UTC when omitted).
    #[arg(long, value_name = "ZONE", default_value = "")]
    time_zone: String,
    /// Each period's lot is bought at this price (a paid allowance); promotional when omitted.
    #[arg(long, value_name = "P", requires = "currency")]
    price: Option<String>,
    #[arg(long, value_name = "CUR")]
    currency: Option<String>,
    /// At most this much unspent credit rolls over into the next period (none when omitted).
    #[arg(long, value_name = "X", default_value = "")]
    rollover_cap: String,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Account UUID, or your external id.
    account: String,
    grant_id: String,
    #[command(flatten)]
    key: IdempotencyArg,
}

pub async fn auto_top_up(channel: Channel, cmd: AutoTopUpCommand) -> Result<()> {
    let mut client = RefillsClient::new(channel);
    let auto = match cmd {
        AutoTopUpCommand::Set(a) => {
            let req = proto::SetAutoTopUpRequest {
                idempotency_key: a.key.resolve(),
                account: Some(account_ref(&a.account)),
                enabled: !a.off,
                threshold: a.threshold,
                target: a.target,
                monthly_cap: a.monthly_cap,
            };
            client.set_auto_top_up(req).await.rpc()?.auto_top_up
        }
        AutoTopUpCommand::Get(a) => {
            let req = proto::GetAutoTopUpRequest {
                account: Some(account_ref(&a.account)),
            };
            client.get_auto_top_up(req).await.rpc()?.auto_top_up
        }
        AutoTopUpCommand::Fail(a) => {
            let req = proto::ReportTopUpFailureRequest {
                idempotency_key: a.key.resolve(),
                account: Some(account_ref(&a.account)),
                request_id: a.request_id,
                reason: a.reason,
            };
            client.report_top_up_failure(req).await.rpc()?.auto_top_up
        }
        AutoTopUpCommand::Requests(a) => {
            let req = proto::ListTopUpRequestsRequest {
                account: Some(account_ref(&a.account)),
                limit: 0,
            };
            let requests = client.list_top_up_requests(req).await.rpc()?.requests;
            if requests.is_empty() {
                println!("no requests");
            }
            for (i, r) in requests.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print_fields(&request_fields(r));
            }
            return Ok(());
        }
    };
    let a = auto.context("the answer has no auto top-up")?;
    let mut fields: Fields = vec![
        ("enabled", a.enabled.to_string()),
        ("threshold", a.threshold),
        ("target", a.target),
        (
            "monthly cap",
            match a.monthly_cap.as_str() {
                "" => "none".into(),
                cap => cap.into(),
            },
        ),
        ("requested this month", a.requested_this_month),
        ("failures in a row", a.failures.to_string()),
    ];
    if a.retry_at.is_some() {
        fields.push(("next request from", timestamp(a.retry_at.as_ref())));
    }
    if let Some(open) = &a.open_request {
        fields.push(("open request", open.request_id.clone()));
        fields.push(("open amount", open.amount.clone()));
    }
    print_fields(&fields);
    Ok(())
}

fn request_fields(r: &proto::AutoTopUpRequest) -> Fields {
    let state = proto::AutoTopUpRequestState::try_from(r.state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("AUTO_TOP_UP_REQUEST_STATE_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| r.state.to_string());
    let mut fields = vec![
        ("request id", r.request_id.clone()),
        ("amount", r.amount.clone()),
        ("state", state),
        ("requested at", timestamp(r.requested_at.as_ref())),
    ];
    if r.settled_at.is_some() {
        fields.push(("settled at", timestamp(r.settled_at.as_ref())));
    }
    if !r.lot_id.is_empty() {
        fields.push(("credited", format!("{} (lot {})", r.credited, r.lot_id)));
    }
    if !r.reason.is_empty() {
        fields.push(("reason", r.reason.clone()));
    }
    fields
}

pub async fn recurring_grant(channel: Channel, cmd: RecurringGrantCommand) -> Result<()> {
    let mut client = RefillsClient::new(channel);
    let answer = match cmd {
        RecurringGrantCommand::Create(a) => {
            let period = match a.period {
                PeriodArg::Month => proto::GrantPeriod::Month,
                PeriodArg::Week => proto::GrantPeriod::Week,
                PeriodArg::Day => proto::GrantPeriod::Day,
            };
            let kind = match a.price {
                Some(_) => proto::LotKind::Paid,
                None => proto::LotKind::Promotional,
            };
            let req = proto::CreateRecurringGrantRequest {
                idempotency_key: a.key.resolve(),
                account: Some(account_ref(&a.account)),
                quantity: a.quantity,
                period: period as i32,
                time_zone: a.time_zone,
                kind: kind as i32,
                price: a.price.unwrap_or_default(),
                currency: a.currency.unwrap_or_default(),
                rollover_cap: a.rollover_cap,
            };
            client.create_recurring_grant(req).await.rpc()?
        }
        RecurringGrantCommand::Delete(a) => {
            let req = proto::DeleteRecurringGrantRequest {
                idempotency_key: a.key.resolve(),
                account: Some(account_ref(&a.account)),
                grant_id: a.grant_id,
            };
            println!("deleted:");
            client.delete_recurring_grant(req).await.rpc()?
        }
        RecurringGrantCommand::List(a) => {
            let req = proto::ListRecurringGrantsRequest {
                account: Some(account_ref(&a.account)),
            };
            let grants = client.list_recurring_grants(req).await.rpc()?.grants;
            if grants.is_empty() {
                println!("no recurring grants");
            }
            for (i, g) in grants.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print_fields(&grant_fields(g));
            }
            return Ok(());
        }
    };
    let grant = answer.grant.context("the answer has no recurring grant")?;
    print_fields(&grant_fields(&grant));
    if let Some(lot) = &answer.lot {
        println!();
        print_fields(&lot_fields(lot));
    }
    Ok(())
}

fn grant_fields(g: &proto::RecurringGrant) -> Fields {
    let period = proto::GrantPeriod::try_from(g.period)
        .map(|p| {
            p.as_str_name()
                .trim_start_matches("GRANT_PERIOD_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| g.period.to_string());
    let mut fields = vec![
        ("grant id", g.grant_id.clone()),
        ("quantity", g.quantity.clone()),
        ("period", format!("{period} ({})", g.time_zone)),
        ("rollover cap", g.rollover_cap.clone()),
        ("periods granted", g.periods_granted.to_string()),
        ("next period", timestamp(g.next_at.as_ref())),
    ];
    if !g.currency.is_empty() {
        fields.push(("price", format!("{} {}", g.price, g.currency)));
    }
    fields
}
