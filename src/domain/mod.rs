//! Pure domain types and rules: no I/O, no framework types.

pub mod enums;
pub mod error;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod model;
pub mod money;
pub mod policy;
pub mod template_config;

pub use enums::{ApiKeyRole, LedgerEventKind, PositionState, Region, TemplateCode, Vertical};
pub use error::DomainError;
pub use ids::{
    ApiKeyId, AssetId, AuditEventId, EventId, InstitutionId, PolicyId, PositionId, TemplateId,
};
pub use limits::{BoundedText, Reason};
pub use money::{Amount, Currency, ReleasedAmount};
