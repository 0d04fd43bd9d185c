//! What live delivery needs from the service layer: the count of open subscriptions and the
//! stream of revoked keys that closes their sockets.

use super::Services;
use crate::domain::ApiKeyId;
use crate::ports::BusMessage;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::broadcast;

/// Revocations a slow listener may fall behind by before it hears `Missed`.
const REVOCATION_BUFFER: usize = 1024;

/// The relay behind `Services::key_revocations`, started by its first caller: a receiver
/// that is never read, only copied for each listener (the relay task holds the one sender,
/// so every copy ends when the bus does).
pub(crate) type RevocationRelay = Arc<std::sync::OnceLock<broadcast::Receiver<KeyRevocation>>>;

/// What a long-lived connection hears about revoked keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRevocation {
    Revoked(ApiKeyId),
    Missed,
}

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

    /// Keys revoked from now on, through any instance. `Missed` means a revocation may have
    /// been lost (this listener fell behind, or the store's listener reconnected): holders
    /// must re-check their key. The stream ends when the store's bus does (shutdown).
    ///
    /// One task per `Services` listens to the bus and passes on only what concerns keys, so
    /// a socket is not woken for every position event the bus carries.
    #[must_use]
    pub fn key_revocations(&self) -> BoxStream<'static, KeyRevocation> {
        let receiver = self
            .revocations
            .get_or_init(|| {
                let (relay, receiver) = broadcast::channel(REVOCATION_BUFFER);
                let bus = self.store.subscribe();
                tokio::spawn(async move {
                    let mut bus = std::pin::pin!(bus);
                    while let Some(message) = bus.next().await {
                        let revocation = match message {
                            BusMessage::ApiKeyRevoked(id) => KeyRevocation::Revoked(id),
                            BusMessage::Lagged | BusMessage::Reconnected => KeyRevocation::Missed,
                            BusMessage::PositionEvent(_) => continue,
                        };
                        // Nobody listening is fine: later listeners want later revocations.
                        let _ = relay.send(revocation);
                    }
                    // The bus ended (shutdown): dropping the only sender ends every stream.
                });
                receiver
            })
            .resubscribe();
        futures::stream::unfold(receiver, |mut receiver| async move {
            match receiver.recv().await {
                Ok(revocation) => Some((revocation, receiver)),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Some((KeyRevocation::Missed, receiver))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed()
    }

    /// Whether a key still works; a store failure counts as "no" so a socket fails closed.
    pub async fn key_is_live(&self, id: ApiKeyId) -> bool {
        match self
            .store
            .api_keys_by_ids(crate::ports::Scope::All, &[id])
            .await
        {
            Ok(keys) => keys.iter().any(|key| key.revoked_at.is_none()),
            Err(error) => {
                tracing::warn!(%error, "could not re-check an API key; closing its socket");
                false
            }
        }
    }
}
