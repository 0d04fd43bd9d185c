//! `fanout`: S websocket subscribers (`graphql-transport-ws`) to every PositionEvent while a
//! publisher commits events at a fixed rate; latency is commit → receipt per subscriber.
//!
//! The commit happens somewhere between the committing mutation's request leaving and its
//! response arriving, and subscribers often hear of the event before that response reaches us.
//! So the reported latency is measured from the request (an upper bound: the event cannot have
//! committed earlier), and the lower bound, from the response (negative values count as 0 and
//! as `early`), is in the JSON detail. The event's own `at` is not used: the server stamps it
//! before the transaction and keeps milliseconds only.

use crate::client::Api;
use crate::meter::{Costs, Meter};
use crate::queries;
use crate::seed::{SeedData, money};
use crate::stats::{Summary, micros, summarize};
use futures::{SinkExt as _, StreamExt as _};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Handshakes in flight at once: enough to connect 5 000 sockets in seconds without making
/// the server's accept queue the thing we measure.
const CONNECT_CONCURRENCY: usize = 64;
/// File descriptors kept free for the HTTP client, logs and the runtime.
const SPARE_FILES: u64 = 256;

pub(crate) struct FanoutConfig {
    pub(crate) subscribers: usize,
    pub(crate) rate: u32,
    pub(crate) seconds: u64,
    pub(crate) seed: u64,
}

pub(crate) struct FanoutOutcome {
    pub(crate) deliveries: u64,
    pub(crate) errors: u64,
    pub(crate) latency: Option<Summary>,
    pub(crate) elapsed: Duration,
    pub(crate) published: u64,
    pub(crate) costs: Costs,
    pub(crate) samples: Vec<String>,
    pub(crate) detail: Value,
}

/// Everything that made the workload impossible to run becomes `Err(reason)`, reported as
/// "unavailable: reason" so one missing feature does not sink the other numbers.
pub(crate) async fn run(
    api: &Arc<Api>,
    base_url: &str,
    key: &str,
    data: &SeedData,
    config: &FanoutConfig,
    meter: &Meter<'_>,
) -> Result<FanoutOutcome, String> {
    let needed = config.subscribers as u64 + SPARE_FILES;
    if let Some(limit) = crate::procfs::open_files_limit()
        && limit < needed
    {
        return Err(format!(
            "the open-files limit is {limit}, {} subscribers need at least {needed} (the server inherits the same limit): run `ulimit -n {}` in this shell first, or pass a smaller --subscribers",
            config.subscribers,
            needed.max(20_000)
        ));
    }
    let ws_url = format!("{}/graphql/ws", base_url.replacen("http://", "ws://", 1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::channel(config.subscribers.max(1));
    let shared = Arc::new(Counters::default());
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let connect_started = Instant::now();
    let handles: Vec<_> = (0..config.subscribers)
        .map(|_| {
            let subscriber = Subscriber {
                url: ws_url.clone(),
                key: key.to_owned(),
                shared: Arc::clone(&shared),
                gate: Arc::clone(&gate),
                ready: ready_tx.clone(),
                stop: stop_rx.clone(),
            };
            tokio::spawn(subscriber.run())
        })
        .collect();
    drop(ready_tx);
    let mut guard = Subscribers {
        handles,
        stop: stop_tx,
    };

    // Wait for every handshake; the first failure of all of them means the server does not
    // offer subscriptions (yet), and the workload is unavailable rather than slow.
    let mut connected = 0usize;
    let mut connect_failures: Vec<String> = Vec::new();
    let connect_deadline =
        Instant::now() + Duration::from_secs(30 + config.subscribers as u64 / 50);
    while connected + connect_failures.len() < config.subscribers {
        let remaining = connect_deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => connected += 1,
            Ok(Some(Err(reason))) => {
                if connected == 0 && connect_failures.is_empty() {
                    drop(guard);
                    return Err(format!("subscribing failed: {reason}"));
                }
                connect_failures.push(reason);
            }
            Ok(None) => break,
            Err(_) => {
                connect_failures.push("handshake timed out".to_owned());
                break;
            }
        }
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    eprintln!(
        "bench: fanout: {connected} of {} subscribers connected in {connect_seconds:.1} s",
        config.subscribers
    );
    if connected == 0 {
        drop(guard);
        return Err("no subscriber could connect".to_owned());
    }

    // graphql-transport-ws does not acknowledge `subscribe`: publish probe events until every
    // connected subscriber has heard one, so the measured window starts with all of them live.
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut probes = 0u32;
    let probe_deadline = Instant::now() + Duration::from_secs(30);
    while shared.live.load(Ordering::Relaxed) < connected && Instant::now() < probe_deadline {
        if publish(api, data, &mut rng).await.is_ok() {
            probes += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let live = shared.live.load(Ordering::Relaxed);
    if live == 0 {
        drop(guard);
        return Err(format!(
            "{connected} subscribers connected but none received any of {probes} probe events"
        ));
    }
    // Let the probes' deliveries drain so they do not queue ahead of the measured events.
    settle(&shared, Duration::from_secs(1)).await;

    let reading = meter.start().await.map_err(|error| error.to_string())?;
    let delivered_before = shared.delivered.load(Ordering::Relaxed);
    let window_started = Instant::now();
    let total = u64::from(config.rate) * config.seconds;
    let period = Duration::from_secs_f64(1.0 / f64::from(config.rate.max(1)));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut publishes = Vec::new();
    for _ in 0..total {
        ticker.tick().await;
        // Each event on its own task, so a slow commit does not lower the rate.
        publishes.push(tokio::spawn(publish_timed(
            Arc::clone(api),
            position_input(data, &mut rng),
        )));
    }
    let mut results = Vec::with_capacity(publishes.len());
    for handle in publishes {
        results.push(
            handle
                .await
                .unwrap_or_else(|error| Err(format!("publisher task: {error}"))),
        );
    }
    let mut commits: HashMap<String, (Instant, Instant)> = HashMap::new();
    let mut publish_latencies = Vec::new();
    let mut samples = Vec::new();
    let mut publish_errors = 0u64;
    for result in results {
        match result {
            Ok((event_id, sent, returned)) => {
                publish_latencies.push(micros(returned - sent));
                commits.insert(event_id, (sent, returned));
            }
            Err(message) => {
                publish_errors += 1;
                if samples.len() < 5 {
                    samples.push(message);
                }
            }
        }
    }
    let published = commits.len() as u64;
    let expected = published * live as u64;
    // Wait for the deliveries (at most 30 s; give up after 3 s without progress).
    let drain_deadline = Instant::now() + Duration::from_secs(30);
    let mut last = (shared.delivered.load(Ordering::Relaxed), Instant::now());
    while shared.delivered.load(Ordering::Relaxed) - delivered_before < expected
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = shared.delivered.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let costs = meter
        .finish(reading)
        .await
        .map_err(|error| error.to_string())?;
    let _ = guard.stop.send(true);
    let handles = std::mem::take(&mut guard.handles);

    let mut from_send = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    let mut from_response = Vec::with_capacity(from_send.capacity());
    let mut early = 0u64;
    let mut last_receipt = window_started;
    let mut subscriber_failures: Vec<String> = Vec::new();
    for handle in handles {
        let Ok(log) = handle.await else {
            subscriber_failures.push("subscriber task panicked".to_owned());
            continue;
        };
        if let Some(failure) = log.failure {
            subscriber_failures.push(failure);
        }
        for (event_id, received) in log.deliveries {
            if let Some((sent, returned)) = commits.get(&event_id) {
                if received < *returned {
                    early += 1;
                }
                from_send.push(micros(received.saturating_duration_since(*sent)));
                from_response.push(micros(received.saturating_duration_since(*returned)));
                last_receipt = last_receipt.max(received);
            }
        }
    }
    let deliveries = from_send.len() as u64;
    let missing = expected.saturating_sub(deliveries);
    for failure in subscriber_failures.iter().chain(&connect_failures) {
        if samples.len() < 5 && !samples.contains(failure) {
            samples.push(failure.clone());
        }
    }
    if missing > 0 && samples.len() < 5 {
        samples.push(format!("{missing} deliveries missing"));
    }
    let errors = missing + publish_errors + connect_failures.len() as u64;
    let detail = json!({
        "subscribers": config.subscribers,
        "connected": connected,
        "live": live,
        "connect_seconds": connect_seconds,
        "rate_per_second": config.rate,
        "published": published,
        "publish_errors": publish_errors,
        "deliveries_expected": expected,
        "deliveries": deliveries,
        "missing": missing,
        "early": early,
        "subscriber_failures": subscriber_failures.len(),
        "latency_from_response_ms": summarize(from_response),
        "publish_latency_ms": summarize(publish_latencies),
    });
    Ok(FanoutOutcome {
        deliveries,
        errors,
        latency: summarize(from_send),
        elapsed: last_receipt.saturating_duration_since(window_started),
        published,
        costs,
        samples,
        detail,
    })
}

/// Ends the subscribers still owned when dropped, so no early return (unavailable, a failed
/// reading) leaves sockets or half-done handshakes running into the next workload.
struct Subscribers {
    handles: Vec<tokio::task::JoinHandle<SubscriberLog>>,
    stop: watch::Sender<bool>,
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// Waits until no delivery arrived for `quiet`.
async fn settle(shared: &Counters, quiet: Duration) {
    let mut last = shared.delivered.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(quiet).await;
        let now = shared.delivered.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
}

fn position_input(data: &SeedData, rng: &mut StdRng) -> Value {
    let asset = &data.assets[rng.random_range(0..data.assets.len())];
    json!({
        "institutionId": asset.institution,
        "assetId": asset.id,
        "holderReference": format!("fanout-{:06}", rng.random_range(0..1_000_000u32)),
        "currency": "USD",
        "amount": money(rng.random_range(1_000_000..100_000_000u64)),
    })
}

async fn publish(api: &Api, data: &SeedData, rng: &mut StdRng) -> Result<String, String> {
    let input = position_input(data, rng);
    let answer = api
        .call::<Value>(
            queries::CREATE_POSITION_WITH_EVENT,
            json!({ "input": input }),
        )
        .await
        .map_err(|failed| failed.message)?;
    answer.data["createPosition"]["events"][0]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("createPosition answered without its event: {}", answer.data))
}

/// Commits one event; returns its id, when the request left and when the answer arrived.
async fn publish_timed(api: Arc<Api>, input: Value) -> Result<(String, Instant, Instant), String> {
    let sent = Instant::now();
    let answer = api
        .call::<Value>(
            queries::CREATE_POSITION_WITH_EVENT,
            json!({ "input": input }),
        )
        .await
        .map_err(|failed| failed.message)?;
    let returned = Instant::now();
    let id = answer.data["createPosition"]["events"][0]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("createPosition answered without its event: {}", answer.data))?;
    Ok((id, sent, returned))
}

#[derive(Default)]
struct Counters {
    /// Subscribers that have received at least one event.
    live: AtomicUsize,
    /// Deliveries to all subscribers together.
    delivered: AtomicU64,
}

struct Subscriber {
    url: String,
    key: String,
    shared: Arc<Counters>,
    gate: Arc<Semaphore>,
    ready: mpsc::Sender<Result<(), String>>,
    stop: watch::Receiver<bool>,
}

/// What one subscriber heard: (event id, receipt time), and why it stopped early if it did.
struct SubscriberLog {
    deliveries: Vec<(String, Instant)>,
    failure: Option<String>,
}

/// The one message shape on the hot path, parsed without building a `Value`.
#[derive(Deserialize)]
struct Next {
    #[serde(rename = "type")]
    kind: String,
    payload: NextPayload,
}

#[derive(Deserialize)]
struct NextPayload {
    data: NextData,
}

#[derive(Deserialize)]
struct NextData {
    #[serde(rename = "positionEvents")]
    position_events: EventId,
}

#[derive(Deserialize)]
struct EventId {
    id: String,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Subscriber {
    async fn run(mut self) -> SubscriberLog {
        let permit = self.gate.clone().acquire_owned().await;
        let handshake = tokio::time::timeout(Duration::from_secs(30), self.handshake()).await;
        drop(permit);
        let mut socket = match handshake {
            Ok(Ok(socket)) => {
                let _ = self.ready.send(Ok(())).await;
                socket
            }
            Ok(Err(reason)) => {
                let _ = self.ready.send(Err(reason.clone())).await;
                return SubscriberLog {
                    deliveries: Vec::new(),
                    failure: Some(reason),
                };
            }
            Err(_) => {
                let reason = "handshake took over 30 s".to_owned();
                let _ = self.ready.send(Err(reason.clone())).await;
                return SubscriberLog {
                    deliveries: Vec::new(),
                    failure: Some(reason),
                };
            }
        };
        let mut log = SubscriberLog {
            deliveries: Vec::new(),
            failure: None,
        };
        loop {
            let message = tokio::select! {
                _ = self.stop.changed() => break,
                message = socket.next() => message,
            };
            // Timestamp first: parsing is the client's cost, not delivery latency.
            let received = Instant::now();
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(_))) => continue,
                Some(Ok(Message::Close(frame))) => {
                    log.failure = Some(format!("server closed the socket: {frame:?}"));
                    break;
                }
                Some(Err(error)) => {
                    log.failure = Some(format!("websocket error: {error}"));
                    break;
                }
                None => {
                    log.failure = Some("socket ended".to_owned());
                    break;
                }
            };
            if let Ok(next) = serde_json::from_str::<Next>(text.as_str())
                && next.kind == "next"
            {
                if log.deliveries.is_empty() {
                    self.shared.live.fetch_add(1, Ordering::Relaxed);
                }
                self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                log.deliveries
                    .push((next.payload.data.position_events.id, received));
                continue;
            }
            let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
            match value["type"].as_str() {
                Some("ping") => {
                    let pong = json!({ "type": "pong" }).to_string();
                    if socket.send(Message::Text(pong.into())).await.is_err() {
                        log.failure = Some("could not answer ping".to_owned());
                        break;
                    }
                }
                Some("pong") => {}
                _ => {
                    log.failure = Some(format!("unexpected message: {text}"));
                    break;
                }
            }
        }
        let _ = socket.close(None).await;
        log
    }

    /// connect → connection_init → connection_ack → subscribe.
    async fn handshake(&mut self) -> Result<Socket, String> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|error| format!("bad websocket URL: {error}"))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        // Small buffers: messages are a few hundred bytes, and 5 000 default 128 KiB read
        // buffers would cost the load generator ~600 MiB of memory it does not need.
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(8 * 1024);
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .map_err(|error| format!("connecting to {}: {error}", self.url))?;
        let init = json!({ "type": "connection_init", "payload": { "apiKey": self.key } });
        socket
            .send(Message::Text(init.to_string().into()))
            .await
            .map_err(|error| format!("sending connection_init: {error}"))?;
        loop {
            let message = socket
                .next()
                .await
                .ok_or("socket closed before connection_ack")?
                .map_err(|error| format!("waiting for connection_ack: {error}"))?;
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(text.as_str())
                        .map_err(|error| format!("undecodable message {text}: {error}"))?;
                    match value["type"].as_str() {
                        Some("connection_ack") => break,
                        Some("ping") => {
                            let pong = json!({ "type": "pong" }).to_string();
                            socket
                                .send(Message::Text(pong.into()))
                                .await
                                .map_err(|error| format!("answering ping: {error}"))?;
                        }
                        _ => return Err(format!("expected connection_ack, got {text}")),
                    }
                }
                Message::Close(frame) => {
                    return Err(format!("server closed the socket: {frame:?}"));
                }
                _ => {}
            }
        }
        let subscribe = json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": queries::SUBSCRIBE },
        });
        socket
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .map_err(|error| format!("sending subscribe: {error}"))?;
        Ok(socket)
    }
}
