//! Input limits of the contract: bounded text and bounded JSON objects.

use super::DomainError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::ops::Deref;

pub const MAX_TEXT_CHARS: usize = 255;
pub const MAX_REASON_CHARS: usize = 1000;
pub const MAX_JSON_BYTES: usize = 64 * 1024;
pub const MAX_JSON_DEPTH: usize = 10;

/// A name, label or reference: 1..=255 characters, not only white space. Only `parse` makes
/// one, so a value of this type has passed the contract's text limits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BoundedText(String);

impl BoundedText {
    /// # Errors
    /// `InvalidInput` on `field` when empty, blank or too long.
    pub fn parse(value: impl Into<String>, field: &str) -> Result<Self, DomainError> {
        let value = value.into();
        let chars = value.chars().count();
        if chars == 0 || value.trim().is_empty() {
            return Err(DomainError::invalid(field, "must not be empty"));
        }
        if chars > MAX_TEXT_CHARS {
            return Err(DomainError::invalid(
                field,
                format!("must be at most {MAX_TEXT_CHARS} characters (got {chars})"),
            ));
        }
        Ok(Self(value))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A transition reason: at most 1000 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

impl Reason {
    /// # Errors
    /// `InvalidInput` on `field` when too long.
    pub fn parse(value: impl Into<String>, field: &str) -> Result<Self, DomainError> {
        let value = value.into();
        let chars = value.chars().count();
        if chars > MAX_REASON_CHARS {
            return Err(DomainError::invalid(
                field,
                format!("must be at most {MAX_REASON_CHARS} characters (got {chars})"),
            ));
        }
        Ok(Self(value))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_newtype {
    ($($name:ident => $field:literal),* $(,)?) => {$(
        impl TryFrom<String> for $name {
            type Error = DomainError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value, $field)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

text_newtype!(BoundedText => "text", Reason => "reason");

/// A metadata or config document: a JSON object of at most 64 KiB and 10 levels.
///
/// # Errors
/// `InvalidInput` on `field` when not an object, too large or too deep.
pub fn json_object(value: Value, field: &str) -> Result<Map<String, Value>, DomainError> {
    let depth = json_depth(&value);
    if depth > MAX_JSON_DEPTH {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_JSON_DEPTH} levels deep (got {depth})"),
        ));
    }
    let size = serde_json::to_vec(&value)
        .map(|bytes| bytes.len())
        .unwrap_or(usize::MAX);
    if size > MAX_JSON_BYTES {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_JSON_BYTES} bytes as JSON (got {size})"),
        ));
    }
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(DomainError::invalid(field, "must be a JSON object")),
    }
}

/// Depth counted iteratively: a hostile document must not exhaust the stack.
fn json_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1_usize)];
    while let Some((node, depth)) = pending.pop() {
        match node {
            Value::Object(map) => {
                deepest = deepest.max(depth);
                pending.extend(map.values().map(|child| (child, depth + 1)));
            }
            Value::Array(items) => {
                deepest = deepest.max(depth);
                pending.extend(items.iter().map(|child| (child, depth + 1)));
            }
            _ => deepest = deepest.max(depth.saturating_sub(1)),
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_containers() {
        assert_eq!(json_depth(&json!({})), 1);
        assert_eq!(json_depth(&json!({"a": 1})), 1);
        assert_eq!(json_depth(&json!({"a": {"b": [1]}})), 3);
    }

    #[test]
    fn eleven_levels_are_rejected_and_ten_pass() {
        let mut ten = json!({});
        for _ in 0..9 {
            ten = json!({ "n": ten });
        }
        assert!(json_object(ten.clone(), "m").is_ok());
        assert!(json_object(json!({ "n": ten }), "m").is_err());
    }

    #[test]
    fn text_limits() {
        assert!(BoundedText::parse("", "f").is_err());
        assert!(BoundedText::parse("   ", "f").is_err());
        assert!(BoundedText::parse("é".repeat(255), "f").is_ok());
        assert!(BoundedText::parse("a".repeat(256), "f").is_err());
        assert!(Reason::parse("", "f").is_ok());
        assert!(Reason::parse("é".repeat(1000), "f").is_ok());
        assert!(Reason::parse("a".repeat(1001), "f").is_err());
    }

    #[test]
    fn text_refused_by_parse_is_refused_by_deserialize() {
        assert!(serde_json::from_value::<BoundedText>(json!("")).is_err());
        assert!(serde_json::from_value::<Reason>(json!("a".repeat(1001))).is_err());
        let text: Result<BoundedText, _> = serde_json::from_value(json!("holder-1"));
        assert_eq!(text.map(String::from).ok().as_deref(), Some("holder-1"));
    }
}
