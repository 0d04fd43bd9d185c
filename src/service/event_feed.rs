//! The live position-event feed: replay from the durable log after a resume point, then live
//! from the bus, with no gap and no duplicate.
//!
//! Why this is exact: the feed subscribes to the bus *before* it reads the log, so every
//! event is in the log read, on the bus, or both; `seq` decides which copy is new. Stores
//! guarantee the log only grows at its end as readers see it (`PositionEventLog`), so once
//! `seq = n` has been delivered no event below `n` can still appear, and "after n" is a
//! complete resume point.

use super::Services;
use super::error::ServiceResult;
use super::reads::{EventFilter, Permitted};
use super::subscriptions::GaugeGuard;
use super::viewer::Viewer;
use crate::domain::model::{EventSeq, PositionEvent};
use crate::ports::{BusMessage, Scope, Store};

pub use crate::ports::LiveStart;
use futures::stream::{BoxStream, StreamExt as _};
use std::collections::VecDeque;
use std::sync::Arc;

/// Log rows read per round trip while replaying.
const REPLAY_PAGE: u32 = 500;

/// Matching events in log order. A subscriber that falls so far behind that the bus drops
/// messages it had not read catches up from the log instead (the bus only carries what the log
/// holds), so the feed itself never gives up on a slow reader: a transport with a bounded
/// queue decides when one is too slow.
pub type EventFeed = BoxStream<'static, ServiceResult<PositionEvent>>;

impl Services {
    /// Events matching `filter` in the caller's scope, after `after` in the log (or, with
    /// none, from the store's watermark as the feed starts). The subscription gauge counts the feed from the moment
    /// its starting point is fixed, so whoever waits on the gauge may rely on every later
    /// commit being delivered.
    ///
    /// # Errors
    /// `Store` when the starting point cannot be read.
    pub async fn position_events(
        &self,
        viewer: &Viewer,
        filter: Permitted<EventFilter>,
        after: Option<EventSeq>,
    ) -> ServiceResult<EventFeed> {
        let (feed, _) = self.open_feed(viewer, filter, after, true).await?;
        Ok(feed)
    }

    /// The feed of `position_events` for a transport that shares it among subscribers (one
    /// feed per group of identical subscriptions, see `http::ws::groups`): not counted in the
    /// subscription gauge, which counts the subscribers instead, and returned with the point
    /// it starts after, so each subscriber can skip what came before its own start.
    ///
    /// # Errors
    /// `Store` when the starting point cannot be read.
    pub async fn shared_position_events(
        &self,
        viewer: &Viewer,
        filter: Permitted<EventFilter>,
        after: Option<EventSeq>,
    ) -> ServiceResult<(EventFeed, LiveStart)> {
        self.open_feed(viewer, filter, after, false).await
    }

    /// Where a subscriber without a cursor starts now: it is owed exactly the events above
    /// `after` that are not in `already_committed`.
    ///
    /// # Errors
    /// `Store` when the starting point cannot be read.
    pub async fn live_start(&self) -> ServiceResult<LiveStart> {
        Ok(self.store.live_start().await?)
    }

    async fn open_feed(
        &self,
        viewer: &Viewer,
        filter: Permitted<EventFilter>,
        after: Option<EventSeq>,
        counted: bool,
    ) -> ServiceResult<(EventFeed, LiveStart)> {
        // Subscribe first: see the module doc.
        let live = self.store.subscribe();
        let (start, replaying) = match after {
            Some(seq) => (
                LiveStart {
                    after: seq,
                    already_committed: Vec::new(),
                },
                true,
            ),
            None => (self.store.live_start().await?, false),
        };
        let feed = Feed {
            store: Arc::clone(&self.store),
            scope: viewer.scope(),
            filter: filter.into_inner(),
            last_seq: start.after,
            replaying,
            committed_before: start.already_committed.clone(),
            pending: VecDeque::new(),
            live,
            _guard: counted.then(|| self.subscription_gauge().enter()),
        };
        let feed = futures::stream::unfold(Some(feed), |feed| async move {
            let mut feed = feed?;
            match feed.next_event().await {
                Ok(Some(event)) => Some((Ok(event), Some(feed))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
        .boxed();
        Ok((feed, start))
    }
}

struct Feed {
    store: Arc<dyn Store>,
    scope: Scope,
    filter: EventFilter,
    /// The newest event this subscriber has been given (or decided to skip).
    last_seq: EventSeq,
    replaying: bool,
    /// Events above the starting point that had committed before the feed started (ascending):
    /// not "from now on", so never delivered.
    committed_before: Vec<EventSeq>,
    pending: VecDeque<PositionEvent>,
    live: BoxStream<'static, BusMessage>,
    _guard: Option<GaugeGuard>,
}

impl Feed {
    fn came_before(&mut self, event: &PositionEvent) -> bool {
        // The bus delivers in log order, so entries below this event will never match again.
        let passed = self
            .committed_before
            .partition_point(|seq| *seq < event.seq);
        self.committed_before.drain(..passed);
        self.committed_before.first() == Some(&event.seq)
    }

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
                    if self.filter.matches(self.scope, &event) && !self.came_before(&event) {
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
                // What the bus dropped is in the log, after the last event delivered.
                Some(BusMessage::Lagged) => self.replaying = true,
                None => return Ok(None),
            }
        }
    }
}
