//! The durable position-event log subscriptions replay from, read in (`txn`, `seq`) order and
//! only below the watermark: the oldest transaction still running when the read's snapshot was
//! taken. Writers never wait for each other; `docs/event-log.md` has the argument.

use super::PgStore;
use super::convert;
use super::error::map_db_err;
use super::filters::event_condition;
use crate::domain::model::{EventSeq, PositionEvent};
use crate::ports::{
    BusMessage, EventBus, EventCursorKey, EventFilter, LiveStart, PositionEventLog, RepoResult,
    Scope,
};
use async_trait::async_trait;
use entity::position_event;
use futures::stream::BoxStream;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

/// Every transaction below this id has ended, as of the statement's own snapshot: the same one
/// its scan reads, so each committed event below it is visible to that scan.
const WATERMARK: &str = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

#[async_trait]
impl PositionEventLog for PgStore {
    async fn position_events_after(
        &self,
        scope: Scope,
        filter: &EventFilter,
        after: EventSeq,
        limit: u32,
    ) -> RepoResult<Vec<PositionEvent>> {
        use position_event::{Column as C, Entity};
        let models = Entity::find()
            .filter(event_condition(scope, filter))
            .filter(Expr::cust_with_values(
                "(txn, seq) > ($1, $2)",
                [after.txn, after.index],
            ))
            .filter(Expr::cust(format!("txn < {WATERMARK}")))
            .order_by_asc(C::Txn)
            .order_by_asc(C::Seq)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        models.into_iter().map(convert::position_event).collect()
    }

    async fn event_watermark(&self) -> RepoResult<EventSeq> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT {WATERMARK} AS watermark"),
            ))
            .await
            .map_err(map_db_err)?;
        let watermark: i64 = row
            .map(|row| row.try_get("", "watermark"))
            .transpose()
            .map_err(map_db_err)?
            .unwrap_or(0);
        Ok(below(watermark))
    }

    /// One statement, so the watermark and the committed events above it share a snapshot.
    async fn live_start(&self) -> RepoResult<LiveStart> {
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "WITH w AS (SELECT {WATERMARK} AS watermark) \
                     SELECT w.watermark, e.txn, e.seq FROM w \
                     LEFT JOIN position_events e ON e.txn >= w.watermark \
                     ORDER BY e.txn, e.seq"
                ),
            ))
            .await
            .map_err(map_db_err)?;
        let mut start = LiveStart::default();
        for row in rows {
            let watermark: i64 = row.try_get("", "watermark").map_err(map_db_err)?;
            start.after = below(watermark);
            let txn: Option<i64> = row.try_get("", "txn").map_err(map_db_err)?;
            let index: Option<i64> = row.try_get("", "seq").map_err(map_db_err)?;
            if let (Some(txn), Some(index)) = (txn, index) {
                start.already_committed.push(EventSeq { txn, index });
            }
        }
        Ok(start)
    }

    fn event_cursor_key(&self) -> EventCursorKey {
        self.cursor_key.clone()
    }
}

/// The last point before transaction `watermark`: every event of an older one is final.
pub(super) fn below(watermark: i64) -> EventSeq {
    EventSeq {
        txn: watermark.saturating_sub(1),
        index: i64::MAX,
    }
}

impl EventBus for PgStore {
    fn subscribe(&self) -> BoxStream<'static, BusMessage> {
        self.bus.subscribe()
    }
}
