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
    /// The store failed; the detail is for the log, never for the client.
    #[error("store failure: {0}")]
    Store(RepoError),
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
