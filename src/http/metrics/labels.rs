//! Operation names as label values: chosen by clients, so their number must be bounded. The
//! first `max` distinct names keep their own series; every later one counts as `other`.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// Longer names are not kept: they are generated, not written by people.
const MAX_NAME_LEN: usize = 64;

pub(crate) const ANONYMOUS: &str = "anonymous";
pub(crate) const OTHER: &str = "other";
/// No operation could be selected (the document did not parse, say).
pub(crate) const UNKNOWN: &str = "unknown";

pub(crate) struct OperationNames {
    max: usize,
    seen: Mutex<HashSet<String>>,
}

impl OperationNames {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// The label value for `name`. Names come from a parsed document, so they are GraphQL
    /// names (`[_A-Za-z][_0-9A-Za-z]*`) and need no escaping; anything else is `other`.
    pub(crate) fn label(&self, name: &str) -> String {
        let plain = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return OTHER.to_owned();
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(name) {
            return name.to_owned();
        }
        if seen.len() < self.max {
            seen.insert(name.to_owned());
            return name.to_owned();
        }
        OTHER.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_beyond_the_cap_are_other() {
        let names = OperationNames::new(2);
        assert_eq!(names.label("A"), "A");
        assert_eq!(names.label("B"), "B");
        assert_eq!(names.label("C"), OTHER);
        assert_eq!(names.label("A"), "A");
        assert_eq!(names.label("bad\"name"), OTHER);
        assert_eq!(names.label(&"x".repeat(65)), OTHER);
    }
}
