//! The live position-event feed: replay from the durable log after a resume point, then live
//! from the bus, with no gap and no duplicate.
//!
//! Why this is exact: the feed subscribes to the bus *before* it reads the log, so every
//! event is in the log read, on the bus, or both; `seq` decides which copy is new. Stores
//! guarantee `seq` order is commit order (`PositionEventLog`), so once `seq = n` has been
//! delivered no event below `n` can still appear, and "after n" is a complete resume point.

use super::Services;
use super::error::{ServiceError, ServiceResult};
use super::reads::{EventFilter, Permitted};
use super::subscriptions::GaugeGuard;
use super::viewer::Viewer;
use crate::domain::model::PositionEvent;
use crate::ports::{BusMessage, Scope, Store};
use futures::stream::{BoxStream, StreamExt as _};
use std::collections::VecDeque;
use std::sync::Arc;

/// Log rows read per round trip while replaying.
const REPLAY_PAGE: u32 = 500;

/// Matching events in commit order; ends with `SubscriberTooSlow` when this subscriber fell
/// so far behind that the bus dropped messages it had not read.
pub type EventFeed = BoxStream<'static, ServiceResult<PositionEvent>>;

impl Services {
    /// Events matching `filter` in the caller's scope, committed after `after_seq` (or, with
    /// none, after the feed starts). The subscription gauge counts the feed from the moment
    /// its starting point is fixed, so whoever waits on the gauge may rely on every later
    /// commit being delivered.
    ///
    /// # Errors
    /// `Store` when the starting point cannot be read.
    pub async fn position_events(
        &self,
        viewer: &Viewer,
        filter: Permitted<EventFilter>,
        after_seq: Option<i64>,
    ) -> ServiceResult<EventFeed> {
        // Subscribe first: see the module doc.
        let live = self.store.subscribe();
        let (last_seq, replaying) = match after_seq {
            Some(seq) => (seq, true),
            None => (self.store.latest_event_seq().await?, false),
        };
        let feed = Feed {
            store: Arc::clone(&self.store),
            scope: viewer.scope(),
            filter: filter.into_inner(),
            last_seq,
            replaying,
            pending: VecDeque::new(),
            live,
            _guard: self.subscription_gauge().enter(),
        };
        Ok(futures::stream::unfold(Some(feed), |feed| async move {
            let mut feed = feed?;
            match feed.next_event().await {
                Ok(Some(event)) => Some((Ok(event), Some(feed))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
        .boxed())
    }
}

struct Feed {
    store: Arc<dyn Store>,
    scope: Scope,
    filter: EventFilter,
    /// The newest event this subscriber has been given (or decided to skip).
    last_seq: i64,
    replaying: bool,
    pending: VecDeque<PositionEvent>,
    live: BoxStream<'static, BusMessage>,
    _guard: GaugeGuard,
}

impl Feed {
    async fn next_event(&mut self) -> ServiceResult<Option<PositionEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last_seq = event.seq;
                return Ok(Some(event));
            }
            if self.replaying {
                let page = self
                    .store
                    .position_events_after(self.scope, &self.filter, self.last_seq, REPLAY_PAGE)
                    .await?;
                self.replaying = page.len() == REPLAY_PAGE as usize;
                self.pending.extend(page);
                continue;
            }
            match self.live.next().await {
                Some(BusMessage::PositionEvent(event)) if event.seq > self.last_seq => {
                    if self.filter.matches(self.scope, &event) {
                        self.pending.push_back(PositionEvent::clone(&event));
                    } else {
                        self.last_seq = event.seq;
                    }
                }
                Some(
                    BusMessage::PositionEvent(_)
                    | BusMessage::ApiKeyRevoked(_)
                    | BusMessage::Reconnected,
                ) => {}
                Some(BusMessage::Lagged) => return Err(ServiceError::SubscriberTooSlow),
                None => return Ok(None),
            }
        }
    }
}
