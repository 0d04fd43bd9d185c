//! One websocket connection: the handshake, its subscriptions, keep-alive and the close codes
//! of graphql-transport-ws (async-graphql's own handler uses other codes and lets a reused
//! id silently replace a running subscription, so the protocol is spoken here).

use super::groups::{Control, Ending, GroupKey};
use super::messages::{self, ClientMessage, Dialect, OperationPayload};
use super::operation::to_request;
use super::writer::SocketWriter;
use crate::domain::model::JsonObject;
use crate::graphql::ErrorCode;
use crate::graphql::SharedFeed;
use crate::http::AppState;
use crate::http::clients::WebsocketPermit;
use crate::http::error::rate_limited_error;
use crate::http::metrics::Transport;
use crate::http::request_id::record_caller;
use crate::http::streamed;
use crate::service::LiveStart;
use crate::service::{KeyRevocation, Refusal, RequestContext, Viewer};
use async_graphql::parser::types::OperationType;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, interval_at, sleep_until, timeout};
use tracing::Instrument as _;

pub(crate) mod close {
    pub(crate) const NORMAL: u16 = 1000;
    pub(crate) const GOING_AWAY: u16 = 1001;
    pub(crate) const INTERNAL: u16 = 4500;
    pub(crate) const BAD_REQUEST: u16 = 4400;
    pub(crate) const UNAUTHORIZED: u16 = 4401;
    pub(crate) const FORBIDDEN: u16 = 4403;
    pub(crate) const INIT_TIMEOUT: u16 = 4408;
    pub(crate) const DUPLICATE_ID: u16 = 4409;
    pub(crate) const TOO_MANY_INITS: u16 = 4429;
    /// The client address is over its websocket or failed-authentication limits.
    pub(crate) const TOO_MANY_REQUESTS: u16 = 4429;
}

/// Timings of one connection; tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct SessionSettings {
    /// How long a client may wait before `connection_init`.
    pub init_timeout: Duration,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// Silence after which the peer counts as gone.
    pub idle_timeout: Duration,
    /// How long one frame may take to reach a peer that reads too slowly.
    pub send_timeout: Duration,
    /// Messages queued per connection before its subscriptions wait (and fall behind).
    pub send_buffer: usize,
    /// Operations one socket may run at once: each holds a task and a share of the socket's
    /// queue, and one client must not take an instance's memory with a single connection.
    pub max_subscriptions: usize,
    /// The socket's read chunk and write batch, in bytes. tungstenite's defaults (128 KiB
    /// each) are sized for bulk streams and cost every idle socket that much memory;
    /// GraphQL-over-websocket messages are small, and a larger one (up to MAX_BODY_BYTES)
    /// still arrives whole, only in more reads.
    pub read_buffer_bytes: usize,
    pub write_buffer_bytes: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            send_timeout: Duration::from_secs(10),
            send_buffer: 256,
            max_subscriptions: 100,
            read_buffer_bytes: 8 * 1024,
            write_buffer_bytes: 8 * 1024,
        }
    }
}

/// What the subscription tasks (and subscription groups) hand to the connection.
pub(super) enum Outgoing {
    Text(String),
    /// A subscription event (`next`): counted in the metrics once it is on the wire.
    Event(String),
    /// A group's whole `next` message for one member (its bytes shared with the other members
    /// whose message is the same). Counted once on the wire when `event`.
    Frame {
        text: Utf8Bytes,
        event: bool,
    },
    /// The operation's last message (`complete` or `error`): the connection forgets the id
    /// before it writes the text, so a client that reuses the id as soon as it reads it is
    /// never refused as a duplicate. The generation tells it from a later operation that
    /// reuses the id.
    Last {
        text: String,
        id: String,
        generation: u64,
    },
    /// A group wrote a frame the socket did not take at once: flush it (`writer.rs`).
    Flush,
}

fn too_many_subscriptions(max: usize) -> async_graphql::ServerError {
    let mut error = ErrorCode::TooManySubscriptions.error(format!(
        "this socket already runs {max} operations (WS_MAX_SUBSCRIPTIONS): complete one, or open another socket"
    ));
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("max", async_graphql::Value::from(max));
    error
}

/// How the connection ends.
struct Closing {
    code: u16,
    reason: &'static str,
}

pub(crate) struct Session {
    pub(crate) dialect: Dialect,
    pub(crate) state: AppState,
    pub(crate) request_id: String,
    /// The key of the upgrade request's headers, used when `connection_init` names none.
    pub(crate) upgrade_key: Option<String>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) settings: SessionSettings,
    /// The client's address, for its failed-authentication limit and the refusal audit.
    pub(crate) client: Option<IpAddr>,
    /// The socket's place under the websocket caps, held while it is open.
    pub(crate) permit: WebsocketPermit,
}

impl Session {
    /// `revocations` stays out of `Session` so the session can be shared across awaits.
    pub(crate) async fn run(
        mut self,
        socket: WebSocket,
        mut revocations: BoxStream<'static, KeyRevocation>,
    ) {
        let _open = self.state.ws().sessions.enter();
        let (sink, mut incoming) = socket.split();
        // The socket is read in a task of its own, woken only when the client writes: polled
        // in the loop below, the read half would run (and clear its read buffer) on every
        // wake-up, i.e. once for every message the socket sends.
        let (frames_tx, mut frames) = mpsc::channel(1);
        let reader = tokio::spawn(
            async move {
                while let Some(frame) = incoming.next().await {
                    let failed = frame.is_err();
                    if frames_tx.send(frame).await.is_err() || failed {
                        break;
                    }
                }
            }
            .in_current_span(),
        );
        let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(self.settings.send_buffer);
        let writer = Arc::new(SocketWriter::new(sink, out_tx.clone(), self.state.clone()));
        let mut viewer: Option<Viewer> = None;
        let mut init_seen = false;
        let mut running: HashMap<String, (u64, JoinHandle<()>)> = HashMap::new();
        let mut generation = 0_u64;
        let init_deadline = Instant::now() + self.settings.init_timeout;
        let mut last_heard = Instant::now();
        let mut pings = interval_at(
            Instant::now() + self.settings.ping_interval,
            self.settings.ping_interval,
        );

        // Made once, not on every turn of the loop (each turn would build a timer and a watch
        // registration that are then dropped again).
        let init_timer = sleep_until(init_deadline);
        tokio::pin!(init_timer);
        let mut shutdown = self.shutdown.clone();
        let stopping = async move {
            // An error is a dropped sender: the server is stopping too.
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        tokio::pin!(stopping);

        let closing = loop {
            tokio::select! {
                frame = frames.recv() => {
                    let Some(Ok(frame)) = frame else { break None };
                    last_heard = Instant::now();
                    let text = match frame {
                        Message::Text(text) => text,
                        Message::Close(_) => break None,
                        Message::Ping(_) | Message::Pong(_) => continue,
                        Message::Binary(_) => break Some(Closing { code: close::BAD_REQUEST, reason: "binary frames are not part of the protocol" }),
                    };
                    let message = match messages::parse(self.dialect, text.as_str()) {
                        Ok(message) => message,
                        Err(reason) => {
                            tracing::debug!(%reason, "malformed websocket message");
                            break Some(Closing { code: close::BAD_REQUEST, reason: "invalid message" });
                        }
                    };
                    match message {
                        ClientMessage::Init(payload) => {
                            if init_seen {
                                break Some(Closing { code: close::TOO_MANY_INITS, reason: "Too many initialisation requests" });
                            }
                            init_seen = true;
                            match self.authenticate(payload.as_ref()).await {
                                Ok(authenticated) => {
                                    self.permit.authenticated();
                                    record_caller(&authenticated);
                                    viewer = Some(authenticated);
                                    if !self.send(&writer, messages::connection_ack()).await { break None; }
                                }
                                Err(closing) => {
                                    if self.dialect == Dialect::Legacy {
                                        let _ = self.send(&writer, messages::connection_error(closing.reason)).await;
                                    }
                                    break Some(closing);
                                }
                            }
                        }
                        ClientMessage::Ping(payload) => {
                            if !self.send(&writer, messages::pong(payload)).await { break None; }
                        }
                        ClientMessage::Pong => {}
                        ClientMessage::Subscribe { id, payload } => {
                            let Some(viewer) = viewer else {
                                break Some(Closing { code: close::UNAUTHORIZED, reason: "Unauthorized" });
                            };
                            if running.contains_key(&id) {
                                break Some(Closing { code: close::DUPLICATE_ID, reason: "Subscriber for this id already exists" });
                            }
                            // Refused like an operation that fails before it starts: an `error`
                            // for this id, which stays free for a retry (after `retryAfter`, or
                            // once another operation on the socket ends).
                            if running.len() >= self.settings.max_subscriptions {
                                let error = too_many_subscriptions(self.settings.max_subscriptions);
                                let errors = serde_json::to_value([error]).unwrap_or(Value::Null);
                                if !self.send(&writer, messages::error(self.dialect, &id, &errors)).await { break None; }
                                continue;
                            }
                            if let Err(retry) = self.state.rate_limiter().check(&viewer, 1) {
                                self.state.metrics().rate_limited(Transport::Websocket);
                                let errors = serde_json::to_value([rate_limited_error(retry)]).unwrap_or(Value::Null);
                                if !self.send(&writer, messages::error(self.dialect, &id, &errors)).await { break None; }
                                continue;
                            }
                            generation += 1;
                            let task = self.start(id.clone(), generation, payload, viewer, out_tx.clone(), Arc::clone(&writer));
                            running.insert(id, (generation, task));
                        }
                        ClientMessage::Complete { id } => {
                            if let Some((_, task)) = running.remove(&id) {
                                task.abort();
                                // The legacy protocol confirms a stop; graphql-transport-ws does not.
                                if self.dialect == Dialect::Legacy && !self.send(&writer, messages::complete(&id)).await {
                                    break None;
                                }
                            }
                        }
                        ClientMessage::Terminate => break Some(Closing { code: close::NORMAL, reason: "terminated" }),
                    }
                }
                Some(outgoing) = out_rx.recv() => {
                    match outgoing {
                        Outgoing::Text(text) => {
                            if !self.send(&writer, text).await { break None; }
                        }
                        Outgoing::Event(text) => {
                            if !self.send(&writer, text).await { break None; }
                            self.state.metrics().event_delivered();
                        }
                        Outgoing::Frame { text, event } => {
                            if !self.write(&writer, Some(Message::Text(text))).await { break None; }
                            if event {
                                self.state.metrics().event_delivered();
                            }
                        }
                        Outgoing::Last { text, id, generation: finished } => {
                            if running.get(&id).is_some_and(|(current, _)| *current == finished) {
                                running.remove(&id);
                            }
                            if !self.send(&writer, text).await { break None; }
                        }
                        Outgoing::Flush => {
                            if !self.write(&writer, None).await { break None; }
                        }
                    }
                    writer.caught_up(&out_rx);
                }
                () = &mut init_timer, if !init_seen => {
                    break Some(Closing { code: close::INIT_TIMEOUT, reason: "Connection initialisation timeout" });
                }
                _ = pings.tick() => {
                    if last_heard.elapsed() > self.settings.idle_timeout {
                        break Some(Closing { code: close::GOING_AWAY, reason: "the peer stopped answering pings" });
                    }
                    if !self.write(&writer, Some(Message::Ping(Default::default()))).await { break None; }
                    if self.dialect == Dialect::Legacy && viewer.is_some() && !self.send(&writer, messages::keep_alive()).await {
                        break None;
                    }
                }
                revoked = revocations.next() => {
                    let own_key = viewer.and_then(|v| v.api_key_id());
                    match revoked {
                        Some(KeyRevocation::Revoked(key)) if own_key == Some(key) => {
                            break Some(Closing { code: close::FORBIDDEN, reason: "the API key was revoked" });
                        }
                        Some(KeyRevocation::Missed) => {
                            if let Some(key) = own_key
                                && !self.state.services().key_is_live(key).await
                            {
                                break Some(Closing { code: close::FORBIDDEN, reason: "the API key was revoked" });
                            }
                        }
                        Some(KeyRevocation::Revoked(_)) => {}
                        // The bus is gone: the server is stopping.
                        None => break Some(Closing { code: close::GOING_AWAY, reason: "server shutting down" }),
                    }
                }
                () = &mut stopping => {
                    break Some(Closing { code: close::GOING_AWAY, reason: "server shutting down" });
                }
            }
        };

        reader.abort();
        for (_, task) in running.into_values() {
            task.abort();
        }
        if let Some(Closing { code, reason }) = closing {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            self.write(&writer, Some(Message::Close(Some(frame)))).await;
        }
        writer.close();
    }

    /// Sends one text frame; `false` when the peer is gone or too slow to take it.
    async fn send(&self, writer: &SocketWriter, text: String) -> bool {
        self.write(writer, Some(Message::Text(text.into()))).await
    }

    /// Writes one frame (or, `None`, what is buffered) and flushes; `false` when the peer is
    /// gone or too slow to take it.
    async fn write(&self, writer: &SocketWriter, message: Option<Message>) -> bool {
        matches!(
            timeout(self.settings.send_timeout, writer.send(message)).await,
            Ok(true)
        )
    }

    async fn authenticate(&self, payload: Option<&Value>) -> Result<Viewer, Closing> {
        let key = messages::init_key(payload).or_else(|| self.upgrade_key.clone());
        let services = self.state.services();
        let clients = self.state.clients();
        if clients.admit(self.client, key.as_deref()).is_err() {
            clients
                .counters
                .throttled_ws
                .fetch_add(1, Ordering::Relaxed);
            return Err(Closing {
                code: close::TOO_MANY_REQUESTS,
                reason: "Too many failed authentications from this address",
            });
        }
        match services.authenticate_presented(key.as_deref()).await {
            Ok(Ok(viewer)) => {
                if let Some(key) = &key {
                    clients.succeeded(key);
                }
                Ok(viewer)
            }
            Ok(Err(reason)) => {
                clients.failed(self.client);
                services
                    .record_refusal(Refusal {
                        reason,
                        action: "subscribe".to_owned(),
                        api_key_id: None,
                        institution_id: None,
                        resource_type: None,
                        client: self.client,
                        request_id: Some(self.request_id.clone()),
                        details: JsonObject::new(),
                        latest: JsonObject::new(),
                    })
                    .await;
                Err(Closing {
                    code: close::FORBIDDEN,
                    reason: "Forbidden: a valid API key is required",
                })
            }
            Err(error) => {
                tracing::error!(%error, "could not authenticate a websocket");
                Err(Closing {
                    code: close::INTERNAL,
                    reason: "internal server error",
                })
            }
        }
    }

    /// Runs one operation in its own task, so a slow stream never blocks the connection. A
    /// `positionEvents` subscription without a cursor joins the group of identical ones
    /// (`groups`); anything else runs alone.
    fn start(
        &self,
        id: String,
        generation: u64,
        payload: OperationPayload,
        viewer: Viewer,
        out: mpsc::Sender<Outgoing>,
        writer: Arc<SocketWriter>,
    ) -> JoinHandle<()> {
        let dialect = self.dialect;
        let state = self.state.clone();
        let ctx = RequestContext {
            viewer,
            request_id: Some(self.request_id.clone()),
        };
        let task = async move {
            let started = std::time::Instant::now();
            let operation = Operation {
                state,
                dialect,
                id,
                generation,
                out,
                writer,
            };
            let request = match to_request(payload.clone()) {
                Ok(request) => request,
                Err(errors) => return operation.refuse(&errors).await,
            };
            let (described, request) =
                match streamed::prepare(&operation.state, request, &ctx.viewer) {
                    Ok(prepared) => prepared,
                    Err(error) => {
                        tracing::info!(outcome = "rejected", "websocket operation refused");
                        let errors = serde_json::to_value([error]).unwrap_or(Value::Null);
                        return operation.refuse(&errors).await;
                    }
                };
            let (name, kind) = (described.name.clone(), described.kind);
            let kind_name = streamed::kind_name(kind);
            let span = tracing::Span::current();
            span.record("operation", name.as_str());
            span.record("operation_type", kind_name);
            crate::telemetry::name_span(&span, kind_name, &name);
            let key = match (kind, described.document()) {
                (Some(OperationType::Subscription), Some(document)) => {
                    GroupKey::of(&request, document.parsed(), &ctx.viewer)
                }
                _ => None,
            };
            tracing::info!(operation = %name, kind = ?kind, grouped = key.is_some(), "websocket operation started");
            let delivered = match key {
                Some(key) => operation.grouped(key, request, payload, ctx).await,
                None => {
                    let subscription = kind == Some(OperationType::Subscription);
                    let responses = streamed::execute(&operation.state, request, ctx);
                    operation.forward(responses, subscription, None).await
                }
            };
            if let Some(delivered) = delivered {
                tracing::info!(
                    operation = %name,
                    events = delivered,
                    duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "websocket operation completed"
                );
            }
        };
        // A span per operation, under the socket's: a subscription's span lasts as it does.
        let span = tracing::info_span!(
            "websocket operation",
            otel.name = "websocket operation",
            otel.kind = "server",
            operation = tracing::field::Empty,
            operation_type = tracing::field::Empty,
        );
        tokio::spawn(task.instrument(span))
    }
}

/// One running websocket operation: where its messages go.
struct Operation {
    state: AppState,
    dialect: Dialect,
    id: String,
    generation: u64,
    out: mpsc::Sender<Outgoing>,
    /// The socket, for the groups this operation joins to write to directly.
    writer: Arc<SocketWriter>,
}

impl Operation {
    /// The operation failed before it started: an `error` for its id, which is free again.
    async fn refuse(&self, errors: &Value) {
        self.last(messages::error(self.dialect, &self.id, errors))
            .await;
    }

    /// The operation's last message; the id is free once the client has it.
    async fn last(&self, text: String) {
        let _ = self
            .out
            .send(Outgoing::Last {
                text,
                id: self.id.clone(),
                generation: self.generation,
            })
            .await;
    }

    /// Sends a stream's responses until it ends, then `complete`. `skip`: the feed's
    /// `SharedFeed` and a start whose already-committed events are not delivered (a member
    /// catching up after it left its group). Returns the events delivered, or `None` when
    /// the operation was refused or the connection is gone.
    async fn forward(
        &self,
        mut responses: BoxStream<'static, async_graphql::Response>,
        subscription: bool,
        skip: Option<(SharedFeed, LiveStart)>,
    ) -> Option<u64> {
        let mut first = true;
        let mut delivered = 0_u64;
        while let Some(response) = responses.next().await {
            if let Some((feed, start)) = &skip
                && let Some(seq) = feed.take()
                && start.already_committed.binary_search(&seq).is_ok()
            {
                continue;
            }
            let refused_at_start = first && streamed::refused_at_start(&response);
            first = false;
            let event = subscription && response.errors.is_empty();
            let body = serde_json::to_value(&response).unwrap_or(Value::Null);
            if refused_at_start {
                let errors = body.get("errors").cloned().unwrap_or(Value::Null);
                tracing::info!(outcome = "rejected", "websocket operation refused");
                self.refuse(&errors).await;
                return None;
            }
            let text = messages::next(self.dialect, &self.id, &body);
            let queued = if event {
                delivered += 1;
                self.out.send(Outgoing::Event(text)).await
            } else {
                self.out.send(Outgoing::Text(text)).await
            };
            if queued.is_err() {
                return None;
            }
        }
        self.last(messages::complete(&self.id)).await;
        Some(delivered)
    }

    /// A member of the group of `key`: the group sends its events straight to the socket's
    /// queue; this task reads its start when it must, then waits for the group's word (the
    /// end, or that it fell behind and goes on alone).
    async fn grouped(
        &self,
        key: GroupKey,
        request: async_graphql::Request,
        payload: OperationPayload,
        ctx: RequestContext,
    ) -> Option<u64> {
        let prefix: Arc<str> = messages::next_prefix(self.dialect, &self.id).into();
        let state = &self.state;
        let mut membership = state.groups().join(
            key,
            state.services().subscription_gauge(),
            prefix,
            Arc::clone(&self.writer),
            |feed| streamed::execute_group(state, request.data(feed), ctx.clone()),
        );
        if membership.needs_start {
            match state.services().live_start().await {
                Ok(start) => membership.started(start),
                Err(error) => {
                    tracing::error!(%error, "could not read where a subscription starts");
                    let error = ErrorCode::InternalServerError.error("internal server error");
                    let errors = serde_json::to_value([error]).unwrap_or(Value::Null);
                    self.refuse(&errors).await;
                    return None;
                }
            }
        }
        let control = membership.control.take()?.await.ok()?;
        drop(membership);
        match control {
            Control::Ended(Ending::Refused(errors)) => {
                tracing::info!(outcome = "rejected", "websocket operation refused");
                self.refuse(&errors).await;
                None
            }
            Control::Ended(ending) => {
                if let Ending::Failed(payload) = ending {
                    let text = format!(
                        "{}{payload}}}",
                        messages::next_prefix(self.dialect, &self.id)
                    );
                    let _ = self.out.send(Outgoing::Text(text)).await;
                }
                self.last(messages::complete(&self.id)).await;
                Some(0)
            }
            Control::Detached { last, start, gauge } => {
                tracing::info!("a grouped subscription fell behind; it catches up on its own");
                let _counted = gauge;
                let request = to_request(payload).ok()?;
                let (_, request) = streamed::prepare(state, request, &ctx.viewer).ok()?;
                let feed = SharedFeed::new(Some(last), None);
                let responses = streamed::execute(state, request.data(feed.clone()), ctx);
                self.forward(responses, true, Some((feed, start))).await
            }
        }
    }
}
