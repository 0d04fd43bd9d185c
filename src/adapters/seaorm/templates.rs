//! Asset templates: each institution's product definitions, with their parsed config.

use super::PgStore;
use super::audit::insert_audit;
use super::convert;
use super::error::map_db_err;
use super::filters::{scoped, template_condition};
use super::select::{convert_all, ids};
use super::window::{group, pages};
use crate::domain::model::{AssetTemplate, AuditEvent};
use crate::domain::{InstitutionId, TemplateId};
use crate::ports::{Page, PageRequest, RepoResult, Scope, TemplateFilter, TemplateRepository};
use async_trait::async_trait;
use entity::asset_template::{Column as C, Entity};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;

#[async_trait]
impl TemplateRepository for PgStore {
    async fn create_template(&self, record: &AssetTemplate, audit: &AuditEvent) -> RepoResult<()> {
        let txn = self.begin().await?;
        let result = async {
            // A missing institution trips asset_templates_institution_id_fkey → NotFound.
            convert::template_model(record)
                .insert(&txn)
                .await
                .map_err(map_db_err)?;
            insert_audit(&txn, audit).await
        }
        .await;
        self.finish(txn, result).await
    }

    async fn templates_by_ids(
        &self,
        scope: Scope,
        list: &[TemplateId],
    ) -> RepoResult<Vec<AssetTemplate>> {
        self.by_ids::<Entity, _>(
            scoped(scope, C::InstitutionId),
            C::Id,
            ids(list),
            convert::template,
        )
        .await
    }

    async fn list_templates(
        &self,
        scope: Scope,
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AssetTemplate>> {
        let select = Entity::find().filter(template_condition(scope, filter));
        self.page(select, C::Id, page, convert::template).await
    }

    async fn count_templates(&self, scope: Scope, filter: &TemplateFilter) -> RepoResult<u64> {
        self.count_rows(Entity::find().filter(template_condition(scope, filter)))
            .await
    }

    async fn templates_by_institutions(
        &self,
        scope: Scope,
        list: &[InstitutionId],
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<InstitutionId, Page<AssetTemplate>>> {
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = self
            .first_per_parent::<Entity>(
                template_condition(scope, filter),
                C::InstitutionId,
                C::Id,
                &ids(list),
                page,
            )
            .await?;
        let rows = convert_all(models, convert::template)?;
        Ok(pages(group(list, rows, |t| t.institution_id), page.first))
    }

    async fn count_templates_by_institutions(
        &self,
        scope: Scope,
        list: &[InstitutionId],
        filter: &TemplateFilter,
    ) -> RepoResult<HashMap<InstitutionId, u64>> {
        let counts = self
            .count_per_parent::<Entity>(
                template_condition(scope, filter),
                C::InstitutionId,
                &ids(list),
            )
            .await?;
        Ok(list
            .iter()
            .map(|id| (*id, counts.get(&id.0).copied().unwrap_or_default()))
            .collect())
    }
}
