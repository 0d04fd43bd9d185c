//! API key tokens: generation, hashing and authentication.

use super::Services;
use super::error::{ServiceError, ServiceResult};
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

/// SHA-256 hex: tokens carry 256 bits of entropy, so a fast unsalted hash is enough.
#[must_use]
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Services {
    /// Resolves a presented token to a caller. Revoked keys fail from the next request on,
    /// because every request looks the key up afresh.
    ///
    /// # Errors
    /// `Unauthenticated` for an unknown or revoked token; `Store` when the lookup fails.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Viewer> {
        let presented = token.as_bytes();
        if bool::from(presented.ct_eq(self.root_key.expose().as_bytes())) {
            return Ok(Viewer::root());
        }
        let key_hash = hash_token(token);
        let Some(key) = self.store.find_api_key_by_hash(&key_hash).await? else {
            return Err(ServiceError::Unauthenticated);
        };
        let stored_matches = bool::from(key.key_hash.as_bytes().ct_eq(key_hash.as_bytes()));
        if !stored_matches || key.revoked_at.is_some() {
            return Err(ServiceError::Unauthenticated);
        }
        Ok(Viewer::institution_key(
            key.institution_id,
            key.id,
            key.role,
        ))
    }
}
