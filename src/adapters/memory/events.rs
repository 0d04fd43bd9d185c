//! The position event log and live bus of the memory store.

use super::MemoryStore;
use crate::domain::model::{EventSeq, PositionEvent};
use crate::ports::{
    BusMessage, EventBus, EventCursorKey, EventFilter, LiveStart, PositionEventLog, RepoResult,
    Scope, WriteOutcome,
};
use async_trait::async_trait;
use futures::stream::BoxStream;
use std::sync::Arc;

impl MemoryStore {
    /// Called with the write lock held, right after the commit: `seq` order is commit order.
    pub(super) fn publish_applied(&self, outcome: &WriteOutcome) {
        if let WriteOutcome::Applied { event, .. } = outcome {
            self.bus
                .publish(BusMessage::PositionEvent(Arc::new(event.clone())));
        }
    }
}

#[async_trait]
impl PositionEventLog for MemoryStore {
    async fn position_events_after(
        &self,
        scope: Scope,
        filter: &EventFilter,
        after: EventSeq,
        limit: u32,
    ) -> RepoResult<Vec<PositionEvent>> {
        let state = self.read()?;
        let mut events: Vec<PositionEvent> = state
            .events
            .values()
            .flatten()
            .filter(|event| event.seq > after && filter.matches(scope, event))
            .cloned()
            .collect();
        events.sort_by_key(|event| event.seq);
        events.truncate(limit as usize);
        Ok(events)
    }

    /// Writes commit one at a time under the store's lock, so every event is final at once.
    async fn event_watermark(&self) -> RepoResult<EventSeq> {
        let latest = self.read()?.event_seq;
        Ok(EventSeq {
            txn: latest,
            index: latest,
        })
    }

    async fn live_start(&self) -> RepoResult<LiveStart> {
        Ok(LiveStart {
            after: self.event_watermark().await?,
            already_committed: Vec::new(),
        })
    }

    fn event_cursor_key(&self) -> EventCursorKey {
        self.cursor_key.clone()
    }
}

impl EventBus for MemoryStore {
    fn subscribe(&self) -> BoxStream<'static, BusMessage> {
        self.bus.subscribe()
    }
}
