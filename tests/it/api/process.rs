//! The `escrowgrid` binary as an operator runs it, in a child process: for what only a
//! separate process shows (a second instance, the process-wide tracing setup).

use escrowgrid::service::ApiKeyToken;
use std::io::BufRead as _;
use std::time::Duration;
use tokio::sync::mpsc;

/// `escrowgrid serve` on `database_url`, killed when dropped.
pub(crate) struct ServerProcess {
    child: std::process::Child,
    pub(crate) address: String,
    pub(crate) root_key: String,
    /// Its log (JSON lines on stderr), as they are written.
    pub(crate) log: mpsc::UnboundedReceiver<String>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts it with `env` on top of a quiet default (JSON logs at warn), and waits for the
    /// line with its address.
    pub(crate) async fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let root_key = ApiKeyToken::generate().expose().to_owned();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_escrowgrid"));
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("PORT", "0")
            .env("BIND", "127.0.0.1")
            .env("ROOT_API_KEY", &root_key)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .env_remove("CORS_ALLOW_ORIGINS")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("the escrowgrid binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (log_line, log) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = log_line.send(line);
            }
        });
        let address = listening_address(stdout).await;
        Self {
            child,
            address,
            root_key,
            log,
        }
    }

    pub(crate) fn ws_url(&self) -> String {
        format!(
            "{}/graphql/ws",
            self.address.replacen("http://", "ws://", 1)
        )
    }

    /// SIGTERM, as an orchestrator stops it.
    pub(crate) fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Its exit status once it exits (after `terminate`); a panic after `limit`.
    pub(crate) async fn exit_within(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "the process did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The address in the server's first stdout line (`listening on http://…`). stdout is drained
/// for the process's life afterwards, so the server never blocks on a full pipe.
pub(crate) async fn listening_address(stdout: std::process::ChildStdout) -> String {
    let (first_line, line) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let _ = first_line.send(lines.next().and_then(Result::ok));
        for _ in lines {}
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("the server prints its address")
        .expect("the reader thread answers")
        .expect("a first line");
    line.split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}
