//! Institutions, asset templates and assets: the catalogue positions hang from.

use super::{
    MemoryStore, Row, State, by_ids, count, counts_by_parent, duplicate, eq_or_any, not_found,
    page_of, pages_by_parent,
};
use crate::domain::model::{Asset, AssetTemplate, AuditEvent, Institution};
use crate::domain::{AssetId, InstitutionId, TemplateId};
use crate::ports::{
    AssetFilter, AssetParent, AssetRepository, InstitutionRepository, Page, PageRequest,
    RepoResult, Scope, TemplateFilter, TemplateRepository, UniqueRule,
};
use async_trait::async_trait;
use std::collections::HashMap;
use uuid::Uuid;

/// Templates the scope may see that pass the filter, in id order.
fn templates<'a>(
    state: &'a State,
    scope: Scope,
    filter: &'a TemplateFilter,
) -> impl Iterator<Item = &'a AssetTemplate> {
    state.templates.values().filter(move |t| {
        scope.permits(t.institution_id)
            && eq_or_any(filter.institution_id.as_ref(), &t.institution_id)
            && eq_or_any(filter.vertical.as_ref(), &t.vertical)
            && eq_or_any(filter.region.as_ref(), &t.region)
            && eq_or_any(filter.code.as_ref(), &t.code)
    })
}

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
impl InstitutionRepository for MemoryStore {
    async fn create_institution(
        &self,
        institution: &Institution,
        audit: &AuditEvent,
    ) -> RepoResult<()> {
        let mut state = self.write()?;
        if state.institutions.contains_key(&institution.id) {
            return Err(duplicate(UniqueRule::InstitutionId));
        }
        state.check_new_audit(audit)?;
        state
            .institutions
            .insert(institution.id, institution.clone());
        state.insert_audit(audit);
        Ok(())
    }

    async fn institutions_by_ids(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
    ) -> RepoResult<Vec<Institution>> {
        Ok(by_ids(&self.read()?.institutions, scope, ids))
    }

    async fn list_institutions(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> RepoResult<Page<Institution>> {
        let state = self.read()?;
        let rows = state.institutions.values();
        Ok(page_of(rows.filter(|row| scope.permits(row.owner())), page))
    }

    async fn count_institutions(&self, scope: Scope) -> RepoResult<u64> {
        let state = self.read()?;
        let rows = state.institutions.values();
        Ok(count(rows.filter(|row| scope.permits(row.owner()))))
    }
}

#[async_trait]
impl TemplateRepository for MemoryStore {
    async fn create_template(
        &self,
        template: &AssetTemplate,
        audit: &AuditEvent,
    ) -> RepoResult<()> {
        let mut state = self.write()?;
        if !state.institutions.contains_key(&template.institution_id) {
            return Err(not_found("institution"));
        }
        if state.templates.contains_key(&template.id) {
            return Err(duplicate(UniqueRule::TemplateId));
        }
        state.check_new_audit(audit)?;
        state.templates.insert(template.id, template.clone());
        state.insert_audit(audit);
        Ok(())
    }

    async fn templates_by_ids(
        &self,
        scope: Scope,
        ids: &[TemplateId],
    ) -> RepoResult<Vec<AssetTemplate>> {
        Ok(by_ids(&self.read()?.templates, scope, ids))
    }

    async fn list_templates(
        &self,
        scope: Scope,
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AssetTemplate>> {
        let state = self.read()?;
        Ok(page_of(templates(&state, scope, filter), page))
    }

    async fn count_templates(&self, scope: Scope, filter: &TemplateFilter) -> RepoResult<u64> {
        let state = self.read()?;
        Ok(count(templates(&state, scope, filter)))
    }

    async fn templates_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<InstitutionId, Page<AssetTemplate>>> {
        let state = self.read()?;
        let rows_of = |parent: InstitutionId| {
            templates(&state, scope, filter).filter(move |t| t.institution_id == parent)
        };
        Ok(pages_by_parent(ids, rows_of, page))
    }

    async fn count_templates_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
        filter: &TemplateFilter,
    ) -> RepoResult<HashMap<InstitutionId, u64>> {
        let state = self.read()?;
        let rows_of = |parent: InstitutionId| {
            templates(&state, scope, filter).filter(move |t| t.institution_id == parent)
        };
        Ok(counts_by_parent(ids, rows_of))
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
