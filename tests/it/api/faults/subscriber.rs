//! A subscriber that keeps resuming: it records every event it is given, in order, with the
//! event's cursor; every few events it ends its subscription and starts again after the last
//! cursor it received (alternately on a new socket, and on the same socket under a new id);
//! and whenever its socket breaks or the server ends the subscription (its instance killed,
//! PostgreSQL gone), it reconnects, to instance A once B has been killed, and resumes the same
//! way. It stops once it has received the event the test names as its last, or when told to.
//!
//! Nothing here asserts: the test compares what each subscriber recorded with the log.

use super::super::ws_support::{Dialect, SUBSCRIPTION, Socket, key_of, request, string};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// An event as the log and the subscriber both name it: (position id, version).
pub(crate) type Key = (String, i64);

/// Events taken per subscription before it is ended and resumed, in turn.
const QUOTAS: [usize; 8] = [2, 7, 19, 5, 31, 11, 43, 3];
/// A bound on subscriptions per subscriber (a broken server must not make it loop forever).
const MAX_SESSIONS: usize = 3000;
/// How long one read waits before the subscriber looks at its goal and the quit switch again.
const POLL: Duration = Duration::from_millis(100);
const CONNECT_LIMIT: Duration = Duration::from_secs(5);
const PAUSE_MIN: Duration = Duration::from_millis(50);
const PAUSE_MAX: Duration = Duration::from_millis(400);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Instance {
    A,
    B,
}

/// Where the subscribers connect; `b_killed` is set just before B is killed, so a subscriber
/// of B then reconnects to A.
pub(crate) struct Instances {
    pub(crate) a: String,
    pub(crate) b: String,
    pub(crate) b_killed: AtomicBool,
}

impl Instances {
    fn pick(&self, home: Instance) -> (&str, Instance) {
        if home == Instance::B && !self.b_killed.load(Ordering::SeqCst) {
            (&self.b, Instance::B)
        } else {
            (&self.a, Instance::A)
        }
    }
}

/// One subscriber's identity: its instance, key and filter.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) home: Instance,
    pub(crate) key: String,
    pub(crate) filter: Value,
}

/// What the test watches while the subscriber runs.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) received: AtomicUsize,
    /// Events received through A after B was killed.
    pub(crate) on_a_after_kill: AtomicUsize,
    pub(crate) finished: AtomicBool,
}

/// What the subscriber did and saw.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Every event delivered, in the order delivered.
    pub(crate) events: Vec<Key>,
    /// Subscriptions started (the first one included).
    pub(crate) sessions: usize,
    /// Subscriptions it ended itself and resumed, and how many of those on the same socket.
    pub(crate) resumed: usize,
    pub(crate) same_socket: usize,
    /// Why subscriptions ended that it did not end, with how often.
    pub(crate) broken: BTreeMap<String, usize>,
    /// Subscriptions started again without a cursor (none may be: that would skip events).
    pub(crate) without_cursor: usize,
    pub(crate) finished: bool,
}

impl Report {
    fn broke(&mut self, reason: String) {
        *self.broken.entry(reason).or_default() += 1;
    }
}

/// The last event the subscriber must receive, once the test knows it.
struct Goal {
    last: watch::Receiver<Option<Key>>,
    reached: bool,
}

impl Goal {
    /// Whether the last event is among `events`; scans them only when the goal is new.
    fn reached(&mut self, events: &[Key]) -> bool {
        if !self.reached && self.last.has_changed().unwrap_or(false) {
            let last = self.last.borrow_and_update().clone();
            if let Some(last) = last {
                self.reached = events.contains(&last);
            }
        }
        self.reached
    }

    fn received(&mut self, key: &Key) {
        if self.last.borrow().as_ref() == Some(key) {
            self.reached = true;
        }
    }
}

fn longer(pause: Duration) -> Duration {
    (pause * 2).clamp(PAUSE_MIN, PAUSE_MAX)
}

async fn send(socket: &mut Socket, message: &Value) -> Result<(), String> {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .map_err(|error| format!("send: {error}"))
}

/// The next JSON message within `within` (`None`: nothing came); an error when the connection
/// ended. Answers protocol pings.
async fn read(socket: &mut Socket, within: Duration) -> Result<Option<Value>, String> {
    let deadline = Instant::now() + within;
    loop {
        let Ok(frame) = tokio::time::timeout_at(deadline, socket.next()).await else {
            return Ok(None);
        };
        match frame {
            None => return Err("the stream ended".to_owned()),
            Some(Err(error)) => return Err(error.to_string()),
            Some(Ok(Message::Close(frame))) => {
                return Err(format!(
                    "closed {:?}",
                    frame.map(|frame| u16::from(frame.code))
                ));
            }
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|error| panic!("the server sent non-JSON ({error}): {text}"));
                if message["type"] == "ping" {
                    send(socket, &json!({"type": "pong"})).await?;
                    continue;
                }
                return Ok(Some(message));
            }
            Some(Ok(_)) => {}
        }
    }
}

/// A socket acknowledged with `key`.
async fn open(url: &str, key: &str) -> Result<Socket, String> {
    let (mut socket, _) = tokio::time::timeout(
        CONNECT_LIMIT,
        tokio_tungstenite::connect_async(request(url, Dialect::TransportWs)),
    )
    .await
    .map_err(|_| "connect: timed out".to_owned())?
    .map_err(|error| format!("connect: {error}"))?;
    send(
        &mut socket,
        &json!({"type": "connection_init", "payload": {"apiKey": key}}),
    )
    .await?;
    match read(&mut socket, CONNECT_LIMIT).await? {
        Some(ack) if ack["type"] == "connection_ack" => Ok(socket),
        Some(other) => Err(format!("init answered {}", other["type"])),
        None => Err("init: no answer".to_owned()),
    }
}

/// The first error code in an `errors` list (or a single error).
fn code_of(errors: &Value) -> String {
    let first = errors
        .as_array()
        .and_then(|list| list.first())
        .unwrap_or(errors);
    first["extensions"]["code"]
        .as_str()
        .unwrap_or("no code")
        .to_owned()
}

/// Runs until the goal's event has been received or `quit` is set.
pub(crate) async fn run(
    spec: Spec,
    instances: std::sync::Arc<Instances>,
    progress: std::sync::Arc<Progress>,
    last: watch::Receiver<Option<Key>>,
    quit: std::sync::Arc<AtomicBool>,
) -> Report {
    let mut goal = Goal {
        last,
        reached: false,
    };
    let mut report = Report::default();
    let mut cursor: Option<String> = None;
    // A socket whose subscription this subscriber just completed, to resume on.
    let mut kept: Option<Socket> = None;
    let mut pause = Duration::ZERO;
    let mut next_id = 0_u32;
    'sessions: while report.sessions < MAX_SESSIONS {
        if goal.reached(&report.events) || quit.load(Ordering::SeqCst) {
            break;
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let (url, on) = instances.pick(spec.home);
        let mut socket = match kept.take() {
            Some(socket) => socket,
            None => match open(url, &spec.key).await {
                Ok(socket) => socket,
                Err(reason) => {
                    report.broke(reason);
                    pause = longer(pause);
                    continue;
                }
            },
        };
        next_id += 1;
        let id = next_id.to_string();
        if cursor.is_none() && report.sessions > 0 {
            report.without_cursor += 1;
        }
        let subscribe = json!({
            "type": "subscribe", "id": id,
            "payload": {"query": SUBSCRIPTION, "variables": {"filter": spec.filter, "after": cursor}},
        });
        if let Err(reason) = send(&mut socket, &subscribe).await {
            report.broke(reason);
            pause = longer(pause);
            continue;
        }
        report.sessions += 1;
        let quota = QUOTAS[report.sessions % QUOTAS.len()];
        let mut taken = 0;
        loop {
            if goal.reached(&report.events) || quit.load(Ordering::SeqCst) {
                break 'sessions;
            }
            let message = match read(&mut socket, POLL).await {
                Ok(Some(message)) => message,
                Ok(None) => continue,
                Err(reason) => {
                    report.broke(reason);
                    pause = longer(pause);
                    continue 'sessions;
                }
            };
            // An earlier subscription on this socket may still be draining: not ours now.
            if message["id"] != id.as_str() {
                continue;
            }
            match message["type"].as_str() {
                Some("next") => {
                    if let Some(errors) = message["payload"].get("errors") {
                        report.broke(format!("next with {}", code_of(errors)));
                        pause = longer(pause);
                        continue 'sessions;
                    }
                    let event = &message["payload"]["data"]["positionEvents"];
                    let key = key_of(event);
                    cursor = Some(string(&event["cursor"]));
                    goal.received(&key);
                    report.events.push(key);
                    progress.received.fetch_add(1, Ordering::SeqCst);
                    if on == Instance::A && instances.b_killed.load(Ordering::SeqCst) {
                        progress.on_a_after_kill.fetch_add(1, Ordering::SeqCst);
                    }
                    pause = Duration::ZERO;
                    taken += 1;
                    if taken >= quota {
                        report.resumed += 1;
                        if report.resumed % 2 == 0 {
                            let complete = json!({"type": "complete", "id": id});
                            if send(&mut socket, &complete).await.is_ok() {
                                report.same_socket += 1;
                                kept = Some(socket);
                            }
                        } else {
                            // A close frame, then the socket is dropped: no waiting for the
                            // server's answer behind the events still in flight.
                            let _ =
                                tokio::time::timeout(POLL, socket.send(Message::Close(None))).await;
                        }
                        continue 'sessions;
                    }
                }
                Some("error") => {
                    report.broke(format!("error {}", code_of(&message["payload"])));
                    pause = longer(pause);
                    continue 'sessions;
                }
                Some("complete") => {
                    report.broke("complete".to_owned());
                    pause = longer(pause);
                    continue 'sessions;
                }
                _ => {}
            }
        }
    }
    report.finished = goal.reached(&report.events);
    progress.finished.store(report.finished, Ordering::SeqCst);
    report
}
