//! In-process fan-out of bus messages: bounded, so a listener that falls behind is told so
//! (and resynchronises) instead of holding memory for it.

use crate::ports::{BusMessage, EventBus};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use tokio::sync::broadcast;

/// Messages kept for the slowest listener before it is told it lagged.
pub const DEFAULT_CAPACITY: usize = 4096;

#[derive(Clone, Debug)]
pub struct Broadcaster {
    sender: broadcast::Sender<BusMessage>,
}

impl Broadcaster {
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Delivers to current listeners; having none is normal.
    pub fn publish(&self, message: BusMessage) {
        let _ = self.sender.send(message);
    }
}

impl Default for Broadcaster {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl EventBus for Broadcaster {
    fn subscribe(&self) -> BoxStream<'static, BusMessage> {
        futures::stream::unfold(self.sender.subscribe(), |mut receiver| async move {
            match receiver.recv().await {
                Ok(message) => Some((message, receiver)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((BusMessage::Lagged, receiver)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed()
    }
}
