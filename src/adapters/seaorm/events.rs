//! The durable position-event log subscriptions replay from. Position writes insert their event
//! under a transaction-scoped advisory lock held to commit, so `seq` order is commit order.

use super::PgStore;
use super::convert;
use super::error::map_db_err;
use super::filters::event_condition;
use crate::domain::model::PositionEvent;
use crate::ports::{BusMessage, EventBus, EventFilter, PositionEventLog, RepoResult, Scope};
use async_trait::async_trait;
use entity::position_event;
use futures::stream::BoxStream;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

#[async_trait]
impl PositionEventLog for PgStore {
    async fn position_events_after(
        &self,
        scope: Scope,
        filter: &EventFilter,
        after_seq: i64,
        limit: u32,
    ) -> RepoResult<Vec<PositionEvent>> {
        use position_event::{Column as C, Entity};
        let models = Entity::find()
            .filter(event_condition(scope, filter))
            .filter(C::Seq.gt(after_seq))
            .order_by_asc(C::Seq)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        models.into_iter().map(convert::position_event).collect()
    }

    async fn latest_event_seq(&self) -> RepoResult<i64> {
        use position_event::{Column as C, Entity};
        let latest: Option<Option<i64>> = Entity::find()
            .select_only()
            .column_as(Expr::from(Func::max(Expr::col(C::Seq))), "latest")
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(latest.flatten().unwrap_or(0))
    }
}

impl EventBus for PgStore {
    fn subscribe(&self) -> BoxStream<'static, BusMessage> {
        self.bus.subscribe()
    }
}
