//! The websocket transport on the memory store: close codes, key locations, Origin checks,
//! key revocation, audit of refused handshakes, keep-alive of idle peers and shutdown.

use super::fixtures::seed_tenant;
use super::support::{TestApp, TestStore, wait_for_gauge};
use super::ws_support::{
    Dialect, Received, SUBSCRIPTION, WAIT, WsClient, error_code, key_of, request, string,
};
use futures::SinkExt as _;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_close_with_4400() {
    let app = TestApp::memory().await;
    let malformed = [
        "not json",
        r#"{"type":"bogus"}"#,
        r#"{"payload":{}}"#,
        // subscribe without an id
        r#"{"type":"subscribe","payload":{"query":"subscription { positionEvents { id } }"}}"#,
        // subscribe without a payload
        r#"{"type":"subscribe","id":"1"}"#,
        // connection_init with a payload that is not an object
        r#"{"type":"connection_init","payload":"key"}"#,
    ];
    for text in malformed {
        let mut ws = app.connect().await;
        if text.contains("\"subscribe\"") {
            ws.init_with_key(&app.root_key).await;
        }
        ws.send_text(text).await;
        ws.expect_close(4400).await;
    }
    // A binary frame is no protocol message either.
    let mut ws = app.connect().await;
    ws.socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("sent");
    ws.expect_close(4400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_before_connection_init_closes_with_4401() {
    let app = TestApp::memory().await;
    let mut ws = app.connect().await;
    ws.subscribe_events("1", json!({}), None).await;
    ws.expect_close(4401).await;
    assert_eq!(app.gauge.current(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_missing_key_closes_with_4403() {
    let app = TestApp::memory().await;
    for payload in [
        json!({"apiKey": "not-a-key"}),
        json!({"headers": {"X-API-Key": "not-a-key"}}),
        json!({}),
        json!(null),
        json!({"apiKey": ""}),
    ] {
        let mut ws = app.connect().await;
        ws.send_init(payload.clone()).await;
        let before = ws.expect_close(4403).await;
        assert!(
            before.is_empty(),
            "{payload}: no ack before the close: {before:?}"
        );
    }
    // The legacy protocol says why first.
    let mut ws = WsClient::connect(&app.ws_url(), Dialect::Legacy).await;
    ws.send_init(json!({"apiKey": "not-a-key"})).await;
    let before = ws.expect_close(4403).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["type"], "connection_error", "{before:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_key_location_authenticates() {
    let app = TestApp::memory().await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let key = tenant.admin_key.as_str();
    for payload in [
        json!({"apiKey": key}),
        json!({"headers": {"X-API-Key": key}}),
        json!({"headers": {"x-api-key": key}}),
        json!({"headers": {"Authorization": format!("Bearer {key}")}}),
        json!({"X-API-Key": key}),
    ] {
        let mut ws = app.connect().await;
        ws.init(payload.clone()).await;
        // Authenticated as the institution key: its own institution is allowed...
        ws.subscribe_events("own", json!({"institutionId": tenant.institution_id}), None)
            .await;
        app.wait_for_subscriptions(1).await;
        drop(ws);
        app.wait_for_subscriptions(0).await;
    }
    // The upgrade request's own header, with an empty connection_init.
    let mut upgrade = request(&app.ws_url(), Dialect::TransportWs);
    upgrade.headers_mut().insert(
        "X-API-Key",
        HeaderValue::from_str(key).expect("a header value"),
    );
    let mut ws = WsClient::connect_request(upgrade, Dialect::TransportWs)
        .await
        .expect("the upgrade succeeds");
    ws.init(json!({})).await;
    ws.subscribe_events("1", json!({"assetId": tenant.asset_id}), None)
        .await;
    app.wait_for_subscriptions(1).await;
    let p = api.create_position(key, &tenant.asset_id).await;
    assert_eq!(key_of(&ws.next_event("1").await), (p, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_init_within_init_timeout_closes_with_4408() {
    let init_timeout = Duration::from_millis(300);
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.websocket.init_timeout = init_timeout)
        .spawn()
        .await;
    let started = Instant::now();
    let mut ws = app.connect().await;
    ws.expect_close(4408).await;
    let waited = started.elapsed();
    assert!(
        waited >= init_timeout,
        "closed after {waited:?}, before the {init_timeout:?} init timeout"
    );
    // A client that initialises in time is not closed later by that timer: once a socket
    // opened after it has been closed by its own timer, the first one still answers a ping.
    let mut ws = app.connect().await;
    ws.init_with_key(&app.root_key).await;
    let mut later = app.connect().await;
    later.expect_close(4408).await;
    ws.send_json(json!({"type": "ping"})).await;
    match ws.receive(WAIT).await {
        Received::Json(message) => assert_eq!(message["type"], "pong", "{message}"),
        other => panic!("an initialised socket must stay open, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_the_id_of_a_running_subscription_closes_with_4409() {
    let app = TestApp::memory().await;
    let mut ws = app.connect_with_key(&app.root_key).await;
    ws.subscribe_events("dup", json!({}), None).await;
    app.wait_for_subscriptions(1).await;
    ws.subscribe_events("dup", json!({}), None).await;
    ws.expect_close(4409).await;
    app.wait_for_subscriptions(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_is_free_again_once_its_subscription_completed_or_failed() {
    let app = TestApp::memory().await;
    let mut ws = app.connect_with_key(&app.root_key).await;
    // Completed by the client.
    ws.subscribe_events("x", json!({}), None).await;
    app.wait_for_subscriptions(1).await;
    ws.complete("x").await;
    app.wait_for_subscriptions(0).await;
    ws.subscribe_events("x", json!({}), None).await;
    app.wait_for_subscriptions(1).await;
    ws.complete("x").await;
    app.wait_for_subscriptions(0).await;
    // Failed at once: the client may reuse the id as soon as it has the `error`
    // (graphql-transport-ws: `error` ends the operation). Repeated to catch a race between
    // the error reaching the client and the server forgetting the id.
    for round in 0..50 {
        ws.subscribe(
            "again",
            "subscription { positionEvents { nope } }",
            json!({}),
        )
        .await;
        match ws.receive(WAIT).await {
            Received::Json(message) => {
                assert_eq!(message["type"], "error", "round {round}: {message}");
            }
            other => panic!("round {round}: the id was still taken after its error: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_init_closes_with_4429() {
    let app = TestApp::memory().await;
    let mut ws = app.connect_with_key(&app.root_key).await;
    ws.send_init(json!({"apiKey": app.root_key})).await;
    ws.expect_close(4429).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_with_pong() {
    let app = TestApp::memory().await;
    let mut ws = app.connect_with_key(&app.root_key).await;
    ws.send_json(json!({"type": "ping", "payload": {"n": 1}}))
        .await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "pong", "payload": {"n": 1}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_from_the_client_stops_delivery() {
    let app = TestApp::memory().await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let mut ws = app.connect_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", json!({}), None).await;
    app.wait_for_subscriptions(1).await;
    ws.complete("1").await;
    app.wait_for_subscriptions(0).await;
    api.create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    // graphql-transport-ws does not confirm a client's complete: a second subscription's
    // marker must be the next thing on the socket.
    ws.subscribe_events("2", json!({}), None).await;
    app.wait_for_subscriptions(1).await;
    let marker = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    ws.expect_exactly(&[("2", (marker, 1))]).await;
}

fn with_origin(app: &TestApp, origin: &str) -> tungstenite::handshake::client::Request {
    let mut upgrade = request(&app.ws_url(), Dialect::TransportWs);
    upgrade.headers_mut().insert(
        "Origin",
        HeaderValue::from_str(origin).expect("a header value"),
    );
    upgrade
}

async fn upgrade_status(app: &TestApp, origin: &str) -> Result<(), u16> {
    match WsClient::connect_request(with_origin(app, origin), Dialect::TransportWs).await {
        Ok(mut ws) => {
            ws.init_with_key(&app.root_key).await;
            Ok(())
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("{origin}: unexpected handshake error {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_outside_the_allow_list_gets_403_on_upgrade() {
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| {
            settings.cors_allow_origins = vec!["https://app.example.com".to_owned()];
        })
        .spawn()
        .await;
    let own = format!("http://127.0.0.1:{}", app.port);
    let other_port = format!("http://127.0.0.1:{}", app.port.wrapping_add(1));
    assert_eq!(upgrade_status(&app, "https://evil.example").await, Err(403));
    assert_eq!(upgrade_status(&app, "null").await, Err(403));
    assert_eq!(
        upgrade_status(&app, &other_port).await,
        Err(403),
        "another port is another origin"
    );
    assert_eq!(
        upgrade_status(&app, "https://app.example.com.evil.example").await,
        Err(403)
    );
    assert_eq!(upgrade_status(&app, &own).await, Ok(()), "same host");
    assert_eq!(
        upgrade_status(&app, "https://app.example.com").await,
        Ok(()),
        "allow-listed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_key_closes_its_socket_with_4403_promptly() {
    let app = TestApp::memory().await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let (other_key, _) = api.create_key(&tenant.institution_id, "ADMIN").await;
    let mut doomed = app.connect_with_key(&tenant.admin_key).await;
    doomed.subscribe_events("1", json!({}), None).await;
    let mut survivor = app.connect_with_key(&other_key).await;
    survivor.subscribe_events("1", json!({}), None).await;
    app.wait_for_subscriptions(2).await;

    api.revoke_key(&tenant.admin_key_id).await;
    doomed.expect_close(4403).await;
    app.wait_for_subscriptions(1).await;

    // Another key of the same institution keeps its socket, and hears the next event.
    let p = api.create_position(&other_key, &tenant.asset_id).await;
    assert_eq!(key_of(&survivor.next_event("1").await), (p, 1));
    // The revoked key cannot come back.
    let mut again = app.connect().await;
    again.send_init(json!({"apiKey": tenant.admin_key})).await;
    again.expect_close(4403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_connection_init_is_audited() {
    let app = TestApp::memory().await;
    let mut ws = app.connect().await;
    ws.send_init(json!({"apiKey": "definitely-not-a-key"}))
        .await;
    ws.expect_close(4403).await;
    let mut ws = app.connect().await;
    ws.send_init(json!({})).await;
    ws.expect_close(4403).await;

    let data = app
        .root(
            r#"query { auditEvents(filter: {action: "subscribe"}) {
                 edges { node { action outcome apiKeyId institutionId requestId payload } } } }"#,
            json!({}),
        )
        .await;
    let nodes: Vec<_> = data["auditEvents"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    assert_eq!(nodes.len(), 2, "{data}");
    for node in &nodes {
        assert_eq!(node["action"], "subscribe");
        assert_eq!(node["outcome"], "UNAUTHENTICATED", "{node}");
        assert_eq!(node["apiKeyId"], json!(null));
        assert!(node["requestId"].is_string(), "{node}");
        assert!(
            !node.to_string().contains("definitely-not-a-key"),
            "the presented key must not be stored: {node}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_dropped_after_idle_timeout() {
    let ping_interval = Duration::from_millis(100);
    let idle_timeout = Duration::from_millis(400);
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| {
            settings.websocket.ping_interval = ping_interval;
            settings.websocket.idle_timeout = idle_timeout;
        })
        .spawn()
        .await;
    let mut ws = app.connect_with_key(&app.root_key).await;
    // The last frame the server hears: from here the socket is not polled at all, so
    // tungstenite answers no ping: a dead peer.
    let silent = Instant::now();
    ws.subscribe_events("1", json!({}), None).await;
    app.wait_for_subscriptions(1).await;
    app.wait_for_subscriptions(0).await;
    let took = silent.elapsed();
    assert!(
        took >= idle_timeout,
        "dropped after {took:?}, before the idle timeout"
    );
    // Reading through tungstenite now would answer the first ping and fail on the closed
    // connection before reaching the close frame, so read the raw bytes the server sent.
    let mut raw = Vec::new();
    let stream = ws.socket.get_mut();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("the server closed the connection")
        .expect("read the remaining bytes");
    let frames = server_frames(&raw);
    let pings = frames.iter().filter(|(opcode, _)| *opcode == 0x9).count();
    assert!(pings >= 1, "the server pinged before giving up: {frames:?}");
    let (opcode, payload) = frames.last().expect("a close frame");
    assert_eq!(*opcode, 0x8, "the last frame is a close: {frames:?}");
    assert_eq!(
        u16::from_be_bytes([payload[0], payload[1]]),
        1001,
        "{}",
        String::from_utf8_lossy(&payload[2..])
    );
}

/// Splits unmasked server frames into (opcode, payload).
fn server_frames(mut raw: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while raw.len() >= 2 {
        let opcode = raw[0] & 0x0f;
        let (len, header) = match raw[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([raw[2], raw[3]])), 4),
            127 => panic!("no huge frames expected here"),
            len => (usize::from(len), 2),
        };
        frames.push((opcode, raw[header..header + len].to_vec()));
        raw = &raw[header + len..];
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_answers_pings_stays_connected_past_idle_timeout() {
    let idle_timeout = Duration::from_millis(300);
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| {
            settings.websocket.ping_interval = Duration::from_millis(75);
            settings.websocket.idle_timeout = idle_timeout;
        })
        .spawn()
        .await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let mut ws = app.connect_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", json!({}), None).await;
    app.wait_for_subscriptions(1).await;
    // Reading answers each ping (tungstenite replies with a pong on the next poll).
    match ws.receive(idle_timeout * 4).await {
        Received::Timeout => {}
        other => panic!("a live peer must not be dropped, got {other:?}"),
    }
    assert_eq!(app.gauge.current(), 1);
    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    assert_eq!(key_of(&ws.next_event("1").await), (p, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_closes_sockets_with_1001() {
    let mut app = TestApp::memory().await;
    let mut transport = app.connect_with_key(&app.root_key).await;
    transport.subscribe_events("1", json!({}), None).await;
    let mut legacy = WsClient::connect(&app.ws_url(), Dialect::Legacy).await;
    legacy.init_with_key(&app.root_key).await;
    legacy.subscribe("1", SUBSCRIPTION, json!({})).await;
    // Not yet initialised: closed as well.
    let mut fresh = app.connect().await;
    app.wait_for_subscriptions(2).await;
    let gauge = app.gauge.clone();
    app.shutdown().await;
    transport.expect_close(1001).await;
    legacy.expect_close(1001).await;
    fresh.expect_close(1001).await;
    wait_for_gauge(&gauge, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_key_may_subscribe_to_its_own_institution() {
    let app = TestApp::memory().await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let (read_only, _) = api.create_key(&tenant.institution_id, "READ_ONLY").await;
    let mut ws = app.connect_with_key(&read_only).await;
    ws.subscribe_events("1", json!({"institutionId": tenant.institution_id}), None)
        .await;
    app.wait_for_subscriptions(1).await;
    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    let event = ws.next_event("1").await;
    assert_eq!(key_of(&event), (p, 1));
    assert_eq!(string(&event["toState"]), "CREATED");
    // A filter naming an institution that does not exist is refused like a foreign one.
    ws.subscribe_events(
        "2",
        json!({"institutionId": "01890000-0000-7000-8000-000000000000"}),
        None,
    )
    .await;
    let message = ws.next_json().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(error_code(&message), "FORBIDDEN");
}

/// Sockets read 8 KiB at a time (`WS_READ_BUFFER_BYTES`): a message many times that size, within
/// MAX_BODY_BYTES, still arrives whole and is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_far_larger_than_the_read_buffer_arrives_whole() {
    let app = TestApp::new(TestStore::memory()).spawn().await;
    let mut ws = app.connect_with_key(&app.root_key).await;
    let padding = "x".repeat(200 * 1024);
    ws.subscribe(
        "big",
        // Variables the operation does not declare are carried, not validated.
        "{ viewer { role } }",
        json!({ "pad": padding }),
    )
    .await;
    let answer = ws.next_json().await;
    assert_eq!(answer["type"], "next", "{answer}");
    assert_eq!(
        answer["payload"]["data"]["viewer"]["role"], "ROOT",
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_over_the_sockets_cap_is_refused_and_its_id_stays_free() {
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.websocket.max_subscriptions = 2)
        .spawn()
        .await;
    let mut ws = app.connect_with_key(&app.root_key).await;
    ws.subscribe_events("1", json!({}), None).await;
    ws.subscribe_events("2", json!({}), None).await;
    app.wait_for_subscriptions(2).await;
    ws.subscribe_events("3", json!({}), None).await;
    let refused = ws.next_json().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "3");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS",
        "{refused}"
    );
    assert_eq!(refused["payload"][0]["extensions"]["max"], 2);

    ws.complete("1").await;
    app.wait_for_subscriptions(1).await;
    ws.subscribe_events("3", json!({}), None).await;
    app.wait_for_subscriptions(2).await;
}
