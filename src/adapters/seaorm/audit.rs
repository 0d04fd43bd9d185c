//! The audit trail: one row per attempted write, and the helper every write's transaction
//! uses to add its own.

use super::PgStore;
use super::convert;
use super::error::map_db_err;
use super::filters::audit_condition;
use crate::domain::model::AuditEvent;
use crate::ports::{AuditFilter, AuditRepository, Page, PageRequest, RepoResult, Scope};
use async_trait::async_trait;
use entity::audit_event::{self, Column as C, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait as _, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QueryTrait as _,
};

/// Inserts a write's audit row inside that write's transaction, so neither exists alone.
pub(super) async fn insert_audit(txn: &DatabaseTransaction, audit: &AuditEvent) -> RepoResult<()> {
    audit_event::Entity::insert(convert::audit_event_model(audit))
        .exec_without_returning(txn)
        .await
        .map(drop)
        .map_err(map_db_err)
}

#[async_trait]
impl AuditRepository for PgStore {
    async fn record_audit(&self, audit: &AuditEvent) -> RepoResult<()> {
        // A single INSERT is its own transaction. It is sent again if its connection turns out
        // to be gone; the event's id makes a second arrival do nothing, in case the first
        // committed before the connection broke.
        let insert = Entity::insert(convert::audit_event_model(audit))
            .on_conflict(
                OnConflict::column(audit_event::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .build(DbBackend::Postgres);
        self.db
            .again_on_lost_connection(|| self.db.inner().execute_raw(insert.clone()))
            .await
            .map(drop)
            .map_err(map_db_err)
    }

    async fn list_audit(
        &self,
        scope: Scope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AuditEvent>> {
        let select = Entity::find().filter(audit_condition(scope, filter));
        self.page(select, C::Id, page, convert::audit_event).await
    }

    async fn count_audit(&self, scope: Scope, filter: &AuditFilter) -> RepoResult<u64> {
        self.count_rows(Entity::find().filter(audit_condition(scope, filter)))
            .await
    }
}
