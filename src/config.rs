//! Configuration: defaults, then an optional TOML file, then `CREDIT_LEDGER_*` environment
//! variables (one per field, e.g. `CREDIT_LEDGER_DATABASE_URL`), parsed into typed settings and
//! validated once, by [`Config::load`]. It knows nothing above the ledger: `server.rs` turns it
//! into each subsystem's settings.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use crate::ledger::{LedgerAccount, Limits};

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A database URL, known to name SQLite (`sqlite://file.db`) or PostgreSQL
/// (`postgres://user@host/db`): parsed once, here.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatabaseUrl {
    url: String,
    dialect: Dialect,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> anyhow::Result<DatabaseUrl> {
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            bail!("database_url must start with sqlite: or postgres:, got {url:?}")
        };
        Ok(DatabaseUrl {
            url: url.to_string(),
            dialect,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL with any password blanked, for logs and errors.
    pub fn redacted(&self) -> String {
        let url = &self.url;
        match (url.find("://"), url.find('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &url[scheme + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                    None => url.clone(),
                }
            }
            _ => url.clone(),
        }
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = anyhow::Error;

    fn try_from(url: String) -> anyhow::Result<DatabaseUrl> {
        DatabaseUrl::parse(&url)
    }
}

impl From<DatabaseUrl> for String {
    fn from(url: DatabaseUrl) -> String {
        url.url
    }
}

/// Never prints a password.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Whether calls must carry an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Required unless the server listens on a loopback address only.
    Auto,
    Required,
    /// Not required, on any address: the server warns at every start when it listens beyond
    /// loopback.
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the gRPC server listens; port 0 picks a free one.
    pub listen_addr: SocketAddr,
    /// `sqlite://credit-ledger.db` (created on first start) or `postgres://user@host/db`.
    pub database_url: DatabaseUrl,
    pub db_connections_max: u32,
    pub db_acquire_timeout_ms: u64,
    pub queue_capacity: usize,
    pub batch_size_max: usize,
    /// Batch loops sharing the queue on PostgreSQL (SQLite has one writer, so always one). Each
    /// keeps two connections: one batch commits on one while the next is applied on the other.
    pub executor_workers: usize,
    /// How long a batch that is not full waits for more commands (0: not at all).
    pub batch_linger_us: u64,
    pub page_size_max: u32,
    pub page_size_default: u32,
    pub open_holds_per_account_max: u32,
    pub live_lots_per_account_max: u32,
    /// Budgets live on their account's row and are read with it by every batch: this bounds
    /// what that costs.
    pub budgets_per_account_max: u32,
    pub hold_ttl_default_ms: u64,
    pub hold_ttl_max_ms: u64,
    pub message_size_max_bytes: usize,
    pub request_timeout_ms: u64,
    pub concurrency_per_connection_max: usize,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// `auto` (API keys required unless the listen address is loopback), `required` or `off`.
    /// A key that is sent is checked whatever the mode.
    pub auth: AuthMode,
    /// How often the server reloads its API keys: a new key works, and a revoked one stops
    /// working, within this long.
    pub auth_refresh_ms: u64,
    /// How often the server reloads the price books: a version published on another instance
    /// is rated by this one within this long (a version published here, at once).
    pub rates_refresh_ms: u64,
    /// On SIGTERM or ctrl-c, how long health answers NOT_SERVING while calls are still served,
    /// so load balancers stop sending before the listener closes.
    pub shutdown_grace_ms: u64,
    /// Where Prometheus scrapes `GET /metrics`; off unless set.
    pub metrics_listen_addr: Option<SocketAddr>,
    /// Where traces go: an OpenTelemetry collector's OTLP/gRPC endpoint, e.g.
    /// `http://127.0.0.1:4317`; off unless set. A call's span is a child of its `traceparent`.
    pub otlp_endpoint: Option<String>,
    /// TLS: the server's certificate chain and key (PEM files). Both or neither.
    pub tls_cert_path: Option<PathBuf>,
    pub tls_key_path: Option<PathBuf>,
    /// Mutual TLS: the CA (PEM) that must have signed every client's certificate.
    pub tls_client_ca_path: Option<PathBuf>,
    /// How often the sweeper posts what time has made due (lot expiry, hold expiry, the end of
    /// commitment terms); 0 turns it off. Safe with several instances on one database.
    pub sweep_interval_ms: u64,
    /// Accounts the sweeper takes per round.
    pub sweep_accounts_max: u32,
    /// How long before a commitment's term ends its `commitment_ending` event is raised.
    pub commitment_notice_ms: u64,
    /// How long after a month (UTC) ends the sweeper closes it (its snapshot written, nothing
    /// more booked inside it); 0: never, months are closed with `credit-ledger close`.
    pub close_after_ms: u64,
    /// How often an event subscription looks for new events.
    pub events_poll_ms: u64,
    /// The GL code journal exports name each money ledger account by (e.g. `deferred_revenue =
    /// "2400"`); an account without one is named as is. In the environment:
    /// `CREDIT_LEDGER_GL_CODES="deferred_revenue=2400,revenue_usage=4000"`.
    pub gl_codes: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        // The engine's own limits are the defaults, written once, in the ledger.
        let limits = Limits::default();
        Config {
            listen_addr: "127.0.0.1:50051".parse().expect("valid address"),
            database_url: DatabaseUrl::parse("sqlite://credit-ledger.db").expect("a SQLite URL"),
            db_connections_max: 16,
            db_acquire_timeout_ms: 5_000,
            queue_capacity: 20_000,
            batch_size_max: 512,
            executor_workers: 1,
            batch_linger_us: 0,
            page_size_max: 1_000,
            page_size_default: 100,
            open_holds_per_account_max: limits.open_holds_per_account_max,
            live_lots_per_account_max: limits.live_lots_per_account_max,
            budgets_per_account_max: limits.budgets_per_account_max,
            hold_ttl_default_ms: limits.hold_ttl_default_ms,
            hold_ttl_max_ms: limits.hold_ttl_max_ms,
            message_size_max_bytes: 1 << 20,
            request_timeout_ms: 10_000,
            concurrency_per_connection_max: 1_024,
            log_format: LogFormat::Text,
            auth: AuthMode::Auto,
            auth_refresh_ms: 2_000,
            rates_refresh_ms: 2_000,
            shutdown_grace_ms: 5_000,
            metrics_listen_addr: None,
            otlp_endpoint: None,
            tls_cert_path: None,
            tls_key_path: None,
            tls_client_ca_path: None,
            sweep_interval_ms: 60_000,
            sweep_accounts_max: 1_000,
            commitment_notice_ms: 7 * 24 * 3_600_000,
            close_after_ms: 24 * 3_600_000,
            events_poll_ms: 250,
            gl_codes: BTreeMap::new(),
        }
    }
}

pub const ENV_PREFIX: &str = "CREDIT_LEDGER_";

impl Config {
    /// Defaults → `file` (if given) → environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut value = serde_json::to_value(Config::default())?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            let from_file: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            merge(&mut value, serde_json::to_value(from_file)?, "config file")?;
        }
        let overrides = env_overrides(&value, std::env::vars())?;
        merge(&mut value, overrides, "environment")?;
        let config: Config = serde_json::from_value(value).context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let positive = [
            ("db_connections_max", self.db_connections_max as u64),
            ("queue_capacity", self.queue_capacity as u64),
            ("batch_size_max", self.batch_size_max as u64),
            ("executor_workers", self.executor_workers as u64),
            ("page_size_max", self.page_size_max as u64),
            ("page_size_default", self.page_size_default as u64),
            ("hold_ttl_default_ms", self.hold_ttl_default_ms),
            ("message_size_max_bytes", self.message_size_max_bytes as u64),
            ("sweep_accounts_max", self.sweep_accounts_max as u64),
            ("events_poll_ms", self.events_poll_ms),
            ("auth_refresh_ms", self.auth_refresh_ms),
            ("rates_refresh_ms", self.rates_refresh_ms),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            bail!("{name} must be positive");
        }
        if u64::from(self.db_connections_max) <= 2 * self.executor_workers as u64 {
            bail!(
                "db_connections_max must be more than twice executor_workers: each batch loop \
                 keeps two connections, and reads need one more"
            );
        }
        match (
            &self.tls_cert_path,
            &self.tls_key_path,
            &self.tls_client_ca_path,
        ) {
            (Some(_), Some(_), _) | (None, None, None) => {}
            (None, None, Some(_)) => {
                bail!("tls_client_ca_path needs tls_cert_path and tls_key_path")
            }
            _ => bail!("tls_cert_path and tls_key_path go together"),
        }
        if self.batch_size_max > 4_096 {
            bail!("batch_size_max must be at most 4096");
        }
        if self.hold_ttl_default_ms > self.hold_ttl_max_ms {
            bail!("hold_ttl_default_ms must not exceed hold_ttl_max_ms");
        }
        if self.page_size_default > self.page_size_max {
            bail!("page_size_default must not exceed page_size_max");
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            validate_otlp_endpoint(endpoint)?;
        }
        validate_gl_codes(&self.gl_codes)?;
        Ok(())
    }

    /// Whether calls must carry an API key at this listen address.
    pub fn auth_required(&self) -> bool {
        match self.auth {
            AuthMode::Auto => !self.listen_addr.ip().is_loopback(),
            AuthMode::Required => true,
            AuthMode::Off => false,
        }
    }

    /// The limits the engine enforces.
    pub fn limits(&self) -> Limits {
        Limits {
            open_holds_per_account_max: self.open_holds_per_account_max,
            live_lots_per_account_max: self.live_lots_per_account_max,
            hold_ttl_default_ms: self.hold_ttl_default_ms,
            hold_ttl_max_ms: self.hold_ttl_max_ms,
            budgets_per_account_max: self.budgets_per_account_max,
        }
    }
}

fn merge(
    base: &mut serde_json::Value,
    overrides: serde_json::Value,
    source: &str,
) -> anyhow::Result<()> {
    let (Some(base), serde_json::Value::Object(overrides)) = (base.as_object_mut(), overrides)
    else {
        bail!("{source}: expected a table of settings");
    };
    for (key, value) in overrides {
        if !base.contains_key(&key) {
            bail!("{source}: unknown setting {key:?}");
        }
        base.insert(key, value);
    }
    Ok(())
}

/// Reads `CREDIT_LEDGER_<FIELD>` for every field, typed like the field's default.
fn env_overrides(
    defaults: &serde_json::Value,
    vars: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<serde_json::Value> {
    let fields = defaults.as_object().expect("config is a table");
    let mut out = serde_json::Map::new();
    for (name, raw) in vars {
        let Some(field) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let field = field.to_ascii_lowercase();
        let Some(default) = fields.get(&field) else {
            continue;
        };
        let value = match default {
            serde_json::Value::Number(_) => serde_json::Value::Number(
                raw.trim()
                    .parse::<u64>()
                    .with_context(|| format!("{name} must be a whole number"))?
                    .into(),
            ),
            serde_json::Value::Object(_) => gl_codes_from_env(&name, &raw)?,
            _ => serde_json::Value::String(raw),
        };
        out.insert(field, value);
    }
    Ok(serde_json::Value::Object(out))
}

/// An OTLP endpoint is an http or https URL with a host, checked at boot rather than found
/// wrong at the first export.
fn validate_otlp_endpoint(endpoint: &str) -> anyhow::Result<()> {
    let uri: http::Uri = endpoint
        .parse()
        .with_context(|| format!("otlp_endpoint {endpoint:?} is not a URL"))?;
    let scheme = uri.scheme_str();
    if !matches!(scheme, Some("http" | "https")) || uri.host().is_none() {
        bail!("otlp_endpoint {endpoint:?} must be an http:// or https:// URL with a host");
    }
    Ok(())
}

/// A code for an account that does not exist is a typo that would silently export the
/// account's own name; refuse it at boot.
fn validate_gl_codes(codes: &BTreeMap<String, String>) -> anyhow::Result<()> {
    for (account, code) in codes {
        let money = account
            .parse::<LedgerAccount>()
            .is_ok_and(LedgerAccount::is_money);
        if !money {
            let names: Vec<String> = LedgerAccount::MONEY.iter().map(|a| a.to_string()).collect();
            bail!(
                "gl_codes: {account:?} is not a money ledger account (one of {})",
                names.join(", ")
            );
        }
        if code.trim().is_empty() || code.len() > 64 {
            bail!("gl_codes: the code of {account} must be 1 to 64 bytes");
        }
    }
    Ok(())
}

/// `account=code,account=code` from the environment, as a table of settings.
fn gl_codes_from_env(name: &str, raw: &str) -> anyhow::Result<serde_json::Value> {
    let mut table = serde_json::Map::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((account, code)) = pair.split_once('=') else {
            bail!("{name} must be account=code pairs separated by commas, got {pair:?}");
        };
        table.insert(
            account.trim().to_string(),
            serde_json::Value::String(code.trim().to_string()),
        );
    }
    Ok(serde_json::Value::Object(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults_by_type() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let vars = [
            ("CREDIT_LEDGER_BATCH_SIZE_MAX".to_string(), "64".to_string()),
            (
                "CREDIT_LEDGER_DATABASE_URL".to_string(),
                "postgres://x@h/db".to_string(),
            ),
            (
                "CREDIT_LEDGER_SERVER".to_string(),
                "http://client-only".to_string(),
            ),
        ];
        let overrides = env_overrides(&defaults, vars.into_iter()).unwrap();
        let mut value = defaults;
        merge(&mut value, overrides, "env").unwrap();
        let config: Config = serde_json::from_value(value).unwrap();
        assert_eq!(config.batch_size_max, 64);
        assert_eq!(config.database_url.as_str(), "postgres://x@h/db");
        assert_eq!(config.database_url.dialect(), Dialect::Postgres);
    }

    #[test]
    fn bad_numbers_are_refused_with_the_variable_named() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let vars = [(
            "CREDIT_LEDGER_QUEUE_CAPACITY".to_string(),
            "lots".to_string(),
        )];
        let error = env_overrides(&defaults, vars.into_iter()).unwrap_err();
        assert!(error.to_string().contains("CREDIT_LEDGER_QUEUE_CAPACITY"));
    }

    #[test]
    fn gl_codes_come_from_the_environment_and_must_name_money_accounts() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let vars = [(
            "CREDIT_LEDGER_GL_CODES".to_string(),
            "deferred_revenue=2400, revenue_usage=4000".to_string(),
        )];
        let overrides = env_overrides(&defaults, vars.into_iter()).unwrap();
        let mut value = defaults;
        merge(&mut value, overrides, "env").unwrap();
        let config: Config = serde_json::from_value(value).unwrap();
        assert_eq!(config.gl_codes["deferred_revenue"], "2400");
        assert_eq!(config.gl_codes["revenue_usage"], "4000");
        config.validate().unwrap();
        let typo = Config {
            gl_codes: BTreeMap::from([("deferred_revenu".into(), "2400".into())]),
            ..Config::default()
        };
        assert!(typo
            .validate()
            .unwrap_err()
            .to_string()
            .contains("deferred_revenu"));
    }

    #[test]
    fn urls_and_log_formats_are_typed_at_load() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        for (name, value, wrong) in [
            ("CREDIT_LEDGER_DATABASE_URL", "mysql://x", "database_url"),
            ("CREDIT_LEDGER_LOG_FORMAT", "yaml", "log_format"),
        ] {
            let vars = [(name.to_string(), value.to_string())];
            let overrides = env_overrides(&defaults, vars.into_iter()).unwrap();
            let mut value = defaults.clone();
            merge(&mut value, overrides, "env").unwrap();
            let error = serde_json::from_value::<Config>(value)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("database_url") || error.contains("variant"),
                "{wrong}: {error}"
            );
        }
        let url = DatabaseUrl::parse("postgres://me:secret@db/ledger").unwrap();
        assert_eq!(url.redacted(), "postgres://me:***@db/ledger");
        assert_eq!(format!("{url:?}"), "postgres://me:***@db/ledger");
    }

    #[test]
    fn an_otlp_endpoint_is_an_http_url_with_a_host() {
        for good in ["http://127.0.0.1:4317", "https://collector.internal:4317"] {
            let config = Config {
                otlp_endpoint: Some(good.into()),
                ..Config::default()
            };
            config.validate().unwrap();
        }
        for bad in [
            "127.0.0.1:4317",
            "grpc://collector:4317",
            "http://",
            "not a url",
        ] {
            let config = Config {
                otlp_endpoint: Some(bad.into()),
                ..Config::default()
            };
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("otlp_endpoint"), "{bad}: {error}");
        }
    }

    #[test]
    fn zero_batch_size_is_refused() {
        let config = Config {
            batch_size_max: 0,
            ..Config::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("batch_size_max"));
    }
}
