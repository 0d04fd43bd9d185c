//! Use cases: validate → authorize → unit of work. Resolvers call these and nothing else writes.

mod assets;
mod audit;
mod auth;
mod error;
mod event_cursor;
mod event_feed;
mod idempotency;
mod institutions;
mod key_cache;
mod keys;
mod policies;
mod positions;
mod rate_limit;
pub mod reads;
mod refusals;
mod subscriptions;
mod templates;
mod viewer;

pub use assets::CreateAssetInput;
pub use auth::{ApiKeyToken, hash_token, is_key_shaped};
pub use error::ServiceError;
pub use event_cursor::{CursorRefusal, EventCursorCodec};
pub use event_feed::{EventFeed, LiveStart};
pub use institutions::CreateInstitutionInput;
pub use key_cache::KeyCacheConfig;
pub use keys::{CreateApiKeyInput, CreatedApiKey};
pub use policies::UpsertPolicyInput;
pub use positions::{CreatePositionInput, PositionWrite, TransitionPositionInput};
pub use rate_limit::{Clock, Quota, RateLimitConfig, RateLimiter, RetryAfter};
pub use refusals::{OVERFLOW_ACTION, Refusal, RefusalLog, RefusalReason};
pub use subscriptions::{GaugeGuard, KeyRevocation, SubscriptionGauge};
pub use templates::CreateTemplateInput;
pub use viewer::{RequestContext, Viewer, ViewerRole};

use crate::ports::Store;
use error::ServiceResult;
use std::sync::Arc;

/// The application's use cases over one store. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    store: Arc<dyn Store>,
    root_key: Arc<ApiKeyToken>,
    subscriptions: SubscriptionGauge,
    refusals: Arc<RefusalLog>,
    keys: Arc<key_cache::KeyCache>,
    event_cursors: EventCursorCodec,
    revocations: subscriptions::RevocationRelay,
}

impl Services {
    #[must_use]
    pub fn new(store: Arc<dyn Store>, root_key: ApiKeyToken) -> Self {
        let keys = Arc::new(key_cache::KeyCache::new(
            KeyCacheConfig::default(),
            store.subscribe(),
        ));
        let event_cursors = EventCursorCodec::new(&store.event_cursor_key());
        Self {
            store,
            event_cursors,
            root_key: Arc::new(root_key),
            subscriptions: SubscriptionGauge::default(),
            refusals: Arc::default(),
            keys,
            revocations: Arc::default(),
        }
    }

    /// Replaces the authentication cache (empty, listening from now on) with one built from
    /// `config`; for start-up, before any request.
    #[must_use]
    pub fn with_key_cache(mut self, config: KeyCacheConfig) -> Self {
        self.keys = Arc::new(key_cache::KeyCache::new(config, self.store.subscribe()));
        self
    }

    /// Refusals counted in memory until the next flush (see `flush_refusals`).
    #[must_use]
    pub fn refusals(&self) -> &RefusalLog {
        &self.refusals
    }

    /// # Errors
    /// `Store` (unavailable) when the store does not answer.
    pub async fn ping(&self) -> ServiceResult<()> {
        Ok(self.store.ping().await?)
    }

    /// Seals and opens `PositionEvent.cursor`.
    #[must_use]
    pub fn event_cursors(&self) -> &EventCursorCodec {
        &self.event_cursors
    }

    /// Store round trips so far, for `/metrics`.
    #[must_use]
    pub fn statements_executed(&self) -> u64 {
        self.store.statements_executed()
    }
}
