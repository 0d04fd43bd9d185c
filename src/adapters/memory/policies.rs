//! Regional position policies: at most one per (institution, region), replaced in place.

use super::{MemoryStore, duplicate, not_found};
use crate::domain::model::{AuditEvent, Policy};
use crate::domain::{InstitutionId, Region};
use crate::ports::{PolicyRepository, RepoResult, Scope, UniqueRule};
use async_trait::async_trait;
use std::collections::HashMap;

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
