//! Client subcommands for budgets: create, change, delete, show and list them.

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use tonic::transport::Channel;

use super::lifecycle::shown_subject;
use super::{account_ref, print_fields, timestamp, Fields, IdempotencyArg, RpcResult};
use crate::proto::{self, budgets_client::BudgetsClient};

#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Cap what a subject (an API key, a team, a user, or the whole account) may spend, per
    /// period, or per rolling window with --window (a velocity limit).
    Create(CreateArgs),
    /// Replace a budget's limit, hardness and alerts (a velocity limit's requests cap).
    Update(UpdateArgs),
    /// Delete a budget.
    Delete(IdArgs),
    /// Show one budget as it stands now.
    Get(GetArgs),
    /// List an account's budgets (those applying to one subject with --subject).
    List(ListArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PeriodArg {
    /// No period: the limit is for all time.
    None,
    /// From local midnight.
    Day,
    /// From Monday, local midnight.
    Week,
    /// From the first of the month, local midnight.
    Month,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Account UUID, or your external id.
    account: String,
    /// Who is capped, e.g. key:k1 or team:research/key:k1; the whole account when omitted.
    #[arg(long, value_name = "S", default_value = "")]
    subject: String,
    /// Only this meter's spending counts; every meter's when omitted.
    #[arg(long, value_name = "M", default_value = "")]
    meter: String,
    /// The cap, in the account's unit.
    #[arg(long, value_name = "X")]
    limit: String,
    #[arg(long, value_enum, default_value = "none")]
    period: PeriodArg,
    /// A velocity limit instead: at most the limit in any run of this many seconds (1 to
    /// 86400); always hard, without alerts.
    #[arg(long, value_name = "SECONDS", conflicts_with_all = ["soft", "alerts"])]
    window: Option<u32>,
    /// With --window: also at most this many requests in the window.
    #[arg(long, value_name = "N", requires = "window")]
    max_requests: Option<u32>,
    /// IANA zone whose calendar the periods follow (UTC when omitted), e.g. Europe/Paris.
    #[arg(long, value_name = "ZONE", default_value = "")]
    time_zone: String,
    /// Only alert, never refuse.
    #[arg(long)]
    soft: bool,
    /// Alert when spending reaches this percentage of the limit; repeat for each.
    #[arg(long = "alert", value_name = "PCT")]
    alerts: Vec<u32>,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Account UUID, or your external id.
    account: String,
    budget_id: String,
    #[arg(long, value_name = "X")]
    limit: String,
    #[arg(long)]
    soft: bool,
    #[arg(long = "alert", value_name = "PCT")]
    alerts: Vec<u32>,
    /// A velocity limit's cap on requests in its window (none when omitted).
    #[arg(long, value_name = "N")]
    max_requests: Option<u32>,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Account UUID, or your external id.
    account: String,
    budget_id: String,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Account UUID, or your external id.
    account: String,
    budget_id: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Account UUID, or your external id.
    account: String,
    /// Only the budgets that apply to this subject (its own and those above it).
    #[arg(long, value_name = "S", default_value = "")]
    subject: String,
}

pub async fn budget(channel: Channel, cmd: BudgetCommand) -> Result<()> {
    let mut client = BudgetsClient::new(channel);
    let budget = match cmd {
        BudgetCommand::Create(a) => {
            let period = match a.period {
                _ if a.window.is_some() => proto::BudgetPeriod::Rolling,
                PeriodArg::None => proto::BudgetPeriod::None,
                PeriodArg::Day => proto::BudgetPeriod::Day,
                PeriodArg::Week => proto::BudgetPeriod::Week,
                PeriodArg::Month => proto::BudgetPeriod::Month,
            };
            let req = proto::CreateBudgetRequest {
                idempotency_key: a.key.resolve(),
                account: Some(account_ref(&a.account)),
                subject: a.subject,
                meter: a.meter,
                limit: a.limit,
                period: period as i32,
                time_zone: a.time_zone,
                hard: !a.soft,
                alerts: a.alerts,
                window_seconds: a.window.unwrap_or(0),
                max_requests: a.max_requests,
            };
            client.create_budget(req).await.rpc()?.budget
        }
        BudgetCommand::Update(a) => {
            let req = proto::UpdateBudgetRequest {
                idempotency_key: a.key.resolve(),
                account: Some(account_ref(&a.account)),
                budget_id: a.budget_id,
                limit: a.limit,
                hard: !a.soft,
                alerts: a.alerts,
                max_requests: a.max_requests,
            };
            client.update_budget(req).await.rpc()?.budget
        }
        BudgetCommand::Delete(a) => {
            let req = proto::DeleteBudgetRequest {
                idempotency_key: a.key.resolve(),
                account: Some(account_ref(&a.account)),
                budget_id: a.budget_id,
            };
            println!("deleted:");
            client.delete_budget(req).await.rpc()?.budget
        }
        BudgetCommand::Get(a) => {
            let req = proto::GetBudgetRequest {
                account: Some(account_ref(&a.account)),
                budget_id: a.budget_id,
            };
            client.get_budget(req).await.rpc()?.budget
        }
        BudgetCommand::List(a) => {
            let req = proto::ListBudgetsRequest {
                account: Some(account_ref(&a.account)),
                subject: a.subject,
            };
            let budgets = client.list_budgets(req).await.rpc()?.budgets;
            if budgets.is_empty() {
                println!("no budgets");
            }
            for (i, b) in budgets.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print_fields(&fields(b));
            }
            return Ok(());
        }
    };
    print_fields(&fields(
        budget.as_ref().context("the answer has no budget")?,
    ));
    Ok(())
}

fn fields(b: &proto::Budget) -> Fields {
    let period = proto::BudgetPeriod::try_from(b.period)
        .map(|p| {
            p.as_str_name()
                .trim_start_matches("BUDGET_PERIOD_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| b.period.to_string());
    let alerts: Vec<String> = b.alerts.iter().map(|a| format!("{a}%")).collect();
    let mut fields = vec![
        ("budget id", b.budget_id.clone()),
        ("subject", shown_subject(&b.subject).to_string()),
        (
            "meter",
            match b.meter.as_str() {
                "" => "every meter".to_string(),
                m => m.to_string(),
            },
        ),
        ("limit", b.limit.clone()),
        ("kind", if b.hard { "hard" } else { "soft" }.to_string()),
    ];
    if b.window_seconds > 0 {
        let requests = match b.max_requests {
            Some(n) => format!("{} of at most {n}", b.requests),
            None => b.requests.to_string(),
        };
        fields.extend([
            ("window", format!("{} s, rolling", b.window_seconds)),
            ("spent in window", b.spent.clone()),
            ("requests in window", requests),
            ("remaining", b.remaining.clone()),
        ]);
        if b.resets_at.is_some() {
            fields.push(("next release", timestamp(b.resets_at.as_ref())));
        }
    } else {
        fields.extend([
            ("period", format!("{period} ({})", b.time_zone)),
            ("spent", b.spent.clone()),
            ("held", b.held.clone()),
            ("remaining", b.remaining.clone()),
            ("period start", timestamp(b.period_start.as_ref())),
        ]);
        if b.resets_at.is_some() {
            fields.push(("resets at", timestamp(b.resets_at.as_ref())));
        }
    }
    if !alerts.is_empty() {
        fields.push(("alerts", alerts.join(", ")));
    }
    fields
}
