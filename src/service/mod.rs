//! Use cases: validate → authorize → unit of work. Resolvers call these and nothing else writes.

mod assets;
mod audit;
mod auth;
mod error;
mod idempotency;
mod institutions;
mod keys;
mod policies;
mod positions;
mod rate_limit;
mod subscriptions;
mod templates;
mod viewer;

pub use assets::CreateAssetInput;
pub use auth::{ApiKeyToken, hash_token};
pub use error::ServiceError;
pub use institutions::CreateInstitutionInput;
pub use keys::{CreateApiKeyInput, CreatedApiKey};
pub use policies::UpsertPolicyInput;
pub use positions::{CreatePositionInput, PositionWrite, TransitionPositionInput};
pub use rate_limit::{Clock, Quota, RateLimitConfig, RateLimiter, RetryAfter};
pub use subscriptions::{GaugeGuard, KeyRevocation, SubscriptionGauge};
pub use templates::CreateTemplateInput;
pub use viewer::{RequestContext, Viewer, ViewerRole};

use crate::ports::Store;
use std::sync::Arc;

/// The application's use cases over one store. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    store: Arc<dyn Store>,
    root_key: Arc<ApiKeyToken>,
    subscriptions: SubscriptionGauge,
}

impl Services {
    #[must_use]
    pub fn new(store: Arc<dyn Store>, root_key: ApiKeyToken) -> Self {
        Self {
            store,
            root_key: Arc::new(root_key),
            subscriptions: SubscriptionGauge::default(),
        }
    }

    /// The store, for reads: every read method takes the caller's `Scope`.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
