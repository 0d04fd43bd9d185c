//! SeaORM entities for the escrowgrid PostgreSQL schema, one module per table.
//!
//! These mirror the tables created by the `migration` crate; they are the storage shape only
//! (state and enum columns stay `String`), and the server maps them to domain types.

pub mod api_key;
pub mod asset;
pub mod asset_template;
pub mod audit_event;
pub mod idempotency_record;
pub mod institution;
pub mod ledger_event;
pub mod policy;
pub mod position;
pub mod position_event;
pub mod prelude;
