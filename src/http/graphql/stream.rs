//! `POST /graphql/stream`: GraphQL over Server-Sent Events, the graphql-sse protocol's
//! distinct connections mode, for networks where websockets are blocked. The request is a
//! GraphQL-over-HTTP POST (same key headers, media type, body limits and rate limit: one token
//! per stream); the answer is `text/event-stream` with a `next` event per result and a
//! `complete` at the end. Refusals of the document come as a `next` carrying the errors, as
//! the protocol requires, so the client sees why.
//!
//! What graphql-sse leaves out, resuming: every `positionEvents` message has its event's
//! cursor as the SSE `id`, and a request with `Last-Event-ID` resumes the feed after that
//! event (replay, then live: no gap, no duplicate), whatever `after` its document says.
//!
//! A stream lives like a websocket subscription: the same send buffer and send timeout (a
//! reader too slow for them loses the stream), keep-alive comments at the ping interval, the
//! end at once when its key is revoked (a `FORBIDDEN` error, then `complete`, so the client
//! does not retry) and at shutdown (no `complete`: the client reconnects, with its
//! `Last-Event-ID`, to an instance that is up).

use super::params::Batch;
use super::{Deadline, admit_post, context};
use crate::graphql::{ErrorCode, EventCursors, ResumeAfter};
use crate::http::AppState;
use crate::http::accept::Format;
use crate::http::clients::Client;
use crate::http::error::HttpError;
use crate::http::request_id::{RequestId, record_operation, record_outcome};
use crate::http::streamed::{self, Started};
use crate::service::{KeyRevocation, Viewer};
use async_graphql::parser::types::OperationType;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use futures::StreamExt as _;
use serde_json::json;
use std::convert::Infallible;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::timeout;
use tracing::Instrument as _;

const EVENT_STREAM: &str = "text/event-stream";

/// The request header a reconnecting SSE client sends with the last `id` it received.
const LAST_EVENT_ID: &str = "last-event-id";

pub(crate) async fn post_stream(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Client(client): Client,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if !accepts_event_stream(&headers) {
        return HttpError::bad_input(
            StatusCode::NOT_ACCEPTABLE,
            "accept",
            "accept text/event-stream: this endpoint answers with Server-Sent Events",
        )
        .into_response(Format::Json);
    }
    let deadline = Deadline::start(state.http().request_timeout);
    let (viewer, batch) =
        match admit_post(&state, &request_id, client, &headers, body, deadline).await {
            Ok(admitted) => admitted,
            Err(error) => return error.into_response(Format::Json),
        };
    let Batch::Single(request) = batch else {
        return HttpError::bad_input(
            StatusCode::BAD_REQUEST,
            "body",
            "a stream carries one operation, not a batch",
        )
        .into_response(Format::Json);
    };
    let cursors = EventCursors::default();
    let mut request = request.data(cursors.clone());
    if let Some(resume) = headers
        .get(LAST_EVENT_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
    {
        request = request.data(ResumeAfter(resume.to_owned()));
    }
    let ctx = context(viewer, request_id);
    let (tx, rx) = mpsc::channel(state.ws().settings.send_buffer);
    match streamed::start(&state, request, ctx) {
        Ok(started) => {
            let kind = started.described.kind;
            record_operation(&started.described.name, streamed::kind_name(kind));
            record_outcome("streamed");
            let task =
                tokio::spawn(feed(state.clone(), viewer, started, cursors, tx).in_current_span());
            respond(&state, rx, Some(task.abort_handle()))
        }
        Err(error) => {
            record_outcome("rejected");
            // Queued before anyone reads: the channel holds at least one message and `complete`
            // is written by the body when the channel closes.
            let _ = tx.try_send(Outgoing::Result(next_event(
                &json!({ "errors": [error] }),
                None,
            )));
            drop(tx);
            respond(&state, rx, None)
        }
    }
}

/// `text/event-stream` named by the Accept header (a client that accepts anything gets it
/// too: this endpoint has nothing else to answer with).
fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|range| range.split(';').next().unwrap_or_default().trim())
        .any(|media| media.eq_ignore_ascii_case(EVENT_STREAM) || media == "*/*")
}

/// What the feed hands to the response body.
enum Outgoing {
    /// A `next` event that is a subscription's position event (counted once written).
    Event(String),
    /// Any other `next`.
    Result(String),
    /// The operation is over: `complete`, then the body ends.
    Complete,
}

/// One `next` event. Compact JSON has no line breaks and a cursor is base64url, so each is
/// one line; axum's own SSE writer is not used because it cannot write the empty `data:` line
/// that EventSource needs to dispatch `complete`.
fn next_event(body: &serde_json::Value, cursor: Option<String>) -> String {
    match cursor {
        Some(cursor) => format!("event: next\nid: {cursor}\ndata: {body}\n\n"),
        None => format!("event: next\ndata: {body}\n\n"),
    }
}

const COMPLETE: &str = "event: complete\ndata:\n\n";

/// A comment line: keeps proxies and load balancers from closing a quiet stream.
const KEEP_ALIVE: &str = ":\n\n";

/// Aborts the feed when the body is dropped: the client went away, or the server stopped.
struct FeedGuard(Option<AbortHandle>);

impl Drop for FeedGuard {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

struct Body {
    rx: mpsc::Receiver<Outgoing>,
    _guard: FeedGuard,
    done: bool,
}

fn respond(state: &AppState, rx: mpsc::Receiver<Outgoing>, task: Option<AbortHandle>) -> Response {
    let counted = state.clone();
    let keep_alive = state.ws().settings.ping_interval;
    let body = Body {
        rx,
        _guard: FeedGuard(task),
        done: false,
    };
    let chunks = futures::stream::unfold(body, move |mut body| {
        let counted = counted.clone();
        async move {
            if body.done {
                return None;
            }
            let chunk = match timeout(keep_alive, body.rx.recv()).await {
                Err(_) => KEEP_ALIVE.to_owned(),
                // A closed channel without `Complete` is a feed that stopped (shutdown, a
                // reader too slow): the body ends without `complete`, so the client retries.
                Ok(None) => return None,
                Ok(Some(Outgoing::Event(text))) => {
                    counted.metrics().event_delivered();
                    text
                }
                Ok(Some(Outgoing::Result(text))) => text,
                Ok(Some(Outgoing::Complete)) => {
                    body.done = true;
                    COMPLETE.to_owned()
                }
            };
            Some((Ok::<_, Infallible>(chunk), body))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, EVENT_STREAM)
        .header(header::CACHE_CONTROL, "no-store")
        // Proxies that buffer (nginx) would hold events back until a buffer fills.
        .header("x-accel-buffering", "no")
        .body(axum::body::Body::from_stream(chunks))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Runs the operation into the channel until it ends, the key is revoked, the server stops,
/// or the reader is too slow or gone.
async fn feed(
    state: AppState,
    viewer: Viewer,
    started: Started,
    cursors: EventCursors,
    tx: mpsc::Sender<Outgoing>,
) {
    let _open = state.ws().sessions.enter();
    let send_timeout = state.ws().settings.send_timeout;
    let send = |outgoing: Outgoing| {
        let tx = tx.clone();
        async move { matches!(timeout(send_timeout, tx.send(outgoing)).await, Ok(Ok(()))) }
    };
    let subscription = started.described.kind == Some(OperationType::Subscription);
    let operation = started.described.name;
    let mut responses = started.responses;
    let mut revocations = state.services().key_revocations();
    let mut shutdown = state.ws().shutdown.clone();
    let own_key = viewer.api_key_id();
    let began = std::time::Instant::now();
    let mut delivered = 0_u64;
    if *shutdown.borrow() {
        return;
    }
    let ended = loop {
        tokio::select! {
            response = responses.next() => {
                let Some(response) = response else {
                    let _ = send(Outgoing::Complete).await;
                    break "completed";
                };
                let cursor = cursors.take();
                let event = subscription && response.errors.is_empty() && cursor.is_some();
                let body = serde_json::to_value(&response).unwrap_or(serde_json::Value::Null);
                let message = next_event(&body, cursor);
                let queued = if event {
                    delivered += 1;
                    send(Outgoing::Event(message)).await
                } else {
                    send(Outgoing::Result(message)).await
                };
                if !queued {
                    break "reader too slow or gone";
                }
            }
            revoked = revocations.next() => {
                let revoked_here = match revoked {
                    Some(KeyRevocation::Revoked(key)) => own_key == Some(key),
                    Some(KeyRevocation::Missed) => match own_key {
                        Some(key) => !state.services().key_is_live(key).await,
                        None => false,
                    },
                    None => break "server shutting down",
                };
                if revoked_here {
                    let error = ErrorCode::Forbidden.error("the API key was revoked");
                    let _ = send(Outgoing::Result(next_event(&json!({ "errors": [error] }), None))).await;
                    let _ = send(Outgoing::Complete).await;
                    break "key revoked";
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break "server shutting down";
                }
            }
        }
    };
    tracing::info!(
        %operation,
        events = delivered,
        ended,
        duration_ms = began.elapsed().as_secs_f64() * 1000.0,
        "event stream ended"
    );
}
