//! API keys: issued per institution, looked up by token hash, revoked once and for good.

use super::{MemoryStore, by_ids, duplicate, not_found};
use crate::domain::model::{ApiKey, AuditEvent, Timestamp};
use crate::domain::{ApiKeyId, InstitutionId};
use crate::ports::{ApiKeyRepository, BusMessage, RepoResult, Scope, UniqueRule};
use async_trait::async_trait;
use std::collections::HashMap;

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
