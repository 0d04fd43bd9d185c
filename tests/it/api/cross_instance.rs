//! Two servers sharing one PostgreSQL database, each with its own `PgStore` (its own pool and
//! LISTEN connection): events and key revocations committed through one reach the sockets of
//! the other, and a resume on one replays what the other wrote. One case runs the second
//! server as a separate `escrowgrid` process.

use super::fixtures::{Tenant, seed_tenant};
use super::outage::{PgProxy, redirect};
use super::process::ServerProcess;
use super::support::{Api, TestApp, TestStore};
use super::ws_support::{
    Dialect, Received, WAIT, WsClient, event_of, key_of, string, wait_for_metrics_gauge,
};
use crate::support::postgres::fresh_store;
use escrowgrid::adapters::seaorm::{PgStore, PoolSettings};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Instance one owns the test database (dropped with it); instance two has its own store on
/// the same URL. `None` when PostgreSQL is unreachable and `CI` is unset.
async fn two_instances() -> Option<(TestApp, TestApp)> {
    two_instances_with(PoolSettings {
        max_connections: 5,
        min_connections: 0,
        ..PoolSettings::default()
    })
    .await
}

async fn two_instances_with(second_pool: PoolSettings) -> Option<(TestApp, TestApp)> {
    let db = fresh_store().await?;
    let url = db.url.clone();
    let second = PgStore::connect(&url, second_pool)
        .await
        .expect("a second store on the same database");
    let one = TestApp::new(TestStore::from(db)).spawn().await;
    let two = TestApp::new(TestStore::pg(second)).spawn().await;
    Some((one, two))
}

async fn seed(api: &Api) -> Tenant {
    seed_tenant(api, "Acme Bank").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_through_one_instance_reaches_subscribers_on_both() {
    let Some((one, two)) = two_instances().await else {
        return;
    };
    let writer = two.api();
    let tenant = seed(&writer).await;
    let mut remote = one.connect_with_key(&tenant.admin_key).await;
    remote
        .subscribe_events("1", json!({"assetId": tenant.asset_id}), None)
        .await;
    let mut local = two.connect_with_key(&tenant.admin_key).await;
    local
        .subscribe_events("1", json!({"assetId": tenant.asset_id}), None)
        .await;
    one.wait_for_subscriptions(1).await;
    two.wait_for_subscriptions(1).await;

    let p = writer
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    writer
        .transition(&tenant.admin_key, &p, "FUNDED", None)
        .await;
    let expected = vec![(p.clone(), 1), (p.clone(), 2)];
    let on_one: Vec<_> = remote
        .events(2)
        .await
        .iter()
        .map(|(_, e)| key_of(e))
        .collect();
    assert_eq!(on_one, expected);
    let on_two: Vec<_> = local
        .events(2)
        .await
        .iter()
        .map(|(_, e)| key_of(e))
        .collect();
    assert_eq!(on_two, expected);
    let marker = writer
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    remote.expect_exactly(&[("1", (marker.clone(), 1))]).await;
    local.expect_exactly(&[("1", (marker, 1))]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_key_on_one_instance_closes_its_socket_on_the_other() {
    let Some((one, two)) = two_instances().await else {
        return;
    };
    let api_two = two.api();
    let tenant = seed(&api_two).await;
    let mut ws = one.connect_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", json!({}), None).await;
    one.wait_for_subscriptions(1).await;

    api_two.revoke_key(&tenant.admin_key_id).await;
    ws.expect_close(4403).await;
    one.wait_for_subscriptions(0).await;
    // Dead on instance one's HTTP side as well.
    let (status, body) = one
        .gql("{ viewer { role } }", json!({}), Some(&tenant.admin_key))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// Instance one would trust the key for an hour: only the revocation's notification, heard
/// through its own LISTEN connection, can make it refuse the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_cached_on_one_instance_is_refused_there_once_the_other_revokes_it() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let second = PgStore::connect(&db.url, PoolSettings::default())
        .await
        .expect("a second store on the same database");
    let one = TestApp::new(TestStore::from(db))
        .with_config(|settings| settings.key_cache.ttl = Duration::from_secs(3600))
        .spawn()
        .await;
    let two = TestApp::new(TestStore::pg(second)).spawn().await;
    let tenant = seed(&two.api()).await;
    let viewer = |app: &TestApp| {
        let key = tenant.admin_key.clone();
        let api = app.api();
        async move { api.gql("{ viewer { role } }", json!({}), Some(&key)).await }
    };
    let (status, body) = viewer(&one).await;
    assert_eq!(status, StatusCode::OK, "cached on one now: {body}");

    two.api().revoke_key(&tenant.admin_key_id).await;
    let revoked = Instant::now();
    let deadline = revoked + WAIT;
    loop {
        let (status, body) = viewer(&one).await;
        if status == StatusCode::UNAUTHORIZED {
            eprintln!(
                "instance one refused the key {:?} after the revocation",
                revoked.elapsed()
            );
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            Instant::now() < deadline,
            "instance one still accepts the key {WAIT:?} after the revocation"
        );
        tokio::task::yield_now().await;
    }
}

/// Waits until `/metrics` on `app` shows `want` for `name`.
async fn metric_becomes(app: &TestApp, name: &str, want: u64) {
    let started = Instant::now();
    loop {
        let now = app.metric(name).await;
        if now == want {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "{name} stayed {now}, never {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Instance one reaches PostgreSQL through a proxy the test cuts: a revocation committed
/// through instance two while one's listener is down is never heard as a notification. Once
/// one listens again it must still close the key's socket and refuse the key it had cached
/// for an hour, because every reconnect makes key holders re-read the key's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_committed_while_the_listener_was_cut_off_still_closes_the_keys_socket() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let (_, upstream) = redirect(&db.url, "127.0.0.1:1".parse().expect("an address")).await;
    let proxy = PgProxy::start(upstream).await;
    let (proxied, _) = redirect(&db.url, proxy.address()).await;
    let cut_off = PgStore::connect(
        &proxied,
        PoolSettings {
            max_connections: 4,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(2),
            ..PoolSettings::default()
        },
    )
    .await
    .expect("a store through the proxy");
    let one = TestApp::new(TestStore::pg_with_metrics(cut_off))
        .with_config(|settings| settings.key_cache.ttl = Duration::from_secs(3600))
        .spawn()
        .await;
    let two = TestApp::new(TestStore::from(db)).spawn().await;
    let tenant = seed(&two.api()).await;
    let viewer = || one.gql("{ viewer { role } }", json!({}), Some(&tenant.admin_key));
    let (status, body) = viewer().await;
    assert_eq!(status, StatusCode::OK, "cached on one now: {body}");
    let mut ws = one.connect_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", json!({}), None).await;
    one.wait_for_subscriptions(1).await;
    metric_becomes(&one, "escrowgrid_event_listener_up", 1).await;
    let starts = one.metric("escrowgrid_event_listener_starts_total").await;

    proxy.stop();
    metric_becomes(&one, "escrowgrid_event_listener_up", 0).await;
    two.api().revoke_key(&tenant.admin_key_id).await;
    proxy.restart();

    ws.expect_close(4403).await;
    one.wait_for_subscriptions(0).await;
    assert!(
        one.metric("escrowgrid_event_listener_starts_total").await > starts,
        "the listener reconnected"
    );
    let (status, body) = viewer().await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the cached key was re-read: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_one_instance_replays_events_written_through_the_other() {
    let Some((one, two)) = two_instances().await else {
        return;
    };
    let writer = two.api();
    let tenant = seed(&writer).await;
    let filter = json!({"assetId": tenant.asset_id});
    let mut ws = one.connect_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", filter.clone(), None).await;
    one.wait_for_subscriptions(1).await;
    let p = writer
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    let created = ws.next_event("1").await;
    assert_eq!(key_of(&created), (p.clone(), 1));
    let cursor = string(&created["cursor"]);
    drop(ws);
    one.wait_for_subscriptions(0).await;

    writer
        .transition(&tenant.admin_key, &p, "FUNDED", None)
        .await;
    let q = writer
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    writer
        .transition(&tenant.admin_key, &p, "PARTIALLY_RELEASED", Some("5"))
        .await;

    let mut ws = one.connect_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", filter, Some(&cursor)).await;
    let replayed: Vec<_> = ws.events(3).await.iter().map(|(_, e)| key_of(e)).collect();
    assert_eq!(
        replayed,
        vec![(p.clone(), 2), (q.clone(), 1), (p.clone(), 3)]
    );
    one.wait_for_subscriptions(1).await;
    writer
        .transition(&tenant.admin_key, &q, "CANCELLED", None)
        .await;
    assert_eq!(key_of(&ws.next_event("1").await), (q, 2));
    let marker = writer
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    ws.expect_exactly(&[("1", (marker, 1))]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_on_both_instances_reach_both_in_the_same_commit_order() {
    const WRITERS: usize = 10;
    let Some((one, two)) = two_instances().await else {
        return;
    };
    let api_one = one.api();
    let api_two = two.api();
    let tenant = seed(&api_one).await;
    let filter = json!({"assetId": tenant.asset_id});
    let mut on_one = one.connect_with_key(&tenant.admin_key).await;
    on_one.subscribe_events("1", filter.clone(), None).await;
    let mut on_two = two.connect_with_key(&tenant.admin_key).await;
    on_two.subscribe_events("1", filter, None).await;
    one.wait_for_subscriptions(1).await;
    two.wait_for_subscriptions(1).await;

    let mut writers = Vec::new();
    for n in 0..WRITERS {
        let api = if n % 2 == 0 {
            api_one.clone()
        } else {
            api_two.clone()
        };
        let key = tenant.admin_key.clone();
        let asset = tenant.asset_id.clone();
        writers.push(tokio::spawn(async move {
            let p = api.create_position(&key, &asset).await;
            api.transition(&key, &p, "FUNDED", None).await;
            api.transition(&key, &p, "PARTIALLY_RELEASED", Some("1"))
                .await;
            api.transition(&key, &p, "RELEASED", None).await;
            p
        }));
    }
    let mut durable = BTreeSet::new();
    for writer in writers {
        let p = writer.await.expect("a writer finished");
        for version in 1..=4 {
            durable.insert((p.clone(), version));
        }
    }
    let total = WRITERS * 4;
    let seen_one: Vec<_> = on_one
        .events(total)
        .await
        .iter()
        .map(|(_, e)| key_of(e))
        .collect();
    let seen_two: Vec<_> = on_two
        .events(total)
        .await
        .iter()
        .map(|(_, e)| key_of(e))
        .collect();
    for seen in [&seen_one, &seen_two] {
        let unique: BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "a duplicate");
        assert_eq!(unique, durable, "a gap");
    }
    assert_eq!(
        seen_one, seen_two,
        "both instances deliver in seq (commit) order"
    );
    let marker = api_one
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    on_one.expect_exactly(&[("1", (marker.clone(), 1))]).await;
    on_two.expect_exactly(&[("1", (marker, 1))]).await;
}

/// The subscription gauge is documented as the hook that says a subscription is live: a test
/// (or operator) that waits for it and then writes must hear the write. Here instance one
/// cannot get a database connection when the subscription starts, so its start point
/// (`latest_event_seq`) is read late; a write committed once the gauge counts the subscription
/// must still be delivered.
///
/// The set-up blocks for real: the test checks out every idle connection of instance one's
/// pool and points the pool's new connections at a gate it controls, so the start-point read
/// has to open a connection, and the gate accepting it is the observable sign that the read is
/// parked. (An earlier version parked transitions on a row lock instead; it never blocked: the
/// event listener holds one of a two-connection pool, so the second transition waited in the
/// pool rather than on the lock, and its `pg_stat_activity` probe ran inside the lock's open
/// transaction, where PostgreSQL keeps serving the first snapshot of that view.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_committed_after_the_gauge_counts_the_subscription_is_delivered() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let url = db.url.clone();
    let small = PgStore::connect(
        &url,
        PoolSettings {
            max_connections: 8,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(60),
            ..PoolSettings::default()
        },
    )
    .await
    .expect("a second store on the same database");
    let pool = small.connection().get_postgres_connection_pool().clone();
    let one = TestApp::new(TestStore::pg(small)).spawn().await;
    let two = TestApp::new(TestStore::from(db)).spawn().await;
    let writer = two.api();
    let tenant = seed(&writer).await;
    let watched = writer
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    let mut ws = one.connect_with_key(&tenant.admin_key).await;

    // From here instance one's new connections go to the gate, and none is idle.
    let gate = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("the gate listens");
    let gate_port = gate.local_addr().expect("an address").port();
    let options = pool.connect_options();
    let postgres = format!("{}:{}", options.get_host(), options.get_port());
    pool.set_connect_options((*options).clone().host("127.0.0.1").port(gate_port));
    // Keep every idle connection checked out until the gate opens, so the start-point read
    // must open a new one: a connection handed back meanwhile (by the listener's catch-up
    // after the seeding, say) is taken again within a millisecond.
    let (stop_draining, mut draining) = tokio::sync::oneshot::channel::<()>();
    let drainer = tokio::spawn({
        let pool = pool.clone();
        async move {
            let mut held = Vec::new();
            loop {
                while let Some(connection) = pool.try_acquire() {
                    held.push(connection);
                }
                tokio::select! {
                    _ = &mut draining => return held,
                    () = tokio::time::sleep(Duration::from_millis(1)) => {}
                }
            }
        }
    });
    let started = Instant::now();
    while pool.num_idle() > 0 {
        assert!(
            started.elapsed() < WAIT,
            "the drainer never took the idle connections"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (arrived, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let accepting = tokio::spawn(async move {
        while let Ok((client, _)) = gate.accept().await {
            if arrived.send(client).is_err() {
                return;
            }
        }
    });

    ws.subscribe_events("1", json!({"positionId": watched}), None)
        .await;
    let parked = tokio::time::timeout(WAIT, async {
        tokio::select! {
            client = arrivals.recv() => client,
            () = one.wait_for_subscriptions(1) => None,
        }
    })
    .await
    .expect("the subscription either starts or asks for a connection");
    let counted_while_parked = one.gauge.current() == 1;
    if counted_while_parked {
        // The gauge says live: commit a matching event through the other instance now, while
        // the start-point read may still be waiting at the gate.
        writer
            .transition(&tenant.admin_key, &watched, "FUNDED", None)
            .await;
    }
    // Open the gate: this connection and every later one reach PostgreSQL.
    let forwarding = tokio::spawn(async move {
        let mut pipes = Vec::new();
        let mut next = parked;
        loop {
            let client = match next.take() {
                Some(client) => client,
                None => match arrivals.recv().await {
                    Some(client) => client,
                    None => break,
                },
            };
            let postgres = postgres.clone();
            pipes.push(tokio::spawn(async move {
                let mut client = client;
                if let Ok(mut server) = tokio::net::TcpStream::connect(postgres.as_str()).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            }));
        }
        for pipe in pipes {
            pipe.abort();
        }
    });
    if !counted_while_parked {
        one.wait_for_subscriptions(1).await;
        writer
            .transition(&tenant.admin_key, &watched, "FUNDED", None)
            .await;
    }
    match ws.receive(WAIT).await {
        Received::Json(message) => {
            let event = event_of(&message, Dialect::TransportWs, "1");
            assert_eq!(key_of(&event), (watched, 2));
        }
        other => panic!(
            "the event committed after the gauge counted the subscription was never delivered \
             ({other:?}): the gauge rises before the live start point is fixed"
        ),
    }
    let _ = stop_draining.send(());
    drop(drainer.await);
    accepting.abort();
    forwarding.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_escrowgrid_process_delivers_events_and_revocations_from_this_one() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let url = db.url.clone();
    let in_process = TestApp::new(TestStore::shared(Arc::clone(&db.store)))
        .spawn()
        .await;
    let mut process = ServerProcess::start(&url, &[]).await;
    let api = in_process.api();
    let tenant = seed(&api).await;
    let (second_key, _) = api.create_key(&tenant.institution_id, "READ_ONLY").await;

    let mut ws = WsClient::connect(&process.ws_url(), Dialect::TransportWs).await;
    ws.init_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", json!({"assetId": tenant.asset_id}), None)
        .await;
    let mut other = WsClient::connect(&process.ws_url(), Dialect::TransportWs).await;
    other.init_with_key(&second_key).await;
    other.subscribe_events("1", json!({}), None).await;
    let http = reqwest::Client::new();
    wait_for_metrics_gauge(&http, &process.address, &process.root_key, 2).await;

    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    api.transition(&tenant.admin_key, &p, "FUNDED", None).await;
    let got: Vec<_> = ws.events(2).await.iter().map(|(_, e)| key_of(e)).collect();
    assert_eq!(got, vec![(p.clone(), 1), (p.clone(), 2)]);
    let got: Vec<_> = other
        .events(2)
        .await
        .iter()
        .map(|(_, e)| key_of(e))
        .collect();
    assert_eq!(got, vec![(p.clone(), 1), (p, 2)]);

    api.revoke_key(&tenant.admin_key_id).await;
    ws.expect_close(4403).await;
    wait_for_metrics_gauge(&http, &process.address, &process.root_key, 1).await;

    // SIGTERM: the remaining socket closes with 1001 and the process exits cleanly.
    process.terminate();
    other.expect_close(1001).await;
    let status = process.exit_within(WAIT).await;
    assert!(status.success(), "exit status {status:?}");
}
