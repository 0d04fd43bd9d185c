//! Per-key token buckets: each API key may spend `burst` operations at once and earns `rate`
//! more per second. Memory stays bounded: a bucket that has refilled completely is the same as
//! no bucket, so idle ones are dropped, and the table has a hard cap besides.

use super::viewer::{Viewer, ViewerRole};
use crate::domain::ApiKeyId;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets kept at most. Keys are authenticated ids, so reaching this takes that many live
/// keys busy at once; past it a new key goes unmetered (and a warning is logged) rather than
/// evicting a busy key's debt.
const MAX_BUCKETS: usize = 100_000;

/// Sweep for full buckets every this many checks, besides whenever the table grows past half
/// its cap; keeps each check O(1) on average.
const SWEEP_EVERY: u32 = 4096;

/// A sustained rate and the burst allowed above it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quota {
    /// Operations earned per second.
    pub per_second: f64,
    /// Bucket size: operations that may be spent at once.
    pub burst: u32,
}

/// Quotas for institution keys and for the root key; `None` means unlimited.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateLimitConfig {
    pub per_key: Option<Quota>,
    pub root: Option<Quota>,
    /// Where buckets read the time; the system clock unless a test injects its own.
    pub clock: Clock,
}

type TimeSource = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The limiter's time: `Instant::now()` by default, or a function a test controls, so a test
/// of "refused, then allowed after Retry-After" advances time instead of sleeping through it.
#[derive(Clone, Default)]
pub struct Clock(Option<TimeSource>);

impl Clock {
    /// A clock that reads `now` instead of the system clock.
    #[must_use]
    pub fn from_fn(now: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(now)))
    }

    pub(crate) fn now(&self) -> Instant {
        self.0.as_ref().map_or_else(Instant::now, |now| now())
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(injected)"
        } else {
            "Clock(system)"
        })
    }
}

/// Two clocks are equal when both are the system clock or both are the same injected one.
impl PartialEq for Clock {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Refused: how long until the operation would be allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up and at least 1, as `Retry-After` and `retryAfter` carry it.
    #[must_use]
    pub fn seconds(self) -> u64 {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        secs.max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Holder {
    Root,
    Key(ApiKeyId),
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, quota: Quota, now: Instant) {
        let earned = now.saturating_duration_since(self.updated).as_secs_f64() * quota.per_second;
        self.tokens = (self.tokens + earned).min(f64::from(quota.burst));
        self.updated = now;
    }

    fn is_full(&self, quota: Quota, now: Instant) -> bool {
        let mut probe = *self;
        probe.refill(quota, now);
        probe.tokens >= f64::from(quota.burst)
    }
}

struct Table {
    buckets: HashMap<Holder, Bucket>,
    checks: u32,
    warned_full: bool,
}

/// The limiter shared by every transport. Cheap to share behind an `Arc`.
pub struct RateLimiter {
    config: RateLimitConfig,
    table: Mutex<Table>,
}

impl RateLimiter {
    #[must_use]
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                checks: 0,
                warned_full: false,
            }),
        }
    }

    /// Spends `cost` operations of `viewer`'s key.
    ///
    /// # Errors
    /// `RetryAfter` when the key's bucket holds fewer than `cost` tokens; nothing is spent then.
    pub fn check(&self, viewer: &Viewer, cost: u32) -> Result<(), RetryAfter> {
        self.check_at(viewer, cost, self.config.clock.now())
    }

    /// `check` at a given time, for tests that must not sleep.
    ///
    /// # Errors
    /// As `check`.
    pub fn check_at(&self, viewer: &Viewer, cost: u32, now: Instant) -> Result<(), RetryAfter> {
        let (holder, quota) = match (viewer.role(), viewer.api_key_id()) {
            (ViewerRole::Root, _) | (_, None) => (Holder::Root, self.config.root),
            (_, Some(key)) => (Holder::Key(key), self.config.per_key),
        };
        let Some(quota) = quota else {
            return Ok(());
        };
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.checks = table.checks.wrapping_add(1);
        if table.checks.is_multiple_of(SWEEP_EVERY) || table.buckets.len() >= MAX_BUCKETS / 2 {
            self.sweep(&mut table, now);
        }
        if !table.buckets.contains_key(&holder) && table.buckets.len() >= MAX_BUCKETS {
            if !table.warned_full {
                table.warned_full = true;
                tracing::warn!(
                    buckets = MAX_BUCKETS,
                    "rate limiter table is full; new keys go unmetered until buckets idle out"
                );
            }
            return Ok(());
        }
        let bucket = table.buckets.entry(holder).or_insert(Bucket {
            tokens: f64::from(quota.burst),
            updated: now,
        });
        bucket.refill(quota, now);
        let cost = f64::from(cost);
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            return Ok(());
        }
        let missing = cost - bucket.tokens;
        // A cost above the burst can never be met; the wait for a full bucket is the honest answer.
        let wait = (missing.min(f64::from(quota.burst)) / quota.per_second).max(0.0);
        Err(RetryAfter(Duration::from_secs_f64(wait.min(86_400.0))))
    }

    /// Drops buckets that have refilled completely: they hold no debt to remember.
    fn sweep(&self, table: &mut Table, now: Instant) {
        let config = &self.config;
        table.buckets.retain(|holder, bucket| {
            let quota = match holder {
                Holder::Root => config.root,
                Holder::Key(_) => config.per_key,
            };
            quota.is_some_and(|quota| !bucket.is_full(quota, now))
        });
        if table.buckets.len() < MAX_BUCKETS {
            table.warned_full = false;
        }
    }

    /// Buckets currently remembered (for tests and the metrics page).
    #[must_use]
    pub fn tracked_keys(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len()
    }

    /// Forgets every full bucket now rather than at the next periodic sweep.
    pub fn evict_idle(&self) {
        self.evict_idle_at(self.config.clock.now());
    }

    fn evict_idle_at(&self, now: Instant) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        self.sweep(&mut table, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApiKeyRole, InstitutionId};

    fn key() -> Viewer {
        Viewer::institution_key(InstitutionId::new(), ApiKeyId::new(), ApiKeyRole::Admin)
    }

    fn limiter(per_second: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            per_key: Some(Quota { per_second, burst }),
            ..RateLimitConfig::default()
        })
    }

    #[test]
    fn a_burst_is_allowed_then_refused_until_tokens_return() {
        let limiter = limiter(2.0, 3);
        let viewer = key();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(&viewer, 1, start).is_ok());
        }
        let refused = limiter.check_at(&viewer, 1, start).expect_err("empty");
        assert_eq!(refused.0, Duration::from_millis(500));
        assert_eq!(refused.seconds(), 1);
        assert!(
            limiter
                .check_at(&viewer, 1, start + Duration::from_millis(500))
                .is_ok()
        );
    }

    #[test]
    fn keys_have_their_own_buckets_and_root_is_exempt_by_default() {
        let limiter = limiter(1.0, 1);
        let (a, b) = (key(), key());
        let now = Instant::now();
        assert!(limiter.check_at(&a, 1, now).is_ok());
        assert!(limiter.check_at(&a, 1, now).is_err());
        assert!(limiter.check_at(&b, 1, now).is_ok());
        for _ in 0..100 {
            assert!(limiter.check_at(&Viewer::root(), 1, now).is_ok());
        }
    }

    #[test]
    fn a_refused_batch_spends_nothing() {
        let limiter = limiter(1.0, 5);
        let viewer = key();
        let now = Instant::now();
        assert!(limiter.check_at(&viewer, 4, now).is_ok());
        let refused = limiter.check_at(&viewer, 3, now).expect_err("one left");
        assert_eq!(refused.seconds(), 2);
        assert!(limiter.check_at(&viewer, 1, now).is_ok());
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let limiter = limiter(10.0, 10);
        let now = Instant::now();
        let viewers: Vec<Viewer> = (0..50).map(|_| key()).collect();
        for viewer in &viewers {
            assert!(limiter.check_at(viewer, 1, now).is_ok());
        }
        assert_eq!(limiter.tracked_keys(), 50);
        limiter.evict_idle_at(now + Duration::from_millis(50));
        assert_eq!(limiter.tracked_keys(), 50, "not refilled yet");
        limiter.evict_idle_at(now + Duration::from_millis(100));
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn check_reads_the_injected_clock() {
        let start = Instant::now();
        let offset = Arc::new(Mutex::new(Duration::ZERO));
        let read = Arc::clone(&offset);
        let limiter = RateLimiter::new(RateLimitConfig {
            per_key: Some(Quota {
                per_second: 1.0,
                burst: 1,
            }),
            clock: Clock::from_fn(move || {
                start + *read.lock().unwrap_or_else(PoisonError::into_inner)
            }),
            ..RateLimitConfig::default()
        });
        let viewer = key();
        assert!(limiter.check(&viewer, 1).is_ok());
        assert_eq!(
            limiter.check(&viewer, 1),
            Err(RetryAfter(Duration::from_secs(1)))
        );
        *offset.lock().unwrap_or_else(PoisonError::into_inner) = Duration::from_secs(1);
        assert!(limiter.check(&viewer, 1).is_ok());
    }

    #[test]
    fn root_can_have_its_own_quota() {
        let limiter = RateLimiter::new(RateLimitConfig {
            root: Some(Quota {
                per_second: 1.0,
                burst: 2,
            }),
            ..RateLimitConfig::default()
        });
        let now = Instant::now();
        assert!(limiter.check_at(&Viewer::root(), 2, now).is_ok());
        assert!(limiter.check_at(&Viewer::root(), 1, now).is_err());
        assert!(limiter.check_at(&key(), 1000, now).is_ok());
    }
}
