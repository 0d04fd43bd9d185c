//! Secrets shared by every instance on the database (`server_secrets`), each created by
//! whichever instance needs it first.

use super::PgStore;
use super::error::map_db_err;
use crate::ports::{EventCursorKey, RepoError, RepoResult};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

const EVENT_CURSOR_KEY: &str = "event_cursor_key";

impl PgStore {
    /// The cursor key, made now if no instance has made it yet. Two statements on purpose: when
    /// instances start together, the loser's insert waits for the winner's commit and does
    /// nothing, and only a statement begun after that (a new snapshot) sees the winner's key.
    pub(super) async fn load_event_cursor_key(&self) -> RepoResult<EventCursorKey> {
        let candidate = EventCursorKey::default();
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO server_secrets (name, secret) VALUES ($1, $2) \
                 ON CONFLICT (name) DO NOTHING",
                [EVENT_CURSOR_KEY.into(), candidate.0.to_vec().into()],
            ))
            .await
            .map_err(map_db_err)?;
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT secret FROM server_secrets WHERE name = $1",
                [EVENT_CURSOR_KEY.into()],
            ))
            .await
            .map_err(map_db_err)?
            .ok_or_else(|| RepoError::Internal("the event cursor key vanished".into()))?;
        let secret: Vec<u8> = row.try_get("", "secret").map_err(map_db_err)?;
        let secret = <[u8; 32]>::try_from(secret)
            .map_err(|_| RepoError::Internal("the event cursor key is not 32 bytes".into()))?;
        Ok(EventCursorKey(secret))
    }
}
