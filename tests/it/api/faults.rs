//! Subscriptions under load and faults, with two instances on one database (issue 11, item 5).
//!
//! Instance A runs in this process, instance B is a separate `escrowgrid serve` process; both
//! reach PostgreSQL through a proxy of the test's own (`outage::PgProxy`), so "PostgreSQL
//! restarts" for them without the shared server noticing, and each names itself with an
//! `application_name`, so its listener's connection can be found and terminated without
//! touching another test's sessions.
//!
//! 32 writers (half on each instance, over two institutions) run position chains with
//! idempotency keys; eight subscribers (four on each instance, each with another key or
//! filter) keep ending their subscriptions and resuming after the last cursor they received.
//! With `faults`, while the load runs: both listeners' connections are terminated with
//! `pg_terminate_backend`, PostgreSQL "restarts" (every connection cut, new ones refused for a
//! while), and B is killed with SIGKILL, its writers and subscribers moving to A. Every step
//! waits for what it did to show (the terminated session gone, `/ready`, each of B's
//! subscribers receiving through A), never on a sleep; sleeps only pace the load.
//!
//! Afterwards every failed write is sent again with its idempotency key, one last chain per
//! institution is written, and then: each subscriber received exactly the events of the log
//! that match its key and filter, each once, in log order (`txn`, `seq`), the order cursors
//! name; and every position's version is its event count and its ledger count (the outage
//! test's consistency check).
//!
//! The last test holds the listener to what `/metrics` says of it when its connection goes.

mod subscriber;

use super::outage::{
    Chain, LoadApi, PgProxy, consistency_check, ready_becomes, redirect, run_chain, seed, settle,
    stored_position, tally,
};
use super::process::ServerProcess;
use super::support::{Api, TestApp, TestStore, WAIT};
use super::ws_support::{Received, wait_for_metrics_gauge};
use crate::support::postgres::{fresh_store, with_application_name};
use escrowgrid::config::PoolConfig;
use reqwest::StatusCode;
use sea_orm::sqlx::{self, Connection as _, PgConnection, Row as _};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use subscriber::{Instance, Instances, Key, Progress, Report, Spec};
use tokio::sync::watch;

const WRITERS: usize = 32;
/// A bound on each writer's chains, whatever happens to the stop switch.
const MAX_CHAINS: usize = 400;
/// Load without faults.
const LOAD: Duration = Duration::from_secs(4);
/// Load between two faults.
const PACE: Duration = Duration::from_millis(1200);
/// How long PostgreSQL stays "down".
const OUTAGE: Duration = Duration::from_millis(1500);
/// Times the listener test cuts PostgreSQL off.
const CUTS: usize = 1;
/// How long a listener may take to say its connection is gone.
const NOTICE: Duration = Duration::from_secs(3);
/// How long the subscribers may take to catch up once the last event is written.
const CATCH_UP: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_32_writers_every_resuming_subscriber_sees_each_event_once_in_order() {
    scenario(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_a_postgres_restart_and_a_terminated_listener_lose_and_double_no_event() {
    scenario(true).await;
}

/// Waits (at most `limit`) until `check` says it holds; it also says what it saw. How long
/// that took, or what it saw last.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Result<Duration, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    let started = Instant::now();
    loop {
        let (holds, seen) = check().await;
        if holds {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= limit {
            return Err(seen);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`within`], or a panic naming `what`.
async fn until<F, Fut>(what: &str, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    match within(WAIT, check).await {
        Ok(took) => took,
        Err(seen) => panic!("{what}: not after {WAIT:?}; last seen: {seen}"),
    }
}

/// The listener's restart count and whether it is up, from `/metrics`.
async fn listener(api: &Api) -> (u64, u64) {
    (
        api.metric("escrowgrid_event_listener_starts_total").await,
        api.metric("escrowgrid_event_listener_up").await,
    )
}

/// Terminates the one session of this database that LISTENs under `application`; returns how
/// many it terminated. The CTE is materialized so `pg_terminate_backend` only ever sees the
/// rows the filter kept.
async fn terminate_listener(url: &str, application: &str) -> usize {
    let mut db = PgConnection::connect(url).await.expect("connects");
    let terminated: Vec<bool> = sqlx::query_scalar(
        r#"WITH listener AS MATERIALIZED (
             SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = $1
               AND query LIKE 'LISTEN "escrowgrid_position_events"%'
               AND pid <> pg_backend_pid())
           SELECT pg_terminate_backend(pid) FROM listener"#,
    )
    .bind(application)
    .fetch_all(&mut db)
    .await
    .expect("pg_stat_activity is readable");
    terminated.into_iter().filter(|done| *done).count()
}

/// The sessions of this database that LISTEN under `application`.
async fn listening(url: &str, application: &str) -> Vec<i32> {
    let mut db = PgConnection::connect(url).await.expect("connects");
    sqlx::query_scalar(
        r#"SELECT pid FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = $1
             AND query LIKE 'LISTEN "escrowgrid_position_events"%'"#,
    )
    .bind(application)
    .fetch_all(&mut db)
    .await
    .expect("pg_stat_activity is readable")
}

/// The institution an asset belongs to.
async fn institution_of(url: &str, asset: &str) -> String {
    let mut db = PgConnection::connect(url).await.expect("connects");
    sqlx::query_scalar("SELECT institution_id::text FROM assets WHERE id = $1::uuid")
        .bind(asset)
        .fetch_one(&mut db)
        .await
        .expect("the asset is stored")
}

/// One event of the log, with what filters look at.
struct Logged {
    key: Key,
    institution: String,
    asset: String,
    to_state: String,
}

/// The whole log in its order: (`txn`, `seq`), the order cursors name.
async fn the_log(url: &str) -> Vec<Logged> {
    let mut db = PgConnection::connect(url).await.expect("connects");
    sqlx::query(
        "SELECT position_id::text AS position, version::bigint AS version,
           institution_id::text AS institution, asset_id::text AS asset, to_state
         FROM position_events ORDER BY txn, seq",
    )
    .fetch_all(&mut db)
    .await
    .expect("the log is readable")
    .iter()
    .map(|row| Logged {
        key: (row.get("position"), row.get("version")),
        institution: row.get("institution"),
        asset: row.get("asset"),
        to_state: row.get("to_state"),
    })
    .collect()
}

/// Which events of the log a subscriber may see and asked for: its key's scope and its filter.
#[derive(Clone, Debug, Default)]
struct Wants {
    institution: Option<String>,
    asset: Option<String>,
    states: Option<&'static [&'static str]>,
}

impl Wants {
    fn matches(&self, event: &Logged) -> bool {
        self.institution
            .as_ref()
            .is_none_or(|id| *id == event.institution)
            && self.asset.as_ref().is_none_or(|id| *id == event.asset)
            && self
                .states
                .is_none_or(|states| states.contains(&event.to_state.as_str()))
    }
}

/// What is wrong with `got` against `want` (both in delivery / log order), briefly.
fn differences(got: &[Key], want: &[Key]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut counts: BTreeMap<&Key, usize> = BTreeMap::new();
    for key in got {
        *counts.entry(key).or_default() += 1;
    }
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    if !doubled.is_empty() {
        problems.push(format!(
            "{} events delivered more than once, e.g. {:?}",
            doubled.len(),
            &doubled[..doubled.len().min(3)]
        ));
    }
    let wanted: BTreeSet<&Key> = want.iter().collect();
    let missing: Vec<_> = want
        .iter()
        .filter(|key| !counts.contains_key(key))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{} events never delivered, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        ));
    }
    let foreign: Vec<_> = got.iter().filter(|key| !wanted.contains(key)).collect();
    if !foreign.is_empty() {
        problems.push(format!(
            "{} events delivered that do not match, e.g. {:?}",
            foreign.len(),
            &foreign[..foreign.len().min(3)]
        ));
    }
    if problems.is_empty()
        && let Some(at) = got.iter().zip(want).position(|(got, want)| got != want)
    {
        problems.push(format!(
            "out of log order from delivery {at}: got {:?}, the log has {:?}",
            &got[at..got.len().min(at + 3)],
            &want[at..want.len().min(at + 3)]
        ));
    }
    problems
}

/// Chains back to back until `stop`, on `home`, or on `survivor` once B is killed. A failed
/// chain stays as it is (it is settled later) and the next one starts after a short pause.
async fn writer(
    home: (Instance, LoadApi),
    survivor: LoadApi,
    instances: Arc<Instances>,
    stop: Arc<AtomicBool>,
) -> Vec<Chain> {
    let mut chains = Vec::new();
    while !stop.load(Ordering::SeqCst) && chains.len() < MAX_CHAINS {
        let on_b = home.0 == Instance::B && !instances.b_killed.load(Ordering::SeqCst);
        let api = if on_b { &home.1 } else { &survivor };
        let chain = run_chain(api).await;
        let failed = chain
            .attempts
            .iter()
            .any(|attempt| !attempt.reply.is_done());
        chains.push(chain);
        if failed {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    chains
}

/// The load with its subscribers, and with `faults` the faults; then every check.
async fn scenario(faults: bool) {
    let Some(db) = fresh_store().await else {
        return;
    };
    let label = if faults { "faults" } else { "load" };
    let started = Instant::now();
    let tag = &uuid::Uuid::now_v7().simple().to_string()[20..];
    let (name_a, name_b) = (format!("egfaults_a_{tag}"), format!("egfaults_b_{tag}"));
    let (_, upstream) = redirect(&db.url, "127.0.0.1:1".parse().expect("an address")).await;
    let proxy = PgProxy::start(upstream).await;
    let (proxied, _) = redirect(&db.url, proxy.address()).await;

    let mut a = TestApp::new(TestStore::configured())
        .with_config(|settings| {
            settings.database_url = Some(with_application_name(&proxied, &name_a));
            settings.pool = PoolConfig {
                max_connections: Some(10),
                min_connections: Some(2),
                acquire_timeout: Some(Duration::from_millis(1000)),
                statement_timeout: None,
            };
            settings.http.request_timeout = Duration::from_secs(4);
        })
        .spawn()
        .await;
    let root = a.root_key.clone();
    let b = ServerProcess::start(
        &with_application_name(&proxied, &name_b),
        &[
            // One root secret for both, as a deployment has.
            ("ROOT_API_KEY", root.as_str()),
            ("RATE_LIMIT_PER_SECOND", "0"),
            ("DB_MAX_CONNECTIONS", "10"),
            ("DB_MIN_CONNECTIONS", "2"),
            ("DB_ACQUIRE_TIMEOUT_MS", "1000"),
            ("REQUEST_TIMEOUT_MS", "4000"),
        ],
    )
    .await;
    let mut b = b;
    // B's log (JSON, warnings and worse), shown with the test's output.
    let mut b_log = std::mem::replace(&mut b.log, tokio::sync::mpsc::unbounded_channel().1);
    tokio::spawn(async move {
        while let Some(line) = b_log.recv().await {
            eprintln!("B: {line}");
        }
    });
    let http = reqwest::Client::new();
    let b_api = Api {
        address: b.address.clone(),
        root_key: root.clone(),
        client: http.clone(),
    };
    let instances = Arc::new(Instances {
        a: a.ws_url(),
        b: b.ws_url(),
        b_killed: AtomicBool::new(false),
    });

    // Two institutions, each with an ADMIN key and an asset; `on[instance][institution]`.
    let one = seed(&a.address, &root).await;
    let two = seed(&a.address, &root).await;
    let institutions = [
        institution_of(&db.url, &one.asset).await,
        institution_of(&db.url, &two.asset).await,
    ];
    let assets = [one.asset.clone(), two.asset.clone()];
    let keys = [one.key.clone(), two.key.clone()];
    let via_b = |api: &LoadApi| LoadApi {
        address: b.address.clone(),
        ..api.clone()
    };
    let on = [[one.clone(), two.clone()], [via_b(&one), via_b(&two)]];

    // Eight subscribers, four on each instance, each with another key or filter.
    let specs: Vec<(Spec, Wants)> = vec![
        (
            Spec {
                name: "A root, everything",
                home: Instance::A,
                key: root.clone(),
                filter: json!({}),
            },
            Wants::default(),
        ),
        (
            Spec {
                name: "A institution one's key",
                home: Instance::A,
                key: keys[0].clone(),
                filter: json!({}),
            },
            Wants {
                institution: Some(institutions[0].clone()),
                ..Wants::default()
            },
        ),
        (
            Spec {
                name: "A root, institution two FUNDED/RELEASED",
                home: Instance::A,
                key: root.clone(),
                filter: json!({"institutionId": institutions[1], "toStates": ["FUNDED", "RELEASED"]}),
            },
            Wants {
                institution: Some(institutions[1].clone()),
                states: Some(&["FUNDED", "RELEASED"]),
                ..Wants::default()
            },
        ),
        (
            Spec {
                name: "A institution two's key, its asset",
                home: Instance::A,
                key: keys[1].clone(),
                filter: json!({"assetId": assets[1]}),
            },
            Wants {
                institution: Some(institutions[1].clone()),
                asset: Some(assets[1].clone()),
                ..Wants::default()
            },
        ),
        (
            Spec {
                name: "B root, everything",
                home: Instance::B,
                key: root.clone(),
                filter: json!({}),
            },
            Wants::default(),
        ),
        (
            Spec {
                name: "B institution two's key",
                home: Instance::B,
                key: keys[1].clone(),
                filter: json!({}),
            },
            Wants {
                institution: Some(institutions[1].clone()),
                ..Wants::default()
            },
        ),
        (
            Spec {
                name: "B root, institution one's asset",
                home: Instance::B,
                key: root.clone(),
                filter: json!({"assetId": assets[0]}),
            },
            Wants {
                asset: Some(assets[0].clone()),
                ..Wants::default()
            },
        ),
        (
            Spec {
                name: "B institution one's key, CREATED/PARTIALLY_RELEASED",
                home: Instance::B,
                key: keys[0].clone(),
                filter: json!({"toStates": ["CREATED", "PARTIALLY_RELEASED"]}),
            },
            Wants {
                institution: Some(institutions[0].clone()),
                states: Some(&["CREATED", "PARTIALLY_RELEASED"]),
                ..Wants::default()
            },
        ),
    ];
    let quit = Arc::new(AtomicBool::new(false));
    let mut subscribers = Vec::new();
    for (spec, wants) in specs {
        let progress = Arc::new(Progress::default());
        let (goal, last) = watch::channel(None);
        let task = tokio::spawn(subscriber::run(
            spec.clone(),
            Arc::clone(&instances),
            Arc::clone(&progress),
            last,
            Arc::clone(&quit),
        ));
        subscribers.push((spec, wants, progress, goal, task));
    }
    // Every subscription is live (its start fixed) before the first write: all of the log is
    // then what each must see.
    a.wait_for_subscriptions(4).await;
    wait_for_metrics_gauge(&http, &b.address, &root, 4).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            let (instance, institution) = (n % 2, (n / 2) % 2);
            let home = if instance == 0 {
                Instance::A
            } else {
                Instance::B
            };
            let task = tokio::spawn(writer(
                (home, on[instance][institution].clone()),
                on[0][institution].clone(),
                Arc::clone(&instances),
                Arc::clone(&stop),
            ));
            (institution, task)
        })
        .collect();
    // Every subscriber has a cursor before anything breaks.
    let received = |home: Option<Instance>| {
        subscribers
            .iter()
            .filter(|(spec, ..)| home.is_none_or(|home| spec.home == home))
            .map(|(spec, _, progress, _, _)| {
                (
                    spec.name,
                    progress.received.load(Ordering::SeqCst),
                    progress.on_a_after_kill.load(Ordering::SeqCst),
                )
            })
            .collect::<Vec<_>>()
    };
    until("every subscriber receives an event", || {
        let now = received(None);
        let all = now.iter().all(|(_, received, _)| *received > 0);
        async move { (all, format!("{now:?}")) }
    })
    .await;
    let load_started = Instant::now();
    let at = || format!("{:.2?}", load_started.elapsed());

    let mut b = Some(b);
    let mut problems = Vec::new();
    if faults {
        // 1. Each listener's connection is terminated (the session is gone from
        // pg_stat_activity: the fault happened). Whether the listener then says so on /metrics
        // is the business of `a_listener_under_write_load_*` below; here the subscribers'
        // events must come through regardless.
        for (api, name, instance) in [(&*a as &Api, &name_a, "A"), (&b_api, &name_b, "B")] {
            let pids = listening(&db.url, name).await;
            assert_eq!(
                terminate_listener(&db.url, name).await,
                1,
                "{instance}'s listener: one session terminated"
            );
            let (url, pids) = (&db.url, &pids);
            until("the terminated session ends", || async move {
                let now = listening(url, name).await;
                (
                    !now.iter().any(|pid| pids.contains(pid)),
                    format!("{now:?}"),
                )
            })
            .await;
            let (starts, up) = listener(api).await;
            eprintln!(
                "{label} {}: {instance}'s listener connection {pids:?} terminated; its \
                 listener: {starts} starts, up {up}",
                at()
            );
        }
        tokio::time::sleep(PACE).await;

        // 2. PostgreSQL "restarts": every connection of both instances is cut, new ones are
        // refused, then accepted again.
        proxy.stop();
        eprintln!("{label} {}: PostgreSQL goes", at());
        for api in [&*a as &Api, &b_api] {
            ready_becomes(&http, &api.address, StatusCode::SERVICE_UNAVAILABLE).await;
        }
        eprintln!("{label} {}: neither instance is ready", at());
        tokio::time::sleep(OUTAGE).await;
        proxy.restart();
        eprintln!("{label} {}: PostgreSQL is back", at());
        for (api, instance) in [(&*a as &Api, "A"), (&b_api, "B")] {
            ready_becomes(&http, &api.address, StatusCode::OK).await;
            let (starts, up) = listener(api).await;
            eprintln!(
                "{label} {}: {instance} ready; its listener: {starts} starts, up {up}",
                at()
            );
        }
        tokio::time::sleep(PACE).await;

        // 3. kill -9 of B: its writers and subscribers move to A.
        instances.b_killed.store(true, Ordering::SeqCst);
        drop(b.take());
        eprintln!("{label} {}: B killed", at());
        let took = until("B's subscribers resume on A", || {
            let now = received(Some(Instance::B));
            let all = now.iter().all(|(_, _, on_a)| *on_a > 0);
            async move { (all, format!("{now:?}")) }
        })
        .await;
        eprintln!("{label} {}: B's subscribers on A after {took:?}", at());
        tokio::time::sleep(PACE).await;
    } else {
        tokio::time::sleep(LOAD).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut chains: Vec<(usize, Chain)> = Vec::new();
    for (institution, task) in writers {
        let done = task.await.expect("a writer finished");
        chains.extend(done.into_iter().map(|chain| (institution, chain)));
    }
    let load_time = load_started.elapsed();
    let replies = tally(chains.iter().map(|(_, chain)| chain));

    // Every failed step again with its own key, through A; then one last chain per
    // institution, the newest events of every subscriber's filter.
    let mut settled = Vec::new();
    for (institution, chain) in &mut chains {
        settled.push(settle(&on[0][*institution], chain).await);
    }
    for api in &on[0] {
        let last = run_chain(api).await;
        assert!(
            last.attempts.iter().all(|attempt| attempt.reply.is_done()) && last.attempts.len() == 4,
            "the last chain: {:?}",
            last.attempts
        );
    }

    let log = the_log(&db.url).await;
    let mut wanted = Vec::new();
    for (spec, wants, _, goal, _) in &subscribers {
        let keys: Vec<Key> = log
            .iter()
            .filter(|event| wants.matches(event))
            .map(|event| event.key.clone())
            .collect();
        let last = keys.last().cloned();
        assert!(last.is_some(), "{}: no event matches", spec.name);
        goal.send_replace(last);
        wanted.push(keys);
    }
    let caught_up = Instant::now();
    while caught_up.elapsed() < CATCH_UP
        && !subscribers.iter().all(|(_, _, progress, _, task)| {
            progress.finished.load(Ordering::SeqCst) || task.is_finished()
        })
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let catch_up_time = caught_up.elapsed();
    quit.store(true, Ordering::SeqCst);
    let mut reports: Vec<(Spec, Report)> = Vec::new();
    for (spec, _, _, _, task) in subscribers {
        reports.push((spec, task.await.expect("a subscriber finished")));
    }

    eprintln!(
        "{label}: {} chains by {WRITERS} writers in {load_time:?}; replies: {} done, refused \
         {:?}, {} not sent, {} lost, {} dirty; {} events in the log; subscribers caught up \
         {catch_up_time:?} after the last write",
        chains.len(),
        replies.done,
        replies.refused,
        replies.not_sent,
        replies.lost.len(),
        replies.dirty.len(),
        log.len(),
    );
    for ((spec, report), want) in reports.iter().zip(&wanted) {
        eprintln!(
            "{label}: {}: {} of {} events, {} subscriptions, {} resumed ({} on the same socket), \
             {} without a cursor; ended by the server or the network: {:?}",
            spec.name,
            report.events.len(),
            want.len(),
            report.sessions,
            report.resumed,
            report.same_socket,
            report.without_cursor,
            report.broken,
        );
        for problem in differences(&report.events, want) {
            problems.push(format!("{}: {problem}", spec.name));
        }
        if !report.finished {
            problems.push(format!(
                "{}: never received its last event within {CATCH_UP:?}",
                spec.name
            ));
        }
        if report.without_cursor > 0 {
            problems.push(format!("{}: resumed without a cursor", spec.name));
        }
        if report.resumed < 3 {
            problems.push(format!(
                "{}: resumed only {} times",
                spec.name, report.resumed
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        replies.dirty.is_empty(),
        "unclean answers: {:#?}",
        replies.dirty
    );

    let consistency = consistency_check(&db.url).await;
    assert!(
        consistency.violations.is_empty(),
        "{:#?}",
        consistency.violations
    );
    assert_eq!(
        consistency.positions,
        chains.len() + 2,
        "one position per chain and per last chain: none lost, none doubled"
    );
    assert_eq!(
        usize::try_from(consistency.events).expect("a count"),
        log.len()
    );
    for expected in &settled {
        let stored = stored_position(&db.url, &expected.position).await;
        assert_eq!(
            stored,
            Some((expected.version, expected.state.to_owned())),
            "position {} after settling",
            expected.position
        );
    }

    drop(b);
    a.shutdown().await;
    eprintln!("{label}: done in {:?}", started.elapsed());
}

/// What `escrowgrid_event_listener_up` and `_starts_total` promise (README, "Metrics"):
/// instance A reaches PostgreSQL through the proxy, instance W writes on the database
/// directly. When A's LISTEN connection is terminated, A must listen again where it shows
/// (`_starts_total` +1), and a key revoked through W afterwards must close its socket on A.
/// When every connection of A is cut while A holds back a notified event (so its listener
/// polls every 2 to 100 ms rather than every two seconds), `_up` must drop to 0, and once
/// PostgreSQL is back A must listen again, visibly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_says_when_its_connection_is_cut_and_listens_again_even_while_holding_back_an_event()
 {
    let Some(db) = fresh_store().await else {
        return;
    };
    let name = format!(
        "eglistener_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let (_, upstream) = redirect(&db.url, "127.0.0.1:1".parse().expect("an address")).await;
    let proxy = PgProxy::start(upstream).await;
    let (proxied, _) = redirect(&db.url, proxy.address()).await;
    let a = TestApp::new(TestStore::configured())
        .with_config(|settings| {
            settings.database_url = Some(with_application_name(&proxied, &name));
            settings.pool = PoolConfig {
                max_connections: Some(4),
                min_connections: Some(1),
                acquire_timeout: Some(Duration::from_millis(1000)),
                statement_timeout: None,
            };
        })
        .spawn()
        .await;
    let w = TestApp::new(TestStore::shared(Arc::clone(&db.store)))
        .spawn()
        .await;
    let load = seed(&w.address, &w.root_key).await;
    let institution = institution_of(&db.url, &load.asset).await;
    let url = &db.url;
    let mut problems = Vec::new();
    // 1. The LISTEN connection is terminated.
    let (probe_key, probe_key_id) = w.create_key(&institution, "READ_ONLY").await;
    let mut probe = a.connect_with_key(&probe_key).await;
    let (before, _) = listener(&a).await;
    assert_eq!(terminate_listener(&db.url, &name).await, 1, "one session");
    let (api, name) = (&*a as &Api, &name);
    let back = within(WAIT, || async move {
        let (starts, up) = listener(api).await;
        let now = listening(url, name).await;
        (
            starts > before && up == 1,
            format!(
                "_starts_total {before} before, {starts} now, _up {up}; sessions whose last \
                 statement is LISTEN: {now:?}"
            ),
        )
    })
    .await;
    match back {
        Ok(took) => eprintln!("listener: terminated, listening again after {took:?}"),
        Err(seen) => problems.push(format!(
            "its LISTEN connection terminated, the listener has not visibly listened again \
             {WAIT:?} later: {seen}"
        )),
    }
    w.revoke_key(&probe_key_id).await;
    match probe.receive(WAIT).await {
        Received::Closed(Some(4403)) => eprintln!("listener: the revoked key's socket closed"),
        other => problems.push(format!(
            "a key revoked through W after A's LISTEN connection was terminated: its socket on \
             A got {other:?} within {WAIT:?}, not a 4403 close"
        )),
    }

    // 2. Every connection is cut, new ones refused; then PostgreSQL is back. Each time (CUTS)
    // while A holds back a notified event: a session of the test's own opens a writing
    // transaction, an event commits through W after it, and the cut comes once A shows the
    // event held back. The transaction ends right after the cut, so other tests' events wait
    // on it for milliseconds only.
    let w_api = w.api();
    for cut in 1..=CUTS {
        let (probe_key, probe_key_id) = w.create_key(&institution, "READ_ONLY").await;
        let mut probe = a.connect_with_key(&probe_key).await;
        let mut older = PgConnection::connect(&db.url).await.expect("connects");
        sqlx::raw_sql("BEGIN; SELECT pg_current_xact_id()")
            .execute(&mut older)
            .await
            .expect("a writing transaction");
        w_api.create_position(&load.key, &load.asset).await;
        until("A holds back an event", || async move {
            let held = api.metric("escrowgrid_event_log_held_back").await;
            (held == 1, format!("escrowgrid_event_log_held_back {held}"))
        })
        .await;
        let (before, _) = listener(&a).await;
        proxy.stop();
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut older)
            .await
            .expect("rolled back");
        let down = within(NOTICE, || async move {
            let (starts, up) = listener(api).await;
            (up == 0, format!("_starts_total {starts}, _up {up}"))
        })
        .await;
        match down {
            Ok(took) => eprintln!("listener: cut {cut}, down after {took:?}"),
            Err(seen) => problems.push(format!(
                "cut {cut}: every connection cut and new ones refused, the listener still says \
                 it is up {NOTICE:?} later: {seen}"
            )),
        }
        // Committed while A cannot hear it: A must re-check its keys once it listens again.
        w.revoke_key(&probe_key_id).await;
        proxy.restart();
        let back = within(WAIT, || async move {
            let (starts, up) = listener(api).await;
            (
                starts > before && up == 1,
                format!("_starts_total {before} before, {starts} now, _up {up}"),
            )
        })
        .await;
        match back {
            Ok(took) => eprintln!("listener: cut {cut}, listening again after {took:?}"),
            Err(seen) => problems.push(format!(
                "cut {cut}: PostgreSQL back, the listener has not visibly listened again \
                 {WAIT:?} later: {seen}"
            )),
        }
        match probe.receive(WAIT).await {
            Received::Closed(Some(4403)) => {
                eprintln!("listener: cut {cut}, the key revoked meanwhile: its socket closed");
            }
            other => problems.push(format!(
                "cut {cut}: a key revoked through W while A was cut off: its socket on A got \
                 {other:?} within {WAIT:?} of PostgreSQL's return, not a 4403 close"
            )),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
