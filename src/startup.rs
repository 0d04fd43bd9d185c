//! The composition root: the one place that names concrete adapters and wires the store,
//! the services, the schema and the HTTP server together, and that runs the shutdown.
//!
//! Shutdown, on SIGTERM or SIGINT: `/ready` turns 503 and websockets close with 1001 at once;
//! after `SHUTDOWN_DRAIN_MS` the listeners stop accepting; requests in flight finish, all
//! within `SHUTDOWN_TIMEOUT_MS` of the signal; then the pool closes. Whatever is still running
//! at the deadline is cancelled, which rolls back its transaction (every write is one).

use crate::adapters::memory::MemoryStore;
use crate::adapters::seaorm::{PgStore, PoolSettings, STATEMENT_LATENCY_BUCKETS};
use crate::config::{PoolConfig, Settings, ShutdownSettings};
use crate::graphql;
use crate::http::{
    self, AppState, ClientLimits, HistogramSnapshot, HttpOptions, Sessions, StatementStats,
    StatementStatsSource, WsConfig,
};
use crate::ports::{RepoError, Store};
use crate::service::{Services, SubscriptionGauge};
use std::future::{Future, IntoFuture as _};
use std::net::SocketAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout_at};

/// Time the pool gets to close when the shutdown deadline has already passed.
const POOL_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_millis(50);

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

/// A built application with its listeners already bound, so `port()` is known before it runs.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    router: axum::Router,
    /// The per-client limits the accept loop enforces (shared with the handlers).
    clients: Arc<ClientLimits>,
    /// How often counted refusals are written as summary audit rows.
    refusal_flush_interval: std::time::Duration,
    /// The `METRICS_ADDR` listener and its router, when configured.
    metrics: Option<(TcpListener, axum::Router)>,
    services: Services,
    /// Set when shutdown begins, so `/ready` answers 503 and open websockets close with a
    /// proper frame: axum's graceful shutdown does not wait for upgraded connections.
    shutdown: watch::Sender<bool>,
    sessions: Sessions,
    shutdown_settings: ShutdownSettings,
    /// The pool to close last, when this application opened it.
    postgres: Option<PgStore>,
}

impl Application {
    /// Picks the store from `settings.database_url` (PostgreSQL, migrated on connect) or
    /// the in-memory store, then binds.
    ///
    /// # Errors
    /// `Database` when PostgreSQL cannot be reached or migrated; `Bind` when an address is taken.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        match &settings.database_url {
            Some(url) => {
                let store = connect_postgres(url, settings.pool).await?;
                Self::with_postgres(settings, store).await
            }
            None => Self::with_store(settings, Arc::new(MemoryStore::new())).await,
        }
    }

    /// Like `build`, with a PostgreSQL store made elsewhere: its statement latency is on
    /// `/metrics`, and its pool is closed at shutdown.
    ///
    /// # Errors
    /// `Bind` when an address is taken.
    pub async fn with_postgres(settings: Settings, store: PgStore) -> Result<Self, StartupError> {
        let timed = store.clone();
        let stats: StatementStatsSource = Arc::new(move || statement_stats(&timed));
        Self::assemble(settings, Arc::new(store.clone()), Some(store), Some(stats)).await
    }

    /// Like `build`, with any store made elsewhere (tests hand in a fresh database); the
    /// caller keeps the store's lifecycle.
    ///
    /// # Errors
    /// `Bind` when an address is taken.
    pub async fn with_store(
        settings: Settings,
        store: Arc<dyn Store>,
    ) -> Result<Self, StartupError> {
        Self::assemble(settings, store, None, None).await
    }

    async fn assemble(
        settings: Settings,
        store: Arc<dyn Store>,
        postgres: Option<PgStore>,
        statement_stats: Option<StatementStatsSource>,
    ) -> Result<Self, StartupError> {
        let services = Services::new(store, settings.root_key.token.clone())
            .with_key_cache(settings.key_cache.clone());
        services
            .refusals()
            .set_max_groups(settings.clients.refusal_max_groups);
        let refusal_flush_interval = settings.clients.refusal_flush_interval;
        let executor = graphql::Executor::new(
            graphql::build_schema_with(services.clone(), &settings.schema),
            graphql::build_fast_schema(services.clone(), &settings.schema),
            graphql::build_trusted_schema(services.clone(), &settings.schema),
            settings.schema.clone(),
            settings.document_cache,
            settings.persisted.clone(),
        );
        let (shutdown, shutdown_watch) = watch::channel(false);
        let sessions = Sessions::default();
        let ws = WsConfig {
            allowed_origins: settings.cors_allow_origins.clone(),
            shutdown: shutdown_watch,
            settings: settings.websocket,
            sessions: sessions.clone(),
        };
        let options = HttpOptions {
            http: settings.http,
            schema: settings.schema.clone(),
            rate_limit: settings.rate_limit,
            clients: settings.clients.clone(),
            metrics: settings.metrics,
            statement_stats,
        };
        let state = AppState::new(executor, services.clone(), ws, options);
        let router = http::router(state.clone(), &settings.cors_allow_origins);
        let clients = Arc::clone(state.clients());
        let listener = bind(SocketAddr::new(settings.bind, settings.port)).await?;
        let address = listener.local_addr()?;
        let metrics = match settings.metrics.listen {
            Some(requested) => Some((bind(requested).await?, http::metrics_router(state))),
            None => None,
        };
        Ok(Self {
            listener,
            address,
            router,
            clients,
            refusal_flush_interval,
            metrics,
            services,
            shutdown,
            sessions,
            shutdown_settings: settings.shutdown,
            postgres,
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

    /// Where `/metrics` is served without a key, when `METRICS_ADDR` is set.
    #[must_use]
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Open subscription streams; tests wait on it because graphql-transport-ws does not
    /// acknowledge `subscribe`.
    #[must_use]
    pub fn subscription_gauge(&self) -> SubscriptionGauge {
        self.services.subscription_gauge().clone()
    }

    /// Writes the refusals counted so far as summary audit rows, now rather than at the next
    /// interval (tests call it instead of waiting).
    #[must_use]
    pub fn refusal_audit(&self) -> RefusalAudit {
        RefusalAudit(self.services.clone())
    }

    /// Serves until SIGTERM or SIGINT, then shuts down (see the module documentation).
    ///
    /// # Errors
    /// When the server itself fails.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        self.run_with_shutdown(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then shuts down (see the module documentation).
    ///
    /// # Errors
    /// When the server itself fails.
    pub async fn run_with_shutdown(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let Self {
            listener,
            router,
            clients,
            refusal_flush_interval,
            metrics,
            services,
            shutdown,
            sessions,
            shutdown_settings,
            postgres,
            ..
        } = self;
        // Flipped after the drain: both listeners stop accepting then.
        let (stop_accepting, accepting) = watch::channel(false);
        let metrics_server = metrics.map(|(listener, router)| {
            tokio::spawn(
                axum::serve(listener, router)
                    .with_graceful_shutdown(flipped(accepting.clone()))
                    .into_future(),
            )
        });
        let server = http::serve(listener, router, clients, flipped(accepting));
        tokio::pin!(server);
        let flusher = tokio::spawn(flush_refusals_every(
            services.clone(),
            refusal_flush_interval,
        ));

        tokio::select! {
            served = &mut server => return served.map_err(StartupError::from),
            () = signal => {}
        }
        let deadline = Instant::now() + shutdown_settings.timeout;
        tracing::info!(
            timeout_ms = millis(shutdown_settings.timeout),
            drain_ms = millis(shutdown_settings.drain),
            "shutting down: /ready is 503, websockets are closing"
        );
        let _ = shutdown.send(true);
        if !shutdown_settings.drain.is_zero() {
            tokio::select! {
                served = &mut server => served?,
                () = sleep(shutdown_settings.drain) => {}
            }
        }
        let _ = stop_accepting.send(true);
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        let finished = match timeout_at(deadline, &mut server).await {
            Ok(served) => {
                served?;
                true
            }
            Err(_) => false,
        };
        let sockets_closed = timeout_at(deadline, sessions.all_closed()).await.is_ok();
        if let Some(task) = metrics_server {
            task.abort();
        }
        flusher.abort();
        // What was counted since the last interval, while the store is still open.
        if timeout_at(
            deadline.max(Instant::now() + POOL_CLOSE_GRACE),
            services.flush_refusals(),
        )
        .await
        .is_err()
        {
            tracing::warn!("the refused attempts counted last could not be written in time");
        }
        if !finished || !sockets_closed {
            tracing::warn!(
                requests_finished = finished,
                websockets_closed = sockets_closed,
                "shutdown deadline reached; cancelling what is left (open transactions roll back)"
            );
        }
        if let Some(store) = postgres {
            // Closing waits for checked-out connections; one held by a request cancelled at
            // the deadline must not keep the process alive past it.
            let until = deadline.max(Instant::now() + POOL_CLOSE_GRACE);
            match timeout_at(until, store.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "could not close the database pool"),
                Err(_) => tracing::warn!("the database pool did not close in time"),
            }
        }
        tracing::info!("shut down");
        Ok(())
    }
}

/// A handle that writes counted refusals as audit rows on demand.
#[derive(Clone)]
pub struct RefusalAudit(Services);

impl RefusalAudit {
    /// Writes the summary rows owed so far; returns how many were written.
    pub async fn flush(&self) -> usize {
        self.0.flush_refusals().await
    }
}

async fn flush_refusals_every(services: Services, interval: std::time::Duration) {
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        services.flush_refusals().await;
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartupError::Bind { address, source })
}

/// Resolves once `watch` holds `true` (or its sender is gone).
async fn flipped(mut watch: watch::Receiver<bool>) {
    let _ = watch.wait_for(|flag| *flag).await;
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The adapter's statement latency in the HTTP layer's terms: the adapter knows nothing of
/// HTTP, and the HTTP layer nothing of adapters.
fn statement_stats(store: &PgStore) -> StatementStats {
    let timings = store.statement_timings();
    let listener = store.listener_status();
    StatementStats {
        listener_up: listener.listening,
        listener_starts: listener.starts,
        events_held_back: listener.awaited_txn > listener.published_txn,
        latency: HistogramSnapshot {
            bounds: STATEMENT_LATENCY_BUCKETS.to_vec(),
            counts: timings.counts,
            sum_seconds: timings.sum_seconds,
        },
        failed: timings.failed,
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
    }
    // Unless told otherwise, the whole pool is opened at start and kept open.
    settings.min_connections = config
        .min_connections
        .unwrap_or(settings.max_connections)
        .min(settings.max_connections);
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
}
