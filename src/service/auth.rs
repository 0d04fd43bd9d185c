//! API key tokens: generation, hashing and authentication.

use super::Services;
use super::error::{ServiceError, ServiceResult};
use super::refusals::RefusalReason;
use super::viewer::Viewer;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq as _;

/// A secret token. `Debug` hides it so it never reaches a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyToken(String);

impl ApiKeyToken {
    /// 256 random bits, URL-safe, with a prefix that makes a leaked token recognisable to
    /// secret scanners.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("egk_{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    #[must_use]
    pub fn new(token: String) -> Self {
        Self(token)
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeyToken(<redacted>)")
    }
}

/// The prefix of every key this server issues.
const KEY_PREFIX: &str = "egk_";
/// `egk_` and 32 bytes in unpadded URL-safe base64.
const KEY_LEN: usize = KEY_PREFIX.len() + 43;

/// Whether `token` has the shape of a key `ApiKeyToken::generate` makes; anything else
/// cannot be in the store, so it is refused without a lookup.
#[must_use]
pub fn is_key_shaped(token: &str) -> bool {
    token.len() == KEY_LEN
        && token.starts_with(KEY_PREFIX)
        && token[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// SHA-256 hex: tokens carry 256 bits of entropy, so a fast unsalted hash is enough.
#[must_use]
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Services {
    /// Resolves a presented token to a caller. Revoked keys fail from the next request on:
    /// on this instance at once, on others once the revocation's notification arrives (see
    /// `key_cache`).
    ///
    /// # Errors
    /// `Unauthenticated` for an unknown or revoked token; `Store` when the lookup fails.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Viewer> {
        match self.authenticate_presented(Some(token)).await? {
            Ok(viewer) => Ok(viewer),
            Err(_) => Err(ServiceError::Unauthenticated),
        }
    }

    /// `authenticate`, saying why a key was refused (for the refusal audit and metrics).
    /// `None` is a request that presented no key.
    ///
    /// # Errors
    /// `Store` when the lookup fails; a refusal is the inner `Err`.
    pub async fn authenticate_presented(
        &self,
        token: Option<&str>,
    ) -> ServiceResult<Result<Viewer, RefusalReason>> {
        let Some(token) = token else {
            return Ok(Err(RefusalReason::MissingKey));
        };
        let presented = token.as_bytes();
        if bool::from(presented.ct_eq(self.root_key.expose().as_bytes())) {
            return Ok(Ok(Viewer::root()));
        }
        if !is_key_shaped(token) {
            return Ok(Err(RefusalReason::MalformedKey));
        }
        let key_hash = hash_token(token);
        let ticket = match self.keys.get(&key_hash) {
            Ok(viewer) => return Ok(Ok(viewer)),
            Err(ticket) => ticket,
        };
        let Some(key) = self.store.find_api_key_by_hash(&key_hash).await? else {
            return Ok(Err(RefusalReason::UnknownKey));
        };
        let stored_matches = bool::from(key.key_hash.as_bytes().ct_eq(key_hash.as_bytes()));
        if !stored_matches {
            return Ok(Err(RefusalReason::UnknownKey));
        }
        if key.revoked_at.is_some() {
            return Ok(Err(RefusalReason::RevokedKey));
        }
        let viewer = Viewer::institution_key(key.institution_id, key.id, key.role);
        self.keys.store(ticket, &key_hash, viewer);
        Ok(Ok(viewer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_key_shaped_and_guesses_are_not() {
        for _ in 0..100 {
            assert!(is_key_shaped(ApiKeyToken::generate().expose()));
        }
        assert!(!is_key_shaped("egk_nope"));
        assert!(!is_key_shaped(&format!("egk_{}", "a".repeat(42))));
        assert!(!is_key_shaped(&format!("egk_{}", "a".repeat(44))));
        assert!(!is_key_shaped(&format!("egk_{}!", "a".repeat(42))));
        assert!(!is_key_shaped(&format!("xyz_{}", "a".repeat(43))));
    }
}
