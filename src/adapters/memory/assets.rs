//! Assets: what positions are opened on, each under a template of its own institution.

use super::{
    MemoryStore, State, by_ids, count, counts_by_parent, duplicate, eq_or_any, not_found, page_of,
    pages_by_parent,
};
use crate::domain::AssetId;
use crate::domain::model::{Asset, AuditEvent};
use crate::ports::{
    AssetFilter, AssetParent, AssetRepository, AssetRules, Page, PageRequest, RepoResult, Scope,
    UniqueRule,
};
use async_trait::async_trait;
use std::collections::HashMap;
use uuid::Uuid;

/// Assets the scope may see that pass the filter, in id order.
fn assets<'a>(
    state: &'a State,
    scope: Scope,
    filter: &'a AssetFilter,
) -> impl Iterator<Item = &'a Asset> {
    state.assets.values().filter(move |a| {
        scope.permits(a.institution_id)
            && eq_or_any(filter.institution_id.as_ref(), &a.institution_id)
            && eq_or_any(filter.template_id.as_ref(), &a.template_id)
    })
}

fn asset_parent(parent: AssetParent, asset: &Asset) -> Uuid {
    match parent {
        AssetParent::Institution => asset.institution_id.0,
        AssetParent::Template => asset.template_id.0,
    }
}

#[async_trait]
impl AssetRepository for MemoryStore {
    async fn create_asset(&self, asset: &Asset, audit: &AuditEvent) -> RepoResult<()> {
        let mut state = self.write()?;
        // A template of another institution is as good as missing: an asset never points
        // across tenants.
        let template_is_own = state
            .templates
            .get(&asset.template_id)
            .is_some_and(|t| t.institution_id == asset.institution_id);
        if !template_is_own {
            return Err(not_found("template"));
        }
        if state.assets.contains_key(&asset.id) {
            return Err(duplicate(UniqueRule::AssetId));
        }
        state.check_new_audit(audit)?;
        state.assets.insert(asset.id, asset.clone());
        state.insert_audit(audit);
        Ok(())
    }

    async fn assets_by_ids(&self, scope: Scope, ids: &[AssetId]) -> RepoResult<Vec<Asset>> {
        Ok(by_ids(&self.read()?.assets, scope, ids))
    }

    async fn asset_rules(&self, scope: Scope, asset: AssetId) -> RepoResult<Option<AssetRules>> {
        let state = self.read()?;
        let Some(asset) = state
            .assets
            .get(&asset)
            .filter(|asset| scope.permits(asset.institution_id))
        else {
            return Ok(None);
        };
        let Some(template) = state.templates.get(&asset.template_id) else {
            return Ok(None);
        };
        let policy = state
            .policies
            .get(&(asset.institution_id, template.region))
            .cloned();
        Ok(Some(AssetRules {
            asset: asset.clone(),
            template: template.clone(),
            policy,
        }))
    }

    async fn list_assets(
        &self,
        scope: Scope,
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Asset>> {
        let state = self.read()?;
        Ok(page_of(assets(&state, scope, filter), page))
    }

    async fn count_assets(&self, scope: Scope, filter: &AssetFilter) -> RepoResult<u64> {
        let state = self.read()?;
        Ok(count(assets(&state, scope, filter)))
    }

    async fn assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        ids: &[Uuid],
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Asset>>> {
        let state = self.read()?;
        let rows_of =
            |id: Uuid| assets(&state, scope, filter).filter(move |a| asset_parent(parent, a) == id);
        Ok(pages_by_parent(ids, rows_of, page))
    }

    async fn count_assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        ids: &[Uuid],
        filter: &AssetFilter,
    ) -> RepoResult<HashMap<Uuid, u64>> {
        let state = self.read()?;
        let rows_of =
            |id: Uuid| assets(&state, scope, filter).filter(move |a| asset_parent(parent, a) == id);
        Ok(counts_by_parent(ids, rows_of))
    }
}
