//! What live delivery needs from the service layer: the count of open subscriptions and the
//! stream of revoked keys that closes their sockets.

use super::Services;
use crate::domain::ApiKeyId;
use crate::ports::BusMessage;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Open subscription streams: a gauge for `/metrics`, and the hook tests wait on before
/// writing (graphql-transport-ws does not acknowledge `subscribe`).
#[derive(Clone, Debug, Default)]
pub struct SubscriptionGauge(Arc<AtomicI64>);

impl SubscriptionGauge {
    #[must_use]
    pub fn current(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one stream until the guard drops.
    #[must_use]
    pub fn enter(&self) -> GaugeGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(Arc::clone(&self.0))
    }
}

pub struct GaugeGuard(Arc<AtomicI64>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Services {
    #[must_use]
    pub fn subscription_gauge(&self) -> &SubscriptionGauge {
        &self.subscriptions
    }

    /// Keys revoked from now on, through any instance.
    #[must_use]
    pub fn key_revocations(&self) -> BoxStream<'static, ApiKeyId> {
        self.store
            .subscribe()
            .filter_map(|message| async move {
                match message {
                    BusMessage::ApiKeyRevoked(id) => Some(id),
                    _ => None,
                }
            })
            .boxed()
    }
}
