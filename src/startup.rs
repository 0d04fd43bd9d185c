//! The composition root: the one place that names concrete adapters and wires the store,
//! the services, the schema and the HTTP server together.

use crate::adapters::memory::MemoryStore;
use crate::adapters::seaorm::{PgStore, PoolSettings};
use crate::config::{PoolConfig, Settings};
use crate::graphql;
use crate::http::WsConfig;
use crate::http::{self, AppState};
use crate::ports::{RepoError, Store};
use crate::service::{Services, SubscriptionGauge};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Debug, Error)]
pub enum StartupError {
    #[error("could not connect to or migrate the database: {0}")]
    Database(RepoError),
    #[error("could not listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// A built application with its listener already bound, so `port()` is known before it runs.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    router: axum::Router,
    services: Services,
    /// Set when the server stops, so open websockets close with a proper frame: axum's
    /// graceful shutdown does not wait for upgraded connections.
    shutdown: watch::Sender<bool>,
}

impl Application {
    /// Picks the store from `settings.database_url` (PostgreSQL, migrated on connect) or
    /// the in-memory store, then binds.
    ///
    /// # Errors
    /// `Database` when PostgreSQL cannot be reached or migrated; `Bind` when the address is taken.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let store: Arc<dyn Store> = match &settings.database_url {
            Some(url) => Arc::new(connect_postgres(url, settings.pool).await?),
            None => Arc::new(MemoryStore::new()),
        };
        Self::with_store(settings, store).await
    }

    /// Like `build`, with a store made elsewhere (tests hand in a fresh database).
    ///
    /// # Errors
    /// `Bind` when the address is taken.
    pub async fn with_store(
        settings: Settings,
        store: Arc<dyn Store>,
    ) -> Result<Self, StartupError> {
        let services = Services::new(store, settings.root_key.token.clone());
        let schema = graphql::build_schema(services.clone());
        let (shutdown, shutdown_watch) = watch::channel(false);
        let ws = WsConfig {
            allowed_origins: settings.cors_allow_origins.clone(),
            shutdown: shutdown_watch,
            settings: settings.websocket,
        };
        let router = http::router(
            AppState::new(schema, services.clone(), ws),
            &settings.cors_allow_origins,
        );
        let requested = SocketAddr::new(settings.bind, settings.port);
        let listener = TcpListener::bind(requested)
            .await
            .map_err(|source| StartupError::Bind {
                address: requested,
                source,
            })?;
        let address = listener.local_addr()?;
        Ok(Self {
            listener,
            address,
            router,
            services,
            shutdown,
        })
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Open subscription streams; tests wait on it because graphql-transport-ws does not
    /// acknowledge `subscribe`.
    #[must_use]
    pub fn subscription_gauge(&self) -> SubscriptionGauge {
        self.services.subscription_gauge().clone()
    }

    /// Serves until SIGTERM or SIGINT, then finishes the requests in flight.
    ///
    /// # Errors
    /// When the server itself fails.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        self.run_with_shutdown(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then finishes the requests in flight.
    ///
    /// # Errors
    /// When the server itself fails.
    pub async fn run_with_shutdown(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let shutdown = self.shutdown;
        let signal = async move {
            signal.await;
            let _ = shutdown.send(true);
        };
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(signal)
            .await?;
        Ok(())
    }
}

/// Connects (which applies pending migrations), with the configured pool overrides.
///
/// # Errors
/// `Database` when PostgreSQL cannot be reached or migrated.
pub async fn connect_postgres(url: &str, pool: PoolConfig) -> Result<PgStore, StartupError> {
    PgStore::connect(url, pool_settings(pool))
        .await
        .map_err(StartupError::Database)
}

fn pool_settings(config: PoolConfig) -> PoolSettings {
    let mut settings = PoolSettings::default();
    if let Some(max) = config.max_connections {
        settings.max_connections = max;
        settings.min_connections = settings.min_connections.min(max);
    }
    if let Some(timeout) = config.acquire_timeout {
        settings.acquire_timeout = timeout;
    }
    if let Some(timeout) = config.statement_timeout {
        settings.statement_timeout = timeout;
    }
    settings
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "could not listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
