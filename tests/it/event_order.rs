//! The PostgreSQL log's order without a global lock, shown deterministically rather than by a
//! race: transaction A inserts its event and stays open while B commits a later one. Neither a
//! replay nor the live bus may hand out B before A has committed, or a subscriber resuming
//! after B would never see A; once A commits, both arrive, A first. And a feed opened while B
//! is held back starts "from now on": it skips B, which committed before it, and delivers A.

use crate::support::postgres::fresh_store;
use crate::support::{Tenant, applied, creation};
use escrowgrid::domain::model::{EventSeq, Position, PositionEvent};
use escrowgrid::ports::{BusMessage, EventBus as _, EventFilter, PositionEventLog as _, Scope};
use escrowgrid::service::{ApiKeyToken, Services, Viewer};
use futures::{FutureExt as _, StreamExt as _};
use sea_orm::sqlx::{self, Connection as _, PgConnection};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_behind_an_open_transaction_waits_for_it_then_both_arrive_in_order() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let tenant = Tenant::seed(&db.store, "A").await;
    let held = tenant.open(&db.store, "1").await;
    let mut live = db.pg.subscribe();
    let start = db.pg.event_watermark().await.expect("the watermark");

    // A: its event is in (its seq drawn) but not committed.
    let mut a = PgConnection::connect(&db.url).await.expect("connects");
    sqlx::raw_sql("BEGIN").execute(&mut a).await.expect("begun");
    let a_event = insert_event_of(&mut a, &held).await;
    let a_txn: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(&mut a)
        .await
        .expect("A's transaction id");

    // B: a whole write through the store, committed while A is open.
    let (_, b) = applied(db.create_position(creation(&tenant.asset, "2")).await);
    assert!(b.seq.txn > a_txn, "B began after A");

    // The listener has read the log knowing of B's notification, and held it back.
    let status = tokio::time::timeout(WAIT, async {
        loop {
            let status = db.pg.listener_status();
            if status.awaited_txn >= b.seq.txn {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the listener hears B's commit");
    assert!(
        status.published_txn < a_txn,
        "published up to {} while A ({a_txn}) is open",
        status.published_txn
    );
    let heard: Vec<PositionEvent> = std::iter::from_fn(|| live.next().now_or_never().flatten())
        .filter_map(position_event)
        .collect();
    assert!(
        heard.iter().all(|event| event.id != b.id),
        "the bus delivered B before A committed"
    );
    let replay = replay_after(&db.pg, start).await;
    assert!(
        replay.iter().all(|event| event.id != b.id),
        "a replay returned B before A committed: {replay:?}"
    );

    // Held open a while longer, so the listener's re-polling has backed off to its longest
    // pause: the delay printed below is then the worst this path adds. (Pacing only; what is
    // proven is proven by the observations above and below.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqlx::raw_sql("COMMIT")
        .execute(&mut a)
        .await
        .expect("A commits");
    let committed = std::time::Instant::now();

    let mut arrived = heard;
    tokio::time::timeout(WAIT, async {
        while !arrived.iter().any(|event| event.id == b.id) {
            if let Some(event) = live.next().await.and_then(position_event) {
                arrived.push(event);
            }
        }
    })
    .await
    .expect("B arrives once A has committed");
    // A is a bare transaction of another client, so no notification announces it: B waits for
    // the listener's next re-poll.
    eprintln!(
        "B, held back behind A, arrived {:?} after A committed",
        committed.elapsed()
    );
    let order = |events: &[PositionEvent]| -> Vec<uuid::Uuid> {
        events
            .iter()
            .map(|event| event.id.0)
            .filter(|id| *id == a_event || *id == b.id.0)
            .collect()
    };
    assert_eq!(order(&arrived), vec![a_event, b.id.0], "live: A, then B");
    let replay = replay_after(&db.pg, start).await;
    assert_eq!(order(&replay), vec![a_event, b.id.0], "replay: A, then B");
    assert!(replay.windows(2).all(|pair| pair[0].seq < pair[1].seq));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_opened_while_an_event_is_held_back_delivers_what_commits_later_and_only_that() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let services = Services::new(Arc::clone(&db.store), ApiKeyToken::new("root-key".into()));
    let tenant = Tenant::seed(&db.store, "A").await;
    let held = tenant.open(&db.store, "1").await;
    let mut a = PgConnection::connect(&db.url).await.expect("connects");
    sqlx::raw_sql("BEGIN").execute(&mut a).await.expect("begun");
    let a_event = insert_event_of(&mut a, &held).await;
    let (_, b) = applied(db.create_position(creation(&tenant.asset, "2")).await);

    let viewer = Viewer::root();
    let filter = services
        .reader(viewer)
        .permit(EventFilter::default())
        .expect("the root key reads everything");
    let mut feed = services
        .position_events(&viewer, filter, None)
        .await
        .expect("the feed starts");
    sqlx::raw_sql("COMMIT")
        .execute(&mut a)
        .await
        .expect("A commits");
    let (_, c) = applied(db.create_position(creation(&tenant.asset, "3")).await);

    let mut received = Vec::new();
    tokio::time::timeout(WAIT, async {
        while !received
            .iter()
            .any(|event: &PositionEvent| event.id == c.id)
        {
            let event = feed
                .next()
                .await
                .expect("the feed is open")
                .expect("the event is delivered");
            received.push(event);
        }
    })
    .await
    .expect("C arrives");
    let ids: Vec<uuid::Uuid> = received.iter().map(|event| event.id.0).collect();
    assert_eq!(
        ids,
        vec![a_event, c.id.0],
        "A and C committed after the feed started, B before it"
    );
    assert_ne!(b.id, c.id);
}

/// Inserts, inside the open transaction on `connection`, a FUNDED event of `position`; returns
/// the event's id.
async fn insert_event_of(connection: &mut PgConnection, position: &Position) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO position_events (id, position_id, institution_id, asset_id, from_state, \
         to_state, version, at) VALUES ($1, $2, $3, $4, 'CREATED', 'FUNDED', 2, now())",
    )
    .bind(id)
    .bind(position.id.0)
    .bind(position.institution_id.0)
    .bind(position.asset_id.0)
    .execute(connection)
    .await
    .expect("the event is inserted");
    id
}

fn position_event(message: BusMessage) -> Option<PositionEvent> {
    match message {
        BusMessage::PositionEvent(event) => Some(PositionEvent::clone(&event)),
        _ => None,
    }
}

async fn replay_after(
    log: &escrowgrid::adapters::seaorm::PgStore,
    after: EventSeq,
) -> Vec<PositionEvent> {
    log.position_events_after(Scope::All, &EventFilter::default(), after, 1000)
        .await
        .expect("the log is readable")
}
