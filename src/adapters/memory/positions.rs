//! Positions and their lifecycle events: the guarded, idempotent, atomic writes.

use super::{
    MemoryStore, State, by_ids, count, counts_by_parent, duplicate, eq_or_any, not_found, one_of,
    page_of, pages_by_parent,
};
use crate::domain::model::{
    self, AuditEvent, EventSeq, IdempotencyRecord, LedgerEvent, Position, PositionEvent,
};
use crate::domain::{InstitutionId, PositionId};
use crate::ports::{
    IdempotencyClaim, Page, PageRequest, PositionCreation, PositionFilter, PositionParent,
    PositionRepository, PositionTransition, RepoError, RepoResult, Scope, UniqueRule, WriteOutcome,
};
use async_trait::async_trait;
use std::collections::HashMap;
use uuid::Uuid;

/// Positions the scope may see that pass the filter, in id order.
fn positions<'a>(
    state: &'a State,
    scope: Scope,
    filter: &'a PositionFilter,
) -> impl Iterator<Item = &'a Position> {
    state.positions.values().filter(move |p| {
        scope.permits(p.institution_id)
            && eq_or_any(filter.institution_id.as_ref(), &p.institution_id)
            && eq_or_any(filter.asset_id.as_ref(), &p.asset_id)
            && filter
                .holder_reference
                .as_deref()
                .is_none_or(|wanted| wanted == p.holder_reference.as_str())
            && one_of(filter.states.as_ref(), &p.state)
            && eq_or_any(filter.currency.as_ref(), &p.currency)
    })
}

fn position_parent(parent: PositionParent, position: &Position) -> Uuid {
    match parent {
        PositionParent::Institution => position.institution_id.0,
        PositionParent::Asset => position.asset_id.0,
    }
}

/// The rows one lifecycle step writes besides the position itself.
struct Step {
    event: PositionEvent,
    ledger: LedgerEvent,
    audit: AuditEvent,
    idempotency: Option<IdempotencyClaim>,
}

impl State {
    /// What an earlier use of the claimed key decides: `Ok(None)` when there is no claim or
    /// the key is unused, the first result when it was the same request, `Conflict` when it
    /// was another.
    fn replay(
        &self,
        institution: InstitutionId,
        claim: Option<&IdempotencyClaim>,
    ) -> RepoResult<Option<WriteOutcome>> {
        let Some(claim) = claim else {
            return Ok(None);
        };
        let Some(record) = self.idempotency.get(&(institution, claim.key.to_string())) else {
            return Ok(None);
        };
        let position = claim.replay(record)?;
        Ok(Some(WriteOutcome::Replayed { position }))
    }

    /// The uniqueness rules a step's rows must pass, checked before anything is written.
    fn check_step(&self, step: &Step) -> RepoResult<()> {
        let event = &step.event;
        if self.event_ids.contains(&event.id) {
            return Err(duplicate(UniqueRule::PositionEventId));
        }
        let history = self.events.get(&event.position_id);
        if history.is_some_and(|h| h.iter().any(|e| e.version == event.version)) {
            return Err(duplicate(UniqueRule::PositionEventVersion));
        }
        if self.ledger.contains_key(&step.ledger.id) {
            return Err(duplicate(UniqueRule::LedgerEventId));
        }
        self.check_new_audit(&step.audit)
    }

    /// Writes a checked step. Nothing here can fail, which is what makes the write atomic.
    fn commit_step(&mut self, position: Position, step: Step) -> WriteOutcome {
        let mut event = step.event;
        self.event_seq += 1;
        // Each write is its own transaction, committed in this order.
        event.seq = EventSeq {
            txn: self.event_seq,
            index: self.event_seq,
        };
        self.event_ids.insert(event.id);
        self.events
            .entry(event.position_id)
            .or_default()
            .push(event.clone());

        let mut ledger = step.ledger;
        self.ledger_seq += 1;
        ledger.seq = self.ledger_seq;
        self.ledger.insert(ledger.id, ledger);

        self.insert_audit(&step.audit);
        if let Some(claim) = step.idempotency {
            let record = IdempotencyRecord {
                institution_id: position.institution_id,
                key: claim.key.clone(),
                operation: claim.operation,
                request_hash: claim.request_hash,
                position_id: position.id,
                response: position.clone(),
                created_at: model::now(),
            };
            self.idempotency
                .insert((position.institution_id, claim.key.to_string()), record);
        }
        self.positions.insert(position.id, position.clone());
        WriteOutcome::Applied { position, event }
    }
}

#[async_trait]
impl PositionRepository for MemoryStore {
    async fn create_position(&self, creation: PositionCreation) -> RepoResult<WriteOutcome> {
        let PositionCreation {
            position,
            event,
            ledger,
            audit,
            idempotency,
        } = creation;
        let mut state = self.write()?;
        // The key is looked up first: a replayed request must get its first result even though
        // its freshly generated ids would otherwise make it a new, valid write.
        if let Some(replayed) = state.replay(position.institution_id, idempotency.as_ref())? {
            return Ok(replayed);
        }
        let asset_is_own = state
            .assets
            .get(&position.asset_id)
            .is_some_and(|a| a.institution_id == position.institution_id);
        if !asset_is_own {
            return Err(not_found("asset"));
        }
        if state.positions.contains_key(&position.id) {
            return Err(duplicate(UniqueRule::PositionId));
        }
        let step = Step {
            event,
            ledger,
            audit,
            idempotency,
        };
        state.check_step(&step)?;
        let outcome = state.commit_step(position, step);
        self.publish_applied(&outcome);
        Ok(outcome)
    }

    async fn transition_position(
        &self,
        transition: PositionTransition,
    ) -> RepoResult<WriteOutcome> {
        let PositionTransition {
            expected_version,
            position,
            event,
            ledger,
            audit,
            idempotency,
        } = transition;
        let mut state = self.write()?;
        let stored_version = state
            .positions
            .get(&position.id)
            .filter(|stored| stored.institution_id == position.institution_id)
            .map(|stored| stored.version)
            .ok_or_else(|| not_found("position"))?;
        // Before the version guard: a retried step carries the version it was first planned
        // against, which is stale by now precisely because the first attempt succeeded.
        if let Some(replayed) = state.replay(position.institution_id, idempotency.as_ref())? {
            return Ok(replayed);
        }
        if stored_version != expected_version {
            return Err(RepoError::Conflict {
                message: format!(
                    "position {} is at version {stored_version}, not the expected {expected_version}",
                    position.id
                ),
            });
        }
        let step = Step {
            event,
            ledger,
            audit,
            idempotency,
        };
        state.check_step(&step)?;
        let outcome = state.commit_step(position, step);
        self.publish_applied(&outcome);
        Ok(outcome)
    }

    async fn positions_by_ids(
        &self,
        scope: Scope,
        ids: &[PositionId],
    ) -> RepoResult<Vec<Position>> {
        Ok(by_ids(&self.read()?.positions, scope, ids))
    }

    async fn list_positions(
        &self,
        scope: Scope,
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Position>> {
        let state = self.read()?;
        Ok(page_of(positions(&state, scope, filter), page))
    }

    async fn count_positions(&self, scope: Scope, filter: &PositionFilter) -> RepoResult<u64> {
        let state = self.read()?;
        Ok(count(positions(&state, scope, filter)))
    }

    async fn positions_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        ids: &[Uuid],
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Position>>> {
        let state = self.read()?;
        let rows_of = |id: Uuid| {
            positions(&state, scope, filter).filter(move |p| position_parent(parent, p) == id)
        };
        Ok(pages_by_parent(ids, rows_of, page))
    }

    async fn count_positions_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        ids: &[Uuid],
        filter: &PositionFilter,
    ) -> RepoResult<HashMap<Uuid, u64>> {
        let state = self.read()?;
        let rows_of = |id: Uuid| {
            positions(&state, scope, filter).filter(move |p| position_parent(parent, p) == id)
        };
        Ok(counts_by_parent(ids, rows_of))
    }

    async fn events_by_positions(
        &self,
        scope: Scope,
        ids: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<PositionEvent>>> {
        let state = self.read()?;
        let history = |id: &PositionId| {
            state
                .events
                .get(id)
                .into_iter()
                .flatten()
                .filter(|e| scope.permits(e.institution_id))
                .cloned()
                .collect()
        };
        Ok(ids.iter().map(|id| (*id, history(id))).collect())
    }

    async fn find_idempotency(
        &self,
        institution: InstitutionId,
        key: &str,
    ) -> RepoResult<Option<IdempotencyRecord>> {
        let state = self.read()?;
        Ok(state
            .idempotency
            .get(&(institution, key.to_owned()))
            .cloned())
    }
}
