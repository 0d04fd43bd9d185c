//! Scoped reads of positions and what they leave behind (lifecycle events, ledger, audit,
//! idempotency records), with the same paging and batching rules as the catalog reads.

use super::PgStore;
use super::convert;
use super::error::map_db_err;
use super::filters::{audit_condition, ledger_condition, position_condition, scoped};
use super::reads::{convert_all, ids};
use super::window::{distinct, group, pages};
use crate::domain::model::{AuditEvent, IdempotencyRecord, LedgerEvent, Position, PositionEvent};
use crate::domain::{InstitutionId, PositionId};
use crate::ports::{
    AuditFilter, LedgerFilter, Page, PageRequest, PositionFilter, PositionParent, RepoResult, Scope,
};
use entity::{audit_event, idempotency_record, ledger_event, position, position_event};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;
use uuid::Uuid;

impl PgStore {
    // Positions.

    pub(crate) async fn read_positions_by_ids(
        &self,
        scope: Scope,
        list: &[PositionId],
    ) -> RepoResult<Vec<Position>> {
        use position::{Column as C, Entity};
        self.by_ids::<Entity, _>(
            scoped(scope, C::InstitutionId),
            C::Id,
            ids(list),
            convert::position,
        )
        .await
    }

    pub(crate) async fn read_positions(
        &self,
        scope: Scope,
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Position>> {
        use position::{Column as C, Entity};
        let select = Entity::find().filter(position_condition(scope, filter));
        self.page(select, C::Id, page, convert::position).await
    }

    pub(crate) async fn read_position_count(
        &self,
        scope: Scope,
        filter: &PositionFilter,
    ) -> RepoResult<u64> {
        self.count_rows(position::Entity::find().filter(position_condition(scope, filter)))
            .await
    }

    pub(crate) async fn read_positions_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        list: &[Uuid],
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Position>>> {
        use position::{Column as C, Entity};
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let column = match parent {
            PositionParent::Institution => C::InstitutionId,
            PositionParent::Asset => C::AssetId,
        };
        let models = self
            .first_per_parent::<Entity>(
                position_condition(scope, filter),
                column,
                C::Id,
                &distinct(list.iter().copied()),
                page,
            )
            .await?;
        let rows = convert_all(models, convert::position)?;
        let parent_of = move |p: &Position| match parent {
            PositionParent::Institution => p.institution_id.0,
            PositionParent::Asset => p.asset_id.0,
        };
        Ok(pages(group(list, rows, parent_of), page.first))
    }

    pub(crate) async fn read_position_counts_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        list: &[Uuid],
        filter: &PositionFilter,
    ) -> RepoResult<HashMap<Uuid, u64>> {
        use position::{Column as C, Entity};
        let column = match parent {
            PositionParent::Institution => C::InstitutionId,
            PositionParent::Asset => C::AssetId,
        };
        self.count_per_parent::<Entity>(position_condition(scope, filter), column, list)
            .await
    }

    pub(crate) async fn read_events_by_positions(
        &self,
        scope: Scope,
        list: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<PositionEvent>>> {
        use position_event::{Column as C, Entity};
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(C::PositionId.eq_any(ids(list)))
            .order_by_asc(C::PositionId)
            .order_by_asc(C::Version)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let rows = convert_all(models, convert::position_event)?;
        Ok(group(list, rows, |e| e.position_id))
    }

    pub(crate) async fn read_idempotency(
        &self,
        institution: InstitutionId,
        key: &str,
    ) -> RepoResult<Option<IdempotencyRecord>> {
        idempotency_record::Entity::find_by_id((institution.0, key.to_owned()))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .map(convert::idempotency_record)
            .transpose()
    }

    // Ledger.

    pub(crate) async fn read_ledger_by_positions(
        &self,
        scope: Scope,
        list: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<LedgerEvent>>> {
        use ledger_event::{Column as C, Entity};
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(C::PositionId.eq_any(ids(list)))
            .order_by_asc(C::Seq)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let rows = convert_all(models, convert::ledger_event)?;
        Ok(group(list, rows, |e| e.position_id))
    }

    pub(crate) async fn read_ledger(
        &self,
        scope: Scope,
        filter: &LedgerFilter,
        page: PageRequest,
    ) -> RepoResult<Page<LedgerEvent>> {
        use ledger_event::{Column as C, Entity};
        let select = Entity::find().filter(ledger_condition(scope, filter));
        self.page(select, C::Id, page, convert::ledger_event).await
    }

    pub(crate) async fn read_ledger_count(
        &self,
        scope: Scope,
        filter: &LedgerFilter,
    ) -> RepoResult<u64> {
        self.count_rows(ledger_event::Entity::find().filter(ledger_condition(scope, filter)))
            .await
    }

    // Audit.

    pub(crate) async fn read_audit(
        &self,
        scope: Scope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AuditEvent>> {
        use audit_event::{Column as C, Entity};
        let select = Entity::find().filter(audit_condition(scope, filter));
        self.page(select, C::Id, page, convert::audit_event).await
    }

    pub(crate) async fn read_audit_count(
        &self,
        scope: Scope,
        filter: &AuditFilter,
    ) -> RepoResult<u64> {
        self.count_rows(audit_event::Entity::find().filter(audit_condition(scope, filter)))
            .await
    }
}
