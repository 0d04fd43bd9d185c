//! Websocket subscription groups (issue 12): identical `positionEvents` subscriptions share
//! one operation, so an event is resolved (its nested fields loaded) and serialized once per
//! group, whatever the number of members; each member still gets exactly the events committed
//! after its own start, in order, once; tenants, roles and documents never share a group; and
//! a member that stops reading does not hold the others back.
//!
//! Nothing here sleeps as proof: tests wait on the subscription gauge, the group gauges on
//! `/metrics`, and the messages themselves.

use super::fixtures::seed_tenant;
use super::support::{TestApp, WAIT};
use super::ws_support::{Dialect, WsClient, key_of, string, ws_on_both_stores};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

ws_on_both_stores!(
    identical_subscriptions_share_one_group_and_each_member_gets_every_event_once_in_order,
    a_member_joining_a_running_group_gets_exactly_the_events_committed_after_it_joined,
    institutions_and_roles_with_the_same_document_never_share_a_group_or_an_event,
    nested_fields_are_loaded_once_per_group_whatever_the_number_of_members,
);

/// A nested selection: `position` and its `asset` are loaded for every event.
const NESTED: &str = "subscription {
  positionEvents { id version toState position { id state asset { label } } }
}";

async fn metric(app: &TestApp, name: &str) -> u64 {
    app.metric(name).await
}

/// Waits until `/metrics` shows `groups` open groups serving `members` subscriptions.
async fn wait_for_groups(app: &TestApp, groups: u64, members: u64) {
    let started = Instant::now();
    loop {
        let now = (
            metric(app, "escrowgrid_subscription_groups").await,
            metric(app, "escrowgrid_subscription_group_members").await,
        );
        if now == (groups, members) {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "expected {groups} groups of {members} members in all, /metrics says {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn identical_subscriptions_share_one_group_and_each_member_gets_every_event_once_in_order(
    app: TestApp,
) {
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    // Four sockets (one speaking the legacy protocol), one of them with two subscriptions.
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(app.connect_with_key(&tenant.admin_key).await);
    }
    let mut legacy = WsClient::connect(&app.ws_url(), Dialect::Legacy).await;
    legacy.init_with_key(&tenant.admin_key).await;
    sockets.push(legacy);
    for ws in &mut sockets {
        ws.subscribe("events", NESTED, json!({})).await;
    }
    sockets[0].subscribe("again", NESTED, json!({})).await;
    app.wait_for_subscriptions(5).await;
    wait_for_groups(&app, 1, 5).await;
    let resolved_before = metric(&app, "escrowgrid_subscription_group_events_total").await;

    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    let q = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    api.transition(&tenant.admin_key, &p, "FUNDED", None).await;
    api.transition(&tenant.admin_key, &q, "CANCELLED", None)
        .await;
    api.transition(&tenant.admin_key, &p, "PARTIALLY_RELEASED", Some("10"))
        .await;
    api.transition(&tenant.admin_key, &p, "RELEASED", None)
        .await;
    let expected = vec![
        (p.clone(), 1),
        (q.clone(), 1),
        (p.clone(), 2),
        (q.clone(), 2),
        (p.clone(), 3),
        (p.clone(), 4),
    ];

    let (first, rest) = sockets.split_at_mut(1);
    let mut both: Vec<(String, (String, i64))> = Vec::new();
    for (id, event) in first[0].events(2 * expected.len()).await {
        assert_eq!(event["position"]["asset"]["label"], "Acme Bank project");
        both.push((id, key_of(&event)));
    }
    for id in ["events", "again"] {
        let got: Vec<(String, i64)> = both
            .iter()
            .filter(|(of, _)| of == id)
            .map(|(_, key)| key.clone())
            .collect();
        assert_eq!(got, expected, "subscription {id} on the first socket");
    }
    for ws in rest.iter_mut() {
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            let event = ws.next_event("events").await;
            assert!(event["position"]["state"].is_string(), "{event}");
            got.push(key_of(&event));
        }
        assert_eq!(got, expected, "a {:?} member", ws.dialect);
    }
    // One resolution per event for the five members.
    assert_eq!(
        metric(&app, "escrowgrid_subscription_group_events_total").await - resolved_before,
        6
    );
    let marker = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    first[0]
        .expect_exactly(&[
            ("events", (marker.clone(), 1)),
            ("again", (marker.clone(), 1)),
        ])
        .await;
    for ws in rest.iter_mut() {
        ws.expect_exactly(&[("events", (marker.clone(), 1))]).await;
    }

    // When the last member leaves, the group goes.
    first[0].complete("again").await;
    wait_for_groups(&app, 1, 4).await;
    drop(sockets);
    app.wait_for_subscriptions(0).await;
    wait_for_groups(&app, 0, 0).await;
}

async fn a_member_joining_a_running_group_gets_exactly_the_events_committed_after_it_joined(
    app: TestApp,
) {
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let mut early = app.connect_with_key(&tenant.admin_key).await;
    early.subscribe("e", NESTED, json!({})).await;
    app.wait_for_subscriptions(1).await;

    // One writer, one mutation at a time, so commit order is the order of `done`; it writes
    // until told to stop, then a few more events.
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let api = api.clone();
        let key = tenant.admin_key.clone();
        let asset = tenant.asset_id.clone();
        let done = Arc::clone(&done);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut written = Vec::new();
            let mut after_stop = 0;
            while after_stop < 3 {
                if stop.load(Ordering::SeqCst) {
                    after_stop += 1;
                }
                let p = api.create_position(&key, &asset).await;
                written.push((p.clone(), 1));
                done.fetch_add(1, Ordering::SeqCst);
                api.transition(&key, &p, "FUNDED", None).await;
                written.push((p, 2));
                done.fetch_add(1, Ordering::SeqCst);
            }
            written
        })
    };
    // Join while the writer runs and the group is busy delivering.
    let mut seen_early = Vec::new();
    for _ in 0..6 {
        seen_early.push(key_of(&early.next_event("e").await));
    }
    let mut late = app.connect_with_key(&tenant.admin_key).await;
    let committed_before_joining = done.load(Ordering::SeqCst);
    late.subscribe("l", NESTED, json!({})).await;
    app.wait_for_subscriptions(2).await;
    let started_after_joined = done.load(Ordering::SeqCst) + 1;
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.expect("the writer finished");
    assert!(started_after_joined < written.len());
    wait_for_groups(&app, 1, 2).await;

    for _ in seen_early.len()..written.len() {
        seen_early.push(key_of(&early.next_event("e").await));
    }
    assert_eq!(
        seen_early, written,
        "the early member gets everything once, in order"
    );
    // The late member's events are a suffix of the log: no gap, no duplicate, nothing from
    // before its subscribe was sent, everything from after it was counted.
    let first = key_of(&late.next_event("l").await);
    let from = written
        .iter()
        .position(|key| *key == first)
        .unwrap_or_else(|| panic!("{first:?} was never written"));
    assert!(
        from >= committed_before_joining,
        "the late member got event #{from}, committed before it subscribed (#{committed_before_joining})"
    );
    assert!(
        from <= started_after_joined,
        "the late member missed events from #{started_after_joined} on; its first was #{from}"
    );
    let mut seen_late = vec![first];
    for _ in from + 1..written.len() {
        seen_late.push(key_of(&late.next_event("l").await));
    }
    assert_eq!(seen_late, written[from..], "in order, once");
    let marker = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    early.expect_exactly(&[("e", (marker.clone(), 1))]).await;
    late.expect_exactly(&[("l", (marker, 1))]).await;
}

async fn institutions_and_roles_with_the_same_document_never_share_a_group_or_an_event(
    app: TestApp,
) {
    let api = app.api();
    let a = seed_tenant(&api, "Acme Bank").await;
    let b = seed_tenant(&api, "Borealis Fund").await;
    let mut a_admins = Vec::new();
    let mut b_admins = Vec::new();
    for _ in 0..2 {
        a_admins.push(app.connect_with_key(&a.admin_key).await);
        b_admins.push(app.connect_with_key(&b.admin_key).await);
    }
    let mut a_reader = app.connect_with_key(&a.read_only_key).await;
    let mut root = app.connect_with_key(&app.root_key).await;
    for ws in a_admins
        .iter_mut()
        .chain(b_admins.iter_mut())
        .chain([&mut a_reader, &mut root])
    {
        ws.subscribe("all", NESTED, json!({})).await;
    }
    app.wait_for_subscriptions(6).await;
    // A's admins, B's admins, A's read-only key, the root key.
    wait_for_groups(&app, 4, 6).await;

    // B's events first, then A's: A's first message must be A's.
    let pb = api.create_position(&b.admin_key, &b.asset_id).await;
    api.transition(&b.admin_key, &pb, "FUNDED", None).await;
    let pa = api.create_position(&a.admin_key, &a.asset_id).await;
    for ws in a_admins.iter_mut().chain([&mut a_reader]) {
        assert_eq!(key_of(&ws.next_event("all").await), (pa.clone(), 1));
    }
    for ws in &mut b_admins {
        assert_eq!(key_of(&ws.next_event("all").await), (pb.clone(), 1));
        assert_eq!(key_of(&ws.next_event("all").await), (pb.clone(), 2));
    }
    let seen: Vec<(String, i64)> = root
        .events(3)
        .await
        .iter()
        .map(|(_, event)| key_of(event))
        .collect();
    assert_eq!(
        seen,
        vec![(pb.clone(), 1), (pb.clone(), 2), (pa.clone(), 1)]
    );

    let ma = api.create_position(&a.admin_key, &a.asset_id).await;
    let mb = api.create_position(&b.admin_key, &b.asset_id).await;
    for ws in a_admins.iter_mut().chain([&mut a_reader]) {
        ws.expect_exactly(&[("all", (ma.clone(), 1))]).await;
    }
    for ws in &mut b_admins {
        ws.expect_exactly(&[("all", (mb.clone(), 1))]).await;
    }
    root.expect_exactly(&[("all", (ma, 1)), ("all", (mb, 1))])
        .await;
}

/// `escrowgrid_db_statements_total` growth from before a commit until every member has the
/// event, the least of three commits (PostgreSQL's listener reads the log in the background
/// every 2 s when idle; such a read may land inside one).
async fn statements_per_event(app: &TestApp, position: &str, members: &mut [WsClient]) -> u64 {
    let mut least = u64::MAX;
    for _ in 0..3 {
        let before = metric(app, "escrowgrid_db_statements_total").await;
        // The root key: its authentication reads nothing.
        app.api()
            .transition(&app.root_key, position, "PARTIALLY_RELEASED", Some("1"))
            .await;
        for ws in members.iter_mut() {
            let event = ws.next_event("n").await;
            assert_eq!(event["position"]["id"], position);
            assert_eq!(event["position"]["asset"]["label"], "Acme Bank project");
        }
        least = least.min(metric(app, "escrowgrid_db_statements_total").await - before);
    }
    least
}

async fn nested_fields_are_loaded_once_per_group_whatever_the_number_of_members(app: TestApp) {
    const MEMBERS: usize = 8;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let position = tenant.position_id.clone();
    let mut members = vec![app.connect_with_key(&tenant.admin_key).await];
    members[0].subscribe("n", NESTED, json!({})).await;
    app.wait_for_subscriptions(1).await;
    let alone = statements_per_event(&app, &position, &mut members).await;

    for _ in 1..MEMBERS {
        let mut ws = app.connect_with_key(&tenant.admin_key).await;
        ws.subscribe("n", NESTED, json!({})).await;
        members.push(ws);
    }
    let count = i64::try_from(MEMBERS).expect("small");
    app.wait_for_subscriptions(count).await;
    wait_for_groups(&app, 1, u64::try_from(MEMBERS).expect("small")).await;
    let together = statements_per_event(&app, &position, &mut members).await;
    eprintln!(
        "statements per event: {alone} with one member, {together} with {MEMBERS} members in one group"
    );
    assert_eq!(
        together, alone,
        "the event's position and asset must be loaded once per group, not per member"
    );
}

// ---------------------------------------------------------------------------------------------
// A member that stops reading (memory store: the stalled socket needs events written straight
// into the store, as in `subscriptions`)
// ---------------------------------------------------------------------------------------------

const METADATA_SUBSCRIPTION: &str = "subscription($filter: PositionEventFilter) {
  positionEvents(filter: $filter) { version metadata position { id } }
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_holds_nobody_back_and_catches_up_in_order() {
    const SMALL_EVENTS: usize = 30;
    let (app, store, tenant, p) = super::subscriptions::funded_position_on_a_memory_app(4).await;
    let filter = json!({"filter": {"positionId": p}});
    let mut stalled = app.connect_with_key(&tenant.admin_key).await;
    stalled
        .subscribe("s", METADATA_SUBSCRIPTION, filter.clone())
        .await;
    let mut reader = app.connect_with_key(&tenant.admin_key).await;
    reader.subscribe("r", METADATA_SUBSCRIPTION, filter).await;
    app.wait_for_subscriptions(2).await;
    wait_for_groups(&app, 1, 2).await;

    // Two events too large for the stalled client's socket buffers, then many small ones:
    // its queue fills while the server is stuck writing the first large one.
    let mut huge = serde_json::Map::new();
    huge.insert("blob".to_owned(), json!("x".repeat(8 * 1024 * 1024)));
    let mut writer = super::subscriptions::DirectWriter::new(&store, &p).await;
    writer.partial_releases(2, Some(&huge)).await;
    writer.partial_releases(SMALL_EVENTS, None).await;
    let last = i64::try_from(4 + SMALL_EVENTS).expect("small");

    // The reader gets everything while the other member reads nothing.
    for version in 3..=last {
        let event = reader.next_event("r").await;
        assert_eq!(
            event["version"],
            version,
            "{}",
            string(&event["position"]["id"])
        );
    }
    assert!(
        metric(&app, "escrowgrid_subscription_group_detached_total").await >= 1,
        "the stalled member left its group"
    );
    // Now it reads: every event, in order, once (caught up from the log).
    for version in 3..=last {
        let event = stalled.next_event("s").await;
        assert_eq!(event["version"], version);
    }
    writer.partial_releases(1, None).await;
    for (ws, id) in [(&mut stalled, "s"), (&mut reader, "r")] {
        let marker: Value = ws.next_event(id).await;
        assert_eq!(marker["version"], last + 1, "{marker}");
    }
}

/// A group writes its members' frames to their sockets itself, not through each socket's
/// queue and task, and for every member of a pass: more members than tokio's cooperative
/// budget allows socket operations in one task turn (about 128), which once turned all but
/// the first writes of a pass into queued ones without any test noticing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_writes_every_member_s_frame_to_its_socket_itself() {
    const MEMBERS: u64 = 150;
    let app = TestApp::new(super::support::TestStore::memory())
        .spawn()
        .await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let mut sockets = Vec::new();
    for _ in 0..MEMBERS {
        let mut ws = app.connect_with_key(&tenant.admin_key).await;
        ws.subscribe("events", NESTED, json!({})).await;
        sockets.push(ws);
    }
    wait_for_groups(&app, 1, MEMBERS).await;
    let before = (
        metric(&app, "escrowgrid_subscription_group_deliveries_total").await,
        metric(&app, "escrowgrid_subscription_group_written_total").await,
    );

    let p = api
        .create_position(&tenant.admin_key, &tenant.asset_id)
        .await;
    for ws in &mut sockets {
        ws.expect_exactly(&[("events", (p.clone(), 1))]).await;
    }
    let after = (
        metric(&app, "escrowgrid_subscription_group_deliveries_total").await,
        metric(&app, "escrowgrid_subscription_group_written_total").await,
    );
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (MEMBERS, MEMBERS),
        "(delivered, of which written directly)"
    );
}
