//! Rows by id whatever their kind, for Relay's `node` and `nodes`.

use super::{MemoryStore, State};
use crate::domain::{
    ApiKeyId, AssetId, AuditEventId, EventId, InstitutionId, PositionId, TemplateId,
};
use crate::ports::{AnyRecord, NodeRepository, RepoResult, Scope};
use async_trait::async_trait;
use std::collections::BTreeSet;
use uuid::Uuid;

impl State {
    /// The one row with this id, if the scope may see it. Ids are unique across tables, so
    /// the first table that has it is the only one.
    fn record(&self, scope: Scope, id: Uuid) -> Option<AnyRecord> {
        let visible = |owner: InstitutionId| scope.permits(owner);
        if let Some(row) = self.institutions.get(&InstitutionId(id)) {
            return visible(row.id).then(|| AnyRecord::Institution(row.clone()));
        }
        if let Some(row) = self.templates.get(&TemplateId(id)) {
            return visible(row.institution_id).then(|| AnyRecord::Template(row.clone()));
        }
        if let Some(row) = self.assets.get(&AssetId(id)) {
            return visible(row.institution_id).then(|| AnyRecord::Asset(row.clone()));
        }
        if let Some(row) = self.positions.get(&PositionId(id)) {
            return visible(row.institution_id).then(|| AnyRecord::Position(row.clone()));
        }
        if let Some(row) = self.audit.get(&AuditEventId(id)) {
            let in_scope = match scope {
                Scope::All => true,
                Scope::Institution(own) => row.institution_id == Some(own),
            };
            return in_scope.then(|| AnyRecord::AuditEvent(row.clone()));
        }
        if let Some(row) = self.api_keys.get(&ApiKeyId(id)) {
            return visible(row.institution_id).then(|| AnyRecord::ApiKey(row.clone()));
        }
        if let Some(row) = self.ledger.get(&EventId(id)) {
            return visible(row.institution_id).then(|| AnyRecord::LedgerEvent(row.clone()));
        }
        // Events and policies are kept by position and by region; a scan is fine for the
        // store that serves development and tests.
        if let Some(row) = self.events.values().flatten().find(|row| row.id.0 == id) {
            return visible(row.institution_id).then(|| AnyRecord::PositionEvent(row.clone()));
        }
        self.policies
            .values()
            .find(|row| row.id.0 == id)
            .filter(|row| visible(row.institution_id))
            .map(|row| AnyRecord::Policy(row.clone()))
    }
}

#[async_trait]
impl NodeRepository for MemoryStore {
    async fn records_by_ids(&self, scope: Scope, ids: &[Uuid]) -> RepoResult<Vec<AnyRecord>> {
        let state = self.read()?;
        let wanted: BTreeSet<Uuid> = ids.iter().copied().collect();
        Ok(wanted
            .into_iter()
            .filter_map(|id| state.record(scope, id))
            .collect())
    }
}
