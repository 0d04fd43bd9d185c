//! The PostgreSQL pool under a read load larger than itself: every request of a 16- and a
//! 64-client nested load against 4 connections is answered whole, none with an error; and a
//! closed store leaves PostgreSQL no abandoned session (the event listener's connections are
//! closed, not dropped).

use super::support::{TestApp, TestStore};
use crate::support::Tenant;
use crate::support::postgres::{admin_url, empty_database, fresh_store, with_application_name};
use escrowgrid::adapters::seaorm::{PgStore, PoolSettings};
use escrowgrid::domain::PositionState;
use escrowgrid::ports::Store;
use sea_orm::sqlx::{self, Connection as _, PgConnection};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NESTED: &str = "{ institutions(first: 2) { nodes { id name assets(first: 5) { nodes { id label \
    positions(first: 10) { nodes { id holderReference amount state events { id fromState toState at } } } } } } } }";
const INSTITUTIONS: usize = 2;
const POSITIONS_EACH: usize = 10;

/// A pool smaller than the load, with an acquire timeout short enough that starving a
/// request would fail it.
fn small_pool() -> PoolSettings {
    PoolSettings {
        max_connections: 4,
        min_connections: 4,
        acquire_timeout: Duration::from_secs(2),
        ..PoolSettings::default()
    }
}

async fn run_load(app: &TestApp, clients: usize, requests_each: usize) {
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let api = app.api();
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for _ in 0..requests_each {
                let (status, body) = api.gql(NESTED, json!({}), Some(&api.root_key)).await;
                let complete = status.is_success()
                    && body.get("errors").is_none()
                    && body["data"]["institutions"]["nodes"]
                        .as_array()
                        .is_some_and(|institutions| {
                            institutions.len() == INSTITUTIONS
                                && institutions.iter().all(|institution| {
                                    institution["assets"]["nodes"][0]["positions"]["nodes"]
                                        .as_array()
                                        .is_some_and(|positions| {
                                            positions.len() == POSITIONS_EACH
                                                && positions.iter().all(|p| {
                                                    p["events"]
                                                        .as_array()
                                                        .is_some_and(|e| e.len() == 2)
                                                })
                                        })
                                })
                        });
                if !complete {
                    failures.push(format!("{status} {body}"));
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await.expect("a client finished"));
    }
    eprintln!(
        "pool: {clients} clients x {requests_each} nested reads on 4 connections in {:?}",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} requests failed, first: {}",
        failures.len(),
        clients * requests_each,
        failures[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_load_of_16_and_64_clients_on_4_connections_has_no_errors() {
    let Some(db) = fresh_store().await else {
        return;
    };
    for n in 0..INSTITUTIONS {
        let tenant = Tenant::seed(&db.store, &format!("Bank {n}")).await;
        for _ in 0..POSITIONS_EACH {
            tenant
                .open_and_move(&db.store, "100.00", &[PositionState::Funded])
                .await;
        }
    }
    let store = PgStore::connect(&db.url, small_pool())
        .await
        .expect("a small pool on the test database");
    let app = TestApp::new(TestStore::pg(store)).spawn().await;
    run_load(&app, 16, 10).await;
    run_load(&app, 64, 4).await;
}

/// Once no backend is connected to `database`: how many sessions ended, and how many of
/// those were abandoned (their client vanished without a goodbye). A backend counts its
/// session as it exits, so the counts are read after the last one is gone.
async fn ended_sessions(admin: &mut PgConnection, database: &str) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (connected,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(database)
                .fetch_one(&mut *admin)
                .await
                .expect("the database's backends");
        if connected == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{connected} backends still connected"
        );
        tokio::task::yield_now().await;
    }
    sqlx::query_as::<_, (i64, i64)>(
        "SELECT sessions, sessions_abandoned FROM pg_stat_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_one(admin)
    .await
    .expect("the database's statistics")
}

/// As at shutdown: the store is closed, then its last clone dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_leaves_no_abandoned_session() {
    let Some(db) = empty_database().await else {
        return;
    };
    let database = db
        .url
        .rsplit('/')
        .next()
        .expect("a database name in the URL")
        .to_owned();
    let mut admin = PgConnection::connect(&admin_url())
        .await
        .expect("an admin connection");
    let pg = PgStore::connect(&db.url, small_pool())
        .await
        .expect("a store with its listener");
    let store: Arc<dyn Store> = Arc::new(pg.clone());
    Tenant::seed(&store, "Closing Bank").await;
    pg.close().await.expect("closes");
    drop((pg, store));
    let (sessions, abandoned) = ended_sessions(&mut admin, &database).await;
    assert!(
        sessions >= 6,
        "the pool's four and the listener's two sessions ended: {sessions}"
    );
    assert_eq!(abandoned, 0, "sessions abandoned by a closed store");
}

/// The pool hands connections out without pinging them (`reconnect.rs`): connections that
/// died while idle (here: every session of the app terminated by PostgreSQL) fail a statement
/// each, which is sent again on another one, so the requests after it are answered as if
/// nothing happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_died_idle_in_the_pool_are_replaced_without_failing_a_request() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let tenant = Tenant::seed(&db.store, "Restarted Bank").await;
    let position = tenant
        .open_and_move(&db.store, "100.00", &[PositionState::Funded])
        .await;
    let application = "died-idle";
    let url = with_application_name(&db.url, application);
    let pg = PgStore::connect(&url, small_pool())
        .await
        .expect("a small pool on the test database");
    let app = TestApp::new(TestStore::pg(pg.clone())).spawn().await;
    let api = app.api();
    let read = "query($id: ID!) { position(id: $id) { id state events { toState } } }";
    let id = position.id.to_string();
    let before = api.root(read, json!({ "id": id })).await;
    assert_eq!(before["position"]["state"], "FUNDED", "{before}");

    let mut admin = PgConnection::connect(&admin_url())
        .await
        .expect("an admin connection");
    let terminated: Vec<i32> = sqlx::query_scalar(
        r"WITH app AS MATERIALIZED (
             SELECT pid FROM pg_stat_activity WHERE application_name = $1)
           SELECT pid FROM app WHERE pg_terminate_backend(pid)",
    )
    .bind(application)
    .fetch_all(&mut admin)
    .await
    .expect("the app's sessions are terminated");
    assert!(
        terminated.len() >= 4,
        "the pool's four sessions at least: {terminated:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (alive,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                .bind(&terminated)
                .fetch_one(&mut admin)
                .await
                .expect("pg_stat_activity is readable");
        if alive == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{alive} sessions still alive");
        tokio::task::yield_now().await;
    }
    let failed_before = pg.statement_timings().failed;

    let after = api.root(read, json!({ "id": id })).await;
    assert_eq!(after["position"]["state"], "FUNDED", "{after}");
    let transition = "mutation($id: ID!) { transitionPosition(input: { positionId: $id, \
        toState: RELEASED }) { state version } }";
    let released = api.root(transition, json!({ "id": id })).await;
    assert_eq!(
        released["transitionPosition"]["state"], "RELEASED",
        "{released}"
    );
    assert!(
        pg.statement_timings().failed > failed_before,
        "the requests met a dead connection and were answered anyway"
    );
}
