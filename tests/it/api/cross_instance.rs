//! Two servers sharing one PostgreSQL database, each with its own `PgStore` (its own pool and
//! LISTEN connection): events and key revocations committed through one reach the sockets of
//! the other, and a resume on one replays what the other wrote. One case runs the second
//! server as a separate `escrowgrid` process.

use super::ws_support::{
    Api, Dialect, Received, Tenant, WAIT, WsApp, WsClient, event_of, key_of, spawn_app_on_store,
    string, wait_for_metrics_gauge,
};
use crate::support::postgres::fresh_store;
use escrowgrid::adapters::seaorm::{PgStore, PoolSettings};
use escrowgrid::service::ApiKeyToken;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::BufRead as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Instance one owns the test database (dropped with it); instance two has its own store on
/// the same URL. `None` when PostgreSQL is unreachable and `CI` is unset.
async fn two_instances() -> Option<(WsApp, WsApp)> {
    two_instances_with(PoolSettings {
        max_connections: 5,
        min_connections: 0,
        ..PoolSettings::default()
    })
    .await
}

async fn two_instances_with(second_pool: PoolSettings) -> Option<(WsApp, WsApp)> {
    let db = fresh_store().await?;
    let url = db.url.clone();
    let second = PgStore::connect(&url, second_pool)
        .await
        .expect("a second store on the same database");
    let first_store = Arc::clone(&db.store);
    let one = spawn_app_on_store(first_store, Some(db), |_| {}).await;
    let two = spawn_app_on_store(Arc::new(second), None, |_| {}).await;
    Some((one, two))
}

async fn seed(api: &Api, root_key: &str) -> Tenant {
    api.seed_tenant(root_key, "Acme Bank").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_through_one_instance_reaches_subscribers_on_both() {
    let Some((one, two)) = two_instances().await else {
        return;
    };
    let writer = Api::of(&two);
    let tenant = seed(&writer, &two.root_key).await;
    let mut remote = one.connect_with_key(&tenant.key).await;
    remote
        .subscribe_events("1", json!({"assetId": tenant.asset_id}), None)
        .await;
    let mut local = two.connect_with_key(&tenant.key).await;
    local
        .subscribe_events("1", json!({"assetId": tenant.asset_id}), None)
        .await;
    one.wait_for_subscriptions(1).await;
    two.wait_for_subscriptions(1).await;

    let started = Instant::now();
    let p = writer.create_position(&tenant.key, &tenant.asset_id).await;
    writer.transition(&tenant.key, &p, "FUNDED", None).await;
    let expected = vec![(p.clone(), 1), (p.clone(), 2)];
    let on_one: Vec<_> = remote
        .events(2)
        .await
        .iter()
        .map(|(_, e)| key_of(e))
        .collect();
    let took = started.elapsed();
    assert_eq!(on_one, expected);
    // LISTEN/NOTIFY, not the 2 s safety poll.
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let on_two: Vec<_> = local
        .events(2)
        .await
        .iter()
        .map(|(_, e)| key_of(e))
        .collect();
    assert_eq!(on_two, expected);
    remote.expect_silence().await;
    local.expect_silence().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_key_on_one_instance_closes_its_socket_on_the_other() {
    let Some((one, two)) = two_instances().await else {
        return;
    };
    let api_two = Api::of(&two);
    let tenant = seed(&api_two, &two.root_key).await;
    let mut ws = one.connect_with_key(&tenant.key).await;
    ws.subscribe_events("1", json!({}), None).await;
    one.wait_for_subscriptions(1).await;

    api_two.revoke_key(&two.root_key, &tenant.key_id).await;
    let revoked = Instant::now();
    ws.expect_close(4403).await;
    let took = revoked.elapsed();
    assert!(took < Duration::from_secs(2), "closed only after {took:?}");
    one.wait_for_subscriptions(0).await;
    // Dead on instance one's HTTP side as well.
    let (status, body) = one
        .gql("{ viewer { role } }", json!({}), Some(&tenant.key))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_one_instance_replays_events_written_through_the_other() {
    let Some((one, two)) = two_instances().await else {
        return;
    };
    let writer = Api::of(&two);
    let tenant = seed(&writer, &two.root_key).await;
    let filter = json!({"assetId": tenant.asset_id});
    let mut ws = one.connect_with_key(&tenant.key).await;
    ws.subscribe_events("1", filter.clone(), None).await;
    one.wait_for_subscriptions(1).await;
    let p = writer.create_position(&tenant.key, &tenant.asset_id).await;
    let created = ws.next_event("1").await;
    assert_eq!(key_of(&created), (p.clone(), 1));
    let cursor = string(&created["cursor"]);
    drop(ws);
    one.wait_for_subscriptions(0).await;

    writer.transition(&tenant.key, &p, "FUNDED", None).await;
    let q = writer.create_position(&tenant.key, &tenant.asset_id).await;
    writer
        .transition(&tenant.key, &p, "PARTIALLY_RELEASED", Some("5"))
        .await;

    let mut ws = one.connect_with_key(&tenant.key).await;
    ws.subscribe_events("1", filter, Some(&cursor)).await;
    let replayed: Vec<_> = ws.events(3).await.iter().map(|(_, e)| key_of(e)).collect();
    assert_eq!(
        replayed,
        vec![(p.clone(), 2), (q.clone(), 1), (p.clone(), 3)]
    );
    one.wait_for_subscriptions(1).await;
    writer.transition(&tenant.key, &q, "CANCELLED", None).await;
    assert_eq!(key_of(&ws.next_event("1").await), (q, 2));
    ws.expect_silence().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_on_both_instances_reach_both_in_the_same_commit_order() {
    const WRITERS: usize = 10;
    let Some((one, two)) = two_instances().await else {
        return;
    };
    let api_one = Api::of(&one);
    let api_two = Api::of(&two);
    let tenant = seed(&api_one, &one.root_key).await;
    let filter = json!({"assetId": tenant.asset_id});
    let mut on_one = one.connect_with_key(&tenant.key).await;
    on_one.subscribe_events("1", filter.clone(), None).await;
    let mut on_two = two.connect_with_key(&tenant.key).await;
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
        let key = tenant.key.clone();
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
    on_one.expect_silence().await;
    on_two.expect_silence().await;
}

/// The subscription gauge is documented as the hook that says a subscription is live: a test
/// (or operator) that waits for it and then writes must hear the write. Here instance one's
/// pool is busy when the subscription starts, so its start point (`latest_event_seq`) is read
/// late, after a write that committed once the gauge already counted the subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "open: its set-up fails (the two row-locked transitions answer INTERNAL_SERVER_ERROR \
            instead of blocking on a two-connection pool); the gauge fix it targets is in \
            subscription.rs — run with --ignored while investigating"]
async fn a_write_committed_after_the_gauge_counts_the_subscription_is_delivered() {
    use sea_orm::sqlx::{Connection as _, Executor as _, PgConnection};

    let Some(db) = fresh_store().await else {
        return;
    };
    let url = db.url.clone();
    // Instance one: a pool of two connections, so two blocked requests exhaust it.
    let small = PgStore::connect(
        &url,
        PoolSettings {
            max_connections: 2,
            min_connections: 0,
            ..PoolSettings::default()
        },
    )
    .await
    .expect("a store with a small pool");
    let one = spawn_app_on_store(Arc::new(small), None, |_| {}).await;
    let two = spawn_app_on_store(Arc::clone(&db.store), None, |_| {}).await;
    let writer = Api::of(&two);
    let tenant = seed(&writer, &two.root_key).await;
    let blocker = writer.create_position(&tenant.key, &tenant.asset_id).await;
    let watched = writer.create_position(&tenant.key, &tenant.asset_id).await;
    let mut ws = one.connect_with_key(&tenant.key).await;

    // Hold the blocker's row, then send instance one two transitions of it: each waits on the
    // row lock inside a transaction, holding one of the pool's two connections.
    let mut lock = PgConnection::connect(&url).await.expect("a raw connection");
    lock.execute("BEGIN").await.expect("begin");
    sea_orm::sqlx::query("SELECT 1 FROM positions WHERE id = $1::uuid FOR UPDATE")
        .bind(&blocker)
        .execute(&mut lock)
        .await
        .expect("row lock");
    let api_one = Api::of(&one);
    let mut stuck = Vec::new();
    for _ in 0..2 {
        let api = api_one.clone();
        let key = tenant.key.clone();
        let blocker = blocker.clone();
        stuck.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(15),
                api.client
                    .post(format!("{}/graphql", api.address))
                    .header("X-API-Key", key)
                    .json(&json!({
                        "query": "mutation($p: ID!) { transitionPosition(input: {positionId: $p, toState: FUNDED}) { version } }",
                        "variables": {"p": blocker}
                    }))
                    .send(),
            )
            .await;
        }));
    }
    let started = Instant::now();
    loop {
        let waiting: i64 = sea_orm::sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut lock)
        .await
        .expect("pg_stat_activity");
        if waiting >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the two transitions never blocked on the row lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    ws.subscribe_events("1", json!({"positionId": watched}), None)
        .await;
    one.wait_for_subscriptions(1).await;
    // The gauge says live: commit a matching event through the other instance.
    writer
        .transition(&tenant.key, &watched, "FUNDED", None)
        .await;
    lock.execute("ROLLBACK").await.expect("rollback");
    for task in stuck {
        let _ = task.await;
    }
    let got = ws.receive(Duration::from_secs(2)).await;
    match got {
        Received::Json(message) => {
            let event = event_of(&message, Dialect::TransportWs, "1");
            assert_eq!(key_of(&event), (watched, 2));
        }
        other => panic!(
            "the event committed after the gauge counted the subscription was never delivered \
             ({other:?}): the gauge rises before the live start point is fixed"
        ),
    }
}

/// A separate `escrowgrid serve` process on the test database, killed when dropped.
struct Process {
    child: std::process::Child,
    address: String,
    root_key: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    async fn start(database_url: &str) -> Self {
        let root_key = ApiKeyToken::generate().expose().to_owned();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_escrowgrid"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("PORT", "0")
            .env("BIND", "127.0.0.1")
            .env("ROOT_API_KEY", &root_key)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .env_remove("CORS_ALLOW_ORIGINS")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the escrowgrid binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (first_line, line) = tokio::sync::oneshot::channel();
        // Keeps draining stdout, so the server's later prints never hit a closed pipe.
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = first_line.send(first);
            for _ in lines {}
        });
        let line = tokio::time::timeout(Duration::from_secs(20), line)
            .await
            .expect("the server prints its address")
            .expect("the reader thread answers")
            .expect("a first line");
        let address = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Self {
            child,
            address,
            root_key,
        }
    }

    fn ws_url(&self) -> String {
        format!(
            "{}/graphql/ws",
            self.address.replacen("http://", "ws://", 1)
        )
    }

    /// SIGTERM, as an orchestrator stops it.
    fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_escrowgrid_process_delivers_events_and_revocations_from_this_one() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let url = db.url.clone();
    let in_process = spawn_app_on_store(Arc::clone(&db.store), None, |_| {}).await;
    let mut process = Process::start(&url).await;
    let api = Api::of(&in_process);
    let tenant = seed(&api, &in_process.root_key).await;
    let (second_key, _) = api
        .create_key(&in_process.root_key, &tenant.institution_id, "READ_ONLY")
        .await;

    let mut ws = WsClient::connect(&process.ws_url(), Dialect::TransportWs).await;
    ws.init_with_key(&tenant.key).await;
    ws.subscribe_events("1", json!({"assetId": tenant.asset_id}), None)
        .await;
    let mut other = WsClient::connect(&process.ws_url(), Dialect::TransportWs).await;
    other.init_with_key(&second_key).await;
    other.subscribe_events("1", json!({}), None).await;
    let http = reqwest::Client::new();
    wait_for_metrics_gauge(&http, &process.address, &process.root_key, 2).await;

    let p = api.create_position(&tenant.key, &tenant.asset_id).await;
    api.transition(&tenant.key, &p, "FUNDED", None).await;
    let got: Vec<_> = ws.events(2).await.iter().map(|(_, e)| key_of(e)).collect();
    assert_eq!(got, vec![(p.clone(), 1), (p.clone(), 2)]);
    let got: Vec<_> = other
        .events(2)
        .await
        .iter()
        .map(|(_, e)| key_of(e))
        .collect();
    assert_eq!(got, vec![(p.clone(), 1), (p, 2)]);

    api.revoke_key(&in_process.root_key, &tenant.key_id).await;
    let revoked = Instant::now();
    ws.expect_close(4403).await;
    assert!(revoked.elapsed() < Duration::from_secs(2));
    wait_for_metrics_gauge(&http, &process.address, &process.root_key, 1).await;

    // SIGTERM: the remaining socket closes with 1001 and the process exits cleanly.
    process.terminate();
    other.expect_close(1001).await;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = process.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            started.elapsed() < WAIT,
            "the process did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status:?}");
}
