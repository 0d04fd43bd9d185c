//! `fanout`: S websocket subscribers (`graphql-transport-ws`) to every PositionEvent while a
//! publisher commits events at a fixed rate; latency is commit → receipt per subscriber, and
//! every delivery is matched by event id (see `exactness`).
//!
//! The subscribers are kept lean, because on a 2-core machine they share the cores with the
//! server: a delivery costs a byte search for the event id and a push of (u128, Instant) into
//! a vector sized up front; JSON is parsed only for the rare control messages.
//!
//! The commit happens somewhere between the committing mutation's request leaving and its
//! response arriving, and subscribers often hear of the event before that response reaches us.
//! So the reported latency is measured from the request (an upper bound: the event cannot have
//! committed earlier), and the lower bound, from the response (negative values count as 0 and
//! as `early`), is in the JSON detail. The event's own `at` is not used: the server stamps it
//! before the transaction and keeps milliseconds only.

use crate::args::FanoutSelection;
use crate::client::Api;
use crate::exactness::{self, Checker, Commit, Ledger};
use crate::meter::{Costs, Meter};
use crate::procfs;
use crate::queries;
use crate::seed::{SeedData, money};
use crate::stats::{Summary, micros, summarize};
use futures::{SinkExt as _, StreamExt as _};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
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
    pub(crate) selection: FanoutSelection,
}

/// Seconds of commits at the configured rate before any subscriber connects: the write
/// latency the fan-out's is compared with.
const BASELINE_SECONDS: u64 = 5;

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
    let mut rng = StdRng::seed_from_u64(config.seed);
    let baseline = commit_at_rate(
        api,
        data,
        &mut rng,
        config.rate,
        config.seconds.min(BASELINE_SECONDS),
    )
    .await;
    let baseline_latencies: Vec<u64> = baseline
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .map(|(_, commit)| micros(commit.returned - commit.sent))
        .collect();
    let server_pid = meter.server_pid;
    let rss_before = Rss::read(server_pid);
    let ws_url = format!("{}/graphql/ws", base_url.replacen("http://", "ws://", 1));
    let query = match config.selection {
        FanoutSelection::Scalar => queries::SUBSCRIBE_SCALAR,
        FanoutSelection::Nested => queries::SUBSCRIBE_NESTED,
    };
    // Every receipt of the window fits without growing: the events, the probes, some slack.
    let capacity = usize::try_from(u64::from(config.rate) * config.seconds).unwrap_or(0) + 128;
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
                query,
                selection: config.selection,
                capacity,
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

    let rss_subscribed = Rss::read(server_pid);

    // graphql-transport-ws does not acknowledge `subscribe`: publish probe events until every
    // connected subscriber has heard one, so the measured window starts with all of them live.
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
        let _ = guard.stop.send(true);
        let mut why = String::new();
        for handle in std::mem::take(&mut guard.handles) {
            if let Ok(SubscriberLog {
                failure: Some(failure),
                ..
            }) = handle.await
            {
                why = format!(" (a subscriber said: {failure})");
                break;
            }
        }
        return Err(format!(
            "{connected} subscribers connected but none received any of {probes} probe events{why}"
        ));
    }
    // Let the probes' deliveries drain so they do not queue ahead of the measured events.
    settle(&shared, Duration::from_secs(1)).await;
    let rss_idle = Rss::read(server_pid);

    let reading = meter.start().await.map_err(|error| error.to_string())?;
    let delivered_before = shared.delivered.load(Ordering::Relaxed);
    let window_started = Instant::now();
    let results = commit_at_rate(api, data, &mut rng, config.rate, config.seconds).await;
    let mut commits = Vec::with_capacity(results.len());
    let mut publish_latencies = Vec::new();
    let mut samples = Vec::new();
    let mut publish_errors = 0u64;
    for result in results {
        match result {
            Ok((event_id, commit)) => {
                publish_latencies.push(micros(commit.returned - commit.sent));
                commits.push((event_id, commit));
            }
            Err(message) => {
                publish_errors += 1;
                if samples.len() < 5 {
                    samples.push(message);
                }
            }
        }
    }
    let ledger = Ledger::new(commits);
    let published = ledger.len() as u64;
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
    let client_rss_kib = procfs::rss_kib(std::process::id()).ok();
    let _ = guard.stop.send(true);
    let handles = std::mem::take(&mut guard.handles);

    let mut checker = Checker::new(&ledger);
    let mut subscriber_failures: Vec<String> = Vec::new();
    let mut malformed = 0u64;
    let mut checked = 0usize;
    for handle in handles {
        let Ok(log) = handle.await else {
            subscriber_failures.push("subscriber task panicked".to_owned());
            continue;
        };
        if let Some(failure) = log.failure {
            subscriber_failures.push(failure);
        }
        malformed += log.malformed;
        // Only the subscribers that went live are owed the window's events.
        if log.live {
            checker.subscriber(&log.deliveries);
            checked += 1;
        }
    }
    let exact = checker.totals;
    for failure in subscriber_failures.iter().chain(&connect_failures) {
        if samples.len() < 5 && !samples.contains(failure) {
            samples.push(failure.clone());
        }
    }
    for (count, what) in [
        (exact.missing, "deliveries missing"),
        (exact.duplicated, "deliveries duplicated"),
        (exact.out_of_order, "deliveries out of order"),
        (malformed, "deliveries without the selected nested fields"),
    ] {
        if count > 0 && samples.len() < 5 {
            samples.push(format!("{count} {what}"));
        }
    }
    let errors = exact.missing
        + exact.duplicated
        + exact.out_of_order
        + malformed
        + publish_errors
        + connect_failures.len() as u64;
    let per_subscriber = |after: Option<u64>| growth_per(rss_before.server, after, connected);
    let peak_kib = (costs.server_peak_rss_mib * 1024.0) as u64;
    let per_delivery_us = |seconds: f64| -> Option<f64> {
        (exact.delivered > 0).then(|| seconds * 1e6 / exact.delivered as f64)
    };
    let client_per_subscriber =
        |after: Option<u64>| growth_per(rss_before.client, after, connected);
    let publish_latency = summarize(publish_latencies);
    let baseline_latency = summarize(baseline_latencies);
    let detail = json!({
        "selection": config.selection.name(),
        "subscription": query,
        "subscribers": config.subscribers,
        "connected": connected,
        "live": live,
        "checked_subscribers": checked,
        "connect_seconds": connect_seconds,
        "rate_per_second": config.rate,
        "published": published,
        "publish_errors": publish_errors,
        "deliveries_expected": exact.expected,
        "deliveries": exact.delivered,
        "missing": exact.missing,
        "duplicated": exact.duplicated,
        "out_of_order": exact.out_of_order,
        "outside_window": exact.outside_window,
        "malformed": malformed,
        "early": checker.early,
        "subscriber_failures": subscriber_failures.len(),
        "latency_from_response_ms": summarize(std::mem::take(&mut checker.from_response)),
        "publish_latency_ms": publish_latency,
        "publish_latency_without_subscribers_ms": baseline_latency,
        "server_rss_kib": {
            "before_connecting": rss_before.server,
            "subscribed": rss_subscribed.server,
            "idle": rss_idle.server,
            "peak_under_load": peak_kib,
        },
        "server_rss_kib_per_subscriber": {
            "subscribed": per_subscriber(rss_subscribed.server),
            "idle": per_subscriber(rss_idle.server),
            "under_load": per_subscriber(Some(peak_kib)),
        },
        "client_rss_kib_per_subscriber": {
            "idle": client_per_subscriber(rss_idle.client),
            "after_load": client_per_subscriber(client_rss_kib),
        },
        "server_cpu_us_per_delivery": per_delivery_us(costs.server_cpu_seconds),
        "client_cpu_us_per_delivery": per_delivery_us(costs.client_cpu_seconds),
    });
    eprintln!(
        "bench: fanout ({} selection): {} of {} deliveries, {} missing, {} duplicated, {} out of order; server RSS/subscriber idle {} KiB, under load {} KiB; CPU/delivery server {} µs, client {} µs; commit p50/p99 {} ms during fan-out, {} ms without subscribers",
        config.selection.name(),
        exact.delivered,
        exact.expected,
        exact.missing,
        exact.duplicated,
        exact.out_of_order,
        one_decimal(per_subscriber(rss_idle.server)),
        one_decimal(per_subscriber(Some(peak_kib))),
        one_decimal(per_delivery_us(costs.server_cpu_seconds)),
        one_decimal(per_delivery_us(costs.client_cpu_seconds)),
        percentiles(publish_latency.as_ref()),
        percentiles(baseline_latency.as_ref()),
    );
    let last_receipt = checker.last_receipt.unwrap_or(window_started);
    Ok(FanoutOutcome {
        deliveries: exact.delivered,
        errors,
        latency: summarize(std::mem::take(&mut checker.from_send)),
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

/// KiB of growth per subscriber between two RSS readings.
fn growth_per(before: Option<u64>, after: Option<u64>, subscribers: usize) -> Option<f64> {
    let (before, after) = (before?, after?);
    (subscribers > 0).then(|| after.saturating_sub(before) as f64 / subscribers as f64)
}

fn one_decimal(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.1}"))
}

fn percentiles(summary: Option<&Summary>) -> String {
    summary.map_or_else(
        || "-".to_owned(),
        |summary| format!("{:.1}/{:.1}", summary.p50, summary.p99),
    )
}

/// RSS in KiB of the server and of this process, None where /proc would not say.
struct Rss {
    server: Option<u64>,
    client: Option<u64>,
}

impl Rss {
    fn read(server_pid: u32) -> Self {
        Self {
            server: procfs::rss_kib(server_pid).ok(),
            client: procfs::rss_kib(std::process::id()).ok(),
        }
    }
}

/// Commits `rate × seconds` events at `rate` per second, each on its own task so a slow
/// commit does not lower the rate; returns them in the order they were sent.
async fn commit_at_rate(
    api: &Arc<Api>,
    data: &SeedData,
    rng: &mut StdRng,
    rate: u32,
    seconds: u64,
) -> Vec<Result<(u128, Commit), String>> {
    let total = u64::from(rate) * seconds;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut publishes = Vec::new();
    for _ in 0..total {
        ticker.tick().await;
        publishes.push(tokio::spawn(publish_timed(
            Arc::clone(api),
            position_input(data, rng),
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
    results
}

async fn publish(api: &Api, data: &SeedData, rng: &mut StdRng) -> Result<u128, String> {
    publish_timed_ref(api, position_input(data, rng))
        .await
        .map(|(id, _)| id)
}

async fn publish_timed(api: Arc<Api>, input: Value) -> Result<(u128, Commit), String> {
    publish_timed_ref(&api, input).await
}

/// Commits one event; returns its id, when the request left and when the answer arrived.
async fn publish_timed_ref(api: &Api, input: Value) -> Result<(u128, Commit), String> {
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
        .and_then(exactness::parse_id)
        .ok_or_else(|| {
            format!(
                "createPosition answered without its event id: {}",
                answer.data
            )
        })?;
    Ok((id, Commit { sent, returned }))
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
    query: &'static str,
    selection: FanoutSelection,
    capacity: usize,
    shared: Arc<Counters>,
    gate: Arc<Semaphore>,
    ready: mpsc::Sender<Result<(), String>>,
    stop: watch::Receiver<bool>,
}

/// What one subscriber heard: (event id, receipt time) in receipt order, and why it stopped
/// early if it did.
struct SubscriberLog {
    deliveries: Vec<(u128, Instant)>,
    /// It received at least one event, so it was subscribed when the window opened.
    live: bool,
    /// `next` messages without the nested selection's fields.
    malformed: u64,
    failure: Option<String>,
}

impl SubscriberLog {
    fn failed(reason: String) -> Self {
        Self {
            deliveries: Vec::new(),
            live: false,
            malformed: 0,
            failure: Some(reason),
        }
    }
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
                return SubscriberLog::failed(reason);
            }
            Err(_) => {
                let reason = "handshake took over 30 s".to_owned();
                let _ = self.ready.send(Err(reason.clone())).await;
                return SubscriberLog::failed(reason);
            }
        };
        let mut log = SubscriberLog {
            deliveries: Vec::with_capacity(self.capacity),
            live: false,
            malformed: 0,
            failure: None,
        };
        let nested = self.selection == FanoutSelection::Nested;
        // Made once: a `changed()` per message would register each of thousands of sockets
        // with the one shared watch (under its lock) for every delivery.
        let mut stop = self.stop.clone();
        let stopping = stop.changed();
        tokio::pin!(stopping);
        loop {
            let message = tokio::select! {
                _ = &mut stopping => break,
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
            if let Some(id) = exactness::event_id(text.as_str()) {
                if !log.live {
                    log.live = true;
                    self.shared.live.fetch_add(1, Ordering::Relaxed);
                }
                self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                log.deliveries.push((id, received));
                if nested && !text.as_str().contains("\"asset\":{\"label\":") {
                    log.malformed += 1;
                }
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
        // buffers would cost the load generator ~600 MiB of memory it does not need. tungstenite
        // zeroes a whole read chunk on every read, so the chunk is kept near a message's size.
        let config = WebSocketConfig::default()
            .read_buffer_size(2 * 1024)
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
            "payload": { "query": self.query },
        });
        socket
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .map_err(|error| format!("sending subscribe: {error}"))?;
        Ok(socket)
    }
}
