//! The list-row budget (`MAX_LIST_ROWS`). `Position.events` and `Position.ledgerEvents` are
//! plain lists, since the contract promises the whole history, and a history grows with every
//! partial release; validation cannot know its length and costs it a fixed ten rows. Their
//! resolvers know it exactly before loading anything (a position's `version` counts its
//! events and its ledger entries), so each charges that many rows against what is left of the
//! response's budget, and a list that does not fit is refused without being loaded.
//!
//! The budget is request data read by resolvers, not an extension hook: documents seen
//! before run on a schema without extensions (`documents`), and the budget must hold there
//! too. A subscription's request data lives as long as the subscription, so its feed renews
//! the budget before each event is resolved: each event is a response of its own.

use crate::graphql::codes::too_complex_resolver_error;
use crate::graphql::error::GqlResult;
use async_graphql::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The limit's name in `extensions.limit`.
const LIMIT: &str = "maxListRows";

/// `MAX_LIST_ROWS`, in the schema's data (both schemas carry it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MaxListRows(pub(crate) usize);

/// The rows of plain lists a response has taken so far: request data, one per operation
/// (`prepare_request`), so each operation of a batch has a budget of its own.
#[derive(Clone, Debug, Default)]
pub(crate) struct ListRows(Arc<AtomicUsize>);

impl ListRows {
    /// Starts the budget over, for the next response of the same request. Only safe between
    /// responses: a subscription resolves its events one after another (async-graphql's
    /// `then` polls the feed again only once the previous event's response is complete).
    pub(crate) fn renew(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// Takes `rows` if they fit under `max` with what was taken before. A refused list takes
    /// nothing, so a later, shorter one may still fit.
    fn take(&self, rows: usize, max: usize) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |spent| {
                spent.checked_add(rows).filter(|total| *total <= max)
            })
            .is_ok()
    }
}

/// Charges a plain list of `rows` rows to the response's budget; call it before loading
/// the list.
///
/// # Errors
/// QUERY_TOO_COMPLEX naming `maxListRows` when the rows do not fit in what is left.
pub(crate) fn charge_list_rows(ctx: &Context<'_>, rows: usize) -> GqlResult<()> {
    let MaxListRows(max) = *ctx.data::<MaxListRows>()?;
    if ctx.data::<ListRows>()?.take(rows, max) {
        return Ok(());
    }
    Err(too_complex_resolver_error(
        format!(
            "this list's {rows} rows do not fit in what is left of the {max} rows of \
             `events` and `ledgerEvents` one response may hold (each list costs its \
             position's `version`); ask for fewer positions' histories in one request, or \
             page through a history with the `ledgerEvents` connection on Query \
             (`filter: {{positionId: …}}`)"
        ),
        LIMIT,
        max,
    ))
}

#[cfg(test)]
mod tests {
    use super::ListRows;

    #[test]
    fn rows_are_taken_while_they_fit_and_a_refusal_takes_nothing() {
        let budget = ListRows::default();
        assert!(budget.take(12, 30));
        assert!(budget.take(12, 30));
        assert!(!budget.take(12, 30), "36 rows do not fit in 30");
        assert!(budget.take(6, 30), "the refusal took nothing: 24 + 6 fit");
        assert!(!budget.take(1, 30));
    }

    #[test]
    fn a_renewed_budget_starts_over_and_overflow_is_a_refusal() {
        let budget = ListRows::default();
        assert!(budget.take(30, 30));
        budget.renew();
        assert!(budget.take(30, 30));
        budget.renew();
        assert!(budget.take(1, usize::MAX));
        assert!(!budget.take(usize::MAX, usize::MAX));
    }
}
