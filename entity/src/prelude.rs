//! Entity types under table-flavoured names, for `use entity::prelude::*`.

pub use super::api_key::Entity as ApiKeys;
pub use super::asset::Entity as Assets;
pub use super::asset_template::Entity as AssetTemplates;
pub use super::audit_event::Entity as AuditEvents;
pub use super::idempotency_record::Entity as IdempotencyRecords;
pub use super::institution::Entity as Institutions;
pub use super::ledger_event::Entity as LedgerEvents;
pub use super::policy::Entity as Policies;
pub use super::position::Entity as Positions;
pub use super::position_event::Entity as PositionEvents;
