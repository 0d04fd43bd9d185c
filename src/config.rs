//! Typed settings from flags and environment, validated once at start so a bad value stops
//! the process with a message naming it instead of surfacing later as a confusing failure.
//! `args` is the command line, `build` turns it into `Settings`.

mod args;
mod build;
#[cfg(test)]
mod tests;

pub use args::{Cli, Command, LogFormat, SettingsArgs};

use crate::graphql::{DocumentCacheLimits, PersistedSettings, SchemaOptions};
use crate::http::{ClientSettings, HttpSettings, MetricsSettings, SessionSettings};
use crate::service::{ApiKeyToken, KeyCacheConfig, RateLimitConfig};
use std::net::IpAddr;
use std::time::Duration;
use thiserror::Error;

/// Shorter root keys are refused: the root key can do everything, so it must not be guessable.
pub const MIN_ROOT_KEY_LEN: usize = 32;

/// Where the root key came from; a generated key must be shown to the operator once.
#[derive(Clone, Debug)]
pub struct RootKey {
    pub token: ApiKeyToken,
    pub generated: bool,
}

/// Overrides for the PostgreSQL pool; `None` keeps the adapter's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolConfig {
    pub max_connections: Option<u32>,
    /// Connections opened at start and kept open; `None` means all of `max_connections`.
    pub min_connections: Option<u32>,
    pub acquire_timeout: Option<Duration>,
    /// `Some(None)` switches the timeout off.
    pub statement_timeout: Option<Option<Duration>>,
}

/// What happens on SIGTERM/SIGINT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownSettings {
    /// From the signal until the process stops waiting for requests in flight.
    pub timeout: Duration,
    /// From the signal until new connections are refused; `/ready` answers 503 meanwhile.
    pub drain: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            drain: Duration::ZERO,
        }
    }
}

/// Validated settings for `serve`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: IpAddr,
    pub port: u16,
    pub database_url: Option<String>,
    pub root_key: RootKey,
    pub cors_allow_origins: Vec<String>,
    pub pool: PoolConfig,
    pub websocket: SessionSettings,
    /// Query limits and the introspection and suggestion switches.
    pub schema: SchemaOptions,
    /// How many parsed documents, and how much of their text, are kept.
    pub document_cache: DocumentCacheLimits,
    /// The trusted-documents manifest and policy.
    pub persisted: PersistedSettings,
    pub http: HttpSettings,
    /// Per-client limits, connection caps and time limits, and the refusal audit.
    pub clients: ClientSettings,
    pub rate_limit: RateLimitConfig,
    /// How long, and how many, institution keys are trusted without a lookup.
    pub key_cache: KeyCacheConfig,
    pub shutdown: ShutdownSettings,
    pub metrics: MetricsSettings,
}

impl Settings {
    /// Loopback, memory store, no CORS, the default limits: the shape tests start from (they
    /// set `port` to 0). Rate limiting is off here, unlike on the command line, because
    /// functional tests send many requests with one key; tests of the limiter switch it on.
    /// The same goes for the per-client limit on failed authentications; the connection caps
    /// and time limits are the command line's defaults.
    #[must_use]
    pub fn new(root_key: ApiKeyToken) -> Self {
        Self {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 4000,
            database_url: None,
            root_key: RootKey {
                token: root_key,
                generated: false,
            },
            cors_allow_origins: Vec::new(),
            pool: PoolConfig::default(),
            websocket: SessionSettings::default(),
            schema: SchemaOptions::default(),
            document_cache: DocumentCacheLimits::default(),
            persisted: PersistedSettings::default(),
            http: HttpSettings::default(),
            clients: ClientSettings::default(),
            rate_limit: RateLimitConfig::default(),
            key_cache: KeyCacheConfig::default(),
            shutdown: ShutdownSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("BIND {0:?} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)")]
    Bind(String),
    #[error("DATABASE_URL must start with postgres:// or postgresql:// (got scheme {0:?})")]
    DatabaseUrl(String),
    #[error("DATABASE_URL is required for `migrate`")]
    DatabaseUrlMissing,
    #[error(
        "ROOT_API_KEY is {0} characters long; it must be at least {MIN_ROOT_KEY_LEN} (unset it to generate one)"
    )]
    RootKeyTooShort(usize),
    #[error("ROOT_API_KEY must be printable ASCII without spaces")]
    RootKeyCharacters,
    #[error("CORS_ALLOW_ORIGINS entry {0:?} is not an origin like https://app.example.com")]
    CorsOrigin(String),
    #[error("{name} must be greater than 0 (got {value})")]
    NotPositive { name: &'static str, value: u64 },
    #[error("{name}={value} is out of range: {expected}")]
    OutOfRange {
        name: &'static str,
        value: String,
        expected: String,
    },
    #[error("TRUSTED_PROXIES entry {0:?} is not an IP address or CIDR block (e.g. 10.0.0.0/8)")]
    TrustedProxy(String),
    #[error("METRICS_ADDR {0:?} is not an address like 0.0.0.0:9464")]
    MetricsAddr(String),
    #[error("TRUSTED_DOCUMENTS {path:?}: {reason}")]
    TrustedDocuments { path: String, reason: String },
    #[error("TRUSTED_DOCUMENTS_ONLY=true needs TRUSTED_DOCUMENTS (a manifest file)")]
    TrustedDocumentsMissing,
}
