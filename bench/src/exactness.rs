//! Whether fan-out delivered exactly what was committed: every delivery is matched by event id,
//! per subscriber, against the events the bench committed in the measured window, and each
//! subscriber's stream is checked for missing, duplicated and out-of-order events separately.
//!
//! Order is checked against what the committer can prove without trusting the server: when
//! event A's committing request had answered before event B's was sent, A committed first, so
//! a subscriber that receives B before A got them out of order. Commits that overlapped in
//! time have no order the bench can prove, and are not judged.

use crate::stats::micros;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// The event object of a `next` message, and its `id` key. The server may write keys in any
/// order (it sorts them), so the id is the first `"id":"` after the event object opens; the
/// harness's selections ask for no other `id`, so it is the event's.
const EVENT_AT: &str = "\"positionEvents\":{";
const ID_KEY: &str = "\"id\":\"";

/// The event id of a `next` message as a number, or None when the message carries none: two
/// byte searches, no JSON parsing.
pub(crate) fn event_id(message: &str) -> Option<u128> {
    let event = message.find(EVENT_AT)? + EVENT_AT.len();
    let start = event + message[event..].find(ID_KEY)? + ID_KEY.len();
    uuid(message.as_bytes().get(start..start + 36)?)
}

/// A hyphenated UUID as its 128 bits; ids are UUIDs by the API contract, and a number is
/// cheaper to keep per delivery than a string.
fn uuid(text: &[u8]) -> Option<u128> {
    let mut value: u128 = 0;
    let mut digits = 0;
    for (index, &byte) in text.iter().enumerate() {
        if matches!(index, 8 | 13 | 18 | 23) {
            if byte != b'-' {
                return None;
            }
            continue;
        }
        let digit = char::from(byte).to_digit(16)?;
        value = (value << 4) | u128::from(digit);
        digits += 1;
    }
    (digits == 32).then_some(value)
}

/// Parses the text form the mutations answer with.
pub(crate) fn parse_id(text: &str) -> Option<u128> {
    (text.len() == 36).then(|| uuid(text.as_bytes()))?
}

/// One committed event: when its request left and when its answer arrived.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Commit {
    pub(crate) sent: Instant,
    pub(crate) returned: Instant,
}

/// The events committed in the measured window, by id.
pub(crate) struct Ledger {
    index: HashMap<u128, usize>,
    commits: Vec<Commit>,
}

impl Ledger {
    pub(crate) fn new(commits: impl IntoIterator<Item = (u128, Commit)>) -> Self {
        let mut index = HashMap::new();
        let mut list = Vec::new();
        for (id, commit) in commits {
            index.insert(id, list.len());
            list.push(commit);
        }
        Self {
            index,
            commits: list,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.commits.len()
    }
}

/// Totals over every subscriber checked.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Exactness {
    /// Committed events × subscribers whose filter matches them (every subscriber: the
    /// subscription has no filter).
    pub(crate) expected: u64,
    /// Expected deliveries that arrived, counted once each.
    pub(crate) delivered: u64,
    pub(crate) missing: u64,
    /// Second and later receipts of the same event by the same subscriber.
    pub(crate) duplicated: u64,
    /// Receipts that came after an event provably committed later.
    pub(crate) out_of_order: u64,
    /// Receipts of events outside the window (probes, other writers): ignored.
    pub(crate) outside_window: u64,
}

/// Checks subscribers one at a time, reusing its buffers, and keeps the latencies of the
/// matched deliveries.
pub(crate) struct Checker<'a> {
    ledger: &'a Ledger,
    seen: Vec<bool>,
    pub(crate) totals: Exactness,
    /// Commit request sent → receipt, µs, per matched delivery.
    pub(crate) from_send: Vec<u64>,
    /// Commit answer arrived → receipt, µs (0 when the receipt came first).
    pub(crate) from_response: Vec<u64>,
    /// Receipts before the committing request had its answer.
    pub(crate) early: u64,
    pub(crate) last_receipt: Option<Instant>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(ledger: &'a Ledger) -> Self {
        Self {
            ledger,
            seen: vec![false; ledger.len()],
            totals: Exactness::default(),
            from_send: Vec::new(),
            from_response: Vec::new(),
            early: 0,
            last_receipt: None,
        }
    }

    /// One subscriber's receipts, in the order it received them.
    pub(crate) fn subscriber(&mut self, deliveries: &[(u128, Instant)]) {
        self.seen.iter_mut().for_each(|seen| *seen = false);
        let mut distinct = 0u64;
        let mut latest_sent: Option<Instant> = None;
        for &(id, received) in deliveries {
            let Some(&index) = self.ledger.index.get(&id) else {
                self.totals.outside_window += 1;
                continue;
            };
            if std::mem::replace(&mut self.seen[index], true) {
                self.totals.duplicated += 1;
                continue;
            }
            distinct += 1;
            let commit = self.ledger.commits[index];
            if latest_sent.is_some_and(|latest| commit.returned < latest) {
                self.totals.out_of_order += 1;
            }
            latest_sent = latest_sent.max(Some(commit.sent));
            if received < commit.returned {
                self.early += 1;
            }
            self.from_send
                .push(micros(received.saturating_duration_since(commit.sent)));
            self.from_response
                .push(micros(received.saturating_duration_since(commit.returned)));
            self.last_receipt = self.last_receipt.max(Some(received));
        }
        let expected = self.ledger.len() as u64;
        self.totals.expected += expected;
        self.totals.delivered += distinct;
        self.totals.missing += expected - distinct;
    }
}

#[cfg(test)]
mod tests {
    use super::{Checker, Commit, Exactness, Ledger, event_id, parse_id};
    use std::time::{Duration, Instant};

    const A: &str = "0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn the_event_id_is_found_without_parsing() {
        let scalar = format!(
            r#"{{"id":"1","type":"next","payload":{{"data":{{"positionEvents":{{"id":"{A}","cursor":"x"}}}}}}}}"#
        );
        assert_eq!(event_id(&scalar), parse_id(A));
        let sorted = format!(
            r#"{{"id":"1","payload":{{"data":{{"positionEvents":{{"at":"x","cursor":"y","id":"{A}"}}}}}},"type":"next"}}"#
        );
        assert_eq!(event_id(&sorted), parse_id(A));
        assert_eq!(parse_id(A), Some(0x0190_a0b1_c2d3_7e4f_8a9b_0c1d_2e3f_4a5b));
        assert_eq!(event_id(r#"{"type":"ping"}"#), None);
        assert_eq!(parse_id("0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5"), None);
        assert_eq!(parse_id("0190a0b1xc2d3-7e4f-8a9b-0c1d2e3f4a5b"), None);
    }

    #[test]
    fn missing_duplicated_and_out_of_order_are_told_apart() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // 1 answered before 2 was sent; 2 and 3 overlapped.
        let ledger = Ledger::new([
            (
                1,
                Commit {
                    sent: at(0),
                    returned: at(10),
                },
            ),
            (
                2,
                Commit {
                    sent: at(20),
                    returned: at(40),
                },
            ),
            (
                3,
                Commit {
                    sent: at(30),
                    returned: at(50),
                },
            ),
        ]);
        let mut checker = Checker::new(&ledger);
        // In order, 3 before 2 (unprovable, fine), a probe (99) ignored.
        checker.subscriber(&[(99, at(1)), (1, at(5)), (3, at(45)), (2, at(46))]);
        // 2 before 1 (provably out of order), 2 twice, 3 missing.
        checker.subscriber(&[(2, at(41)), (1, at(42)), (2, at(43))]);
        assert_eq!(
            checker.totals,
            Exactness {
                expected: 6,
                delivered: 5,
                missing: 1,
                duplicated: 1,
                out_of_order: 1,
                outside_window: 1,
            }
        );
        assert_eq!(checker.from_send.len(), 5);
        assert_eq!(checker.early, 2);
        assert_eq!(checker.last_receipt, Some(at(46)));
    }
}
