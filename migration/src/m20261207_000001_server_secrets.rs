//! Secrets every instance on this database must share, created once by whichever instance
//! needs one first. The first is the key that seals `PositionEvent.cursor`: kept with the data
//! rather than in each instance's configuration, so a cursor issued by one instance resumes on
//! any other, and one issued before a restart resumes after it, with nothing to configure.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}

const UP: &str = r"
CREATE TABLE IF NOT EXISTS server_secrets (
    name text CONSTRAINT server_secrets_pkey PRIMARY KEY,
    secret bytea NOT NULL CONSTRAINT server_secrets_secret_check CHECK (octet_length(secret) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
";

const DOWN: &str = "DROP TABLE IF EXISTS server_secrets;";
