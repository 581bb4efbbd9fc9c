//! The gRPC scenarios: seed accounts, drive the load, then check the books — every account's
//! posted balance must equal its starting balance minus exactly the operations the server
//! acknowledged. Calls whose outcome is unknown (a transport error, a timeout) are replayed with
//! the same idempotency key until they answer, so the check stays exact.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _};
use futures::StreamExt as _;
use rust_decimal::Decimal;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::Code;

use super::load::{drive, Picker, Rng, Timing};
use super::report::Tally;
use crate::proto::{self as p, usage_client::UsageClient};

pub const START_BALANCE: &str = "1000000000";

pub fn by_id(id: &str) -> Option<p::AccountRef> {
    Some(p::AccountRef {
        r#ref: Some(p::account_ref::Ref::AccountId(id.to_string())),
    })
}

/// Whether an error leaves the outcome unknown (so the call must be replayed to find out).
fn is_unknown(code: Code) -> bool {
    !matches!(
        code,
        Code::FailedPrecondition | Code::InvalidArgument | Code::NotFound | Code::AlreadyExists
    )
}

/// A connection to the server that sends the bench's API key, if it has one, on every call.
pub type Conn = InterceptedService<Channel, WithKey>;

/// Puts `authorization: Bearer <key>` on every request.
#[derive(Clone)]
pub struct WithKey(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for WithKey {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub async fn channels(
    url: &str,
    count: usize,
    client: &super::Client<'_>,
) -> anyhow::Result<Vec<Conn>> {
    let key = client
        .key
        .map(|k| format!("Bearer {k}").parse())
        .transpose()
        .context("the API key is not valid header text")?;
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        let endpoint = endpoint(url, client.tls.clone())?;
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))?;
        channels.push(InterceptedService::new(channel, WithKey(key.clone())));
    }
    Ok(channels)
}

/// A connection's settings: no Nagle delay, and TLS when asked for.
pub fn endpoint(
    url: &str,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> anyhow::Result<tonic::transport::Endpoint> {
    let endpoint = Channel::from_shared(url.to_string())?.tcp_nodelay(true);
    Ok(match tls {
        Some(tls) => endpoint.tls_config(tls)?,
        None => endpoint,
    })
}

/// Creates `n` accounts and tops each up with [`START_BALANCE`]; returns their ids.
pub async fn seed(channels: &[Conn], n: usize, run: &str) -> anyhow::Result<Vec<String>> {
    let calls = (0..n).map(|i| {
        let channel = channels[i % channels.len()].clone();
        let run = run.to_string();
        async move {
            let mut accounts = p::accounts_client::AccountsClient::new(channel.clone());
            let account = accounts
                .create_account(p::CreateAccountRequest {
                    idempotency_key: format!("{run}-create-{i}"),
                    external_id: format!("{run}-{i}"),
                    unit: "CREDIT".parse().unwrap(),
                    unit_scale: 6,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .account
                .context("no account in response")?;
            let mut credits = p::credits_client::CreditsClient::new(channel);
            credits
                .top_up(p::TopUpRequest {
                    idempotency_key: format!("{run}-topup-{i}"),
                    account: by_id(&account.account_id),
                    quantity: START_BALANCE.into(),
                    price: "1000".into(),
                    currency: "USD".parse().unwrap(),
                    ..Default::default()
                })
                .await?;
            anyhow::Ok(account.account_id)
        }
    });
    let ids: Vec<anyhow::Result<String>> =
        futures::stream::iter(calls).buffered(256).collect().await;
    ids.into_iter().collect()
}

pub async fn ping(channels: Vec<Conn>, concurrency: usize, timing: Timing) -> Tally {
    let clients: Vec<_> = channels
        .into_iter()
        .map(tonic_health::pb::health_client::HealthClient::new)
        .collect();
    drive(concurrency, timing, move |worker, _| {
        let mut client = clients[worker % clients.len()].clone();
        async move {
            let request = tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            };
            client
                .check(request)
                .await
                .map(|_| ())
                .map_err(|s| format!("{:?}", s.code()))
        }
    })
    .await
}

/// A call that charges an account, kept so it can be replayed by its idempotency key.
#[derive(Clone)]
pub enum Charge {
    Debit(p::DebitRequest),
    Capture(p::CaptureRequest),
}

/// What the load acknowledged per account, and the charges whose outcome is still unknown.
pub struct Ledger {
    pub acked: Vec<AtomicU64>,
    unknown: Mutex<Vec<(usize, Charge)>>,
}

impl Ledger {
    pub fn new(accounts: usize) -> Arc<Ledger> {
        Arc::new(Ledger {
            acked: (0..accounts).map(|_| AtomicU64::new(0)).collect(),
            unknown: Mutex::new(Vec::new()),
        })
    }

    /// Counts an acknowledged charge, or keeps one whose outcome the error leaves unknown.
    fn settle<T>(
        &self,
        index: usize,
        charge: Charge,
        result: Result<T, tonic::Status>,
    ) -> Result<(), String> {
        match result {
            Ok(_) => {
                self.acked[index].fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(status) => {
                if is_unknown(status.code()) {
                    self.unknown.lock().expect("lock").push((index, charge));
                }
                Err(format!("{:?}", status.code()))
            }
        }
    }
}

pub struct Load {
    pub channels: Vec<Conn>,
    pub accounts: Arc<Vec<String>>,
    pub picker: Arc<Picker>,
    pub amount: String,
    pub concurrency: usize,
    pub timing: Timing,
    pub run: String,
    /// Send usage in tokens (see [`publish_prices`]) instead of quantities.
    pub rated: bool,
    /// The subject every charge names (empty: none); see [`budget_path`].
    pub subject: String,
}

/// The subject `debit-hot-budgets` and `debit-hot-velocity` charge.
pub const BUDGETED_SUBJECT: &str = "team:bench/key:k1";

/// Puts a hard monthly budget on every level of [`BUDGETED_SUBJECT`]'s path of each account
/// (the whole account, the team, the key), each far above what a run spends, so every charge is
/// checked against three budgets and counted in all of them without being refused.
pub async fn budget_path(channel: Conn, accounts: &[String], run: &str) -> anyhow::Result<()> {
    let mut budgets = p::budgets_client::BudgetsClient::new(channel);
    for account in accounts {
        for subject in ["", "team:bench", BUDGETED_SUBJECT] {
            budgets
                .create_budget(p::CreateBudgetRequest {
                    idempotency_key: format!("{run}-budget-{account}-{subject}"),
                    account: by_id(account),
                    subject: subject.into(),
                    limit: "1000000000000".into(),
                    period: p::BudgetPeriod::Month as i32,
                    hard: true,
                    alerts: vec![80],
                    ..Default::default()
                })
                .await?;
        }
    }
    Ok(())
}

/// Puts a velocity limit on [`BUDGETED_SUBJECT`] of each account: an amount and a number of
/// requests per 60 s, both far above what a run does, so every charge is checked against the
/// window and counted in it without being refused.
pub async fn velocity_limit(channel: Conn, accounts: &[String], run: &str) -> anyhow::Result<()> {
    let mut budgets = p::budgets_client::BudgetsClient::new(channel);
    for account in accounts {
        budgets
            .create_budget(p::CreateBudgetRequest {
                idempotency_key: format!("{run}-velocity-{account}"),
                account: by_id(account),
                subject: BUDGETED_SUBJECT.into(),
                limit: "1000000000000".into(),
                period: p::BudgetPeriod::Rolling as i32,
                window_seconds: 60,
                max_requests: Some(u32::MAX),
                hard: true,
                ..Default::default()
            })
            .await?;
    }
    Ok(())
}

/// The meter the rated scenarios charge.
const RATED_METER: &str = "bench:chat";

/// Publishes the default book's prices for the rated scenarios: 1,000 input and 500 output
/// tokens are worth exactly `amount` (half each), 1,000 input and 1,500 output twice that, so
/// a rated call charges what its quantity twin does and the books check the same way. Each
/// token costs half its price upstream, in USD, so every rated charge posts its cost too.
pub async fn publish_prices(channel: Conn, amount: &str, run: &str) -> anyhow::Result<()> {
    let amount: Decimal = amount.parse()?;
    let price = |dimension: &str, per_million: Decimal| p::Price {
        meter: RATED_METER.into(),
        dimension: dimension.into(),
        unit: "CREDIT".into(),
        block: 1_000_000,
        price: per_million.normalize().to_string(),
        cost: (per_million / Decimal::TWO).normalize().to_string(),
        currency: "USD".into(),
    };
    let mut pricing = p::pricing_client::PricingClient::new(channel);
    pricing
        .publish_price_version(p::PublishPriceVersionRequest {
            idempotency_key: format!("{run}-prices"),
            prices: vec![
                price("input_tokens", amount * Decimal::from(500)),
                price("output_tokens", amount * Decimal::from(1000)),
            ],
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// The usage of a rated call: 1,000 input tokens and `output` output tokens.
fn tokens(output: &str) -> std::collections::HashMap<String, String> {
    [("input_tokens", "1000"), ("output_tokens", output)]
        .map(|(d, n)| (d.to_string(), n.to_string()))
        .into()
}

pub async fn debit(load: &Load, ledger: Arc<Ledger>) -> Tally {
    let clients: Vec<UsageClient<Conn>> = load
        .channels
        .iter()
        .cloned()
        .map(UsageClient::new)
        .collect();
    let (accounts, picker, amount, run, rated, subject) = (
        load.accounts.clone(),
        load.picker.clone(),
        load.amount.clone(),
        load.run.clone(),
        load.rated,
        load.subject.clone(),
    );
    drive(load.concurrency, load.timing, move |worker, seq| {
        let mut client = clients[worker % clients.len()].clone();
        let index = picker.pick(&mut Rng::new(((worker as u64) << 40) ^ seq));
        let request = match rated {
            false => p::DebitRequest {
                idempotency_key: format!("{run}-d-{worker}-{seq}"),
                account: by_id(&accounts[index]),
                quantity: amount.clone(),
                subject: subject.clone(),
                ..Default::default()
            },
            true => p::DebitRequest {
                idempotency_key: format!("{run}-d-{worker}-{seq}"),
                account: by_id(&accounts[index]),
                meter: RATED_METER.into(),
                usage: tokens("500"),
                ..Default::default()
            },
        };
        let ledger = ledger.clone();
        async move {
            let result = client.debit(request.clone()).await;
            ledger.settle(index, Charge::Debit(request), result)
        }
    })
    .await
}

/// Authorize twice the amount, then capture the amount with `final`: one pair is one operation.
pub async fn authorize_capture(load: &Load, ledger: Arc<Ledger>) -> Tally {
    let clients: Vec<UsageClient<Conn>> = load
        .channels
        .iter()
        .cloned()
        .map(UsageClient::new)
        .collect();
    let amount: Decimal = load.amount.parse().expect("amount parsed at start");
    let (accounts, run) = (load.accounts.clone(), load.run.clone());
    let (hold_amount, capture_amount) = ((amount * Decimal::TWO).to_string(), amount.to_string());
    let rated = load.rated;
    drive(load.concurrency, load.timing, move |worker, seq| {
        let mut client = clients[worker % clients.len()].clone();
        let authorize = match rated {
            false => p::AuthorizeRequest {
                idempotency_key: format!("{run}-a-{worker}-{seq}"),
                account: by_id(&accounts[0]),
                quantity: hold_amount.clone(),
                ..Default::default()
            },
            // An estimate of 1,500 output tokens; 500 are used.
            true => p::AuthorizeRequest {
                idempotency_key: format!("{run}-a-{worker}-{seq}"),
                account: by_id(&accounts[0]),
                meter: RATED_METER.into(),
                usage: tokens("1500"),
                ..Default::default()
            },
        };
        let (ledger, capture_amount, key) = (
            ledger.clone(),
            capture_amount.clone(),
            format!("{run}-c-{worker}-{seq}"),
        );
        async move {
            let hold = client
                .authorize(authorize)
                .await
                .map_err(|s| format!("{:?}", s.code()))?;
            let hold_id = hold
                .into_inner()
                .hold
                .map(|h| h.hold_id)
                .unwrap_or_default();
            let capture = match rated {
                false => p::CaptureRequest {
                    idempotency_key: key,
                    hold_id,
                    quantity: capture_amount,
                    r#final: true,
                    ..Default::default()
                },
                true => p::CaptureRequest {
                    idempotency_key: key,
                    hold_id,
                    r#final: true,
                    usage: tokens("500"),
                    ..Default::default()
                },
            };
            let result = client.capture(capture.clone()).await;
            ledger.settle(0, Charge::Capture(capture), result)
        }
    })
    .await
}

/// Replays every call whose outcome was unknown until it answers, then compares each account's
/// posted balance with its start minus what was acknowledged.
pub async fn check_books(
    channel: Conn,
    accounts: &[String],
    ledger: &Ledger,
    amount: &str,
) -> anyhow::Result<String> {
    let usage = UsageClient::new(channel);
    let unknown = std::mem::take(&mut *ledger.unknown.lock().expect("lock"));
    for (index, charge) in unknown {
        if replay(&usage, &charge).await? {
            ledger.acked[index].fetch_add(1, Ordering::Relaxed);
        }
    }
    let (start, amount): (Decimal, Decimal) = (START_BALANCE.parse()?, amount.parse()?);
    // Balances are read 64 at a time: a million accounts are checked in minutes, not hours.
    let checks = accounts.iter().enumerate().map(|(index, id)| {
        let mut usage = usage.clone();
        let acked = ledger.acked[index].load(Ordering::Relaxed);
        async move {
            let request = p::GetBalanceRequest {
                account: by_id(id),
                as_of: None,
            };
            let posted: Decimal = usage
                .get_balance(request)
                .await?
                .into_inner()
                .posted
                .parse()?;
            let expected = start - amount * Decimal::from(acked);
            anyhow::Ok((posted != expected).then(|| {
                format!("account {id}: posted {posted}, expected {expected} ({acked} acknowledged)")
            }))
        }
    });
    let results: Vec<anyhow::Result<Option<String>>> = futures::stream::iter(checks)
        .buffer_unordered(64)
        .collect()
        .await;
    let mut wrong = Vec::new();
    for result in results {
        wrong.extend(result?);
    }
    if !wrong.is_empty() {
        bail!(
            "BOOKS DO NOT BALANCE on {} accounts:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }
    let total: u64 = ledger.acked.iter().map(|a| a.load(Ordering::Relaxed)).sum();
    Ok(format!("ok ({} accounts, {total} charges)", accounts.len()))
}

/// Resends a charge until it gives a definite answer: `true` if it was applied.
async fn replay(usage: &UsageClient<Conn>, charge: &Charge) -> anyhow::Result<bool> {
    for _ in 0..100 {
        let mut usage = usage.clone();
        let result = match charge.clone() {
            Charge::Debit(request) => usage.debit(request).await.map(|_| ()),
            Charge::Capture(request) => usage.capture(request).await.map(|_| ()),
        };
        match result {
            Ok(()) => return Ok(true),
            Err(status) if !is_unknown(status.code()) => return Ok(false),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    bail!("a call's outcome stayed unknown after 100 replays")
}
