//! `Subscription.positionEvents` end to end over websockets, on both stores: delivery order,
//! filters, tenancy, resume with `after`, validation errors, concurrent writers, the legacy
//! `graphql-ws` subprotocol and the npm `graphql-ws` reference client. Two more cases, on the
//! memory store only, stall a client that stopped reading while the bus overflows: once it
//! reads again it gets every event in order (caught up from the log), and a key revoked
//! meanwhile still closes the socket.
//!
//! A missed or doubled event is a missed or doubled payment instruction, so every case checks
//! the exact list received, then commits a marker event and checks that it is the next thing
//! delivered, which proves nothing else came.

use super::fixtures::{Tenant, seed_tenant};
use super::node_clients::NodeClients;
use super::support::{TestApp, TestStore};
use super::ws_support::{
    Dialect, Received, SUBSCRIPTION, WAIT, WsClient, error_code, key_of, string, ws_on_both_stores,
};
use crate::support::{applied, memory_store, transition_releasing};
use escrowgrid::domain::model::{JsonObject, Position};
use escrowgrid::domain::{PositionId, PositionState};
use escrowgrid::ports::{Scope, Store};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::MaybeTlsStream;
use uuid::Uuid;

ws_on_both_stores!(
    lifecycle_steps_arrive_in_order_with_growing_versions_and_cursors,
    each_filter_delivers_only_matching_events,
    a_tenant_never_receives_another_tenants_events,
    another_tenants_or_a_forged_cursor_is_bad_user_input_and_root_resumes_from_any,
    a_filter_naming_another_institution_is_an_error_message_not_next,
    resume_after_disconnect_delivers_exactly_the_missed_events_then_live,
    a_subscription_that_fails_validation_gets_an_error_message,
    concurrent_writers_and_a_mid_stream_resume_lose_and_double_nothing,
    the_legacy_graphql_ws_subprotocol_receives_events,
    the_graphql_ws_reference_client_receives_events,
);

fn states(event: &Value) -> (Value, Value) {
    (event["fromState"].clone(), event["toState"].clone())
}

async fn lifecycle_steps_arrive_in_order_with_growing_versions_and_cursors(app: TestApp) {
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let mut ws = app.connect_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", json!({"assetId": tenant.asset_id}), None)
        .await;
    app.wait_for_subscriptions(1).await;

    let position = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    api.transition(&tenant.admin_key, &position, "FUNDED", None)
        .await;
    api.transition(
        &tenant.admin_key,
        &position,
        "PARTIALLY_RELEASED",
        Some("250.00"),
    )
    .await;
    api.transition(&tenant.admin_key, &position, "RELEASED", None)
        .await;

    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(ws.next_event("1").await);
    }
    let expected_states = [
        (Value::Null, json!("CREATED")),
        (json!("CREATED"), json!("FUNDED")),
        (json!("FUNDED"), json!("PARTIALLY_RELEASED")),
        (json!("PARTIALLY_RELEASED"), json!("RELEASED")),
    ];
    let durable = api.durable_events(&tenant.admin_key, &position).await;
    assert_eq!(durable.len(), 4, "{durable:?}");
    for (index, event) in events.iter().enumerate() {
        assert_eq!(states(event), expected_states[index], "{event}");
        assert_eq!(
            event["version"],
            json!(index + 1),
            "versions grow by one: {event}"
        );
        assert_eq!(event["position"]["id"], position.as_str());
        assert_eq!(event["position"]["asset"]["id"], tenant.asset_id.as_str());
        assert_eq!(
            event["position"]["institution"]["id"],
            tenant.institution_id.as_str()
        );
        let cursor = string(&event["cursor"]);
        assert!(!cursor.is_empty());
        assert_eq!(
            event["cursor"], durable[index]["cursor"],
            "the live cursor is the durable one"
        );
    }
    let cursors: BTreeSet<String> = events.iter().map(|e| string(&e["cursor"])).collect();
    assert_eq!(cursors.len(), 4, "cursors are distinct");
    assert_eq!(events[0]["releaseAmount"], Value::Null);
    assert_eq!(events[1]["releaseAmount"], Value::Null);
    assert!(
        events[2]["releaseAmount"]
            .as_str()
            .is_some_and(|amount| amount.starts_with("250")),
        "{}",
        events[2]
    );
    assert!(
        events[3]["releaseAmount"]
            .as_str()
            .is_some_and(|amount| amount.starts_with("750")),
        "RELEASED releases the remainder: {}",
        events[3]
    );
    let marker = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    ws.expect_exactly(&[("1", (marker, 1))]).await;
}

async fn each_filter_delivers_only_matching_events(app: TestApp) {
    let api = app.api();
    let a = seed_tenant(&api, "Acme Bank").await;
    let b = seed_tenant(&api, "Borealis Fund").await;
    let asset2 = api.create_asset(&a).await;
    // Made before subscribing: positionId filters need them, and their creation is not live.
    let p1 = api.create_position(&a.admin_key, &a.asset_id).await;
    let p2 = api.create_position(&a.admin_key, &a.asset_id).await;
    let p3 = api.create_position(&a.admin_key, &asset2).await;
    let pb = api.create_position(&b.admin_key, &b.asset_id).await;

    let mut ws = app.connect_with_key(&a.admin_key).await;
    ws.subscribe_events("position", json!({"positionId": p1}), None)
        .await;
    ws.subscribe_events("asset", json!({"assetId": a.asset_id}), None)
        .await;
    ws.subscribe_events(
        "institution",
        json!({"institutionId": a.institution_id}),
        None,
    )
    .await;
    ws.subscribe_events(
        "states",
        json!({"toStates": ["RELEASED", "CANCELLED"]}),
        None,
    )
    .await;
    ws.subscribe_events(
        "combined",
        json!({"assetId": asset2, "toStates": ["CANCELLED"]}),
        None,
    )
    .await;
    let mut root = app.connect_with_key(&app.root_key).await;
    root.subscribe_events("b", json!({"institutionId": b.institution_id}), None)
        .await;
    app.wait_for_subscriptions(6).await;

    api.transition(&a.admin_key, &p1, "FUNDED", None).await; // p1 v2
    api.transition(&a.admin_key, &p2, "FUNDED", None).await; // p2 v2
    api.transition(&b.admin_key, &pb, "FUNDED", None).await; // pb v2
    api.transition(&a.admin_key, &p3, "FUNDED", None).await; // p3 v2
    api.transition(&a.admin_key, &p1, "RELEASED", None).await; // p1 v3
    api.transition(&a.admin_key, &p3, "CANCELLED", None).await; // p3 v3
    api.transition(&b.admin_key, &pb, "CANCELLED", None).await; // pb v3

    let expected: BTreeMap<&str, Vec<(String, i64)>> = BTreeMap::from([
        ("position", vec![(p1.clone(), 2), (p1.clone(), 3)]),
        (
            "asset",
            vec![(p1.clone(), 2), (p2.clone(), 2), (p1.clone(), 3)],
        ),
        (
            "institution",
            vec![
                (p1.clone(), 2),
                (p2.clone(), 2),
                (p3.clone(), 2),
                (p1.clone(), 3),
                (p3.clone(), 3),
            ],
        ),
        ("states", vec![(p1.clone(), 3), (p3.clone(), 3)]),
        ("combined", vec![(p3.clone(), 3)]),
    ]);
    let total = expected.values().map(Vec::len).sum();
    let mut received: BTreeMap<&str, Vec<(String, i64)>> = BTreeMap::new();
    for (id, event) in ws.events(total).await {
        let id = *expected
            .keys()
            .find(|known| **known == id)
            .unwrap_or_else(|| panic!("an event for an unknown id {id}"));
        received.entry(id).or_default().push(key_of(&event));
    }
    assert_eq!(received, expected);
    // Markers for every subscription that can still match something ("position" follows p1,
    // which is RELEASED and final): m on asset2, cancelled, then n on the first asset.
    let m = api.create_position(&a.admin_key, &asset2).await;
    api.transition(&a.admin_key, &m, "CANCELLED", None).await;
    let n = api.create_position(&a.admin_key, &a.asset_id).await;
    ws.expect_exactly(&[
        ("institution", (m.clone(), 1)),
        ("institution", (m.clone(), 2)),
        ("institution", (n.clone(), 1)),
        ("states", (m.clone(), 2)),
        ("combined", (m, 2)),
        ("asset", (n, 1)),
    ])
    .await;

    let root_events = root.events(2).await;
    let root_keys: Vec<(String, i64)> = root_events.iter().map(|(_, e)| key_of(e)).collect();
    assert_eq!(root_keys, vec![(pb.clone(), 2), (pb.clone(), 3)]);
    let marker = api.create_position(&b.admin_key, &b.asset_id).await;
    root.expect_exactly(&[("b", (marker, 1))]).await;
}

async fn a_tenant_never_receives_another_tenants_events(app: TestApp) {
    let api = app.api();
    let a = seed_tenant(&api, "Acme Bank").await;
    let b = seed_tenant(&api, "Borealis Fund").await;
    let pb = api.create_position(&b.admin_key, &b.asset_id).await;

    let mut ws_a = app.connect_with_key(&a.admin_key).await;
    ws_a.subscribe_events("all", json!({}), None).await;
    // A names B's position: indistinguishable from a missing one, so it simply never matches.
    ws_a.subscribe_events("foreign-position", json!({"positionId": pb}), None)
        .await;
    ws_a.subscribe_events("foreign-asset", json!({"assetId": b.asset_id}), None)
        .await;
    let mut ws_root = app.connect_with_key(&app.root_key).await;
    ws_root.subscribe_events("all", json!({}), None).await;
    app.wait_for_subscriptions(4).await;

    // B's events first, then A's sentinel: A's first message must be the sentinel.
    api.transition(&b.admin_key, &pb, "FUNDED", None).await;
    let pb2 = api.create_position(&b.admin_key, &b.asset_id).await;
    api.transition(&b.admin_key, &pb, "RELEASED", None).await;
    let pa = api.create_position(&a.admin_key, &a.asset_id).await;

    let (id, sentinel) = ws_a.events(1).await.remove(0);
    assert_eq!(id, "all");
    assert_eq!(key_of(&sentinel), (pa.clone(), 1));
    // The foreign subscriptions can never match an event of A's, so no marker bounds them; the
    // sentinel above already came before anything of B's.
    let marker = api.create_position(&a.admin_key, &a.asset_id).await;
    ws_a.expect_exactly(&[("all", (marker.clone(), 1))]).await;

    let seen: Vec<(String, i64)> = ws_root
        .events(4)
        .await
        .iter()
        .map(|(_, e)| key_of(e))
        .collect();
    assert_eq!(
        seen,
        vec![(pb.clone(), 2), (pb2, 1), (pb, 3), (pa, 1)],
        "the root key sees every institution, in commit order"
    );
    ws_root.expect_exactly(&[("all", (marker, 1))]).await;
}

async fn another_tenants_or_a_forged_cursor_is_bad_user_input_and_root_resumes_from_any(
    app: TestApp,
) {
    let api = app.api();
    let a = seed_tenant(&api, "Acme Bank").await;
    let b = seed_tenant(&api, "Borealis Fund").await;
    let pa = api.create_position(&a.admin_key, &a.asset_id).await;
    let pb = api.create_position(&b.admin_key, &b.asset_id).await;
    let a_cursor = string(&api.durable_events(&a.admin_key, &pa).await[0]["cursor"]);
    let b_cursor = string(&api.durable_events(&b.admin_key, &pb).await[0]["cursor"]);
    // One character changed: still base64 of the right length, so only the seal can tell.
    let mut forged = a_cursor.clone();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., last);

    let mut ws = app.connect_with_key(&a.admin_key).await;
    for (id, cursor) in [("foreign", &b_cursor), ("forged", &forged)] {
        ws.subscribe_events(id, json!({}), Some(cursor)).await;
        let message = ws.next_json().await;
        assert_eq!(message["type"], "error", "{message}");
        assert_eq!(message["id"], id);
        assert_eq!(error_code(&message), "BAD_USER_INPUT", "{message}");
    }
    app.wait_for_subscriptions(0).await;

    // A's own cursor resumes right after it; B's events stay out.
    ws.subscribe_events("own", json!({}), Some(&a_cursor)).await;
    app.wait_for_subscriptions(1).await;
    api.transition(&b.admin_key, &pb, "FUNDED", None).await;
    api.transition(&a.admin_key, &pa, "FUNDED", None).await;
    ws.expect_exactly(&[("own", (pa.clone(), 2))]).await;

    // The root key reads every institution, so any institution's cursor is its to resume.
    let mut root = app.connect_with_key(&app.root_key).await;
    root.subscribe_events("1", json!({}), Some(&b_cursor)).await;
    assert_eq!(key_of(&root.next_event("1").await), (pb, 2));
    assert_eq!(key_of(&root.next_event("1").await), (pa, 2));
}

async fn a_filter_naming_another_institution_is_an_error_message_not_next(app: TestApp) {
    let api = app.api();
    let a = seed_tenant(&api, "Acme Bank").await;
    let b = seed_tenant(&api, "Borealis Fund").await;
    let mut ws = app.connect_with_key(&a.admin_key).await;
    ws.subscribe_events("1", json!({"institutionId": b.institution_id}), None)
        .await;
    let message = ws.next_json().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "1");
    assert_eq!(error_code(&message), "FORBIDDEN", "{message}");
    app.wait_for_subscriptions(0).await;

    // The socket lives on, B's writes never show up, and the id is free again.
    let pb = api.create_position(&b.admin_key, &b.asset_id).await;
    ws.subscribe_events("1", json!({"institutionId": a.institution_id}), None)
        .await;
    app.wait_for_subscriptions(1).await;
    api.transition(&b.admin_key, &pb, "FUNDED", None).await;
    let pa = api.create_position(&a.admin_key, &a.asset_id).await;
    assert_eq!(key_of(&ws.next_event("1").await), (pa, 1));
    let marker = api.create_position(&a.admin_key, &a.asset_id).await;
    ws.expect_exactly(&[("1", (marker, 1))]).await;
}

async fn resume_after_disconnect_delivers_exactly_the_missed_events_then_live(app: TestApp) {
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let filter = json!({"assetId": tenant.asset_id});
    let mut ws = app.connect_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", filter.clone(), None).await;
    app.wait_for_subscriptions(1).await;
    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    api.transition(&tenant.admin_key, &p, "FUNDED", None).await;
    let first = ws.next_event("1").await;
    let second = ws.next_event("1").await;
    assert_eq!(key_of(&first), (p.clone(), 1));
    assert_eq!(key_of(&second), (p.clone(), 2));
    let cursor = string(&second["cursor"]);
    drop(ws);
    app.wait_for_subscriptions(0).await;

    // Missed while away.
    api.transition(&tenant.admin_key, &p, "PARTIALLY_RELEASED", Some("100"))
        .await;
    let q = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    api.transition(&tenant.admin_key, &p, "PARTIALLY_RELEASED", Some("100"))
        .await;

    let mut ws = app.connect_with_key(&tenant.admin_key).await;
    ws.subscribe_events("1", filter, Some(&cursor)).await;
    let replayed: Vec<(String, i64)> = ws.events(3).await.iter().map(|(_, e)| key_of(e)).collect();
    assert_eq!(
        replayed,
        vec![(p.clone(), 3), (q.clone(), 1), (p.clone(), 4)],
        "exactly the missed events, in commit order"
    );
    app.wait_for_subscriptions(1).await;
    api.transition(&tenant.admin_key, &p, "RELEASED", None)
        .await;
    api.transition(&tenant.admin_key, &q, "CANCELLED", None)
        .await;
    let live: Vec<(String, i64)> = ws.events(2).await.iter().map(|(_, e)| key_of(e)).collect();
    assert_eq!(live, vec![(p, 5), (q, 2)], "then live, without a duplicate");
    let marker = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    ws.expect_exactly(&[("1", (marker, 1))]).await;
}

async fn a_subscription_that_fails_validation_gets_an_error_message(app: TestApp) {
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let mut ws = app.connect_with_key(&tenant.admin_key).await;
    let cases: [(&str, &str, Value, &str); 6] = [
        (
            "unknown-field",
            "subscription { positionEvents { id noSuchField } }",
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "parse",
            "subscription { positionEvents { id ",
            json!({}),
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            "bad-enum",
            SUBSCRIPTION,
            json!({"filter": {"toStates": ["PAID"]}}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "bad-cursor",
            SUBSCRIPTION,
            json!({"after": "not-a-cursor"}),
            "BAD_USER_INPUT",
        ),
        (
            "bad-id",
            SUBSCRIPTION,
            json!({"filter": {"positionId": "not-a-uuid"}}),
            "BAD_USER_INPUT",
        ),
        (
            "query-not-subscription",
            "query { viewer { role } }",
            json!({}),
            "",
        ),
    ];
    for (id, query, variables, code) in cases {
        ws.subscribe(id, query, variables).await;
        let message = ws.next_json().await;
        if code.is_empty() {
            // graphql-transport-ws allows single-result operations: one `next`, then `complete`.
            assert_eq!(message["type"], "next", "{message}");
            assert_eq!(message["payload"]["data"]["viewer"]["role"], "ADMIN");
            assert_eq!(ws.next_json().await, json!({"type": "complete", "id": id}));
            continue;
        }
        assert_eq!(message["type"], "error", "{id}: {message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"].is_array(), "errors as a list: {message}");
        assert_eq!(error_code(&message), code, "{id}: {message}");
    }
    app.wait_for_subscriptions(0).await;

    // The socket still works.
    ws.subscribe_events("ok", json!({"assetId": tenant.asset_id}), None)
        .await;
    app.wait_for_subscriptions(1).await;
    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    assert_eq!(key_of(&ws.next_event("ok").await), (p, 1));
}

async fn concurrent_writers_and_a_mid_stream_resume_lose_and_double_nothing(app: TestApp) {
    const WRITERS: usize = 20;
    /// Events per writer before the resume (create, FUNDED); then two partial releases and
    /// RELEASED.
    const PHASE_ONE: usize = 2;
    const EVENTS: usize = 5;
    const BEFORE_RESUME: usize = 25;
    // The resumer leaves while phase one is still being delivered.
    const _: () = assert!(PHASE_ONE * WRITERS > BEFORE_RESUME);

    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let filter = json!({"assetId": tenant.asset_id});
    // Hears everything on one socket.
    let mut steady = app.connect_with_key(&tenant.admin_key).await;
    steady
        .subscribe_events("steady", filter.clone(), None)
        .await;
    // Leaves mid-stream and resumes with `after` while the writers go on.
    let mut resumer = app.connect_with_key(&tenant.admin_key).await;
    resumer.subscribe_events("r", filter.clone(), None).await;
    app.wait_for_subscriptions(2).await;

    let (go, go_rx) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let api = api.clone();
        let key = tenant.admin_key.clone();
        let asset = tenant.asset_id.clone();
        let mut go = go_rx.clone();
        writers.push(tokio::spawn(async move {
            let p = api.create_position(&key, &asset).await;
            api.transition(&key, &p, "FUNDED", None).await;
            go.wait_for(|go| *go).await.expect("the test lives");
            api.transition(&key, &p, "PARTIALLY_RELEASED", Some("100"))
                .await;
            api.transition(&key, &p, "PARTIALLY_RELEASED", Some("200"))
                .await;
            api.transition(&key, &p, "RELEASED", None).await;
            p
        }));
    }

    let mut received: Vec<Value> = resumer
        .events(BEFORE_RESUME)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let cursor = string(&received[BEFORE_RESUME - 1]["cursor"]);
    drop(resumer);
    // Phase two starts before the resume, so replay and live overlap with writes.
    go.send(true).expect("writers wait for the signal");
    let mut resumer = app.connect_with_key(&tenant.admin_key).await;
    resumer.subscribe_events("r", filter, Some(&cursor)).await;
    let total = WRITERS * EVENTS;
    received.extend(
        resumer
            .events(total - BEFORE_RESUME)
            .await
            .into_iter()
            .map(|(_, e)| e),
    );

    let mut positions = Vec::new();
    for writer in writers {
        positions.push(writer.await.expect("a writer finished"));
    }
    let mut durable = BTreeSet::new();
    for p in &positions {
        for event in api.durable_events(&tenant.admin_key, p).await {
            durable.insert((p.clone(), event["version"].as_i64().expect("a version")));
        }
    }
    assert_eq!(durable.len(), total);

    let steady_events: Vec<Value> = steady
        .events(total)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    for (who, events) in [("resumer", &received), ("steady", &steady_events)] {
        let keys: Vec<(String, i64)> = events.iter().map(key_of).collect();
        let unique: BTreeSet<(String, i64)> = keys.iter().cloned().collect();
        assert_eq!(unique.len(), keys.len(), "{who} got a duplicate");
        assert_eq!(unique, durable, "{who} missed events or got foreign ones");
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        for (position, version) in keys {
            let previous = last.insert(position.clone(), version).unwrap_or(0);
            assert_eq!(version, previous + 1, "{who}: {position} out of order");
        }
    }
    let marker = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    resumer.expect_exactly(&[("r", (marker.clone(), 1))]).await;
    steady.expect_exactly(&[("steady", (marker, 1))]).await;
}

async fn the_legacy_graphql_ws_subprotocol_receives_events(app: TestApp) {
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let mut ws = WsClient::connect(&app.ws_url(), Dialect::Legacy).await;
    assert_eq!(ws.protocol.as_deref(), Some("graphql-ws"));
    ws.init_with_key(&tenant.admin_key).await;
    ws.subscribe_events("a", json!({"assetId": tenant.asset_id}), None)
        .await;
    app.wait_for_subscriptions(1).await;
    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    api.transition(&tenant.admin_key, &p, "FUNDED", None).await;
    assert_eq!(key_of(&ws.next_event("a").await), (p.clone(), 1));
    let funded = ws.next_event("a").await;
    assert_eq!(key_of(&funded), (p.clone(), 2));
    assert_eq!(funded["toState"], "FUNDED");

    ws.complete("a").await; // `stop`
    assert_eq!(ws.next_json().await, json!({"type": "complete", "id": "a"}));
    app.wait_for_subscriptions(0).await;
    api.transition(&tenant.admin_key, &p, "RELEASED", None)
        .await;

    // A refused start is a legacy `error` with one error object; it is also the next message,
    // so the RELEASED event of the stopped subscription was not delivered.
    ws.subscribe("bad", "subscription { positionEvents { nope } }", json!({}))
        .await;
    let message = ws.next_json().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(error_code(&message), "GRAPHQL_VALIDATION_FAILED");

    ws.send_json(json!({"type": "connection_terminate"})).await;
    ws.expect_close(1000).await;
}

async fn the_graphql_ws_reference_client_receives_events(app: TestApp) {
    let Some(node) = NodeClients::find(
        "the graphql-ws reference client test",
        &["graphql-ws", "ws", "graphql"],
    ) else {
        return;
    };
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    let child = node
        .command("graphql-ws-client.mjs")
        .args([
            app.ws_url(),
            tenant.admin_key.clone(),
            p.clone(),
            "3".to_owned(),
            "20000".to_owned(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node starts");
    // The script exits by itself (after 3 events, or its own 20 s timeout).
    let output = tokio::task::spawn_blocking(move || child.wait_with_output());
    // Node itself must start first, which can take a while on a loaded machine.
    app.wait_for_subscriptions_within(1, Duration::from_secs(15))
        .await;
    api.transition(&tenant.admin_key, &p, "FUNDED", None).await;
    api.transition(&tenant.admin_key, &p, "PARTIALLY_RELEASED", Some("10"))
        .await;
    api.transition(&tenant.admin_key, &p, "RELEASED", None)
        .await;
    let output = tokio::time::timeout(Duration::from_secs(25), output)
        .await
        .expect("the node client exits")
        .expect("joined")
        .expect("node ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node exited with {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let events: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
        .collect();
    let got: Vec<(i64, String)> = events
        .iter()
        .map(|e| {
            (
                e["version"].as_i64().expect("a version"),
                string(&e["toState"]),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "FUNDED".to_owned()),
            (3, "PARTIALLY_RELEASED".to_owned()),
            (4, "RELEASED".to_owned())
        ],
        "stderr:\n{stderr}"
    );
    // Breaking out of the iterator completes the subscription; disposing closes the socket.
    app.wait_for_subscriptions(0).await;
}

// ---------------------------------------------------------------------------------------------
// A subscriber that falls behind (memory store only: overflowing the bus takes more than 4096
// events, written here straight into the store; over HTTP, or on PostgreSQL, that is too slow.
// Falling behind the bus is not an error: the feed catches up from the log)
// ---------------------------------------------------------------------------------------------

/// Two events with this much metadata cannot fit in the loopback socket buffers (a few MiB) of
/// a client that does not read: the server's send of the first blocks until the client reads.
const HUGE_METADATA: usize = 8 * 1024 * 1024;
/// More than the bus keeps for one listener (4096), all published while the socket is stalled.
const LAGGING_EVENTS: usize = 4500;

const BIG_SUBSCRIPTION: &str = "subscription($filter: PositionEventFilter) {
  positionEvents(filter: $filter) { cursor version metadata }
}";

const SMALL_SUBSCRIPTION: &str = "subscription($filter: PositionEventFilter, $after: String) {
  positionEvents(filter: $filter, after: $after) { cursor version }
}";

/// Partial releases of one position, written through the store (so published on its bus).
pub(crate) struct DirectWriter {
    store: Arc<dyn Store>,
    position: Position,
}

impl DirectWriter {
    pub(crate) async fn new(store: &Arc<dyn Store>, id: &str) -> Self {
        let id = PositionId(Uuid::parse_str(id).expect("a UUID"));
        let mut found = store
            .positions_by_ids(Scope::All, &[id])
            .await
            .expect("readable");
        Self {
            store: Arc::clone(store),
            position: found.pop().expect("the position exists"),
        }
    }

    pub(crate) async fn partial_releases(&mut self, n: usize, metadata: Option<&JsonObject>) {
        for _ in 0..n {
            let mut step = transition_releasing(
                &self.position,
                PositionState::PartiallyReleased,
                Some("0.00000001"),
            );
            if let Some(metadata) = metadata {
                step.event.metadata = Some(metadata.clone());
            }
            let (position, _) = applied(self.store.transition_position(step).await);
            self.position = position;
        }
    }
}

/// A memory-store app whose sockets queue at most `send_buffer` messages (and wait 30 s on a
/// reader that stalls), with a tenant and one FUNDED position (version 2): where the cases of
/// subscribers that stop reading start. The store is returned for writing events straight in.
pub(crate) async fn funded_position_on_a_memory_app(
    send_buffer: usize,
) -> (TestApp, Arc<dyn Store>, Tenant, String) {
    let store = memory_store();
    let app = TestApp::new(TestStore::shared(Arc::clone(&store)))
        .with_config(|settings| {
            settings.websocket.send_buffer = send_buffer;
            settings.websocket.send_timeout = Duration::from_secs(30);
        })
        .spawn()
        .await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    api.transition(&tenant.admin_key, &p, "FUNDED", None).await;
    (app, store, tenant, p)
}

/// A FUNDED position (version 2) with a subscriber on it that does not read, and the server
/// blocked sending it a huge event (versions 3 and 4 carry `HUGE_METADATA` each). Returns the
/// app, the store writer, the tenant and the socket.
async fn stalled_subscriber() -> (TestApp, DirectWriter, Tenant, WsClient) {
    let (app, store, tenant, p) = funded_position_on_a_memory_app(1).await;
    let mut ws = app.connect_with_key(&tenant.admin_key).await;
    ws.subscribe("1", BIG_SUBSCRIPTION, json!({"filter": {"positionId": p}}))
        .await;
    app.wait_for_subscriptions(1).await;
    let mut writer = DirectWriter::new(&store, &p).await;
    let mut huge = JsonObject::new();
    huge.insert("blob".to_owned(), json!("x".repeat(HUGE_METADATA)));
    writer.partial_releases(2, Some(&huge)).await;
    // The first bytes of the first huge event on the client's socket (peeked, not consumed)
    // mean the server is inside that send, which cannot finish until the client reads.
    let MaybeTlsStream::Plain(tcp) = ws.socket.get_ref() else {
        panic!("a plain TCP websocket")
    };
    let mut first_bytes = [0_u8; 16];
    tokio::time::timeout(WAIT, tcp.peek(&mut first_bytes))
        .await
        .expect("the server starts sending the huge event")
        .expect("peek");
    (app, writer, tenant, ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_the_bus_ran_past_gets_every_event_in_order_once_it_reads_again() {
    let (_app, mut writer, _tenant, mut ws) = stalled_subscriber().await;
    // More than the bus keeps for a reader that is not reading: the feed, blocked on the
    // socket's queue, misses them on the bus and must take them from the log.
    writer.partial_releases(LAGGING_EVENTS, None).await;
    let last_version = i64::try_from(4 + LAGGING_EVENTS).expect("small");

    for version in 3..=last_version {
        let event = ws.next_event("1").await;
        assert_eq!(event["version"], version, "no gap, no duplicate, no error");
    }
    // A marker: the next message must be this event, so nothing else came in between.
    writer.partial_releases(1, None).await;
    let marker = ws.next_event("1").await;
    assert_eq!(marker["version"], last_version + 1, "{marker}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_while_its_socket_is_stalled_still_closes_the_socket() {
    let (app, mut writer, tenant, mut ws) = stalled_subscriber().await;
    app.api().revoke_key(&tenant.admin_key_id).await;
    // The bus moves on by more than it keeps for a listener that is not reading.
    writer.partial_releases(LAGGING_EVENTS, None).await;

    let mut seen = Vec::new();
    loop {
        // Once the client reads, a live session notices the revocation at once.
        match ws.receive(WAIT).await {
            Received::Json(message) => seen.push(message["type"].clone()),
            Received::Closed(code) => {
                assert_eq!(code, Some(4403), "after {seen:?}");
                return;
            }
            Received::Timeout => break,
        }
    }
    // Still open: show what the revoked key can still do.
    ws.subscribe("after-revocation", SMALL_SUBSCRIPTION, json!({}))
        .await;
    app.wait_for_subscriptions(1).await;
    writer.partial_releases(1, None).await;
    let still = ws.receive(WAIT).await;
    panic!(
        "the key was revoked while the server was blocked sending to its socket, and the \
         socket was never closed: after the messages {seen:?} it stayed open, and a new \
         subscription on it then got {still:?}"
    );
}
