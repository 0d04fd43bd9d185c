//! The records the stores keep; each is what the contract's object type of the same name shows.

use super::policy::PositionRules;
use super::template_config::TemplateConfig;
use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type Timestamp = DateTime<Utc>;
pub type JsonObject = Map<String, Value>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Institution {
    pub id: InstitutionId,
    pub name: BoundedText,
    pub regions: Vec<Region>,
    pub verticals: Vec<Vertical>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Not serde: its config is parsed against its code and region, which a bare document lacks.
#[derive(Clone, Debug, PartialEq)]
pub struct AssetTemplate {
    pub id: TemplateId,
    pub institution_id: InstitutionId,
    pub code: TemplateCode,
    pub name: BoundedText,
    pub vertical: Vertical,
    pub region: Region,
    pub config: TemplateConfig,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub id: AssetId,
    pub institution_id: InstitutionId,
    pub template_id: TemplateId,
    pub label: BoundedText,
    pub metadata: Option<JsonObject>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub id: PositionId,
    pub institution_id: InstitutionId,
    pub asset_id: AssetId,
    pub holder_reference: BoundedText,
    pub currency: Currency,
    pub amount: Amount,
    pub released_amount: ReleasedAmount,
    pub state: PositionState,
    pub version: i32,
    pub external_reference: Option<BoundedText>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where an event sits in the store's log. Ordered by `txn`, then `index`; the store makes
/// sure no event can become visible below one already readable (see
/// `ports::PositionEventLog`), so subscriptions resume "after this point" and miss nothing.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct EventSeq {
    /// The writing transaction (PostgreSQL: its `pg_current_xact_id()`).
    pub txn: i64,
    /// The event's own number, unique in the store and increasing within one transaction.
    pub index: i64,
}

impl EventSeq {
    /// Before every event.
    pub const START: Self = Self { txn: 0, index: 0 };
}

/// One immutable lifecycle step. `seq` is the store's order of events, assigned by the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PositionEvent {
    pub id: EventId,
    pub seq: EventSeq,
    pub position_id: PositionId,
    pub institution_id: InstitutionId,
    pub asset_id: AssetId,
    pub from_state: Option<PositionState>,
    pub to_state: PositionState,
    pub reason: Option<Reason>,
    pub metadata: Option<JsonObject>,
    pub release_amount: Option<Amount>,
    pub version: i32,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEvent {
    pub id: EventId,
    pub seq: i64,
    pub institution_id: InstitutionId,
    pub position_id: PositionId,
    pub kind: LedgerEventKind,
    pub previous_state: Option<PositionState>,
    pub new_state: PositionState,
    pub payload: JsonObject,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: Timestamp,
    pub action: String,
    pub outcome: AuditOutcome,
    pub api_key_id: Option<ApiKeyId>,
    pub institution_id: Option<InstitutionId>,
    pub resource_type: Option<String>,
    pub resource_id: Option<uuid::Uuid>,
    pub request_id: Option<String>,
    pub payload: JsonObject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditOutcome {
    #[serde(rename = "SUCCESS")]
    Success,
    #[serde(rename = "FORBIDDEN")]
    Forbidden,
    #[serde(rename = "UNAUTHENTICATED")]
    Unauthenticated,
}

impl AuditOutcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Forbidden => "FORBIDDEN",
            Self::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// # Errors
    /// When `text` is not a stored outcome.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "SUCCESS" => Ok(Self::Success),
            "FORBIDDEN" => Ok(Self::Forbidden),
            "UNAUTHENTICATED" => Ok(Self::Unauthenticated),
            other => Err(format!("unknown audit outcome {other:?}")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub institution_id: InstitutionId,
    pub label: BoundedText,
    pub role: ApiKeyRole,
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub key_hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub id: PolicyId,
    pub institution_id: InstitutionId,
    pub region: Region,
    pub rules: PositionRules,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which mutation an idempotency key was first used with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdempotentOperation {
    CreatePosition,
    TransitionPosition,
}

impl IdempotentOperation {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatePosition => "createPosition",
            Self::TransitionPosition => "transitionPosition",
        }
    }
}

/// A remembered idempotent write: the request's fingerprint and the position it produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub institution_id: InstitutionId,
    pub key: BoundedText,
    pub operation: IdempotentOperation,
    /// SHA-256 of the canonical request, so "same key, different input" is detectable.
    pub request_hash: String,
    pub position_id: PositionId,
    /// The position exactly as the first request returned it.
    pub response: Position,
    pub created_at: Timestamp,
}

/// Milliseconds are the precision every store keeps, so a record reads back equal to what was
/// written (PostgreSQL keeps microseconds; the wire shows milliseconds).
#[must_use]
pub fn now() -> Timestamp {
    let now = Utc::now();
    let millis = now.timestamp_millis();
    DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or(now)
}
