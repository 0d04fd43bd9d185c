//! The one place where typed errors become `extensions.code`. Internal detail never reaches
//! the client: it is logged with the request id and replaced by a fixed message.

use crate::domain::DomainError;
use crate::service::ServiceError;
use async_graphql::{Error, ErrorExtensions as _};

pub mod codes {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const POLICY_VIOLATION: &str = "POLICY_VIOLATION";
    pub const INVALID_TRANSITION: &str = "INVALID_TRANSITION";
    pub const CONFLICT: &str = "CONFLICT";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
    pub const SUBSCRIBER_TOO_SLOW: &str = "SUBSCRIBER_TOO_SLOW";
    pub use super::super::codes::{
        PARSE_FAILED as GRAPHQL_PARSE_FAILED, VALIDATION_FAILED as GRAPHQL_VALIDATION_FAILED,
    };
}

pub(crate) type GqlResult<T> = Result<T, Error>;

/// BAD_USER_INPUT naming one input field.
pub(crate) fn bad_input(field: &str, message: &str) -> Error {
    Error::new(format!("{field}: {message}")).extend_with(|_, ext| {
        ext.set("code", codes::BAD_USER_INPUT);
        let mut entry = async_graphql::indexmap::IndexMap::new();
        entry.insert(
            async_graphql::Name::new("field"),
            async_graphql::Value::from(field),
        );
        entry.insert(
            async_graphql::Name::new("message"),
            async_graphql::Value::from(message),
        );
        ext.set(
            "fields",
            async_graphql::Value::List(vec![async_graphql::Value::Object(entry)]),
        );
    })
}

fn coded(message: String, code: &'static str) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", code))
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

pub(crate) fn to_graphql(error: ServiceError) -> Error {
    match error {
        ServiceError::Domain(DomainError::InvalidInput { field, message }) => {
            bad_input(&field, &message)
        }
        ServiceError::Domain(DomainError::PolicyViolation { rule, message }) => {
            Error::new(format!("{rule}: {message}")).extend_with(|_, ext| {
                ext.set("code", codes::POLICY_VIOLATION);
                ext.set("rule", rule.as_str());
            })
        }
        ServiceError::Domain(error @ DomainError::InvalidTransition { from, to, .. }) => {
            Error::new(error.to_string()).extend_with(|_, ext| {
                ext.set("code", codes::INVALID_TRANSITION);
                ext.set("fromState", from.as_str());
                ext.set("toState", to.as_str());
            })
        }
        ServiceError::Unauthenticated => coded(error.to_string(), codes::UNAUTHENTICATED),
        ServiceError::Forbidden(_) => coded(error.to_string(), codes::FORBIDDEN),
        ServiceError::NotFound(_) => coded(error.to_string(), codes::NOT_FOUND),
        ServiceError::Conflict(_) => coded(error.to_string(), codes::CONFLICT),
        ServiceError::SubscriberTooSlow => coded(error.to_string(), codes::SUBSCRIBER_TOO_SLOW),
        ServiceError::Store(detail) => {
            tracing::error!(error = %detail, "store failure while resolving a request");
            coded("internal server error".into(), codes::INTERNAL_SERVER_ERROR)
        }
    }
}
