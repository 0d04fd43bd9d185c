//! The errors a use case returns; the GraphQL edge maps each to one `extensions.code`.

use crate::domain::DomainError;
use crate::ports::{RepoError, UniqueRule};
use thiserror::Error;

#[derive(Clone, Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("authentication required: send a valid API key")]
    Unauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store failed; the detail is for the log, never for the client.
    #[error("store failure: {0}")]
    Store(RepoError),
}

impl ServiceError {
    /// The store could not be reached or did not answer in time: worth a retry, unlike
    /// any other store failure.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Store(RepoError::Unavailable(_)))
    }
}

impl From<RepoError> for ServiceError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::NotFound { entity } => Self::NotFound(entity),
            RepoError::Conflict { message } => Self::Conflict(message),
            RepoError::Duplicate(rule) => Self::Conflict(duplicate_message(rule).to_owned()),
            other => Self::Store(other),
        }
    }
}

/// A CONFLICT names the rule a write broke, in the client's words, never how a store spells it.
fn duplicate_message(rule: UniqueRule) -> &'static str {
    match rule {
        UniqueRule::InstitutionId => "an institution with this id already exists",
        UniqueRule::TemplateId => "an asset template with this id already exists",
        UniqueRule::AssetId => "an asset with this id already exists",
        UniqueRule::PositionId => "a position with this id already exists",
        UniqueRule::PositionEventId => "a position event with this id already exists",
        UniqueRule::PositionEventSeq => "a position event already holds this place in the log",
        UniqueRule::PositionEventVersion => "the position already has an event for this version",
        UniqueRule::LedgerEventId => "a ledger event with this id already exists",
        UniqueRule::LedgerEventSeq => "a ledger event already holds this place in the ledger",
        UniqueRule::AuditEventId => "an audit event with this id already exists",
        UniqueRule::ApiKeyId => "an API key with this id already exists",
        UniqueRule::ApiKeyHash => "an API key with this token already exists",
        UniqueRule::PolicyId => "a policy with this id already exists",
        UniqueRule::PolicyRegion => "the institution already has a policy for this region",
        UniqueRule::IdempotencyKey => "this idempotencyKey is already held by another request",
    }
}

pub(crate) type ServiceResult<T> = Result<T, ServiceError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_is_a_conflict_worded_by_its_rule() {
        let error = ServiceError::from(RepoError::Duplicate(UniqueRule::ApiKeyHash));
        assert!(
            matches!(&error, ServiceError::Conflict(message)
                if message == "an API key with this token already exists"),
            "{error:?}"
        );
        assert!(!error.to_string().contains("api_keys"), "{error}");
    }
}
