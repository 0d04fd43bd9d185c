//! Input limits of the contract: bounded text and bounded JSON objects.

use super::DomainError;
use serde_json::{Map, Value};

pub const MAX_TEXT_CHARS: usize = 255;
pub const MAX_REASON_CHARS: usize = 1000;
pub const MAX_JSON_BYTES: usize = 64 * 1024;
pub const MAX_JSON_DEPTH: usize = 10;

/// A name, label or reference: 1..=255 characters, not only white space.
///
/// # Errors
/// `InvalidInput` on `field` when empty, blank or too long.
pub fn bounded_text(value: &str, field: &str) -> Result<String, DomainError> {
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
    Ok(value.to_owned())
}

/// A transition reason: at most 1000 characters.
///
/// # Errors
/// `InvalidInput` on `field` when too long.
pub fn reason(value: &str, field: &str) -> Result<String, DomainError> {
    let chars = value.chars().count();
    if chars > MAX_REASON_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_REASON_CHARS} characters (got {chars})"),
        ));
    }
    Ok(value.to_owned())
}

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
        assert!(bounded_text("", "f").is_err());
        assert!(bounded_text("   ", "f").is_err());
        assert!(bounded_text(&"é".repeat(255), "f").is_ok());
        assert!(bounded_text(&"a".repeat(256), "f").is_err());
    }
}
