//! Client subcommands for making first calls against a running credit-ledger server.
//!
//! Each subcommand sends one gRPC request and prints the response as aligned `key: value` lines.
//! An ACCOUNT argument that parses as a UUID is sent as the account id; anything else is sent as
//! the caller's external id, so `acme` works as well as the account's UUID. Every mutation
//! carries an idempotency key: when `--idempotency-key` is omitted a fresh UUID v4 is used, and
//! the key is printed before the call so that the same call can be retried safely. A gRPC error
//! is returned as an error reading `CODE: message`, so the binary exits non-zero.

mod budgets;
mod lifecycle;
mod refills;

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use tonic::transport::{Channel, Endpoint};

use crate::proto::{
    self, account_ref::Ref, accounts_client::AccountsClient, credits_client::CreditsClient,
    usage_client::UsageClient,
};

// Options shared by every client subcommand, and the subcommand to run. (Plain comments, not doc
// comments, on flattened structs: clap would show their docs as the command's about text.)
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// gRPC address of the server
    #[arg(
        long,
        global = true,
        env = "CREDIT_LEDGER_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    #[command(subcommand)]
    pub command: ClientCommand,
}

// The calls the client can make.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Create, show, list or update accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Credit a paid lot after a payment: quantity for price in currency.
    Topup(TopUpArgs),
    /// Credit a promotional lot (cost basis zero).
    Grant(GrantArgs),
    /// Void the unused remainder of a lot.
    Void(VoidArgs),
    /// List an account's lots.
    Lots(LotsArgs),
    /// Reserve credit until it is captured, released or expires.
    Authorize(AuthorizeArgs),
    /// Charge quantity against a hold.
    Capture(CaptureArgs),
    /// Release what a hold still reserves.
    Release(ReleaseArgs),
    /// Move an open hold's expiry to now + ttl.
    Extend(ExtendArgs),
    /// Charge quantity at once, without a hold.
    Debit(DebitArgs),
    /// Show an account's balance and usable lots.
    Balance(BalanceArgs),
    /// Rate a usage for an account by its price book, holding and charging nothing.
    Quote(QuoteArgs),
    /// A support adjustment: give credit or take it back, with a reason.
    Adjust(lifecycle::AdjustArgs),
    /// Create or show a commitment.
    #[command(subcommand)]
    Commitment(lifecycle::CommitmentCommand),
    /// Cap what an API key, a team, a user or the whole account may spend.
    #[command(subcommand)]
    Budget(budgets::BudgetCommand),
    /// Refill credit automatically through the billing system when it runs low.
    #[command(subcommand)]
    AutoTopUp(refills::AutoTopUpCommand),
    /// Grant an allowance every month (or week, or day).
    #[command(subcommand)]
    RecurringGrant(refills::RecurringGrantCommand),
    /// Follow the event stream (low balance, depleted, expiries, commitments ending, budgets,
    /// auto top-up requests, recurring grants).
    Events(lifecycle::EventsArgs),
}

/// Account subcommands.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account.
    Create(CreateAccountArgs),
    /// Show one account.
    Get(GetAccountArgs),
    /// List accounts, one page at a time.
    List(ListAccountsArgs),
    /// Change an account's credit line or status.
    Update(UpdateAccountArgs),
}

// The idempotency key of a mutation, flattened into every mutating subcommand.
#[derive(Debug, Args)]
pub struct IdempotencyArg {
    /// Idempotency key; a fresh UUID v4 when omitted. Pass the printed key again to retry safely.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
}

impl IdempotencyArg {
    /// Returns the key to send, printing it so that the user can retry with it.
    fn resolve(&self) -> String {
        let key = self
            .idempotency_key
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        println!("idempotency key: {key}");
        key
    }
}

#[derive(Debug, Args)]
pub struct CreateAccountArgs {
    /// Your own customer id; unique among accounts.
    #[arg(long, value_name = "ID")]
    external_id: String,
    /// The credit unit, such as CREDIT, TOKENS or USD.
    #[arg(long)]
    unit: String,
    /// Fractional digits a quantity may carry (0 to 12).
    #[arg(long, default_value_t = 6)]
    unit_scale: u32,
    /// Overdraft allowed beyond the lots (0 when omitted).
    #[arg(long, value_name = "X")]
    credit_line_limit: Option<String>,
    /// Money recognized per unit drawn from the credit line (0 when omitted).
    #[arg(long, value_name = "X")]
    credit_line_price: Option<String>,
    /// Currency of the credit line price.
    #[arg(long, default_value = "USD")]
    currency: String,
    #[command(flatten)]
    low_balance: LowBalanceArgs,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct GetAccountArgs {
    /// Account UUID, or your external id.
    account: String,
}

#[derive(Debug, Args)]
pub struct ListAccountsArgs {
    /// Accounts per page (at most 1000; the server uses 100 when omitted).
    #[arg(long, value_name = "N")]
    page_size: Option<u32>,
    /// Token printed by the previous page.
    #[arg(long, value_name = "T")]
    page_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateAccountArgs {
    /// Account UUID, or your external id.
    account: String,
    /// New credit line limit; it may not go below what is used plus held.
    #[arg(long, value_name = "X")]
    credit_line_limit: Option<String>,
    /// New money recognized per unit drawn from the credit line.
    #[arg(long, value_name = "X")]
    credit_line_price: Option<String>,
    /// New account status.
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
    /// The price book to rate the account's usage by ("default" for the default book).
    #[arg(long, value_name = "BOOK")]
    price_book: Option<String>,
    #[command(flatten)]
    low_balance: LowBalanceArgs,
    #[command(flatten)]
    key: IdempotencyArg,
}

/// When a low-balance event fires (at most one of the two).
#[derive(Debug, Args)]
pub struct LowBalanceArgs {
    /// Low-balance threshold as a quantity of the account's unit.
    #[arg(long, value_name = "X", conflicts_with = "low_balance_percent")]
    low_balance_threshold: Option<String>,
    /// Low-balance threshold as a percentage of what was available after the latest top-up.
    #[arg(long, value_name = "PCT")]
    low_balance_percent: Option<String>,
}

impl LowBalanceArgs {
    fn to_proto(&self) -> Option<proto::LowBalanceThreshold> {
        use proto::low_balance_threshold::Threshold;
        let threshold = match (&self.low_balance_threshold, &self.low_balance_percent) {
            (Some(q), _) => Threshold::Absolute(q.clone()),
            (None, Some(p)) => Threshold::Percent(p.clone()),
            (None, None) => return None,
        };
        Some(proto::LowBalanceThreshold {
            threshold: Some(threshold),
        })
    }
}

/// Account statuses a user may set.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Active,
    Frozen,
    Closed,
}

// Lot options shared by `topup` and `grant`.
#[derive(Debug, Args)]
pub struct LotArgs {
    /// Drawdown priority; lower numbers are drawn first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    priority: i32,
    /// When the lot expires, as RFC 3339 (e.g. 2026-01-31T00:00:00Z); never when omitted.
    #[arg(long, value_name = "RFC3339", value_parser = parse_timestamp)]
    expires_at: Option<prost_types::Timestamp>,
    /// When the lot becomes usable, as RFC 3339; now when omitted.
    #[arg(long, value_name = "RFC3339", value_parser = parse_timestamp)]
    effective_at: Option<prost_types::Timestamp>,
    /// A meter the lot may pay for; repeat for several. Any meter when omitted.
    #[arg(long = "scope", value_name = "METER")]
    scope: Vec<String>,
    /// Free-form reference stored on the lot, such as an order id.
    #[arg(long, value_name = "R")]
    reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct TopUpArgs {
    /// Account UUID, or your external id.
    account: String,
    /// Credit to add, as a decimal string.
    #[arg(long, value_name = "Q")]
    quantity: String,
    /// Money paid, as a decimal string.
    #[arg(long, value_name = "P")]
    price: String,
    /// Currency of the price.
    #[arg(long, default_value = "USD")]
    currency: String,
    #[command(flatten)]
    lot: LotArgs,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    /// Account UUID, or your external id.
    account: String,
    /// Credit to add, as a decimal string.
    #[arg(long, value_name = "Q")]
    quantity: String,
    #[command(flatten)]
    lot: LotArgs,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct VoidArgs {
    /// Account UUID, or your external id.
    account: String,
    /// The lot to void.
    lot_id: String,
    /// Why the lot is voided.
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// Release open holds' reservations on the lot instead of refusing.
    #[arg(long)]
    release_holds: bool,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct LotsArgs {
    /// Account UUID, or your external id.
    account: String,
    /// Include depleted, expired and voided lots.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    /// Account UUID, or your external id.
    account: String,
    /// Credit to reserve, as a decimal string.
    #[arg(long, value_name = "Q", required_unless_present = "usage")]
    quantity: Option<String>,
    /// Usage to rate instead of a quantity, as dimension=amount; repeat for each dimension
    /// (e.g. --usage input_tokens=1234 --usage output_tokens=4096). Needs --meter.
    #[arg(long, value_name = "D=N", value_parser = usage_item, conflicts_with = "quantity")]
    usage: Vec<(String, String)>,
    /// Time to live of the hold in milliseconds (the server uses 30 s when omitted).
    #[arg(long, value_name = "N")]
    ttl_ms: Option<u64>,
    /// Meter the hold is for; only lots whose scope allows it are drawn.
    #[arg(long, value_name = "M")]
    meter: Option<String>,
    /// Free-form reference stored on the hold.
    #[arg(long, value_name = "R")]
    reference: Option<String>,
    /// Who under the account the hold is for, e.g. team:research/key:k1; every budget on
    /// its path applies.
    #[arg(long, value_name = "S")]
    subject: Option<String>,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The hold to charge against.
    hold_id: String,
    /// Credit to charge, as a decimal string.
    #[arg(long, value_name = "Q", required_unless_present = "usage")]
    quantity: Option<String>,
    /// Usage to rate instead of a quantity, as dimension=amount; repeat for each dimension
    /// (e.g. --usage input_tokens=1234 --usage output_tokens=4096).
    #[arg(long, value_name = "D=N", value_parser = usage_item, conflicts_with = "quantity")]
    usage: Vec<(String, String)>,
    /// Release what is left of the hold after this capture.
    #[arg(long = "final")]
    r#final: bool,
    /// What to do when quantity exceeds what the hold still reserves.
    #[arg(long, value_enum, default_value_t = OverageArg::Reject)]
    overage: OverageArg,
    #[command(flatten)]
    key: IdempotencyArg,
}

/// What a capture larger than the hold does.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OverageArg {
    /// Refuse the capture, charging nothing.
    Reject,
    /// Charge only what the hold still reserves.
    Clamp,
    /// Charge the excess from the account's available credit.
    DrawAvailable,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The hold to release.
    hold_id: String,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    /// The hold to extend.
    hold_id: String,
    /// New time to live from now, in milliseconds.
    #[arg(long, value_name = "N")]
    ttl_ms: u64,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct DebitArgs {
    /// Account UUID, or your external id.
    account: String,
    /// Credit to charge, as a decimal string.
    #[arg(long, value_name = "Q", required_unless_present = "usage")]
    quantity: Option<String>,
    /// Usage to rate instead of a quantity, as dimension=amount; repeat for each dimension
    /// (e.g. --usage input_tokens=1234 --usage output_tokens=4096). Needs --meter.
    #[arg(long, value_name = "D=N", value_parser = usage_item, conflicts_with = "quantity")]
    usage: Vec<(String, String)>,
    /// Meter being charged; only lots whose scope allows it are drawn.
    #[arg(long, value_name = "M")]
    meter: Option<String>,
    /// Free-form reference stored on the charge.
    #[arg(long, value_name = "R")]
    reference: Option<String>,
    /// Who under the account spends, e.g. team:research/key:k1; every budget on its path
    /// applies.
    #[arg(long, value_name = "S")]
    subject: Option<String>,
    #[command(flatten)]
    key: IdempotencyArg,
}

#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// Account UUID, or your external id.
    account: String,
}

/// Connects to the server and runs one client subcommand, printing the response.
///
/// # Errors
///
/// Fails when the server cannot be reached, or with `CODE: message` when the call returns a gRPC
/// error.
pub async fn run(args: ClientArgs) -> Result<()> {
    // The event stream stays open, so it gets a channel without a request timeout.
    let command = match args.command {
        ClientCommand::Events(a) => return lifecycle::events(&server_uri(&args.server), a).await,
        other => other,
    };
    let channel = connect(&args.server).await?;
    match command {
        ClientCommand::Account(cmd) => run_account(AccountsClient::new(channel), cmd).await,
        ClientCommand::Topup(a) => top_up(CreditsClient::new(channel), a).await,
        ClientCommand::Grant(a) => grant(CreditsClient::new(channel), a).await,
        ClientCommand::Void(a) => void(CreditsClient::new(channel), a).await,
        ClientCommand::Lots(a) => lots(CreditsClient::new(channel), a).await,
        ClientCommand::Authorize(a) => authorize(UsageClient::new(channel), a).await,
        ClientCommand::Capture(a) => capture(UsageClient::new(channel), a).await,
        ClientCommand::Release(a) => release(UsageClient::new(channel), a).await,
        ClientCommand::Extend(a) => extend(UsageClient::new(channel), a).await,
        ClientCommand::Debit(a) => debit(UsageClient::new(channel), a).await,
        ClientCommand::Balance(a) => balance(UsageClient::new(channel), a).await,
        ClientCommand::Quote(a) => quote(UsageClient::new(channel), a).await,
        ClientCommand::Adjust(a) => lifecycle::adjust(CreditsClient::new(channel), a).await,
        ClientCommand::Commitment(cmd) => {
            lifecycle::commitment(CreditsClient::new(channel), cmd).await
        }
        ClientCommand::Budget(cmd) => budgets::budget(channel, cmd).await,
        ClientCommand::AutoTopUp(cmd) => refills::auto_top_up(channel, cmd).await,
        ClientCommand::RecurringGrant(cmd) => refills::recurring_grant(channel, cmd).await,
        ClientCommand::Events(a) => lifecycle::events(&server_uri(&args.server), a).await,
    }
}

/// `server` as a URI, assuming `http://` when no scheme is given.
fn server_uri(server: &str) -> String {
    if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    }
}

/// Opens a channel to `server`.
async fn connect(server: &str) -> Result<Channel> {
    let uri = server_uri(server);
    Endpoint::from_shared(uri.clone())
        .with_context(|| format!("invalid server address {server:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("could not connect to {uri}; is the server running?"))
}

async fn run_account(client: AccountsClient<Channel>, cmd: AccountCommand) -> Result<()> {
    match cmd {
        AccountCommand::Create(a) => create_account(client, a).await,
        AccountCommand::Get(a) => get_account(client, a).await,
        AccountCommand::List(a) => list_accounts(client, a).await,
        AccountCommand::Update(a) => update_account(client, a).await,
    }
}

async fn create_account(mut client: AccountsClient<Channel>, a: CreateAccountArgs) -> Result<()> {
    let req = proto::CreateAccountRequest {
        idempotency_key: a.key.resolve(),
        external_id: a.external_id,
        unit: a.unit,
        unit_scale: a.unit_scale,
        credit_line_limit: a.credit_line_limit.unwrap_or_default(),
        credit_line_price: a.credit_line_price.unwrap_or_default(),
        currency: a.currency,
        low_balance: a.low_balance.to_proto(),
    };
    let resp = client.create_account(req).await.rpc()?;
    print_fields(&account_fields(resp.account.as_ref().context(NO_ACCOUNT)?));
    Ok(())
}

async fn get_account(mut client: AccountsClient<Channel>, a: GetAccountArgs) -> Result<()> {
    let req = proto::GetAccountRequest {
        account: Some(account_ref(&a.account)),
    };
    let resp = client.get_account(req).await.rpc()?;
    print_fields(&account_fields(resp.account.as_ref().context(NO_ACCOUNT)?));
    Ok(())
}

async fn list_accounts(mut client: AccountsClient<Channel>, a: ListAccountsArgs) -> Result<()> {
    let req = proto::ListAccountsRequest {
        page_size: a.page_size.unwrap_or(0),
        page_token: a.page_token.unwrap_or_default(),
    };
    let resp = client.list_accounts(req).await.rpc()?;
    if resp.accounts.is_empty() {
        println!("no accounts");
    }
    for (i, account) in resp.accounts.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print_fields(&account_fields(account));
    }
    if !resp.next_page_token.is_empty() {
        println!();
        print_fields(&[("next page token", resp.next_page_token)]);
    }
    Ok(())
}

async fn update_account(mut client: AccountsClient<Channel>, a: UpdateAccountArgs) -> Result<()> {
    let low_balance = a.low_balance.to_proto();
    if a.credit_line_limit.is_none()
        && a.credit_line_price.is_none()
        && a.status.is_none()
        && low_balance.is_none()
        && a.price_book.is_none()
    {
        anyhow::bail!(
            "nothing to update: pass --credit-line-limit, --credit-line-price, --status, \
             --price-book or a low-balance threshold"
        );
    }
    let status = a.status.map(|s| match s {
        StatusArg::Active => proto::AccountStatus::Active,
        StatusArg::Frozen => proto::AccountStatus::Frozen,
        StatusArg::Closed => proto::AccountStatus::Closed,
    });
    let req = proto::UpdateAccountRequest {
        idempotency_key: a.key.resolve(),
        account: Some(account_ref(&a.account)),
        credit_line_limit: a.credit_line_limit,
        credit_line_price: a.credit_line_price,
        status: status.unwrap_or(proto::AccountStatus::Unspecified) as i32,
        low_balance,
        price_book: a.price_book,
    };
    let resp = client.update_account(req).await.rpc()?;
    print_fields(&account_fields(resp.account.as_ref().context(NO_ACCOUNT)?));
    Ok(())
}

async fn top_up(mut client: CreditsClient<Channel>, a: TopUpArgs) -> Result<()> {
    let req = proto::TopUpRequest {
        idempotency_key: a.key.resolve(),
        account: Some(account_ref(&a.account)),
        quantity: a.quantity,
        price: a.price,
        currency: a.currency,
        priority: a.lot.priority,
        effective_at: a.lot.effective_at,
        expires_at: a.lot.expires_at,
        scope: a.lot.scope,
        reference: a.lot.reference.unwrap_or_default(),
    };
    let resp = client.top_up(req).await.rpc()?;
    print_grant(resp)
}

async fn grant(mut client: CreditsClient<Channel>, a: GrantArgs) -> Result<()> {
    let req = proto::GrantCreditsRequest {
        idempotency_key: a.key.resolve(),
        account: Some(account_ref(&a.account)),
        quantity: a.quantity,
        priority: a.lot.priority,
        effective_at: a.lot.effective_at,
        expires_at: a.lot.expires_at,
        scope: a.lot.scope,
        reference: a.lot.reference.unwrap_or_default(),
    };
    let resp = client.grant_credits(req).await.rpc()?;
    print_grant(resp)
}

fn print_grant(resp: proto::GrantResponse) -> Result<()> {
    let mut fields = vec![("entry id", resp.entry_id)];
    fields.extend(lot_fields(resp.lot.as_ref().context(NO_LOT)?));
    print_fields(&fields);
    Ok(())
}

async fn void(mut client: CreditsClient<Channel>, a: VoidArgs) -> Result<()> {
    let req = proto::VoidGrantRequest {
        idempotency_key: a.key.resolve(),
        account: Some(account_ref(&a.account)),
        lot_id: a.lot_id,
        reason: a.reason,
        release_holds: a.release_holds,
    };
    let resp = client.void_grant(req).await.rpc()?;
    let mut fields = vec![
        ("quantity voided", resp.quantity_voided),
        (
            "money refunded",
            money(&resp.money_refunded, &resp.currency),
        ),
        ("entry id", resp.entry_id),
    ];
    fields.extend(lot_fields(resp.lot.as_ref().context(NO_LOT)?));
    print_fields(&fields);
    Ok(())
}

/// Lists every page of an account's lots.
async fn lots(mut client: CreditsClient<Channel>, a: LotsArgs) -> Result<()> {
    let account = account_ref(&a.account);
    let mut page_token = String::new();
    let mut count = 0usize;
    loop {
        let req = proto::ListLotsRequest {
            account: Some(account.clone()),
            include_inactive: a.all,
            page_size: 0,
            page_token: page_token.clone(),
        };
        let resp = client.list_lots(req).await.rpc()?;
        for lot in &resp.lots {
            if count > 0 {
                println!();
            }
            print_fields(&lot_fields(lot));
            count += 1;
        }
        if resp.next_page_token.is_empty() || resp.next_page_token == page_token {
            break;
        }
        page_token = resp.next_page_token;
    }
    if count == 0 {
        let hint = if a.all {
            ""
        } else {
            " (pass --all to include inactive lots)"
        };
        println!("no lots{hint}");
    }
    Ok(())
}

async fn authorize(mut client: UsageClient<Channel>, a: AuthorizeArgs) -> Result<()> {
    let req = proto::AuthorizeRequest {
        idempotency_key: a.key.resolve(),
        account: Some(account_ref(&a.account)),
        quantity: a.quantity.unwrap_or_default(),
        ttl_ms: a.ttl_ms.unwrap_or(0),
        meter: a.meter.unwrap_or_default(),
        reference: a.reference.unwrap_or_default(),
        usage: a.usage.into_iter().collect(),
        subject: a.subject.unwrap_or_default(),
    };
    let resp = client.authorize(req).await.rpc()?;
    let mut fields = hold_fields(resp.hold.as_ref().context(NO_HOLD)?);
    fields.push(("available", resp.available));
    fields.extend(rating_fields(resp.rating.as_ref()));
    print_fields(&fields);
    Ok(())
}

async fn capture(mut client: UsageClient<Channel>, a: CaptureArgs) -> Result<()> {
    let overage = match a.overage {
        OverageArg::Reject => proto::CaptureOverage::Reject,
        OverageArg::Clamp => proto::CaptureOverage::Clamp,
        OverageArg::DrawAvailable => proto::CaptureOverage::DrawAvailable,
    };
    let req = proto::CaptureRequest {
        idempotency_key: a.key.resolve(),
        hold_id: a.hold_id,
        quantity: a.quantity.unwrap_or_default(),
        r#final: a.r#final,
        overage: overage as i32,
        usage: a.usage.into_iter().collect(),
    };
    let resp = client.capture(req).await.rpc()?;
    let mut fields = vec![("charged", resp.charged)];
    fields.extend(rating_fields(resp.rating.as_ref()));
    fields.extend(resp.draws.iter().map(|d| ("drawn", draw_line(d))));
    if a.r#final {
        fields.push(("released", resp.released));
    }
    fields.push(("entry id", resp.entry_id));
    fields.extend(hold_fields(resp.hold.as_ref().context(NO_HOLD)?));
    print_fields(&fields);
    Ok(())
}

async fn release(mut client: UsageClient<Channel>, a: ReleaseArgs) -> Result<()> {
    let req = proto::ReleaseRequest {
        idempotency_key: a.key.resolve(),
        hold_id: a.hold_id,
    };
    let resp = client.release(req).await.rpc()?;
    let mut fields = vec![("released", resp.released)];
    fields.extend(hold_fields(resp.hold.as_ref().context(NO_HOLD)?));
    print_fields(&fields);
    Ok(())
}

async fn extend(mut client: UsageClient<Channel>, a: ExtendArgs) -> Result<()> {
    let req = proto::ExtendHoldRequest {
        idempotency_key: a.key.resolve(),
        hold_id: a.hold_id,
        ttl_ms: a.ttl_ms,
    };
    let resp = client.extend_hold(req).await.rpc()?;
    print_fields(&hold_fields(resp.hold.as_ref().context(NO_HOLD)?));
    Ok(())
}

async fn debit(mut client: UsageClient<Channel>, a: DebitArgs) -> Result<()> {
    let req = proto::DebitRequest {
        idempotency_key: a.key.resolve(),
        account: Some(account_ref(&a.account)),
        quantity: a.quantity.unwrap_or_default(),
        meter: a.meter.unwrap_or_default(),
        reference: a.reference.unwrap_or_default(),
        usage: a.usage.into_iter().collect(),
        subject: a.subject.unwrap_or_default(),
    };
    let resp = client.debit(req).await.rpc()?;
    let mut fields = vec![("charged", resp.charged)];
    fields.extend(rating_fields(resp.rating.as_ref()));
    fields.extend(resp.draws.iter().map(|d| ("drawn", draw_line(d))));
    fields.push(("available", resp.available));
    fields.push(("entry id", resp.entry_id));
    print_fields(&fields);
    Ok(())
}

async fn balance(mut client: UsageClient<Channel>, a: BalanceArgs) -> Result<()> {
    let req = proto::GetBalanceRequest {
        account: Some(account_ref(&a.account)),
        as_of: None,
    };
    let b = client.get_balance(req).await.rpc()?;
    let credit_line = format!(
        "limit {}, used {}, held {}",
        b.credit_line_limit, b.credit_line_used, b.credit_line_held
    );
    let mut fields = vec![
        ("account id", b.account_id),
        ("unit", b.unit),
        ("available", b.available),
        ("posted", b.posted),
        ("held", b.held),
        ("credit line", credit_line),
        ("as of", timestamp(b.as_of.as_ref())),
    ];
    fields.extend(b.lots.iter().map(|l| ("lot", lot_balance_line(l))));
    if b.lots.is_empty() {
        fields.push(("lots", "none usable".to_owned()));
    }
    print_fields(&fields);
    Ok(())
}

const NO_ACCOUNT: &str = "the server's response carried no account";
const NO_LOT: &str = "the server's response carried no lot";
const NO_HOLD: &str = "the server's response carried no hold";

/// A block of output lines, printed as aligned `key: value` pairs.
type Fields = Vec<(&'static str, String)>;

#[derive(Debug, Args)]
pub struct QuoteArgs {
    /// Account UUID, or your external id.
    account: String,
    /// The meter the usage is of.
    #[arg(long, value_name = "M")]
    meter: String,
    /// Usage to rate instead of a quantity, as dimension=amount; repeat for each dimension
    /// (e.g. --usage input_tokens=1234 --usage output_tokens=4096).
    #[arg(long, value_name = "D=N", value_parser = usage_item, required = true)]
    usage: Vec<(String, String)>,
}

async fn quote(mut client: UsageClient<Channel>, a: QuoteArgs) -> Result<()> {
    let req = proto::QuoteRequest {
        account: Some(account_ref(&a.account)),
        meter: a.meter,
        usage: a.usage.into_iter().collect(),
        at: None,
    };
    let resp = client.quote(req).await.rpc()?;
    let mut fields = vec![("would hold", resp.quantity)];
    fields.extend(rating_fields(resp.rating.as_ref()));
    print_fields(&fields);
    Ok(())
}

/// `dimension=amount`, for --usage.
fn usage_item(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(d, n)| (d.to_string(), n.to_string()))
        .ok_or_else(|| format!("expected dimension=amount, got {text:?}"))
}

/// How a usage was rated: the version, the value, and a line per dimension.
fn rating_fields(rating: Option<&proto::Rating>) -> Vec<(&'static str, String)> {
    let Some(r) = rating else {
        return Vec::new();
    };
    let mut fields = vec![
        ("rated by", format!("{} v{}", r.book, r.version)),
        ("rated value", r.value.clone()),
    ];
    for d in &r.dimensions {
        fields.push((
            "dimension",
            format!(
                "{} {} x {} per {} = {}",
                d.dimension, d.amount, d.price, d.block, d.value
            ),
        ));
    }
    if !r.cost.is_empty() {
        fields.push(("upstream cost", format!("{} {}", r.cost, r.cost_currency)));
    }
    fields
}

fn print_fields(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (key, value) in fields {
        println!("{:<width$} {value}", format!("{key}:"));
    }
}

fn account_fields(a: &proto::Account) -> Fields {
    let credit_line = format!(
        "limit {}, used {}, held {}",
        a.credit_line_limit, a.credit_line_used, a.credit_line_held
    );
    vec![
        ("account id", a.account_id.clone()),
        ("external id", a.external_id.clone()),
        ("unit", a.unit.clone()),
        ("unit scale", a.unit_scale.to_string()),
        ("status", account_status(a.status)),
        ("credit line", credit_line),
        (
            "credit line price",
            money(&a.credit_line_price, &a.currency),
        ),
        ("open holds", a.open_holds.to_string()),
        ("created at", timestamp(a.created_at.as_ref())),
    ]
}

fn lot_fields(l: &proto::Lot) -> Fields {
    let mut fields = vec![
        ("lot id", l.lot_id.clone()),
        ("account id", l.account_id.clone()),
        ("kind", lot_kind(l.kind)),
        ("status", lot_status(l.status)),
        ("priority", l.priority.to_string()),
        ("granted", l.quantity_granted.clone()),
        ("remaining", l.quantity_remaining.clone()),
        ("held", l.quantity_held.clone()),
        ("cost basis", money(&l.cost_basis, &l.currency)),
        ("money deferred", money(&l.money_deferred, &l.currency)),
        ("effective at", timestamp(l.effective_at.as_ref())),
        ("expires at", expiry(l.expires_at.as_ref())),
        ("scope", scope(&l.scope)),
    ];
    if !l.reference.is_empty() {
        fields.push(("reference", l.reference.clone()));
    }
    fields.push(("created at", timestamp(l.created_at.as_ref())));
    fields
}

fn hold_fields(h: &proto::Hold) -> Fields {
    let mut fields = vec![
        ("hold id", h.hold_id.clone()),
        ("account id", h.account_id.clone()),
        ("status", hold_status(h.status)),
        ("authorized", h.quantity_authorized.clone()),
        ("captured", h.quantity_captured.clone()),
        ("held", h.quantity_held.clone()),
    ];
    fields.extend(h.reserved.iter().map(|d| ("reserved", draw_line(d))));
    fields.push(("expires at", timestamp(h.expires_at.as_ref())));
    if !h.meter.is_empty() {
        fields.push(("meter", h.meter.clone()));
    }
    if !h.reference.is_empty() {
        fields.push(("reference", h.reference.clone()));
    }
    fields.push(("created at", timestamp(h.created_at.as_ref())));
    fields
}

fn lot_balance_line(l: &proto::LotBalance) -> String {
    format!(
        "{}  {}, priority {}, remaining {}, held {}, expires {}, scope {}",
        l.lot_id,
        lot_kind(l.kind),
        l.priority,
        l.remaining,
        l.held,
        expiry(l.expires_at.as_ref()),
        scope(&l.scope)
    )
}

fn draw_line(d: &proto::Draw) -> String {
    if d.lot_id.is_empty() {
        format!("{} from the credit line", d.quantity)
    } else {
        format!("{} from lot {}", d.quantity, d.lot_id)
    }
}

fn money(amount: &str, currency: &str) -> String {
    format!("{amount} {currency}").trim().to_owned()
}

fn scope(meters: &[String]) -> String {
    if meters.is_empty() {
        "any meter".to_owned()
    } else {
        meters.join(", ")
    }
}

fn expiry(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map_or_else(|| "never".to_owned(), |t| timestamp(Some(t)))
}

/// Formats a timestamp as RFC 3339 in UTC, or `-` when it is absent or out of range.
fn timestamp(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .map_or_else(
            || "-".to_owned(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        )
}

/// Parses an RFC 3339 command-line timestamp.
fn parse_timestamp(s: &str) -> Result<prost_types::Timestamp, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("{e}; expected RFC 3339, such as 2026-01-31T00:00:00Z"))?;
    let nanos = i32::try_from(t.timestamp_subsec_nanos()).map_err(|e| e.to_string())?;
    Ok(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos,
    })
}

/// Sends a UUID as the account id and anything else as the external id.
fn account_ref(account: &str) -> proto::AccountRef {
    let r = match uuid::Uuid::parse_str(account) {
        Ok(id) => Ref::AccountId(id.to_string()),
        Err(_) => Ref::ExternalId(account.to_owned()),
    };
    proto::AccountRef { r#ref: Some(r) }
}

fn account_status(v: i32) -> String {
    let name = proto::AccountStatus::try_from(v).map(|s| s.as_str_name());
    enum_label(name.ok(), "ACCOUNT_STATUS_", v)
}

fn lot_kind(v: i32) -> String {
    let name = proto::LotKind::try_from(v).map(|s| s.as_str_name());
    enum_label(name.ok(), "LOT_KIND_", v)
}

fn lot_status(v: i32) -> String {
    let name = proto::LotStatus::try_from(v).map(|s| s.as_str_name());
    enum_label(name.ok(), "LOT_STATUS_", v)
}

fn hold_status(v: i32) -> String {
    let name = proto::HoldStatus::try_from(v).map(|s| s.as_str_name());
    enum_label(name.ok(), "HOLD_STATUS_", v)
}

/// Turns `LOT_STATUS_ACTIVE` into `active`.
fn enum_label(name: Option<&str>, prefix: &str, raw: i32) -> String {
    match name {
        Some(n) => n.strip_prefix(prefix).unwrap_or(n).to_ascii_lowercase(),
        None => format!("unknown ({raw})"),
    }
}

/// Unwraps a gRPC response, turning a status into an error reading `CODE: message`.
trait RpcResult<T> {
    fn rpc(self) -> Result<T>;
}

impl<T> RpcResult<T> for std::result::Result<tonic::Response<T>, tonic::Status> {
    fn rpc(self) -> Result<T> {
        self.map(tonic::Response::into_inner).map_err(|status| {
            let code = code_name(status.code());
            if status.message().is_empty() {
                anyhow::anyhow!("{code}")
            } else {
                anyhow::anyhow!("{code}: {}", status.message())
            }
        })
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
