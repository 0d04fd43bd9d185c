//! `Subscription.positionEvents`: the GraphQL face of the service's event feed (replay after a
//! cursor, then live, with no gap and no duplicate; see `service::event_feed`).

use super::context::{reader, request_context, services};
use super::error::{GqlResult, OrGraphqlError as _, bad_input, to_graphql};
use super::scalars::parse_id;
use super::types::{PositionEventNode, PositionState};
use crate::domain::model::{EventSeq, PositionEvent};
use crate::service::reads::EventFilter;
use async_graphql::{Context, ID, InputObject, Subscription};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::stream::{BoxStream, StreamExt as _};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

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

/// Position id and version, then the log point's transaction and index.
const CURSOR_LEN: usize = 36;
/// Cursors issued before the log recorded transactions: position id, version, index. Every
/// event they can name was written then, and such events sit at transaction 0.
const LEGACY_CURSOR_LEN: usize = 28;

/// The durable identity of an event: position and version fix it, `seq` orders it.
pub(crate) fn event_cursor(event: &PositionEvent) -> String {
    let mut bytes = Vec::with_capacity(CURSOR_LEN);
    bytes.extend_from_slice(event.position_id.0.as_bytes());
    bytes.extend_from_slice(&event.version.to_be_bytes());
    bytes.extend_from_slice(&event.seq.txn.to_be_bytes());
    bytes.extend_from_slice(&event.seq.index.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn cursor_seq(cursor: &str, field: &str) -> GqlResult<EventSeq> {
    let not_a_cursor = || bad_input(field, "is not a PositionEvent cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| not_a_cursor())?;
    let number = |at: usize| -> GqlResult<i64> {
        bytes
            .get(at..at + 8)
            .and_then(|slice| <[u8; 8]>::try_from(slice).ok())
            .map(i64::from_be_bytes)
            .ok_or_else(not_a_cursor)
    };
    match bytes.len() {
        CURSOR_LEN => Ok(EventSeq {
            txn: number(20)?,
            index: number(28)?,
        }),
        LEGACY_CURSOR_LEN => Ok(EventSeq {
            txn: 0,
            index: number(20)?,
        }),
        _ => Err(not_a_cursor()),
    }
}

/// Request data of a transport that resumes by itself (Server-Sent Events' `Last-Event-ID`):
/// the cursor to resume after, which wins over the document's `after`, since it is the last
/// event this very stream delivered.
#[derive(Clone, Debug)]
pub struct ResumeAfter(pub String);

/// Request data of a transport that labels each message with its event's cursor (the SSE
/// `id`), whatever the document selects: the feed files each event's cursor here just before
/// the executor turns that event into a response, one response per event, in order, so the
/// transport takes one cursor per response it receives.
#[derive(Clone, Debug, Default)]
pub struct EventCursors(Arc<Mutex<VecDeque<Option<String>>>>);

impl EventCursors {
    fn push(&self, cursor: Option<String>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(cursor);
    }

    /// The cursor of the event behind the response just received; `None` for a response no
    /// event is behind (a query's, a refusal).
    pub fn take(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .flatten()
    }
}

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Each PositionEvent committed after the subscription starts that matches the filter and
    /// the caller's tenancy, in commit order. With `after` (a `PositionEvent.cursor`), first
    /// every matching event committed after that one. A subscriber that falls behind catches
    /// up from the event log; a connection that cannot take a message for `WS_SEND_TIMEOUT_MS`
    /// is closed, and the client resumes with the last cursor it received.
    async fn position_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<PositionEventFilter>,
        #[graphql(desc = "Resume after this PositionEvent.cursor.")] after: Option<String>,
    ) -> async_graphql::Result<BoxStream<'static, GqlResult<PositionEventNode>>> {
        let viewer = request_context(ctx)?.viewer;
        let filter = filter.unwrap_or_default();
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
            institution_id: filter
                .institution_id
                .as_ref()
                .map(|id| parse_id(id, "filter.institutionId"))
                .transpose()?,
            to_states: filter
                .to_states
                .map(|states| states.into_iter().map(Into::into).collect()),
        };
        let filter = reader(ctx)?.permit(filter).gql()?;
        let after = match ctx.data_opt::<ResumeAfter>() {
            Some(ResumeAfter(cursor)) => Some(cursor_seq(cursor, "Last-Event-ID")?),
            None => after
                .as_deref()
                .map(|cursor| cursor_seq(cursor, "after"))
                .transpose()?,
        };
        let feed = services(ctx)?
            .position_events(&viewer, filter, after)
            .await
            .gql()?;
        let cursors = ctx.data_opt::<EventCursors>().cloned();
        Ok(feed
            .map(move |event| {
                if let Some(cursors) = &cursors {
                    cursors.push(event.as_ref().ok().map(event_cursor));
                }
                event.map(PositionEventNode).map_err(to_graphql)
            })
            .boxed())
    }
}
