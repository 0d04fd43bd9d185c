//! From raw flags to `Settings`: every range is checked here, once, and a refusal names the
//! setting (by its environment variable) and the value it got.

use super::{
    ConfigError, LogFormat, MIN_ROOT_KEY_LEN, PoolConfig, RootKey, Settings, SettingsArgs,
    ShutdownSettings,
};
use crate::graphql::{DocumentCacheLimits, PersistedSettings, SchemaOptions, TrustedDocuments};
use crate::http::{ClientSettings, HttpSettings, MetricsSettings, SessionSettings, TrustedProxies};
use crate::service::{ApiKeyToken, KeyCacheConfig, Quota, RateLimitConfig};
use crate::telemetry::TraceExport;
use std::io::IsTerminal as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// async-graphql refuses documents nested deeper than 32 levels while parsing, whatever the
/// depth limit; a higher limit would promise what the parser does not allow.
const MAX_DEPTH_CEILING: usize = 32;
/// Below this a body limit would refuse ordinary operations.
const MIN_BODY_BYTES: usize = 1024;

impl SettingsArgs {
    /// # Errors
    /// A `ConfigError` naming the first bad value.
    pub fn into_settings(self) -> Result<Settings, ConfigError> {
        let bind = self
            .bind
            .parse::<IpAddr>()
            .map_err(|_| ConfigError::Bind(self.bind.clone()))?;
        let database_url = database_url(self.database_url.clone())?;
        let root_key = match non_empty(self.root_api_key.clone()) {
            Some(token) => RootKey {
                token: validate_root_key(token)?,
                generated: false,
            },
            None => RootKey {
                token: ApiKeyToken::generate(),
                generated: true,
            },
        };
        let cors_allow_origins = match non_empty(self.cors_allow_origin.clone()) {
            Some(list) => cors_origins(&list)?,
            None => Vec::new(),
        };
        Ok(Settings {
            bind,
            port: self.port,
            database_url,
            root_key,
            cors_allow_origins,
            pool: pool_config(
                self.db_max_connections,
                self.db_min_connections,
                self.db_acquire_timeout_ms,
                self.db_statement_timeout_ms,
            )?,
            websocket: self.websocket()?,
            schema: self.schema()?,
            document_cache: DocumentCacheLimits {
                max_entries: self.document_cache_entries,
                max_bytes: positive("DOCUMENT_CACHE_BYTES", self.document_cache_bytes)?,
            },
            persisted: self.persisted()?,
            http: self.http()?,
            clients: self.clients()?,
            rate_limit: self.rate_limit()?,
            key_cache: KeyCacheConfig {
                ttl: Duration::from_millis(self.auth_cache_ttl_ms),
                capacity: positive("AUTH_CACHE_CAPACITY", self.auth_cache_capacity)?,
                ..KeyCacheConfig::default()
            },
            shutdown: self.shutdown()?,
            metrics: self.metrics()?,
        })
    }

    /// What `migrate` needs: a database URL and pool settings, nothing else.
    ///
    /// # Errors
    /// `DatabaseUrlMissing` or the first bad value.
    pub fn migrate_target(&self) -> Result<(String, PoolConfig), ConfigError> {
        let url =
            database_url(self.database_url.clone())?.ok_or(ConfigError::DatabaseUrlMissing)?;
        let mut pool = pool_config(
            self.db_max_connections,
            self.db_min_connections,
            self.db_acquire_timeout_ms,
            self.db_statement_timeout_ms,
        )?;
        // Migrating needs one connection, not a warm pool.
        pool.min_connections = pool.min_connections.or(Some(1));
        Ok((url, pool))
    }

    /// The log format alone, so logging can start before the rest is validated: people read
    /// a terminal, machines read everything else.
    #[must_use]
    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                LogFormat::Pretty
            } else {
                LogFormat::Json
            }
        })
    }

    /// Where spans go, if anywhere; read before the rest, like the log format, because
    /// logging and tracing start first.
    #[must_use]
    pub fn trace_export(&self) -> Option<TraceExport> {
        let endpoint = self.otlp_endpoint.as_deref()?.trim().trim_end_matches('/');
        (!endpoint.is_empty()).then(|| TraceExport {
            traces_url: format!("{endpoint}/v1/traces"),
            service_name: self.otel_service_name.clone(),
        })
    }

    fn persisted(&self) -> Result<PersistedSettings, ConfigError> {
        let trusted = match &self.trusted_documents {
            None => None,
            Some(path) => {
                let failed = |reason: String| ConfigError::TrustedDocuments {
                    path: path.display().to_string(),
                    reason,
                };
                let text =
                    std::fs::read_to_string(path).map_err(|error| failed(error.to_string()))?;
                let manifest = TrustedDocuments::from_manifest(&text)
                    .map_err(|error| failed(error.to_string()))?;
                Some(Arc::new(manifest))
            }
        };
        if self.trusted_documents_only && trusted.is_none() {
            return Err(ConfigError::TrustedDocumentsMissing);
        }
        Ok(PersistedSettings {
            trusted,
            trusted_only: self.trusted_documents_only,
            exempt_root: self.trusted_documents_exempt_root,
        })
    }

    fn schema(&self) -> Result<SchemaOptions, ConfigError> {
        let depth = self.max_query_depth;
        if !(1..=MAX_DEPTH_CEILING).contains(&depth) {
            return Err(out_of_range(
                "MAX_QUERY_DEPTH",
                depth,
                format!("between 1 and {MAX_DEPTH_CEILING}"),
            ));
        }
        Ok(SchemaOptions {
            max_depth: depth,
            max_complexity: positive("MAX_QUERY_COMPLEXITY", self.max_query_complexity)?,
            max_aliases: self.max_aliases,
            max_root_fields: positive("MAX_ROOT_FIELDS", self.max_root_fields)?,
            max_tokens: positive("MAX_QUERY_TOKENS", self.max_query_tokens)?,
            max_input_list_length: positive("MAX_INPUT_LIST_LENGTH", self.max_input_list_length)?,
            max_list_rows: positive("MAX_LIST_ROWS", self.max_list_rows)?,
            introspection: self.introspection,
            suggestions: self.field_suggestions,
        })
    }

    fn http(&self) -> Result<HttpSettings, ConfigError> {
        if self.max_body_bytes < MIN_BODY_BYTES {
            return Err(out_of_range(
                "MAX_BODY_BYTES",
                self.max_body_bytes,
                format!("at least {MIN_BODY_BYTES}"),
            ));
        }
        Ok(HttpSettings {
            max_body_bytes: self.max_body_bytes,
            max_batch_size: positive("MAX_BATCH_SIZE", self.max_batch_size)?,
            request_timeout: millis("REQUEST_TIMEOUT_MS", self.request_timeout_ms)?,
            graphiql: self.graphiql,
            get_cache_max_age: Duration::from_secs(self.get_cache_max_age_seconds),
        })
    }

    fn rate_limit(&self) -> Result<RateLimitConfig, ConfigError> {
        Ok(RateLimitConfig {
            per_key: quota(
                ("RATE_LIMIT_PER_SECOND", self.rate_limit_per_second),
                ("RATE_LIMIT_BURST", self.rate_limit_burst),
                self.max_batch_size,
            )?,
            root: quota(
                (
                    "ROOT_RATE_LIMIT_PER_SECOND",
                    self.root_rate_limit_per_second,
                ),
                ("ROOT_RATE_LIMIT_BURST", self.root_rate_limit_burst),
                self.max_batch_size,
            )?,
            ..RateLimitConfig::default()
        })
    }

    fn clients(&self) -> Result<ClientSettings, ConfigError> {
        let trusted_proxies = match non_empty(self.trusted_proxies.clone()) {
            Some(list) => TrustedProxies::parse(&list).map_err(ConfigError::TrustedProxy)?,
            None => TrustedProxies::default(),
        };
        let max_connections = positive("MAX_CONNECTIONS", self.max_connections)?;
        let per_client = positive(
            "MAX_CONNECTIONS_PER_CLIENT",
            self.max_connections_per_client,
        )?;
        if per_client > max_connections {
            return Err(out_of_range(
                "MAX_CONNECTIONS_PER_CLIENT",
                per_client,
                format!("at most MAX_CONNECTIONS ({max_connections})"),
            ));
        }
        Ok(ClientSettings {
            trusted_proxies,
            // The burst has no batch to accommodate: one failed authentication costs one token.
            unauthenticated: quota(
                (
                    "UNAUTHENTICATED_RATE_LIMIT_PER_SECOND",
                    self.unauthenticated_rate_limit_per_second,
                ),
                (
                    "UNAUTHENTICATED_RATE_LIMIT_BURST",
                    self.unauthenticated_rate_limit_burst.max(1),
                ),
                1,
            )?,
            max_connections,
            max_connections_per_client: per_client,
            max_websockets_per_client: positive("WS_MAX_PER_CLIENT", self.ws_max_per_client)?,
            max_unauthenticated_websockets: positive(
                "WS_MAX_UNAUTHENTICATED",
                self.ws_max_unauthenticated,
            )?,
            header_timeout: millis("HTTP_HEADER_TIMEOUT_MS", self.http_header_timeout_ms)?,
            keep_alive_timeout: millis(
                "HTTP_KEEP_ALIVE_TIMEOUT_MS",
                self.http_keep_alive_timeout_ms,
            )?,
            body_timeout: millis("HTTP_BODY_TIMEOUT_MS", self.http_body_timeout_ms)?,
            refusal_flush_interval: millis(
                "REFUSAL_AUDIT_INTERVAL_MS",
                self.refusal_audit_interval_ms,
            )?,
            refusal_max_groups: positive(
                "REFUSAL_AUDIT_MAX_GROUPS",
                self.refusal_audit_max_groups,
            )?,
        })
    }

    fn shutdown(&self) -> Result<ShutdownSettings, ConfigError> {
        let timeout = millis("SHUTDOWN_TIMEOUT_MS", self.shutdown_timeout_ms)?;
        let drain = Duration::from_millis(self.shutdown_drain_ms);
        if drain >= timeout {
            return Err(out_of_range(
                "SHUTDOWN_DRAIN_MS",
                self.shutdown_drain_ms,
                format!(
                    "below SHUTDOWN_TIMEOUT_MS ({}), which it is part of",
                    self.shutdown_timeout_ms
                ),
            ));
        }
        Ok(ShutdownSettings { timeout, drain })
    }

    fn websocket(&self) -> Result<SessionSettings, ConfigError> {
        let ping_interval = millis("WS_PING_INTERVAL_MS", self.ws_ping_interval_ms)?;
        let idle_timeout = millis("WS_IDLE_TIMEOUT_MS", self.ws_idle_timeout_ms)?;
        if idle_timeout <= ping_interval {
            return Err(out_of_range(
                "WS_IDLE_TIMEOUT_MS",
                self.ws_idle_timeout_ms,
                format!(
                    "above WS_PING_INTERVAL_MS ({}), or every quiet peer would be dropped",
                    self.ws_ping_interval_ms
                ),
            ));
        }
        Ok(SessionSettings {
            init_timeout: millis("WS_INIT_TIMEOUT_MS", self.ws_init_timeout_ms)?,
            ping_interval,
            idle_timeout,
            send_timeout: millis("WS_SEND_TIMEOUT_MS", self.ws_send_timeout_ms)?,
            send_buffer: positive("WS_SEND_BUFFER", self.ws_send_buffer)?,
            max_subscriptions: positive("WS_MAX_SUBSCRIPTIONS", self.ws_max_subscriptions)?,
            read_buffer_bytes: positive("WS_READ_BUFFER_BYTES", self.ws_read_buffer_bytes)?,
            write_buffer_bytes: self.ws_write_buffer_bytes,
        })
    }

    fn metrics(&self) -> Result<MetricsSettings, ConfigError> {
        let listen = match non_empty(self.metrics_addr.clone()) {
            Some(text) => Some(
                text.trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| ConfigError::MetricsAddr(text.clone()))?,
            ),
            None => None,
        };
        Ok(MetricsSettings {
            listen,
            max_operation_names: positive(
                "METRICS_MAX_OPERATION_NAMES",
                self.metrics_max_operation_names,
            )?,
        })
    }
}

fn out_of_range(name: &'static str, value: impl ToString, expected: String) -> ConfigError {
    ConfigError::OutOfRange {
        name,
        value: value.to_string(),
        expected,
    }
}

fn positive(name: &'static str, value: usize) -> Result<usize, ConfigError> {
    if value == 0 {
        Err(ConfigError::NotPositive { name, value: 0 })
    } else {
        Ok(value)
    }
}

fn millis(name: &'static str, value: u64) -> Result<Duration, ConfigError> {
    if value == 0 {
        Err(ConfigError::NotPositive { name, value: 0 })
    } else {
        Ok(Duration::from_millis(value))
    }
}

/// `None` for a rate of 0 (unlimited). A burst below the batch size would refuse every full
/// batch forever, since a batch costs one token per operation.
fn quota(
    (rate_name, per_second): (&'static str, f64),
    (burst_name, burst): (&'static str, u32),
    max_batch_size: usize,
) -> Result<Option<Quota>, ConfigError> {
    if !per_second.is_finite() || per_second < 0.0 {
        return Err(out_of_range(
            rate_name,
            per_second,
            "a number of operations per second, 0 or more".to_owned(),
        ));
    }
    if per_second == 0.0 {
        return Ok(None);
    }
    if usize::try_from(burst).is_ok_and(|burst| burst < max_batch_size) {
        return Err(out_of_range(
            burst_name,
            burst,
            format!(
                "at least MAX_BATCH_SIZE ({max_batch_size}): a batch costs one token per operation"
            ),
        ));
    }
    Ok(Some(Quota { per_second, burst }))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

fn database_url(value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = non_empty(value) else {
        return Ok(None);
    };
    // Only the scheme goes into the message: the rest may hold a password.
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    if scheme == "postgres" || scheme == "postgresql" {
        Ok(Some(url))
    } else {
        Err(ConfigError::DatabaseUrl(scheme.to_owned()))
    }
}

fn validate_root_key(token: String) -> Result<ApiKeyToken, ConfigError> {
    // The key itself never goes into a message: it would end up in logs.
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ConfigError::RootKeyCharacters);
    }
    if token.len() < MIN_ROOT_KEY_LEN {
        return Err(ConfigError::RootKeyTooShort(token.len()));
    }
    Ok(ApiKeyToken::new(token))
}

pub(super) fn cors_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let valid = host.is_some_and(|host| {
                !host.is_empty()
                    && !host.contains('/')
                    && host.chars().all(|c| c.is_ascii_graphic())
            });
            if valid {
                Ok(origin.to_owned())
            } else {
                Err(ConfigError::CorsOrigin(origin.to_owned()))
            }
        })
        .collect()
}

pub(super) fn pool_config(
    max_connections: Option<u32>,
    min_connections: Option<u32>,
    acquire_timeout_ms: Option<u64>,
    statement_timeout_ms: Option<u64>,
) -> Result<PoolConfig, ConfigError> {
    if max_connections == Some(0) {
        return Err(ConfigError::NotPositive {
            name: "DB_MAX_CONNECTIONS",
            value: 0,
        });
    }
    if acquire_timeout_ms == Some(0) {
        return Err(ConfigError::NotPositive {
            name: "DB_ACQUIRE_TIMEOUT_MS",
            value: 0,
        });
    }
    let max =
        max_connections.unwrap_or(crate::adapters::seaorm::PoolSettings::default().max_connections);
    if let Some(min) = min_connections
        && min > max
    {
        return Err(out_of_range(
            "DB_MIN_CONNECTIONS",
            min,
            format!("at most DB_MAX_CONNECTIONS ({max})"),
        ));
    }
    Ok(PoolConfig {
        max_connections,
        min_connections,
        acquire_timeout: acquire_timeout_ms.map(Duration::from_millis),
        statement_timeout: statement_timeout_ms
            .map(|ms| (ms > 0).then(|| Duration::from_millis(ms))),
    })
}
