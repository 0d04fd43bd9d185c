//! Fingerprints of idempotent requests, so a reused key with other input is detectable.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// SHA-256 over the operation name and the request as JSON. `serde_json::Value` objects keep
/// keys sorted (no `preserve_order` feature), so equal inputs hash equal.
pub(super) fn request_hash(operation: &str, request: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(request.to_string().as_bytes());
    hex::encode(hasher.finalize())
}
