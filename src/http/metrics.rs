//! Prometheus text metrics, for the root key only: request counts by route reveal usage.

use super::AppState;
use super::accept::Format;
use super::auth::authenticate;
use super::error::HttpError;
use super::request_id::RequestId;
use crate::graphql::error_codes;
use crate::service::ViewerRole;
use axum::Extension;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

/// Counters keyed by (method, route template, status). Route templates, not raw paths, so
/// the number of series stays bounded whatever clients request.
#[derive(Default)]
pub(crate) struct Metrics {
    http_requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl Metrics {
    fn count(&self, method: &str, route: &str, status: u16) {
        let mut counts = self
            .http_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *counts
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    fn snapshot(&self) -> BTreeMap<(String, String, u16), u64> {
        self.http_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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

pub(crate) async fn render(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
) -> Response {
    let viewer = match authenticate(&state, &headers, &request_id.0, "metrics").await {
        Ok(viewer) => viewer,
        Err(error) => return error.into_response(Format::Json),
    };
    if viewer.role != ViewerRole::Root {
        return HttpError::new(
            StatusCode::UNAUTHORIZED,
            error_codes::UNAUTHENTICATED,
            "metrics require the root key",
        )
        .into_response(Format::Json);
    }
    let mut text = String::new();
    text.push_str(
        "# HELP escrowgrid_http_requests_total HTTP responses by method, route and status.\n",
    );
    text.push_str("# TYPE escrowgrid_http_requests_total counter\n");
    for ((method, route, status), count) in state.metrics().snapshot() {
        let _ = writeln!(
            text,
            "escrowgrid_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
            escape(&route)
        );
    }
    text.push_str("# HELP escrowgrid_db_statements_total Statements (PostgreSQL) or repository calls (memory) executed.\n");
    text.push_str("# TYPE escrowgrid_db_statements_total counter\n");
    let _ = writeln!(
        text,
        "escrowgrid_db_statements_total {}",
        state.services().store().statements_executed()
    );
    text.push_str("# HELP escrowgrid_active_subscriptions Open positionEvents subscriptions.\n");
    text.push_str("# TYPE escrowgrid_active_subscriptions gauge\n");
    let _ = writeln!(
        text,
        "escrowgrid_active_subscriptions {}",
        state.services().subscription_gauge().current()
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// Label values escape backslash, quote and newline (Prometheus text format).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
