//! Live events across instances: each instance LISTENs; the instance that wrote a position
//! event NOTIFYs once it has committed (`notifier.rs`); the listener then reads the new
//! durable events once and publishes them to this instance's subscribers. One read per
//! notification burst per instance, never per subscriber. A notification that never comes
//! (its sender died right after the commit) delays events by at most `SAFETY_POLL`.
//!
//! A notified event can be committed but not yet readable (an older transaction is still
//! open; see `events.rs`). The notification names the writing transaction, so the listener
//! knows to poll again, backing off, until the log's watermark has passed it.

use super::PgStore;
use crate::adapters::broadcast::Broadcaster;
use crate::domain::ApiKeyId;
use crate::domain::model::EventSeq;
use crate::ports::{BusMessage, EventFilter, PositionEventLog as _, Scope};
use sea_orm::sqlx::postgres::{PgListener, PgNotification};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) const EVENTS_CHANNEL: &str = "escrowgrid_position_events";
pub(crate) const REVOCATIONS_CHANNEL: &str = "escrowgrid_key_revocations";

/// Rows read per round trip while catching up.
const CATCH_UP_PAGE: u32 = 1000;
/// A notification lost while the listening connection was down would otherwise delay events
/// until the next write; this bounds that delay.
const SAFETY_POLL: Duration = Duration::from_secs(2);
const RECONNECT_DELAY: Duration = Duration::from_millis(500);
/// First and longest pause between reads while a notified event waits on an older
/// transaction: short enough to add little delay, growing so a long-open transaction costs
/// ten reads a second, not hundreds.
const HOLD_BACK_POLL_MIN: Duration = Duration::from_millis(2);
const HOLD_BACK_POLL_MAX: Duration = Duration::from_millis(100);

/// Stops the listener: `shutdown` cleanly (its connections are closed, not dropped, so
/// PostgreSQL counts no abandoned session), or by abort when the last clone of the store is
/// dropped without a close.
#[derive(Debug)]
pub(crate) struct ListenerHandle {
    task: Mutex<Option<JoinHandle<()>>>,
    stop: watch::Sender<bool>,
    state: Arc<ListenerState>,
}

/// Whether the listener hears notifications now, and how often it started to: an operator (or
/// a test) can see a gap in which notifications were lost, and that it ended.
#[derive(Debug, Default)]
pub(crate) struct ListenerState {
    listening: AtomicBool,
    starts: AtomicU64,
    awaited_txn: AtomicI64,
    published_txn: AtomicI64,
}

/// A reading of [`ListenerState`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerStatus {
    pub listening: bool,
    /// Times LISTEN succeeded: 1 after start, +1 per reconnect.
    pub starts: u64,
    /// As of the last finished read of the log: the newest writing transaction a notification
    /// had named, and the transaction up to which every event has been published. While the
    /// first is above the second, a committed event is held back behind an older open one.
    pub awaited_txn: i64,
    pub published_txn: i64,
}

impl ListenerState {
    fn started(&self) {
        self.starts.fetch_add(1, Ordering::Relaxed);
        self.listening.store(true, Ordering::Relaxed);
    }

    fn lost(&self) {
        self.listening.store(false, Ordering::Relaxed);
    }

    fn read_up_to(&self, awaited_txn: i64, published_txn: i64) {
        // Published before awaited, so a reader that sees the awaited value sees this round's
        // published one (or a later).
        self.published_txn.store(published_txn, Ordering::Release);
        self.awaited_txn.store(awaited_txn, Ordering::Release);
    }
}

impl ListenerHandle {
    pub(crate) fn status(&self) -> ListenerStatus {
        ListenerStatus {
            listening: self.state.listening.load(Ordering::Relaxed),
            starts: self.state.starts.load(Ordering::Relaxed),
            awaited_txn: self.state.awaited_txn.load(Ordering::Acquire),
            published_txn: self.state.published_txn.load(Ordering::Acquire),
        }
    }

    /// Asks the listener to UNLISTEN and close its pool, and waits until it has.
    pub(crate) async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "event listener ended abnormally");
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// `reader` must not own the handle (it would keep itself alive): the caller passes a store
/// clone made before the handle exists.
/// `start` is where publishing begins: no subscription can have started before it.
pub(crate) fn spawn(reader: PgStore, bus: Broadcaster, start: EventSeq) -> Arc<ListenerHandle> {
    let (stop, stopped) = watch::channel(false);
    let state = Arc::new(ListenerState::default());
    let reporting = Arc::clone(&state);
    let task = tokio::spawn(async move {
        let closing = reader.clone();
        listen(reader, bus, &reporting, stopped, start).await;
        reporting.lost();
        if let Err(error) = closing.close().await {
            tracing::warn!(%error, "could not close the event listener's pool");
        }
    });
    Arc::new(ListenerHandle {
        task: Mutex::new(Some(task)),
        stop,
        state,
    })
}

/// Resolves once `shutdown` has asked (or the handle is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Waits out a retry pause; `true` when a stop was asked for meanwhile.
async fn pause_or_stop(stopped: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RECONNECT_DELAY) => false,
        () = stop_requested(stopped) => true,
    }
}

/// Stops only where no statement is in flight (waiting for a notification, or pausing
/// between retries): a statement cut short breaks its connection, which sqlx then drops
/// without a goodbye, and PostgreSQL counts the session as abandoned.
///
/// `recv` would reconnect by itself and hide the gap, in which notifications are lost; with
/// `try_recv` a lost connection is seen, and after every (re)LISTEN the bus says
/// `Reconnected`, so key holders re-read what a lost revocation would have told them.
async fn listen(
    reader: PgStore,
    bus: Broadcaster,
    state: &ListenerState,
    mut stopped: watch::Receiver<bool>,
    start: EventSeq,
) {
    let mut log = LogCursor {
        published: start,
        awaited_txn: 0,
        hold_back_wait: HOLD_BACK_POLL_MIN,
    };
    loop {
        let pool = reader.connection().get_postgres_connection_pool().clone();
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                // By default `try_recv` reconnects before it reports a lost connection. Our
                // `try_recv` runs under a poll timeout, which can cancel that reconnect; the
                // next call then reconnects and re-LISTENs silently, and the gap (with any
                // revocation sent in it) is never reported. Without it, a loss is reported at
                // once, with no await in between, and the loop below reconnects openly.
                listener.eager_reconnect(false);
                listener
            }
            Err(error) => {
                tracing::warn!(%error, "event listener cannot connect; retrying");
                if pause_or_stop(&mut stopped).await {
                    return;
                }
                continue;
            }
        };
        if let Err(error) = listener
            .listen_all([EVENTS_CHANNEL, REVOCATIONS_CHANNEL])
            .await
        {
            tracing::warn!(%error, "event listener cannot LISTEN; retrying");
            if pause_or_stop(&mut stopped).await {
                return;
            }
            continue;
        }
        state.started();
        // Only now, with LISTEN active, can a re-read of key state miss nothing.
        bus.publish(BusMessage::Reconnected);
        // Whatever committed while nobody listened.
        log.catch_up(&reader, &bus, state).await;
        loop {
            let wait = log.next_poll();
            let received = tokio::select! {
                received = tokio::time::timeout(wait, listener.try_recv()) => received,
                // Dropping the listener UNLISTENs and hands its connection back to the pool,
                // which the caller then closes.
                () = stop_requested(&mut stopped) => return,
            };
            match received {
                Ok(Ok(Some(notification))) => {
                    let mut events_arrived = log.hear(&bus, &notification);
                    // A burst of commits needs one read, not one per notification.
                    while let Some(more) = listener.next_buffered() {
                        events_arrived |= log.hear(&bus, &more);
                    }
                    if events_arrived {
                        log.catch_up(&reader, &bus, state).await;
                    }
                }
                Ok(Ok(None)) => {
                    state.lost();
                    tracing::warn!("event listener lost its connection; reconnecting");
                    break;
                }
                Ok(Err(error)) => {
                    state.lost();
                    tracing::warn!(%error, "event listener failed; reconnecting");
                    break;
                }
                Err(_idle) => log.catch_up(&reader, &bus, state).await,
            }
        }
    }
}

/// How far this instance has published the log, and what it was told is still to come.
struct LogCursor {
    published: EventSeq,
    /// The newest writing transaction a notification named: its event is committed, but not
    /// readable until every older transaction has ended.
    awaited_txn: i64,
    hold_back_wait: Duration,
}

impl LogCursor {
    /// Publishes revocations at once; says whether position events are waiting in the log.
    fn hear(&mut self, bus: &Broadcaster, notification: &PgNotification) -> bool {
        match notification.channel() {
            REVOCATIONS_CHANNEL => {
                match uuid::Uuid::parse_str(notification.payload()) {
                    Ok(id) => bus.publish(BusMessage::ApiKeyRevoked(ApiKeyId(id))),
                    Err(_) => tracing::warn!("ignoring a malformed key revocation notification"),
                }
                false
            }
            _ => {
                // A payload that names no transaction still means "read the log"; only the
                // re-polling for a held-back event needs the number.
                if let Ok(txn) = notification.payload().parse::<i64>() {
                    self.awaited_txn = self.awaited_txn.max(txn);
                }
                true
            }
        }
    }

    /// While a notified event is held back behind an older open transaction, poll (backing
    /// off) until the watermark passes it; otherwise only the safety poll.
    fn next_poll(&mut self) -> Duration {
        // Reads return whole transactions, so every event of `published.txn` and below is out.
        if self.awaited_txn > self.published.txn {
            let wait = self.hold_back_wait;
            self.hold_back_wait = (wait * 2).min(HOLD_BACK_POLL_MAX);
            wait
        } else {
            self.hold_back_wait = HOLD_BACK_POLL_MIN;
            SAFETY_POLL
        }
    }

    /// Publishes every readable event after the mark in log order. The watermark is read
    /// first: the event reads that follow see at least everything below it, so every event of
    /// a transaction below it has been published once they are done.
    async fn catch_up(&mut self, reader: &PgStore, bus: &Broadcaster, state: &ListenerState) {
        let awaited = self.awaited_txn;
        let watermark = match reader.event_watermark().await {
            Ok(watermark) => watermark,
            Err(error) => {
                tracing::warn!(%error, "event listener could not read the watermark; will retry");
                return;
            }
        };
        loop {
            match reader
                .position_events_after(
                    Scope::All,
                    &EventFilter::default(),
                    self.published,
                    CATCH_UP_PAGE,
                )
                .await
            {
                Ok(events) => {
                    let full_page = events.len() == CATCH_UP_PAGE as usize;
                    for event in events {
                        self.published = event.seq;
                        bus.publish(BusMessage::PositionEvent(Arc::new(event)));
                    }
                    if !full_page {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "event listener could not read new events; will retry");
                    return;
                }
            }
        }
        // Nothing below the watermark can appear any more, events or not.
        self.published = self.published.max(watermark);
        state.read_up_to(awaited, self.published.txn);
    }
}
