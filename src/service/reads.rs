//! Reads, for one caller: every list, count and batch the GraphQL layer needs, with tenancy
//! decided here and nowhere else. A `Reader` carries the caller's scope into every store call,
//! and a filter reaches the store only as `Permitted`, the proof that it passed the check.

use super::Services;
use super::error::ServiceResult;
use super::viewer::Viewer;
use crate::domain::model::{
    ApiKey, Asset, AssetTemplate, AuditEvent, Institution, LedgerEvent, Policy, Position,
    PositionEvent,
};
use crate::domain::{AssetId, InstitutionId, PositionId, TemplateId};
use crate::ports::{Scope, Store};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use uuid::Uuid;

pub use crate::ports::{
    AnyRecord, AssetFilter, AssetParent, AuditFilter, EventFilter, LedgerFilter, Page, PageRequest,
    PositionFilter, PositionParent, TemplateFilter,
};

/// A filter that may name one institution, which the caller must be allowed to see.
pub trait NamesInstitution {
    fn named_institution(&self) -> Option<InstitutionId>;
}

macro_rules! names_institution {
    ($($filter:ty),* $(,)?) => {$(
        impl NamesInstitution for $filter {
            fn named_institution(&self) -> Option<InstitutionId> {
                self.institution_id
            }
        }
    )*};
}

names_institution!(
    TemplateFilter,
    AssetFilter,
    PositionFilter,
    LedgerFilter,
    AuditFilter,
    EventFilter
);

/// A filter that passed the caller's tenancy check; only `Reader::permit` makes one, so a
/// store call cannot be handed a filter nobody checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Permitted<F>(F);

impl<F> Deref for Permitted<F> {
    type Target = F;

    fn deref(&self) -> &F {
        &self.0
    }
}

impl<F> Permitted<F> {
    #[must_use]
    pub fn into_inner(self) -> F {
        self.0
    }
}

/// One caller's read access. Cheap to clone; a request's loaders each hold one.
#[derive(Clone)]
pub struct Reader {
    store: Arc<dyn Store>,
    viewer: Viewer,
}

impl Services {
    #[must_use]
    pub fn reader(&self, viewer: Viewer) -> Reader {
        Reader {
            store: Arc::clone(&self.store),
            viewer,
        }
    }
}

impl Reader {
    #[must_use]
    pub fn viewer(&self) -> &Viewer {
        &self.viewer
    }

    fn scope(&self) -> Scope {
        self.viewer.scope()
    }

    /// # Errors
    /// `Forbidden` when the filter names an institution other than the caller's own.
    pub fn permit<F: NamesInstitution>(&self, filter: F) -> ServiceResult<Permitted<F>> {
        self.viewer.check_filter(filter.named_institution())?;
        Ok(Permitted(filter))
    }

    pub async fn institutions_by_ids(
        &self,
        ids: &[InstitutionId],
    ) -> ServiceResult<Vec<Institution>> {
        Ok(self.store.institutions_by_ids(self.scope(), ids).await?)
    }

    pub async fn institutions(&self, page: PageRequest) -> ServiceResult<Page<Institution>> {
        Ok(self.store.list_institutions(self.scope(), page).await?)
    }

    pub async fn count_institutions(&self) -> ServiceResult<u64> {
        Ok(self.store.count_institutions(self.scope()).await?)
    }

    pub async fn templates_by_ids(&self, ids: &[TemplateId]) -> ServiceResult<Vec<AssetTemplate>> {
        Ok(self.store.templates_by_ids(self.scope(), ids).await?)
    }

    pub async fn templates(
        &self,
        filter: &Permitted<TemplateFilter>,
        page: PageRequest,
    ) -> ServiceResult<Page<AssetTemplate>> {
        Ok(self
            .store
            .list_templates(self.scope(), filter, page)
            .await?)
    }

    pub async fn count_templates(&self, filter: &Permitted<TemplateFilter>) -> ServiceResult<u64> {
        Ok(self.store.count_templates(self.scope(), filter).await?)
    }

    pub async fn templates_by_institutions(
        &self,
        ids: &[InstitutionId],
        filter: &Permitted<TemplateFilter>,
        page: PageRequest,
    ) -> ServiceResult<HashMap<InstitutionId, Page<AssetTemplate>>> {
        Ok(self
            .store
            .templates_by_institutions(self.scope(), ids, filter, page)
            .await?)
    }

    pub async fn count_templates_by_institutions(
        &self,
        ids: &[InstitutionId],
        filter: &Permitted<TemplateFilter>,
    ) -> ServiceResult<HashMap<InstitutionId, u64>> {
        Ok(self
            .store
            .count_templates_by_institutions(self.scope(), ids, filter)
            .await?)
    }

    pub async fn assets_by_ids(&self, ids: &[AssetId]) -> ServiceResult<Vec<Asset>> {
        Ok(self.store.assets_by_ids(self.scope(), ids).await?)
    }

    pub async fn assets(
        &self,
        filter: &Permitted<AssetFilter>,
        page: PageRequest,
    ) -> ServiceResult<Page<Asset>> {
        Ok(self.store.list_assets(self.scope(), filter, page).await?)
    }

    pub async fn count_assets(&self, filter: &Permitted<AssetFilter>) -> ServiceResult<u64> {
        Ok(self.store.count_assets(self.scope(), filter).await?)
    }

    pub async fn assets_by_parents(
        &self,
        parent: AssetParent,
        ids: &[Uuid],
        filter: &Permitted<AssetFilter>,
        page: PageRequest,
    ) -> ServiceResult<HashMap<Uuid, Page<Asset>>> {
        Ok(self
            .store
            .assets_by_parents(self.scope(), parent, ids, filter, page)
            .await?)
    }

    pub async fn count_assets_by_parents(
        &self,
        parent: AssetParent,
        ids: &[Uuid],
        filter: &Permitted<AssetFilter>,
    ) -> ServiceResult<HashMap<Uuid, u64>> {
        Ok(self
            .store
            .count_assets_by_parents(self.scope(), parent, ids, filter)
            .await?)
    }

    pub async fn positions_by_ids(&self, ids: &[PositionId]) -> ServiceResult<Vec<Position>> {
        Ok(self.store.positions_by_ids(self.scope(), ids).await?)
    }

    pub async fn positions(
        &self,
        filter: &Permitted<PositionFilter>,
        page: PageRequest,
    ) -> ServiceResult<Page<Position>> {
        Ok(self
            .store
            .list_positions(self.scope(), filter, page)
            .await?)
    }

    pub async fn count_positions(&self, filter: &Permitted<PositionFilter>) -> ServiceResult<u64> {
        Ok(self.store.count_positions(self.scope(), filter).await?)
    }

    pub async fn positions_by_parents(
        &self,
        parent: PositionParent,
        ids: &[Uuid],
        filter: &Permitted<PositionFilter>,
        page: PageRequest,
    ) -> ServiceResult<HashMap<Uuid, Page<Position>>> {
        Ok(self
            .store
            .positions_by_parents(self.scope(), parent, ids, filter, page)
            .await?)
    }

    pub async fn count_positions_by_parents(
        &self,
        parent: PositionParent,
        ids: &[Uuid],
        filter: &Permitted<PositionFilter>,
    ) -> ServiceResult<HashMap<Uuid, u64>> {
        Ok(self
            .store
            .count_positions_by_parents(self.scope(), parent, ids, filter)
            .await?)
    }

    pub async fn events_by_positions(
        &self,
        ids: &[PositionId],
    ) -> ServiceResult<HashMap<PositionId, Vec<PositionEvent>>> {
        Ok(self.store.events_by_positions(self.scope(), ids).await?)
    }

    pub async fn ledger_by_positions(
        &self,
        ids: &[PositionId],
    ) -> ServiceResult<HashMap<PositionId, Vec<LedgerEvent>>> {
        Ok(self.store.ledger_by_positions(self.scope(), ids).await?)
    }

    pub async fn ledger(
        &self,
        filter: &Permitted<LedgerFilter>,
        page: PageRequest,
    ) -> ServiceResult<Page<LedgerEvent>> {
        Ok(self.store.list_ledger(self.scope(), filter, page).await?)
    }

    pub async fn count_ledger(&self, filter: &Permitted<LedgerFilter>) -> ServiceResult<u64> {
        Ok(self.store.count_ledger(self.scope(), filter).await?)
    }

    pub async fn audit(
        &self,
        filter: &Permitted<AuditFilter>,
        page: PageRequest,
    ) -> ServiceResult<Page<AuditEvent>> {
        Ok(self.store.list_audit(self.scope(), filter, page).await?)
    }

    pub async fn count_audit(&self, filter: &Permitted<AuditFilter>) -> ServiceResult<u64> {
        Ok(self.store.count_audit(self.scope(), filter).await?)
    }

    pub async fn api_keys_by_institutions(
        &self,
        ids: &[InstitutionId],
    ) -> ServiceResult<HashMap<InstitutionId, Vec<ApiKey>>> {
        Ok(self
            .store
            .api_keys_by_institutions(self.scope(), ids)
            .await?)
    }

    pub async fn policies_by_institutions(
        &self,
        ids: &[InstitutionId],
    ) -> ServiceResult<HashMap<InstitutionId, Vec<Policy>>> {
        Ok(self
            .store
            .policies_by_institutions(self.scope(), ids)
            .await?)
    }

    /// Rows of any kind by id (Relay's `node`), the ones outside the caller's scope absent.
    pub async fn records_by_ids(&self, ids: &[Uuid]) -> ServiceResult<Vec<AnyRecord>> {
        Ok(self.store.records_by_ids(self.scope(), ids).await?)
    }
}
