//! Prometheus metrics: HTTP responses by route and status, GraphQL operations by name, type
//! and outcome (latency histograms), rate-limit refusals, subscription events delivered,
//! database statements (and their latency on PostgreSQL), open subscriptions and sockets.
//! Served on `/metrics` for the root key, or without a key on `METRICS_ADDR`.

mod histogram;
mod labels;
mod render;

pub use histogram::HistogramSnapshot;
pub(crate) use labels::{ANONYMOUS, UNKNOWN};
pub(crate) use render::{render, render_open};

use super::AppState;
use super::settings::MetricsSettings;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use histogram::Histogram;
use labels::OperationNames;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Statement latency as the database adapter measured it; the composition root provides it
/// for PostgreSQL (the memory store runs no statements).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementStats {
    pub latency: HistogramSnapshot,
    /// Statements that returned an error (timeouts and lost connections among them).
    pub failed: u64,
    /// Whether the LISTEN connection that carries other instances' events and revocations
    /// is up, and how many times it was (re)established.
    pub listener_up: bool,
    pub listener_starts: u64,
    /// Whether, at the listener's last read, a committed event waited on an older
    /// transaction still open (the log's watermark holds it back).
    pub events_held_back: bool,
}

/// Reads the adapter's numbers when `/metrics` is rendered.
pub type StatementStatsSource = Arc<dyn Fn() -> StatementStats + Send + Sync>;

/// How one GraphQL operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Ran, no errors.
    Success,
    /// Ran, with at least one error.
    Error,
    /// Refused before running: parse, validation, a limit, a bad request.
    Rejected,
    /// Cancelled at the request timeout.
    Timeout,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Rejected => "rejected",
            Self::Timeout => "timeout",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Http,
    Websocket,
}

type OperationKey = (String, &'static str, &'static str);

/// Every series is keyed by bounded label values: route templates (not raw paths), capped
/// operation names, fixed types and outcomes.
pub(crate) struct Metrics {
    http_requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    operations: Mutex<BTreeMap<OperationKey, Histogram>>,
    names: OperationNames,
    rate_limited_http: AtomicU64,
    rate_limited_ws: AtomicU64,
    events_delivered: AtomicU64,
    statements: Option<StatementStatsSource>,
}

impl Metrics {
    pub(crate) fn new(settings: MetricsSettings, statements: Option<StatementStatsSource>) -> Self {
        Self {
            http_requests: Mutex::default(),
            operations: Mutex::default(),
            names: OperationNames::new(settings.max_operation_names),
            rate_limited_http: AtomicU64::new(0),
            rate_limited_ws: AtomicU64::new(0),
            events_delivered: AtomicU64::new(0),
            statements,
        }
    }

    fn count(&self, method: &str, route: &str, status: u16) {
        let mut counts = self
            .http_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *counts
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    /// One GraphQL operation, by its name (`ANONYMOUS` or `UNKNOWN` when it has none).
    pub(crate) fn observe_operation(
        &self,
        name: &str,
        kind: &'static str,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        let label = self.names.label(name);
        let mut operations = self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        operations
            .entry((label, kind, outcome.as_str()))
            .or_default()
            .observe(elapsed);
    }

    pub(crate) fn rate_limited(&self, transport: Transport) {
        let counter = match transport {
            Transport::Http => &self.rate_limited_http,
            Transport::Websocket => &self.rate_limited_ws,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn event_delivered(&self) {
        self.events_delivered.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics()
        .count(&method, &route, response.status().as_u16());
    response
}
