//! Institutions: creation with its audit event, reads by id, list, count; and store health.

use crate::support::{Tenant, audit, first, institution, sorted, text};
use escrowgrid::domain::InstitutionId;
use escrowgrid::ports::{AuditFilter, RepoError, Scope, Store, UniqueRule};
use std::sync::Arc;

contract_cases!(
    created_institution_reads_back_equal_with_its_audit_event,
    creating_an_existing_institution_id_is_duplicate_and_writes_nothing,
    institutions_by_ids_leaves_out_missing_ids,
    institutions_list_and_count_cover_every_institution_for_root,
    institution_scope_sees_only_its_own_institution,
    ping_answers_and_every_call_is_counted,
);

async fn created_institution_reads_back_equal_with_its_audit_event(store: Arc<dyn Store>) {
    let bank = institution("First Harbour Bank");
    let event = audit("createInstitution", Some(bank.id));
    store
        .create_institution(&bank, &event)
        .await
        .expect("institution is created");

    let read = store
        .institutions_by_ids(Scope::All, &[bank.id])
        .await
        .expect("readable");
    assert_eq!(read, vec![bank.clone()]);
    let trail = store
        .list_audit(Scope::All, &AuditFilter::default(), first(10))
        .await
        .expect("audit is readable");
    assert_eq!(trail.items, vec![event]);
}

async fn creating_an_existing_institution_id_is_duplicate_and_writes_nothing(
    store: Arc<dyn Store>,
) {
    let bank = institution("First Harbour Bank");
    store
        .create_institution(&bank, &audit("createInstitution", Some(bank.id)))
        .await
        .expect("institution is created");

    let mut again = bank.clone();
    again.name = text("Impostor");
    let result = store
        .create_institution(&again, &audit("createInstitution", Some(bank.id)))
        .await;

    assert!(
        matches!(result, Err(RepoError::Duplicate(UniqueRule::InstitutionId))),
        "{result:?}"
    );
    let read = store
        .institutions_by_ids(Scope::All, &[bank.id])
        .await
        .expect("readable");
    assert_eq!(read, vec![bank]);
    let audits = store
        .count_audit(Scope::All, &AuditFilter::default())
        .await
        .expect("countable");
    assert_eq!(audits, 1, "the refused write recorded no audit event");
}

async fn institutions_by_ids_leaves_out_missing_ids(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let missing = InstitutionId::new();

    let mut read = store
        .institutions_by_ids(Scope::All, &[missing, b.id(), a.id(), a.id()])
        .await
        .expect("readable");
    read.sort_by_key(|i| i.id);

    assert_eq!(read, vec![a.institution, b.institution]);
    let none = store
        .institutions_by_ids(Scope::All, &[])
        .await
        .expect("readable");
    assert!(none.is_empty());
}

async fn institutions_list_and_count_cover_every_institution_for_root(store: Arc<dyn Store>) {
    let mut expected = Vec::new();
    for name in ["A", "B", "C"] {
        expected.push(Tenant::seed(&store, name).await.id().0);
    }

    let page = store
        .list_institutions(Scope::All, first(10))
        .await
        .expect("listable");
    let listed: Vec<_> = page.items.iter().map(|i| i.id.0).collect();

    assert_eq!(listed, sorted(expected), "oldest first, by id");
    assert!(!page.has_next_page);
    let total = store
        .count_institutions(Scope::All)
        .await
        .expect("countable");
    assert_eq!(total, 3);
}

async fn institution_scope_sees_only_its_own_institution(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;

    let page = store
        .list_institutions(a.scope(), first(10))
        .await
        .expect("listable");
    assert_eq!(page.items, vec![a.institution.clone()]);
    assert_eq!(store.count_institutions(a.scope()).await, Ok(1));
    let read = store
        .institutions_by_ids(a.scope(), &[a.id(), b.id()])
        .await
        .expect("readable");
    assert_eq!(read, vec![a.institution]);
}

async fn ping_answers_and_every_call_is_counted(store: Arc<dyn Store>) {
    assert_eq!(store.ping().await, Ok(()));
    let before = store.statements_executed();
    store
        .count_institutions(Scope::All)
        .await
        .expect("countable");
    store
        .list_institutions(Scope::All, first(1))
        .await
        .expect("listable");
    let after = store.statements_executed();
    assert!(
        after >= before + 2,
        "two calls cost at least two statements ({before} -> {after})"
    );
}
