//! The request timeout: 504, and the write it cancelled leaves nothing behind.

use super::{escrow_asset, institution_admin, only_error};
use crate::api::support::{TestApp, TestStore, WAIT};
use crate::support::postgres::{park_writes, release_writes};
use reqwest::StatusCode;
use sea_orm::sqlx::{self, Connection as _, PgConnection};
use serde_json::json;
use std::time::{Duration, Instant};

/// Waits until no other session of the database is inside a transaction: the cancelled write
/// has rolled back (the pool flushes a dropped transaction's ROLLBACK when the connection comes
/// back) and cannot commit any more. Polled outside any transaction, so each read of
/// `pg_stat_activity` is a fresh snapshot.
async fn wait_until_no_transaction_is_open(connection: &mut PgConnection) {
    let started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
        )
        .fetch_one(&mut *connection)
        .await
        .expect("pg_stat_activity");
        if open == 0 {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "{open} transactions still open after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Counts rows of `sql` (which must select one bigint column named `n`).
async fn count(connection: &mut PgConnection, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(connection)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_timeout_is_504_and_its_half_done_write_rolls_back() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let timeout = Duration::from_millis(700);
    let server = TestApp::new(store)
        .with_config(|settings| settings.http.request_timeout = timeout)
        .spawn()
        .await;
    let url = server.db().expect("a test database").url.clone();
    let (institution, key) = institution_admin(&server).await;
    let asset = escrow_asset(&server, &institution).await;
    let create =
        "mutation($input: CreatePositionInput!) { createPosition(input: $input) { id version } }";
    let input = |reference: &str| {
        json!({ "input": {
            "assetId": asset,
            "holderReference": reference,
            "currency": "USD",
            "amount": "1000.00",
            "idempotencyKey": format!("key-{reference}"),
        }})
    };

    // Park the write inside its transaction, at its first row that refers to the institution.
    let mut blocker = park_writes(&url).await;
    let (status, body) = server.gql(create, input("SLOW-1"), Some(&key)).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    let error = only_error(&body);
    assert_eq!(error["extensions"]["code"], "INTERNAL_SERVER_ERROR");
    assert_eq!(error["extensions"]["timeoutMs"], 700);
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("700 ms"),
        "{body}"
    );
    release_writes(&mut blocker).await;
    // The cancelled transaction may finish its parked INSERT once the lock is free; it must
    // still never commit. Wait for it to end, then look.
    let mut check = PgConnection::connect(&url).await.expect("connects");
    wait_until_no_transaction_is_open(&mut check).await;
    for sql in [
        "SELECT count(*) FROM positions",
        "SELECT count(*) FROM ledger_events",
        "SELECT count(*) FROM position_events",
        "SELECT count(*) FROM idempotency_records",
        "SELECT count(*) FROM audit_events WHERE action = 'createPosition'",
    ] {
        assert_eq!(
            count(&mut check, sql).await,
            0,
            "{sql}: the timed-out write left a trace"
        );
    }

    // The pool is healthy afterwards, and the same idempotency key now applies once.
    let data = server.data(create, input("SLOW-1"), &key).await;
    assert_eq!(data["createPosition"]["version"], 1);
    let position = data["createPosition"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();

    // The same for a transition parked on the position's row lock.
    sqlx::query("BEGIN")
        .execute(&mut blocker)
        .await
        .expect("begun");
    sqlx::query("SELECT 1 FROM positions WHERE id = $1::uuid FOR UPDATE")
        .bind(&position)
        .execute(&mut blocker)
        .await
        .expect("row locked");
    let transition = "mutation($input: TransitionPositionInput!) { transitionPosition(input: $input) { version } }";
    let funded = json!({ "input": { "positionId": position, "toState": "FUNDED", "idempotencyKey": "fund-1" } });
    let (status, body) = server.gql(transition, funded.clone(), Some(&key)).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    sqlx::query("ROLLBACK")
        .execute(&mut blocker)
        .await
        .expect("released");
    wait_until_no_transaction_is_open(&mut check).await;
    assert_eq!(
        count(&mut check, "SELECT count(*) FROM position_events").await,
        1,
        "only the creation event"
    );
    assert_eq!(
        count(
            &mut check,
            "SELECT count(*) FROM idempotency_records WHERE key = 'fund-1'"
        )
        .await,
        0
    );
    let data = server.data(transition, funded, &key).await;
    assert_eq!(data["transitionPosition"]["version"], 2);

    let metrics = server.metrics().await;
    assert!(
        metrics.contains(
            "escrowgrid_graphql_operation_duration_seconds_count{operation=\"anonymous\",type=\"mutation\",outcome=\"timeout\"} 2\n"
        ),
        "{metrics}"
    );
}
