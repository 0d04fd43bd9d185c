//! The ledger: append-only money movements, written by the position unit of work.

use super::{MemoryStore, State, count, eq_or_any, one_of, page_of};
use crate::domain::PositionId;
use crate::domain::model::LedgerEvent;
use crate::ports::{LedgerFilter, LedgerRepository, Page, PageRequest, RepoResult, Scope};
use async_trait::async_trait;
use std::collections::HashMap;

/// Ledger events the scope may see that pass the filter, in id order.
fn ledger<'a>(
    state: &'a State,
    scope: Scope,
    filter: &'a LedgerFilter,
) -> impl Iterator<Item = &'a LedgerEvent> {
    state.ledger.values().filter(move |e| {
        scope.permits(e.institution_id)
            && eq_or_any(filter.institution_id.as_ref(), &e.institution_id)
            && eq_or_any(filter.position_id.as_ref(), &e.position_id)
            && one_of(filter.kinds.as_ref(), &e.kind)
    })
}

#[async_trait]
impl LedgerRepository for MemoryStore {
    async fn ledger_by_positions(
        &self,
        scope: Scope,
        ids: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<LedgerEvent>>> {
        let state = self.read()?;
        let mut grouped: HashMap<PositionId, Vec<LedgerEvent>> =
            ids.iter().map(|id| (*id, Vec::new())).collect();
        for event in state.ledger.values() {
            if let Some(list) = grouped.get_mut(&event.position_id)
                && scope.permits(event.institution_id)
            {
                list.push(event.clone());
            }
        }
        // Oldest first means insertion order, which `seq` records.
        for list in grouped.values_mut() {
            list.sort_by_key(|e| e.seq);
        }
        Ok(grouped)
    }

    async fn list_ledger(
        &self,
        scope: Scope,
        filter: &LedgerFilter,
        page: PageRequest,
    ) -> RepoResult<Page<LedgerEvent>> {
        let state = self.read()?;
        Ok(page_of(ledger(&state, scope, filter), page))
    }

    async fn count_ledger(&self, scope: Scope, filter: &LedgerFilter) -> RepoResult<u64> {
        let state = self.read()?;
        Ok(count(ledger(&state, scope, filter)))
    }
}
