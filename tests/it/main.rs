//! The integration test binary: the repository contract every store must keep.

mod api;
mod contract;
mod event_order;
mod feed;
mod postgres_only;
mod support;
