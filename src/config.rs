//! Typed settings from flags and environment, validated once at start so a bad value stops
//! the process with a message naming it instead of surfacing later as a confusing failure.

use crate::service::ApiKeyToken;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal as _;
use std::net::IpAddr;
use std::time::Duration;
use thiserror::Error;

/// Shorter root keys are refused: the root key can do everything, so it must not be guessable.
pub const MIN_ROOT_KEY_LEN: usize = 32;

#[derive(Debug, Parser)]
#[command(
    name = "escrowgrid",
    version,
    about = "GraphQL gateway for escrow positions"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub args: SettingsArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations to DATABASE_URL and exit.
    Migrate,
    /// Print the GraphQL SDL and exit.
    PrintSchema,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Raw flags and environment; `global` so they work before or after the subcommand.
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1", global = true)]
    pub bind: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 4000, global = true)]
    pub port: u16,
    /// postgres://… URL; unset means the in-memory store.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Root API key (at least 32 characters); unset means a random one, printed once at start.
    #[arg(long, env = "ROOT_API_KEY", global = true, hide_env_values = true)]
    pub root_api_key: Option<String>,
    /// Comma-separated origins allowed by CORS (e.g. https://app.example.com); none by default.
    #[arg(long, env = "CORS_ALLOW_ORIGINS", global = true)]
    pub cors_allow_origin: Option<String>,
    /// Log format; defaults to pretty on a terminal and json otherwise.
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Maximum pooled PostgreSQL connections.
    #[arg(long, env = "DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,
    /// How long a query waits for a pooled connection, in milliseconds.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", global = true)]
    pub db_acquire_timeout_ms: Option<u64>,
    /// PostgreSQL statement_timeout in milliseconds; 0 keeps the server's setting.
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_MS", global = true)]
    pub db_statement_timeout_ms: Option<u64>,
}

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
    pub acquire_timeout: Option<Duration>,
    /// `Some(None)` switches the timeout off.
    pub statement_timeout: Option<Option<Duration>>,
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
    pub websocket: crate::http::SessionSettings,
}

impl Settings {
    /// Loopback, memory store, no CORS: the shape tests start from (they set `port` to 0).
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
            websocket: crate::http::SessionSettings::default(),
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
}

impl SettingsArgs {
    /// # Errors
    /// A `ConfigError` naming the first bad value.
    pub fn into_settings(self) -> Result<Settings, ConfigError> {
        let bind = self
            .bind
            .parse::<IpAddr>()
            .map_err(|_| ConfigError::Bind(self.bind.clone()))?;
        let database_url = database_url(self.database_url)?;
        let root_key = match non_empty(self.root_api_key) {
            Some(token) => RootKey {
                token: validate_root_key(token)?,
                generated: false,
            },
            None => RootKey {
                token: ApiKeyToken::generate(),
                generated: true,
            },
        };
        let cors_allow_origins = match non_empty(self.cors_allow_origin) {
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
                self.db_acquire_timeout_ms,
                self.db_statement_timeout_ms,
            )?,
            websocket: crate::http::SessionSettings::default(),
        })
    }

    /// What `migrate` needs: a database URL and pool settings, nothing else.
    ///
    /// # Errors
    /// `DatabaseUrlMissing` or the first bad value.
    pub fn migrate_target(&self) -> Result<(String, PoolConfig), ConfigError> {
        let url =
            database_url(self.database_url.clone())?.ok_or(ConfigError::DatabaseUrlMissing)?;
        let pool = pool_config(
            self.db_max_connections,
            self.db_acquire_timeout_ms,
            self.db_statement_timeout_ms,
        )?;
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

fn cors_origins(list: &str) -> Result<Vec<String>, ConfigError> {
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

fn pool_config(
    max_connections: Option<u32>,
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
    Ok(PoolConfig {
        max_connections,
        acquire_timeout: acquire_timeout_ms.map(Duration::from_millis),
        statement_timeout: statement_timeout_ms
            .map(|ms| (ms > 0).then(|| Duration::from_millis(ms))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> SettingsArgs {
        let mut argv = vec!["escrowgrid"];
        argv.extend_from_slice(list);
        Cli::parse_from(argv).args
    }

    #[test]
    fn short_root_key_is_refused_with_its_length() {
        let error = args(&["--root-api-key", "short"])
            .into_settings()
            .expect_err("must be refused");
        assert_eq!(error, ConfigError::RootKeyTooShort(5));
        assert!(error.to_string().contains("ROOT_API_KEY"));
    }

    #[test]
    fn missing_root_key_is_generated() {
        // An empty flag wins over any ROOT_API_KEY in the environment running the tests.
        let settings = args(&["--root-api-key", ""])
            .into_settings()
            .expect("valid");
        assert!(settings.root_key.generated);
        assert!(settings.root_key.token.expose().len() >= MIN_ROOT_KEY_LEN);
    }

    #[test]
    fn foreign_database_scheme_is_named() {
        let error = args(&["--database-url", "mysql://u:secret@h/db"])
            .into_settings()
            .expect_err("must be refused");
        assert_eq!(error, ConfigError::DatabaseUrl("mysql".into()));
        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn cors_origins_are_split_and_checked() {
        assert_eq!(
            cors_origins("https://a.example, http://localhost:3000").expect("valid"),
            vec!["https://a.example", "http://localhost:3000"]
        );
        assert_eq!(
            cors_origins("https://a.example/path").expect_err("must be refused"),
            ConfigError::CorsOrigin("https://a.example/path".into())
        );
    }

    #[test]
    fn flags_work_after_the_subcommand() {
        let cli = Cli::parse_from(["escrowgrid", "serve", "--port", "5000", "--bind", "0.0.0.0"]);
        assert_eq!(cli.command, Some(Command::Serve));
        let settings = cli.args.into_settings().expect("valid");
        assert_eq!(settings.port, 5000);
        assert_eq!(settings.bind, IpAddr::from([0, 0, 0, 0]));
    }

    #[test]
    fn zero_statement_timeout_switches_it_off() {
        let pool = pool_config(None, None, Some(0)).expect("valid");
        assert_eq!(pool.statement_timeout, Some(None));
        assert!(pool_config(Some(0), None, None).is_err());
    }

    #[test]
    fn bad_bind_address_is_named() {
        let error = args(&["--bind", "localhost"])
            .into_settings()
            .expect_err("must be refused");
        assert_eq!(error, ConfigError::Bind("localhost".into()));
    }
}
