//! Logs and, when a collector is configured, OpenTelemetry traces: one tracing subscriber with
//! the log layer and an optional OTLP exporter, the W3C `traceparent` of incoming requests,
//! and a span per database statement.
//!
//! Only what the spans' fields hold is exported, and those fields are chosen for it: method,
//! path, request id, caller ids, operation name and type, outcome, status. Headers, tokens,
//! variables and SQL parameters never enter a span.

use crate::config::LogFormat;
use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::fmt;
use std::io::BufWriter;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};
use tracing::Span;
use tracing::span::Record;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::{FormatFields, JsonFields, Writer};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The instrumentation scope of every span we export.
const SCOPE: &str = "escrowgrid";

/// Where spans go: `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, the collectors' default path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceExport {
    pub traces_url: String,
    pub service_name: String,
}

/// What the log thread gathers into one write at most.
const LOG_WRITE_BYTES: usize = 64 * 1024;

/// Set once, when export is on; the hot paths ask it before doing any tracing work.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

fn exporting() -> bool {
    PROVIDER.get().is_some()
}

/// Keeps the exporter alive; `shutdown` sends what is still buffered.
#[must_use = "dropping the guard without shutdown loses the last spans"]
pub struct TelemetryGuard {
    /// Dropping it writes the log lines still queued and stops the log thread.
    _log_writer: WorkerGuard,
}

impl TelemetryGuard {
    /// Flushes and stops the exporter (on its own thread: the blocking client must not run
    /// on the runtime's workers).
    pub async fn shutdown(self) {
        let Some(provider) = PROVIDER.get().cloned() else {
            return;
        };
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            eprintln!("could not export the last spans: {error}");
        }
    }
}

/// Installs the global subscriber: logs to stderr in `format`, filtered by `RUST_LOG`
/// (default info), and spans to `export` when given.
///
/// # Errors
/// When the exporter cannot be built (an invalid endpoint URL).
pub fn init(format: LogFormat, export: Option<&TraceExport>) -> Result<TelemetryGuard, String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr so stdout carries only what the operator must read (and print-schema).
    // A request's line is handed to a thread that writes whatever has queued up in one write
    // (a write per line was 7 % of a point read's CPU): lines are never dropped, a full queue
    // makes the logging task wait, and the guard writes what is left at shutdown.
    let (writer, log_writer) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("escrowgrid-log")
        .finish(BufWriter::with_capacity(LOG_WRITE_BYTES, std::io::stderr()));
    // One of the two is present; `Option` layers spare a boxed, dynamically dispatched one.
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .fmt_fields(AppendedJsonFields)
            .with_writer(writer.clone())
    });
    let pretty =
        (format == LogFormat::Pretty).then(|| tracing_subscriber::fmt::layer().with_writer(writer));
    let traces = match export {
        None => None,
        Some(export) => {
            let provider = provider(export)?;
            let tracer = provider.tracer(SCOPE);
            global::set_tracer_provider(provider.clone());
            let _ = PROVIDER.set(provider);
            Some(tracing_opentelemetry::layer().with_tracer(tracer))
        }
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(pretty)
        .with(traces)
        .init();
    Ok(TelemetryGuard {
        _log_writer: log_writer,
    })
}

/// A span's fields as one JSON object, like tracing-subscriber's `JsonFields`, except that a
/// field recorded later is appended to the object's text instead of the object being parsed
/// and written again: a request records its caller, operation, outcome and status one by one,
/// and re-parsing was a quarter of the log line's cost. A field recorded twice appears twice
/// in the text; the line's formatter parses the object, where the later value wins.
struct AppendedJsonFields;

impl<'writer> FormatFields<'writer> for AppendedJsonFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        JsonFields::new().format_fields(writer, fields)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        if current.is_empty() {
            return JsonFields::new().format_fields(current.as_writer(), fields);
        }
        let mut added = String::new();
        JsonFields::new().format_fields(Writer::new(&mut added), fields)?;
        // Both are objects: `{…}` + `{…}` becomes `{…,…}`.
        let (Some(new_members), Some(open)) = (
            added
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}')),
            current.fields.strip_suffix('}').map(str::len),
        ) else {
            return Err(fmt::Error);
        };
        if new_members.is_empty() {
            return Ok(());
        }
        current.fields.truncate(open);
        if !current.fields.ends_with('{') {
            current.fields.push(',');
        }
        current.fields.push_str(new_members);
        current.fields.push('}');
        Ok(())
    }
}

fn provider(export: &TraceExport) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(export.traces_url.clone())
        .build()
        .map_err(|error| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {error}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(export.service_name.clone())
                .build(),
        )
        .build())
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

/// Makes `span` (a request's) a child of the caller's trace when it sent a valid
/// `traceparent`, and records the trace id on it, so the request's log line carries it. With
/// export off the trace id is the caller's, if any, which still correlates our log line with
/// the caller's trace.
pub(crate) fn continue_trace(span: &Span, headers: &HeaderMap) {
    let remote = TraceContextPropagator::new().extract(&Headers(headers));
    let remote_trace = remote.span().span_context().trace_id();
    let trace_id = if exporting() {
        // Fails only for a span the subscriber does not know, which then exports nothing.
        let _ = span.set_parent(remote);
        span.context().span().span_context().trace_id()
    } else {
        remote_trace
    };
    if trace_id != TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// Names `span` after the operation it turned out to run ("mutation OpenAccount"), once that
/// is known: the span was started, under its route's name, before the body was read.
pub(crate) fn name_span(span: &Span, kind: &str, operation: &str) {
    if exporting() {
        span.context()
            .span()
            .update_name(format!("{kind} {operation}"));
    }
}

/// A finished database statement, as a client span under whatever span ran it. Only the
/// statement's leading keyword is kept: its text may hold literals.
pub(crate) fn statement_finished(elapsed: Duration, failed: bool, sql: &str) {
    if !exporting() {
        return;
    }
    let parent = Span::current().context();
    if !parent.span().span_context().is_valid() {
        // Background work (the event listener's reads) belongs to no request.
        return;
    }
    let operation = sql
        .split_whitespace()
        .next()
        .unwrap_or("statement")
        .to_ascii_uppercase();
    let end = SystemTime::now();
    let start = end.checked_sub(elapsed).unwrap_or(end);
    let tracer = global::tracer(SCOPE);
    let mut span = tracer
        .span_builder(format!("db {operation}"))
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes([
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.operation.name", operation),
        ])
        .start_with_context(&tracer, &parent);
    if failed {
        span.set_status(Status::error("the statement failed"));
    }
    span.end_with_timestamp(end);
}

#[cfg(test)]
mod tests {
    use super::AppendedJsonFields;
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fields_recorded_one_by_one_all_reach_the_line_and_the_last_value_wins() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .fmt_fields(AppendedJsonFields)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = "r-1",
                role = tracing::field::Empty,
                outcome = tracing::field::Empty,
                status = tracing::field::Empty,
            );
            span.record("role", "ROOT");
            span.record("outcome", "error");
            span.record("outcome", "success");
            span.record("status", 200);
            span.in_scope(|| tracing::info!("request finished"));
        });
        let text = String::from_utf8(captured.0.lock().expect("log").clone()).expect("UTF-8");
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        let span = &line["span"];
        assert_eq!(span["request_id"], "r-1", "{line}");
        assert_eq!(span["role"], "ROOT", "{line}");
        assert_eq!(span["outcome"], "success", "{line}");
        assert_eq!(span["status"], 200, "{line}");
        assert_eq!(line["spans"][0], *span, "{line}");
    }
}
