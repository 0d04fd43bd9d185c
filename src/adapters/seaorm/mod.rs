//! The PostgreSQL store: every `ports` trait over SeaORM, one transaction per unit of work.
//!
//! Reads apply the caller's `Scope` in SQL and batch child lists into one statement each;
//! writes run in a single transaction with their audit row, so nothing is ever half written.

mod convert;
mod error;
mod events;
mod filters;
mod listener;
mod position_reads;
mod reads;
mod repos;
mod unit_of_work;
mod window;
mod writes;

use crate::ports::{RepoError, RepoResult};
use error::map_db_err;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Every instance migrating the same database takes this advisory lock first, so two servers
/// starting together apply each migration once instead of racing on `CREATE TABLE`.
const MIGRATION_LOCK_KEY: i64 = 0x6573_6372_6f77_6d67; // "escrowmg"

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
            min_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// The PostgreSQL adapter. Cheap to clone: clones share the pool and the statement counter.
#[derive(Clone, Debug)]
pub struct PgStore {
    db: DatabaseConnection,
    statements: Arc<AtomicU64>,
    /// This instance's subscribers hear committed events from here (fed by the listener).
    bus: crate::adapters::broadcast::Broadcaster,
    /// `None` only on the listener's own reading clone.
    listener: Option<Arc<listener::ListenerHandle>>,
}

impl PgStore {
    /// Opens the pool and applies pending migrations (serialized across instances).
    ///
    /// # Errors
    /// `Unavailable` when PostgreSQL cannot be reached; `Internal` when a migration fails.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, RepoError> {
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(settings.max_connections)
            .min_connections(settings.min_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_timeout(settings.connect_timeout)
            // sqlx would log every statement with its parameters (key hashes among them); a
            // failure reaches the log through RepoError instead.
            .sqlx_logging(false);
        if let Some(timeout) = settings.statement_timeout {
            // Sent as a startup parameter, so it holds on every pooled connection from the start.
            options.statement_timeout(timeout);
        }
        let mut db = Database::connect(options).await.map_err(map_db_err)?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&statements);
        // Set before the pool is cloned anywhere: clones copy the callback, and transactions
        // inherit it, so statements inside a transaction are counted too.
        db.set_metric_callback(move |_info| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let bus = crate::adapters::broadcast::Broadcaster::default();
        let mut store = Self {
            db,
            statements,
            bus: bus.clone(),
            listener: None,
        };
        store.migrate().await?;
        // The listener reads through its own small pool: its background reads must not count
        // as request statements, nor wait behind busy requests for a pooled connection.
        let mut listener_options = ConnectOptions::new(url);
        listener_options
            .max_connections(2)
            .min_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect_timeout(settings.connect_timeout)
            .sqlx_logging(false);
        let reader = Self {
            db: Database::connect(listener_options)
                .await
                .map_err(map_db_err)?,
            statements: Arc::new(AtomicU64::new(0)),
            bus: bus.clone(),
            listener: None,
        };
        store.listener = Some(listener::spawn(reader, bus));
        Ok(store)
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

    /// The pool, for adapters that share it (the event listener) and for tests.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Closes the pool; queries afterwards fail `Unavailable`.
    ///
    /// # Errors
    /// `Unavailable` when closing fails.
    pub async fn close(&self) -> RepoResult<()> {
        self.db.close_by_ref().await.map_err(map_db_err)
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

    async fn ping_db(&self) -> RepoResult<()> {
        self.db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT 1"))
            .await
            .map(drop)
            .map_err(|e| RepoError::Unavailable(e.to_string()))
    }

    fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}
