//! DataLoaders: every nested field loads through here, so a nested query costs one store
//! round trip per level and key kind, however many rows each level returns.

use crate::domain::model::{
    ApiKey, Asset, AssetTemplate, Institution, LedgerEvent, Policy, Position, PositionEvent,
};
use crate::domain::{AssetId, InstitutionId, PositionId, TemplateId};

use crate::service::ServiceError;
use crate::service::reads::{
    AnyRecord, AssetFilter, AssetParent, Page, PageRequest, Permitted, PositionFilter,
    PositionParent, Reader, TemplateFilter,
};
use async_graphql::dataloader::{DataLoader, Loader};
use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;
use uuid::Uuid;

/// The nested contract query asks for 10×20×20 positions; their events are one batch only if
/// the batch may hold all 4 000 keys (the default caps it at 1 000).
const MAX_BATCH: usize = 20_000;

/// One request's loader: it reads as the caller, so batching never mixes tenants.
pub(crate) struct StoreLoader {
    reader: Reader,
}

pub(crate) type Loaders = DataLoader<StoreLoader>;

/// How long a loader waits for more keys before it loads: async-graphql's default, long
/// enough for every sibling field of a list to ask for its rows first.
pub(crate) const BATCH_DELAY: Duration = Duration::from_millis(1);

pub(crate) fn new_loaders(reader: Reader, delay: Duration) -> Loaders {
    // The batch runs in a task of its own; it stays in the request's span so its statements
    // are traced as the request's.
    DataLoader::new(StoreLoader { reader }, |batch| {
        tokio::spawn(tracing::Instrument::in_current_span(batch))
    })
    .max_batch_size(MAX_BATCH)
    .delay(delay)
}

fn by_id<K: Hash + Eq, V>(rows: Vec<V>, key: impl Fn(&V) -> K) -> HashMap<K, V> {
    rows.into_iter().map(|row| (key(&row), row)).collect()
}

impl Loader<InstitutionId> for StoreLoader {
    type Value = Institution;
    type Error = ServiceError;

    async fn load(
        &self,
        keys: &[InstitutionId],
    ) -> Result<HashMap<InstitutionId, Institution>, ServiceError> {
        Ok(by_id(self.reader.institutions_by_ids(keys).await?, |row| {
            row.id
        }))
    }
}

impl Loader<TemplateId> for StoreLoader {
    type Value = AssetTemplate;
    type Error = ServiceError;

    async fn load(
        &self,
        keys: &[TemplateId],
    ) -> Result<HashMap<TemplateId, AssetTemplate>, ServiceError> {
        Ok(by_id(self.reader.templates_by_ids(keys).await?, |row| {
            row.id
        }))
    }
}

impl Loader<AssetId> for StoreLoader {
    type Value = Asset;
    type Error = ServiceError;

    async fn load(&self, keys: &[AssetId]) -> Result<HashMap<AssetId, Asset>, ServiceError> {
        Ok(by_id(self.reader.assets_by_ids(keys).await?, |row| row.id))
    }
}

impl Loader<PositionId> for StoreLoader {
    type Value = Position;
    type Error = ServiceError;

    async fn load(
        &self,
        keys: &[PositionId],
    ) -> Result<HashMap<PositionId, Position>, ServiceError> {
        Ok(by_id(self.reader.positions_by_ids(keys).await?, |row| {
            row.id
        }))
    }
}

/// A Relay global id: a row of any kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AnyId(pub(crate) Uuid);

impl Loader<AnyId> for StoreLoader {
    type Value = AnyRecord;
    type Error = ServiceError;

    async fn load(&self, keys: &[AnyId]) -> Result<HashMap<AnyId, AnyRecord>, ServiceError> {
        let ids: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
        Ok(by_id(self.reader.records_by_ids(&ids).await?, |row| {
            AnyId(row.id())
        }))
    }
}

/// A position's whole lifecycle history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct EventsOf(pub(crate) PositionId);

impl Loader<EventsOf> for StoreLoader {
    type Value = Vec<PositionEvent>;
    type Error = ServiceError;

    async fn load(
        &self,
        keys: &[EventsOf],
    ) -> Result<HashMap<EventsOf, Vec<PositionEvent>>, ServiceError> {
        let ids: Vec<PositionId> = keys.iter().map(|key| key.0).collect();
        let events = self.reader.events_by_positions(&ids).await?;
        Ok(events
            .into_iter()
            .map(|(id, rows)| (EventsOf(id), rows))
            .collect())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LedgerOf(pub(crate) PositionId);

impl Loader<LedgerOf> for StoreLoader {
    type Value = Vec<LedgerEvent>;
    type Error = ServiceError;

    async fn load(
        &self,
        keys: &[LedgerOf],
    ) -> Result<HashMap<LedgerOf, Vec<LedgerEvent>>, ServiceError> {
        let ids: Vec<PositionId> = keys.iter().map(|key| key.0).collect();
        let events = self.reader.ledger_by_positions(&ids).await?;
        Ok(events
            .into_iter()
            .map(|(id, rows)| (LedgerOf(id), rows))
            .collect())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeysOf(pub(crate) InstitutionId);

impl Loader<KeysOf> for StoreLoader {
    type Value = Vec<ApiKey>;
    type Error = ServiceError;

    async fn load(&self, keys: &[KeysOf]) -> Result<HashMap<KeysOf, Vec<ApiKey>>, ServiceError> {
        let ids: Vec<InstitutionId> = keys.iter().map(|key| key.0).collect();
        let rows = self.reader.api_keys_by_institutions(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|(id, rows)| (KeysOf(id), rows))
            .collect())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoliciesOf(pub(crate) InstitutionId);

impl Loader<PoliciesOf> for StoreLoader {
    type Value = Vec<Policy>;
    type Error = ServiceError;

    async fn load(
        &self,
        keys: &[PoliciesOf],
    ) -> Result<HashMap<PoliciesOf, Vec<Policy>>, ServiceError> {
        let ids: Vec<InstitutionId> = keys.iter().map(|key| key.0).collect();
        let rows = self.reader.policies_by_institutions(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|(id, rows)| (PoliciesOf(id), rows))
            .collect())
    }
}

/// One page of children of one parent. Keys that share (kind, filter, page) go to the store
/// together: sibling fields of a nested query always do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ChildPage<K: ChildKind> {
    pub(crate) kind: K,
    pub(crate) parent: Uuid,
    pub(crate) filter: K::Filter,
    pub(crate) page: PageRequest,
}

/// How many children one parent has under a filter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ChildCount<K: ChildKind> {
    pub(crate) kind: K,
    pub(crate) parent: Uuid,
    pub(crate) filter: K::Filter,
}

/// Template lists only hang off institutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct OfInstitution;

/// A child list the store loads for many parents in one round trip.
#[async_trait::async_trait]
pub(crate) trait ChildKind: Copy + Eq + Hash + Send + Sync + 'static {
    type Filter: Clone + Eq + Hash + Send + Sync + 'static;
    type Item: Clone + Send + Sync + 'static;

    async fn pages(
        self,
        loader: &StoreLoader,
        parents: &[Uuid],
        filter: &Self::Filter,
        page: PageRequest,
    ) -> Result<HashMap<Uuid, Page<Self::Item>>, ServiceError>;

    async fn counts(
        self,
        loader: &StoreLoader,
        parents: &[Uuid],
        filter: &Self::Filter,
    ) -> Result<HashMap<Uuid, u64>, ServiceError>;
}

#[async_trait::async_trait]
impl ChildKind for OfInstitution {
    type Filter = Permitted<TemplateFilter>;
    type Item = AssetTemplate;

    async fn pages(
        self,
        loader: &StoreLoader,
        parents: &[Uuid],
        filter: &Permitted<TemplateFilter>,
        page: PageRequest,
    ) -> Result<HashMap<Uuid, Page<AssetTemplate>>, ServiceError> {
        let ids: Vec<InstitutionId> = parents.iter().copied().map(InstitutionId).collect();
        let pages = loader
            .reader
            .templates_by_institutions(&ids, filter, page)
            .await?;
        Ok(pages.into_iter().map(|(id, rows)| (id.0, rows)).collect())
    }

    async fn counts(
        self,
        loader: &StoreLoader,
        parents: &[Uuid],
        filter: &Permitted<TemplateFilter>,
    ) -> Result<HashMap<Uuid, u64>, ServiceError> {
        let ids: Vec<InstitutionId> = parents.iter().copied().map(InstitutionId).collect();
        let counts = loader
            .reader
            .count_templates_by_institutions(&ids, filter)
            .await?;
        Ok(counts
            .into_iter()
            .map(|(id, count)| (id.0, count))
            .collect())
    }
}

#[async_trait::async_trait]
impl ChildKind for AssetParent {
    type Filter = Permitted<AssetFilter>;
    type Item = Asset;

    async fn pages(
        self,
        loader: &StoreLoader,
        parents: &[Uuid],
        filter: &Permitted<AssetFilter>,
        page: PageRequest,
    ) -> Result<HashMap<Uuid, Page<Asset>>, ServiceError> {
        loader
            .reader
            .assets_by_parents(self, parents, filter, page)
            .await
    }

    async fn counts(
        self,
        loader: &StoreLoader,
        parents: &[Uuid],
        filter: &Permitted<AssetFilter>,
    ) -> Result<HashMap<Uuid, u64>, ServiceError> {
        loader
            .reader
            .count_assets_by_parents(self, parents, filter)
            .await
    }
}

#[async_trait::async_trait]
impl ChildKind for PositionParent {
    type Filter = Permitted<PositionFilter>;
    type Item = Position;

    async fn pages(
        self,
        loader: &StoreLoader,
        parents: &[Uuid],
        filter: &Permitted<PositionFilter>,
        page: PageRequest,
    ) -> Result<HashMap<Uuid, Page<Position>>, ServiceError> {
        loader
            .reader
            .positions_by_parents(self, parents, filter, page)
            .await
    }

    async fn counts(
        self,
        loader: &StoreLoader,
        parents: &[Uuid],
        filter: &Permitted<PositionFilter>,
    ) -> Result<HashMap<Uuid, u64>, ServiceError> {
        loader
            .reader
            .count_positions_by_parents(self, parents, filter)
            .await
    }
}

impl<K: ChildKind> Loader<ChildPage<K>> for StoreLoader {
    type Value = Page<K::Item>;
    type Error = ServiceError;

    async fn load(
        &self,
        keys: &[ChildPage<K>],
    ) -> Result<HashMap<ChildPage<K>, Page<K::Item>>, ServiceError> {
        let mut groups: HashMap<(K, K::Filter, PageRequest), Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.kind, key.filter.clone(), key.page))
                .or_default()
                .push(key.parent);
        }
        let mut loaded = HashMap::new();
        for ((kind, filter, page), parents) in groups {
            for (parent, rows) in kind.pages(self, &parents, &filter, page).await? {
                let key = ChildPage {
                    kind,
                    parent,
                    filter: filter.clone(),
                    page,
                };
                loaded.insert(key, rows);
            }
        }
        Ok(loaded)
    }
}

impl<K: ChildKind> Loader<ChildCount<K>> for StoreLoader {
    type Value = u64;
    type Error = ServiceError;

    async fn load(
        &self,
        keys: &[ChildCount<K>],
    ) -> Result<HashMap<ChildCount<K>, u64>, ServiceError> {
        let mut groups: HashMap<(K, K::Filter), Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.kind, key.filter.clone()))
                .or_default()
                .push(key.parent);
        }
        let mut loaded = HashMap::new();
        for ((kind, filter), parents) in groups {
            for (parent, count) in kind.counts(self, &parents, &filter).await? {
                let key = ChildCount {
                    kind,
                    parent,
                    filter: filter.clone(),
                };
                loaded.insert(key, count);
            }
        }
        Ok(loaded)
    }
}

/// A page together with its parent's total, for connections that select `totalCount`: the
/// count rides in the page's batch (two statements for the whole level) instead of forming
/// batches of its own, which would split whenever keys reach the loader spread out in time.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CountedChildPage<K: ChildKind>(pub(crate) ChildPage<K>);

impl<K: ChildKind> Loader<CountedChildPage<K>> for StoreLoader {
    type Value = (Page<K::Item>, u64);
    type Error = ServiceError;

    async fn load(
        &self,
        keys: &[CountedChildPage<K>],
    ) -> Result<HashMap<CountedChildPage<K>, (Page<K::Item>, u64)>, ServiceError> {
        let mut groups: HashMap<(K, K::Filter, PageRequest), Vec<Uuid>> = HashMap::new();
        for CountedChildPage(key) in keys {
            groups
                .entry((key.kind, key.filter.clone(), key.page))
                .or_default()
                .push(key.parent);
        }
        let mut loaded = HashMap::new();
        for ((kind, filter, page), parents) in groups {
            let mut pages = kind.pages(self, &parents, &filter, page).await?;
            let counts = kind.counts(self, &parents, &filter).await?;
            for parent in parents {
                let rows = pages.remove(&parent).unwrap_or_else(Page::empty);
                let count = counts.get(&parent).copied().unwrap_or(0);
                let key = ChildPage {
                    kind,
                    parent,
                    filter: filter.clone(),
                    page,
                };
                loaded.insert(CountedChildPage(key), (rows, count));
            }
        }
        Ok(loaded)
    }
}
