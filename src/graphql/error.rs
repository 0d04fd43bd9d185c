//! The one mapping of use-case errors to codes. Internal detail never reaches the client: it
//! is logged with the request id and replaced by a fixed message.

use super::codes::{ErrorCode, bad_user_input_resolver_error};
use crate::domain::DomainError;
use crate::service::ServiceError;
use async_graphql::{Error, ErrorExtensions as _};

pub(crate) type GqlResult<T> = Result<T, Error>;

/// BAD_USER_INPUT naming one input field.
pub(crate) fn bad_input(field: &str, message: &str) -> Error {
    bad_user_input_resolver_error(field, message)
}

/// `.gql()` on any use-case or store result. Resolvers must not `?` those errors directly:
/// async-graphql would turn their `Display` (with internal detail) into the client's message.
pub(crate) trait OrGraphqlError<T> {
    fn gql(self) -> GqlResult<T>;
}

impl<T, E: Into<ServiceError>> OrGraphqlError<T> for Result<T, E> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(|error| to_graphql(error.into()))
    }
}

/// The code a use-case error is shown with.
pub(crate) fn code(error: &ServiceError) -> ErrorCode {
    match error {
        ServiceError::Domain(DomainError::InvalidInput { .. }) => ErrorCode::BadUserInput,
        ServiceError::Domain(DomainError::PolicyViolation { .. }) => ErrorCode::PolicyViolation,
        ServiceError::Domain(DomainError::InvalidTransition { .. }) => ErrorCode::InvalidTransition,
        ServiceError::Unauthenticated => ErrorCode::Unauthenticated,
        ServiceError::Forbidden(_) => ErrorCode::Forbidden,
        ServiceError::NotFound(_) => ErrorCode::NotFound,
        ServiceError::Conflict(_) => ErrorCode::Conflict,
        ServiceError::Store(_) => ErrorCode::InternalServerError,
    }
}

pub(crate) fn to_graphql(error: ServiceError) -> Error {
    let code = code(&error);
    match error {
        ServiceError::Domain(DomainError::InvalidInput { field, message }) => {
            bad_input(&field, &message)
        }
        ServiceError::Domain(DomainError::PolicyViolation { rule, message }) => code
            .resolver_error(format!("{rule}: {message}"))
            .extend_with(|_, ext| ext.set("rule", rule.as_str())),
        ServiceError::Domain(error @ DomainError::InvalidTransition { from, to, .. }) => code
            .resolver_error(error.to_string())
            .extend_with(|_, ext| {
                ext.set("fromState", from.as_str());
                ext.set("toState", to.as_str());
            }),
        ServiceError::Store(detail) => {
            tracing::error!(error = %detail, "store failure while resolving a request");
            code.resolver_error("internal server error")
        }
        other => code.resolver_error(other.to_string()),
    }
}
