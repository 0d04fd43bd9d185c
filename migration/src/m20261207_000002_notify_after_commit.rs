//! Position events are announced after their transaction commits, by the writing instance,
//! instead of by a trigger inside it. A NOTIFY inside a transaction makes its COMMIT take a
//! cluster-wide lock and keep it through the commit's WAL flush, so every position write of
//! every instance committed one after the other, one fsync each: under load most writers
//! waited on that lock (`Lock:object` at COMMIT in `pg_stat_activity`). The server now sends
//! the NOTIFY itself once the write has committed (`adapters/seaorm/notifier.rs`).

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
DROP TRIGGER IF EXISTS position_events_notify ON position_events;
DROP FUNCTION IF EXISTS escrowgrid_notify_position_event();
";

// As the event_txn migration left it: the writer's transaction id as the payload.
const DOWN: &str = r"
CREATE OR REPLACE FUNCTION escrowgrid_notify_position_event() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('escrowgrid_position_events', NEW.txn::text);
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS position_events_notify ON position_events;
CREATE TRIGGER position_events_notify
    AFTER INSERT ON position_events
    FOR EACH ROW EXECUTE FUNCTION escrowgrid_notify_position_event();
";
