//! OpenTelemetry export, end to end: the `escrowgrid` binary with `OTEL_EXPORTER_OTLP_ENDPOINT`
//! pointing at an OTLP/HTTP receiver in this test, which decodes what arrives at `/v1/traces`
//! with the protocol's own protobuf types. A child process, because the tracing subscriber is
//! process-wide and the other tests share this one.

use super::process::ServerProcess;
use super::ws_support::{Dialect, WAIT, WsClient};
use crate::support::postgres::fresh_store;
use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use prost::Message as _;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";
const SECRET_NAME: &str = "Confidential Holdings 7731";

/// Receives OTLP/HTTP protobuf exports on `/v1/traces`; every span comes out of the channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Span>) {
    let (spans, received) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let spans = spans.clone();
            async move {
                let export = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf");
                for resource in export.resource_spans {
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            let _ = spans.send(span);
                        }
                    }
                }
                // An empty ExportTraceServiceResponse: full success.
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the receiver listens");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), received)
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(|value| value.value.as_ref())
}

fn text(span: &Span, key: &str) -> String {
    match attribute(span, key) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

fn values(attributes: &[KeyValue]) -> impl Iterator<Item = String> + '_ {
    attributes.iter().map(|KeyValue { value, .. }| match value {
        Some(AnyValue { value: Some(value) }) => format!("{value:?}"),
        _ => String::new(),
    })
}

/// Collects spans until `done` holds for what has arrived; a panic after `WAIT`.
async fn spans_until(
    received: &mut mpsc::UnboundedReceiver<Span>,
    mut done: impl FnMut(&[Span]) -> bool,
) -> Vec<Span> {
    let deadline = Instant::now() + WAIT;
    let mut spans = Vec::new();
    while !done(&spans) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, received.recv()).await {
            Ok(Some(span)) => spans.push(span),
            _ => panic!(
                "the expected spans never arrived; got {:?}",
                spans.iter().map(|span| &span.name).collect::<Vec<_>>()
            ),
        }
    }
    spans
}

/// The database statements anywhere under `root` (service spans may sit in between).
fn statements_under<'a>(spans: &'a [Span], root: &Span) -> Vec<&'a Span> {
    let mut under = vec![root.span_id.clone()];
    let mut grew = true;
    while grew {
        grew = false;
        for span in spans {
            if under.contains(&span.parent_span_id) && !under.contains(&span.span_id) {
                under.push(span.span_id.clone());
                grew = true;
            }
        }
    }
    spans
        .iter()
        .filter(|span| span.name.starts_with("db ") && under[1..].contains(&span.span_id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_websocket_operations_are_exported_as_spans_with_their_statements() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let (endpoint, mut received) = receiver().await;
    let mut server = ServerProcess::start(
        &db.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "escrowgrid-under-test"),
            // Export every 50 ms instead of every 5 s, so the test waits little.
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("RUST_LOG", "info"),
        ],
    )
    .await;

    let trace = hex::decode(TRACE_ID).expect("hex");
    let parent = hex::decode(PARENT_SPAN_ID).expect("hex");
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", server.address))
        .header("X-API-Key", &server.root_key)
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"))
        .json(&json!({
            "query": "mutation OpenAccount($input: CreateInstitutionInput!) { \
                      createInstitution(input: $input) { id } }",
            "operationName": "OpenAccount",
            "variables": { "input": {
                "name": SECRET_NAME, "regions": ["US"], "verticals": ["CONSTRUCTION"],
            }},
        }))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), reqwest::StatusCode::OK);

    let mut ws = WsClient::connect(&server.ws_url(), Dialect::TransportWs).await;
    ws.init_with_key(&server.root_key).await;
    ws.subscribe("1", "query WhoAmI { viewer { role } }", json!({}))
        .await;
    let answer = ws.next_json().await;
    assert_eq!(
        answer["payload"]["data"]["viewer"]["role"], "ROOT",
        "{answer}"
    );

    let is_request = |span: &Span| span.trace_id == trace && span.parent_span_id == parent;
    let spans = spans_until(&mut received, |spans| {
        let request = spans.iter().find(|span| is_request(span));
        let statements = request.map_or(0, |request| statements_under(spans, request).len());
        statements > 0 && spans.iter().any(|span| span.name == "query WhoAmI")
    })
    .await;

    let request = spans
        .iter()
        .find(|span| is_request(span))
        .expect("the request's span");
    assert_eq!(request.name, "mutation OpenAccount");
    assert_eq!(
        request.parent_span_id, parent,
        "a child of the caller's span"
    );
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(text(request, "operation"), "OpenAccount");
    assert_eq!(text(request, "operation_type"), "mutation");
    assert_eq!(text(request, "method"), "POST");
    assert_eq!(text(request, "path"), "/graphql");
    assert_eq!(text(request, "http.response.status_code"), "200");
    assert_eq!(text(request, "role"), "ROOT");

    let statements = statements_under(&spans, request);
    for statement in &statements {
        assert_eq!(statement.trace_id, trace);
        assert_eq!(statement.kind, SpanKind::Client as i32);
        assert_eq!(text(statement, "db.system.name"), "postgresql");
        assert!(statement.start_time_unix_nano >= request.start_time_unix_nano);
        assert!(statement.end_time_unix_nano <= request.end_time_unix_nano);
    }
    assert!(
        statements.iter().any(|span| span.name == "db INSERT"),
        "the institution's insert is a child: {:?}",
        statements.iter().map(|span| &span.name).collect::<Vec<_>>()
    );

    let operation = spans
        .iter()
        .find(|span| span.name == "query WhoAmI")
        .expect("the websocket operation's span");
    assert_eq!(text(operation, "operation"), "WhoAmI");
    assert_eq!(text(operation, "operation_type"), "query");
    assert_eq!(operation.kind, SpanKind::Server as i32);

    for span in &spans {
        for value in values(&span.attributes) {
            assert!(
                !value.contains(&server.root_key) && !value.contains(SECRET_NAME),
                "{} exports a key or a value: {value}",
                span.name
            );
        }
    }

    // The request's log line carries the trace id.
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, server.log.recv())
            .await
            .expect("the request's log line")
            .expect("the log is open");
        if line.contains("request finished") && line.contains("OpenAccount") {
            assert!(line.contains(TRACE_ID), "{line}");
            break;
        }
    }

    server.terminate();
    let status = server.exit_within(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status:?}");
}
