//! The service's position-event feed over the memory store, without HTTP: commit order, the
//! filter and tenancy, resume after a cursor, and a subscriber that lags behind the bus.

use crate::support::{Tenant, applied, memory_store, transition};
use escrowgrid::adapters::memory::MemoryStore;
use escrowgrid::domain::model::{EventSeq, PositionEvent};
use escrowgrid::domain::{ApiKeyId, ApiKeyRole, PositionState};
use escrowgrid::ports::Store;
use escrowgrid::service::reads::EventFilter;
use escrowgrid::service::{ApiKeyToken, EventFeed, ServiceError, Services, Viewer};
use futures::StreamExt as _;
use std::sync::Arc;
use std::time::Duration;

/// Generous: only a hang takes this long.
const WAIT: Duration = Duration::from_secs(10);

fn services(store: &Arc<dyn Store>) -> Services {
    Services::new(Arc::clone(store), ApiKeyToken::new("root-key".into()))
}

fn reader_of(tenant: &Tenant) -> Viewer {
    Viewer::institution_key(tenant.id(), ApiKeyId::new(), ApiKeyRole::ReadOnly)
}

async fn open_feed(
    services: &Services,
    viewer: Viewer,
    filter: EventFilter,
    after: Option<EventSeq>,
) -> EventFeed {
    let filter = services
        .reader(viewer)
        .permit(filter)
        .expect("the filter is the caller's own");
    services
        .position_events(&viewer, filter, after)
        .await
        .expect("the feed starts")
}

async fn next(feed: &mut EventFeed) -> PositionEvent {
    tokio::time::timeout(WAIT, feed.next())
        .await
        .expect("an event arrives")
        .expect("the feed is open")
        .expect("the event is delivered")
}

/// Funds a new position on the tenant's asset: two events (CREATED, FUNDED).
async fn funded(store: &Arc<dyn Store>, tenant: &Tenant) -> Vec<PositionEvent> {
    let (position, created) = applied(
        store
            .create_position(crate::support::creation(&tenant.asset, "100"))
            .await,
    );
    let (_, funded) = applied(
        store
            .transition_position(transition(&position, PositionState::Funded))
            .await,
    );
    vec![created, funded]
}

#[tokio::test]
async fn the_feed_delivers_every_commit_after_it_starts_in_commit_order() {
    let store = memory_store();
    let services = services(&store);
    let tenant = Tenant::seed(&store, "Acme Bank").await;
    let before = funded(&store, &tenant).await;
    let mut feed = open_feed(&services, Viewer::root(), EventFilter::default(), None).await;
    assert_eq!(services.subscription_gauge().current(), 1);

    let mut written = Vec::new();
    for _ in 0..3 {
        written.extend(funded(&store, &tenant).await);
    }
    let mut received = Vec::new();
    for _ in 0..written.len() {
        received.push(next(&mut feed).await);
    }
    assert_eq!(
        received.iter().map(|e| e.id).collect::<Vec<_>>(),
        written.iter().map(|e| e.id).collect::<Vec<_>>(),
        "exactly the events committed after the start, none from before ({} earlier)",
        before.len()
    );
    assert!(received.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    drop(feed);
    assert_eq!(services.subscription_gauge().current(), 0);
}

#[tokio::test]
async fn the_feed_keeps_to_its_filter_and_the_callers_institution() {
    let store = memory_store();
    let services = services(&store);
    let acme = Tenant::seed(&store, "Acme Bank").await;
    let globex = Tenant::seed(&store, "Globex").await;
    let filter = EventFilter {
        to_states: Some(vec![PositionState::Funded]),
        ..EventFilter::default()
    };
    let mut feed = open_feed(&services, reader_of(&acme), filter, None).await;

    let _ = funded(&store, &globex).await;
    let acme_events = funded(&store, &acme).await;
    let _ = funded(&store, &globex).await;
    let marker = funded(&store, &acme).await;

    // Only Acme's FUNDED events, and the marker's comes right after the first: nothing from
    // Globex and no CREATED event slipped in between.
    assert_eq!(next(&mut feed).await.id, acme_events[1].id);
    assert_eq!(next(&mut feed).await.id, marker[1].id);
}

#[tokio::test]
async fn a_filter_naming_another_institution_is_forbidden() {
    let store = memory_store();
    let services = services(&store);
    let acme = Tenant::seed(&store, "Acme Bank").await;
    let globex = Tenant::seed(&store, "Globex").await;
    let refused = services.reader(reader_of(&acme)).permit(EventFilter {
        institution_id: Some(globex.id()),
        ..EventFilter::default()
    });
    assert!(
        matches!(refused, Err(ServiceError::Forbidden(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_feed_resumed_after_a_seq_replays_the_rest_then_goes_live() {
    let store = memory_store();
    let services = services(&store);
    let tenant = Tenant::seed(&store, "Acme Bank").await;
    let mut history = Vec::new();
    for _ in 0..3 {
        history.extend(funded(&store, &tenant).await);
    }
    let resume_point = history[1].seq;
    let mut feed = open_feed(
        &services,
        reader_of(&tenant),
        EventFilter::default(),
        Some(resume_point),
    )
    .await;
    let live = funded(&store, &tenant).await;

    let expected: Vec<_> = history[2..].iter().chain(&live).map(|e| e.id).collect();
    let mut received = Vec::new();
    for _ in 0..expected.len() {
        received.push(next(&mut feed).await.id);
    }
    assert_eq!(
        received, expected,
        "no gap and no duplicate across replay and live"
    );
}

#[tokio::test]
async fn a_feed_that_lags_behind_the_bus_catches_up_from_the_log_with_no_gap() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::with_bus_capacity(2));
    let services = services(&store);
    let tenant = Tenant::seed(&store, "Acme Bank").await;
    let mut feed = open_feed(&services, Viewer::root(), EventFilter::default(), None).await;
    // Six events on a two-message bus that nobody reads meanwhile: the bus drops four.
    let mut written = Vec::new();
    for _ in 0..3 {
        written.extend(funded(&store, &tenant).await);
    }
    let mut received = Vec::new();
    for _ in 0..written.len() {
        received.push(next(&mut feed).await.id);
    }
    assert_eq!(
        received,
        written.iter().map(|e| e.id).collect::<Vec<_>>(),
        "every event once, in order, though the bus dropped most of them"
    );
    // Live again afterwards: the next commit arrives through the bus.
    let more = funded(&store, &tenant).await;
    assert_eq!(next(&mut feed).await.id, more[0].id);
    assert_eq!(services.subscription_gauge().current(), 1);
}
