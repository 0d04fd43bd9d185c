//! In-memory store: the `ports` contract (unique keys, foreign keys, version guards, atomic
//! multi-row writes, idempotency, tenancy) kept in process, for development and tests.
//!
//! One `RwLock` over the whole state is the transaction: a write takes it once, checks every
//! rule, and only then mutates, so a refused write leaves nothing behind and concurrent writers
//! serialise exactly as PostgreSQL row locks would make them. The lock is never held across an
//! `.await` (no trait method awaits anything).
//!
//! One module per aggregate implements its port trait, as in the SeaORM adapter.

mod api_keys;
mod assets;
mod audit;
mod events;
mod institutions;
mod ledger;
mod nodes;
mod policies;
mod positions;
mod templates;

use crate::domain::model::{
    ApiKey, Asset, AssetTemplate, AuditEvent, IdempotencyRecord, Institution, LedgerEvent, Policy,
    Position, PositionEvent,
};
use crate::domain::{
    ApiKeyId, AssetId, AuditEventId, EventId, InstitutionId, PositionId, Region, TemplateId,
};
use crate::ports::{Page, PageRequest, RepoError, RepoResult, Scope, StoreHealth, UniqueRule};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use uuid::Uuid;

/// The whole store. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: RwLock<State>,
    calls: AtomicU64,
    /// Committed changes, published while the write lock is still held so listeners hear
    /// them in `seq` order.
    bus: crate::adapters::broadcast::Broadcaster,
    cursor_key: crate::ports::EventCursorKey,
}

/// The tables. `BTreeMap`s keyed by UUID v7 ids iterate in id order, which is the order every
/// list and page of the contract uses.
#[derive(Debug, Default)]
struct State {
    institutions: BTreeMap<InstitutionId, Institution>,
    templates: BTreeMap<TemplateId, AssetTemplate>,
    assets: BTreeMap<AssetId, Asset>,
    positions: BTreeMap<PositionId, Position>,
    /// Each position's history in version order.
    events: HashMap<PositionId, Vec<PositionEvent>>,
    /// Position event ids are unique across positions, as `position_events_pkey` is.
    event_ids: HashSet<EventId>,
    event_seq: i64,
    ledger: BTreeMap<EventId, LedgerEvent>,
    ledger_seq: i64,
    audit: BTreeMap<AuditEventId, AuditEvent>,
    api_keys: BTreeMap<ApiKeyId, ApiKey>,
    /// The unique index on `key_hash`, also what authentication looks keys up by.
    key_hashes: HashMap<String, ApiKeyId>,
    /// Keyed like the `(institution_id, region)` unique constraint, so an upsert cannot add a
    /// second policy for a region.
    policies: BTreeMap<(InstitutionId, Region), Policy>,
    idempotency: HashMap<(InstitutionId, String), IdempotencyRecord>,
}

impl MemoryStore {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose bus keeps only `capacity` messages for its slowest listener, so tests
    /// can make a listener lag without writing thousands of events.
    #[must_use]
    pub fn with_bus_capacity(capacity: usize) -> Self {
        Self {
            bus: crate::adapters::broadcast::Broadcaster::new(capacity),
            ..Self::default()
        }
    }

    /// Every trait method takes the lock exactly once, through here or `write`, so counting
    /// here counts repository calls.
    fn read(&self) -> RepoResult<RwLockReadGuard<'_, State>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.state.read().map_err(|_| poisoned())
    }

    fn write(&self) -> RepoResult<RwLockWriteGuard<'_, State>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.state.write().map_err(|_| poisoned())
    }
}

/// A panic while holding the lock may have left a write half done; refuse to serve from it.
fn poisoned() -> RepoError {
    RepoError::Internal("memory store lock poisoned by a panicked writer".into())
}

fn not_found(entity: &'static str) -> RepoError {
    RepoError::NotFound { entity }
}

fn duplicate(rule: UniqueRule) -> RepoError {
    RepoError::Duplicate(rule)
}

impl State {
    fn check_new_audit(&self, audit: &AuditEvent) -> RepoResult<()> {
        if self.audit.contains_key(&audit.id) {
            return Err(duplicate(UniqueRule::AuditEventId));
        }
        Ok(())
    }

    fn insert_audit(&mut self, audit: &AuditEvent) {
        self.audit.insert(audit.id, audit.clone());
    }
}

/// A row that belongs to one institution and is paged by its id.
trait Row: Clone {
    fn key(&self) -> Uuid;
    fn owner(&self) -> InstitutionId;
}

macro_rules! row {
    ($($type:ty => $owner:ident),* $(,)?) => {$(
        impl Row for $type {
            fn key(&self) -> Uuid {
                self.id.0
            }
            fn owner(&self) -> InstitutionId {
                self.$owner
            }
        }
    )*};
}

row!(
    Institution => id,
    AssetTemplate => institution_id,
    Asset => institution_id,
    Position => institution_id,
    LedgerEvent => institution_id,
    ApiKey => institution_id,
);

/// Rows of `table` with the requested ids that the scope may see; each row at most once, as
/// `WHERE id = ANY($1)` would return it.
fn by_ids<K: Ord + Copy, T: Row>(table: &BTreeMap<K, T>, scope: Scope, ids: &[K]) -> Vec<T> {
    let wanted: BTreeSet<K> = ids.iter().copied().collect();
    wanted
        .iter()
        .filter_map(|id| table.get(id))
        .filter(|row| scope.permits(row.owner()))
        .cloned()
        .collect()
}

/// One forward page over rows already in id order.
fn page_of<'a, T: Row + 'a>(rows: impl Iterator<Item = &'a T>, page: PageRequest) -> Page<T> {
    let rows = rows
        .filter(|row| page.after.is_none_or(|after| row.key() > after))
        .take(page.first as usize + 1)
        .cloned()
        .collect();
    Page::from_overfetch(rows, page.first)
}

/// One page per requested parent; every requested id is a key, parents without rows get an
/// empty page.
fn pages_by_parent<'a, K, T, I>(
    ids: &[K],
    mut rows_of: impl FnMut(K) -> I,
    page: PageRequest,
) -> HashMap<K, Page<T>>
where
    K: Copy + Eq + Hash,
    T: Row + 'a,
    I: Iterator<Item = &'a T>,
{
    ids.iter()
        .map(|&parent| (parent, page_of(rows_of(parent), page)))
        .collect()
}

fn counts_by_parent<'a, K, T, I>(ids: &[K], mut rows_of: impl FnMut(K) -> I) -> HashMap<K, u64>
where
    K: Copy + Eq + Hash,
    T: 'a,
    I: Iterator<Item = &'a T>,
{
    ids.iter()
        .map(|&parent| (parent, count(rows_of(parent))))
        .collect()
}

fn count<T>(rows: impl Iterator<Item = T>) -> u64 {
    u64::try_from(rows.count()).unwrap_or(u64::MAX)
}

/// `None` matches anything; a value must be equal.
fn eq_or_any<T: PartialEq>(wanted: Option<&T>, actual: &T) -> bool {
    wanted.is_none_or(|wanted| wanted == actual)
}

/// `None` matches anything; `Some(empty)` matches nothing.
fn one_of<T: PartialEq>(wanted: Option<&Vec<T>>, actual: &T) -> bool {
    wanted.is_none_or(|wanted| wanted.contains(actual))
}

#[async_trait]
impl StoreHealth for MemoryStore {
    async fn ping(&self) -> RepoResult<()> {
        self.read().map(|_| ())
    }

    fn statements_executed(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}
