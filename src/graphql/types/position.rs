//! `Position`, its lifecycle `PositionEvent`s and its `LedgerEvent`s.

use super::enums::{LedgerEventKind, PositionState};
use super::institution::InstitutionNode;
use super::load_required;
use super::template_asset::AssetNode;
use crate::domain::lifecycle::allowed_transitions;
use crate::domain::model::{LedgerEvent, Position, PositionEvent};
use crate::graphql::connection::connection;
use crate::graphql::context::loaders;
use crate::graphql::error::{GqlResult, OrGraphqlError as _};
use crate::graphql::limits::charge_list_rows;
use crate::graphql::loaders::{EventsOf, LedgerOf};
use crate::graphql::scalars::{DateTime, DecimalText, Json, to_id};
use async_graphql::{Context, ID, Object};

/// Validation cannot know how long a history is (it grows with every partial release), so it
/// costs each history list ten rows; the exact length is charged against `MAX_LIST_ROWS` when
/// the list is resolved (`charge_list_rows`).
const EVENTS_PER_POSITION: usize = 10;

/// A holder's claim of an exact amount on an asset, moving through its lifecycle.
pub(crate) struct PositionNode(pub(crate) Position);

impl From<Position> for PositionNode {
    fn from(row: Position) -> Self {
        Self(row)
    }
}

connection!(
    PositionConnection,
    PositionEdge,
    PositionNode,
    Position,
    "A page of positions."
);

#[Object(name = "Position")]
impl PositionNode {
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn institution(&self, ctx: &Context<'_>) -> GqlResult<InstitutionNode> {
        InstitutionNode::pointed(ctx, self.0.institution_id).await
    }

    async fn asset(&self, ctx: &Context<'_>) -> GqlResult<AssetNode> {
        AssetNode::pointed(ctx, self.0.asset_id).await
    }

    /// The holder's reference in the institution's own systems.
    async fn holder_reference(&self) -> &str {
        &self.0.holder_reference
    }

    /// ISO 4217 code, equal to the template's `config.currency`.
    async fn currency(&self) -> &str {
        self.0.currency.as_str()
    }

    /// The claim's total amount.
    async fn amount(&self) -> DecimalText {
        self.0.amount.value().into()
    }

    /// How much of `amount` has been released so far.
    async fn released_amount(&self) -> DecimalText {
        self.0.released_amount.value().into()
    }

    async fn state(&self) -> PositionState {
        self.0.state.into()
    }

    /// Starts at 1 and grows by one with every lifecycle event; pass it as
    /// `expectedVersion` to make a transition fail with CONFLICT if anything moved meanwhile.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// An optional reference given at creation.
    async fn external_reference(&self) -> Option<&str> {
        self.0.external_reference.as_deref()
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }

    /// The whole lifecycle history, oldest first, starting with the creation event. Its
    /// length is `version`, and it counts against the request's list-row budget
    /// (`MAX_LIST_ROWS`, for `events` and `ledgerEvents` of all positions together); a list
    /// that does not fit fails with `QUERY_TOO_COMPLEX` (`extensions.limit: maxListRows`).
    #[graphql(complexity = "EVENTS_PER_POSITION * child_complexity + 1")]
    async fn events(&self, ctx: &Context<'_>) -> GqlResult<Vec<PositionEventNode>> {
        charge_list_rows(ctx, self.history_length())?;
        let rows = loaders(ctx)?.load_one(EventsOf(self.0.id)).await.gql()?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            // Events of versions committed after this position was read were not charged, and
            // belong to a later state than the one this object shows.
            .filter(|event| event.version <= self.0.version)
            .map(PositionEventNode)
            .collect())
    }

    /// The states it may move to now.
    async fn allowed_transitions(&self) -> Vec<PositionState> {
        allowed_transitions(self.0.state)
            .iter()
            .copied()
            .map(Into::into)
            .collect()
    }

    /// Its ledger entries, oldest first: one per lifecycle event, so `version` of them. They
    /// count against the request's list-row budget (`MAX_LIST_ROWS`), as `events` do; the
    /// `ledgerEvents` connection on Query pages through them instead.
    #[graphql(complexity = "EVENTS_PER_POSITION * child_complexity + 1")]
    async fn ledger_events(&self, ctx: &Context<'_>) -> GqlResult<Vec<LedgerEventNode>> {
        let length = self.history_length();
        charge_list_rows(ctx, length)?;
        let rows = loaders(ctx)?.load_one(LedgerOf(self.0.id)).await.gql()?;
        // Entries come oldest first and each version commits exactly one (writes to a position
        // are serialized by its version), so the first `version` are those of this state;
        // any after them were committed later and were not charged.
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .take(length)
            .map(LedgerEventNode)
            .collect())
    }
}

impl PositionNode {
    /// How many events, and ledger entries, the position has at its `version`: every write
    /// commits the new version with exactly one of each (creation is version 1), atomically.
    fn history_length(&self) -> usize {
        usize::try_from(self.0.version).unwrap_or(0)
    }
}

/// One immutable lifecycle step of a position.
pub(crate) struct PositionEventNode(pub(crate) PositionEvent);

#[Object(name = "PositionEvent")]
impl PositionEventNode {
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Opaque; pass as `after` to `Subscription.positionEvents` to resume after this event.
    async fn cursor(&self, ctx: &Context<'_>) -> GqlResult<String> {
        Ok(crate::graphql::context::services(ctx)?
            .event_cursors()
            .seal(&self.0))
    }

    async fn position(&self, ctx: &Context<'_>) -> GqlResult<PositionNode> {
        load_required(ctx, self.0.position_id, "position")
            .await
            .map(PositionNode)
    }

    /// The state before; null for the creation event.
    async fn from_state(&self) -> Option<PositionState> {
        self.0.from_state.map(Into::into)
    }

    async fn to_state(&self) -> PositionState {
        self.0.to_state.into()
    }

    /// Why, as given by the caller.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// Free-form JSON object given by the caller.
    async fn metadata(&self) -> Option<Json> {
        self.0.metadata.as_ref().map(Json::object)
    }

    /// Money released by this step (RELEASED releases the remainder).
    async fn release_amount(&self) -> Option<DecimalText> {
        self.0.release_amount.map(|amount| amount.value().into())
    }

    /// The position's version after this step.
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }
}

/// An immutable ledger entry for a position's creation or state change.
pub(crate) struct LedgerEventNode(pub(crate) LedgerEvent);

impl From<LedgerEvent> for LedgerEventNode {
    fn from(row: LedgerEvent) -> Self {
        Self(row)
    }
}

connection!(
    LedgerEventConnection,
    LedgerEventEdge,
    LedgerEventNode,
    LedgerEvent,
    "A page of ledger events."
);

#[Object(name = "LedgerEvent")]
impl LedgerEventNode {
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn kind(&self) -> LedgerEventKind {
        self.0.kind.into()
    }

    async fn position(&self, ctx: &Context<'_>) -> GqlResult<PositionNode> {
        load_required(ctx, self.0.position_id, "position")
            .await
            .map(PositionNode)
    }

    /// The state before; null for a creation.
    async fn previous_state(&self) -> Option<PositionState> {
        self.0.previous_state.map(Into::into)
    }

    async fn new_state(&self) -> PositionState {
        self.0.new_state.into()
    }

    /// The position's money and state after the entry (amounts as decimal strings).
    async fn payload(&self) -> Json {
        Json::object(&self.0.payload)
    }

    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }
}
