//! Institution keys that authenticated recently, so a request with a known key costs no
//! lookup. Revocation stays immediate on the revoking instance (`revoke_api_key` evicts before
//! it returns) and follows the store's bus everywhere else: every instance hears a revocation
//! once it commits (LISTEN/NOTIFY on PostgreSQL), and the next authentication on that
//! instance drains what was heard before it consults the cache. A bus lag, or a bus that
//! closed, empties the cache. The time-to-live bounds the one gap the bus cannot see (a
//! notification sent while an instance's listener was reconnecting).

use super::rate_limit::Clock;
use super::viewer::Viewer;
use crate::domain::ApiKeyId;
use crate::ports::BusMessage;
use futures::FutureExt as _;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a cached key is trusted without a lookup, and how many keys are kept.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyCacheConfig {
    /// Zero switches the cache off: every request looks its key up.
    pub ttl: Duration,
    pub capacity: usize,
    pub clock: Clock,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(1),
            capacity: 10_000,
            clock: Clock::default(),
        }
    }
}

struct Cached {
    viewer: Viewer,
    key_id: ApiKeyId,
    stored_at: Instant,
}

struct Inner {
    /// By token hash: the hash is what a request presents once the token is hashed.
    keys: HashMap<String, Cached>,
    /// Bumped on every eviction by revocation, so a lookup that started before a revocation
    /// cannot put back the key it read as live.
    generation: u64,
    /// `None` when the store has no bus to follow (then nothing is cached).
    revocations: Option<BoxStream<'static, BusMessage>>,
}

pub(crate) struct KeyCache {
    config: KeyCacheConfig,
    inner: Mutex<Inner>,
}

/// What a lookup must hand back to `store`: the generation it started under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LookupTicket(u64);

impl KeyCache {
    /// `revocations` must be subscribed before the first lookup, so nothing revoked after that
    /// lookup can be missed.
    pub(crate) fn new(config: KeyCacheConfig, revocations: BoxStream<'static, BusMessage>) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                keys: HashMap::new(),
                generation: 0,
                revocations: Some(revocations),
            }),
        }
    }

    fn enabled(&self) -> bool {
        !self.config.ttl.is_zero() && self.config.capacity > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached caller for this token hash, or a ticket to store the looked-up one with.
    pub(crate) fn get(&self, key_hash: &str) -> Result<Viewer, LookupTicket> {
        let mut inner = self.lock();
        inner.drain_revocations();
        let now = self.config.clock.now();
        if self.enabled()
            && inner.revocations.is_some()
            && let Some(cached) = inner.keys.get(key_hash)
        {
            if now.saturating_duration_since(cached.stored_at) < self.config.ttl {
                return Ok(cached.viewer);
            }
            inner.keys.remove(key_hash);
        }
        Err(LookupTicket(inner.generation))
    }

    /// Remembers a key found live, unless a revocation arrived since the lookup began.
    pub(crate) fn store(&self, ticket: LookupTicket, key_hash: &str, viewer: Viewer) {
        let Some(key_id) = viewer.api_key_id() else {
            return;
        };
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        inner.drain_revocations();
        if inner.generation != ticket.0 || inner.revocations.is_none() {
            return;
        }
        let now = self.config.clock.now();
        if inner.keys.len() >= self.config.capacity {
            let ttl = self.config.ttl;
            inner
                .keys
                .retain(|_, cached| now.saturating_duration_since(cached.stored_at) < ttl);
            if inner.keys.len() >= self.config.capacity {
                // Full of live keys: this one is looked up each time until room frees up.
                return;
            }
        }
        inner.keys.insert(
            key_hash.to_owned(),
            Cached {
                viewer,
                key_id,
                stored_at: now,
            },
        );
    }

    /// Forgets a revoked key now, before the bus brings the same news.
    pub(crate) fn evict(&self, key_id: ApiKeyId) {
        self.lock().evict(key_id);
    }
}

impl Inner {
    fn evict(&mut self, key_id: ApiKeyId) {
        self.generation = self.generation.wrapping_add(1);
        self.keys.retain(|_, cached| cached.key_id != key_id);
    }

    fn forget_all(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.keys.clear();
    }

    /// Applies every bus message heard so far, without waiting for more.
    fn drain_revocations(&mut self) {
        while let Some(stream) = self.revocations.as_mut() {
            // Unconstrained: tokio's cooperative budget would otherwise answer "pending" after
            // a burst of messages and leave a revocation unread behind it.
            match tokio::task::unconstrained(stream.next()).now_or_never() {
                None => return,
                Some(Some(BusMessage::ApiKeyRevoked(id))) => self.evict(id),
                Some(Some(BusMessage::Lagged | BusMessage::Reconnected)) => self.forget_all(),
                Some(Some(BusMessage::PositionEvent(_))) => {}
                Some(None) => {
                    // The bus is gone: revocations could no longer be heard, so stop caching.
                    self.revocations = None;
                    self.forget_all();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::broadcast::Broadcaster;
    use crate::domain::{ApiKeyRole, InstitutionId};
    use crate::ports::EventBus as _;
    use std::sync::Arc;

    fn key() -> (ApiKeyId, Viewer) {
        let id = ApiKeyId(uuid::Uuid::now_v7());
        let viewer =
            Viewer::institution_key(InstitutionId(uuid::Uuid::now_v7()), id, ApiKeyRole::Admin);
        (id, viewer)
    }

    struct Fixture {
        cache: KeyCache,
        bus: Option<Broadcaster>,
        advance: Arc<Mutex<Duration>>,
    }

    fn fixture(ttl: Duration, capacity: usize) -> Fixture {
        let bus = Broadcaster::new(4);
        let start = Instant::now();
        let advance = Arc::new(Mutex::new(Duration::ZERO));
        let read = Arc::clone(&advance);
        let clock =
            Clock::from_fn(move || start + *read.lock().unwrap_or_else(PoisonError::into_inner));
        let stream = bus.subscribe();
        Fixture {
            cache: KeyCache::new(
                KeyCacheConfig {
                    ttl,
                    capacity,
                    clock,
                },
                stream,
            ),
            bus: Some(bus),
            advance,
        }
    }

    impl Fixture {
        fn publish(&self, message: BusMessage) {
            self.bus.as_ref().expect("an open bus").publish(message);
        }
    }

    fn cache_after_lookup(fixture: &Fixture, hash: &str, viewer: Viewer) {
        let ticket = fixture.cache.get(hash).expect_err("a miss first");
        fixture.cache.store(ticket, hash, viewer);
    }

    #[test]
    fn a_stored_key_is_served_until_its_time_to_live_ends() {
        let fixture = fixture(Duration::from_secs(1), 10);
        let (_, viewer) = key();
        cache_after_lookup(&fixture, "h", viewer);
        assert_eq!(fixture.cache.get("h").ok(), Some(viewer));
        *fixture.advance.lock().expect("clock") = Duration::from_secs(1);
        assert!(fixture.cache.get("h").is_err(), "expired");
    }

    #[test]
    fn a_revocation_heard_on_the_bus_evicts_before_the_next_lookup() {
        let fixture = fixture(Duration::from_secs(60), 10);
        let (id, viewer) = key();
        let (_, other) = key();
        cache_after_lookup(&fixture, "h", viewer);
        cache_after_lookup(&fixture, "o", other);
        fixture.publish(BusMessage::ApiKeyRevoked(id));
        assert!(fixture.cache.get("h").is_err());
        assert_eq!(fixture.cache.get("o").ok(), Some(other));
    }

    #[test]
    fn a_lookup_that_began_before_a_revocation_is_not_cached() {
        let fixture = fixture(Duration::from_secs(60), 10);
        let (id, viewer) = key();
        let ticket = fixture.cache.get("h").expect_err("a miss");
        fixture.cache.evict(id);
        fixture.cache.store(ticket, "h", viewer);
        assert!(fixture.cache.get("h").is_err());
    }

    #[test]
    fn a_lagging_or_closed_bus_empties_the_cache() {
        let mut fixture = fixture(Duration::from_secs(60), 10);
        let (_, viewer) = key();
        cache_after_lookup(&fixture, "h", viewer);
        // More than the bus holds: the cache is told it lagged.
        for _ in 0..5 {
            fixture.publish(BusMessage::ApiKeyRevoked(ApiKeyId(uuid::Uuid::now_v7())));
        }
        assert!(fixture.cache.get("h").is_err(), "lag forgets");
        cache_after_lookup(&fixture, "h", viewer);
        assert_eq!(fixture.cache.get("h").ok(), Some(viewer));
        fixture.bus = None;
        assert!(fixture.cache.get("h").is_err(), "a closed bus forgets");
        let ticket = fixture.cache.get("h").expect_err("a miss");
        fixture.cache.store(ticket, "h", viewer);
        assert!(fixture.cache.get("h").is_err(), "and caches nothing more");
    }

    #[test]
    fn a_full_cache_makes_room_only_from_expired_keys() {
        let fixture = fixture(Duration::from_secs(1), 1);
        let (_, first) = key();
        let (_, second) = key();
        cache_after_lookup(&fixture, "a", first);
        cache_after_lookup(&fixture, "b", second);
        assert_eq!(fixture.cache.get("a").ok(), Some(first));
        assert!(fixture.cache.get("b").is_err(), "no room");
        *fixture.advance.lock().expect("clock") = Duration::from_secs(2);
        cache_after_lookup(&fixture, "b", second);
        assert_eq!(fixture.cache.get("b").ok(), Some(second));
    }

    #[test]
    fn a_zero_time_to_live_caches_nothing() {
        let fixture = fixture(Duration::ZERO, 10);
        let (_, viewer) = key();
        cache_after_lookup(&fixture, "h", viewer);
        assert!(fixture.cache.get("h").is_err());
    }
}
