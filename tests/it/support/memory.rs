//! The in-memory store factory: a new, empty store per case.

use escrowgrid::adapters::memory::MemoryStore;
use escrowgrid::ports::Store;
use std::sync::Arc;

pub(crate) fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}
