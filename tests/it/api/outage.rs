//! PostgreSQL goes away under a write load and comes back, without touching the shared
//! server: the app reaches the database through a proxy in the test, which "stops" it by
//! closing every connection and refusing new ones, and "restarts" it by listening again.
//!
//! What must hold: every request is answered cleanly (200, 503 or 504, only
//! INTERNAL_SERVER_ERROR with its fixed message, never a 500 or a driver's text); `/ready` is
//! 503 during the outage and 200 after, without a restart; every failed step, sent again with
//! its idempotency key, settles exactly once (nothing lost, nothing doubled); and the
//! database-wide consistency check passes.

mod consistency;
mod load;
mod proxy;

pub(crate) use consistency::{check as consistency_check, stored as stored_position};
pub(crate) use load::{
    Api as LoadApi, CREATE, Chain, Reply, Settled, run_chain, seed, settle, tally, worker,
};

use super::support::{TestApp, TestStore};
use crate::support::postgres::fresh_store;
use escrowgrid::config::PoolConfig;
pub(crate) use proxy::{PgProxy, redirect};
use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WORKERS: usize = 6;
const BEFORE: Duration = Duration::from_millis(1500);
const OUTAGE: Duration = Duration::from_secs(3);
const AFTER: Duration = Duration::from_secs(2);

/// Polls `/ready` until it answers `want`; returns how long that took.
pub(crate) async fn ready_becomes(
    client: &reqwest::Client,
    address: &str,
    want: StatusCode,
) -> Duration {
    let started = Instant::now();
    loop {
        let status = client
            .get(format!("{address}/ready"))
            .send()
            .await
            .expect("the app answers /ready")
            .status();
        if status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "/ready stayed {status}, never {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_under_write_load_fails_cleanly_recovers_and_loses_nothing() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let probe = reqwest::Client::new();
    let (_, upstream) = redirect(&db.url, "127.0.0.1:1".parse().expect("an address")).await;
    let proxy = PgProxy::start(upstream).await;
    let (proxied, _) = redirect(&db.url, proxy.address()).await;

    let mut app = TestApp::new(TestStore::configured())
        .with_config(|settings| {
            settings.database_url = Some(proxied);
            settings.pool = PoolConfig {
                max_connections: Some(8),
                min_connections: None,
                acquire_timeout: Some(Duration::from_millis(1000)),
                statement_timeout: None,
            };
            settings.http.request_timeout = Duration::from_secs(4);
        })
        .spawn()
        .await;
    let address = app.address.clone();
    let root = app.root_key.clone();
    let api = seed(&address, &root).await;

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| tokio::spawn(worker(api.clone(), Arc::clone(&stop), false)))
        .collect();
    tokio::time::sleep(BEFORE).await;

    proxy.stop();
    let outage = Instant::now();
    let to_unready = ready_becomes(&probe, &address, StatusCode::SERVICE_UNAVAILABLE).await;
    tokio::time::sleep(OUTAGE.saturating_sub(outage.elapsed())).await;
    proxy.restart();
    let restarted = Instant::now();
    let to_ready = ready_becomes(&probe, &address, StatusCode::OK).await;
    tokio::time::sleep(AFTER).await;
    stop.store(true, Ordering::Relaxed);
    let mut chains: Vec<Chain> = Vec::new();
    for worker in workers {
        chains.extend(worker.await.expect("a worker finished"));
    }

    let seen = tally(&chains);
    let done_after = chains
        .iter()
        .flat_map(|chain| &chain.attempts)
        .filter(|attempt| matches!(attempt.reply, Reply::Done { at, .. } if at > restarted))
        .count();
    eprintln!(
        "outage: {} chains; replies: {} done ({done_after} after the restart), refused {:?}, \
         {} not sent, {} lost; /ready 503 after {to_unready:?}, 200 again {to_ready:?} after \
         the restart",
        chains.len(),
        seen.done,
        seen.refused,
        seen.not_sent,
        seen.lost.len(),
    );
    assert!(seen.dirty.is_empty(), "unclean answers: {:#?}", seen.dirty);
    assert!(
        seen.lost.is_empty() && seen.not_sent == 0,
        "the app itself must stay up: {:?}",
        seen.lost
    );
    assert!(
        !seen.refused.is_empty(),
        "the outage refused nothing: did it happen?"
    );
    assert!(done_after > 0, "no write succeeded after the restart");

    // A failed step may have committed anyway (the answer, not the write, was lost).
    let mut failed = 0;
    let mut committed_anyway = 0;
    for attempt in chains.iter().flat_map(|chain| &chain.attempts) {
        if !attempt.reply.is_done() {
            failed += 1;
            let key = attempt.input["idempotencyKey"].as_str().expect("a key");
            committed_anyway += usize::from(consistency::key_stored(&db.url, key).await);
        }
    }
    eprintln!("outage: {failed} failed steps, {committed_anyway} of them had committed anyway");

    // Every failed step, sent again with its own key, settles exactly once.
    let mut settled: Vec<Settled> = Vec::new();
    for chain in &mut chains {
        settled.push(settle(&api, chain).await);
    }
    let report = consistency_check(&db.url).await;
    eprintln!(
        "outage: consistency check over {} positions and {} events: {} violations",
        report.positions,
        report.events,
        report.violations.len()
    );
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(
        report.positions,
        chains.len(),
        "one position per chain: none lost, none doubled"
    );
    for expected in &settled {
        let stored = consistency::stored(&db.url, &expected.position).await;
        assert_eq!(
            stored,
            Some((expected.version, expected.state.to_owned())),
            "position {} after settling",
            expected.position
        );
    }

    let metrics = probe
        .get(format!("{address}/metrics"))
        .header("X-API-Key", &root)
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    let failures = metrics
        .lines()
        .find_map(|line| line.strip_prefix("escrowgrid_db_statement_failures_total "))
        .unwrap_or("missing");
    eprintln!("outage: escrowgrid_db_statement_failures_total {failures}");

    app.shutdown_cleanly().await;
}
