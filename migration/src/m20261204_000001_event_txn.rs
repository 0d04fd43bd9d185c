//! Position events record the id of the transaction that wrote them (`txn`), so the log can be
//! read in (`txn`, `seq`) order below the oldest still-running transaction instead of making
//! every writer wait for every other one's COMMIT under one advisory lock. The ordering argument
//! is in `docs/event-log.md`.
//!
//! Rows written before this migration get `txn = 0`: they were ordered by `seq` under the old
//! lock, and every later transaction id is above 0, so they keep their order and come first.
//! The NOTIFY payload becomes the writer's `txn`, which tells a listener how far the log's
//! watermark must advance before the notified event is readable.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let up = format!("{UP}{}", notify_with("txn"));
        manager.get_connection().execute_unprepared(&up).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let down = format!("{}{DOWN}", notify_with("seq"));
        manager.get_connection().execute_unprepared(&down).await?;
        Ok(())
    }
}

// A constant default first, so existing rows are filled without a table rewrite; only then the
// per-transaction default for new rows.
const UP: &str = r#"
ALTER TABLE position_events ADD COLUMN IF NOT EXISTS txn bigint NOT NULL DEFAULT 0;
ALTER TABLE position_events ALTER COLUMN txn SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX IF NOT EXISTS position_events_txn_seq_idx ON position_events (txn, seq);
CREATE INDEX IF NOT EXISTS position_events_institution_id_txn_seq_idx
    ON position_events (institution_id, txn, seq);
CREATE INDEX IF NOT EXISTS position_events_asset_id_txn_seq_idx
    ON position_events (asset_id, txn, seq);
DROP INDEX IF EXISTS position_events_institution_id_seq_idx;
DROP INDEX IF EXISTS position_events_asset_id_seq_idx;
"#;

const DOWN: &str = r#"
CREATE INDEX IF NOT EXISTS position_events_institution_id_seq_idx
    ON position_events (institution_id, seq);
CREATE INDEX IF NOT EXISTS position_events_asset_id_seq_idx
    ON position_events (asset_id, seq);
DROP INDEX IF EXISTS position_events_txn_seq_idx;
DROP INDEX IF EXISTS position_events_institution_id_txn_seq_idx;
DROP INDEX IF EXISTS position_events_asset_id_txn_seq_idx;
ALTER TABLE position_events DROP COLUMN IF EXISTS txn;
"#;

/// The NOTIFY trigger's function, sending `column` of the new event as the payload.
fn notify_with(column: &str) -> String {
    format!(
        r#"
CREATE OR REPLACE FUNCTION escrowgrid_notify_position_event() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('escrowgrid_position_events', NEW.{column}::text);
    RETURN NULL;
END;
$$;
"#
    )
}
