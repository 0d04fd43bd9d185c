//! Scoped reads of the catalog (institutions, templates, assets, keys, policies): lists page by
//! id with one overfetched row, and batch loads use `= ANY($ids)`, one statement each.

use super::PgStore;
use super::convert;
use super::error::map_db_err;
use super::filters::{asset_condition, scoped, template_condition};
use super::window::{distinct, group, pages};
use crate::domain::model::{ApiKey, Asset, AssetTemplate, Institution, Policy};
use crate::domain::{ApiKeyId, AssetId, InstitutionId, Region, TemplateId};
use crate::ports::{
    AssetFilter, AssetParent, Page, PageRequest, RepoResult, Scope, TemplateFilter,
};
use entity::{api_key, asset, asset_template, institution, policy};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select,
};
use std::collections::HashMap;
use uuid::Uuid;

pub(super) fn ids<T: Copy + Into<Uuid>>(ids: &[T]) -> Vec<Uuid> {
    distinct(ids.iter().map(|id| (*id).into()))
}

pub(super) fn convert_all<M, T>(
    models: Vec<M>,
    convert: fn(M) -> RepoResult<T>,
) -> RepoResult<Vec<T>> {
    models.into_iter().map(convert).collect()
}

impl PgStore {
    /// One page of `select` in id order: `id > after`, `LIMIT first + 1`.
    pub(super) async fn page<E, T>(
        &self,
        select: Select<E>,
        id: E::Column,
        page: PageRequest,
        convert: fn(E::Model) -> RepoResult<T>,
    ) -> RepoResult<Page<T>>
    where
        E: EntityTrait,
    {
        let models = select
            .apply_if(page.after, |query, after| query.filter(id.gt(after)))
            .order_by_asc(id)
            .limit(u64::from(page.first) + 1)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(Page::from_overfetch(
            convert_all(models, convert)?,
            page.first,
        ))
    }

    pub(super) async fn count_rows<E: EntityTrait>(&self, select: Select<E>) -> RepoResult<u64>
    where
        E::Model: Sync,
    {
        select.count(&self.db).await.map_err(map_db_err)
    }

    pub(super) async fn by_ids<E, T>(
        &self,
        condition: Condition,
        id: E::Column,
        ids: Vec<Uuid>,
        convert: fn(E::Model) -> RepoResult<T>,
    ) -> RepoResult<Vec<T>>
    where
        E: EntityTrait,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let models = E::find()
            .filter(condition)
            .filter(id.eq_any(ids))
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        convert_all(models, convert)
    }

    // Institutions: the scope is the row's own id.

    pub(crate) async fn read_institutions_by_ids(
        &self,
        scope: Scope,
        list: &[InstitutionId],
    ) -> RepoResult<Vec<Institution>> {
        use institution::{Column as C, Entity};
        self.by_ids::<Entity, _>(scoped(scope, C::Id), C::Id, ids(list), convert::institution)
            .await
    }

    pub(crate) async fn read_institutions(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> RepoResult<Page<Institution>> {
        use institution::{Column as C, Entity};
        let select = Entity::find().filter(scoped(scope, C::Id));
        self.page(select, C::Id, page, convert::institution).await
    }

    pub(crate) async fn read_institution_count(&self, scope: Scope) -> RepoResult<u64> {
        use institution::{Column as C, Entity};
        self.count_rows(Entity::find().filter(scoped(scope, C::Id)))
            .await
    }

    // Templates.

    pub(crate) async fn read_templates_by_ids(
        &self,
        scope: Scope,
        list: &[TemplateId],
    ) -> RepoResult<Vec<AssetTemplate>> {
        use asset_template::{Column as C, Entity};
        self.by_ids::<Entity, _>(
            scoped(scope, C::InstitutionId),
            C::Id,
            ids(list),
            convert::template,
        )
        .await
    }

    pub(crate) async fn read_templates(
        &self,
        scope: Scope,
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AssetTemplate>> {
        use asset_template::{Column as C, Entity};
        let select = Entity::find().filter(template_condition(scope, filter));
        self.page(select, C::Id, page, convert::template).await
    }

    pub(crate) async fn read_template_count(
        &self,
        scope: Scope,
        filter: &TemplateFilter,
    ) -> RepoResult<u64> {
        self.count_rows(asset_template::Entity::find().filter(template_condition(scope, filter)))
            .await
    }

    pub(crate) async fn read_templates_by_institutions(
        &self,
        scope: Scope,
        list: &[InstitutionId],
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<InstitutionId, Page<AssetTemplate>>> {
        use asset_template::{Column as C, Entity};
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

    pub(crate) async fn read_template_counts_by_institutions(
        &self,
        scope: Scope,
        list: &[InstitutionId],
        filter: &TemplateFilter,
    ) -> RepoResult<HashMap<InstitutionId, u64>> {
        use asset_template::{Column as C, Entity};
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

    // Assets.

    pub(crate) async fn read_assets_by_ids(
        &self,
        scope: Scope,
        list: &[AssetId],
    ) -> RepoResult<Vec<Asset>> {
        use asset::{Column as C, Entity};
        self.by_ids::<Entity, _>(
            scoped(scope, C::InstitutionId),
            C::Id,
            ids(list),
            convert::asset,
        )
        .await
    }

    pub(crate) async fn read_assets(
        &self,
        scope: Scope,
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Asset>> {
        use asset::{Column as C, Entity};
        let select = Entity::find().filter(asset_condition(scope, filter));
        self.page(select, C::Id, page, convert::asset).await
    }

    pub(crate) async fn read_asset_count(
        &self,
        scope: Scope,
        filter: &AssetFilter,
    ) -> RepoResult<u64> {
        self.count_rows(asset::Entity::find().filter(asset_condition(scope, filter)))
            .await
    }

    pub(crate) async fn read_assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        list: &[Uuid],
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Asset>>> {
        use asset::{Column as C, Entity};
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let column = match parent {
            AssetParent::Institution => C::InstitutionId,
            AssetParent::Template => C::TemplateId,
        };
        let models = self
            .first_per_parent::<Entity>(
                asset_condition(scope, filter),
                column,
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

    pub(crate) async fn read_asset_counts_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        list: &[Uuid],
        filter: &AssetFilter,
    ) -> RepoResult<HashMap<Uuid, u64>> {
        use asset::{Column as C, Entity};
        let column = match parent {
            AssetParent::Institution => C::InstitutionId,
            AssetParent::Template => C::TemplateId,
        };
        self.count_per_parent::<Entity>(asset_condition(scope, filter), column, list)
            .await
    }

    // API keys.

    pub(crate) async fn read_api_key_by_hash(&self, key_hash: &str) -> RepoResult<Option<ApiKey>> {
        api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(key_hash))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .map(convert::api_key)
            .transpose()
    }

    pub(crate) async fn read_api_keys_by_ids(
        &self,
        scope: Scope,
        list: &[ApiKeyId],
    ) -> RepoResult<Vec<ApiKey>> {
        use api_key::{Column as C, Entity};
        self.by_ids::<Entity, _>(
            scoped(scope, C::InstitutionId),
            C::Id,
            ids(list),
            convert::api_key,
        )
        .await
    }

    pub(crate) async fn read_api_keys_by_institutions(
        &self,
        scope: Scope,
        list: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<ApiKey>>> {
        use api_key::{Column as C, Entity};
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(C::InstitutionId.eq_any(ids(list)))
            .order_by_asc(C::Id)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let rows = convert_all(models, convert::api_key)?;
        Ok(group(list, rows, |k| k.institution_id))
    }

    // Policies.

    pub(crate) async fn read_policy_for(
        &self,
        scope: Scope,
        institution: InstitutionId,
        region: Region,
    ) -> RepoResult<Option<Policy>> {
        use policy::{Column as C, Entity};
        Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(C::InstitutionId.eq(institution.0))
            .filter(C::Region.eq(region.as_str()))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .map(convert::policy)
            .transpose()
    }

    pub(crate) async fn read_policies_by_institutions(
        &self,
        scope: Scope,
        list: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<Policy>>> {
        use policy::{Column as C, Entity};
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(C::InstitutionId.eq_any(ids(list)))
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let mut rows = convert_all(models, convert::policy)?;
        // By the domain's region order (US, EU_UK, SG, UAE), not the text's collation, so both
        // stores agree.
        rows.sort_by_key(|p| p.region);
        Ok(group(list, rows, |p| p.institution_id))
    }
}
