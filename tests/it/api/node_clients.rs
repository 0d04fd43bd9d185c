//! The real JavaScript clients in `tests/node` (graphql-http's audit, graphql-ws, Apollo
//! Client, graphql-sse), run by node against a live server. Under CI they must run; elsewhere
//! a missing node or `node_modules` skips the test with a loud notice.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

pub(crate) struct NodeClients {
    dir: PathBuf,
}

impl NodeClients {
    /// The scripts, when node and the `modules` they import are installed. `what` names the
    /// test in the skip notice.
    pub(crate) fn find(what: &str, modules: &[&str]) -> Option<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
        let node_runs = Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        let missing = modules
            .iter()
            .find(|module| !dir.join("node_modules").join(module).is_dir());
        let reason = match (node_runs, missing) {
            (true, None) => return Some(Self { dir }),
            (false, _) => "`node` is not on PATH".to_owned(),
            (true, Some(module)) => {
                format!("tests/node/node_modules lacks {module}: run `npm ci --prefix tests/node`")
            }
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} must run under CI: {reason}"
        );
        let _ = std::io::stderr().write_all(format!("\n*** SKIPPED {what}: {reason}\n").as_bytes());
        None
    }

    /// `node <script>`; keys go by environment (`ESCROWGRID_API_KEY`), never argv, so they
    /// stay out of process listings.
    pub(crate) fn command(&self, script: &str) -> Command {
        let mut command = Command::new("node");
        command.arg(self.dir.join(script));
        command
    }
}

/// Runs `command` to its end off the async runtime, which the server under test needs.
pub(crate) async fn output(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the node task completes")
        .expect("node runs")
}

/// Runs a script that prints one JSON report on stdout; fails with both streams unless it
/// succeeded.
pub(crate) async fn json_report(command: Command, what: &str) -> serde_json::Value {
    let output = output(command).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim()).expect("one JSON report")
}
