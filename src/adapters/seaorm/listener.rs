//! Live events across instances: each instance LISTENs; a committed position event NOTIFYs
//! (the trigger fires inside the writing transaction, and PostgreSQL delivers only on commit);
//! the listener then reads the new durable events once and publishes them to this instance's
//! subscribers. One read per notification burst per instance, never per subscriber.

use super::PgStore;
use crate::adapters::broadcast::Broadcaster;
use crate::domain::ApiKeyId;
use crate::ports::{BusMessage, EventFilter, PositionEventLog as _, Scope};
use sea_orm::sqlx::postgres::{PgListener, PgNotification};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
}

/// A reading of [`ListenerState`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerStatus {
    pub listening: bool,
    /// Times LISTEN succeeded: 1 after start, +1 per reconnect.
    pub starts: u64,
}

impl ListenerState {
    fn started(&self) {
        self.starts.fetch_add(1, Ordering::Relaxed);
        self.listening.store(true, Ordering::Relaxed);
    }

    fn lost(&self) {
        self.listening.store(false, Ordering::Relaxed);
    }
}

impl ListenerHandle {
    pub(crate) fn status(&self) -> ListenerStatus {
        ListenerStatus {
            listening: self.state.listening.load(Ordering::Relaxed),
            starts: self.state.starts.load(Ordering::Relaxed),
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
pub(crate) fn spawn(reader: PgStore, bus: Broadcaster) -> Arc<ListenerHandle> {
    let (stop, stopped) = watch::channel(false);
    let state = Arc::new(ListenerState::default());
    let reporting = Arc::clone(&state);
    let task = tokio::spawn(async move {
        let closing = reader.clone();
        listen(reader, bus, &reporting, stopped).await;
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
) {
    let mut last_seq = loop {
        match reader.latest_event_seq().await {
            Ok(seq) => break seq,
            Err(error) => {
                tracing::warn!(%error, "event listener cannot read the log yet; retrying");
                if pause_or_stop(&mut stopped).await {
                    return;
                }
            }
        }
    };
    loop {
        let pool = reader.connection().get_postgres_connection_pool().clone();
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
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
        last_seq = catch_up(&reader, &bus, last_seq).await;
        loop {
            let received = tokio::select! {
                received = tokio::time::timeout(SAFETY_POLL, listener.try_recv()) => received,
                // Dropping the listener UNLISTENs and hands its connection back to the pool,
                // which the caller then closes.
                () = stop_requested(&mut stopped) => return,
            };
            match received {
                Ok(Ok(Some(notification))) => {
                    let mut events_arrived = handle(&bus, &notification);
                    // A burst of commits needs one read, not one per notification.
                    while let Some(more) = listener.next_buffered() {
                        events_arrived |= handle(&bus, &more);
                    }
                    if events_arrived {
                        last_seq = catch_up(&reader, &bus, last_seq).await;
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
                Err(_idle) => last_seq = catch_up(&reader, &bus, last_seq).await,
            }
        }
    }
}

/// Publishes revocations at once; says whether position events are waiting in the log.
fn handle(bus: &Broadcaster, notification: &PgNotification) -> bool {
    match notification.channel() {
        REVOCATIONS_CHANNEL => {
            match uuid::Uuid::parse_str(notification.payload()) {
                Ok(id) => bus.publish(BusMessage::ApiKeyRevoked(ApiKeyId(id))),
                Err(_) => tracing::warn!("ignoring a malformed key revocation notification"),
            }
            false
        }
        _ => true,
    }
}

/// Publishes every event after `last_seq` in `seq` (= commit) order; returns the new mark.
async fn catch_up(reader: &PgStore, bus: &Broadcaster, mut last_seq: i64) -> i64 {
    loop {
        match reader
            .position_events_after(Scope::All, &EventFilter::default(), last_seq, CATCH_UP_PAGE)
            .await
        {
            Ok(events) => {
                let full_page = events.len() == CATCH_UP_PAGE as usize;
                for event in events {
                    last_seq = event.seq;
                    bus.publish(BusMessage::PositionEvent(Arc::new(event)));
                }
                if !full_page {
                    return last_seq;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "event listener could not read new events; will retry");
                return last_seq;
            }
        }
    }
}
