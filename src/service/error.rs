//! The errors a use case returns; the GraphQL edge maps each to one `extensions.code`.

use crate::domain::DomainError;
use crate::ports::RepoError;
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
    /// A live feed fell so far behind that messages it had not read were dropped; the
    /// subscriber resumes from its last cursor.
    #[error(
        "this subscriber fell too far behind and was closed; resubscribe with `after` set to the last cursor received"
    )]
    SubscriberTooSlow,
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
            RepoError::Duplicate { constraint } => Self::Conflict(format!(
                "a record with the same unique value exists ({constraint})"
            )),
            other => Self::Store(other),
        }
    }
}

pub(crate) type ServiceResult<T> = Result<T, ServiceError>;
