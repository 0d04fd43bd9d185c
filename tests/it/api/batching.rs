//! The statement-count property of nested reads: the contract's frontend query
//! (institutions → assets → positions → events at first 10/20/20) costs one store round trip
//! per level however many rows each level returns, measured with
//! `escrowgrid_db_statements_total` from `GET /metrics` (SQL statements on PostgreSQL,
//! repository calls on the memory store). Run with `--nocapture` to see the numbers.
//!
//! The data (10 institutions × 20 assets × 20 positions, each created and funded) is seeded
//! through the repository layer, not 8 000 HTTP calls.

use super::support::{TestApp, TestStore};
use crate::support::postgres::{TestDb, fresh_store};
use crate::support::{
    applied, asset, audit, creation, institution, memory_store, template, transition,
};
use escrowgrid::adapters::seaorm::{PgStore, PoolSettings};
use escrowgrid::domain::PositionState;
use escrowgrid::ports::Store;
use futures::StreamExt as _;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

const INSTITUTIONS: usize = 10;
const ASSETS: usize = 20;
const POSITIONS: usize = 20;

/// At most this many statements for the three-level query, whatever the page sizes.
const MAX_STATEMENTS: u64 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nested_rows_cost_one_statement_per_level_whatever_the_page_sizes_on_postgres() {
    let Some((app, _pool)) = seeded(Backend::Postgres).await else {
        return;
    };
    rows_cost_one_statement_per_level(&app, "postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nested_rows_cost_one_repository_call_per_level_whatever_the_page_sizes_on_memory() {
    let Some((app, _pool)) = seeded(Backend::Memory).await else {
        return;
    };
    rows_cost_one_statement_per_level(&app, "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nested_total_counts_add_at_most_one_statement_per_level_on_postgres() {
    let Some((app, _pool)) = seeded(Backend::Postgres).await else {
        return;
    };
    total_counts_add_one_statement_per_level(&app, "postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nested_total_counts_add_at_most_one_repository_call_per_level_on_memory() {
    let Some((app, _pool)) = seeded(Backend::Memory).await else {
        return;
    };
    total_counts_add_one_statement_per_level(&app, "memory").await;
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Postgres,
}

/// The seeded PostgreSQL database, shared by this file's PostgreSQL tests: seeding takes tens
/// of seconds because position writes are serialized. Kept (in the static) for the rest of
/// the run; each test connects its own pool, since a pool dies with the test runtime that
/// opened it. `None` when PostgreSQL is unreachable (skipped loudly by `fresh_store`).
static SEEDED_POSTGRES: OnceCell<Option<TestDb>> = OnceCell::const_new();

/// An app on a store seeded with 10 × 20 × 20 positions, once nothing runs in the background.
async fn seeded(kind: Backend) -> Option<(TestApp, Option<PgStore>)> {
    let (store, pool): (Arc<dyn Store>, _) = match kind {
        Backend::Memory => {
            let store = memory_store();
            seed(&store).await;
            (store, None)
        }
        Backend::Postgres => {
            let db = SEEDED_POSTGRES
                .get_or_init(|| async {
                    let db = fresh_store().await?;
                    seed(&db.store).await;
                    Some(db)
                })
                .await
                .as_ref()?;
            let settings = PoolSettings {
                max_connections: 5,
                min_connections: 0,
                ..PoolSettings::default()
            };
            let pool = PgStore::connect(&db.url, settings)
                .await
                .expect("the seeded database accepts connections");
            (Arc::new(pool.clone()), Some(pool))
        }
    };
    let app = TestApp::new(TestStore::shared(store)).spawn().await;
    settle(&app).await;
    Some((app, pool))
}

/// 10 institutions, each with a template and 20 assets, each with 20 positions created and
/// funded (two events, two ledger entries each).
async fn seed(store: &Arc<dyn Store>) {
    let seeding = Instant::now();
    let mut assets = Vec::with_capacity(INSTITUTIONS * ASSETS);
    for i in 0..INSTITUTIONS {
        let institution = institution(&format!("Batch Bank {i:02}"));
        let id = Some(institution.id);
        store
            .create_institution(&institution, &audit("createInstitution", id))
            .await
            .expect("institution is created");
        let template = template(institution.id);
        store
            .create_template(&template, &audit("createAssetTemplate", id))
            .await
            .expect("template is created");
        for _ in 0..ASSETS {
            let asset = asset(&template);
            store
                .create_asset(&asset, &audit("createAsset", id))
                .await
                .expect("asset is created");
            assets.push(asset);
        }
    }
    futures::stream::iter(
        assets
            .iter()
            .flat_map(|asset| std::iter::repeat_n(asset, POSITIONS)),
    )
    .for_each_concurrent(5, |asset| async move {
        let (position, _) = applied(store.create_position(creation(asset, "1000.00")).await);
        applied(
            store
                .transition_position(transition(&position, PositionState::Funded))
                .await,
        );
    })
    .await;
    eprintln!(
        "batching: seeded {} positions in {:?}",
        INSTITUTIONS * ASSETS * POSITIONS,
        seeding.elapsed()
    );
}

/// The frontend query with `first` per level, and `totalCount` at the levels marked.
fn nested(first: [u32; 3], totals: [bool; 3]) -> String {
    let total = |level: usize| if totals[level] { "totalCount " } else { "" };
    format!(
        "{{ institutions(first: {}) {{ {}edges {{ node {{ id \
         assets(first: {}) {{ {}edges {{ node {{ id \
         positions(first: {}) {{ {}edges {{ node {{ id state version events {{ toState version }} }} }} }} \
         }} }} }} }} }} }} }}",
        first[0],
        total(0),
        first[1],
        total(1),
        first[2],
        total(2)
    )
}

pub(crate) async fn statements(app: &TestApp) -> u64 {
    app.metric("escrowgrid_db_statements_total").await
}

/// Waits until nothing runs in the background: on PostgreSQL the event listener reads the
/// seeded events after the app starts.
pub(crate) async fn settle(app: &TestApp) {
    let mut last = statements(app).await;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = statements(app).await;
        if now == last {
            return;
        }
        last = now;
    }
    panic!("the statement counter never settled");
}

/// What one run of `query` costs.
struct Cost {
    /// The least of the runs: PostgreSQL's event listener reads the log in the background
    /// every 2 s when idle, and such a read may land inside one run.
    statements: u64,
    runs: Vec<u64>,
    millis: u128,
    data: Value,
}

async fn cost(app: &TestApp, query: &str) -> Cost {
    let mut runs = Vec::new();
    let mut data = Value::Null;
    let mut millis = u128::MAX;
    for _ in 0..3 {
        let before = statements(app).await;
        let started = Instant::now();
        data = app.root(query, json!({})).await;
        millis = millis.min(started.elapsed().as_millis());
        runs.push(statements(app).await - before);
    }
    Cost {
        statements: runs.iter().copied().min().unwrap_or_default(),
        runs,
        millis,
        data,
    }
}

fn edges(connection: &Value) -> &Vec<Value> {
    connection["edges"].as_array().expect("edges")
}

/// Every row the seed wrote comes back: 10 × 20 × 20 funded positions with both events.
fn assert_everything_returned(data: &Value) {
    let institutions = edges(&data["institutions"]);
    assert_eq!(institutions.len(), INSTITUTIONS);
    let mut positions = BTreeSet::new();
    for institution in institutions {
        let assets = edges(&institution["node"]["assets"]);
        assert_eq!(assets.len(), ASSETS, "{}", institution["node"]["id"]);
        for asset in assets {
            let rows = edges(&asset["node"]["positions"]);
            assert_eq!(rows.len(), POSITIONS, "{}", asset["node"]["id"]);
            for row in rows {
                let node = &row["node"];
                assert_eq!(node["state"], "FUNDED");
                assert_eq!(node["version"], 2);
                assert_eq!(
                    node["events"],
                    json!([
                        { "toState": "CREATED", "version": 1 },
                        { "toState": "FUNDED", "version": 2 },
                    ]),
                    "{}",
                    node["id"]
                );
                positions.insert(node["id"].as_str().expect("an id").to_owned());
            }
        }
    }
    assert_eq!(positions.len(), INSTITUTIONS * ASSETS * POSITIONS);
}

async fn rows_cost_one_statement_per_level(app: &TestApp, store_name: &str) {
    let full = cost(app, &nested([10, 20, 20], [false; 3])).await;
    assert_everything_returned(&full.data);
    let one = cost(app, &nested([1, 1, 1], [false; 3])).await;
    assert_eq!(edges(&one.data["institutions"]).len(), 1);
    eprintln!(
        "batching[{store_name}]: first 10/20/20: {} statements (runs {:?}, fastest {} ms)",
        full.statements, full.runs, full.millis
    );
    eprintln!(
        "batching[{store_name}]: first 1/1/1: {} statements (runs {:?}, fastest {} ms)",
        one.statements, one.runs, one.millis
    );
    assert!(
        full.statements <= MAX_STATEMENTS,
        "the nested query took {} statements (runs {:?}); at most {MAX_STATEMENTS} allowed",
        full.statements,
        full.runs
    );
    assert_eq!(
        full.statements, one.statements,
        "the cost depends on the page sizes: 10/20/20 took {:?}, 1/1/1 took {:?}",
        full.runs, one.runs
    );
}

async fn total_counts_add_one_statement_per_level(app: &TestApp, store_name: &str) {
    let full = cost(app, &nested([10, 20, 20], [false; 3])).await;
    let with_totals = [
        cost(app, &nested([10, 20, 20], [true, false, false])).await,
        cost(app, &nested([10, 20, 20], [true, true, false])).await,
        cost(app, &nested([10, 20, 20], [true, true, true])).await,
    ];
    let one_with_totals = cost(app, &nested([1, 1, 1], [true; 3])).await;
    eprintln!(
        "batching[{store_name}]: first 10/20/20 without totalCount: {} statements (runs {:?})",
        full.statements, full.runs
    );
    for (levels, measured) in with_totals.iter().enumerate() {
        eprintln!(
            "batching[{store_name}]: first 10/20/20 with totalCount at {} level(s): {} \
             statements (runs {:?}, fastest {} ms)",
            levels + 1,
            measured.statements,
            measured.runs,
            measured.millis
        );
    }
    eprintln!(
        "batching[{store_name}]: first 1/1/1 with totalCount at 3 levels: {} statements (runs {:?})",
        one_with_totals.statements, one_with_totals.runs
    );
    // The counts themselves are right.
    let counted = &with_totals[2].data["institutions"];
    assert_eq!(counted["totalCount"], INSTITUTIONS);
    for institution in edges(counted) {
        assert_eq!(institution["node"]["assets"]["totalCount"], ASSETS);
        for asset in edges(&institution["node"]["assets"]) {
            assert_eq!(asset["node"]["positions"]["totalCount"], POSITIONS);
        }
    }
    let measured: Vec<u64> = std::iter::once(full.statements)
        .chain(with_totals.iter().map(|cost| cost.statements))
        .collect();
    for level in 1..measured.len() {
        assert!(
            measured[level] <= measured[level - 1] + 1,
            "totalCount must add at most one statement per level; with totalCount at 0..=3 \
             levels the query took {measured:?} statements (runs: {:?})",
            with_totals
                .iter()
                .map(|cost| &cost.runs)
                .collect::<Vec<_>>()
        );
    }
    assert_eq!(
        with_totals[2].statements, one_with_totals.statements,
        "with totalCount the cost depends on the page sizes"
    );
}
