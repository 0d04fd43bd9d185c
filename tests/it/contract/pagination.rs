//! Forward pagination: id order, `first`/`after`, `has_next_page`, and per-parent windows.

use crate::support::{Tenant, after, asset, audit, first, ids, sorted};
use escrowgrid::domain::PositionState::Funded;
use escrowgrid::ports::{
    AssetFilter, AuditFilter, LedgerFilter, Page, PageRequest, PositionFilter, PositionParent,
    RepoResult, Scope, Store, TemplateFilter,
};
use std::sync::Arc;
use uuid::Uuid;

contract_cases!(
    pages_follow_id_order_through_first_and_after,
    a_page_that_ends_exactly_at_the_last_row_has_no_next_page,
    after_the_last_row_is_an_empty_page,
    every_list_walks_to_the_same_rows_it_counts,
    per_parent_pages_each_have_their_own_window,
    per_parent_counts_cover_every_requested_id,
);

/// Follows `has_next_page` from the start in pages of `size`; returns every id seen.
async fn walk<T, F, Fut>(size: u32, id: impl Fn(&T) -> Uuid, mut fetch: F) -> Vec<Uuid>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = RepoResult<Page<T>>>,
{
    let mut seen = Vec::new();
    let mut request = first(size);
    loop {
        let page = fetch(request).await.expect("page is readable");
        assert!(page.items.len() <= size as usize, "at most `first` rows");
        seen.extend(page.items.iter().map(&id));
        match (page.has_next_page, seen.last()) {
            (true, Some(&last)) => request = after(size, last),
            (true, None) => panic!("a page with a next page cannot be empty"),
            (false, _) => return seen,
        }
    }
}

async fn five_positions(store: &Arc<dyn Store>) -> (Tenant, Vec<Uuid>) {
    let tenant = Tenant::seed(store, "A").await;
    let mut positions = Vec::new();
    for _ in 0..5 {
        positions.push(tenant.open(store, "10").await.id.0);
    }
    (tenant, sorted(positions))
}

async fn pages_follow_id_order_through_first_and_after(store: Arc<dyn Store>) {
    let (tenant, expected) = five_positions(&store).await;
    let filter = PositionFilter::default();
    let s = tenant.scope();

    let one = store
        .list_positions(s, &filter, first(2))
        .await
        .expect("listable");
    let two = store
        .list_positions(s, &filter, after(2, expected[1]))
        .await
        .expect("listable");
    let three = store
        .list_positions(s, &filter, after(2, expected[3]))
        .await
        .expect("listable");

    assert_eq!(ids(&one.items, |p| p.id), expected[..2]);
    assert!(one.has_next_page);
    assert_eq!(ids(&two.items, |p| p.id), expected[2..4]);
    assert!(two.has_next_page);
    assert_eq!(ids(&three.items, |p| p.id), expected[4..]);
    assert!(!three.has_next_page);
}

async fn a_page_that_ends_exactly_at_the_last_row_has_no_next_page(store: Arc<dyn Store>) {
    let (tenant, expected) = five_positions(&store).await;

    let page = store
        .list_positions(tenant.scope(), &PositionFilter::default(), first(5))
        .await
        .expect("listable");

    assert_eq!(ids(&page.items, |p| p.id), expected);
    assert!(!page.has_next_page);
}

async fn after_the_last_row_is_an_empty_page(store: Arc<dyn Store>) {
    let (tenant, expected) = five_positions(&store).await;

    let page = store
        .list_positions(
            tenant.scope(),
            &PositionFilter::default(),
            after(10, expected[4]),
        )
        .await
        .expect("listable");

    assert!(page.items.is_empty());
    assert!(!page.has_next_page);
}

async fn every_list_walks_to_the_same_rows_it_counts(store: Arc<dyn Store>) {
    for name in ["A", "B", "C"] {
        let tenant = Tenant::seed(&store, name).await;
        tenant.open_and_move(&store, "10", &[Funded]).await;
        tenant.open(&store, "20").await;
    }
    let s = Scope::All;
    let institutions = walk(
        2,
        |i: &escrowgrid::domain::model::Institution| i.id.0,
        |p| store.list_institutions(s, p),
    )
    .await;
    assert_eq!(institutions, sorted(institutions.clone()));
    assert_eq!(
        institutions.len() as u64,
        store.count_institutions(s).await.expect("countable")
    );

    let filter = TemplateFilter::default();
    let templates = walk(
        2,
        |t: &escrowgrid::domain::model::AssetTemplate| t.id.0,
        |p| store.list_templates(s, &filter, p),
    )
    .await;
    assert_eq!(templates, sorted(templates.clone()));
    assert_eq!(
        templates.len() as u64,
        store.count_templates(s, &filter).await.expect("countable")
    );

    let filter = AssetFilter::default();
    let assets = walk(
        2,
        |a: &escrowgrid::domain::model::Asset| a.id.0,
        |p| store.list_assets(s, &filter, p),
    )
    .await;
    assert_eq!(assets, sorted(assets.clone()));
    assert_eq!(
        assets.len() as u64,
        store.count_assets(s, &filter).await.expect("countable")
    );

    let filter = PositionFilter::default();
    let positions = walk(
        4,
        |p: &escrowgrid::domain::model::Position| p.id.0,
        |p| store.list_positions(s, &filter, p),
    )
    .await;
    assert_eq!(positions, sorted(positions.clone()));
    assert_eq!(positions.len(), 6);
    assert_eq!(
        positions.len() as u64,
        store.count_positions(s, &filter).await.expect("countable")
    );

    let filter = LedgerFilter::default();
    let ledger = walk(
        4,
        |e: &escrowgrid::domain::model::LedgerEvent| e.id.0,
        |p| store.list_ledger(s, &filter, p),
    )
    .await;
    assert_eq!(ledger, sorted(ledger.clone()));
    assert_eq!(ledger.len(), 9);
    assert_eq!(
        ledger.len() as u64,
        store.count_ledger(s, &filter).await.expect("countable")
    );

    let filter = AuditFilter::default();
    let trail = walk(
        4,
        |e: &escrowgrid::domain::model::AuditEvent| e.id.0,
        |p| store.list_audit(s, &filter, p),
    )
    .await;
    assert_eq!(trail, sorted(trail.clone()));
    assert_eq!(
        trail.len(),
        18,
        "3 seeding writes, 2 creations and 1 step per tenant"
    );
    assert_eq!(
        trail.len() as u64,
        store.count_audit(s, &filter).await.expect("countable")
    );
}

async fn per_parent_pages_each_have_their_own_window(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let small = asset(&tenant.template);
    store
        .create_asset(&small, &audit("createAsset", Some(tenant.id())))
        .await
        .expect("asset is created");
    let mut big_positions = Vec::new();
    for _ in 0..3 {
        big_positions.push(tenant.open(&store, "10").await.id.0);
    }
    let big_positions = sorted(big_positions);
    let lone = applied_on(&store, &small).await;
    let empty = asset(&tenant.template);
    store
        .create_asset(&empty, &audit("createAsset", Some(tenant.id())))
        .await
        .expect("asset is created");
    let big = tenant.asset.id.0;
    let requested = [big, small.id.0, empty.id.0];
    let filter = PositionFilter::default();

    let pages = store
        .positions_by_parents(
            Scope::All,
            PositionParent::Asset,
            &requested,
            &filter,
            first(2),
        )
        .await
        .expect("listable");

    assert_eq!(pages.len(), 3, "every requested id is a key");
    assert_eq!(ids(&pages[&big].items, |p| p.id), big_positions[..2]);
    assert!(pages[&big].has_next_page);
    assert_eq!(ids(&pages[&small.id.0].items, |p| p.id), vec![lone]);
    assert!(!pages[&small.id.0].has_next_page);
    assert!(pages[&empty.id.0].items.is_empty() && !pages[&empty.id.0].has_next_page);

    let rest = store
        .positions_by_parents(
            Scope::All,
            PositionParent::Asset,
            &[big],
            &filter,
            after(2, big_positions[1]),
        )
        .await
        .expect("listable");
    assert_eq!(ids(&rest[&big].items, |p| p.id), big_positions[2..]);
    assert!(!rest[&big].has_next_page);

    let by_institution = store
        .positions_by_parents(
            Scope::All,
            PositionParent::Institution,
            &[tenant.id().0],
            &filter,
            first(10),
        )
        .await
        .expect("listable");
    assert_eq!(
        ids(&by_institution[&tenant.id().0].items, |p| p.id),
        sorted([big_positions.clone(), vec![lone]].concat())
    );
}

async fn applied_on(store: &Arc<dyn Store>, asset: &escrowgrid::domain::model::Asset) -> Uuid {
    crate::support::applied(
        store
            .create_position(crate::support::creation(asset, "5"))
            .await,
    )
    .0
    .id
    .0
}

async fn per_parent_counts_cover_every_requested_id(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    a.open_and_move(&store, "10", &[Funded]).await;
    a.open(&store, "20").await;
    b.open(&store, "30").await;
    let nobody = Uuid::now_v7();
    let requested = [a.id().0, b.id().0, nobody];

    let all = store
        .count_positions_by_parents(
            Scope::All,
            PositionParent::Institution,
            &requested,
            &PositionFilter::default(),
        )
        .await
        .expect("countable");
    let funded = store
        .count_positions_by_parents(
            Scope::All,
            PositionParent::Institution,
            &requested,
            &PositionFilter {
                states: Some(vec![Funded]),
                ..PositionFilter::default()
            },
        )
        .await
        .expect("countable");

    assert_eq!(all.len(), 3, "every requested id is a key");
    assert_eq!((all[&a.id().0], all[&b.id().0], all[&nobody]), (2, 1, 0));
    assert_eq!(
        (funded[&a.id().0], funded[&b.id().0], funded[&nobody]),
        (1, 0, 0)
    );
    let by_asset = store
        .count_positions_by_parents(
            Scope::All,
            PositionParent::Asset,
            &[a.asset.id.0, b.asset.id.0],
            &PositionFilter::default(),
        )
        .await
        .expect("countable");
    assert_eq!((by_asset[&a.asset.id.0], by_asset[&b.asset.id.0]), (2, 1));
}
