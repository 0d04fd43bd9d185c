//! SIGTERM to the real binary, as an orchestrator stops it: requests in flight finish (some are
//! held inside their transactions when the signal arrives), new connections are refused,
//! websockets get a 1001 close frame, the process exits 0 within `SHUTDOWN_TIMEOUT_MS`, and the
//! database is whole. At the deadline, what is still running is cancelled and rolls back.
//! The JSON logs of the run carry request ids and callers, and never a token or an input.

use super::outage::{CREATE, Chain, Reply, consistency_check, seed, settle, tally, worker};
use super::process::listening_address;
use super::support::{TestApp, TestStore};
use super::ws_support::wait_for_metrics_gauge;
use crate::support::postgres::{TestDb, fresh_store, park_writes, release_writes};
use escrowgrid::service::{ApiKeyToken, hash_token};
use futures::{SinkExt as _, StreamExt as _};
use sea_orm::sqlx::{self, Connection as _, PgConnection};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// `escrowgrid serve` on a test database, killed if the test ends before it exits.
struct Binary {
    child: Child,
    address: String,
    root: String,
    log: PathBuf,
}

impl Drop for Binary {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Binary {
    async fn start(db: &TestDb, shutdown_timeout_ms: u64) -> Self {
        let root = ApiKeyToken::generate().expose().to_owned();
        let log = std::env::temp_dir().join(format!(
            "escrowgrid-shutdown-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let stderr = std::fs::File::create(&log).expect("a log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_escrowgrid"))
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("PORT", "0")
            .env("BIND", "127.0.0.1")
            .env("ROOT_API_KEY", &root)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("SHUTDOWN_TIMEOUT_MS", shutdown_timeout_ms.to_string())
            .env("SHUTDOWN_DRAIN_MS", "0")
            // The load is one key's; its rate is not what this test is about.
            .env("RATE_LIMIT_PER_SECOND", "0")
            .env_remove("CORS_ALLOW_ORIGINS")
            .env_remove("METRICS_ADDR")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("the escrowgrid binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let address = listening_address(stdout).await;
        Self {
            child,
            address,
            root,
            log,
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit, up to `limit`.
    async fn exited_within(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((status, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .expect("the log is readable")
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON log line: {line}"))
            })
            .collect()
    }
}

/// Waits until no other session of the database is inside a transaction: the cancelled write
/// ended (its server exited, so PostgreSQL rolls it back once the session notices).
async fn no_transaction_is_open(connection: &mut PgConnection) {
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
            started.elapsed() < Duration::from_secs(10),
            "{open} transactions still open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until at least `count` sessions of the database wait on a lock.
async fn parked(connection: &mut PgConnection, count: i64) {
    let started = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *connection)
        .await
        .expect("pg_stat_activity");
        if waiting >= count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{waiting} writes parked, expected {count}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_requests_in_flight_closes_sockets_and_exits_zero_with_a_whole_database() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let mut server = Binary::start(&db, 10_000).await;
    let api = seed(&server.address, &server.root).await;

    // A subscriber, to see the close frame.
    let url = format!(
        "{}/graphql/ws",
        server.address.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().expect("a ws request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("a header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the websocket opens");
    let init = json!({ "type": "connection_init", "payload": { "apiKey": api.key } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .expect("sent");
    let subscribe = json!({ "type": "subscribe", "id": "1",
        "payload": { "query": "subscription { positionEvents { id } }" } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .expect("sent");

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|_| tokio::spawn(worker(api.clone(), Arc::clone(&stop), true)))
        .collect();
    // The subscriber must be live to hear the close frame.
    wait_for_metrics_gauge(&reqwest::Client::new(), &server.address, &server.root, 1).await;

    // Park the writes in flight, then stop the server while they wait.
    let mut lock = park_writes(&db.url).await;
    parked(&mut lock, 3).await;
    server.terminate();
    let terminated = Instant::now();
    // With no drain the listener closes right after the signal: poll until a new connection
    // is refused (a fresh client each time, so no pooled connection is reused).
    loop {
        let attempt = reqwest::Client::new()
            .get(format!("{}/health", server.address))
            .send()
            .await;
        if attempt.as_ref().is_err_and(reqwest::Error::is_connect) {
            break;
        }
        assert!(
            terminated.elapsed() < Duration::from_secs(10),
            "a new connection after SIGTERM must be refused: {attempt:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        server.child.try_wait().expect("waitable").is_none(),
        "the server must wait for the requests in flight"
    );
    release_writes(&mut lock).await;
    let released = Instant::now();
    let (status, after_release) = server
        .exited_within(Duration::from_secs(15))
        .await
        .expect("the server exits after SIGTERM");
    let exit_after = terminated.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut chains: Vec<Chain> = Vec::new();
    for worker in workers {
        chains.extend(worker.await.expect("a worker finished"));
    }
    assert!(status.success(), "exit status {status}");
    assert!(
        exit_after < Duration::from_secs(10),
        "exited {exit_after:?} after SIGTERM, past SHUTDOWN_TIMEOUT_MS"
    );

    let seen = tally(&chains);
    let finished_in_flight = chains
        .iter()
        .flat_map(|chain| &chain.attempts)
        .filter(|attempt| matches!(attempt.reply, Reply::Done { at, .. } if at > released))
        .count();
    eprintln!(
        "shutdown: exit 0 {exit_after:?} after SIGTERM ({after_release:?} after the parked \
         writes were released); {} chains; {} done ({finished_in_flight} of them in flight at \
         SIGTERM), refused {:?}, {} not sent, {} lost",
        chains.len(),
        seen.done,
        seen.refused,
        seen.not_sent,
        seen.lost.len(),
    );
    assert!(seen.dirty.is_empty(), "unclean answers: {:#?}", seen.dirty);
    assert!(
        finished_in_flight >= 3,
        "the writes in flight at SIGTERM must finish: {finished_in_flight}"
    );

    // The subscriber was told the server is going away.
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(frame) = socket.next().await {
            if let Ok(Message::Close(frame)) = frame {
                return frame.map(|frame| u16::from(frame.code));
            }
        }
        None
    })
    .await
    .expect("the socket ends");
    assert_eq!(close, Some(1001), "a going-away close frame");

    // Whatever was sent without an answer wrote whole or nothing.
    let report = consistency_check(&db.url).await;
    eprintln!(
        "shutdown: consistency check over {} positions and {} events: {} violations",
        report.positions,
        report.events,
        report.violations.len()
    );
    assert!(report.violations.is_empty(), "{:#?}", report.violations);

    // A new instance settles every unfinished step with its key: nothing lost or doubled.
    let restarted = restart_on(&db).await;
    let mut api = api;
    api.address = restarted.address.clone();
    for chain in &mut chains {
        settle(&api, chain).await;
    }
    let report = consistency_check(&db.url).await;
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(report.positions, chains.len(), "one position per chain");

    logs_are_structured_and_keep_secrets(&server, &api.key);
}

/// An in-process instance on the same database, connecting as the binary does.
async fn restart_on(db: &TestDb) -> TestApp {
    let url = db.url.clone();
    TestApp::new(TestStore::configured())
        .with_config(|settings| settings.database_url = Some(url))
        .spawn()
        .await
}

fn logs_are_structured_and_keep_secrets(server: &Binary, institution_key: &str) {
    let text = std::fs::read_to_string(&server.log).expect("the log is readable");
    for secret in [
        server.root.as_str(),
        institution_key,
        hash_token(institution_key).as_str(),
        hash_token(&server.root).as_str(),
        // Every holder reference of the load starts so; they only ever travel in variables.
        "LOAD-",
    ] {
        assert!(!text.contains(secret), "the log holds a secret or an input");
    }
    let lines = server.log_lines();
    let finished: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "request finished")
        .collect();
    let mutation = finished
        .iter()
        .find(|line| {
            line["span"]["role"] == "ADMIN"
                && line["span"]["operation_type"] == "mutation"
                && line["span"]["outcome"] == "success"
        })
        .unwrap_or_else(|| panic!("no finished mutation among {} lines", finished.len()));
    for field in [
        "request_id",
        "key_id",
        "institution_id",
        "operation",
        "role",
    ] {
        assert!(
            mutation["span"][field].is_string(),
            "{field} missing from {mutation}"
        );
    }
    assert!(mutation["fields"]["duration_ms"].is_number(), "{mutation}");
    assert_eq!(mutation["fields"]["status"], 200);
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|line| line["fields"]["message"].as_str())
        .collect();
    for expected in [
        "shutting down: no new connections; finishing requests in flight",
        "shut down",
    ] {
        assert!(messages.contains(&expected), "no {expected:?} in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_shutdown_deadline_a_write_still_running_is_cancelled_and_rolls_back() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let mut server = Binary::start(&db, 1_500).await;
    let api = seed(&server.address, &server.root).await;
    let mut lock = park_writes(&db.url).await;
    let input = json!({
        "assetId": api.asset,
        "holderReference": "DEADLINE-1",
        "currency": "USD",
        "amount": "10.00",
        "idempotencyKey": "deadline-1",
    });
    let stuck = tokio::spawn({
        let api = api.clone();
        async move { api.send(CREATE, &input).await }
    });
    let mut watch = PgConnection::connect(&db.url).await.expect("connects");
    parked(&mut watch, 1).await;
    server.terminate();
    let (status, after) = server
        .exited_within(Duration::from_secs(10))
        .await
        .expect("the server exits at the deadline even with a write stuck");
    eprintln!("shutdown: with a write stuck, {status} {after:?} after SIGTERM (deadline 1.5 s)");
    assert!(status.success(), "{status}");
    // It waits for the deadline; how much longer it takes is the machine's business.
    assert!(after >= Duration::from_millis(1_400), "{after:?}");
    let reply = stuck.await.expect("joined");
    assert!(
        matches!(reply, Reply::Lost(_)),
        "the cancelled request gets no answer: {reply:?}"
    );

    // Once the lock is free the parked statement may run, but nothing ever commits it.
    release_writes(&mut lock).await;
    no_transaction_is_open(&mut watch).await;
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM positions) + (SELECT count(*) FROM idempotency_records) \
         + (SELECT count(*) FROM audit_events WHERE action = 'createPosition')",
    )
    .fetch_one(&mut watch)
    .await
    .expect("countable");
    assert_eq!(left, 0, "the cancelled write left a trace");
    let report = consistency_check(&db.url).await;
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}
