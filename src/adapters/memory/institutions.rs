//! Institutions: the tenants; an institution's scope is its own id.

use super::{MemoryStore, Row, by_ids, count, duplicate, page_of};
use crate::domain::InstitutionId;
use crate::domain::model::{AuditEvent, Institution};
use crate::ports::{InstitutionRepository, Page, PageRequest, RepoResult, Scope, UniqueRule};
use async_trait::async_trait;

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
