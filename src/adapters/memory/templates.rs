//! Asset templates: each institution's product definitions, with their parsed config.

use super::{
    MemoryStore, State, by_ids, count, counts_by_parent, duplicate, eq_or_any, not_found, page_of,
    pages_by_parent,
};
use crate::domain::model::{AssetTemplate, AuditEvent};
use crate::domain::{InstitutionId, TemplateId};
use crate::ports::{
    Page, PageRequest, RepoResult, Scope, TemplateFilter, TemplateRepository, UniqueRule,
};
use async_trait::async_trait;
use std::collections::HashMap;

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
