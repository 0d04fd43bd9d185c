//! Abuse from outside (issue 14): a caller without a valid key must cost almost nothing.
//! Refusals are audited in groups, clients are limited per address before authentication
//! (with `TRUSTED_PROXIES` deciding whose forwarding headers count), and slow or idle
//! connections are cut off.
//!
//! Flooding clients send from 127.0.0.2 (all of 127/8 is loopback on Linux), so the
//! legitimate client on 127.0.0.1 is a different address, as it would be in production.

mod flood;
mod forwarded;
mod slow;

use super::support::{TestApp, TestStore};
use escrowgrid::config::Settings;
use escrowgrid::startup::RefusalAudit;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A generous limit whose expiry means a hang, not slowness.
const WAIT: Duration = Duration::from_secs(15);

/// The address the flooding clients send from.
const ATTACKER: [u8; 4] = [127, 0, 0, 2];

/// The app under test, with clients that send from chosen loopback addresses.
struct Abused {
    /// Keeps the server running for as long as the test holds this.
    _app: TestApp,
    address: SocketAddr,
    root_key: String,
    refusals: RefusalAudit,
    /// Sends from 127.0.0.1.
    client: reqwest::Client,
}

async fn spawn(configure: impl FnOnce(&mut Settings)) -> Abused {
    let app = TestApp::new(TestStore::memory())
        .with_config(configure)
        .spawn()
        .await;
    Abused {
        address: SocketAddr::from(([127, 0, 0, 1], app.port)),
        root_key: app.root_key.clone(),
        refusals: app.refusals.clone(),
        client: client_from(IpAddr::from([127, 0, 0, 1])),
        _app: app,
    }
}

fn client_from(local: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local)
        .timeout(WAIT)
        .build()
        .expect("a client")
}

fn attacker() -> reqwest::Client {
    client_from(IpAddr::from(ATTACKER))
}

impl Abused {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `{ viewer { role } }` with `key` (and extra headers) from `client`.
    async fn viewer(
        &self,
        client: &reqwest::Client,
        key: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = client
            .post(self.url("/graphql"))
            .json(&json!({ "query": "{ viewer { role } }" }));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the server answers")
    }

    async fn root(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(self.url("/graphql"))
            .header("X-API-Key", &self.root_key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON");
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    /// The audit rows of refused `action`s, oldest first.
    async fn refusal_rows(&self, action: &str) -> Vec<Value> {
        let data = self
            .root(
                "query($action: String!) { auditEvents(filter: {action: $action}, first: 500) {
                   edges { node { outcome institutionId apiKeyId requestId payload } } } }",
                json!({ "action": action }),
            )
            .await;
        let mut rows: Vec<Value> = data["auditEvents"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| edge["node"].clone())
            .filter(|node| node["outcome"] != "SUCCESS")
            .collect();
        rows.reverse();
        rows
    }

    /// One sample of the metrics page (`name{labels}` exactly as written).
    async fn metric(&self, series: &str) -> u64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .header("X-API-Key", &self.root_key)
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} on the metrics page"))
    }

    /// Polls the metrics page until `series` reaches `at_least` (or `WAIT` passes).
    async fn wait_for_metric(&self, series: &str, at_least: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.metric(series).await;
            if value >= at_least {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{series} stayed at {value}, below {at_least}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The payload's `count`, summed over rows.
fn counted(rows: &[Value]) -> u64 {
    rows.iter()
        .map(|row| row["payload"]["count"].as_u64().expect("a count"))
        .sum()
}
