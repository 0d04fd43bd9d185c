//! The ledger: append-only money movements, written by the position unit of work.

use super::PgStore;
use super::convert;
use super::error::map_db_err;
use super::filters::{ledger_condition, scoped};
use super::select::{convert_all, ids};
use super::window::{group, one_of};
use crate::domain::PositionId;
use crate::domain::model::LedgerEvent;
use crate::ports::{LedgerFilter, LedgerRepository, Page, PageRequest, RepoResult, Scope};
use async_trait::async_trait;
use entity::ledger_event::{Column as C, Entity};
use sea_orm::{EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

#[async_trait]
impl LedgerRepository for PgStore {
    async fn ledger_by_positions(
        &self,
        scope: Scope,
        list: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<LedgerEvent>>> {
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(one_of(C::PositionId, ids(list)))
            .order_by_asc(C::Seq)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let rows = convert_all(models, convert::ledger_event)?;
        Ok(group(list, rows, |e| e.position_id))
    }

    async fn list_ledger(
        &self,
        scope: Scope,
        filter: &LedgerFilter,
        page: PageRequest,
    ) -> RepoResult<Page<LedgerEvent>> {
        let select = Entity::find().filter(ledger_condition(scope, filter));
        self.page(select, C::Id, page, convert::ledger_event).await
    }

    async fn count_ledger(&self, scope: Scope, filter: &LedgerFilter) -> RepoResult<u64> {
        self.count_rows(Entity::find().filter(ledger_condition(scope, filter)))
            .await
    }
}
