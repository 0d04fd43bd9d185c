//! `records_by_ids`: rows of every kind by id in one call, under the scope, money exact.

use crate::support::{Tenant, api_key, audit, first, money, policy};
use escrowgrid::domain::policy::PositionRules;
use escrowgrid::domain::{ApiKeyRole, PositionState, Region};
use escrowgrid::ports::{AnyRecord, AuditFilter, Scope, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

contract_cases!(
    records_of_every_kind_come_back_by_id_in_one_call,
    records_outside_the_scope_are_absent,
);

/// One row of each of the nine kinds, all of institution `tenant`, with money that a float
/// would round.
async fn one_of_each(store: &Arc<dyn Store>, tenant: &Tenant) -> Vec<AnyRecord> {
    let position = tenant
        .open_and_move(
            store,
            "98765432101.23456789",
            &[PositionState::Funded, PositionState::PartiallyReleased],
        )
        .await;
    let key = api_key(tenant.id(), ApiKeyRole::ReadOnly);
    store
        .create_api_key(&key, &audit("createApiKey", Some(tenant.id())))
        .await
        .expect("key is created");
    let rules = PositionRules {
        min_amount: Some(money("0.00000001")),
        max_amount: Some(money("12345678901234.87654321")),
        allowed_currencies: None,
    };
    let stored_policy = store
        .upsert_policy(
            &policy(tenant.id(), Region::Us, rules),
            &audit("upsertPolicy", Some(tenant.id())),
        )
        .await
        .expect("policy is stored");
    let event = store
        .events_by_positions(tenant.scope(), &[position.id])
        .await
        .expect("readable")
        .remove(&position.id)
        .and_then(|events| events.into_iter().last())
        .expect("the release event");
    assert!(event.release_amount.is_some(), "the event carries money");
    let ledger = store
        .ledger_by_positions(tenant.scope(), &[position.id])
        .await
        .expect("readable")
        .remove(&position.id)
        .and_then(|rows| rows.into_iter().next())
        .expect("a ledger row");
    let audit_event = store
        .list_audit(tenant.scope(), &AuditFilter::default(), first(1))
        .await
        .expect("readable")
        .items
        .remove(0);
    let key = store
        .api_keys_by_institutions(tenant.scope(), &[tenant.id()])
        .await
        .expect("readable")
        .remove(&tenant.id())
        .and_then(|keys| keys.into_iter().next())
        .expect("the key");
    vec![
        AnyRecord::Institution(tenant.institution.clone()),
        AnyRecord::Template(tenant.template.clone()),
        AnyRecord::Asset(tenant.asset.clone()),
        AnyRecord::Position(position),
        AnyRecord::PositionEvent(event),
        AnyRecord::LedgerEvent(ledger),
        AnyRecord::AuditEvent(audit_event),
        AnyRecord::ApiKey(key),
        AnyRecord::Policy(stored_policy),
    ]
}

fn by_id(records: Vec<AnyRecord>) -> BTreeMap<Uuid, AnyRecord> {
    records
        .into_iter()
        .map(|record| (record.id(), record))
        .collect()
}

async fn records_of_every_kind_come_back_by_id_in_one_call(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let expected = one_of_each(&store, &tenant).await;
    let mut ids: Vec<Uuid> = expected.iter().map(AnyRecord::id).collect();
    ids.push(Uuid::now_v7());
    ids.push(ids[0]);

    let calls = store.statements_executed();
    let found = store
        .records_by_ids(Scope::All, &ids)
        .await
        .expect("readable");
    assert_eq!(
        store.statements_executed() - calls,
        1,
        "one round trip for nine kinds"
    );
    assert_eq!(found.len(), 9, "each row once, the unknown id absent");
    assert_eq!(by_id(found), by_id(expected.clone()));

    let own = store
        .records_by_ids(tenant.scope(), &ids)
        .await
        .expect("readable");
    assert_eq!(
        by_id(own),
        by_id(expected),
        "the owner's scope sees them all"
    );
    assert_eq!(store.records_by_ids(Scope::All, &[]).await, Ok(vec![]));
}

async fn records_outside_the_scope_are_absent(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let a_rows = one_of_each(&store, &a).await;
    let b_rows = one_of_each(&store, &b).await;
    let ids: Vec<Uuid> = a_rows.iter().chain(&b_rows).map(AnyRecord::id).collect();

    let seen_by_b = store
        .records_by_ids(b.scope(), &ids)
        .await
        .expect("readable");
    assert_eq!(by_id(seen_by_b), by_id(b_rows));
    let root_only = audit("signIn", None);
    store.record_audit(&root_only).await.expect("recorded");
    assert_eq!(
        store.records_by_ids(a.scope(), &[root_only.id.0]).await,
        Ok(vec![]),
        "an audit row of no institution is the root's alone"
    );
    assert_eq!(
        store
            .records_by_ids(Scope::All, &[root_only.id.0])
            .await
            .map(|rows| rows.len()),
        Ok(1)
    );
}
