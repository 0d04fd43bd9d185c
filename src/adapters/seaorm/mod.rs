//! The PostgreSQL store: every `ports` trait over SeaORM, one transaction per unit of work.
//!
//! Reads apply the caller's `Scope` in SQL and batch child lists into one statement each;
//! writes run in a single transaction with their audit row, so nothing is ever half written.
//! One module per aggregate implements its port trait, as in the memory adapter; `convert`,
//! `error`, `filters`, `select` and `window` are the SQL helpers they share.

mod api_keys;
mod assets;
mod audit;
mod convert;
mod error;
mod events;
mod filters;
mod institutions;
mod ledger;
mod listener;
pub use listener::ListenerStatus;
mod nodes;
mod notifier;
mod policies;
mod positions;
mod reconnect;
mod secrets;
mod select;
mod templates;
mod unit_statement;
mod window;

use crate::ports::{PositionEventLog as _, RepoError, RepoResult, StoreHealth};
use async_trait::async_trait;
use error::map_db_err;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Every instance migrating the same database takes this advisory lock first, so two servers
/// starting together apply each migration once instead of racing on `CREATE TABLE`.
const MIGRATION_LOCK_KEY: i64 = 0x6573_6372_6f77_6d67; // "escrowmg"
/// Our transactions run their statements back to back; one idle this long has been abandoned.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "15s";

/// The listener's pool: one connection LISTENs, one reads the log, one notifies.
const LISTENER_CONNECTIONS: u32 = 3;

/// Connection pool settings; `Default` gives the production defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long a query waits for a free pooled connection before failing `Unavailable`.
    pub acquire_timeout: Duration,
    /// How long opening a new connection may take.
    pub connect_timeout: Duration,
    /// PostgreSQL's `statement_timeout` for every pooled connection; `None` leaves the server's.
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            // Warm, and kept warm: a connection opened on the request path costs PostgreSQL a
            // backend start and the request its wait, at the worst moment (under load).
            min_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// Upper bounds, in seconds, of the statement latency buckets: 1 ms to 10 s (the default
/// statement timeout).
pub const STATEMENT_LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Latency of the statements SeaORM times, kept with atomics because the metric callback runs
/// on every statement of every request.
#[derive(Debug, Default)]
struct StatementTimer {
    /// One more than the bounds: the last bucket is `+Inf`.
    buckets: [AtomicU64; STATEMENT_LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    failed: AtomicU64,
}

impl StatementTimer {
    fn observe(&self, elapsed: Duration, failed: bool) {
        let seconds = elapsed.as_secs_f64();
        let bucket = STATEMENT_LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(STATEMENT_LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A snapshot of statement latency: per-bucket counts (not cumulative; the last is `+Inf`)
/// against `STATEMENT_LATENCY_BUCKETS`, their sum, and how many statements failed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementTimings {
    pub counts: Vec<u64>,
    pub sum_seconds: f64,
    pub failed: u64,
}

/// The PostgreSQL adapter. Cheap to clone: clones share the pool and the statement counter.
#[derive(Clone, Debug)]
pub struct PgStore {
    db: reconnect::Reconnecting,
    statements: Arc<AtomicU64>,
    timer: Arc<StatementTimer>,
    /// This instance's subscribers hear committed events from here (fed by the listener).
    bus: crate::adapters::broadcast::Broadcaster,
    /// `None` only on the listener's own reading clone.
    listener: Option<Arc<listener::ListenerHandle>>,
    /// Announces committed position events to every instance; `None` on the reading clone.
    notifier: Option<Arc<notifier::Notifier>>,
    /// Shared through the database by every instance on it (`secrets.rs`).
    cursor_key: crate::ports::EventCursorKey,
}

impl PgStore {
    /// Opens the pool and applies pending migrations (serialized across instances).
    ///
    /// # Errors
    /// `Unavailable` when PostgreSQL cannot be reached; `Internal` when a migration fails.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, RepoError> {
        let min_connections = settings.min_connections.min(settings.max_connections);
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(settings.max_connections)
            .min_connections(min_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_timeout(settings.connect_timeout)
            // sqlx would log every statement with its parameters (key hashes among them); a
            // failure reaches the log through RepoError instead.
            .sqlx_logging(false)
            // A round trip per statement; `reconnect` covers what it would catch.
            .test_before_acquire(false);
        if let Some(timeout) = settings.statement_timeout {
            // Sent as a startup parameter, so it holds on every pooled connection from the start.
            options.statement_timeout(timeout);
        }
        // An open transaction holds back the event log's watermark, and with it every live
        // event of every instance: one of ours left open (a frozen process) must end.
        options.map_sqlx_postgres_opts(|pg| {
            pg.options([(
                "idle_in_transaction_session_timeout",
                IDLE_IN_TRANSACTION_TIMEOUT,
            )])
        });
        let mut db = Database::connect(options).await.map_err(map_db_err)?;
        let statements = Arc::new(AtomicU64::new(0));
        let timer = Arc::new(StatementTimer::default());
        let (counter, timing) = (Arc::clone(&statements), Arc::clone(&timer));
        // Set before the pool is cloned anywhere: clones copy the callback, and transactions
        // inherit it, so statements inside a transaction are counted and timed too.
        db.set_metric_callback(move |info| {
            counter.fetch_add(1, Ordering::Relaxed);
            timing.observe(info.elapsed, info.failed);
            crate::telemetry::statement_finished(info.elapsed, info.failed, &info.statement.sql);
        });
        let bus = crate::adapters::broadcast::Broadcaster::default();
        let mut store = Self {
            db: reconnect::Reconnecting::new(db, settings.max_connections),
            statements,
            timer,
            bus: bus.clone(),
            listener: None,
            notifier: None,
            cursor_key: crate::ports::EventCursorKey::default(),
        };
        store.migrate().await?;
        store.cursor_key = store.load_event_cursor_key().await?;
        store.warm(min_connections).await?;
        // The listener and the notifier work through their own small pool (one connection
        // LISTENs, one reads the log, one notifies): background statements must not count as
        // request statements, nor wait behind busy requests for a pooled connection. Nothing
        // on it writes data, so its commits need not wait for the WAL flush: that keeps a
        // notification's hold on PostgreSQL's notify lock short (see `notifier.rs`).
        let mut listener_options = ConnectOptions::new(url);
        listener_options
            .max_connections(LISTENER_CONNECTIONS)
            .min_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect_timeout(settings.connect_timeout)
            .sqlx_logging(false)
            .map_sqlx_postgres_opts(|pg| pg.options([("synchronous_commit", "off")]));
        let reader = Self {
            db: reconnect::Reconnecting::new(
                Database::connect(listener_options)
                    .await
                    .map_err(map_db_err)?,
                LISTENER_CONNECTIONS,
            ),
            statements: Arc::new(AtomicU64::new(0)),
            timer: Arc::new(StatementTimer::default()),
            bus: bus.clone(),
            listener: None,
            notifier: None,
            cursor_key: store.cursor_key.clone(),
        };
        // Fixed before `connect` returns, so no subscription on this instance can start from
        // an earlier point than the listener publishes from.
        let start = reader.event_watermark().await?;
        store.notifier = Some(Arc::new(notifier::Notifier::spawn(reader.clone())));
        store.listener = Some(listener::spawn(reader, bus, start));
        Ok(store)
    }

    /// Opens the pool's minimum now, so the first requests (and `/ready`) find the
    /// connections open: holding each one while acquiring the next makes the pool open a new
    /// one every time, up to `connections`.
    async fn warm(&self, connections: u32) -> RepoResult<()> {
        let pool = self.db.inner().get_postgres_connection_pool();
        let mut held = Vec::new();
        while pool.size() < connections && held.len() < connections as usize {
            held.push(pool.acquire().await.map_err(|error| {
                RepoError::Unavailable(format!("could not open the pool's connections: {error}"))
            })?);
        }
        Ok(())
    }

    /// Applies pending migrations while holding a transaction-scoped advisory lock, so a
    /// second instance waits for the first and then finds nothing to do.
    async fn migrate(&self) -> RepoResult<()> {
        let txn = self.begin().await?;
        let result = async {
            // The lock wait and the DDL may outlast the pool's statement timeout.
            txn.execute_raw(Statement::from_string(
                DbBackend::Postgres,
                "SET LOCAL statement_timeout = 0",
            ))
            .await
            .map_err(map_db_err)?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await
            .map_err(map_db_err)?;
            // Each migration runs in a savepoint of this transaction; the lock is released at
            // commit, after the `seaql_migrations` rows are visible to the next instance.
            Migrator::up(&txn, None)
                .await
                .map_err(|e| RepoError::Internal(format!("migration failed: {e}")))
        }
        .await;
        self.finish(txn, result).await
    }

    /// Latency of the request statements so far (the listener's own reads are not included).
    /// A method of this adapter, not of the `StoreHealth` port: only PostgreSQL has statements
    /// to time, and the composition root, which knows the concrete store, hands this to the
    /// metrics page.
    #[must_use]
    pub fn listener_status(&self) -> ListenerStatus {
        self.listener
            .as_ref()
            .map(|listener| listener.status())
            .unwrap_or_default()
    }

    #[must_use]
    pub fn statement_timings(&self) -> StatementTimings {
        StatementTimings {
            counts: self
                .timer
                .buckets
                .iter()
                .map(|bucket| bucket.load(Ordering::Relaxed))
                .collect(),
            // Microseconds in an f64 are exact up to 2^53 µs, about 285 years.
            sum_seconds: self.timer.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            failed: self.timer.failed.load(Ordering::Relaxed),
        }
    }

    /// The pool, for adapters that share it (the event listener) and for tests.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        self.db.inner()
    }

    /// Closes the pool; queries afterwards fail `Unavailable`.
    ///
    /// # Errors
    /// `Unavailable` when closing fails.
    pub async fn close(&self) -> RepoResult<()> {
        // First, while the listener's pool it sends through is still open.
        if let Some(notifier) = &self.notifier {
            notifier.shutdown().await;
        }
        if let Some(listener) = &self.listener {
            listener.shutdown().await;
        }
        self.db.inner().close_by_ref().await.map_err(map_db_err)
    }

    /// Wakes every instance's listener for a position event of transaction `txn`, which has
    /// committed.
    fn announce_commit(&self, txn: i64) {
        if let Some(notifier) = &self.notifier {
            notifier.committed(txn);
        }
    }

    /// Begins a transaction; `BEGIN` is a statement too, so it is counted.
    async fn begin(&self) -> RepoResult<DatabaseTransaction> {
        self.count_unseen(1);
        self.db.begin().await.map_err(map_db_err)
    }

    /// Commits on `Ok` and rolls back on `Err`, explicitly, so the connection goes back to the
    /// pool clean and the statement counter sees the `COMMIT`/`ROLLBACK`.
    async fn finish<T>(&self, txn: DatabaseTransaction, result: RepoResult<T>) -> RepoResult<T> {
        match result {
            Ok(value) => {
                self.count_unseen(1);
                txn.commit().await.map_err(map_db_err)?;
                Ok(value)
            }
            Err(error) => {
                self.rollback(txn).await;
                Err(error)
            }
        }
    }

    /// Rolls back explicitly. A failed rollback is only logged: the caller's own outcome is
    /// what matters, and PostgreSQL discards an unfinished transaction with its connection.
    async fn rollback(&self, txn: DatabaseTransaction) {
        self.count_unseen(1);
        if let Err(error) = txn.rollback().await {
            tracing::warn!(%error, "rollback failed");
        }
    }

    /// For statements the metric callback does not see (`BEGIN`, `COMMIT`, `ROLLBACK`).
    fn count_unseen(&self, statements: u64) {
        self.statements.fetch_add(statements, Ordering::Relaxed);
    }
}

#[async_trait]
impl StoreHealth for PgStore {
    async fn ping(&self) -> RepoResult<()> {
        self.db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT 1"))
            .await
            .map(drop)
            .map_err(|e| RepoError::Unavailable(e.to_string()))
    }

    fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}
