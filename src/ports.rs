//! Repository traits: what the service layer needs from a store, and the errors every adapter
//! MUST return. One contract suite (`tests/it/contract`) holds each adapter to this text.
//!
//! The traits are object-safe (`async_trait`, `Arc<dyn Store>`) because the composition root
//! picks the adapter at run time from `DATABASE_URL`; generics would leak the adapter type
//! into every resolver and loader for no gain, as one virtual call is noise next to I/O.

use crate::domain::model::{
    ApiKey, Asset, AssetTemplate, AuditEvent, EventSeq, IdempotencyRecord, IdempotentOperation,
    Institution, LedgerEvent, Policy, Position, PositionEvent, Timestamp,
};
use crate::domain::{
    ApiKeyId, AssetId, BoundedText, Currency, InstitutionId, LedgerEventKind, PositionId,
    PositionState, Region, TemplateCode, TemplateId, Vertical,
};
use async_trait::async_trait;
use std::collections::HashMap;
use thiserror::Error;
use uuid::Uuid;

/// Which institutions' rows a read may see. Every read takes one, so tenancy holds even where
/// a resolver forgets to check: rows outside the scope behave exactly like missing rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    Institution(InstitutionId),
}

impl Scope {
    #[must_use]
    pub fn permits(&self, institution: InstitutionId) -> bool {
        match self {
            Self::All => true,
            Self::Institution(own) => *own == institution,
        }
    }
}

/// `Clone` because DataLoader shares one error among every key of a failed batch.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RepoError {
    /// The row, or a row it must refer to, does not exist within the scope.
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A version guard failed, or an idempotency key was reused with another request.
    #[error("conflict: {message}")]
    Conflict { message: String },
    /// A uniqueness rule refused the write; nothing was written.
    #[error("duplicate value breaks the {0:?} rule")]
    Duplicate(UniqueRule),
    /// The store cannot be reached or did not answer in time; nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the message is for logs only.
    #[error("store error: {0}")]
    Internal(String),
}

pub type RepoResult<T> = Result<T, RepoError>;

/// The uniqueness rules of the store, one per unique constraint of the schema, so that an
/// adapter says which rule a write broke without naming its own storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UniqueRule {
    InstitutionId,
    TemplateId,
    AssetId,
    PositionId,
    PositionEventId,
    /// The store-assigned order of position events.
    PositionEventSeq,
    /// One lifecycle event per position and version.
    PositionEventVersion,
    LedgerEventId,
    /// The store-assigned order of ledger events.
    LedgerEventSeq,
    AuditEventId,
    ApiKeyId,
    /// One key per token (its hash).
    ApiKeyHash,
    PolicyId,
    /// One policy per institution and region.
    PolicyRegion,
    /// One idempotent request per institution and key.
    IdempotencyKey,
}

/// Forward pagination over id order (UUID v7, hence creation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub first: u32,
    /// Only rows whose id is greater than this one.
    pub after: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `first + 1` rows in id order: the extra row only says more exist.
    #[must_use]
    pub fn from_overfetch(mut rows: Vec<T>, first: u32) -> Self {
        let first = first as usize;
        let has_next_page = rows.len() > first;
        rows.truncate(first);
        Self {
            items: rows,
            has_next_page,
        }
    }

    #[must_use]
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            has_next_page: false,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TemplateFilter {
    pub institution_id: Option<InstitutionId>,
    pub vertical: Option<Vertical>,
    pub region: Option<Region>,
    pub code: Option<TemplateCode>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AssetFilter {
    pub institution_id: Option<InstitutionId>,
    pub template_id: Option<TemplateId>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PositionFilter {
    pub institution_id: Option<InstitutionId>,
    pub asset_id: Option<AssetId>,
    pub holder_reference: Option<String>,
    /// `Some(empty)` matches nothing.
    pub states: Option<Vec<PositionState>>,
    pub currency: Option<Currency>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LedgerFilter {
    pub institution_id: Option<InstitutionId>,
    pub position_id: Option<PositionId>,
    pub kinds: Option<Vec<LedgerEventKind>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AuditFilter {
    pub institution_id: Option<InstitutionId>,
    pub action: Option<String>,
    pub resource_id: Option<Uuid>,
}

/// The column a child list is grouped by when loading the children of many parents at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssetParent {
    Institution,
    Template,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PositionParent {
    Institution,
    Asset,
}

/// Claims an idempotency key for a write, within the write's own transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: BoundedText,
    pub operation: IdempotentOperation,
    pub request_hash: String,
}

impl IdempotencyClaim {
    /// The idempotent-replay rule, for whoever finds `record` already holding this claim's key
    /// (the service before planning a write, each adapter inside it): the same request gets
    /// the first result back; anything else under that key is refused.
    ///
    /// # Errors
    /// `Conflict` when the key was first used by another operation or with other input.
    pub fn replay(&self, record: &IdempotencyRecord) -> RepoResult<Position> {
        if record.operation == self.operation && record.request_hash == self.request_hash {
            Ok(record.response.clone())
        } else {
            Err(RepoError::Conflict {
                message: format!(
                    "idempotencyKey {:?} was already used with a different {} request",
                    self.key.as_str(),
                    record.operation.as_str()
                ),
            })
        }
    }
}

/// Everything a position creation writes, atomically.
#[derive(Clone, Debug)]
pub struct PositionCreation {
    pub position: Position,
    pub event: PositionEvent,
    pub ledger: LedgerEvent,
    pub audit: AuditEvent,
    pub idempotency: Option<IdempotencyClaim>,
}

/// Everything a lifecycle step writes, atomically. `position` is the row as it must be after
/// the step (its `version` is `expected_version + 1`).
#[derive(Clone, Debug)]
pub struct PositionTransition {
    pub expected_version: i32,
    pub position: Position,
    pub event: PositionEvent,
    pub ledger: LedgerEvent,
    pub audit: AuditEvent,
    pub idempotency: Option<IdempotencyClaim>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum WriteOutcome {
    /// Written now; `event` carries its store-assigned `seq`.
    Applied {
        position: Position,
        event: PositionEvent,
    },
    /// The idempotency key had already produced this result with the same request; nothing
    /// was written.
    Replayed { position: Position },
}

#[async_trait]
pub trait InstitutionRepository: Send + Sync {
    /// # Errors
    /// `Duplicate` when the id exists.
    async fn create_institution(
        &self,
        institution: &Institution,
        audit: &AuditEvent,
    ) -> RepoResult<()>;
    /// Rows in the scope among `ids`, in no particular order; missing ids are left out.
    async fn institutions_by_ids(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
    ) -> RepoResult<Vec<Institution>>;
    async fn list_institutions(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> RepoResult<Page<Institution>>;
    async fn count_institutions(&self, scope: Scope) -> RepoResult<u64>;
}

#[async_trait]
pub trait TemplateRepository: Send + Sync {
    /// # Errors
    /// `NotFound { entity: "institution" }` when the institution does not exist.
    async fn create_template(&self, template: &AssetTemplate, audit: &AuditEvent)
    -> RepoResult<()>;
    async fn templates_by_ids(
        &self,
        scope: Scope,
        ids: &[TemplateId],
    ) -> RepoResult<Vec<AssetTemplate>>;
    async fn list_templates(
        &self,
        scope: Scope,
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AssetTemplate>>;
    async fn count_templates(&self, scope: Scope, filter: &TemplateFilter) -> RepoResult<u64>;
    /// One page per institution (each its own `first`/`after`), in one round trip. Every
    /// requested id is a key of the result, with an empty page when it has no rows.
    async fn templates_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
        filter: &TemplateFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<InstitutionId, Page<AssetTemplate>>>;
    /// Every requested id is a key of the result.
    async fn count_templates_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
        filter: &TemplateFilter,
    ) -> RepoResult<HashMap<InstitutionId, u64>>;
}

/// An asset and the rules a position on it must follow.
#[derive(Clone, Debug, PartialEq)]
pub struct AssetRules {
    pub asset: Asset,
    pub template: AssetTemplate,
    pub policy: Option<Policy>,
}

#[async_trait]
pub trait AssetRepository: Send + Sync {
    /// # Errors
    /// `NotFound { entity: "template" }` when the template does not exist for the asset's
    /// institution.
    async fn create_asset(&self, asset: &Asset, audit: &AuditEvent) -> RepoResult<()>;
    async fn assets_by_ids(&self, scope: Scope, ids: &[AssetId]) -> RepoResult<Vec<Asset>>;
    /// The asset, if the scope may see it, with its template and its institution's policy for
    /// the template's region: all that a new position on it is checked against, in one round
    /// trip (PostgreSQL: one statement).
    async fn asset_rules(&self, scope: Scope, asset: AssetId) -> RepoResult<Option<AssetRules>>;
    async fn list_assets(
        &self,
        scope: Scope,
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Asset>>;
    async fn count_assets(&self, scope: Scope, filter: &AssetFilter) -> RepoResult<u64>;
    /// As `templates_by_institutions`, grouped by `parent`.
    async fn assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        ids: &[Uuid],
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Asset>>>;
    async fn count_assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        ids: &[Uuid],
        filter: &AssetFilter,
    ) -> RepoResult<HashMap<Uuid, u64>>;
}

#[async_trait]
pub trait PositionRepository: Send + Sync {
    /// Writes the position, its creation event, its ledger event, its audit event and the
    /// idempotency claim in one transaction.
    ///
    /// # Errors
    /// `NotFound { entity: "asset" }` when the asset does not exist for the position's
    /// institution; `Conflict` when the idempotency key is held by a different request (the
    /// same request yields `Ok(Replayed)`). On any error nothing is written.
    async fn create_position(&self, creation: PositionCreation) -> RepoResult<WriteOutcome>;
    /// Applies a lifecycle step guarded by `expected_version`, in one transaction.
    ///
    /// # Errors
    /// `NotFound { entity: "position" }` when it does not exist; `Conflict` when the stored
    /// version is not `expected_version` (another writer won) or the idempotency key is held
    /// by a different request. On any error nothing is written.
    async fn transition_position(&self, transition: PositionTransition)
    -> RepoResult<WriteOutcome>;
    async fn positions_by_ids(&self, scope: Scope, ids: &[PositionId])
    -> RepoResult<Vec<Position>>;
    async fn list_positions(
        &self,
        scope: Scope,
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Position>>;
    async fn count_positions(&self, scope: Scope, filter: &PositionFilter) -> RepoResult<u64>;
    async fn positions_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        ids: &[Uuid],
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Position>>>;
    async fn count_positions_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        ids: &[Uuid],
        filter: &PositionFilter,
    ) -> RepoResult<HashMap<Uuid, u64>>;
    /// Whole histories, oldest first (by version). Every requested id is a key.
    async fn events_by_positions(
        &self,
        scope: Scope,
        ids: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<PositionEvent>>>;
    async fn find_idempotency(
        &self,
        institution: InstitutionId,
        key: &str,
    ) -> RepoResult<Option<IdempotencyRecord>>;
}

#[async_trait]
pub trait LedgerRepository: Send + Sync {
    /// Oldest first. Every requested id is a key.
    async fn ledger_by_positions(
        &self,
        scope: Scope,
        ids: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<LedgerEvent>>>;
    async fn list_ledger(
        &self,
        scope: Scope,
        filter: &LedgerFilter,
        page: PageRequest,
    ) -> RepoResult<Page<LedgerEvent>>;
    async fn count_ledger(&self, scope: Scope, filter: &LedgerFilter) -> RepoResult<u64>;
}

#[async_trait]
pub trait AuditRepository: Send + Sync {
    /// Records an attempt that wrote nothing else (a refused or unauthenticated call).
    async fn record_audit(&self, audit: &AuditEvent) -> RepoResult<()>;
    /// With `Scope::Institution`, only events of that institution.
    async fn list_audit(
        &self,
        scope: Scope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> RepoResult<Page<AuditEvent>>;
    async fn count_audit(&self, scope: Scope, filter: &AuditFilter) -> RepoResult<u64>;
}

#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// # Errors
    /// `NotFound { entity: "institution" }`; `Duplicate` when the hash exists.
    async fn create_api_key(&self, key: &ApiKey, audit: &AuditEvent) -> RepoResult<()>;
    /// Authentication lookup; unscoped because the caller is not known yet. Returns revoked
    /// keys too: the caller decides.
    async fn find_api_key_by_hash(&self, key_hash: &str) -> RepoResult<Option<ApiKey>>;
    async fn api_keys_by_ids(&self, scope: Scope, ids: &[ApiKeyId]) -> RepoResult<Vec<ApiKey>>;
    /// Sets `revoked_at` unless already set, and returns the key as stored.
    ///
    /// # Errors
    /// `NotFound { entity: "api key" }` when it does not exist within the scope.
    async fn revoke_api_key(
        &self,
        scope: Scope,
        id: ApiKeyId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> RepoResult<ApiKey>;
    /// Oldest first. Every requested id is a key.
    async fn api_keys_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<ApiKey>>>;
}

#[async_trait]
pub trait PolicyRepository: Send + Sync {
    /// Inserts, or replaces the rules of the existing (institution, region) policy keeping its
    /// id and `created_at`; returns the policy as stored.
    ///
    /// # Errors
    /// `NotFound { entity: "institution" }`.
    async fn upsert_policy(&self, policy: &Policy, audit: &AuditEvent) -> RepoResult<Policy>;
    async fn policy_for(
        &self,
        scope: Scope,
        institution: InstitutionId,
        region: Region,
    ) -> RepoResult<Option<Policy>>;
    /// Ordered by region. Every requested id is a key.
    async fn policies_by_institutions(
        &self,
        scope: Scope,
        ids: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<Policy>>>;
}

/// Any row a Relay global id can name: the API's `ID`s are the rows' UUIDs, unique across
/// tables (UUID v7), so an id alone says which row it is.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyRecord {
    Institution(Institution),
    Template(AssetTemplate),
    Asset(Asset),
    Position(Position),
    PositionEvent(PositionEvent),
    LedgerEvent(LedgerEvent),
    AuditEvent(AuditEvent),
    ApiKey(ApiKey),
    Policy(Policy),
}

impl AnyRecord {
    #[must_use]
    pub fn id(&self) -> Uuid {
        match self {
            Self::Institution(row) => row.id.0,
            Self::Template(row) => row.id.0,
            Self::Asset(row) => row.id.0,
            Self::Position(row) => row.id.0,
            Self::PositionEvent(row) => row.id.0,
            Self::LedgerEvent(row) => row.id.0,
            Self::AuditEvent(row) => row.id.0,
            Self::ApiKey(row) => row.id.0,
            Self::Policy(row) => row.id.0,
        }
    }
}

#[async_trait]
pub trait NodeRepository: Send + Sync {
    /// The rows with these ids, of whatever kinds, that the scope may see, each at most once;
    /// an id of no row, or of a row outside the scope, is simply absent. One round trip however
    /// the kinds mix (PostgreSQL: one statement), so a Relay `nodes` refetch costs one.
    async fn records_by_ids(&self, scope: Scope, ids: &[Uuid]) -> RepoResult<Vec<AnyRecord>>;
}

#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// # Errors
    /// `Unavailable` when the store does not answer.
    async fn ping(&self) -> RepoResult<()>;
    /// Statements (PostgreSQL) or repository calls (memory) executed so far; lets tests and
    /// benchmarks see that nested reads cost round trips per level, not per row.
    fn statements_executed(&self) -> u64;
}

/// Everything the service layer needs from one store.
pub trait Store:
    InstitutionRepository
    + TemplateRepository
    + AssetRepository
    + PositionRepository
    + LedgerRepository
    + AuditRepository
    + ApiKeyRepository
    + PolicyRepository
    + NodeRepository
    + StoreHealth
    + PositionEventLog
    + EventBus
{
}

impl<T> Store for T where
    T: InstitutionRepository
        + TemplateRepository
        + AssetRepository
        + PositionRepository
        + LedgerRepository
        + AuditRepository
        + ApiKeyRepository
        + PolicyRepository
        + NodeRepository
        + StoreHealth
        + PositionEventLog
        + EventBus
{
}

/// Which position events a subscriber wants; every given field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventFilter {
    pub position_id: Option<PositionId>,
    pub asset_id: Option<AssetId>,
    pub institution_id: Option<InstitutionId>,
    /// `Some(empty)` matches nothing.
    pub to_states: Option<Vec<PositionState>>,
}

impl EventFilter {
    #[must_use]
    pub fn matches(&self, scope: Scope, event: &PositionEvent) -> bool {
        scope.permits(event.institution_id)
            && self.position_id.is_none_or(|id| id == event.position_id)
            && self.asset_id.is_none_or(|id| id == event.asset_id)
            && self
                .institution_id
                .is_none_or(|id| id == event.institution_id)
            && self
                .to_states
                .as_ref()
                .is_none_or(|states| states.contains(&event.to_state))
    }
}

/// The durable, ordered log of position events that subscriptions replay from.
///
/// Adapters MUST make the log append-only in `seq` order as readers see it: once a read has
/// returned an event at `seq = n`, no later read may return an event below `n` that it did
/// not. Without that, a replay "after n" could skip an event that committed late. An adapter
/// may hold back events that are committed but could still be overtaken (PostgreSQL: those of
/// transactions not older than every running one; see `docs/event-log.md`), as long as it
/// releases them once that is no longer possible.
#[async_trait]
pub trait PositionEventLog: Send + Sync {
    /// Readable events after `after` in the scope matching `filter`, in `seq` order, at most
    /// `limit`.
    async fn position_events_after(
        &self,
        scope: Scope,
        filter: &EventFilter,
        after: EventSeq,
        limit: u32,
    ) -> RepoResult<Vec<PositionEvent>>;
    /// A point no event can still appear at or below: a reader that goes on after it misses
    /// nothing readable later, and every event at or below it is readable now.
    async fn event_watermark(&self) -> RepoResult<EventSeq>;
    /// Where a feed without a cursor starts, so that it delivers exactly the events that
    /// commit from now on.
    async fn live_start(&self) -> RepoResult<LiveStart>;
    /// The key event cursors are sealed with: the same for every instance that shares this
    /// store's data, for as long as that data lives, so a cursor resumes on any of them.
    fn event_cursor_key(&self) -> EventCursorKey;
}

/// A 256-bit secret; `Debug` does not show it.
#[derive(Clone)]
pub struct EventCursorKey(pub [u8; 32]);

/// A fresh random key: enough for a store whose data dies with the process.
impl Default for EventCursorKey {
    fn default() -> Self {
        Self(rand::random())
    }
}

impl std::fmt::Debug for EventCursorKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("EventCursorKey(<secret>)")
    }
}

/// The watermark, and the events above it that have already committed (held back behind an
/// older open transaction): they came before the feed, so it skips them when they arrive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveStart {
    pub after: EventSeq,
    /// Ascending.
    pub already_committed: Vec<EventSeq>,
}

/// What every server instance hears once the write that caused it has committed.
#[derive(Clone, Debug)]
pub enum BusMessage {
    PositionEvent(std::sync::Arc<PositionEvent>),
    ApiKeyRevoked(ApiKeyId),
    /// This listener fell behind and missed messages; it must resynchronise from the log.
    Lagged,
    /// The store's own listener was deaf for a while (its connection to PostgreSQL dropped and
    /// came back): a revocation sent in that gap was not heard, so whoever holds a key must
    /// re-read its state. Position events are unaffected: the listener reads them from the log.
    Reconnected,
}

/// Live fan-out of committed changes: in-process for the memory store, through PostgreSQL
/// LISTEN/NOTIFY across instances for the SeaORM store.
pub trait EventBus: Send + Sync {
    /// Messages from now on, position events in `seq` order.
    fn subscribe(&self) -> futures::stream::BoxStream<'static, BusMessage>;
}
