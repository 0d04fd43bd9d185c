//! Scope isolation: an institution's scope sees another institution's rows in no read at all,
//! exactly as if they did not exist; the root scope sees everything.

use crate::support::{Tenant, api_key, audit, first, policy};
use escrowgrid::domain::model::Position;
use escrowgrid::domain::policy::PositionRules;
use escrowgrid::domain::{ApiKeyRole, PositionState, Region};
use escrowgrid::ports::{
    AssetFilter, AssetParent, AuditFilter, LedgerFilter, PositionFilter, PositionParent, Scope,
    Store, TemplateFilter,
};
use std::sync::Arc;

contract_cases!(
    scope_hides_other_institutions_rows_by_id,
    scope_hides_other_institutions_rows_in_lists_and_counts,
    scope_hides_other_institutions_rows_in_child_lists,
    scope_hides_other_institutions_events_ledger_and_audit,
    scope_hides_other_institutions_keys_and_policies,
    filter_naming_another_institution_inside_a_scope_finds_nothing,
    root_scope_sees_every_institutions_rows,
);

/// Two institutions with a template, an asset, a funded position, a key, a policy and audit
/// events each.
struct World {
    a: Tenant,
    b: Tenant,
    a_position: Position,
    b_position: Position,
}

async fn world(store: &Arc<dyn Store>) -> World {
    let a = Tenant::seed(store, "A").await;
    let b = Tenant::seed(store, "B").await;
    let a_position = a.open_and_move(store, "10", &[PositionState::Funded]).await;
    let b_position = b.open_and_move(store, "20", &[PositionState::Funded]).await;
    for tenant in [&a, &b] {
        store
            .create_api_key(
                &api_key(tenant.id(), ApiKeyRole::Admin),
                &audit("createApiKey", Some(tenant.id())),
            )
            .await
            .expect("key is created");
        store
            .upsert_policy(
                &policy(tenant.id(), Region::Us, PositionRules::default()),
                &audit("upsertPolicy", Some(tenant.id())),
            )
            .await
            .expect("policy is stored");
    }
    World {
        a,
        b,
        a_position,
        b_position,
    }
}

async fn scope_hides_other_institutions_rows_by_id(store: Arc<dyn Store>) {
    let World {
        a, b, b_position, ..
    } = world(&store).await;
    let s = a.scope();

    assert_eq!(store.institutions_by_ids(s, &[b.id()]).await, Ok(vec![]));
    assert_eq!(
        store.templates_by_ids(s, &[b.template.id]).await,
        Ok(vec![])
    );
    assert_eq!(store.assets_by_ids(s, &[b.asset.id]).await, Ok(vec![]));
    assert_eq!(
        store.positions_by_ids(s, &[b_position.id]).await,
        Ok(vec![])
    );
    assert_eq!(
        store.assets_by_ids(s, &[a.asset.id, b.asset.id]).await,
        Ok(vec![a.asset.clone()]),
        "own rows still come back from a mixed request"
    );
}

async fn scope_hides_other_institutions_rows_in_lists_and_counts(store: Arc<dyn Store>) {
    let World { a, a_position, .. } = world(&store).await;
    let s = a.scope();

    let templates = store
        .list_templates(s, &TemplateFilter::default(), first(50))
        .await
        .expect("listable");
    assert_eq!(templates.items, vec![a.template.clone()]);
    assert_eq!(
        store.count_templates(s, &TemplateFilter::default()).await,
        Ok(1)
    );
    let assets = store
        .list_assets(s, &AssetFilter::default(), first(50))
        .await
        .expect("listable");
    assert_eq!(assets.items, vec![a.asset.clone()]);
    assert_eq!(store.count_assets(s, &AssetFilter::default()).await, Ok(1));
    let positions = store
        .list_positions(s, &PositionFilter::default(), first(50))
        .await
        .expect("listable");
    assert_eq!(positions.items, vec![a_position]);
    assert_eq!(
        store.count_positions(s, &PositionFilter::default()).await,
        Ok(1)
    );
    assert_eq!(store.count_institutions(s).await, Ok(1));
}

async fn scope_hides_other_institutions_rows_in_child_lists(store: Arc<dyn Store>) {
    let World { a, b, .. } = world(&store).await;
    let s = a.scope();

    let templates = store
        .templates_by_institutions(s, &[a.id(), b.id()], &TemplateFilter::default(), first(50))
        .await
        .expect("listable");
    assert_eq!(templates[&a.id()].items.len(), 1);
    assert!(
        templates[&b.id()].items.is_empty(),
        "key present, page empty"
    );
    let counts = store
        .count_templates_by_institutions(s, &[a.id(), b.id()], &TemplateFilter::default())
        .await
        .expect("countable");
    assert_eq!((counts[&a.id()], counts[&b.id()]), (1, 0));

    for parent in [AssetParent::Institution, AssetParent::Template] {
        let (own, other) = match parent {
            AssetParent::Institution => (a.id().0, b.id().0),
            AssetParent::Template => (a.template.id.0, b.template.id.0),
        };
        let pages = store
            .assets_by_parents(s, parent, &[own, other], &AssetFilter::default(), first(50))
            .await
            .expect("listable");
        assert_eq!(pages[&own].items.len(), 1, "{parent:?}");
        assert!(pages[&other].items.is_empty(), "{parent:?}");
        let counts = store
            .count_assets_by_parents(s, parent, &[own, other], &AssetFilter::default())
            .await
            .expect("countable");
        assert_eq!((counts[&own], counts[&other]), (1, 0), "{parent:?}");
    }

    for parent in [PositionParent::Institution, PositionParent::Asset] {
        let (own, other) = match parent {
            PositionParent::Institution => (a.id().0, b.id().0),
            PositionParent::Asset => (a.asset.id.0, b.asset.id.0),
        };
        let pages = store
            .positions_by_parents(
                s,
                parent,
                &[own, other],
                &PositionFilter::default(),
                first(50),
            )
            .await
            .expect("listable");
        assert_eq!(pages[&own].items.len(), 1, "{parent:?}");
        assert!(pages[&other].items.is_empty(), "{parent:?}");
        let counts = store
            .count_positions_by_parents(s, parent, &[own, other], &PositionFilter::default())
            .await
            .expect("countable");
        assert_eq!((counts[&own], counts[&other]), (1, 0), "{parent:?}");
    }
}

async fn scope_hides_other_institutions_events_ledger_and_audit(store: Arc<dyn Store>) {
    let World {
        a,
        b,
        a_position,
        b_position,
    } = world(&store).await;
    let s = a.scope();
    let both = [a_position.id, b_position.id];

    let events = store.events_by_positions(s, &both).await.expect("readable");
    assert_eq!(events[&a_position.id].len(), 2);
    assert!(
        events[&b_position.id].is_empty(),
        "key present, history empty"
    );
    let ledger = store.ledger_by_positions(s, &both).await.expect("readable");
    assert_eq!(ledger[&a_position.id].len(), 2);
    assert!(ledger[&b_position.id].is_empty());

    let listed = store
        .list_ledger(s, &LedgerFilter::default(), first(50))
        .await
        .expect("listable");
    assert!(listed.items.iter().all(|e| e.institution_id == a.id()));
    assert_eq!(listed.items.len(), 2);
    assert_eq!(store.count_ledger(s, &LedgerFilter::default()).await, Ok(2));

    let trail = store
        .list_audit(s, &AuditFilter::default(), first(50))
        .await
        .expect("listable");
    assert!(!trail.items.is_empty());
    assert!(trail.items.iter().all(|e| e.institution_id == Some(a.id())));
    let b_trail = AuditFilter {
        resource_id: Some(b_position.id.0),
        ..AuditFilter::default()
    };
    assert_eq!(store.count_audit(s, &b_trail).await, Ok(0));
    assert_eq!(store.count_audit(b.scope(), &b_trail).await, Ok(2));
}

async fn scope_hides_other_institutions_keys_and_policies(store: Arc<dyn Store>) {
    let World { a, b, .. } = world(&store).await;
    let s = a.scope();

    let keys = store
        .api_keys_by_institutions(s, &[a.id(), b.id()])
        .await
        .expect("readable");
    assert_eq!(keys[&a.id()].len(), 1);
    assert!(keys[&b.id()].is_empty());
    let b_key = store
        .api_keys_by_institutions(Scope::All, &[b.id()])
        .await
        .expect("readable")[&b.id()][0]
        .clone();
    assert_eq!(store.api_keys_by_ids(s, &[b_key.id]).await, Ok(vec![]));

    assert_eq!(store.policy_for(s, b.id(), Region::Us).await, Ok(None));
    assert!(
        store
            .policy_for(s, a.id(), Region::Us)
            .await
            .expect("readable")
            .is_some()
    );
    let policies = store
        .policies_by_institutions(s, &[a.id(), b.id()])
        .await
        .expect("readable");
    assert_eq!(policies[&a.id()].len(), 1);
    assert!(policies[&b.id()].is_empty());
}

async fn filter_naming_another_institution_inside_a_scope_finds_nothing(store: Arc<dyn Store>) {
    let World { a, b, .. } = world(&store).await;
    let s = a.scope();

    let templates = TemplateFilter {
        institution_id: Some(b.id()),
        ..TemplateFilter::default()
    };
    assert_eq!(store.count_templates(s, &templates).await, Ok(0));
    let assets = AssetFilter {
        institution_id: Some(b.id()),
        ..AssetFilter::default()
    };
    assert_eq!(store.count_assets(s, &assets).await, Ok(0));
    let positions = PositionFilter {
        institution_id: Some(b.id()),
        ..PositionFilter::default()
    };
    assert_eq!(store.count_positions(s, &positions).await, Ok(0));
    let by_asset = PositionFilter {
        asset_id: Some(b.asset.id),
        ..PositionFilter::default()
    };
    let page = store
        .list_positions(s, &by_asset, first(10))
        .await
        .expect("listable");
    assert!(page.items.is_empty() && !page.has_next_page);
    let ledger = LedgerFilter {
        institution_id: Some(b.id()),
        ..LedgerFilter::default()
    };
    assert_eq!(store.count_ledger(s, &ledger).await, Ok(0));
    let trail = AuditFilter {
        institution_id: Some(b.id()),
        ..AuditFilter::default()
    };
    assert_eq!(store.count_audit(s, &trail).await, Ok(0));
}

async fn root_scope_sees_every_institutions_rows(store: Arc<dyn Store>) {
    let World {
        a,
        b,
        a_position,
        b_position,
    } = world(&store).await;

    assert_eq!(store.count_institutions(Scope::All).await, Ok(2));
    let mut positions = store
        .positions_by_ids(Scope::All, &[a_position.id, b_position.id])
        .await
        .expect("readable");
    positions.sort_by_key(|p| p.id);
    assert_eq!(positions, vec![a_position, b_position]);
    assert_eq!(
        store
            .count_ledger(Scope::All, &LedgerFilter::default())
            .await,
        Ok(4)
    );
    let keys = store
        .api_keys_by_institutions(Scope::All, &[a.id(), b.id()])
        .await
        .expect("readable");
    assert_eq!((keys[&a.id()].len(), keys[&b.id()].len()), (1, 1));
    assert!(
        store
            .policy_for(Scope::All, b.id(), Region::Us)
            .await
            .expect("readable")
            .is_some()
    );
}
