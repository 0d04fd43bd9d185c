//! GraphQL over HTTP as any client would send it (`POST /graphql`, `X-API-Key`), plus the
//! `/metrics` statement counter. A request fails on HTTP != 200 or any `errors` in the body.

use crate::error::{Context as _, Error, Result};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::{Duration, Instant};

pub(crate) struct Api {
    http: reqwest::Client,
    graphql_url: String,
    metrics_url: String,
    key: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Option<Vec<GraphqlError>>,
}

#[derive(Deserialize)]
struct GraphqlError {
    message: String,
    #[serde(default)]
    extensions: Option<Value>,
}

/// One answered request: its data and how long the round trip took (send → whole body read,
/// before parsing, so client-side JSON decoding is not counted as server latency).
pub(crate) struct Timed<T> {
    pub(crate) data: T,
    pub(crate) latency: Duration,
}

/// A failed request still took time; the workloads count it as an error with its latency.
pub(crate) struct Failed {
    pub(crate) message: String,
    pub(crate) latency: Duration,
}

impl Api {
    pub(crate) fn new(base_url: &str, key: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            // Generous: a saturated 2-core machine answers the nested query slowly, and a slow
            // answer is a latency to report, not an error.
            .timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            graphql_url: format!("{base_url}/graphql"),
            metrics_url: format!("{base_url}/metrics"),
            key: key.to_owned(),
        })
    }

    /// Sends one operation; `T` is the `data` object's shape.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
    ) -> std::result::Result<Timed<T>, Failed> {
        let started = Instant::now();
        let sent = self
            .http
            .post(&self.graphql_url)
            .header("X-API-Key", &self.key)
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                return Err(Failed {
                    message: format!("transport: {error}"),
                    latency: started.elapsed(),
                });
            }
        };
        let status = response.status();
        let body = response.bytes().await;
        let latency = started.elapsed();
        let fail = |message: String| Failed { message, latency };
        let body = body.map_err(|error| fail(format!("reading body: {error}")))?;
        if status != reqwest::StatusCode::OK {
            let snippet = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(fail(format!("HTTP {status}: {snippet}")));
        }
        let envelope: Envelope<T> = serde_json::from_slice(&body)
            .map_err(|error| fail(format!("undecodable body: {error}")))?;
        if let Some(first) = envelope.errors.as_ref().and_then(|errors| errors.first()) {
            let code = first
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("NO_CODE");
            return Err(fail(format!("{code}: {}", first.message)));
        }
        let data = envelope
            .data
            .ok_or_else(|| fail("no data and no errors".to_owned()))?;
        Ok(Timed { data, latency })
    }

    /// `call` for setup steps, where any failure ends the run.
    pub(crate) async fn must<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
    ) -> Result<T> {
        self.call(query, variables)
            .await
            .map(|timed| timed.data)
            .map_err(|failed| Error::msg(failed.message))
    }

    /// `escrowgrid_db_statements_total`: SQL statements on PostgreSQL, repository calls on the
    /// memory store (see the server's metrics help text).
    pub(crate) async fn statements(&self) -> Result<u64> {
        let text = self
            .http
            .get(&self.metrics_url)
            .header("X-API-Key", &self.key)
            .send()
            .await
            .context("GET /metrics")?
            .error_for_status()
            .context("GET /metrics")?
            .text()
            .await
            .context("reading /metrics")?;
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                let name = name.split('{').next()?;
                (name == "escrowgrid_db_statements_total")
                    .then(|| value.trim().parse::<f64>().ok())?
            })
            // A Prometheus counter is a float on the wire; ours counts whole statements.
            .map(|value| value as u64)
            .ok_or_else(|| Error::msg("/metrics has no escrowgrid_db_statements_total"))
    }
}
