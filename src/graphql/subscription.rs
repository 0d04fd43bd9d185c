//! `Subscription.positionEvents`: the GraphQL face of the service's event feed (replay after a
//! cursor, then live, with no gap and no duplicate; see `service::event_feed`).

use super::context::{reader, request_context, services};
use super::error::{GqlResult, OrGraphqlError as _, bad_input, to_graphql};
use super::limits::ListRows;
use super::scalars::parse_id;
use super::types::{PositionEventNode, PositionState};
use crate::domain::model::EventSeq;
use crate::service::reads::EventFilter;
use crate::service::{CursorRefusal, LiveStart};
use async_graphql::{Context, ID, InputObject, Subscription};
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

/// The log point a client's cursor names, if it is one of ours for an event the caller may see.
fn resume_point(ctx: &Context<'_>, cursor: &str, field: &str) -> GqlResult<EventSeq> {
    let scope = request_context(ctx)?.viewer.scope();
    services(ctx)?
        .event_cursors()
        .open(cursor, scope)
        .map_err(|refusal| match refusal {
            CursorRefusal::NotACursor => bad_input(field, "is not a PositionEvent cursor"),
            CursorRefusal::OtherInstitution => bad_input(
                field,
                "is the cursor of an event of an institution this key cannot read",
            ),
        })
}

/// Request data of a transport that resumes by itself (Server-Sent Events' `Last-Event-ID`):
/// the cursor to resume after, which wins over the document's `after`, since it is the last
/// event this very stream delivered.
#[derive(Clone, Debug)]
pub struct ResumeAfter(pub String);

/// One tag per response of a subscription, filed by the feed right before the executor turns
/// each event into a response (one response per event, in order), so a transport reading the
/// responses takes one tag per response it receives.
struct ResponseTags<T>(Mutex<VecDeque<Option<T>>>);

impl<T> Default for ResponseTags<T> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<T> ResponseTags<T> {
    fn push(&self, tag: Option<T>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(tag);
    }

    /// The tag of the event behind the response just received; `None` for a response no
    /// event is behind (a query's, a refusal, a failure of the feed).
    fn take(&self) -> Option<T> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .flatten()
    }
}

/// Request data of a transport that labels each message with its event's cursor (the SSE
/// `id`), whatever the document selects.
#[derive(Clone, Default)]
pub struct EventCursors(Arc<ResponseTags<String>>);

impl EventCursors {
    /// The cursor of the event behind the response just received; `None` for a response no
    /// event is behind (a query's, a refusal).
    pub fn take(&self) -> Option<String> {
        self.0.take()
    }
}

/// What a transport that shares one feed among many subscribers (websocket subscription
/// groups) hears from it: that the feed is about to fix its starting point, then the point.
pub trait FeedObserver: Send + Sync {
    /// Called right before the feed reads its starting point.
    fn opening(&self);
    /// Called once the feed has fixed the point it starts after.
    fn opened(&self, start: &LiveStart);
}

/// Request data of a subscription whose feed serves several subscribers: the feed is opened
/// without counting it in the subscription gauge (the transport counts its subscribers), its
/// start is reported to `observer`, and, as with `EventCursors`, each event's log point is
/// filed right before the executor turns that event into a response, so the transport knows
/// the point of every response and each subscriber can skip what came before its own start.
/// `resume_after` resumes the feed after a log point, whatever `after` the document names.
#[derive(Clone, Default)]
pub struct SharedFeed(Arc<SharedFeedInner>);

#[derive(Default)]
struct SharedFeedInner {
    resume_after: Option<EventSeq>,
    observer: Option<Arc<dyn FeedObserver>>,
    points: ResponseTags<EventSeq>,
}

impl SharedFeed {
    #[must_use]
    pub fn new(resume_after: Option<EventSeq>, observer: Option<Arc<dyn FeedObserver>>) -> Self {
        Self(Arc::new(SharedFeedInner {
            resume_after,
            observer,
            points: ResponseTags::default(),
        }))
    }

    /// The log point of the event behind the response just received; `None` for a response
    /// no event is behind (a refusal, a failure of the feed).
    pub fn take(&self) -> Option<EventSeq> {
        self.0.points.take()
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
        let shared = ctx.data_opt::<SharedFeed>().cloned();
        let after = match (
            ctx.data_opt::<ResumeAfter>(),
            shared.as_ref().and_then(|shared| shared.0.resume_after),
        ) {
            (_, Some(seq)) => Some(seq),
            (Some(ResumeAfter(cursor)), None) => Some(resume_point(ctx, cursor, "Last-Event-ID")?),
            (None, None) => after
                .as_deref()
                .map(|cursor| resume_point(ctx, cursor, "after"))
                .transpose()?,
        };
        let feed = match &shared {
            Some(shared) => {
                let observer = shared.0.observer.clone();
                if let Some(observer) = &observer {
                    observer.opening();
                }
                let (feed, start) = services(ctx)?
                    .shared_position_events(&viewer, filter, after)
                    .await
                    .gql()?;
                if let Some(observer) = &observer {
                    observer.opened(&start);
                }
                feed
            }
            None => services(ctx)?
                .position_events(&viewer, filter, after)
                .await
                .gql()?,
        };
        let cursors = ctx.data_opt::<EventCursors>().cloned();
        let codec = services(ctx)?.event_cursors().clone();
        let list_rows = ctx.data::<ListRows>()?.clone();
        Ok(feed
            .map(move |event| {
                // Each event is a response of its own, with a list-row budget of its own; the
                // previous event's response is complete before the feed is polled again.
                list_rows.renew();
                if let Some(cursors) = &cursors {
                    cursors
                        .0
                        .push(event.as_ref().ok().map(|event| codec.seal(event)));
                }
                if let Some(shared) = &shared {
                    shared
                        .0
                        .points
                        .push(event.as_ref().ok().map(|event| event.seq));
                }
                event.map(PositionEventNode).map_err(to_graphql)
            })
            .boxed())
    }
}
