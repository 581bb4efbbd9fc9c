//! Where the load goes: a fresh database (an SQLite file in a temporary directory, or a new
//! database on the PostgreSQL server named by the URL) and a `credit-ledger serve` child process
//! on it, or an existing server given by `--server`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::probe::ServerCounts;
use crate::store::admin::{create_postgres_database, drop_postgres_database};
use anyhow::{bail, Context as _};

/// A database made for one scenario; PostgreSQL ones are dropped at the end.
pub struct FreshDatabase {
    pub url: String,
    pub store: &'static str,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: Option<std::path::PathBuf>,
}

impl FreshDatabase {
    /// `sqlite` (or any `sqlite:` URL) for a new file; a `postgres:` URL for a new database on
    /// that server.
    pub async fn create(url: &str) -> anyhow::Result<FreshDatabase> {
        if url == "sqlite" || url.starts_with("sqlite:") {
            let dir = std::env::temp_dir().join(format!(
                "credit-ledger-bench-{}",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::create_dir_all(&dir)?;
            let url = format!("sqlite://{}", dir.join("bench.db").display());
            return Ok(FreshDatabase {
                url,
                store: "sqlite",
                admin_url: None,
                name: None,
                _dir: Some(dir),
            });
        }
        if !url.starts_with("postgres") {
            bail!("--database-url must be `sqlite` or a postgres:// URL");
        }
        let name = format!("cl_bench_{}", uuid::Uuid::new_v4().simple());
        create_postgres_database(url, &name).await?;
        let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
        Ok(FreshDatabase {
            url: format!("{base}/{name}"),
            store: "postgres",
            admin_url: Some(url.to_string()),
            name: Some(name),
            _dir: None,
        })
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        if let (Some(admin_url), Some(name)) = (self.admin_url, self.name) {
            drop_postgres_database(&admin_url, &name).await?;
        }
        if let Some(dir) = self._dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }
}

/// A `credit-ledger serve` child process on a free local port. Its log (JSON) is passed through
/// to ours, and the executor's closing counts are kept from it.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    log: Option<std::thread::JoinHandle<Option<ServerCounts>>>,
}

impl ServerProcess {
    /// Starts the server on `database_url`, with `settings` as extra `CREDIT_LEDGER_*`
    /// variables.
    pub async fn start(
        database_url: &str,
        settings: &[(&str, &str)],
        tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> anyhow::Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        // The executor's closing counts are logged at info; a filter that names the executor
        // already says what the caller wants from it.
        let filter = match std::env::var("RUST_LOG") {
            Ok(filter) if filter.contains("credit_ledger::executor") => filter,
            Ok(filter) => format!("{filter},credit_ledger::executor=info"),
            Err(_) => "warn,credit_ledger::executor=info".into(),
        };
        let mut command = Command::new(std::env::current_exe()?);
        for (name, value) in settings {
            command.env(
                format!("CREDIT_LEDGER_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        let mut child = command
            .arg("serve")
            .env("CREDIT_LEDGER_DATABASE_URL", database_url)
            .env("CREDIT_LEDGER_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("CREDIT_LEDGER_LOG_FORMAT", "json")
            // The bench's own server has no load balancer to tell.
            .env("CREDIT_LEDGER_SHUTDOWN_GRACE_MS", "0")
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the server")?;
        let log = child.stdout.take().map(|stdout| {
            std::thread::spawn(move || {
                let mut counts = None;
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    match ServerCounts::from_log_line(&line) {
                        Some(found) => counts = Some(found),
                        None => eprintln!("server: {line}"),
                    }
                }
                counts
            })
        });
        let url = match tls {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let server = ServerProcess { child, url, log };
        server.wait_serving(tls).await?;
        Ok(server)
    }

    async fn wait_serving(
        &self,
        tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let channel = super::scenarios::endpoint(&self.url, tls.clone())?
                .connect()
                .await;
            if let Ok(mut health) = channel.map(tonic_health::pb::health_client::HealthClient::new)
            {
                let request = tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                };
                if let Ok(r) = health.check(request).await {
                    if r.into_inner().status
                        == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                    {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("the server did not become healthy within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Peak resident set size of the server so far (Linux `VmHWM`), in MiB.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        peak_rss_mb_of(self.child.id())
    }

    /// Stops the server the way an operator would (SIGTERM), waits for it, and answers what
    /// its executor reported when it drained.
    pub fn stop(mut self) -> anyhow::Result<Option<ServerCounts>> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                self.child.kill()?;
                self.child.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(self.log.take().and_then(|log| log.join().ok().flatten()))
    }
}

/// Peak resident set size of process `pid` so far (Linux `VmHWM`), in MiB; `None` once it has
/// gone.
pub fn peak_rss_mb_of(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
