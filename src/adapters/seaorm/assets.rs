//! Assets: what positions are opened on, each under a template of its own institution.

use super::PgStore;
use super::audit::insert_audit;
use super::convert;
use super::error::map_db_err;
use super::filters::{asset_condition, scoped};
use super::select::{convert_all, ids};
use super::window::{distinct, group, pages};
use crate::domain::AssetId;
use crate::domain::model::{Asset, AuditEvent};
use crate::ports::{
    AssetFilter, AssetParent, AssetRepository, Page, PageRequest, RepoError, RepoResult, Scope,
};
use async_trait::async_trait;
use entity::asset::{Column as C, Entity};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// An asset row is inserted only when its template belongs to the asset's institution, in the
/// same statement: the foreign key alone would accept another institution's template.
const INSERT_ASSET: &str = r#"
INSERT INTO assets (id, institution_id, template_id, label, metadata, created_at, updated_at)
SELECT $1, $2, $3, $4, $5, $6, $7
WHERE EXISTS (SELECT 1 FROM asset_templates WHERE id = $3 AND institution_id = $2)"#;

fn parent_column(parent: AssetParent) -> C {
    match parent {
        AssetParent::Institution => C::InstitutionId,
        AssetParent::Template => C::TemplateId,
    }
}

#[async_trait]
impl AssetRepository for PgStore {
    async fn create_asset(&self, record: &Asset, audit: &AuditEvent) -> RepoResult<()> {
        let txn = self.begin().await?;
        let result = async {
            let inserted = txn
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    INSERT_ASSET,
                    [
                        record.id.0.into(),
                        record.institution_id.0.into(),
                        record.template_id.0.into(),
                        record.label.to_string().into(),
                        record.metadata.clone().map(Value::Object).into(),
                        record.created_at.into(),
                        record.updated_at.into(),
                    ],
                ))
                .await
                .map_err(map_db_err)?;
            if inserted.rows_affected() == 0 {
                return Err(RepoError::NotFound { entity: "template" });
            }
            insert_audit(&txn, audit).await
        }
        .await;
        self.finish(txn, result).await
    }

    async fn assets_by_ids(&self, scope: Scope, list: &[AssetId]) -> RepoResult<Vec<Asset>> {
        self.by_ids::<Entity, _>(
            scoped(scope, C::InstitutionId),
            C::Id,
            ids(list),
            convert::asset,
        )
        .await
    }

    async fn list_assets(
        &self,
        scope: Scope,
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Asset>> {
        let select = Entity::find().filter(asset_condition(scope, filter));
        self.page(select, C::Id, page, convert::asset).await
    }

    async fn count_assets(&self, scope: Scope, filter: &AssetFilter) -> RepoResult<u64> {
        self.count_rows(Entity::find().filter(asset_condition(scope, filter)))
            .await
    }

    async fn assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        list: &[Uuid],
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Asset>>> {
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = self
            .first_per_parent::<Entity>(
                asset_condition(scope, filter),
                parent_column(parent),
                C::Id,
                &distinct(list.iter().copied()),
                page,
            )
            .await?;
        let rows = convert_all(models, convert::asset)?;
        let parent_of = move |a: &Asset| match parent {
            AssetParent::Institution => a.institution_id.0,
            AssetParent::Template => a.template_id.0,
        };
        Ok(pages(group(list, rows, parent_of), page.first))
    }

    async fn count_assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        list: &[Uuid],
        filter: &AssetFilter,
    ) -> RepoResult<HashMap<Uuid, u64>> {
        self.count_per_parent::<Entity>(asset_condition(scope, filter), parent_column(parent), list)
            .await
    }
}
