//! The request pool hands out connections without pinging them first: that ping is a round
//! trip per statement, and dropping it made point reads about 10 % faster
//! (docs/benchmarks.md). sqlx still pings every connection when it comes back, so a connection
//! is known alive when it goes idle; what the ping on acquire would catch is one that died
//! while idle (PostgreSQL restarted, its backend was terminated, a proxy dropped it). Such a
//! connection fails its next statement before PostgreSQL runs anything, so the statements that
//! are safe to send twice are sent again on another connection: reads, `BEGIN` (nothing has
//! happened in a transaction yet), and the audit insert keyed by its row's id. Every other
//! write runs inside a transaction, after a `BEGIN` that went through. The dead connection
//! fails its ping on the way back and is closed.

use super::error::connection_lost;
use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait as _,
};
use std::future::Future;

/// The request pool: every dead idle connection can fail one attempt, so a statement is tried
/// at most once per pooled connection, and once more on a fresh one.
#[derive(Clone, Debug)]
pub(crate) struct Reconnecting {
    db: DatabaseConnection,
    attempts: u32,
}

impl Reconnecting {
    pub(crate) fn new(db: DatabaseConnection, max_connections: u32) -> Self {
        Self {
            db,
            attempts: max_connections.saturating_add(1),
        }
    }

    pub(crate) fn inner(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.again_on_lost_connection(|| self.db.begin()).await
    }

    pub(crate) async fn again_on_lost_connection<T, F, Fut>(&self, attempt: F) -> Result<T, DbErr>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        let mut tried = 1;
        loop {
            match attempt().await {
                Err(error) if tried < self.attempts && connection_lost(&error) => {
                    tracing::info!(%error, "a pooled connection was gone; trying another");
                    tried += 1;
                }
                done => return done,
            }
        }
    }
}

#[async_trait]
impl ConnectionTrait for Reconnecting {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Not repeated: outside a transaction a write may have committed before its connection
    /// broke.
    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.db.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.again_on_lost_connection(|| self.db.query_one_raw(stmt.clone()))
            .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.again_on_lost_connection(|| self.db.query_all_raw(stmt.clone()))
            .await
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.db.is_mock_connection()
    }
}
