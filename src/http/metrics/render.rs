//! The Prometheus text page. Every metric is written with its HELP and TYPE lines even when
//! it has no sample yet, so dashboards and alerts can be set up before the first request.

use super::super::AppState;
use super::super::accept::Format;
use super::super::auth::authenticate;
use super::super::clients::Client;
use super::super::error::HttpError;
use super::super::request_id::RequestId;
use super::Metrics;
use crate::graphql::{ErrorCode, PersistedStats};
use crate::service::{RefusalReason, ViewerRole};
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

/// `/metrics` on the main listener: the root key only, since request counts by route and
/// operation names reveal usage.
pub(crate) async fn render(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Client(client): Client,
    headers: HeaderMap,
) -> Response {
    let viewer = match authenticate(&state, &headers, &request_id.0, "metrics", client).await {
        Ok(viewer) => viewer,
        Err(error) => return error.into_response(Format::Json),
    };
    if viewer.role() != ViewerRole::Root {
        return HttpError::new(ErrorCode::Unauthenticated, "metrics require the root key")
            .into_response(Format::Json);
    }
    render_open(State(state)).await
}

/// `/metrics` on `METRICS_ADDR`, a listener meant for a private network: no key.
pub(crate) async fn render_open(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text(&state),
    )
        .into_response()
}

/// What callers without a valid key cost: refusals as they happen, throttling, the caps.
fn clients(out: &mut String, state: &AppState) {
    let refusals = state.services().refusals();
    header(
        out,
        "escrowgrid_refusals_total",
        "counter",
        "Requests refused without running (no valid key, or FORBIDDEN), by reason; audited in groups.",
    );
    let counts = refusals.counts();
    for reason in [
        RefusalReason::MissingKey,
        RefusalReason::MalformedKey,
        RefusalReason::UnknownKey,
        RefusalReason::RevokedKey,
        RefusalReason::Forbidden,
    ] {
        let count = counts
            .iter()
            .find(|(counted, _)| *counted == reason)
            .map_or(0, |(_, count)| *count);
        let _ = writeln!(
            out,
            "escrowgrid_refusals_total{{reason=\"{}\"}} {count}",
            reason.as_str()
        );
    }
    gauge(
        out,
        "escrowgrid_refusal_audit_groups",
        "Refusal groups counted in memory until the next audit flush.",
        refusals.groups(),
    );
    counter(
        out,
        "escrowgrid_refusal_audit_overflow_total",
        "Refusals counted in the overflow group because the group table was full.",
        refusals.overflowed(),
    );
    let limits = state.clients();
    let counters = &limits.counters;
    header(
        out,
        "escrowgrid_client_throttled_total",
        "counter",
        "Requests refused with 429 / 4429 before authentication: their address had used up its failed authentications.",
    );
    for (transport, counter) in [
        ("http", &counters.throttled_http),
        ("websocket", &counters.throttled_ws),
    ] {
        let _ = writeln!(
            out,
            "escrowgrid_client_throttled_total{{transport=\"{transport}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    header(
        out,
        "escrowgrid_connections_refused_total",
        "counter",
        "TCP connections closed on accept, by the cap they hit.",
    );
    for (cap, counter) in [
        ("total", &counters.connections_refused_total),
        ("per_client", &counters.connections_refused_per_client),
    ] {
        let _ = writeln!(
            out,
            "escrowgrid_connections_refused_total{{cap=\"{cap}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    header(
        out,
        "escrowgrid_connections_timed_out_total",
        "counter",
        "Connections closed for an incomplete request head or keep-alive idleness.",
    );
    for (phase, counter) in [
        ("header", &counters.connections_timed_out_head),
        ("idle", &counters.connections_timed_out_idle),
    ] {
        let _ = writeln!(
            out,
            "escrowgrid_connections_timed_out_total{{phase=\"{phase}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    counter(
        out,
        "escrowgrid_websockets_refused_total",
        "Websockets closed with 4429 on upgrade: their address or the unauthenticated total was at its cap.",
        counters.websockets_refused.load(Ordering::Relaxed),
    );
    gauge(
        out,
        "escrowgrid_open_connections",
        "Open TCP connections on the main listener (upgraded websockets included).",
        limits.open_connections(),
    );
    gauge(
        out,
        "escrowgrid_unauthenticated_websockets",
        "Open websockets that have not authenticated yet.",
        limits.unauthenticated_websockets(),
    );
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

pub(crate) fn text(state: &AppState) -> String {
    let metrics = state.metrics();
    let mut out = String::new();
    http_requests(&mut out, metrics);
    operations(&mut out, metrics);

    header(
        &mut out,
        "escrowgrid_rate_limited_total",
        "counter",
        "Operations refused with RATE_LIMITED, by transport.",
    );
    for (transport, counter) in [
        ("http", &metrics.rate_limited_http),
        ("websocket", &metrics.rate_limited_ws),
    ] {
        let _ = writeln!(
            out,
            "escrowgrid_rate_limited_total{{transport=\"{transport}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    gauge(
        &mut out,
        "escrowgrid_rate_limiter_keys",
        "Rate-limit buckets held in memory (full ones are dropped periodically, so this stays bounded).",
        state.rate_limiter().tracked_keys(),
    );

    clients(&mut out, state);

    let documents = state.executor().stats();
    counter(
        &mut out,
        "escrowgrid_document_cache_hits_total",
        "GraphQL documents found already parsed (HTTP and websockets).",
        documents.hits,
    );
    counter(
        &mut out,
        "escrowgrid_document_cache_misses_total",
        "GraphQL documents parsed because their text was not in the cache.",
        documents.misses,
    );
    gauge(
        &mut out,
        "escrowgrid_document_cache_entries",
        "Parsed documents held (bounded by DOCUMENT_CACHE_ENTRIES and DOCUMENT_CACHE_BYTES).",
        documents.entries,
    );

    persisted(&mut out, state.executor().persisted_stats());

    header(
        &mut out,
        "escrowgrid_subscription_events_delivered_total",
        "counter",
        "positionEvents messages sent to websocket subscribers (`next`, or `data` in graphql-ws).",
    );
    let _ = writeln!(
        out,
        "escrowgrid_subscription_events_delivered_total {}",
        metrics.events_delivered.load(Ordering::Relaxed)
    );
    gauge(
        &mut out,
        "escrowgrid_active_subscriptions",
        "Open positionEvents subscriptions.",
        state.services().subscription_gauge().current(),
    );
    let groups = state.groups().stats();
    gauge(
        &mut out,
        "escrowgrid_subscription_groups",
        "Open websocket subscription groups (identical positionEvents subscriptions resolved once).",
        groups.groups,
    );
    gauge(
        &mut out,
        "escrowgrid_subscription_group_members",
        "Websocket subscriptions served by a group.",
        groups.members,
    );
    counter(
        &mut out,
        "escrowgrid_subscription_group_events_total",
        "Events resolved and serialized by groups: one per group and event, whatever its members.",
        groups.resolved,
    );
    counter(
        &mut out,
        "escrowgrid_subscription_group_deliveries_total",
        "Group events written or queued to a member's socket (a member skips those before its own start).",
        groups.deliveries,
    );
    counter(
        &mut out,
        "escrowgrid_subscription_group_written_total",
        "Of those, written to the socket by the group itself rather than through the socket's queue.",
        groups.written,
    );
    counter(
        &mut out,
        "escrowgrid_subscription_group_detached_total",
        "Group members that fell behind (their socket's queue was full) and went on alone from the event log.",
        groups.detached,
    );
    gauge(
        &mut out,
        "escrowgrid_websocket_sessions",
        "Open websocket connections.",
        state.ws().sessions.open(),
    );

    header(
        &mut out,
        "escrowgrid_db_statements_total",
        "counter",
        "Statements (PostgreSQL) or repository calls (memory) executed.",
    );
    let _ = writeln!(
        out,
        "escrowgrid_db_statements_total {}",
        state.services().statements_executed()
    );
    if let Some(source) = &metrics.statements {
        let stats = source();
        header(
            &mut out,
            "escrowgrid_db_statement_duration_seconds",
            "histogram",
            "PostgreSQL statement latency as SeaORM measures it (BEGIN/COMMIT/ROLLBACK excluded).",
        );
        stats
            .latency
            .write(&mut out, "escrowgrid_db_statement_duration_seconds", "");
        header(
            &mut out,
            "escrowgrid_db_statement_failures_total",
            "counter",
            "PostgreSQL statements that returned an error (timeouts and lost connections included).",
        );
        let _ = writeln!(
            out,
            "escrowgrid_db_statement_failures_total {}",
            stats.failed
        );
        gauge(
            &mut out,
            "escrowgrid_event_listener_up",
            "1 while the LISTEN connection for other instances' events and revocations is up.",
            u8::from(stats.listener_up),
        );
        header(
            &mut out,
            "escrowgrid_event_listener_starts_total",
            "counter",
            "Times that LISTEN connection was established; more than 1 means it reconnected.",
        );
        let _ = writeln!(
            out,
            "escrowgrid_event_listener_starts_total {}",
            stats.listener_starts
        );
        gauge(
            &mut out,
            "escrowgrid_event_log_held_back",
            "1 while a committed event waits, unpublished, for an older transaction to end.",
            u8::from(stats.events_held_back),
        );
    }
    out
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn http_requests(out: &mut String, metrics: &Metrics) {
    header(
        out,
        "escrowgrid_http_requests_total",
        "counter",
        "HTTP responses by method, route and status.",
    );
    let counts = metrics
        .http_requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for ((method, route, status), count) in counts {
        let _ = writeln!(
            out,
            "escrowgrid_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
            escape(&method),
            escape(&route)
        );
    }
}

fn operations(out: &mut String, metrics: &Metrics) {
    header(
        out,
        "escrowgrid_graphql_operation_duration_seconds",
        "histogram",
        "GraphQL operations over HTTP by operation name, type and outcome \
         (success, error, rejected, timeout); _count is the number of operations.",
    );
    let operations: Vec<_> = metrics
        .operations
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(key, histogram)| (key.clone(), histogram.snapshot()))
        .collect();
    for ((name, kind, outcome), snapshot) in operations {
        let labels = format!(
            "operation=\"{}\",type=\"{kind}\",outcome=\"{outcome}\"",
            escape(&name)
        );
        snapshot.write(
            out,
            "escrowgrid_graphql_operation_duration_seconds",
            &labels,
        );
    }
}

/// Label values escape backslash, quote and newline (Prometheus text format).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn persisted(out: &mut String, stats: PersistedStats) {
    header(
        out,
        "escrowgrid_persisted_document_hits_total",
        "counter",
        "Documents named by hash and found: in the trusted manifest, or registered by a client.",
    );
    for (source, count) in [
        ("trusted", stats.trusted_hits),
        ("registered", stats.registered_hits),
    ] {
        let _ = writeln!(
            out,
            "escrowgrid_persisted_document_hits_total{{source=\"{source}\"}} {count}"
        );
    }
    counter(
        out,
        "escrowgrid_persisted_document_misses_total",
        "Hashes nobody knew, answered with PERSISTED_QUERY_NOT_FOUND.",
        stats.misses,
    );
    counter(
        out,
        "escrowgrid_persisted_document_registrations_total",
        "Documents registered under their hash by a client (automatic persisted queries).",
        stats.registrations,
    );
    counter(
        out,
        "escrowgrid_trusted_document_refusals_total",
        "Documents refused with PERSISTED_QUERY_NOT_IN_LIST (TRUSTED_DOCUMENTS_ONLY).",
        stats.refusals,
    );
}
