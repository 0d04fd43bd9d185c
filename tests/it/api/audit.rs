//! The GraphQL-over-HTTP conformance audit (graphql-http's serverAudits, run by node against
//! a live server): every MUST and SHOULD must pass.

use super::node_clients::{NodeClients, output};
use super::support::TestApp;

const EXPECTED: &str = "MUST: 13/13 passed, SHOULD: 23/23 passed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_over_http_audit_passes_every_must_and_should() {
    let Some(node) = NodeClients::find("the graphql-http audit", &["graphql-http"]) else {
        return;
    };
    let app = TestApp::memory().await;
    let url = app.url("/graphql");
    let key = app.root_key.clone();
    let mut audit = node.command("audit.mjs");
    audit.arg(url).env("ESCROWGRID_API_KEY", key);
    let output = output(audit).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(EXPECTED),
        "graphql-http audit failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
