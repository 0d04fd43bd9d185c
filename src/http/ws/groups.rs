//! Subscription groups: resolve once, send many. Websocket subscriptions that would deliver
//! the same bytes (same document text, operation, variables, and the caller's scope and role:
//! `GroupKey`) share one operation: one feed, one executor run per event (so nested fields
//! load once per group and batch), one serialized payload. Each member's socket gets that
//! payload behind its own message prefix (`{"type":"next","id":…,"payload":`), spliced, not
//! re-serialized.
//!
//! Exactness per member. Every group output carries its event's log point (`SharedFeed`
//! files it right before the executor turns the event into a response), and each member
//! skips outputs at or below its own starting point (`LiveStart`) and its already-committed
//! events. A member that joins before the group's feed reads its starting point adopts it;
//! one that joins later reads its own (`Services::live_start`, after it is registered, so
//! every event it is owed reaches the group after it is listening; outputs meanwhile are
//! buffered and filtered once its start is known). Outputs come in log order, so skipping
//! what is at or below the last point sent leaves no gap and no duplicate.
//!
//! Delivery. The group writes each member's message to its socket itself when the socket
//! takes it at once and nothing is queued for it, and otherwise hands it to the socket's queue
//! (`writer.rs`); a pass over the members writes without the group's lock.
//!
//! A member that falls behind never stalls the others: outputs are written or queued without
//! waiting, and when the socket's queue is full the member leaves the group and catches
//! up on its own, from the log after the last event it was sent (replay, then live, as a
//! subscription with `after`), skipping its already-committed events; it stays alone after
//! that. Its socket still closes when a frame cannot be written for `WS_SEND_TIMEOUT_MS`.
//!
//! Not grouped: subscriptions with a non-null `after` (they replay, then go live, alone, as
//! before), other root fields or shapes, queries and mutations, and Server-Sent Events.
//! When the last member leaves, the group's operation is dropped.

use super::writer::{Offered, SocketWriter};
use crate::domain::InstitutionId;
use crate::domain::model::EventSeq;
use crate::graphql::{FeedObserver, SharedFeed};
use crate::http::streamed;
use crate::service::{GaugeGuard, LiveStart, SubscriptionGauge, Viewer, ViewerRole};
use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, OperationType, Selection,
};
use async_graphql::{Name, Request, Response, Value as ConstValue};
use axum::extract::ws::Utf8Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;
use tracing::Instrument as _;

/// The one root field a group serves.
const GROUPED_FIELD: &str = "positionEvents";

/// Everything that can change what a subscription delivers: a group never mixes two keys, so
/// never two tenants, roles, documents or variable values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GroupKey {
    query: String,
    operation_name: Option<String>,
    /// Canonical JSON: object keys sorted at every level.
    variables: String,
    institution: Option<InstitutionId>,
    role: ViewerRole,
}

impl GroupKey {
    /// The key of a prepared request, or `None` when a group may not serve it: only a
    /// subscription whose one root field is `positionEvents` without a cursor (`after`
    /// absent, or null) is grouped. One that resumes replays on its own, as before.
    pub(crate) fn of(
        request: &Request,
        document: &ExecutableDocument,
        viewer: &Viewer,
    ) -> Option<Self> {
        let operation =
            crate::http::graphql::document::select(document, request.operation_name.as_deref())
                .ok()?;
        if operation.ty != OperationType::Subscription || !groupable(operation, request) {
            return None;
        }
        // serde_json's objects keep their keys sorted (its `preserve_order` feature is off, as
        // idempotency fingerprints also rely on), so this text is the same whatever order the
        // client wrote the variables in; the key's unit test fails if that ever changes.
        let variables = request
            .variables
            .clone()
            .into_value()
            .into_json()
            .ok()?
            .to_string();
        Some(Self {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables,
            institution: viewer.institution_id(),
            role: viewer.role(),
        })
    }
}

fn groupable(operation: &OperationDefinition, request: &Request) -> bool {
    let [item] = operation.selection_set.node.items.as_slice() else {
        return false;
    };
    let Selection::Field(field) = &item.node else {
        return false;
    };
    field.node.name.node == GROUPED_FIELD
        && field.node.arguments.iter().all(|(name, value)| {
            name.node != "after"
                || value
                    .node
                    .clone()
                    .into_const_with(|variable| {
                        Ok::<_, ()>(variable_value(&variable, operation, request))
                    })
                    .is_ok_and(|value| value == ConstValue::Null)
        })
}

/// A variable's value in the request, else its default, else null.
fn variable_value(name: &Name, operation: &OperationDefinition, request: &Request) -> ConstValue {
    if let Some(value) = request.variables.get(name) {
        return value.clone();
    }
    operation
        .variable_definitions
        .iter()
        .find(|definition| definition.node.name.node == *name)
        .and_then(|definition| definition.node.default_value.as_ref())
        .map_or(ConstValue::Null, |default| default.node.clone())
}

/// One resolved event, as every member receives it.
#[derive(Clone)]
struct Output {
    seq: EventSeq,
    /// The serialized GraphQL response (`{"data":…}`).
    payload: Arc<str>,
    /// Without errors: counted as a delivered event.
    event: bool,
}

/// How a group's operation ended, for its members to tell their clients.
#[derive(Clone)]
pub(super) enum Ending {
    /// Refused before it ran (validation, a refused argument, the feed could not start): the
    /// GraphQL errors, for an `error` message.
    Refused(Arc<Value>),
    /// The feed failed: this last response (`next`), then `complete`.
    Failed(Arc<str>),
    /// The feed ended (the server is stopping): `complete`.
    Completed,
}

/// What a group tells one member, once.
pub(super) enum Control {
    /// The member fell behind and left the group: it goes on alone, after `last`, skipping
    /// `start`'s already-committed events, still counted by `gauge`.
    Detached {
        last: EventSeq,
        start: LiveStart,
        gauge: Option<GaugeGuard>,
    },
    Ended(Ending),
}

enum MemberStart {
    /// Outputs wait here until the start is known: the group's own (`adopt`), or one the
    /// member reads itself.
    Pending {
        adopt: bool,
        buffered: Vec<Output>,
    },
    Ready(LiveStart),
}

struct Member {
    id: u64,
    /// `{"type":"next","id":…,"payload":` in the member's dialect.
    prefix: Arc<str>,
    writer: Arc<SocketWriter>,
    control: Option<oneshot::Sender<Control>>,
    start: MemberStart,
    /// The last point sent (or, before any, the start): outputs at or below it are skipped.
    last: EventSeq,
    /// Counts the member as an open subscription once its start is fixed.
    gauge: Option<GaugeGuard>,
    /// Set when its operation ends, so a pass already under way writes nothing more for it.
    left: Arc<AtomicBool>,
}

/// What became of an output for one member, as the group acts on it.
enum Offer {
    Kept,
    /// Its socket's queue is full: it must catch up on its own.
    Behind,
    /// Its socket is gone.
    Gone,
}

/// A member's `next` message: its prefix, the payload every member shares, then `}`.
fn next_message(prefix: &str, payload: &str) -> Utf8Bytes {
    let mut text = String::with_capacity(prefix.len() + payload.len() + 1);
    text.push_str(prefix);
    text.push_str(payload);
    text.push('}');
    text.into()
}

fn written(offered: Offered, counters: &Counters) -> Offer {
    match offered {
        Offered::Written => {
            counters.deliveries.fetch_add(1, Ordering::Relaxed);
            counters.written.fetch_add(1, Ordering::Relaxed);
            Offer::Kept
        }
        Offered::Queued => {
            counters.deliveries.fetch_add(1, Ordering::Relaxed);
            Offer::Kept
        }
        Offered::Full => Offer::Behind,
        Offered::Gone => Offer::Gone,
    }
}

/// One socket write of a pass, made without the group's lock.
struct Write {
    member: u64,
    writer: Arc<SocketWriter>,
    prefix: Arc<str>,
    /// The member's last point before this output, restored if the write is refused.
    previous: EventSeq,
    left: Arc<AtomicBool>,
}

impl Member {
    /// Whether `output` is to be sent to this member now: not when it is at or below what the
    /// member has (or starts after), nor while its start is unknown (then it waits here).
    fn takes(&mut self, output: &Output) -> bool {
        let start = match &mut self.start {
            MemberStart::Pending { buffered, .. } => {
                buffered.push(output.clone());
                return false;
            }
            MemberStart::Ready(start) => start,
        };
        output.seq > self.last && start.already_committed.binary_search(&output.seq).is_err()
    }

    fn offer(&mut self, output: &Output, counters: &Counters) -> Offer {
        if !self.takes(output) {
            return Offer::Kept;
        }
        let frame = next_message(&self.prefix, &output.payload);
        let offer = written(self.writer.offer(&frame, output.event), counters);
        if matches!(offer, Offer::Kept) {
            self.last = output.seq;
        }
        offer
    }

    /// The member's start is known: it is counted, and what waited for it is sent.
    fn ready(&mut self, start: LiveStart, gauge: &SubscriptionGauge, counters: &Counters) -> Offer {
        let buffered = match &mut self.start {
            MemberStart::Pending { buffered, .. } => std::mem::take(buffered),
            MemberStart::Ready(_) => return Offer::Kept,
        };
        self.last = start.after;
        self.start = MemberStart::Ready(start);
        self.gauge = Some(gauge.enter());
        for output in &buffered {
            match self.offer(output, counters) {
                Offer::Kept => {}
                other => return other,
            }
        }
        Offer::Kept
    }

    fn tell(mut self, control: Control) {
        if let Some(sender) = self.control.take() {
            let _ = sender.send(control);
        }
    }

    fn detach(mut self) {
        let start = std::mem::replace(
            &mut self.start,
            MemberStart::Pending {
                adopt: false,
                buffered: Vec::new(),
            },
        );
        if let MemberStart::Ready(start) = start {
            let gauge = self.gauge.take();
            let last = self.last;
            self.tell(Control::Detached { last, start, gauge });
        }
    }
}

#[derive(Default)]
struct GroupState {
    members: Vec<Member>,
    /// Set once the feed is about to read its starting point: later members read their own.
    opening: bool,
    ended: bool,
    task: Option<AbortHandle>,
}

impl GroupState {
    /// Acts on what an offer found for `members[index]`; returns whether it stays.
    fn settle(&mut self, index: usize, offer: Offer, counters: &Counters) -> bool {
        match offer {
            Offer::Kept => true,
            Offer::Behind => {
                counters.detached.fetch_add(1, Ordering::Relaxed);
                self.members.swap_remove(index).detach();
                false
            }
            Offer::Gone => {
                self.members.swap_remove(index);
                false
            }
        }
    }
}

struct Group {
    gauge: SubscriptionGauge,
    state: Mutex<GroupState>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Group {
    /// Offers one output to every member; `false` once no member is left (the group ended).
    /// The sockets are written without the group's lock, which a member joining or leaving
    /// takes: a pass over thousands of sockets takes tens of milliseconds, and a thread
    /// waiting that long on a lock would hold up its whole share of the server.
    fn deliver(self: &Arc<Self>, output: &Output, registry: &Registry) -> bool {
        let writes: Vec<Write> = {
            let mut state = lock(&self.state);
            let members = state.members.iter_mut();
            members
                .filter_map(|member| {
                    member.takes(output).then(|| {
                        let previous = std::mem::replace(&mut member.last, output.seq);
                        Write {
                            member: member.id,
                            writer: Arc::clone(&member.writer),
                            prefix: Arc::clone(&member.prefix),
                            previous,
                            left: Arc::clone(&member.left),
                        }
                    })
                })
                .collect()
        };
        // Members of one dialect with the same subscription id get the same bytes: the
        // message is built once for them, not once per member.
        let mut built: Option<(Arc<str>, Utf8Bytes)> = None;
        let refused: Vec<(Write, Offer)> = writes
            .into_iter()
            .filter_map(|write| {
                if write.left.load(Ordering::Acquire) {
                    return None;
                }
                let frame = match &built {
                    Some((prefix, frame)) if **prefix == *write.prefix => frame.clone(),
                    _ => {
                        let frame = next_message(&write.prefix, &output.payload);
                        built = Some((Arc::clone(&write.prefix), frame.clone()));
                        frame
                    }
                };
                let offered = write.writer.offer(&frame, output.event);
                match written(offered, &registry.counters) {
                    Offer::Kept => None,
                    refused => Some((write, refused)),
                }
            })
            .collect();
        let mut state = lock(&self.state);
        for (write, offer) in refused {
            // Gone meanwhile (its operation ended): nothing left to settle.
            if let Some(index) = state.members.iter().position(|m| m.id == write.member) {
                state.members[index].last = write.previous;
                state.settle(index, offer, &registry.counters);
            }
        }
        let empty = state.members.is_empty();
        drop(state);
        !(empty && registry.close_if_empty(self, false))
    }

    /// Ends the group: every member hears `ending`, and nobody joins it any more.
    fn end(self: &Arc<Self>, ending: &Ending, registry: &Registry) {
        let mut groups = lock(&registry.groups);
        let mut state = lock(&self.state);
        state.ended = true;
        state.task = None;
        groups.retain(|_, group| !Arc::ptr_eq(group, self));
        drop(groups);
        for member in state.members.drain(..) {
            member.tell(Control::Ended(ending.clone()));
        }
    }
}

/// Hears the group's feed fix its start: members registered before then adopt it.
struct Observer(Weak<Group>, Weak<Registry>);

impl FeedObserver for Observer {
    fn opening(&self) {
        if let Some(group) = self.0.upgrade() {
            lock(&group.state).opening = true;
        }
    }

    fn opened(&self, start: &LiveStart) {
        let (Some(group), Some(registry)) = (self.0.upgrade(), self.1.upgrade()) else {
            return;
        };
        let mut state = lock(&group.state);
        let mut index = 0;
        while index < state.members.len() {
            let member = &mut state.members[index];
            let offer = match member.start {
                MemberStart::Pending { adopt: true, .. } => {
                    member.ready(start.clone(), &group.gauge, &registry.counters)
                }
                _ => Offer::Kept,
            };
            if state.settle(index, offer, &registry.counters) {
                index += 1;
            }
        }
        let empty = state.members.is_empty();
        drop(state);
        if empty {
            registry.close_if_empty(&group, true);
        }
    }
}

#[derive(Default)]
struct Counters {
    /// Events resolved by groups (one per group and event).
    resolved: AtomicU64,
    /// Outputs written or queued to members' sockets.
    deliveries: AtomicU64,
    /// Of those, written whole to the socket by the group itself (not left to the socket's
    /// task).
    written: AtomicU64,
    /// Members that fell behind and went on alone.
    detached: AtomicU64,
}

#[derive(Default)]
struct Registry {
    groups: Mutex<HashMap<GroupKey, Arc<Group>>>,
    next_member: AtomicU64,
    counters: Counters,
}

impl Registry {
    /// Ends `group` if it has no member left, stopping its task when `abort` (the caller is
    /// not that task); returns whether it ended.
    fn close_if_empty(&self, group: &Arc<Group>, abort: bool) -> bool {
        let mut groups = lock(&self.groups);
        let mut state = lock(&group.state);
        if !state.members.is_empty() {
            return false;
        }
        if !state.ended {
            state.ended = true;
            groups.retain(|_, open| !Arc::ptr_eq(open, group));
            if let Some(task) = state.task.take()
                && abort
            {
                task.abort();
            }
        }
        true
    }
}

/// What `/metrics` shows of the groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupStats {
    pub(crate) groups: u64,
    pub(crate) members: u64,
    pub(crate) resolved: u64,
    pub(crate) deliveries: u64,
    pub(crate) written: u64,
    pub(crate) detached: u64,
}

/// The open groups of an instance. Cheap to clone; clones share them.
#[derive(Clone, Default)]
pub(crate) struct Groups(Arc<Registry>);

/// A member's place in its group; leaving (dropping it) ends the group if it was the last.
pub(super) struct Membership {
    registry: Arc<Registry>,
    group: Arc<Group>,
    id: u64,
    /// The group's feed had fixed its start before this member joined: the member must read
    /// its own (`started`).
    pub(super) needs_start: bool,
    pub(super) control: Option<oneshot::Receiver<Control>>,
    left: Arc<AtomicBool>,
}

impl Groups {
    pub(crate) fn stats(&self) -> GroupStats {
        let groups = lock(&self.0.groups);
        let members: usize = groups
            .values()
            .map(|group| lock(&group.state).members.len())
            .sum();
        let counters = &self.0.counters;
        GroupStats {
            groups: u64::try_from(groups.len()).unwrap_or(u64::MAX),
            members: u64::try_from(members).unwrap_or(u64::MAX),
            resolved: counters.resolved.load(Ordering::Relaxed),
            deliveries: counters.deliveries.load(Ordering::Relaxed),
            written: counters.written.load(Ordering::Relaxed),
            detached: counters.detached.load(Ordering::Relaxed),
        }
    }

    /// Joins the open group of `key`, or starts one whose operation `start` runs (it is given
    /// the request data that ties the feed to the group).
    pub(super) fn join(
        &self,
        key: GroupKey,
        gauge: &SubscriptionGauge,
        prefix: Arc<str>,
        writer: Arc<SocketWriter>,
        start: impl FnOnce(SharedFeed) -> BoxStream<'static, Response>,
    ) -> Membership {
        let registry = &self.0;
        let id = registry.next_member.fetch_add(1, Ordering::Relaxed);
        let (control, control_rx) = oneshot::channel();
        let left = Arc::new(AtomicBool::new(false));
        let member = |adopt: bool| Member {
            id,
            prefix,
            writer,
            control: Some(control),
            start: MemberStart::Pending {
                adopt,
                buffered: Vec::new(),
            },
            last: EventSeq::START,
            gauge: None,
            left: Arc::clone(&left),
        };
        let mut groups = lock(&registry.groups);
        if let Some(group) = groups.get(&key) {
            let mut state = lock(&group.state);
            if !state.ended {
                let adopt = !state.opening;
                state.members.push(member(adopt));
                return Membership {
                    registry: Arc::clone(registry),
                    group: Arc::clone(group),
                    id,
                    needs_start: !adopt,
                    control: Some(control_rx),
                    left,
                };
            }
        }
        let group = Arc::new(Group {
            gauge: gauge.clone(),
            state: Mutex::new(GroupState {
                members: vec![member(true)],
                ..GroupState::default()
            }),
        });
        let observer = Observer(Arc::downgrade(&group), Arc::downgrade(registry));
        let feed = SharedFeed::new(None, Some(Arc::new(observer)));
        let responses = start(feed.clone());
        // The group outlives whoever started it: a span of its own.
        let span = tracing::info_span!("subscription group");
        let task = tokio::spawn(
            run_group(Arc::clone(&group), responses, feed, Arc::clone(registry)).instrument(span),
        );
        lock(&group.state).task = Some(task.abort_handle());
        groups.insert(key, Arc::clone(&group));
        Membership {
            registry: Arc::clone(registry),
            group,
            id,
            needs_start: false,
            control: Some(control_rx),
            left,
        }
    }
}

impl Membership {
    /// The start this member read itself (`needs_start`): it is counted from now on, and
    /// the outputs that waited for it are filtered and sent.
    pub(super) fn started(&self, start: LiveStart) {
        let counters = &self.registry.counters;
        let mut state = lock(&self.group.state);
        let Some(index) = state.members.iter().position(|member| member.id == self.id) else {
            return;
        };
        let offer = state.members[index].ready(start, &self.group.gauge, counters);
        state.settle(index, offer, counters);
        let empty = state.members.is_empty();
        drop(state);
        if empty {
            self.registry.close_if_empty(&self.group, true);
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.left.store(true, Ordering::Release);
        let mut state = lock(&self.group.state);
        if let Some(index) = state.members.iter().position(|member| member.id == self.id) {
            state.members.swap_remove(index);
        }
        let empty = state.members.is_empty();
        drop(state);
        if empty {
            self.registry.close_if_empty(&self.group, true);
        }
    }
}

/// The group's one operation: each response is serialized once and offered to every member.
async fn run_group(
    group: Arc<Group>,
    mut responses: BoxStream<'static, Response>,
    feed: SharedFeed,
    registry: Arc<Registry>,
) {
    let mut first = true;
    let ending = loop {
        let Some(response) = responses.next().await else {
            break Ending::Completed;
        };
        let Some(seq) = feed.take() else {
            // No event behind it: a refusal at the start, or the feed failed.
            if first && streamed::refused_at_start(&response) {
                let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
                break Ending::Refused(Arc::new(errors));
            }
            let payload = serde_json::to_string(&response).unwrap_or_else(|_| "null".to_owned());
            break Ending::Failed(payload.into());
        };
        first = false;
        registry.counters.resolved.fetch_add(1, Ordering::Relaxed);
        let output = Output {
            seq,
            event: response.errors.is_empty(),
            payload: serde_json::to_string(&response)
                .unwrap_or_else(|_| "null".to_owned())
                .into(),
        };
        // Outside tokio's cooperative budget: it allows a task about a hundred socket
        // operations per turn, after which every direct write would report the socket busy
        // and hand its frame to the member's session after all.
        let delivered =
            tokio::task::unconstrained(async { group.deliver(&output, &registry) }).await;
        if !delivered {
            return;
        }
    };
    group.end(&ending, &registry);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApiKeyId, ApiKeyRole};
    use async_graphql::parser::parse_query;
    use serde_json::json;

    fn key(query: &str, variables: Value, viewer: &Viewer) -> Option<GroupKey> {
        let document = parse_query(query).expect("parses");
        let request = Request::new(query).variables(async_graphql::Variables::from_json(variables));
        GroupKey::of(&request, &document, viewer)
    }

    const WITH_AFTER: &str = "subscription($after: String, $filter: PositionEventFilter) {
      positionEvents(filter: $filter, after: $after) { id } }";

    #[test]
    fn only_position_events_without_a_cursor_is_grouped() {
        let root = Viewer::root();
        assert!(key("subscription { positionEvents { id } }", json!({}), &root).is_some());
        assert!(key(WITH_AFTER, json!({}), &root).is_some());
        assert!(key(WITH_AFTER, json!({"after": null}), &root).is_some());
        assert!(key(WITH_AFTER, json!({"after": "c"}), &root).is_none());
        assert!(
            key(
                "subscription($after: String = \"c\") { positionEvents(after: $after) { id } }",
                json!({}),
                &root
            )
            .is_none()
        );
        assert!(
            key(
                "subscription { positionEvents(after: \"c\") { id } }",
                json!({}),
                &root
            )
            .is_none()
        );
        assert!(
            key(
                "subscription { ...F } fragment F on Subscription { positionEvents { id } }",
                json!({}),
                &root
            )
            .is_none()
        );
        assert!(key("query { viewer { role } }", json!({}), &root).is_none());
    }

    #[test]
    fn the_key_is_canonical_in_variables_and_tells_scopes_and_roles_apart() {
        let root = Viewer::root();
        let one = key(
            WITH_AFTER,
            json!({"filter": {"toStates": ["FUNDED"], "assetId": "a"}, "after": null}),
            &root,
        );
        let same = key(
            WITH_AFTER,
            json!({"after": null, "filter": {"assetId": "a", "toStates": ["FUNDED"]}}),
            &root,
        );
        assert!(one.is_some());
        assert_eq!(one, same);
        let other = key(WITH_AFTER, json!({"filter": {"assetId": "b"}}), &root);
        assert_ne!(one, other);

        let institution = InstitutionId::new();
        let admin = Viewer::institution_key(institution, ApiKeyId::new(), ApiKeyRole::Admin);
        let other_admin_key =
            Viewer::institution_key(institution, ApiKeyId::new(), ApiKeyRole::Admin);
        let reader = Viewer::institution_key(institution, ApiKeyId::new(), ApiKeyRole::ReadOnly);
        let elsewhere =
            Viewer::institution_key(InstitutionId::new(), ApiKeyId::new(), ApiKeyRole::Admin);
        let query = "subscription { positionEvents { id } }";
        let of = |viewer: &Viewer| key(query, json!({}), viewer);
        assert_eq!(
            of(&admin),
            of(&other_admin_key),
            "keys of one scope and role"
        );
        assert_ne!(of(&admin), of(&reader));
        assert_ne!(of(&admin), of(&elsewhere));
        assert_ne!(of(&admin), of(&root));
    }
}
