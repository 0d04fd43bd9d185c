//! What only a real PostgreSQL can show: a unit of work failing midway leaves no trace, the
//! statement counter sees inside transactions, child pages cost one statement, migrations are
//! idempotent and serialized, and money survives NUMERIC(32,8) exactly.

use crate::support::postgres::{empty_database, fresh_store};
use crate::support::{Footprint, Tenant, audit, claim, creation, first, money, policy, transition};
use escrowgrid::adapters::seaorm::{PgStore, PoolSettings};
use escrowgrid::domain::model::{EventSeq, IdempotentOperation};
use escrowgrid::domain::policy::PositionRules;
use escrowgrid::domain::{Amount, InstitutionId, PositionState, Region};
use escrowgrid::ports::{
    EventFilter, InstitutionRepository, PageRequest, PositionEventLog, PositionFilter,
    PositionParent, RepoError, Scope, StoreHealth, TemplateFilter, UniqueRule, WriteOutcome,
};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The statements `work` sent, by the store's own counter.
macro_rules! statements {
    ($db:expr, $work:expr) => {{
        let before = $db.pg.statements_executed();
        let value = $work;
        ($db.pg.statements_executed() - before, value)
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transition_failing_after_its_update_leaves_no_trace() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let tenant = Tenant::seed(&db, "A").await;
    let funded = tenant
        .open_and_move(&db, "1000.00", &[PositionState::Funded])
        .await;
    let before = Footprint::of(&db, funded.id).await;

    // The UPDATE matches (version 2 → 3), then the event insert reuses version 2 and violates
    // position_events_position_version_key: the UPDATE must roll back with it.
    let mut step = transition(&funded, PositionState::Released);
    step.event.version = funded.version;
    let result = db.transition_position(step).await;

    assert_eq!(
        result,
        Err(RepoError::Duplicate(UniqueRule::PositionEventVersion))
    );
    assert_eq!(Footprint::of(&db, funded.id).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_a_claimed_key_failing_midway_releases_the_key() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let tenant = Tenant::seed(&db, "A").await;
    let existing = tenant.open(&db, "10").await;
    // Same position id again: the idempotency claim succeeds, the position INSERT fails.
    let mut again = creation(&tenant.asset, "10");
    again.position.id = existing.id;
    again.event.position_id = existing.id;
    again.ledger.position_id = existing.id;
    again.idempotency = Some(claim("k-1", IdempotentOperation::CreatePosition, "h"));

    let result = db.create_position(again).await;

    assert_eq!(result, Err(RepoError::Duplicate(UniqueRule::PositionId)));
    assert_eq!(db.find_idempotency(tenant.id(), "k-1").await, Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_counter_sees_inside_transactions() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let tenant = Tenant::seed(&db, "A").await;

    // BEGIN, the position with its ledger entry, audit row and event in one statement, COMMIT.
    let (cost, created) = statements!(db, db.create_position(creation(&tenant.asset, "5")).await);
    assert_eq!(cost, 3);
    let WriteOutcome::Applied { position, .. } = created.expect("created") else {
        panic!("a new position is applied");
    };

    // The idempotency record rides in the same statement.
    let mut keyed = creation(&tenant.asset, "5");
    keyed.idempotency = Some(claim("k", IdempotentOperation::CreatePosition, "h"));
    let (cost, _) = statements!(db, db.create_position(keyed.clone()).await);
    assert_eq!(cost, 3);

    // A replay: BEGIN, the statement fails on the held key, ROLLBACK, SELECT the holder.
    let (cost, replayed) = statements!(db, db.create_position(keyed).await);
    assert!(matches!(replayed, Ok(WriteOutcome::Replayed { .. })));
    assert_eq!(cost, 4);

    // The version-guarded UPDATE with its dependent rows, again one statement.
    let (cost, _) = statements!(
        db,
        db.transition_position(transition(&position, PositionState::Funded))
            .await
    );
    assert_eq!(cost, 3);

    // A new position's asset, template and policy: one statement, however they join.
    let (cost, rules) = statements!(db, db.asset_rules(Scope::All, tenant.asset.id).await);
    assert!(matches!(rules, Ok(Some(_))), "{rules:?}");
    assert_eq!(cost, 1);

    let (cost, pinged) = statements!(db, db.ping().await);
    assert_eq!((cost, pinged), (1, Ok(())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_of_ten_parents_cost_one_statement_each() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let mut tenants = Vec::new();
    for n in 0..10 {
        let tenant = Tenant::seed(&db, &format!("T{n}")).await;
        tenant.open(&db, "1").await;
        tenant.open(&db, "2").await;
        tenants.push(tenant);
    }
    let institutions: Vec<InstitutionId> = tenants.iter().map(Tenant::id).collect();
    let assets: Vec<Uuid> = tenants.iter().map(|t| t.asset.id.0).collect();
    let filter = PositionFilter::default();

    let (cost, pages) = statements!(
        db,
        db.positions_by_parents(
            Scope::All,
            PositionParent::Asset,
            &assets,
            &filter,
            first(1)
        )
        .await
        .expect("readable")
    );
    assert_eq!(cost, 1);
    assert_eq!(pages.len(), 10);
    assert!(
        pages
            .values()
            .all(|page| page.items.len() == 1 && page.has_next_page)
    );

    let (cost, counts) = statements!(
        db,
        db.count_positions_by_parents(Scope::All, PositionParent::Asset, &assets, &filter)
            .await
            .expect("countable")
    );
    assert_eq!(cost, 1);
    assert!(counts.values().all(|count| *count == 2));

    let (cost, templates) = statements!(
        db,
        db.templates_by_institutions(
            Scope::All,
            &institutions,
            &TemplateFilter::default(),
            first(5)
        )
        .await
        .expect("readable")
    );
    assert_eq!(cost, 1);
    assert!(templates.values().all(|page| page.items.len() == 1));

    let (cost, keys) = statements!(
        db,
        db.api_keys_by_institutions(Scope::All, &institutions)
            .await
            .expect("readable")
    );
    assert_eq!((cost, keys.len()), (1, 10));

    let (cost, policies) = statements!(
        db,
        db.policies_by_institutions(Scope::All, &institutions)
            .await
            .expect("readable")
    );
    assert_eq!((cost, policies.len()), (1, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_parent_gets_its_own_first_page_from_one_statement() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let a = Tenant::seed(&db, "A").await;
    let b = Tenant::seed(&db, "B").await;
    let empty = Tenant::seed(&db, "Empty").await;
    let mut of_a = Vec::new();
    for _ in 0..5 {
        of_a.push(a.open(&db, "1").await.id);
    }
    let mut of_b = Vec::new();
    for _ in 0..2 {
        of_b.push(b.open(&db, "1").await.id);
    }
    let parents = [a.asset.id.0, b.asset.id.0, empty.asset.id.0, Uuid::now_v7()];
    let filter = PositionFilter::default();

    let (cost, pages) = statements!(
        db,
        db.positions_by_parents(
            Scope::All,
            PositionParent::Asset,
            &parents,
            &filter,
            first(2)
        )
        .await
        .expect("readable")
    );
    assert_eq!(cost, 1);
    let ids = |parent: Uuid| -> (Vec<_>, bool) {
        let page = &pages[&parent];
        (
            page.items.iter().map(|p| p.id).collect(),
            page.has_next_page,
        )
    };
    assert_eq!(ids(a.asset.id.0), (of_a[..2].to_vec(), true));
    assert_eq!(ids(b.asset.id.0), (of_b.clone(), false));
    assert_eq!(ids(empty.asset.id.0), (vec![], false));
    assert_eq!(ids(parents[3]), (vec![], false));

    // `after` applies to every parent: A continues after its second row, B (all newer) restarts.
    let next = PageRequest {
        first: 2,
        after: Some(of_a[1].0),
    };
    let pages = db
        .positions_by_parents(Scope::All, PositionParent::Asset, &parents, &filter, next)
        .await
        .expect("readable");
    assert_eq!(
        pages[&a.asset.id.0]
            .items
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        of_a[2..4].to_vec()
    );
    assert!(pages[&a.asset.id.0].has_next_page);
    assert_eq!(pages[&b.asset.id.0].items.len(), 2);

    // Another institution's scope sees nothing of A's or B's, yet keys every parent.
    let scoped = db
        .positions_by_parents(
            empty.scope(),
            PositionParent::Asset,
            &parents,
            &filter,
            first(2),
        )
        .await
        .expect("readable");
    assert_eq!(scoped.len(), 4);
    assert!(scoped.values().all(|page| page.items.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_again_finds_no_pending_migration() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let tenant = Tenant::seed(&db, "A").await;

    let again = PgStore::connect(&db.url, PoolSettings::default())
        .await
        .expect("a second connect succeeds");

    let pending = Migrator::get_pending_migrations(again.connection())
        .await
        .expect("pending migrations are listable");
    assert!(pending.is_empty());
    assert_eq!(migration_rows(&again).await, Migrator::migrations().len());
    let read = again
        .institutions_by_ids(Scope::All, &[tenant.id()])
        .await
        .expect("readable");
    assert_eq!(read, vec![tenant.institution]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_migrate_once() {
    let Some(empty) = empty_database().await else {
        return;
    };
    let settings = PoolSettings {
        max_connections: 2,
        ..PoolSettings::default()
    };
    let starts = (0..4).map(|_| PgStore::connect(&empty.url, settings.clone()));
    let stores = futures::future::join_all(starts).await;

    let stores: Vec<PgStore> = stores
        .into_iter()
        .map(|store| store.expect("every instance starts"))
        .collect();
    assert_eq!(
        migration_rows(&stores[0]).await,
        Migrator::migrations().len()
    );
    // They also agree on one cursor key, so a cursor one issues resumes on every other.
    let keys: std::collections::BTreeSet<[u8; 32]> = stores
        .iter()
        .map(|store| store.event_cursor_key().0)
        .collect();
    assert_eq!(keys.len(), 1);
    for store in &stores {
        store.close().await.expect("closed");
    }
}

async fn migration_rows(store: &PgStore) -> usize {
    store
        .connection()
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT version FROM seaql_migrations",
        ))
        .await
        .expect("the migration table exists")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_round_trips_exactly_through_numeric() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let tenant = Tenant::seed(&db, "A").await;
    for text in ["0.00000001", "100000.50", "999999999999999.99999999"] {
        let opened = tenant.open(&db, text).await;
        let read = db
            .positions_by_ids(Scope::All, &[opened.id])
            .await
            .expect("readable")
            .pop()
            .expect("stored");
        assert_eq!(read.amount.to_string(), text);
        assert_eq!(read.released_amount.to_string(), "0.00");
        assert_eq!(opened, read);
    }
    let bound = |text: &str| Some(Amount::parse_str(text, "a").expect("valid"));
    let rules = PositionRules::new(bound("0.00000001"), bound("100000.50"), None).expect("valid");
    let stored = db
        .upsert_policy(
            &policy(tenant.id(), Region::Us, rules.clone()),
            &audit("upsertPolicy", Some(tenant.id())),
        )
        .await
        .expect("stored");
    assert_eq!(stored.rules, rules);
    assert_eq!(
        stored.rules.max_amount.map(|a| a.to_string()).as_deref(),
        Some("100000.50")
    );
    assert_eq!(money("100000.50").to_string(), "100000.50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_closed_store_is_unavailable() {
    let settings = PoolSettings {
        connect_timeout: Duration::from_secs(1),
        acquire_timeout: Duration::from_secs(1),
        ..PoolSettings::default()
    };
    // Port 1 on loopback refuses at once.
    let refused = PgStore::connect("postgres://postgres@127.0.0.1:1/none", settings).await;
    assert!(
        matches!(refused, Err(RepoError::Unavailable(_))),
        "{refused:?}"
    );

    let Some(db) = fresh_store().await else {
        return;
    };
    db.pg.close().await.expect("closed");
    let pinged = db.ping().await;
    assert!(
        matches!(pinged, Err(RepoError::Unavailable(_))),
        "{pinged:?}"
    );
    let read = db.count_institutions(Scope::All).await;
    assert!(matches!(read, Err(RepoError::Unavailable(_))), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_timeout_is_cancelled() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let settings = PoolSettings {
        statement_timeout: Some(Duration::from_millis(200)),
        ..PoolSettings::default()
    };
    let short = PgStore::connect(&db.url, settings).await.expect("connects");
    let error = short
        .connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_sleep(2)",
        ))
        .await
        .expect_err("cancelled by statement_timeout");
    assert!(error.to_string().contains("statement timeout"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replaying_after_the_last_seen_seq_never_misses_a_concurrent_event() {
    const WRITERS: usize = 4;
    const EACH: usize = 15;
    let Some(db) = fresh_store().await else {
        return;
    };
    let tenant = Arc::new(Tenant::seed(&db, "A").await);
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = db.store.clone();
            let tenant = Arc::clone(&tenant);
            tokio::spawn(async move {
                for _ in 0..EACH {
                    tenant.open(&store, "1").await;
                }
            })
        })
        .collect();

    // A subscriber's resume loop: read after the highest seq seen so far. If a smaller seq could
    // become readable after a larger one was read, that event would never be seen. Events of
    // finished writers may stay held back a little while another test's transaction is open,
    // so the loop reads until it has them all (or the deadline fails it).
    let mut seen = Vec::new();
    let mut cursor = EventSeq::START;
    let log = &db.pg;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < WRITERS * EACH {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} events became readable",
            seen.len()
        );
        let batch = log
            .position_events_after(Scope::All, &EventFilter::default(), cursor, 7)
            .await
            .expect("the log is readable");
        if let Some(last) = batch.last() {
            cursor = last.seq;
        }
        seen.extend(batch.into_iter().map(|event| event.seq));
    }
    for writer in writers {
        writer.await.expect("the writer finished");
    }
    let rest = log
        .position_events_after(Scope::All, &EventFilter::default(), cursor, 1000)
        .await
        .expect("the log is readable");
    assert!(rest.is_empty(), "no event beyond the writers': {rest:?}");

    assert_eq!(seen.len(), WRITERS * EACH, "every event was replayed once");
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));
    let watermark = log
        .event_watermark()
        .await
        .expect("the watermark is readable");
    assert!(
        watermark >= *seen.last().expect("events"),
        "with every writer done, all of their events are at or below the watermark"
    );
    let filtered = log
        .position_events_after(
            Scope::Institution(InstitutionId::new()),
            &EventFilter::default(),
            EventSeq::START,
            1000,
        )
        .await
        .expect("readable");
    assert!(filtered.is_empty(), "another institution sees none of them");
}
