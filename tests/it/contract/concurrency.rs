//! Racing writers: the version guard lets exactly one transition win, an idempotency key
//! yields exactly one position, and concurrent unrelated writes all land with distinct seqs.

use crate::support::{Tenant, applied, claim, creation, transition};
use escrowgrid::domain::PositionState::{Funded, Released};
use escrowgrid::domain::model::EventSeq;
use escrowgrid::domain::model::IdempotentOperation::CreatePosition;
use escrowgrid::ports::{
    LedgerFilter, PositionFilter, RepoError, RepoResult, Scope, Store, WriteOutcome,
};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Barrier;

const RACERS: usize = 32;

contract_cases!(
    racing_transitions_apply_exactly_once,
    racing_idempotent_creations_make_one_position,
    concurrent_creations_of_distinct_positions_all_apply_with_distinct_seqs,
);

/// Runs `RACERS` tasks that wait at one barrier and then write at once; returns their results.
async fn race<F, Fut>(store: &Arc<dyn Store>, write: F) -> Vec<RepoResult<WriteOutcome>>
where
    F: Fn(Arc<dyn Store>, usize) -> Fut,
    Fut: Future<Output = RepoResult<WriteOutcome>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let attempt = write(Arc::clone(store), i);
            tokio::spawn(async move {
                barrier.wait().await;
                attempt.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(RACERS);
    for task in tasks {
        results.push(task.await.expect("racing task does not panic"));
    }
    results
}

async fn racing_transitions_apply_exactly_once(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let created = tenant.open(&store, "1000").await;
    let funded = applied(
        store
            .transition_position(transition(&created, Funded))
            .await,
    )
    .0;
    assert_eq!(funded.version, 2);

    let results = race(&store, |store, _| {
        // Each racer plans its own step (own event ids) from the same version-2 snapshot.
        let step = transition(&funded, Released);
        async move { store.transition_position(step).await }
    })
    .await;

    let applied_count = results
        .iter()
        .filter(|r| matches!(r, Ok(WriteOutcome::Applied { .. })))
        .count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(RepoError::Conflict { .. })))
        .count();
    assert_eq!(
        (applied_count, conflicts),
        (1, RACERS - 1),
        "one winner, every other racer a Conflict: {results:?}"
    );
    let stored = store
        .positions_by_ids(Scope::All, &[created.id])
        .await
        .expect("readable");
    assert_eq!(stored[0].version, 3);
    assert_eq!(stored[0].state, Released);
    let history = store
        .events_by_positions(Scope::All, &[created.id])
        .await
        .expect("readable");
    let versions: Vec<i32> = history[&created.id].iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![1, 2, 3]);
    let ledger = store
        .ledger_by_positions(Scope::All, &[created.id])
        .await
        .expect("readable");
    assert_eq!(ledger[&created.id].len(), 3);
}

async fn racing_idempotent_creations_make_one_position(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let asset = tenant.asset.clone();

    let results = race(&store, |store, _| {
        // Fresh ids per racer, as each request would generate; the same key and request hash.
        let mut attempt = creation(&asset, "250.00");
        attempt.idempotency = Some(claim("pay-once", CreatePosition, "same-request"));
        async move { store.create_position(attempt).await }
    })
    .await;

    let mut applied_count = 0;
    let mut returned_ids = HashSet::new();
    for result in results {
        match result.expect("every racer gets the one result") {
            WriteOutcome::Applied { position, .. } => {
                applied_count += 1;
                returned_ids.insert(position.id);
            }
            WriteOutcome::Replayed { position } => {
                returned_ids.insert(position.id);
            }
        }
    }
    assert_eq!(applied_count, 1, "exactly one racer writes");
    assert_eq!(returned_ids.len(), 1, "every racer sees the same position");
    let stored = store
        .list_positions(
            tenant.scope(),
            &PositionFilter::default(),
            crate::support::first(50),
        )
        .await
        .expect("listable");
    assert_eq!(stored.items.len(), 1);
    assert!(returned_ids.contains(&stored.items[0].id));
    assert_eq!(
        store
            .count_ledger(Scope::All, &LedgerFilter::default())
            .await,
        Ok(1)
    );
}

async fn concurrent_creations_of_distinct_positions_all_apply_with_distinct_seqs(
    store: Arc<dyn Store>,
) {
    let tenant = Tenant::seed(&store, "A").await;
    let asset = tenant.asset.clone();

    let results = race(&store, |store, i| {
        let mut attempt = creation(&asset, "1");
        attempt.idempotency = Some(claim(&format!("key-{i}"), CreatePosition, "h"));
        async move { store.create_position(attempt).await }
    })
    .await;

    let seqs: HashSet<EventSeq> = results
        .into_iter()
        .map(|result| applied(result).1.seq)
        .collect();
    assert_eq!(seqs.len(), RACERS, "no two events share a seq");
    assert_eq!(
        store
            .count_positions(tenant.scope(), &PositionFilter::default())
            .await,
        Ok(RACERS as u64)
    );
}
