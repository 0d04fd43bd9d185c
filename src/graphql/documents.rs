//! Documents seen before: parsed once, and once a document has passed validation and the
//! limits, executed by a schema without extensions. Extensions are how the parse and
//! validation stages code their errors and compare depth and complexity, but async-graphql
//! also calls every extension around every field it resolves, which costs a nested page about
//! a third of its CPU (docs/read-path.md). So a document runs on the `checked` schema until it
//! has run once, and on the `fast` one afterwards, unless its measure depends on its variables
//! (a `first: $n`, a `@skip(if: $x)`): such a document is checked every time. Validation's
//! rules still run on the fast schema, since variables' values can fail them; when every
//! value fits its declared type (`variable_types.rs`), they cannot, and the `trusted` schema
//! skips them (about 7 % of a point read's CPU). A refusal on the fast schema is asked
//! of the checked one again, which codes it as a cold document's.
//!
//! The cache is keyed by the document text itself (its hash picks the slot, the text decides),
//! one cache per pair of schemas, so a hit can never be another document's; it is bounded by
//! entries and by bytes of text, and forgets the oldest entry first. A document registered
//! under its SHA-256 (`persisted`) is found by that hash too, for as long as it is cached.

use super::AppSchema;
use super::ErrorCode;
use super::limits::{DocumentShapes, SchemaOptions, check_input_lists, cost_reads_variables};
use super::persisted::{
    DocumentHash, Persisted, PersistedSettings, PersistedStats, Source, requested_hash,
};
use super::variable_types::{VariableTypes, declared_variables};
use async_graphql::parser::parse_query;
use async_graphql::parser::types::{ExecutableDocument, Type};
use async_graphql::{Name, Request, ServerError, Variables};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// How many documents, and how much text, the cache keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentCacheLimits {
    /// Zero switches the cache off: every request parses and is checked.
    pub max_entries: usize,
    pub max_bytes: usize,
}

impl Default for DocumentCacheLimits {
    fn default() -> Self {
        Self {
            max_entries: 1_000,
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// One parsed document, shared by every request that sends its text.
pub(crate) struct Document {
    parsed: ExecutableDocument,
    /// Set once the document has run on the checked schema, validation and limits passed.
    passed: AtomicBool,
    /// Whether depth and complexity could differ with other variables, or with the operation
    /// chosen (validation measures only the selected one): then it is checked every time.
    cost_reads_variables: bool,
    has_variables: bool,
    /// The variables and their declared types, for a document of one operation: then whether
    /// validation could refuse this request is a check of their values alone
    /// (`VariableTypes::all_fit`).
    declared_variables: Option<Vec<(Name, Type)>>,
}

impl Document {
    pub(crate) fn parsed(&self) -> &ExecutableDocument {
        &self.parsed
    }
}

/// Counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DocumentCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
}

struct Cached {
    document: Arc<Document>,
    /// The hash a client registered the text under, to forget with it.
    registered_as: Option<DocumentHash>,
}

#[derive(Default)]
struct Slots {
    by_text: HashMap<Arc<str>, Cached>,
    by_hash: HashMap<DocumentHash, Arc<str>>,
    /// Insertion order, oldest first: what eviction takes.
    order: VecDeque<Arc<str>>,
    bytes: usize,
}

/// The checked and the fast schemas, and the documents they share.
pub struct Executor {
    checked: AppSchema,
    fast: AppSchema,
    /// `fast` without validation's rules, for documents whose variables cannot fail them.
    trusted: AppSchema,
    options: SchemaOptions,
    shapes: Arc<DocumentShapes>,
    variable_types: Arc<VariableTypes>,
    limits: DocumentCacheLimits,
    persisted: Persisted,
    slots: Mutex<Slots>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Executor {
    #[must_use]
    pub fn new(
        checked: AppSchema,
        fast: AppSchema,
        trusted: AppSchema,
        options: SchemaOptions,
        limits: DocumentCacheLimits,
        persisted: PersistedSettings,
    ) -> Self {
        Self {
            checked,
            fast,
            trusted,
            options,
            shapes: DocumentShapes::of_schema(),
            variable_types: VariableTypes::of_schema(),
            limits,
            persisted: Persisted::new(persisted),
            slots: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The schema every document is checked by (and the one subscriptions stream from).
    pub(crate) fn checked(&self) -> &AppSchema {
        &self.checked
    }

    #[must_use]
    pub fn stats(&self) -> DocumentCacheStats {
        let entries = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_text
            .len();
        DocumentCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: u64::try_from(entries).unwrap_or(u64::MAX),
        }
    }

    #[must_use]
    pub fn persisted_stats(&self) -> PersistedStats {
        self.persisted.stats()
    }

    /// The parsed document `request` runs: `resolve_persisted`, then `document`, and a text
    /// sent with its hash is registered under it once it parses.
    ///
    /// # Errors
    /// `resolve_persisted`'s and `document`'s.
    pub(crate) fn request_document(
        &self,
        request: &mut Request,
        root: bool,
    ) -> Result<Arc<Document>, ServerError> {
        let register = self.resolve_persisted(request, root)?;
        let document = self.document(&request.query)?;
        if let Some(hash) = register {
            self.register(hash, &request.query);
        }
        Ok(document)
    }

    /// Applies `extensions.persistedQuery` and the trusted-documents policy, for a caller that
    /// is `root` or not: a hash alone is replaced by the text it names (written into the
    /// request, which logs and error positions read). Returns the hash to register the text
    /// under once it parses.
    ///
    /// # Errors
    /// PERSISTED_QUERY_NOT_FOUND, PERSISTED_QUERY_NOT_IN_LIST, and BAD_USER_INPUT for a
    /// malformed extension or a hash that is not its text's.
    pub(crate) fn resolve_persisted(
        &self,
        request: &mut Request,
        root: bool,
    ) -> Result<Option<DocumentHash>, ServerError> {
        let hash = requested_hash(&request.extensions)?;
        match self.persisted.source(&request.query, hash, root)? {
            Source::Text { register } => Ok(register),
            Source::Known(text) => {
                request.query = text.to_string();
                Ok(None)
            }
            Source::Registered(hash) => {
                let text = self
                    .registered_text(&hash)
                    .ok_or_else(|| self.persisted.miss())?;
                self.persisted.registered_hit();
                request.query = text.to_string();
                Ok(None)
            }
        }
    }

    fn registered_text(&self, hash: &DocumentHash) -> Option<Arc<str>> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.by_hash.get(hash).cloned()
    }

    /// Files a cached text under its hash; a text the cache does not hold (too large, or the
    /// cache is off) is not registered, and its hash keeps missing.
    pub(crate) fn register(&self, hash: DocumentHash, query: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((text, cached)) = slots.by_text.get_key_value(query) else {
            return;
        };
        if cached.registered_as.is_some() {
            return;
        }
        let text = Arc::clone(text);
        if let Some(cached) = slots.by_text.get_mut(query) {
            cached.registered_as = Some(hash);
        }
        slots.by_hash.insert(hash, text);
        drop(slots);
        self.persisted.registered();
    }

    /// The parsed document for `query`: the text limits and the parse run only the first time
    /// a text is seen. A failure is not kept: its error says why, and the text scan that
    /// refuses floods runs before any parse.
    ///
    /// # Errors
    /// QUERY_TOO_COMPLEX from the text scan, GRAPHQL_PARSE_FAILED from the parse.
    pub(crate) fn document(&self, query: &str) -> Result<Arc<Document>, ServerError> {
        if let Some(found) = self.lookup(query) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(found);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.options.check_text(query)?;
        let parsed =
            parse_query(query).map_err(|error| ErrorCode::GraphqlParseFailed.mark(error.into()))?;
        let document = Arc::new(Document {
            cost_reads_variables: cost_reads_variables(&parsed)
                || parsed.operations.iter().count() > 1,
            has_variables: parsed
                .operations
                .iter()
                .any(|(_, operation)| !operation.node.variable_definitions.is_empty()),
            declared_variables: declared_variables(&parsed),
            parsed,
            passed: AtomicBool::new(false),
        });
        self.remember(query, &document);
        Ok(document)
    }

    fn lookup(&self, query: &str) -> Option<Arc<Document>> {
        if self.limits.max_entries == 0 {
            return None;
        }
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots
            .by_text
            .get(query)
            .map(|cached| Arc::clone(&cached.document))
    }

    fn remember(&self, query: &str, document: &Arc<Document>) {
        let limits = self.limits;
        if limits.max_entries == 0 || query.len() > limits.max_bytes {
            return;
        }
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.by_text.contains_key(query) {
            return;
        }
        while slots.by_text.len() >= limits.max_entries
            || slots.bytes + query.len() > limits.max_bytes
        {
            let Some(oldest) = slots.order.pop_front() else {
                break;
            };
            slots.bytes -= oldest.len();
            if let Some(hash) = slots
                .by_text
                .remove(&oldest)
                .and_then(|cached| cached.registered_as)
            {
                slots.by_hash.remove(&hash);
            }
        }
        let text: Arc<str> = Arc::from(query);
        slots.bytes += text.len();
        slots.order.push_back(Arc::clone(&text));
        slots.by_text.insert(
            text,
            Cached {
                document: Arc::clone(document),
                registered_as: None,
            },
        );
    }

    /// The schema to run `document` on with these variables. The fast one only for a
    /// document that passed before and whose measure its variables cannot change; the input
    /// lists, which the variables can lengthen, are checked here then, as the checked schema
    /// would.
    ///
    /// # Errors
    /// QUERY_TOO_COMPLEX naming `maxInputListLength`.
    pub(crate) fn schema_for(
        &self,
        document: &Document,
        variables: &Variables,
    ) -> Result<&AppSchema, ServerError> {
        if !document.passed.load(Ordering::Relaxed) || document.cost_reads_variables {
            return Ok(&self.checked);
        }
        if document.has_variables {
            check_input_lists(&self.shapes, &self.options, &document.parsed, variables)?;
        }
        let trusted = document
            .declared_variables
            .as_ref()
            .is_some_and(|declared| self.variable_types.all_fit(declared, variables));
        Ok(if trusted { &self.trusted } else { &self.fast })
    }

    /// Whether `schema` is the one that skips validation's rules.
    pub(crate) fn is_trusted(&self, schema: &AppSchema) -> bool {
        std::ptr::eq(schema, &self.trusted)
    }

    /// Records that `document` ran on the checked schema: it passed every check.
    pub(crate) fn passed(&self, document: &Document) {
        document.passed.store(true, Ordering::Relaxed);
    }
}
