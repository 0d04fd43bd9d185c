//! API keys (unique hash, revocation), regional policies (one per region, upserted) and the
//! audit trail every write leaves.

use crate::support::{Tenant, after, api_key, audit, first, ids, money, policy, sorted};
use escrowgrid::domain::model::{self, AuditOutcome};
use escrowgrid::domain::policy::PositionRules;
use escrowgrid::domain::{Amount, ApiKeyId, ApiKeyRole, InstitutionId, Region};
use escrowgrid::ports::{AuditFilter, RepoError, Scope, Store, UniqueRule};
use std::sync::Arc;

contract_cases!(
    created_api_key_is_found_by_hash_and_by_id,
    api_key_of_a_missing_institution_is_not_found,
    api_key_with_an_existing_hash_is_duplicate_key_hash,
    unknown_hash_finds_no_key,
    revoking_sets_revoked_at_once_and_keeps_the_first_time,
    revoking_a_missing_key_is_not_found_and_writes_nothing,
    api_keys_by_institutions_are_oldest_first_and_key_every_id,
    upsert_policy_inserts_then_replaces_rules_keeping_id_and_created_at,
    policy_of_a_missing_institution_is_not_found,
    policies_by_institutions_are_ordered_by_region_and_key_every_id,
    recorded_audit_events_list_and_filter_by_action_resource_and_institution,
    audit_events_without_an_institution_are_seen_by_root_only,
    every_write_records_its_audit_event,
);

fn rules(min: &str, max: &str) -> PositionRules {
    let amount = |text| Amount::parse_str(text, "amount").expect("test amounts are valid");
    PositionRules::new(Some(amount(min)), Some(amount(max)), None).expect("min <= max")
}

async fn audit_count(store: &Arc<dyn Store>) -> u64 {
    store
        .count_audit(Scope::All, &AuditFilter::default())
        .await
        .expect("countable")
}

async fn created_api_key_is_found_by_hash_and_by_id(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let key = api_key(tenant.id(), ApiKeyRole::Admin);
    store
        .create_api_key(&key, &audit("createApiKey", Some(tenant.id())))
        .await
        .expect("key is created");

    assert_eq!(
        store.find_api_key_by_hash(&key.key_hash).await,
        Ok(Some(key.clone()))
    );
    assert_eq!(
        store
            .api_keys_by_ids(Scope::All, &[key.id, ApiKeyId::new()])
            .await,
        Ok(vec![key])
    );
}

async fn api_key_of_a_missing_institution_is_not_found(store: Arc<dyn Store>) {
    let key = api_key(InstitutionId::new(), ApiKeyRole::ReadOnly);

    let result = store
        .create_api_key(&key, &audit("createApiKey", None))
        .await;

    assert_eq!(
        result,
        Err(RepoError::NotFound {
            entity: "institution"
        })
    );
    assert_eq!(store.find_api_key_by_hash(&key.key_hash).await, Ok(None));
    assert_eq!(audit_count(&store).await, 0);
}

async fn api_key_with_an_existing_hash_is_duplicate_key_hash(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let key = api_key(tenant.id(), ApiKeyRole::Admin);
    store
        .create_api_key(&key, &audit("createApiKey", Some(tenant.id())))
        .await
        .expect("key is created");
    let audits = audit_count(&store).await;
    let mut twin = api_key(tenant.id(), ApiKeyRole::ReadOnly);
    twin.key_hash = key.key_hash.clone();

    let result = store
        .create_api_key(&twin, &audit("createApiKey", Some(tenant.id())))
        .await;

    assert_eq!(result, Err(RepoError::Duplicate(UniqueRule::ApiKeyHash)));
    assert_eq!(
        store.api_keys_by_ids(Scope::All, &[twin.id]).await,
        Ok(vec![])
    );
    assert_eq!(audit_count(&store).await, audits);
}

async fn unknown_hash_finds_no_key(store: Arc<dyn Store>) {
    Tenant::seed(&store, "A").await;
    assert_eq!(store.find_api_key_by_hash("00ff").await, Ok(None));
}

async fn revoking_sets_revoked_at_once_and_keeps_the_first_time(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let key = api_key(tenant.id(), ApiKeyRole::Admin);
    store
        .create_api_key(&key, &audit("createApiKey", Some(tenant.id())))
        .await
        .expect("key is created");
    let first_time = model::now();

    let revoked = store
        .revoke_api_key(
            tenant.scope(),
            key.id,
            first_time,
            &audit("revokeApiKey", Some(tenant.id())),
        )
        .await
        .expect("own key is revocable");
    let later = first_time + chrono::Duration::seconds(5);
    let again = store
        .revoke_api_key(Scope::All, key.id, later, &audit("revokeApiKey", None))
        .await
        .expect("revoking twice is harmless");

    assert_eq!(revoked.revoked_at, Some(first_time));
    assert_eq!(again, revoked);
    assert_eq!(
        store.find_api_key_by_hash(&key.key_hash).await,
        Ok(Some(revoked)),
        "revoked keys are still found; the caller decides"
    );
}

async fn revoking_a_missing_key_is_not_found_and_writes_nothing(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let b_key = api_key(b.id(), ApiKeyRole::Admin);
    store
        .create_api_key(&b_key, &audit("createApiKey", Some(b.id())))
        .await
        .expect("key is created");
    let audits = audit_count(&store).await;

    let missing = store
        .revoke_api_key(
            Scope::All,
            ApiKeyId::new(),
            model::now(),
            &audit("revokeApiKey", None),
        )
        .await;
    let foreign = store
        .revoke_api_key(
            a.scope(),
            b_key.id,
            model::now(),
            &audit("revokeApiKey", Some(a.id())),
        )
        .await;

    let not_found = Err(RepoError::NotFound { entity: "api key" });
    assert_eq!(missing, not_found);
    assert_eq!(foreign, not_found);
    assert_eq!(
        store.find_api_key_by_hash(&b_key.key_hash).await,
        Ok(Some(b_key)),
        "still live"
    );
    assert_eq!(audit_count(&store).await, audits);
}

async fn api_keys_by_institutions_are_oldest_first_and_key_every_id(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let mut a_keys = Vec::new();
    for role in [ApiKeyRole::Admin, ApiKeyRole::ReadOnly, ApiKeyRole::Admin] {
        let key = api_key(a.id(), role);
        store
            .create_api_key(&key, &audit("createApiKey", Some(a.id())))
            .await
            .expect("key is created");
        a_keys.push(key);
    }
    let nobody = InstitutionId::new();

    let keys = store
        .api_keys_by_institutions(Scope::All, &[a.id(), b.id(), nobody])
        .await
        .expect("readable");

    assert_eq!(keys.len(), 3, "every requested id is a key");
    assert_eq!(keys[&a.id()], a_keys);
    assert!(keys[&b.id()].is_empty());
    assert!(keys[&nobody].is_empty());
}

async fn upsert_policy_inserts_then_replaces_rules_keeping_id_and_created_at(
    store: Arc<dyn Store>,
) {
    let tenant = Tenant::seed(&store, "A").await;
    let original = policy(tenant.id(), Region::Us, rules("10", "1000"));
    let stored = store
        .upsert_policy(&original, &audit("upsertPolicy", Some(tenant.id())))
        .await
        .expect("policy is inserted");
    assert_eq!(stored, original);

    let mut replacement = policy(tenant.id(), Region::Us, rules("5", "500.5"));
    replacement.rules.allowed_currencies = Some(vec![crate::support::currency("USD")]);
    replacement.updated_at = original.updated_at + chrono::Duration::seconds(1);
    let updated = store
        .upsert_policy(&replacement, &audit("upsertPolicy", Some(tenant.id())))
        .await
        .expect("policy is replaced");

    assert_eq!(
        updated.id, original.id,
        "one policy per region keeps its id"
    );
    assert_eq!(updated.created_at, original.created_at);
    assert_eq!(updated.updated_at, replacement.updated_at);
    assert_eq!(updated.rules, replacement.rules);
    assert_eq!(updated.rules.max_amount, Some(money("500.50")));
    assert_eq!(
        store.policy_for(Scope::All, tenant.id(), Region::Us).await,
        Ok(Some(updated))
    );
    assert_eq!(
        store
            .policy_for(Scope::All, tenant.id(), Region::EuUk)
            .await,
        Ok(None)
    );
    let all = store
        .policies_by_institutions(Scope::All, &[tenant.id()])
        .await
        .expect("readable");
    assert_eq!(all[&tenant.id()].len(), 1);
}

async fn policy_of_a_missing_institution_is_not_found(store: Arc<dyn Store>) {
    let orphan = policy(InstitutionId::new(), Region::Sg, PositionRules::default());

    let result = store
        .upsert_policy(&orphan, &audit("upsertPolicy", None))
        .await;

    assert_eq!(
        result,
        Err(RepoError::NotFound {
            entity: "institution"
        })
    );
    assert_eq!(audit_count(&store).await, 0);
}

async fn policies_by_institutions_are_ordered_by_region_and_key_every_id(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    for region in [Region::Uae, Region::Us, Region::Sg, Region::EuUk] {
        store
            .upsert_policy(
                &policy(a.id(), region, rules("1", "2")),
                &audit("upsertPolicy", Some(a.id())),
            )
            .await
            .expect("policy is stored");
    }
    let nobody = InstitutionId::new();

    let policies = store
        .policies_by_institutions(Scope::All, &[a.id(), b.id(), nobody])
        .await
        .expect("readable");

    assert_eq!(policies.len(), 3, "every requested id is a key");
    let regions: Vec<Region> = policies[&a.id()].iter().map(|p| p.region).collect();
    let mut in_order = regions.clone();
    in_order.sort();
    assert_eq!(regions, in_order, "ordered by region");
    assert_eq!(regions.len(), 4);
    assert!(policies[&b.id()].is_empty() && policies[&nobody].is_empty());
}

async fn recorded_audit_events_list_and_filter_by_action_resource_and_institution(
    store: Arc<dyn Store>,
) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let mut refused = audit("createPosition", Some(a.id()));
    refused.outcome = AuditOutcome::Forbidden;
    refused.resource_id = Some(uuid::Uuid::now_v7());
    let mut other = audit("createPosition", Some(b.id()));
    other.outcome = AuditOutcome::Forbidden;
    for event in [&refused, &other] {
        store.record_audit(event).await.expect("recorded");
    }
    let listed = async |filter: AuditFilter| {
        let page = store
            .list_audit(Scope::All, &filter, first(50))
            .await
            .expect("listable");
        assert_eq!(
            store.count_audit(Scope::All, &filter).await,
            Ok(page.items.len() as u64),
            "count agrees with {filter:?}"
        );
        page.items
    };

    let actions = listed(AuditFilter {
        action: Some("createPosition".to_owned()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(actions, vec![refused.clone(), other.clone()]);
    let by_resource = listed(AuditFilter {
        resource_id: refused.resource_id,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_resource, vec![refused.clone()]);
    let of_b = listed(AuditFilter {
        institution_id: Some(b.id()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(of_b.len(), 4, "b's three seeding writes and one refusal");
    assert!(of_b.iter().all(|e| e.institution_id == Some(b.id())));

    let everything = listed(AuditFilter::default()).await;
    let everything_ids = ids(&everything, |e| e.id);
    assert_eq!(everything_ids, sorted(everything_ids.clone()), "id order");
    let second_page = store
        .list_audit(
            Scope::All,
            &AuditFilter::default(),
            after(3, everything_ids[4]),
        )
        .await
        .expect("listable");
    assert_eq!(ids(&second_page.items, |e| e.id), everything_ids[5..]);
    assert!(!second_page.has_next_page);
}

async fn audit_events_without_an_institution_are_seen_by_root_only(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let mut anonymous = audit("graphql", None);
    anonymous.outcome = AuditOutcome::Unauthenticated;
    store.record_audit(&anonymous).await.expect("recorded");
    let only_anonymous = AuditFilter {
        action: Some("graphql".to_owned()),
        ..AuditFilter::default()
    };

    let root = store
        .list_audit(Scope::All, &only_anonymous, first(10))
        .await
        .expect("listable");
    let scoped = store
        .list_audit(a.scope(), &only_anonymous, first(10))
        .await
        .expect("listable");

    assert_eq!(root.items, vec![anonymous]);
    assert!(scoped.items.is_empty());
    assert_eq!(store.count_audit(a.scope(), &only_anonymous).await, Ok(0));
    assert_eq!(
        store.count_audit(a.scope(), &AuditFilter::default()).await,
        Ok(3),
        "a's own seeding writes"
    );
}

async fn every_write_records_its_audit_event(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    assert_eq!(audit_count(&store).await, 3, "institution, template, asset");
    let key = api_key(tenant.id(), ApiKeyRole::Admin);
    let id = Some(tenant.id());
    store
        .create_api_key(&key, &audit("createApiKey", id))
        .await
        .expect("key is created");
    store
        .revoke_api_key(
            tenant.scope(),
            key.id,
            model::now(),
            &audit("revokeApiKey", id),
        )
        .await
        .expect("key is revoked");
    store
        .upsert_policy(
            &policy(tenant.id(), Region::Us, PositionRules::default()),
            &audit("upsertPolicy", id),
        )
        .await
        .expect("policy is stored");
    let position = tenant.open(&store, "10").await;
    store
        .transition_position(crate::support::transition(
            &position,
            escrowgrid::domain::PositionState::Funded,
        ))
        .await
        .expect("transition applies");

    let trail = store
        .list_audit(tenant.scope(), &AuditFilter::default(), first(50))
        .await
        .expect("listable");
    let actions: Vec<&str> = trail.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "createInstitution",
            "createAssetTemplate",
            "createAsset",
            "createApiKey",
            "revokeApiKey",
            "upsertPolicy",
            "createPosition",
            "transitionPosition",
        ]
    );
}
