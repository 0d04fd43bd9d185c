//! Positions: atomic creation and lifecycle steps, the version guard, idempotency, filters, and
//! the ledger each step writes.

use crate::support::{
    Footprint, Tenant, applied, asset, audit, claim, creation, currency, first, ids, money, sorted,
    transition, transition_releasing,
};
use escrowgrid::domain::model::IdempotentOperation::{CreatePosition, TransitionPosition};
use escrowgrid::domain::{AssetId, LedgerEventKind, PositionId, PositionState};
use escrowgrid::ports::{
    AuditFilter, LedgerFilter, PositionFilter, RepoError, Scope, Store, UniqueRule, WriteOutcome,
};
use std::sync::Arc;

use PositionState::{Cancelled, Created, Funded, PartiallyReleased, Released};

contract_cases!(
    created_position_reads_back_with_its_event_ledger_and_audit,
    position_of_a_missing_asset_is_not_found_and_writes_nothing,
    position_on_another_institutions_asset_is_not_found,
    creating_an_existing_position_id_is_duplicate_and_writes_nothing,
    store_assigns_increasing_seqs_starting_at_one,
    lifecycle_steps_bump_the_version_and_append_history,
    transition_with_stale_version_is_conflict_and_writes_nothing,
    transition_of_a_missing_position_is_not_found_and_writes_nothing,
    idempotent_create_replays_the_first_result_and_writes_nothing,
    idempotency_key_reused_with_other_input_is_conflict,
    idempotency_key_reused_for_another_operation_is_conflict,
    idempotent_transition_replays_the_first_result_despite_its_stale_version,
    idempotent_transition_with_other_input_is_conflict_and_writes_nothing,
    idempotency_keys_are_per_institution,
    unknown_idempotency_key_is_none,
    position_filters_match_asset_holder_states_and_currency,
    ledger_lists_filter_by_institution_position_and_kinds,
);

async fn created_position_reads_back_with_its_event_ledger_and_audit(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let mut new = creation(&tenant.asset, "2500.75");
    new.position.external_reference = Some(crate::support::text("PO-7"));
    let expected = new.clone();

    let (position, event) = applied(store.create_position(new).await);

    assert_eq!(position, expected.position);
    assert_eq!(
        event,
        escrowgrid::domain::model::PositionEvent {
            seq: event.seq,
            ..expected.event.clone()
        }
    );
    let read = store
        .positions_by_ids(Scope::All, &[position.id])
        .await
        .expect("readable");
    assert_eq!(read, vec![position.clone()]);
    let history = store
        .events_by_positions(Scope::All, &[position.id])
        .await
        .expect("readable");
    assert_eq!(history[&position.id], vec![event]);
    let ledger = store
        .ledger_by_positions(Scope::All, &[position.id])
        .await
        .expect("readable");
    let [entry] = ledger[&position.id].as_slice() else {
        panic!("one ledger event per creation: {ledger:?}")
    };
    assert_eq!(entry.id, expected.ledger.id);
    assert_eq!(entry.kind, LedgerEventKind::PositionCreated);
    assert_eq!((entry.previous_state, entry.new_state), (None, Created));
    assert_eq!(entry.payload, expected.ledger.payload);
    let trail = store
        .list_audit(
            Scope::All,
            &AuditFilter {
                resource_id: Some(position.id.0),
                ..AuditFilter::default()
            },
            first(10),
        )
        .await
        .expect("readable");
    assert_eq!(trail.items, vec![expected.audit]);
}

async fn position_of_a_missing_asset_is_not_found_and_writes_nothing(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let mut orphan = creation(&tenant.asset, "10");
    orphan.position.asset_id = AssetId::new();
    let id = orphan.position.id;
    let before = Footprint::of(&store, id).await;

    let result = store.create_position(orphan).await;

    assert_eq!(result, Err(RepoError::NotFound { entity: "asset" }));
    assert_eq!(Footprint::of(&store, id).await, before);
}

async fn position_on_another_institutions_asset_is_not_found(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let mut crossing = creation(&b.asset, "10");
    crossing.position.institution_id = a.id();
    let id = crossing.position.id;
    let before = Footprint::of(&store, id).await;

    let result = store.create_position(crossing).await;

    assert_eq!(result, Err(RepoError::NotFound { entity: "asset" }));
    assert_eq!(Footprint::of(&store, id).await, before);
}

async fn creating_an_existing_position_id_is_duplicate_and_writes_nothing(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let position = tenant.open(&store, "10").await;
    let before = Footprint::of(&store, position.id).await;
    let mut again = creation(&tenant.asset, "20");
    again.position.id = position.id;
    again.event.position_id = position.id;
    again.ledger.position_id = position.id;

    let result = store.create_position(again).await;

    assert!(
        matches!(result, Err(RepoError::Duplicate(UniqueRule::PositionId))),
        "{result:?}"
    );
    assert_eq!(Footprint::of(&store, position.id).await, before);
}

async fn store_assigns_increasing_seqs_starting_at_one(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let mut seqs = Vec::new();
    for _ in 0..3 {
        let (position, event) = applied(store.create_position(creation(&tenant.asset, "10")).await);
        seqs.push(event.seq);
        let (_, event) = applied(
            store
                .transition_position(transition(&position, Funded))
                .await,
        );
        seqs.push(event.seq);
    }

    assert_eq!(seqs[0].index, 1, "the first event of a fresh store");
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "seqs increase: {seqs:?}"
    );
    let ledger = store
        .list_ledger(Scope::All, &LedgerFilter::default(), first(50))
        .await
        .expect("readable");
    let ledger_seqs: Vec<i64> = ledger.items.iter().map(|e| e.seq).collect();
    assert_eq!(ledger_seqs.first(), Some(&1));
    assert!(
        ledger_seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "ledger seqs increase in id order: {ledger_seqs:?}"
    );
}

async fn lifecycle_steps_bump_the_version_and_append_history(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let created = tenant.open(&store, "100").await;

    let (funded, _) = applied(
        store
            .transition_position(transition(&created, Funded))
            .await,
    );
    let step = transition_releasing(&funded, PartiallyReleased, Some("30.5"));
    let expected_event = step.event.clone();
    let (partly, event) = applied(store.transition_position(step).await);
    let (released, _) = applied(
        store
            .transition_position(transition(&partly, Released))
            .await,
    );

    assert_eq!(
        (funded.version, partly.version, released.version),
        (2, 3, 4)
    );
    assert_eq!(partly.released_amount, money("30.50").into());
    assert_eq!(event.release_amount, Some(money("30.5")));
    assert_eq!(event.reason, expected_event.reason);
    assert_eq!(event.metadata, expected_event.metadata);
    assert_eq!(released.released_amount, money("100").into());
    let read = store
        .positions_by_ids(Scope::All, &[created.id])
        .await
        .expect("readable");
    assert_eq!(read, vec![released.clone()]);

    let history = store
        .events_by_positions(Scope::All, &[created.id])
        .await
        .expect("readable");
    let steps: Vec<_> = history[&created.id]
        .iter()
        .map(|e| (e.version, e.from_state, e.to_state))
        .collect();
    assert_eq!(
        steps,
        vec![
            (1, None, Created),
            (2, Some(Created), Funded),
            (3, Some(Funded), PartiallyReleased),
            (4, Some(PartiallyReleased), Released),
        ]
    );
    let ledger = store
        .ledger_by_positions(Scope::All, &[created.id])
        .await
        .expect("readable");
    let moves: Vec<_> = ledger[&created.id]
        .iter()
        .map(|e| (e.kind, e.previous_state, e.new_state))
        .collect();
    assert_eq!(
        moves,
        vec![
            (LedgerEventKind::PositionCreated, None, Created),
            (LedgerEventKind::PositionStateChanged, Some(Created), Funded),
            (
                LedgerEventKind::PositionStateChanged,
                Some(Funded),
                PartiallyReleased
            ),
            (
                LedgerEventKind::PositionStateChanged,
                Some(PartiallyReleased),
                Released
            ),
        ]
    );
}

async fn transition_with_stale_version_is_conflict_and_writes_nothing(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let created = tenant.open(&store, "100").await;
    let funded = applied(
        store
            .transition_position(transition(&created, Funded))
            .await,
    )
    .0;
    let before = Footprint::of(&store, created.id).await;

    // Planned against version 1, which a concurrent writer has since moved on from.
    let stale = transition(&created, Cancelled);
    let result = store.transition_position(stale).await;

    assert!(
        matches!(result, Err(RepoError::Conflict { .. })),
        "{result:?}"
    );
    let after = Footprint::of(&store, created.id).await;
    assert_eq!(after, before);
    assert_eq!(
        store
            .positions_by_ids(Scope::All, &[created.id])
            .await
            .expect("readable"),
        vec![funded]
    );
}

async fn transition_of_a_missing_position_is_not_found_and_writes_nothing(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let real = tenant.open(&store, "100").await;
    let mut ghost = real.clone();
    ghost.id = PositionId::new();
    let mut step = transition(&ghost, Funded);
    step.idempotency = Some(claim("ghost-key", TransitionPosition, "h1"));
    let before = Footprint::of(&store, ghost.id).await;

    let result = store.transition_position(step).await;

    assert_eq!(result, Err(RepoError::NotFound { entity: "position" }));
    assert_eq!(Footprint::of(&store, ghost.id).await, before);
    assert_eq!(
        store.find_idempotency(tenant.id(), "ghost-key").await,
        Ok(None),
        "a failed write claims no key"
    );
}

async fn idempotent_create_replays_the_first_result_and_writes_nothing(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let mut first_try = creation(&tenant.asset, "10");
    first_try.idempotency = Some(claim("order-1", CreatePosition, "hash-a"));
    let (original, _) = applied(store.create_position(first_try).await);
    let before = Footprint::of(&store, original.id).await;

    // A retry generates fresh ids, as a new request would; only the key and hash repeat.
    let mut retry = creation(&tenant.asset, "10");
    retry.idempotency = Some(claim("order-1", CreatePosition, "hash-a"));
    let retried_id = retry.position.id;
    let result = store.create_position(retry).await;

    assert_eq!(
        result,
        Ok(WriteOutcome::Replayed {
            position: original.clone()
        })
    );
    assert_eq!(Footprint::of(&store, original.id).await, before);
    assert!(
        store
            .positions_by_ids(Scope::All, &[retried_id])
            .await
            .expect("readable")
            .is_empty()
    );
    let record = store
        .find_idempotency(tenant.id(), "order-1")
        .await
        .expect("readable")
        .expect("the key is remembered");
    assert_eq!(
        (
            record.institution_id,
            record.operation,
            record.request_hash.as_str(),
            record.position_id
        ),
        (tenant.id(), CreatePosition, "hash-a", original.id)
    );
    assert_eq!(record.response, original);
}

async fn idempotency_key_reused_with_other_input_is_conflict(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let mut first_try = creation(&tenant.asset, "10");
    first_try.idempotency = Some(claim("order-1", CreatePosition, "hash-a"));
    let (original, _) = applied(store.create_position(first_try).await);
    let before = Footprint::of(&store, original.id).await;

    let mut other = creation(&tenant.asset, "20");
    other.idempotency = Some(claim("order-1", CreatePosition, "hash-b"));
    let other_id = other.position.id;
    let result = store.create_position(other).await;

    assert!(
        matches!(result, Err(RepoError::Conflict { .. })),
        "{result:?}"
    );
    assert_eq!(Footprint::of(&store, original.id).await, before);
    assert!(
        store
            .positions_by_ids(Scope::All, &[other_id])
            .await
            .expect("readable")
            .is_empty()
    );
}

async fn idempotency_key_reused_for_another_operation_is_conflict(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let mut first_try = creation(&tenant.asset, "10");
    first_try.idempotency = Some(claim("k", CreatePosition, "same-hash"));
    let (position, _) = applied(store.create_position(first_try).await);
    let before = Footprint::of(&store, position.id).await;

    let mut step = transition(&position, Funded);
    step.idempotency = Some(claim("k", TransitionPosition, "same-hash"));
    let result = store.transition_position(step).await;

    assert!(
        matches!(result, Err(RepoError::Conflict { .. })),
        "{result:?}"
    );
    assert_eq!(Footprint::of(&store, position.id).await, before);
}

async fn idempotent_transition_replays_the_first_result_despite_its_stale_version(
    store: Arc<dyn Store>,
) {
    let tenant = Tenant::seed(&store, "A").await;
    let created = tenant.open(&store, "10").await;
    let mut step = transition(&created, Funded);
    step.idempotency = Some(claim("fund-1", TransitionPosition, "hash-f"));
    let (funded, _) = applied(store.transition_position(step).await);
    let before = Footprint::of(&store, created.id).await;

    let mut retry = transition(&created, Funded);
    retry.idempotency = Some(claim("fund-1", TransitionPosition, "hash-f"));
    let result = store.transition_position(retry).await;

    assert_eq!(
        result,
        Ok(WriteOutcome::Replayed {
            position: funded.clone()
        })
    );
    assert_eq!(Footprint::of(&store, created.id).await, before);
}

async fn idempotent_transition_with_other_input_is_conflict_and_writes_nothing(
    store: Arc<dyn Store>,
) {
    let tenant = Tenant::seed(&store, "A").await;
    let created = tenant.open(&store, "10").await;
    let mut step = transition(&created, Funded);
    step.idempotency = Some(claim("move-1", TransitionPosition, "hash-f"));
    let (funded, _) = applied(store.transition_position(step).await);
    let before = Footprint::of(&store, created.id).await;

    // The right version this time: only the key's earlier use stands in the way.
    let mut other = transition(&funded, Cancelled);
    other.idempotency = Some(claim("move-1", TransitionPosition, "hash-c"));
    let result = store.transition_position(other).await;

    assert!(
        matches!(result, Err(RepoError::Conflict { .. })),
        "{result:?}"
    );
    assert_eq!(Footprint::of(&store, created.id).await, before);
}

async fn idempotency_keys_are_per_institution(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let mut in_a = creation(&a.asset, "10");
    in_a.idempotency = Some(claim("shared-key", CreatePosition, "hash-a"));
    let mut in_b = creation(&b.asset, "20");
    in_b.idempotency = Some(claim("shared-key", CreatePosition, "hash-b"));

    let (pa, _) = applied(store.create_position(in_a).await);
    let (pb, _) = applied(store.create_position(in_b).await);

    assert_ne!(pa.id, pb.id);
    let record_b = store
        .find_idempotency(b.id(), "shared-key")
        .await
        .expect("readable")
        .expect("b's key is remembered");
    assert_eq!(record_b.response, pb);
}

async fn unknown_idempotency_key_is_none(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    assert_eq!(
        store.find_idempotency(tenant.id(), "never-used").await,
        Ok(None)
    );
}

async fn position_filters_match_asset_holder_states_and_currency(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let other_asset = asset(&tenant.template);
    store
        .create_asset(&other_asset, &audit("createAsset", Some(tenant.id())))
        .await
        .expect("asset is created");
    let created = tenant.open(&store, "10").await;
    let funded = tenant.open_and_move(&store, "20", &[Funded]).await;
    let cancelled = tenant.open_and_move(&store, "30", &[Cancelled]).await;
    let mut euro = creation(&other_asset, "40");
    euro.position.currency = currency("EUR");
    euro.position.holder_reference = crate::support::text("holder-2");
    let (euro, _) = applied(store.create_position(euro).await);
    let matching = async |filter: PositionFilter| {
        let page = store
            .list_positions(Scope::All, &filter, first(50))
            .await
            .expect("listable");
        let count = store
            .count_positions(Scope::All, &filter)
            .await
            .expect("countable");
        assert_eq!(
            count,
            page.items.len() as u64,
            "count agrees with {filter:?}"
        );
        ids(&page.items, |p| p.id)
    };
    let states = |states: Vec<PositionState>| PositionFilter {
        states: Some(states),
        ..PositionFilter::default()
    };

    assert_eq!(
        matching(PositionFilter::default()).await,
        sorted(vec![created.id.0, funded.id.0, cancelled.id.0, euro.id.0])
    );
    assert_eq!(
        matching(states(vec![Funded, Cancelled])).await,
        sorted(vec![funded.id.0, cancelled.id.0])
    );
    assert!(
        matching(states(Vec::new())).await.is_empty(),
        "an empty state list matches nothing"
    );
    assert_eq!(
        matching(PositionFilter {
            currency: Some(currency("EUR")),
            ..PositionFilter::default()
        })
        .await,
        vec![euro.id.0]
    );
    assert_eq!(
        matching(PositionFilter {
            holder_reference: Some("holder-2".to_owned()),
            ..PositionFilter::default()
        })
        .await,
        vec![euro.id.0]
    );
    assert_eq!(
        matching(PositionFilter {
            asset_id: Some(tenant.asset.id),
            institution_id: Some(tenant.id()),
            states: Some(vec![Created, Funded]),
            currency: Some(currency("USD")),
            holder_reference: Some("holder-1".to_owned()),
        })
        .await,
        sorted(vec![created.id.0, funded.id.0])
    );
}

async fn ledger_lists_filter_by_institution_position_and_kinds(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let moved = a.open_and_move(&store, "50", &[Funded, Released]).await;
    let still = a.open(&store, "60").await;
    let elsewhere = b.open(&store, "70").await;
    let matching = async |filter: LedgerFilter| {
        let page = store
            .list_ledger(Scope::All, &filter, first(50))
            .await
            .expect("listable");
        let count = store
            .count_ledger(Scope::All, &filter)
            .await
            .expect("countable");
        assert_eq!(
            count,
            page.items.len() as u64,
            "count agrees with {filter:?}"
        );
        assert_eq!(
            ids(&page.items, |e| e.id),
            sorted(ids(&page.items, |e| e.id)),
            "id order"
        );
        page.items
    };

    assert_eq!(matching(LedgerFilter::default()).await.len(), 5);
    let of_a = matching(LedgerFilter {
        institution_id: Some(a.id()),
        ..LedgerFilter::default()
    })
    .await;
    assert_eq!(of_a.len(), 4);
    let of_moved = matching(LedgerFilter {
        position_id: Some(moved.id),
        ..LedgerFilter::default()
    })
    .await;
    assert!(of_moved.iter().all(|e| e.position_id == moved.id));
    assert_eq!(of_moved.len(), 3);
    let creations = matching(LedgerFilter {
        kinds: Some(vec![LedgerEventKind::PositionCreated]),
        ..LedgerFilter::default()
    })
    .await;
    let mut created_positions: Vec<_> = creations.iter().map(|e| e.position_id.0).collect();
    created_positions.sort();
    assert_eq!(
        created_positions,
        sorted(vec![moved.id.0, still.id.0, elsewhere.id.0])
    );
    assert!(
        matching(LedgerFilter {
            kinds: Some(Vec::new()),
            ..LedgerFilter::default()
        })
        .await
        .is_empty(),
        "an empty kind list matches nothing"
    );
    let changes = matching(LedgerFilter {
        institution_id: Some(a.id()),
        position_id: Some(moved.id),
        kinds: Some(vec![LedgerEventKind::PositionStateChanged]),
    })
    .await;
    assert_eq!(
        changes.iter().map(|e| e.new_state).collect::<Vec<_>>(),
        vec![Funded, Released]
    );
}
