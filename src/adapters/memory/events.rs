//! The position event log and live bus of the memory store.

use super::MemoryStore;
use crate::domain::model::PositionEvent;
use crate::ports::{
    BusMessage, EventBus, EventFilter, PositionEventLog, RepoResult, Scope, WriteOutcome,
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
        after_seq: i64,
        limit: u32,
    ) -> RepoResult<Vec<PositionEvent>> {
        let state = self.read()?;
        let mut events: Vec<PositionEvent> = state
            .events
            .values()
            .flatten()
            .filter(|event| event.seq > after_seq && filter.matches(scope, event))
            .cloned()
            .collect();
        events.sort_by_key(|event| event.seq);
        events.truncate(limit as usize);
        Ok(events)
    }

    async fn latest_event_seq(&self) -> RepoResult<i64> {
        Ok(self.read()?.event_seq)
    }
}

impl EventBus for MemoryStore {
    fn subscribe(&self) -> BoxStream<'static, BusMessage> {
        self.bus.subscribe()
    }
}
