//! Persisted documents: a request may name its document by the SHA-256 of its text
//! (`extensions.persistedQuery { version: 1, sha256Hash }`, as Apollo clients send it) instead
//! of sending the text. Two sources know hashes: the trusted manifest loaded at start
//! (`TRUSTED_DOCUMENTS`), and the documents clients registered by sending text and hash
//! together (automatic persisted queries), which the document cache holds. With
//! `TRUSTED_DOCUMENTS_ONLY` nothing but the manifest's documents runs, and nothing registers.
//!
//! This module knows the wire format, the manifest and the policy; `documents` applies them.

use super::ErrorCode;
use super::codes::bad_user_input;
use async_graphql::{ServerError, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A document's SHA-256, the key both sources use.
pub(crate) type DocumentHash = [u8; 32];

#[must_use]
pub(crate) fn hash_of(text: &str) -> DocumentHash {
    Sha256::digest(text.as_bytes()).into()
}

/// The Apollo protocol's version of automatic persisted queries; the only one there is.
const PROTOCOL_VERSION: i64 = 1;

/// Apollo clients recognise the miss by this message (older ones) or by the code (newer).
const NOT_FOUND_MESSAGE: &str = "PersistedQueryNotFound";

/// Where a malformed `persistedQuery` extension is named in `extensions.fields`.
const FIELD: &str = "extensions.persistedQuery";

/// The hash a request's `extensions.persistedQuery` names, if it has one.
///
/// # Errors
/// BAD_USER_INPUT naming the part of the extension that is wrong.
pub(crate) fn requested_hash(
    extensions: &HashMap<String, Value>,
) -> Result<Option<DocumentHash>, ServerError> {
    let Some(extension) = extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let Value::Object(extension) = extension else {
        return Err(bad_user_input(FIELD, "persistedQuery must be an object"));
    };
    match extension.get("version") {
        Some(Value::Number(version)) if version.as_i64() == Some(PROTOCOL_VERSION) => {}
        _ => {
            return Err(bad_user_input(
                &format!("{FIELD}.version"),
                "persistedQuery.version must be 1",
            ));
        }
    }
    let field = format!("{FIELD}.sha256Hash");
    let Some(Value::String(hash)) = extension.get("sha256Hash") else {
        return Err(bad_user_input(
            &field,
            "persistedQuery.sha256Hash is required",
        ));
    };
    parse_hash(hash)
        .map(Some)
        .ok_or_else(|| bad_user_input(&field, "sha256Hash must be 64 hexadecimal digits"))
}

fn parse_hash(text: &str) -> Option<DocumentHash> {
    let mut hash = [0_u8; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

/// The miss Apollo clients answer by sending the text with the hash.
pub(crate) fn not_found() -> ServerError {
    ErrorCode::PersistedQueryNotFound.error(NOT_FOUND_MESSAGE)
}

pub(crate) fn not_in_list() -> ServerError {
    ErrorCode::PersistedQueryNotInList.error(
        "only trusted documents run on this server: send the sha256Hash of a document in its manifest",
    )
}

pub(crate) fn hash_mismatch() -> ServerError {
    bad_user_input(
        &format!("{FIELD}.sha256Hash"),
        "sha256Hash is not the SHA-256 of the query sent with it",
    )
}

/// Why a trusted-documents manifest was refused at start.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("is not a JSON object of \"<sha256>\": \"<document>\" entries: {0}")]
    NotAnObject(String),
    #[error("key {0:?} is not 64 hexadecimal digits")]
    BadKey(String),
    #[error("key {0:?} is not the SHA-256 of its document")]
    WrongHash(String),
}

/// The documents a production deployment allows, by hash: GraphQL Code Generator's client
/// preset and Relay's persisted-queries output both write this shape.
#[derive(Debug, Default)]
pub struct TrustedDocuments {
    by_hash: HashMap<DocumentHash, Arc<str>>,
}

impl TrustedDocuments {
    /// Parses a manifest; every key must be its document's SHA-256, so a hash can never run
    /// another text than the one it names.
    ///
    /// # Errors
    /// The first entry that is not a document under its own hash.
    pub fn from_manifest(json: &str) -> Result<Self, ManifestError> {
        let entries: HashMap<String, String> = serde_json::from_str(json)
            .map_err(|error| ManifestError::NotAnObject(error.to_string()))?;
        let mut by_hash = HashMap::with_capacity(entries.len());
        for (key, document) in entries {
            let hash = parse_hash(&key).ok_or_else(|| ManifestError::BadKey(key.clone()))?;
            if hash_of(&document) != hash {
                return Err(ManifestError::WrongHash(key));
            }
            by_hash.insert(hash, Arc::from(document));
        }
        Ok(Self { by_hash })
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    fn get(&self, hash: &DocumentHash) -> Option<&Arc<str>> {
        self.by_hash.get(hash)
    }
}

/// `TRUSTED_DOCUMENTS`, `TRUSTED_DOCUMENTS_ONLY` and `TRUSTED_DOCUMENTS_EXEMPT_ROOT`.
#[derive(Clone, Debug, Default)]
pub struct PersistedSettings {
    pub trusted: Option<Arc<TrustedDocuments>>,
    /// Refuse every document that is not in the manifest.
    pub trusted_only: bool,
    /// Let the root key send any document even then (for operators in GraphiQL).
    pub exempt_root: bool,
}

/// Counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersistedStats {
    /// Hashes answered by the manifest, and texts found in it in trusted-only mode.
    pub trusted_hits: u64,
    /// Hashes answered by a client's earlier registration.
    pub registered_hits: u64,
    /// Hashes nobody knew: `PERSISTED_QUERY_NOT_FOUND`.
    pub misses: u64,
    /// Texts registered under their hash.
    pub registrations: u64,
    /// Documents refused in trusted-only mode: `PERSISTED_QUERY_NOT_IN_LIST`.
    pub refusals: u64,
}

/// What a request's document is, once its hash and the policy have been looked at.
pub(crate) enum Source {
    /// The request's own text, to be registered under this hash once it parses.
    Text { register: Option<DocumentHash> },
    /// The text a hash named.
    Known(Arc<str>),
    /// A hash the client may have registered; `documents` looks in the cache.
    Registered(DocumentHash),
}

/// The policy and its counters.
#[derive(Default)]
pub(crate) struct Persisted {
    settings: PersistedSettings,
    trusted_hits: AtomicU64,
    registered_hits: AtomicU64,
    misses: AtomicU64,
    registrations: AtomicU64,
    refusals: AtomicU64,
}

impl Persisted {
    pub(crate) fn new(settings: PersistedSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    pub(crate) fn stats(&self) -> PersistedStats {
        PersistedStats {
            trusted_hits: self.trusted_hits.load(Ordering::Relaxed),
            registered_hits: self.registered_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            registrations: self.registrations.load(Ordering::Relaxed),
            refusals: self.refusals.load(Ordering::Relaxed),
        }
    }

    /// Where the document of a request with `query` (empty when only a hash was sent) and
    /// `hash` comes from, for a caller that is the root key or not.
    ///
    /// # Errors
    /// PERSISTED_QUERY_NOT_IN_LIST in trusted-only mode, BAD_USER_INPUT for a hash that is not
    /// its text's, and for a request with neither text nor hash, the parse error of no text.
    pub(crate) fn source(
        &self,
        query: &str,
        hash: Option<DocumentHash>,
        root: bool,
    ) -> Result<Source, ServerError> {
        let trusted = self.settings.trusted.as_deref();
        let enforced = self.settings.trusted_only && !(root && self.settings.exempt_root);
        if query.is_empty()
            && let Some(hash) = hash
        {
            if let Some(text) = trusted.and_then(|trusted| trusted.get(&hash)) {
                self.trusted_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Source::Known(Arc::clone(text)));
            }
            if enforced {
                return Err(self.refused());
            }
            return Ok(Source::Registered(hash));
        }
        if let Some(hash) = hash
            && hash_of(query) != hash
        {
            return Err(hash_mismatch());
        }
        if enforced {
            let hash = hash.unwrap_or_else(|| hash_of(query));
            return match trusted.and_then(|trusted| trusted.get(&hash)) {
                Some(_) => {
                    self.trusted_hits.fetch_add(1, Ordering::Relaxed);
                    Ok(Source::Text { register: None })
                }
                None => Err(self.refused()),
            };
        }
        Ok(Source::Text {
            register: hash.filter(|_| !self.settings.trusted_only),
        })
    }

    fn refused(&self) -> ServerError {
        self.refusals.fetch_add(1, Ordering::Relaxed);
        not_in_list()
    }

    pub(crate) fn registered_hit(&self) {
        self.registered_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) -> ServerError {
        self.misses.fetch_add(1, Ordering::Relaxed);
        not_found()
    }

    pub(crate) fn registered(&self) {
        self.registrations.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::code_of;

    const DOCUMENT: &str = "{ viewer { role } }";

    fn extension(version: i64, hash: &str) -> HashMap<String, Value> {
        let value = Value::from_json(serde_json::json!({
            "persistedQuery": { "version": version, "sha256Hash": hash }
        }))
        .expect("JSON");
        let Value::Object(map) = value else {
            panic!("an object");
        };
        map.into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect()
    }

    fn manifest() -> Arc<TrustedDocuments> {
        let json = serde_json::json!({ hex::encode(hash_of(DOCUMENT)): DOCUMENT }).to_string();
        Arc::new(TrustedDocuments::from_manifest(&json).expect("valid manifest"))
    }

    #[test]
    fn the_extension_names_a_hash_or_is_refused() {
        let hash = hex::encode(hash_of(DOCUMENT));
        assert_eq!(
            requested_hash(&extension(1, &hash)).expect("valid"),
            Some(hash_of(DOCUMENT))
        );
        assert_eq!(requested_hash(&HashMap::new()).expect("none"), None);
        for bad in [extension(2, &hash), extension(1, "abc"), extension(1, "")] {
            let error = requested_hash(&bad).expect_err("refused");
            assert_eq!(code_of(&error), Some(ErrorCode::BadUserInput));
        }
    }

    #[test]
    fn a_manifest_entry_must_be_its_documents_hash() {
        let wrong = serde_json::json!({ hex::encode(hash_of("{ a }")): DOCUMENT }).to_string();
        assert!(matches!(
            TrustedDocuments::from_manifest(&wrong),
            Err(ManifestError::WrongHash(_))
        ));
        let bad_key = serde_json::json!({ "md5:abc": DOCUMENT }).to_string();
        assert!(matches!(
            TrustedDocuments::from_manifest(&bad_key),
            Err(ManifestError::BadKey(_))
        ));
        assert!(TrustedDocuments::from_manifest("[]").is_err());
        assert_eq!(manifest().len(), 1);
    }

    #[test]
    fn trusted_only_refuses_other_documents_and_exempts_root_only_when_told() {
        let persisted = Persisted::new(PersistedSettings {
            trusted: Some(manifest()),
            trusted_only: true,
            exempt_root: false,
        });
        assert!(matches!(
            persisted.source("", Some(hash_of(DOCUMENT)), false),
            Ok(Source::Known(_))
        ));
        assert!(matches!(
            persisted.source(DOCUMENT, None, false),
            Ok(Source::Text { register: None })
        ));
        for (query, hash) in [("{ other }", None), ("", Some(hash_of("{ other }")))] {
            let Err(error) = persisted.source(query, hash, true) else {
                panic!("{query:?} must be refused");
            };
            assert_eq!(code_of(&error), Some(ErrorCode::PersistedQueryNotInList));
        }
        assert_eq!(persisted.stats().refusals, 2);

        let exempt = Persisted::new(PersistedSettings {
            trusted: Some(manifest()),
            trusted_only: true,
            exempt_root: true,
        });
        assert!(exempt.source("{ other }", None, true).is_ok());
        assert!(exempt.source("{ other }", None, false).is_err());
    }

    #[test]
    fn without_trusted_only_a_text_and_its_hash_register() {
        let persisted = Persisted::new(PersistedSettings::default());
        let hash = hash_of(DOCUMENT);
        assert!(matches!(
            persisted.source(DOCUMENT, Some(hash), false),
            Ok(Source::Text { register: Some(registered) }) if registered == hash
        ));
        assert!(matches!(
            persisted.source("", Some(hash), false),
            Ok(Source::Registered(_))
        ));
        let Err(error) = persisted.source("{ other }", Some(hash), false) else {
            panic!("a hash that is not the text's is refused");
        };
        assert_eq!(code_of(&error), Some(ErrorCode::BadUserInput));
    }
}
