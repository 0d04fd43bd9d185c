//! The server under test: built in release mode, started as a child process per store on a port
//! the kernel picks, and stopped with SIGTERM. A child process rather than an in-process app so
//! its CPU time and memory can be read from /proc apart from the load generator's.

use crate::error::{Context as _, Error, Result};
use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `cargo build --release --bin escrowgrid` in this workspace; returns the executable cargo
/// reports, so a custom `CARGO_TARGET_DIR` works too.
pub(crate) fn build() -> Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| Error::msg("bench crate has no parent directory"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: building the server (cargo build --release --bin escrowgrid)…");
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--bin",
            "escrowgrid",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(workspace)
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !output.status.success() {
        return Err(Error::msg(format!(
            "cargo build --release --bin escrowgrid failed ({})",
            output.status
        )));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == "escrowgrid")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| Error::msg("cargo build did not report the escrowgrid executable"))
}

pub(crate) struct Server {
    child: Child,
    pid: u32,
    base_url: String,
    log: PathBuf,
}

impl Server {
    /// Starts `bin serve` with PORT=0 and waits until it prints its address and `/ready`
    /// answers 200 (PostgreSQL migrations run before that).
    pub(crate) async fn start(
        bin: &Path,
        database_url: Option<&str>,
        root_key: &str,
        log: &Path,
        log_level: &str,
    ) -> Result<Self> {
        let log_file = File::create(log).context(format!("creating {}", log.display()))?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .env("PORT", "0")
            .env("BIND", "127.0.0.1")
            .env("ROOT_API_KEY", root_key)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", log_level)
            // The bench measures capacity, not the limits that protect it: every client runs
            // from 127.0.0.1 with one of two keys, which the per-key rate limit (50/s) and the
            // per-address connection caps (256) would otherwise throttle or close.
            .env("RATE_LIMIT_PER_SECOND", "0")
            .env("MAX_CONNECTIONS", "65536")
            .env("MAX_CONNECTIONS_PER_CLIENT", "65536")
            .env("WS_MAX_PER_CLIENT", "65536")
            .env("WS_MAX_UNAUTHENTICATED", "65536")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        match database_url {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        let mut child = command
            .spawn()
            .context(format!("starting {}", bin.display()))?;
        let pid = child.id();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::msg("server stdout was not captured"))?;
        // A thread, not a task: it blocks on the pipe, and keeps draining it after the address
        // line so the server can never block on a full stdout.
        let (address_tx, address_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let address = rest.split_whitespace().next().unwrap_or_default();
                    let _ = address_tx.send(address.to_owned());
                }
            }
        });
        let mut server = Self {
            child,
            pid,
            base_url: String::new(),
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let address = loop {
            if let Ok(address) = address_rx.try_recv() {
                break address;
            }
            if let Some(status) = server.child.try_wait().context("waiting for the server")? {
                return Err(Error::msg(format!(
                    "the server exited ({status}) before listening; its log {}:\n{}",
                    log.display(),
                    tail(log)
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::msg(format!(
                    "the server printed no 'listening on' line within 120 s; see {}",
                    log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        server.base_url = format!("http://{address}");
        server.wait_ready(deadline).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, deadline: Instant) -> Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/ready", self.base_url);
        loop {
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::msg(format!(
                    "{url} did not answer 200 within 120 s; see {}",
                    self.log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// SIGTERM (graceful shutdown, as an operator would), then SIGKILL after 10 s.
    pub(crate) async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("bench: server did not stop within 10 s of SIGTERM; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    /// An error path must not leave a server running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last lines of a log, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
