//! X-Request-Id: the client's when it is sane, else a fresh UUID v7; on every response, in the
//! request's tracing span, and in the audit trail through `RequestContext`. The span also
//! collects who called (key id, institution, role) and what ran (operation, type, outcome),
//! and the one log line written when the response is sent carries them all.

use crate::service::{Viewer, ViewerRole};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;
use tracing::Span;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longer ids are replaced: they end up in logs and audit rows, so they must stay small.
const MAX_LEN: usize = 128;

/// The id of the request being served, as a request extension.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

fn acceptable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let sane =
        !text.is_empty() && text.len() <= MAX_LEN && text.bytes().all(|b| b.is_ascii_graphic());
    sane.then(|| text.to_owned())
}

pub(crate) async fn assign(mut request: Request, next: Next) -> Response {
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    let id = request
        .headers()
        .get(&header)
        .and_then(acceptable)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(header, value);
    }
    response
}

/// The per-request span. Method, path and id, then what handlers record: headers, query
/// strings, variables and tokens never go in, since they may carry keys or customer data.
pub(crate) fn span(request: &Request) -> Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map_or("", |id| id.0.as_str());
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
        trace_id = tracing::field::Empty,
        otel.name = %format_args!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        http.response.status_code = tracing::field::Empty,
        role = tracing::field::Empty,
        key_id = tracing::field::Empty,
        institution_id = tracing::field::Empty,
        operation = tracing::field::Empty,
        operation_type = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, request.headers());
    span
}

/// Records the authenticated caller on the current request span (ids only).
pub(crate) fn record_caller(viewer: &Viewer) {
    let span = Span::current();
    let role = match viewer.role() {
        ViewerRole::Root => "ROOT",
        ViewerRole::Admin => "ADMIN",
        ViewerRole::ReadOnly => "READ_ONLY",
    };
    span.record("role", role);
    if let Some(key) = viewer.api_key_id() {
        span.record("key_id", tracing::field::display(key));
    }
    if let Some(institution) = viewer.institution_id() {
        span.record("institution_id", tracing::field::display(institution));
    }
}

pub(crate) fn record_operation(name: &str, kind: &str) {
    let span = Span::current();
    span.record("operation", name);
    span.record("operation_type", kind);
    crate::telemetry::name_span(&span, kind, name);
}

pub(crate) fn record_outcome(outcome: &str) {
    Span::current().record("outcome", outcome);
}

/// The request's one log line, with the span's fields: status and duration in milliseconds.
/// Refusals without a valid key and rate-limit refusals log at debug: a flood of them would
/// drown the log, and they are counted in the metrics and (sampled) in the refusal log.
pub(crate) fn on_response(response: &Response, latency: Duration, span: &Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    let duration_ms = latency.as_secs_f64() * 1000.0;
    if status == axum::http::StatusCode::UNAUTHORIZED
        || status == axum::http::StatusCode::TOO_MANY_REQUESTS
    {
        tracing::debug!(status = status.as_u16(), duration_ms, "request finished");
    } else {
        tracing::info!(status = status.as_u16(), duration_ms, "request finished");
    }
}
