//! Who may act and what they did: API keys, regional policies and the audit trail.

use super::{MemoryStore, State, by_ids, count, duplicate, eq_or_any, not_found};
use crate::domain::model::{ApiKey, AuditEvent, Policy, Timestamp};
use crate::domain::{ApiKeyId, InstitutionId, Region};
use crate::ports::{
    ApiKeyRepository, AuditFilter, AuditRepository, BusMessage, Page, PageRequest,
    PolicyRepository, RepoResult, Scope, UniqueRule,
};
use async_trait::async_trait;
use std::collections::HashMap;

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

#[async_trait]
impl ApiKeyRepository for MemoryStore {
    async fn create_api_key(&self, key: &ApiKey, audit: &AuditEvent) -> RepoResult<()> {
        let mut state = self.write()?;
        if !state.institutions.contains_key(&key.institution_id) {
            return Err(not_found("institution"));
        }
        if state.api_keys.contains_key(&key.id) {
            return Err(duplicate(UniqueRule::ApiKeyId));
        }
        if state.key_hashes.contains_key(&key.key_hash) {
            return Err(duplicate(UniqueRule::ApiKeyHash));
        }
        state.check_new_audit(audit)?;
        state.key_hashes.insert(key.key_hash.clone(), key.id);
        state.api_keys.insert(key.id, key.clone());
        state.insert_audit(audit);
        Ok(())
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> RepoResult<Option<ApiKey>> {
        let state = self.read()?;
        let id = state.key_hashes.get(key_hash);
        Ok(id.and_then(|id| state.api_keys.get(id)).cloned())
    }

    async fn api_keys_by_ids(&self, scope: Scope, ids: &[ApiKeyId]) -> RepoResult<Vec<ApiKey>> {
        Ok(by_ids(&self.read()?.api_keys, scope, ids))
    }

    async fn revoke_api_key(
        &self,
        scope: Scope,
        id: ApiKeyId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> RepoResult<ApiKey> {
        let mut state = self.write()?;
        state.check_new_audit(audit)?;
        let Some(key) = state
            .api_keys
            .get_mut(&id)
            .filter(|key| scope.permits(key.institution_id))
        else {
            return Err(not_found("api key"));
        };
        // The first revocation time stands: a key is dead from then on, and a second revoke
        // must not move that moment.
        key.revoked_at.get_or_insert(at);
        let key = key.clone();
        state.insert_audit(audit);
        self.bus.publish(BusMessage::ApiKeyRevoked(key.id));
        Ok(key)
    }

    async fn api_keys_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<ApiKey>>> {
        let state = self.read()?;
        let keys_of = |institution: InstitutionId| {
            state
                .api_keys
                .values()
                .filter(|key| key.institution_id == institution && scope.permits(institution))
                .cloned()
                .collect()
        };
        Ok(ids.iter().map(|&id| (id, keys_of(id))).collect())
    }
}

#[async_trait]
impl PolicyRepository for MemoryStore {
    async fn upsert_policy(&self, policy: &Policy, audit: &AuditEvent) -> RepoResult<Policy> {
        let mut state = self.write()?;
        if !state.institutions.contains_key(&policy.institution_id) {
            return Err(not_found("institution"));
        }
        let slot = (policy.institution_id, policy.region);
        let stored = match state.policies.get(&slot) {
            Some(existing) => Policy {
                rules: policy.rules.clone(),
                updated_at: policy.updated_at,
                ..existing.clone()
            },
            None => {
                if state.policies.values().any(|p| p.id == policy.id) {
                    return Err(duplicate(UniqueRule::PolicyId));
                }
                policy.clone()
            }
        };
        state.check_new_audit(audit)?;
        state.insert_audit(audit);
        state.policies.insert(slot, stored.clone());
        Ok(stored)
    }

    async fn policy_for(
        &self,
        scope: Scope,
        institution: InstitutionId,
        region: Region,
    ) -> RepoResult<Option<Policy>> {
        let state = self.read()?;
        let policy = state.policies.get(&(institution, region));
        Ok(policy.filter(|p| scope.permits(p.institution_id)).cloned())
    }

    async fn policies_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<Policy>>> {
        let state = self.read()?;
        let policies_of = |institution: InstitutionId| {
            if !scope.permits(institution) {
                return Vec::new();
            }
            Region::ALL
                .iter()
                .filter_map(|&region| state.policies.get(&(institution, region)))
                .cloned()
                .collect()
        };
        Ok(ids.iter().map(|&id| (id, policies_of(id))).collect())
    }
}
