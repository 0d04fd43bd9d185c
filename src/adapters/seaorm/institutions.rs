//! Institutions: the tenants. The scope of an institution row is its own id.

use super::PgStore;
use super::audit::insert_audit;
use super::convert;
use super::error::map_db_err;
use super::filters::scoped;
use super::select::ids;
use crate::domain::InstitutionId;
use crate::domain::model::{AuditEvent, Institution};
use crate::ports::{InstitutionRepository, Page, PageRequest, RepoResult, Scope};
use async_trait::async_trait;
use entity::institution::{self, Column as C, Entity};
use sea_orm::{EntityTrait, QueryFilter};

#[async_trait]
impl InstitutionRepository for PgStore {
    async fn create_institution(&self, record: &Institution, audit: &AuditEvent) -> RepoResult<()> {
        let txn = self.begin().await?;
        let result = async {
            institution::Entity::insert(convert::institution_model(record))
                .exec_without_returning(&txn)
                .await
                .map_err(map_db_err)?;
            insert_audit(&txn, audit).await
        }
        .await;
        self.finish(txn, result).await
    }

    async fn institutions_by_ids(
        &self,
        scope: Scope,
        list: &[InstitutionId],
    ) -> RepoResult<Vec<Institution>> {
        self.by_ids::<Entity, _>(scoped(scope, C::Id), C::Id, ids(list), convert::institution)
            .await
    }

    async fn list_institutions(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> RepoResult<Page<Institution>> {
        let select = Entity::find().filter(scoped(scope, C::Id));
        self.page(select, C::Id, page, convert::institution).await
    }

    async fn count_institutions(&self, scope: Scope) -> RepoResult<u64> {
        self.count_rows(Entity::find().filter(scoped(scope, C::Id)))
            .await
    }
}
