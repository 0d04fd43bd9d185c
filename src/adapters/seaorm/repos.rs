//! The `ports` traits for `PgStore`, each method a thin call into `reads`/`writes`, so one file
//! shows the whole contract surface and the SQL lives beside its siblings.

use super::PgStore;
use crate::domain::model::{
    ApiKey, Asset, AssetTemplate, AuditEvent, IdempotencyRecord, Institution, LedgerEvent, Policy,
    Position, PositionEvent, Timestamp,
};
use crate::domain::{ApiKeyId, AssetId, InstitutionId, PositionId, Region, TemplateId};
use crate::ports::{
    ApiKeyRepository, AssetFilter, AssetParent, AssetRepository, AuditFilter, AuditRepository,
    InstitutionRepository, LedgerFilter, LedgerRepository, Page, PageRequest, PolicyRepository,
    PositionCreation, PositionFilter, PositionParent, PositionRepository, PositionTransition,
    RepoResult, Scope, StoreHealth, TemplateFilter, TemplateRepository, WriteOutcome,
};
use async_trait::async_trait;
use std::collections::HashMap;
use uuid::Uuid;

#[async_trait]
impl InstitutionRepository for PgStore {
    async fn create_institution(
        &self,
        institution: &Institution,
        audit: &AuditEvent,
    ) -> RepoResult<()> {
        self.write_institution(institution, audit).await
    }

    async fn institutions_by_ids(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
    ) -> RepoResult<Vec<Institution>> {
        self.read_institutions_by_ids(scope, ids).await
    }

    async fn list_institutions(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> RepoResult<Page<Institution>> {
        self.read_institutions(scope, page).await
    }

    async fn count_institutions(&self, scope: Scope) -> RepoResult<u64> {
        self.read_institution_count(scope).await
    }
}

#[async_trait]
impl TemplateRepository for PgStore {
    async fn create_template(
        &self,
        template: &AssetTemplate,
        audit: &AuditEvent,
    ) -> RepoResult<()> {
        self.write_template(template, audit).await
    }

    async fn templates_by_ids(
        &self,
        scope: Scope,
        ids: &[TemplateId],
    ) -> RepoResult<Vec<AssetTemplate>> {
        self.read_templates_by_ids(scope, ids).await
    }

    async fn list_templates(
        &self,
        scope: Scope,
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AssetTemplate>> {
        self.read_templates(scope, filter, page).await
    }

    async fn count_templates(&self, scope: Scope, filter: &TemplateFilter) -> RepoResult<u64> {
        self.read_template_count(scope, filter).await
    }

    async fn templates_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<InstitutionId, Page<AssetTemplate>>> {
        self.read_templates_by_institutions(scope, ids, filter, page)
            .await
    }

    async fn count_templates_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
        filter: &TemplateFilter,
    ) -> RepoResult<HashMap<InstitutionId, u64>> {
        self.read_template_counts_by_institutions(scope, ids, filter)
            .await
    }
}

#[async_trait]
impl AssetRepository for PgStore {
    async fn create_asset(&self, asset: &Asset, audit: &AuditEvent) -> RepoResult<()> {
        self.write_asset(asset, audit).await
    }

    async fn assets_by_ids(&self, scope: Scope, ids: &[AssetId]) -> RepoResult<Vec<Asset>> {
        self.read_assets_by_ids(scope, ids).await
    }

    async fn list_assets(
        &self,
        scope: Scope,
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Asset>> {
        self.read_assets(scope, filter, page).await
    }

    async fn count_assets(&self, scope: Scope, filter: &AssetFilter) -> RepoResult<u64> {
        self.read_asset_count(scope, filter).await
    }

    async fn assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        ids: &[Uuid],
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Asset>>> {
        self.read_assets_by_parents(scope, parent, ids, filter, page)
            .await
    }

    async fn count_assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        ids: &[Uuid],
        filter: &AssetFilter,
    ) -> RepoResult<HashMap<Uuid, u64>> {
        self.read_asset_counts_by_parents(scope, parent, ids, filter)
            .await
    }
}

#[async_trait]
impl PositionRepository for PgStore {
    async fn create_position(&self, creation: PositionCreation) -> RepoResult<WriteOutcome> {
        self.write_position_creation(creation).await
    }

    async fn transition_position(
        &self,
        transition: PositionTransition,
    ) -> RepoResult<WriteOutcome> {
        self.write_position_transition(transition).await
    }

    async fn positions_by_ids(
        &self,
        scope: Scope,
        ids: &[PositionId],
    ) -> RepoResult<Vec<Position>> {
        self.read_positions_by_ids(scope, ids).await
    }

    async fn list_positions(
        &self,
        scope: Scope,
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Position>> {
        self.read_positions(scope, filter, page).await
    }

    async fn count_positions(&self, scope: Scope, filter: &PositionFilter) -> RepoResult<u64> {
        self.read_position_count(scope, filter).await
    }

    async fn positions_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        ids: &[Uuid],
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Position>>> {
        self.read_positions_by_parents(scope, parent, ids, filter, page)
            .await
    }

    async fn count_positions_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        ids: &[Uuid],
        filter: &PositionFilter,
    ) -> RepoResult<HashMap<Uuid, u64>> {
        self.read_position_counts_by_parents(scope, parent, ids, filter)
            .await
    }

    async fn events_by_positions(
        &self,
        scope: Scope,
        ids: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<PositionEvent>>> {
        self.read_events_by_positions(scope, ids).await
    }

    async fn find_idempotency(
        &self,
        institution: InstitutionId,
        key: &str,
    ) -> RepoResult<Option<IdempotencyRecord>> {
        self.read_idempotency(institution, key).await
    }
}

#[async_trait]
impl LedgerRepository for PgStore {
    async fn ledger_by_positions(
        &self,
        scope: Scope,
        ids: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<LedgerEvent>>> {
        self.read_ledger_by_positions(scope, ids).await
    }

    async fn list_ledger(
        &self,
        scope: Scope,
        filter: &LedgerFilter,
        page: PageRequest,
    ) -> RepoResult<Page<LedgerEvent>> {
        self.read_ledger(scope, filter, page).await
    }

    async fn count_ledger(&self, scope: Scope, filter: &LedgerFilter) -> RepoResult<u64> {
        self.read_ledger_count(scope, filter).await
    }
}

#[async_trait]
impl AuditRepository for PgStore {
    async fn record_audit(&self, audit: &AuditEvent) -> RepoResult<()> {
        self.write_audit(audit).await
    }

    async fn list_audit(
        &self,
        scope: Scope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AuditEvent>> {
        self.read_audit(scope, filter, page).await
    }

    async fn count_audit(&self, scope: Scope, filter: &AuditFilter) -> RepoResult<u64> {
        self.read_audit_count(scope, filter).await
    }
}

#[async_trait]
impl ApiKeyRepository for PgStore {
    async fn create_api_key(&self, key: &ApiKey, audit: &AuditEvent) -> RepoResult<()> {
        self.write_api_key(key, audit).await
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> RepoResult<Option<ApiKey>> {
        self.read_api_key_by_hash(key_hash).await
    }

    async fn api_keys_by_ids(&self, scope: Scope, ids: &[ApiKeyId]) -> RepoResult<Vec<ApiKey>> {
        self.read_api_keys_by_ids(scope, ids).await
    }

    async fn revoke_api_key(
        &self,
        scope: Scope,
        id: ApiKeyId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> RepoResult<ApiKey> {
        self.write_revocation(scope, id, at, audit).await
    }

    async fn api_keys_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<ApiKey>>> {
        self.read_api_keys_by_institutions(scope, ids).await
    }
}

#[async_trait]
impl PolicyRepository for PgStore {
    async fn upsert_policy(&self, policy: &Policy, audit: &AuditEvent) -> RepoResult<Policy> {
        self.write_policy(policy, audit).await
    }

    async fn policy_for(
        &self,
        scope: Scope,
        institution: InstitutionId,
        region: Region,
    ) -> RepoResult<Option<Policy>> {
        self.read_policy_for(scope, institution, region).await
    }

    async fn policies_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<Policy>>> {
        self.read_policies_by_institutions(scope, ids).await
    }
}

#[async_trait]
impl StoreHealth for PgStore {
    async fn ping(&self) -> RepoResult<()> {
        self.ping_db().await
    }

    fn statements_executed(&self) -> u64 {
        self.statement_count()
    }
}
