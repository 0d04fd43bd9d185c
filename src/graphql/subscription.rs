//! `Subscription.positionEvents`: replay from the durable log after a cursor, then live from
//! the bus, with no gap and no duplicate.
//!
//! Why this is exact: the stream subscribes to the bus *before* it reads the log, so every
//! event is in the log read, on the bus, or both; `seq` decides which copy is new. Stores
//! guarantee `seq` order is commit order (`PositionEventLog`), so once `seq = n` has been
//! delivered no event below `n` can still appear, and "after n" is a complete resume point.

use super::codes::ErrorCode;
use super::context::{request_context, services};
use super::error::{GqlResult, OrGraphqlError as _, bad_input};
use super::scalars::parse_id;
use super::types::{PositionEventNode, PositionState};
use crate::domain::model::PositionEvent;
use crate::ports::{BusMessage, EventFilter, Scope, Store};
use async_graphql::{Context, ID, InputObject, Subscription};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::stream::{BoxStream, StreamExt as _};
use std::collections::VecDeque;
use std::sync::Arc;

/// Log rows read per round trip while replaying.
const REPLAY_PAGE: u32 = 500;

/// Which position events to deliver; every given field must match.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct PositionEventFilter {
    /// Only this position's events.
    position_id: Option<ID>,
    /// Only events of positions on this asset.
    asset_id: Option<ID>,
    /// Only this institution's events (another institution's is FORBIDDEN for institution keys).
    institution_id: Option<ID>,
    /// Only events that moved a position into one of these states.
    to_states: Option<Vec<PositionState>>,
}

/// The durable identity of an event: position and version fix it, `seq` orders it.
pub(crate) fn event_cursor(event: &PositionEvent) -> String {
    let mut bytes = Vec::with_capacity(28);
    bytes.extend_from_slice(event.position_id.0.as_bytes());
    bytes.extend_from_slice(&event.version.to_be_bytes());
    bytes.extend_from_slice(&event.seq.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn cursor_seq(cursor: &str) -> GqlResult<i64> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad_input("after", "is not a PositionEvent cursor"))?;
    let seq: [u8; 8] = bytes
        .get(20..28)
        .filter(|_| bytes.len() == 28)
        .and_then(|tail| tail.try_into().ok())
        .ok_or_else(|| bad_input("after", "is not a PositionEvent cursor"))?;
    Ok(i64::from_be_bytes(seq))
}

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Each PositionEvent committed after the subscription starts that matches the filter and
    /// the caller's tenancy, in commit order. With `after` (a `PositionEvent.cursor`), first
    /// every matching event committed after that one. A subscriber that falls too far behind
    /// gets a `SUBSCRIBER_TOO_SLOW` error and the stream ends; resume with the last cursor it
    /// received.
    async fn position_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<PositionEventFilter>,
        #[graphql(desc = "Resume after this PositionEvent.cursor.")] after: Option<String>,
    ) -> async_graphql::Result<BoxStream<'static, GqlResult<PositionEventNode>>> {
        let viewer = request_context(ctx)?.viewer;
        let services = services(ctx)?;
        let filter = filter.unwrap_or_default();
        let institution_id = filter
            .institution_id
            .as_ref()
            .map(|id| parse_id(id, "filter.institutionId"))
            .transpose()?;
        viewer.check_filter(institution_id).gql()?;
        let filter = EventFilter {
            position_id: filter
                .position_id
                .as_ref()
                .map(|id| parse_id(id, "filter.positionId"))
                .transpose()?,
            asset_id: filter
                .asset_id
                .as_ref()
                .map(|id| parse_id(id, "filter.assetId"))
                .transpose()?,
            institution_id,
            to_states: filter
                .to_states
                .map(|states| states.into_iter().map(Into::into).collect()),
        };
        let after = after.as_deref().map(cursor_seq).transpose()?;

        // Subscribe first: see the module doc.
        let live = services.store().subscribe();
        let store = services.store().clone();
        let (last_seq, replaying) = match after {
            Some(seq) => (seq, true),
            None => (store.latest_event_seq().await.gql()?, false),
        };
        // Counted only once its starting point is fixed: whoever waits on the gauge may then
        // rely on every later commit being delivered.
        let guard = services.subscription_gauge().enter();
        let feed = Feed {
            store,
            scope: viewer.scope(),
            filter,
            last_seq,
            replaying,
            pending: VecDeque::new(),
            live,
            _guard: guard,
        };
        Ok(futures::stream::unfold(Some(feed), |feed| async move {
            let mut feed = feed?;
            match feed.next_event().await {
                Ok(Some(event)) => Some((Ok(PositionEventNode(event)), Some(feed))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
        .boxed())
    }
}

struct Feed {
    store: Arc<dyn Store>,
    scope: Scope,
    filter: EventFilter,
    /// The newest event this subscriber has been given (or decided to skip).
    last_seq: i64,
    replaying: bool,
    pending: VecDeque<PositionEvent>,
    live: BoxStream<'static, BusMessage>,
    _guard: crate::service::GaugeGuard,
}

impl Feed {
    async fn next_event(&mut self) -> GqlResult<Option<PositionEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last_seq = event.seq;
                return Ok(Some(event));
            }
            if self.replaying {
                let page = self
                    .store
                    .position_events_after(self.scope, &self.filter, self.last_seq, REPLAY_PAGE)
                    .await
                    .gql()?;
                self.replaying = page.len() == REPLAY_PAGE as usize;
                self.pending.extend(page);
                continue;
            }
            match self.live.next().await {
                Some(BusMessage::PositionEvent(event)) if event.seq > self.last_seq => {
                    if self.filter.matches(self.scope, &event) {
                        self.pending.push_back(PositionEvent::clone(&event));
                    } else {
                        self.last_seq = event.seq;
                    }
                }
                Some(BusMessage::PositionEvent(_) | BusMessage::ApiKeyRevoked(_)) => {}
                Some(BusMessage::Lagged) => {
                    return Err(ErrorCode::SubscriberTooSlow.resolver_error(
                        "this subscriber fell too far behind and was closed; resubscribe with `after` set to the last cursor received",
                    ));
                }
                None => return Ok(None),
            }
        }
    }
}
