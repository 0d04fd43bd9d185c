//! The audit trail: one row per attempted write.

use super::{MemoryStore, State, count, eq_or_any};
use crate::domain::model::AuditEvent;
use crate::ports::{AuditFilter, AuditRepository, Page, PageRequest, RepoResult, Scope};
use async_trait::async_trait;

/// Audit events the scope may see that pass the filter, in id order. Events that name no
/// institution (an unauthenticated attempt) are visible to the root scope only.
fn audit<'a>(
    state: &'a State,
    scope: Scope,
    filter: &'a AuditFilter,
) -> impl Iterator<Item = &'a AuditEvent> {
    state.audit.values().filter(move |e| {
        let in_scope = match scope {
            Scope::All => true,
            Scope::Institution(own) => e.institution_id == Some(own),
        };
        in_scope
            && filter
                .institution_id
                .is_none_or(|id| e.institution_id == Some(id))
            && eq_or_any(filter.action.as_ref(), &e.action)
            && filter
                .resource_id
                .is_none_or(|id| e.resource_id == Some(id))
    })
}

#[async_trait]
impl AuditRepository for MemoryStore {
    async fn record_audit(&self, audit: &AuditEvent) -> RepoResult<()> {
        let mut state = self.write()?;
        state.check_new_audit(audit)?;
        state.insert_audit(audit);
        Ok(())
    }

    async fn list_audit(
        &self,
        scope: Scope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AuditEvent>> {
        let state = self.read()?;
        // Audit rows may name no institution, so they are paged here rather than as a `Row`.
        let rows: Vec<AuditEvent> = audit(&state, scope, filter)
            .filter(|e| page.after.is_none_or(|after| e.id.0 > after))
            .take(page.first as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_overfetch(rows, page.first))
    }

    async fn count_audit(&self, scope: Scope, filter: &AuditFilter) -> RepoResult<u64> {
        let state = self.read()?;
        Ok(count(audit(&state, scope, filter)))
    }
}
