//! Refused attempts (no valid key, or FORBIDDEN) cost no durable write per request. They are
//! grouped by outcome, action, reason, caller and client address: the first refusal of a
//! group is written at once (a lone mistake shows up straight away, with its request id);
//! repeats are only counted and written as one summary row per group when the log is flushed
//! (every `REFUSAL_AUDIT_INTERVAL_MS`, and at shutdown). A group with nothing to report at a
//! flush is forgotten. Memory is bounded: past the group cap, new groups fold into one
//! overflow group.

use crate::domain::model::{self, AuditEvent, AuditOutcome, JsonObject, Timestamp};
use crate::domain::{ApiKeyId, AuditEventId, InstitutionId};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Groups remembered by default; each costs a few hundred bytes.
pub(super) const DEFAULT_MAX_GROUPS: usize = 10_000;

/// The action of the overflow group's rows.
pub const OVERFLOW_ACTION: &str = "refusals";

/// Why a request was refused without running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefusalReason {
    MissingKey,
    /// Not the shape of a key this server issues: refused without a store lookup.
    MalformedKey,
    UnknownKey,
    RevokedKey,
    Forbidden,
}

impl RefusalReason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingKey => "missing_key",
            Self::MalformedKey => "malformed_key",
            Self::UnknownKey => "unknown_key",
            Self::RevokedKey => "revoked_key",
            Self::Forbidden => "forbidden",
        }
    }

    fn outcome(self) -> AuditOutcome {
        match self {
            Self::Forbidden => AuditOutcome::Forbidden,
            _ => AuditOutcome::Unauthenticated,
        }
    }
}

/// One refused attempt, as the caller of `record` describes it.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub reason: RefusalReason,
    pub action: String,
    pub api_key_id: Option<ApiKeyId>,
    /// The institution the row is filed under (the caller's own, never one it named).
    pub institution_id: Option<InstitutionId>,
    pub resource_type: Option<String>,
    pub client: Option<IpAddr>,
    pub request_id: Option<String>,
    /// Extra payload fields (a FORBIDDEN's message); part of the group.
    pub details: JsonObject,
    /// Payload fields that vary between attempts (a FORBIDDEN's target): not part of the
    /// group; a row carries those of the latest attempt it counts.
    pub latest: JsonObject,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GroupKey {
    reason: RefusalReason,
    action: String,
    api_key_id: Option<ApiKeyId>,
    institution_id: Option<InstitutionId>,
    resource_type: Option<String>,
    client: Option<IpAddr>,
    details: String,
}

struct Group {
    refusal: Refusal,
    /// Refusals since the last row written for this group.
    pending: u64,
    first: Timestamp,
    last: Timestamp,
}

#[derive(Default)]
struct Overflow {
    pending: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// The shared refusal log. Cheap to share behind an `Arc`.
pub struct RefusalLog {
    groups: Mutex<Table>,
    max_groups: AtomicUsize,
    overflowed: AtomicU64,
}

#[derive(Default)]
struct Table {
    groups: HashMap<GroupKey, Group>,
    overflow: Overflow,
    /// Refusals by reason since start, for the metrics page.
    counts: BTreeMap<RefusalReason, u64>,
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self {
            groups: Mutex::default(),
            max_groups: AtomicUsize::new(DEFAULT_MAX_GROUPS),
            overflowed: AtomicU64::new(0),
        }
    }
}

impl RefusalLog {
    pub fn set_max_groups(&self, max: usize) {
        self.max_groups.store(max.max(1), Ordering::Relaxed);
    }

    /// Counts `refusal`; returns the row to write now when it opens a new group.
    pub fn record(&self, refusal: Refusal) -> Option<AuditEvent> {
        let now = model::now();
        let key = GroupKey {
            reason: refusal.reason,
            action: refusal.action.clone(),
            api_key_id: refusal.api_key_id,
            institution_id: refusal.institution_id,
            resource_type: refusal.resource_type.clone(),
            client: refusal.client,
            details: serde_json::Value::Object(refusal.details.clone()).to_string(),
        };
        let mut table = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        *table.counts.entry(refusal.reason).or_default() += 1;
        if let Some(group) = table.groups.get_mut(&key) {
            if group.pending == 0 {
                group.first = now;
            }
            group.pending += 1;
            group.last = now;
            group.refusal.request_id = refusal.request_id;
            group.refusal.latest = refusal.latest;
            return None;
        }
        if table.groups.len() >= self.max_groups.load(Ordering::Relaxed) {
            let overflow = &mut table.overflow;
            overflow.pending += 1;
            overflow.first.get_or_insert(now);
            overflow.last = Some(now);
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // Sampled: one line per group per interval, however many refusals it counts.
        tracing::info!(
            reason = refusal.reason.as_str(),
            action = %refusal.action,
            client = ?refusal.client,
            "request refused; repeats are counted until the next refusal audit flush"
        );
        let event = event(&refusal, 1, now, now, false);
        table.groups.insert(
            key,
            Group {
                refusal,
                pending: 0,
                first: now,
                last: now,
            },
        );
        Some(event)
    }

    /// The summary rows owed since the last flush; forgets groups that had nothing to report.
    pub fn flush(&self) -> Vec<AuditEvent> {
        let mut table = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rows = Vec::new();
        table.groups.retain(|_, group| {
            if group.pending == 0 {
                return false;
            }
            rows.push(event(
                &group.refusal,
                group.pending,
                group.first,
                group.last,
                true,
            ));
            group.pending = 0;
            true
        });
        let overflow = std::mem::take(&mut table.overflow);
        if let (Some(first), Some(last)) = (overflow.first, overflow.last) {
            let refusal = Refusal {
                reason: RefusalReason::MissingKey,
                action: OVERFLOW_ACTION.to_owned(),
                api_key_id: None,
                institution_id: None,
                resource_type: None,
                client: None,
                request_id: None,
                details: JsonObject::new(),
                latest: JsonObject::new(),
            };
            let mut row = event(&refusal, overflow.pending, first, last, true);
            row.payload.insert("reason".into(), "overflow".into());
            rows.push(row);
        }
        rows
    }

    /// Refusals by reason since start.
    #[must_use]
    pub fn counts(&self) -> Vec<(RefusalReason, u64)> {
        let table = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        table.counts.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Groups currently remembered.
    #[must_use]
    pub fn groups(&self) -> usize {
        self.groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .groups
            .len()
    }

    /// Refusals that fell into the overflow group since start.
    #[must_use]
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }
}

fn event(
    refusal: &Refusal,
    count: u64,
    first: Timestamp,
    last: Timestamp,
    summary: bool,
) -> AuditEvent {
    let mut payload = refusal.latest.clone();
    payload.extend(refusal.details.clone());
    payload.insert("reason".into(), refusal.reason.as_str().into());
    if let Some(client) = refusal.client {
        payload.insert("clientAddress".into(), client.to_string().into());
    }
    payload.insert("count".into(), count.into());
    payload.insert("firstAt".into(), first.to_rfc3339().into());
    payload.insert("lastAt".into(), last.to_rfc3339().into());
    if summary {
        payload.insert("summary".into(), true.into());
    }
    AuditEvent {
        id: AuditEventId::new(),
        at: model::now(),
        action: refusal.action.clone(),
        outcome: refusal.reason.outcome(),
        api_key_id: refusal.api_key_id,
        institution_id: refusal.institution_id,
        resource_type: refusal.resource_type.clone(),
        resource_id: None,
        request_id: refusal.request_id.clone(),
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(client: [u8; 4]) -> Refusal {
        Refusal {
            reason: RefusalReason::UnknownKey,
            action: "graphql".into(),
            api_key_id: None,
            institution_id: None,
            resource_type: None,
            client: Some(IpAddr::from(client)),
            request_id: Some("r".into()),
            details: JsonObject::new(),
            latest: JsonObject::new(),
        }
    }

    #[test]
    fn the_first_refusal_is_written_and_repeats_are_summarised_once() {
        let log = RefusalLog::default();
        assert!(log.record(refusal([10, 0, 0, 1])).is_some());
        for _ in 0..99 {
            assert!(log.record(refusal([10, 0, 0, 1])).is_none());
        }
        let rows = log.flush();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].payload["count"], 99);
        assert_eq!(rows[0].payload["clientAddress"], "10.0.0.1");
        // Still remembered, so the next interval's first repeat is not written at once…
        assert!(log.record(refusal([10, 0, 0, 1])).is_none());
        assert_eq!(log.flush().len(), 1);
        // …and forgotten after a quiet interval.
        assert!(log.flush().is_empty());
        assert_eq!(log.groups(), 0);
        assert_eq!(log.counts(), vec![(RefusalReason::UnknownKey, 101)]);
    }

    #[test]
    fn past_the_cap_new_groups_fold_into_the_overflow_group() {
        let log = RefusalLog::default();
        log.set_max_groups(2);
        assert!(log.record(refusal([10, 0, 0, 1])).is_some());
        assert!(log.record(refusal([10, 0, 0, 2])).is_some());
        for last in 3..=10 {
            assert!(log.record(refusal([10, 0, 0, last])).is_none());
        }
        assert_eq!(log.groups(), 2);
        assert_eq!(log.overflowed(), 8);
        let rows = log.flush();
        assert_eq!(
            rows.len(),
            1,
            "only the overflow group has something to report"
        );
        assert_eq!(rows[0].action, OVERFLOW_ACTION);
        assert_eq!(rows[0].payload["count"], 8);
    }
}
