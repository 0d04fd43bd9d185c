//! Subscriptions over Server-Sent Events (`POST /graphql/stream`, graphql-sse's distinct
//! connections mode): results as `next` events, the cursor of every position event as its
//! SSE `id`, resuming with `Last-Event-ID` without gap or duplicate, refusals inside the
//! stream, and the websocket rules for keys, rate limits, revocation and shutdown.

use super::fixtures::seed_tenant;
use super::node_clients::NodeClients;
use super::support::{TestApp, TestStore, WAIT};
use super::ws_support::{SUBSCRIPTION, string, ws_on_both_stores};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::BufRead as _;
use std::time::Duration;

/// One SSE event as the client sees it.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    event: String,
    id: Option<String>,
    data: String,
}

impl SseEvent {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {self:?}"))
    }
}

/// Reads a `text/event-stream` response event by event (comments skipped).
struct SseStream {
    response: reqwest::Response,
    buffer: String,
}

enum Next {
    Event(SseEvent),
    Ended,
    Timeout,
}

impl SseStream {
    async fn open(app: &TestApp, key: &str, body: Value, last_event_id: Option<&str>) -> Self {
        let response = post(app, key, &body, last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    async fn next_within(&mut self, within: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".to_owned(),
                    id: None,
                    data: String::new(),
                };
                let mut fields = 0;
                for line in block.lines() {
                    if line.starts_with(':') || line.is_empty() {
                        continue;
                    }
                    fields += 1;
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match name {
                        "event" => event.event = value.to_owned(),
                        "id" => event.id = Some(value.to_owned()),
                        "data" => event.data.push_str(value),
                        other => panic!("unexpected SSE field {other:?} in {block:?}"),
                    }
                }
                if fields > 0 {
                    return Next::Event(event);
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Next::Timeout,
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None) | Err(_)) => return Next::Ended,
            }
        }
    }

    async fn next(&mut self) -> SseEvent {
        match self.next_within(WAIT).await {
            Next::Event(event) => event,
            Next::Ended => panic!("the stream ended"),
            Next::Timeout => panic!("no event within {WAIT:?}"),
        }
    }

    /// Asserts the stream ends (within `WAIT`) with nothing more than `complete` if `complete`.
    async fn expect_end(&mut self, complete: bool) {
        if complete {
            let event = self.next().await;
            assert_eq!(event.event, "complete", "{event:?}");
            assert_eq!(event.data, "");
        }
        match self.next_within(WAIT).await {
            Next::Ended => {}
            Next::Event(event) => panic!("expected the end, got {event:?}"),
            Next::Timeout => panic!("the stream did not end within {WAIT:?}"),
        }
    }
}

async fn post(
    app: &TestApp,
    key: &str,
    body: &Value,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/graphql/stream"))
        .header("accept", "text/event-stream")
        .header("x-api-key", key)
        .json(body);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.expect("the server answers")
}

fn subscription(asset_id: &str) -> Value {
    json!({ "query": SUBSCRIPTION, "variables": { "filter": { "assetId": asset_id } } })
}

fn event_of(event: &SseEvent) -> Value {
    assert_eq!(event.event, "next", "{event:?}");
    let body = event.json();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["positionEvents"].clone()
}

ws_on_both_stores!(
    every_event_carries_its_cursor_as_id_and_last_event_id_resumes_without_gap_or_duplicate,
    the_graphql_sse_client_resumes_after_a_dropped_connection_with_no_gap,
);

async fn every_event_carries_its_cursor_as_id_and_last_event_id_resumes_without_gap_or_duplicate(
    app: TestApp,
) {
    let api = app.api();
    let tenant = seed_tenant(&api, "Stream Bank").await;
    let position = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    let mut stream = SseStream::open(
        &app,
        &tenant.admin_key,
        subscription(&tenant.asset_id),
        None,
    )
    .await;
    app.wait_for_subscriptions(1).await;
    api.transition(&tenant.admin_key, &position, "FUNDED", None)
        .await;
    api.transition(
        &tenant.admin_key,
        &position,
        "PARTIALLY_RELEASED",
        Some("100"),
    )
    .await;
    let funded = stream.next().await;
    let released = stream.next().await;
    for event in [&funded, &released] {
        assert_eq!(
            event.id.as_deref(),
            event_of(event)["cursor"].as_str(),
            "the SSE id is the event's cursor"
        );
    }
    drop(stream);
    app.wait_for_subscriptions(0).await;

    // Committed while nobody listens: the resumed stream replays it, then goes live.
    api.transition(
        &tenant.admin_key,
        &position,
        "PARTIALLY_RELEASED",
        Some("100"),
    )
    .await;
    let resumed_after = funded.id.clone().expect("an id");
    let mut resumed = SseStream::open(
        &app,
        &tenant.admin_key,
        subscription(&tenant.asset_id),
        Some(&resumed_after),
    )
    .await;
    let replayed = [resumed.next().await, resumed.next().await];
    app.wait_for_subscriptions(1).await;
    api.transition(&tenant.admin_key, &position, "RELEASED", None)
        .await;
    let live = resumed.next().await;
    let versions: Vec<i64> = replayed
        .iter()
        .chain([&live])
        .map(|event| event_of(event)["version"].as_i64().expect("a version"))
        .collect();
    assert_eq!(
        versions,
        [3, 4, 5],
        "after FUNDED (2): no gap, no duplicate"
    );
    assert_eq!(replayed[0].id, released.id, "the same event, the same id");
    let durable = api.durable_events(&tenant.admin_key, &position).await;
    assert_eq!(
        live.id.as_deref(),
        durable.last().and_then(|event| event["cursor"].as_str())
    );
}

async fn the_graphql_sse_client_resumes_after_a_dropped_connection_with_no_gap(app: TestApp) {
    let Some(node) = NodeClients::find("the graphql-sse client test", &["graphql-sse"]) else {
        return;
    };
    let api = app.api();
    let tenant = seed_tenant(&api, "Resume Bank").await;
    let first = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    let second = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    let mut command = node.command("graphql-sse-resume.mjs");
    command
        .args([app.url("/graphql/stream"), tenant.asset_id.clone()])
        .args(["6", "2", "30000"])
        .env("ESCROWGRID_API_KEY", &tenant.admin_key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("node starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Node itself must start first, which can take a while on a loaded machine.
    app.wait_for_subscriptions_within(1, Duration::from_secs(15))
        .await;
    let key = &tenant.admin_key;
    api.transition(key, &first, "FUNDED", None).await;
    api.transition(key, &first, "PARTIALLY_RELEASED", Some("10"))
        .await;
    let cut = tokio::time::timeout(Duration::from_secs(20), lines.recv())
        .await
        .expect("the client reports the cut")
        .expect("a line");
    assert_eq!(
        serde_json::from_str::<Value>(&cut).expect("JSON"),
        json!({ "cut": 2 })
    );
    // Whether the client is back yet or not, these must reach it once each, in order.
    api.transition(key, &first, "RELEASED", None).await;
    api.transition(key, &second, "FUNDED", None).await;
    api.transition(key, &second, "PARTIALLY_RELEASED", Some("10"))
        .await;
    api.transition(key, &second, "RELEASED", None).await;
    let report = tokio::time::timeout(Duration::from_secs(25), lines.recv())
        .await
        .expect("the client finishes")
        .expect("a report line");
    let status = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("joined")
        .expect("node ran");
    assert!(
        status.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let report: Value = serde_json::from_str(&report).expect("a JSON report");
    let events = report["events"].as_array().expect("events");
    let got: Vec<(String, String)> = events
        .iter()
        .map(|event| (string(&event["position"]), string(&event["toState"])))
        .collect();
    let expected: Vec<(String, String)> = [
        (&first, "FUNDED"),
        (&first, "PARTIALLY_RELEASED"),
        (&first, "RELEASED"),
        (&second, "FUNDED"),
        (&second, "PARTIALLY_RELEASED"),
        (&second, "RELEASED"),
    ]
    .iter()
    .map(|(position, state)| ((*position).clone(), (*state).to_owned()))
    .collect();
    assert_eq!(got, expected, "every event once, in commit order: {report}");
    let connects = report["connects"].as_array().expect("connects");
    assert_eq!(connects.len(), 2, "one reconnect: {report}");
    assert_eq!(connects[0]["lastEventId"], Value::Null);
    assert_eq!(connects[1]["lastEventId"], events[1]["cursor"], "{report}");
}

#[tokio::test]
async fn refusals_come_inside_the_stream_and_requests_without_a_key_get_http_errors() {
    let app = TestApp::new(TestStore::memory()).spawn().await;
    let key = app.root_key.clone();

    let mut stream =
        SseStream::open(&app, &key, json!({ "query": "{ viewer { role } }" }), None).await;
    let result = stream.next().await;
    assert_eq!(result.event, "next");
    assert_eq!(result.id, None, "only position events have ids");
    assert_eq!(result.json()["data"]["viewer"]["role"], "ROOT");
    stream.expect_end(true).await;

    let mut invalid = SseStream::open(
        &app,
        &key,
        json!({ "query": "subscription { nope }" }),
        None,
    )
    .await;
    let refused = invalid.next().await.json();
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{refused}"
    );
    invalid.expect_end(true).await;

    let mut bad_cursor = SseStream::open(
        &app,
        &key,
        json!({ "query": SUBSCRIPTION }),
        Some("not-a-cursor"),
    )
    .await;
    let refused = bad_cursor.next().await.json();
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert_eq!(
        refused["errors"][0]["extensions"]["fields"][0]["field"],
        "Last-Event-ID"
    );
    bad_cursor.expect_end(true).await;

    let unauthenticated = post(
        &app,
        "egk_not-a-key",
        &json!({ "query": SUBSCRIPTION }),
        None,
    )
    .await;
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let body: Value = unauthenticated.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    let wrong_accept = app
        .client
        .post(app.url("/graphql/stream"))
        .header("accept", "application/json")
        .header("x-api-key", &key)
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(wrong_accept.status(), StatusCode::NOT_ACCEPTABLE);

    let batch = post(
        &app,
        &key,
        &json!([{ "query": "{ viewer { role } }" }]),
        None,
    )
    .await;
    assert_eq!(batch.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_stream_costs_one_token_of_the_keys_rate_limit() {
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| {
            settings.rate_limit.per_key = Some(escrowgrid::service::Quota {
                per_second: 0.001,
                burst: 1,
            });
        })
        .spawn()
        .await;
    let api = app.api();
    let institution = super::fixtures::create_institution(&api, "Limited Bank").await;
    let (key, _) = api.create_key(&institution, "READ_ONLY").await;
    let _open = SseStream::open(&app, &key, json!({ "query": SUBSCRIPTION }), None).await;
    let refused = post(&app, &key, &json!({ "query": SUBSCRIPTION }), None).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
}

#[tokio::test]
async fn revoking_the_key_ends_its_stream_with_forbidden_and_complete() {
    let app = TestApp::memory().await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Revoked Bank").await;
    let mut stream = SseStream::open(
        &app,
        &tenant.read_only_key,
        json!({ "query": SUBSCRIPTION }),
        None,
    )
    .await;
    app.wait_for_subscriptions(1).await;
    api.revoke_key(&tenant.read_only_key_id).await;
    let last = stream.next().await.json();
    assert_eq!(
        last["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{last}"
    );
    stream.expect_end(true).await;
    app.wait_for_subscriptions(0).await;
}

#[tokio::test]
async fn shutdown_ends_streams_without_complete_so_clients_resume_elsewhere() {
    let mut app = TestApp::memory().await;
    let key = app.root_key.clone();
    let mut stream = SseStream::open(&app, &key, json!({ "query": SUBSCRIPTION }), None).await;
    app.wait_for_subscriptions(1).await;
    let reading = tokio::spawn(async move {
        stream.expect_end(false).await;
    });
    app.shutdown_cleanly().await;
    reading.await.expect("the stream ended without complete");
}
