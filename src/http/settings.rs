//! Settings of the HTTP surface that `config` fills from the command line.

use std::net::SocketAddr;
use std::time::Duration;

/// Limits and switches of `POST /graphql` and `GET /graphql`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// Larger bodies get 413 before they are read (and websocket messages are closed).
    pub max_body_bytes: usize,
    /// Operations in one batched POST.
    pub max_batch_size: usize,
    /// From the request's arrival to its answer; then 504 and the work is cancelled.
    pub request_timeout: Duration,
    /// Whether browsers get GraphiQL at `GET /graphql`.
    pub graphiql: bool,
    /// How long a shared cache (a CDN) may keep a GET read that succeeded, per key; zero
    /// keeps every response out of every cache.
    pub get_cache_max_age: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_batch_size: 20,
            request_timeout: Duration::from_secs(30),
            graphiql: true,
            get_cache_max_age: Duration::ZERO,
        }
    }
}

/// Where and how `/metrics` is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsSettings {
    /// A second listener serving `/metrics` without a key.
    pub listen: Option<SocketAddr>,
    /// Distinct operation names kept as label values; later names count as `other`.
    pub max_operation_names: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            listen: None,
            max_operation_names: 100,
        }
    }
}

/// Limits per client address and per connection: what a caller without a valid key may cost.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientSettings {
    /// Proxies whose `Forwarded` / `X-Forwarded-For` are believed.
    pub trusted_proxies: super::TrustedProxies,
    /// Failed authentications each client address may make at once and per second; `None`
    /// switches the limit off.
    pub unauthenticated: Option<crate::service::Quota>,
    /// Open TCP connections overall (websockets included).
    pub max_connections: usize,
    /// Open TCP connections per client address (trusted proxies are exempt).
    pub max_connections_per_client: usize,
    /// Open websockets per client address.
    pub max_websockets_per_client: usize,
    /// Websockets that have not authenticated yet, overall.
    pub max_unauthenticated_websockets: usize,
    /// How long a connection may take to deliver a complete request head (from opening,
    /// or from its first byte after a response).
    pub header_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests.
    pub keep_alive_timeout: Duration,
    /// How long reading a request body may take (within the request timeout).
    pub body_timeout: Duration,
    /// How often counted refusals are written as summary audit rows.
    pub refusal_flush_interval: Duration,
    /// Refusal groups remembered between flushes; past it they fold into one.
    pub refusal_max_groups: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            trusted_proxies: super::TrustedProxies::default(),
            unauthenticated: None,
            max_connections: 4096,
            max_connections_per_client: 256,
            max_websockets_per_client: 256,
            max_unauthenticated_websockets: 1024,
            header_timeout: Duration::from_secs(5),
            keep_alive_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            refusal_flush_interval: Duration::from_secs(60),
            refusal_max_groups: 10_000,
        }
    }
}
