//! Limits per client address, checked before authentication so a caller without a valid key
//! costs almost nothing: a token bucket spent by failed authentications (requests that carry
//! no valid key), caps on open connections and websockets, and the address itself (see
//! `address`). Traffic with a valid key never spends the bucket, and a key that
//! authenticated recently passes even when its address's bucket is empty, so many users
//! behind one NAT are not punished for someone else's guessing.

mod address;

pub use address::TrustedProxies;

use super::AppState;
use super::settings::ClientSettings;
use crate::service::{Quota, RetryAfter};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets kept at most; past it new addresses go unmetered until buckets idle out.
const MAX_BUCKETS: usize = 100_000;
/// Keys remembered as recently valid, and for how long.
const MAX_KNOWN_GOOD: usize = 10_000;
const KNOWN_GOOD_FOR: Duration = Duration::from_secs(600);
const SWEEP_EVERY: u32 = 4096;

/// The TCP peer, as a request extension (set by the accept loop).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// The client's address as the handlers see it (`None` off the listener, e.g. in-process).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client(pub(crate) Option<IpAddr>);

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let peer = parts.extensions.get::<Peer>().copied();
        Ok(Self(state.clients().client(peer, &parts.headers)))
    }
}

/// Buckets are per address for IPv4 and per /64 for IPv6, the block one subscriber gets.
fn bucket_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[derive(Clone, Copy)]
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
}

#[derive(Default)]
struct Buckets {
    table: HashMap<IpAddr, Bucket>,
    checks: u32,
}

/// What the metrics page shows of the limits.
#[derive(Default)]
pub(crate) struct ClientCounters {
    pub(crate) throttled_http: AtomicU64,
    pub(crate) throttled_ws: AtomicU64,
    pub(crate) websockets_refused: AtomicU64,
    pub(crate) connections_refused_total: AtomicU64,
    pub(crate) connections_refused_per_client: AtomicU64,
    pub(crate) connections_timed_out_head: AtomicU64,
    pub(crate) connections_timed_out_idle: AtomicU64,
}

/// Shared by the accept loop and every handler.
pub struct ClientLimits {
    settings: ClientSettings,
    buckets: Mutex<Buckets>,
    known_good: Mutex<HashMap<[u8; 32], Instant>>,
    connections: Mutex<HashMap<IpAddr, usize>>,
    open_connections: AtomicUsize,
    websockets: Mutex<HashMap<IpAddr, usize>>,
    unauthenticated_websockets: AtomicUsize,
    pub(crate) counters: ClientCounters,
}

impl ClientLimits {
    #[must_use]
    pub fn new(settings: ClientSettings) -> Self {
        Self {
            settings,
            buckets: Mutex::default(),
            known_good: Mutex::default(),
            connections: Mutex::default(),
            open_connections: AtomicUsize::new(0),
            websockets: Mutex::default(),
            unauthenticated_websockets: AtomicUsize::new(0),
            counters: ClientCounters::default(),
        }
    }

    pub(crate) fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// The client's address, or `None` when the request did not come through the listener.
    pub(crate) fn client(&self, peer: Option<Peer>, headers: &HeaderMap) -> Option<IpAddr> {
        peer.map(|Peer(peer)| self.settings.trusted_proxies.client(peer, headers))
    }

    /// Before authentication: refused when the address has no token left for another failure,
    /// unless `token` authenticated recently. Spends nothing.
    ///
    /// # Errors
    /// How long until the address may try again.
    pub(crate) fn admit(
        &self,
        client: Option<IpAddr>,
        token: Option<&str>,
    ) -> Result<(), RetryAfter> {
        let (Some(quota), Some(client)) = (self.settings.unauthenticated, client) else {
            return Ok(());
        };
        if token.is_some_and(|token| self.recently_valid(token)) {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(bucket) = buckets.table.get_mut(&bucket_key(client)) else {
            return Ok(());
        };
        bucket.refill(quota, now);
        if bucket.tokens >= 1.0 {
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / quota.per_second;
        Err(RetryAfter(Duration::from_secs_f64(
            wait.clamp(0.0, 86_400.0),
        )))
    }

    /// After a failed authentication: spends one token of the address's bucket.
    pub(crate) fn failed(&self, client: Option<IpAddr>) {
        let (Some(quota), Some(client)) = (self.settings.unauthenticated, client) else {
            return;
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.checks = buckets.checks.wrapping_add(1);
        if buckets.checks.is_multiple_of(SWEEP_EVERY) || buckets.table.len() >= MAX_BUCKETS {
            buckets.table.retain(|_, bucket| {
                let mut probe = *bucket;
                probe.refill(quota, now);
                probe.tokens < f64::from(quota.burst)
            });
        }
        let key = bucket_key(client);
        if !buckets.table.contains_key(&key) && buckets.table.len() >= MAX_BUCKETS {
            return;
        }
        let bucket = buckets.table.entry(key).or_insert(Bucket {
            tokens: f64::from(quota.burst),
            updated: now,
        });
        bucket.refill(quota, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }

    /// After a successful authentication: the key passes `admit` for a while.
    pub(crate) fn succeeded(&self, token: &str) {
        if self.settings.unauthenticated.is_none() {
            return;
        }
        let now = Instant::now();
        let mut known = self
            .known_good
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if known.len() >= MAX_KNOWN_GOOD {
            known.retain(|_, seen| now.saturating_duration_since(*seen) < KNOWN_GOOD_FOR);
            if known.len() >= MAX_KNOWN_GOOD {
                known.clear();
            }
        }
        known.insert(digest(token), now);
    }

    fn recently_valid(&self, token: &str) -> bool {
        let known = self
            .known_good
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        known
            .get(&digest(token))
            .is_some_and(|seen| seen.elapsed() < KNOWN_GOOD_FOR)
    }

    /// A new TCP connection from `peer`: `None` when a cap is reached (the caller closes it).
    pub(crate) fn open_connection(self: &Arc<Self>, peer: IpAddr) -> Option<ConnectionPermit> {
        let open = self.open_connections.fetch_add(1, Ordering::AcqRel);
        let total_guard = ConnectionPermit {
            limits: Arc::clone(self),
            peer: None,
        };
        if open >= self.settings.max_connections {
            self.counters
                .connections_refused_total
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // A trusted proxy carries many clients; their limits apply per request instead.
        if self.settings.trusted_proxies.contains(peer) {
            return Some(total_guard);
        }
        let key = bucket_key(peer);
        let mut connections = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = connections.entry(key).or_default();
        if *count >= self.settings.max_connections_per_client {
            self.counters
                .connections_refused_per_client
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *count += 1;
        drop(connections);
        let mut permit = total_guard;
        permit.peer = Some(key);
        Some(permit)
    }

    /// Open TCP connections (upgraded websockets included).
    pub(crate) fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::Acquire)
    }

    /// A websocket from `client`, not yet authenticated: `None` when a cap is reached.
    pub(crate) fn open_websocket(
        self: &Arc<Self>,
        client: Option<IpAddr>,
    ) -> Option<WebsocketPermit> {
        let unauthenticated = self
            .unauthenticated_websockets
            .fetch_add(1, Ordering::AcqRel);
        let mut permit = WebsocketPermit {
            limits: Arc::clone(self),
            client: None,
            unauthenticated: true,
        };
        if unauthenticated >= self.settings.max_unauthenticated_websockets {
            self.counters
                .websockets_refused
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if let Some(client) = client {
            let key = bucket_key(client);
            let mut open = self
                .websockets
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = open.entry(key).or_default();
            if *count >= self.settings.max_websockets_per_client {
                self.counters
                    .websockets_refused
                    .fetch_add(1, Ordering::Relaxed);
                return None;
            }
            *count += 1;
            permit.client = Some(key);
        }
        Some(permit)
    }

    pub(crate) fn unauthenticated_websockets(&self) -> usize {
        self.unauthenticated_websockets.load(Ordering::Acquire)
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn release(map: &Mutex<HashMap<IpAddr, usize>>, key: IpAddr) {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(count) = map.get_mut(&key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            map.remove(&key);
        }
    }
}

/// Holds a connection's place under the caps until the connection (or the websocket it was
/// upgraded to) is gone.
pub(crate) struct ConnectionPermit {
    limits: Arc<ClientLimits>,
    peer: Option<IpAddr>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.limits.open_connections.fetch_sub(1, Ordering::AcqRel);
        if let Some(peer) = self.peer {
            release(&self.limits.connections, peer);
        }
    }
}

/// Holds a websocket's place under the caps while it is open.
pub(crate) struct WebsocketPermit {
    limits: Arc<ClientLimits>,
    client: Option<IpAddr>,
    unauthenticated: bool,
}

impl WebsocketPermit {
    /// The socket authenticated: it no longer counts against the unauthenticated cap.
    pub(crate) fn authenticated(&mut self) {
        if std::mem::replace(&mut self.unauthenticated, false) {
            self.limits
                .unauthenticated_websockets
                .fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for WebsocketPermit {
    fn drop(&mut self) {
        self.authenticated();
        if let Some(client) = self.client {
            release(&self.limits.websockets, client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: f64, burst: u32) -> ClientLimits {
        ClientLimits::new(ClientSettings {
            unauthenticated: Some(Quota { per_second, burst }),
            ..ClientSettings::default()
        })
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("ip"))
    }

    #[test]
    fn failures_empty_the_bucket_and_a_recently_valid_key_still_passes() {
        let limits = limits(0.001, 3);
        let client = ip("198.51.100.1");
        for _ in 0..3 {
            assert!(limits.admit(client, Some("egk_x")).is_ok());
            limits.failed(client);
        }
        assert!(limits.admit(client, Some("egk_x")).is_err());
        assert!(limits.admit(client, None).is_err());
        assert!(
            limits.admit(ip("198.51.100.2"), None).is_ok(),
            "other addresses are not affected"
        );
        limits.succeeded("egk_valid");
        assert!(limits.admit(client, Some("egk_valid")).is_ok());
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let limits = limits(0.001, 1);
        limits.failed(ip("2001:db8:0:1::1"));
        assert!(limits.admit(ip("2001:db8:0:1::2"), None).is_err());
        assert!(limits.admit(ip("2001:db8:0:2::1"), None).is_ok());
    }

    #[test]
    fn connection_caps_are_per_client_and_overall() {
        let limits = Arc::new(ClientLimits::new(ClientSettings {
            max_connections: 3,
            max_connections_per_client: 2,
            ..ClientSettings::default()
        }));
        let a: IpAddr = "198.51.100.1".parse().expect("ip");
        let b: IpAddr = "198.51.100.2".parse().expect("ip");
        let first = limits.open_connection(a).expect("first");
        let _second = limits.open_connection(a).expect("second");
        assert!(limits.open_connection(a).is_none(), "per client");
        let _third = limits.open_connection(b).expect("another client");
        assert!(limits.open_connection(b).is_none(), "overall");
        drop(first);
        let _again = limits.open_connection(a).expect("room again");
        assert_eq!(limits.open_connections(), 3);
    }

    #[test]
    fn websocket_caps_release_on_authentication_and_close() {
        let limits = Arc::new(ClientLimits::new(ClientSettings {
            max_websockets_per_client: 5,
            max_unauthenticated_websockets: 1,
            ..ClientSettings::default()
        }));
        let mut first = limits.open_websocket(ip("198.51.100.1")).expect("first");
        assert!(limits.open_websocket(ip("198.51.100.2")).is_none());
        first.authenticated();
        let second = limits
            .open_websocket(ip("198.51.100.2"))
            .expect("room again");
        assert_eq!(limits.unauthenticated_websockets(), 1);
        drop(second);
        drop(first);
        assert_eq!(limits.unauthenticated_websockets(), 0);
    }
}
