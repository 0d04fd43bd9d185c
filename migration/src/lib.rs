//! Database migrations for escrowgrid (PostgreSQL only), applied by `escrowgrid migrate` and at start.
//!
//! This crate deliberately does not depend on `entity`: a migration is history, and history must
//! not change when today's entities do.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_initial;
mod m20261204_000001_event_txn;
mod m20261207_000001_server_secrets;
mod m20261207_000002_notify_after_commit;

/// Every migration, oldest first; the `seaql_migrations` table records which have run.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_initial::Migration),
            Box::new(m20261204_000001_event_txn::Migration),
            Box::new(m20261207_000001_server_secrets::Migration),
            Box::new(m20261207_000002_notify_after_commit::Migration),
        ]
    }
}
