//! Every `extensions.code` a response can carry, with its HTTP status, and the one place that
//! writes a code onto an error (with the fields the contract attaches to BAD_USER_INPUT and
//! QUERY_TOO_COMPLEX). Every other module names a code by its variant, never by its text.
//!
//! The list is documented twice for clients, in README.md's "Errors" section and in the
//! `Query` type's description in `schema.graphql`; a test holds both to this enum.

use async_graphql::indexmap::IndexMap;
use async_graphql::{ErrorExtensionValues, Name, ServerError, Value};
use std::fmt;
use std::str::FromStr;

/// Declares the enum with one line per code, so `ALL` cannot miss a variant.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $code:literal, $status:literal;)+) => {
        /// A code clients read from `extensions.code`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order the documentation lists them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The text clients see in `extensions.code`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }

            /// The status of a response the server refuses with this code before any
            /// operation runs (a transport refusal may name a more precise 4xx or 5xx, such
            /// as 413 for a body too large or 504 for a timeout). An error raised while an
            /// operation runs travels in a 200 with the operation's result, whatever its
            /// code: the codes that only arise there answer 200.
            #[must_use]
            pub const fn http_status(self) -> u16 {
                match self {
                    $(Self::$variant => $status,)+
                }
            }
        }
    };
}

error_codes! {
    /// No API key, or one that is unknown or revoked.
    Unauthenticated = "UNAUTHENTICATED", 401;
    /// The key's role or institution does not allow this.
    Forbidden = "FORBIDDEN", 200;
    /// No such entity for this caller (another institution's is indistinguishable from a
    /// missing one), or no such HTTP path.
    NotFound = "NOT_FOUND", 404;
    /// An input value or request parameter is invalid; `extensions.fields` names it.
    BadUserInput = "BAD_USER_INPUT", 400;
    /// A template or institution policy bound refuses the write; `extensions.rule` names it.
    PolicyViolation = "POLICY_VIOLATION", 200;
    /// The lifecycle has no such move; `extensions.fromState` and `toState` name it.
    InvalidTransition = "INVALID_TRANSITION", 200;
    /// A stale `expectedVersion`, a reused `idempotencyKey` or a unique value already taken.
    Conflict = "CONFLICT", 200;
    /// The key's rate limit is spent; `extensions.retryAfter` says when to retry (seconds).
    RateLimited = "RATE_LIMITED", 429;
    /// The document or request is over a limit; `extensions.limit` and `max` name it.
    QueryTooComplex = "QUERY_TOO_COMPLEX", 400;
    /// The server failed; the detail is in its log under the request id, never here.
    InternalServerError = "INTERNAL_SERVER_ERROR", 500;
    /// The document does not parse.
    GraphqlParseFailed = "GRAPHQL_PARSE_FAILED", 400;
    /// The document does not validate against the schema.
    GraphqlValidationFailed = "GRAPHQL_VALIDATION_FAILED", 400;
    /// The socket already runs `WS_MAX_SUBSCRIPTIONS` operations (`extensions.max`); the id
    /// stays free. Only on websockets.
    TooManySubscriptions = "TOO_MANY_SUBSCRIPTIONS", 200;
    /// The `persistedQuery` hash is not known here (yet): send the document's text with it,
    /// and it is registered. The message is `PersistedQueryNotFound`, as Apollo clients expect.
    PersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND", 400;
    /// Only trusted documents run on this server, and this one is not in its manifest.
    PersistedQueryNotInList = "PERSISTED_QUERY_NOT_IN_LIST", 400;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code string that is not an [`ErrorCode`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == text)
            .ok_or_else(|| UnknownErrorCode(text.to_owned()))
    }
}

impl ErrorCode {
    /// A new error with this code.
    pub(crate) fn error(self, message: impl Into<String>) -> ServerError {
        self.mark(ServerError::new(message, None))
    }

    /// `error` with this code, replacing any code it had.
    pub(crate) fn mark(self, mut error: ServerError) -> ServerError {
        self.write(&mut error.extensions);
        error
    }

    /// A resolver's error with this code; async-graphql adds its position and path.
    pub(crate) fn resolver_error(self, message: impl Into<String>) -> async_graphql::Error {
        let mut error = async_graphql::Error::new(message);
        self.write(&mut error.extensions);
        error
    }

    fn write(self, extensions: &mut Option<ErrorExtensionValues>) {
        extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("code", self.as_str());
    }
}

/// The code `error` carries; `None` when it has none, or one that is not ours.
pub(crate) fn code_of(error: &ServerError) -> Option<ErrorCode> {
    match error.extensions.as_ref()?.get("code")? {
        Value::String(code) => code.parse().ok(),
        _ => None,
    }
}

/// BAD_USER_INPUT with the contract's `fields: [{field, message}]`.
pub(crate) fn bad_user_input(field: &str, message: impl Into<String>) -> ServerError {
    let message = message.into();
    let mut error = ServerError::new(message.clone(), None);
    write_bad_input(&mut error.extensions, field, message);
    error
}

/// A resolver's BAD_USER_INPUT; its message starts with the field it names.
pub(crate) fn bad_user_input_resolver_error(field: &str, message: &str) -> async_graphql::Error {
    let mut error = async_graphql::Error::new(format!("{field}: {message}"));
    write_bad_input(&mut error.extensions, field, message.to_owned());
    error
}

fn write_bad_input(extensions: &mut Option<ErrorExtensionValues>, field: &str, message: String) {
    ErrorCode::BadUserInput.write(extensions);
    let mut entry = IndexMap::new();
    entry.insert(Name::new("field"), Value::from(field));
    entry.insert(Name::new("message"), Value::from(message));
    extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("fields", Value::List(vec![Value::Object(entry)]));
}

/// QUERY_TOO_COMPLEX naming the limit (e.g. `maxAliases`) and its maximum.
pub(crate) fn too_complex(message: impl Into<String>, limit: &str, max: usize) -> ServerError {
    let mut error = ErrorCode::QueryTooComplex.error(message);
    write_limit(&mut error.extensions, limit, max);
    error
}

/// A resolver's QUERY_TOO_COMPLEX, for a limit only execution can measure; async-graphql adds
/// its position and path.
pub(crate) fn too_complex_resolver_error(
    message: impl Into<String>,
    limit: &str,
    max: usize,
) -> async_graphql::Error {
    let mut error = ErrorCode::QueryTooComplex.resolver_error(message);
    write_limit(&mut error.extensions, limit, max);
    error
}

fn write_limit(extensions: &mut Option<ErrorExtensionValues>, limit: &str, max: usize) {
    let extensions = extensions.get_or_insert_with(ErrorExtensionValues::default);
    extensions.set("limit", limit);
    extensions.set("max", i64::try_from(max).unwrap_or(i64::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README.md's "Errors" section, up to the next heading of its level or above.
    fn readme_errors_section() -> &'static str {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("\n## Errors\n")
            .expect("README.md has an \"## Errors\" section");
        let section = &readme[start + 1..];
        let end = section[3..]
            .find("\n## ")
            .map_or(section.len(), |end| end + 3);
        &section[..end]
    }

    #[test]
    fn every_code_round_trips_through_its_text() {
        for &code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
        }
        assert!("TEAPOT".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn the_readme_lists_exactly_the_codes_of_the_enum() {
        let section = readme_errors_section();
        for &code in ErrorCode::ALL {
            let row = format!("| `{code}` | {} |", code.http_status());
            assert!(
                section.contains(&row),
                "README.md's Errors section must list {code} with its status: `{row}`"
            );
        }
        let listed: Vec<&str> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .collect();
        for code in listed {
            assert!(
                code.parse::<ErrorCode>().is_ok(),
                "README.md lists {code}, which the server never sends"
            );
        }
    }

    #[test]
    fn the_schema_documents_every_code() {
        let schema = include_str!("../../schema.graphql");
        for &code in ErrorCode::ALL {
            assert!(
                schema.contains(&format!("`{code}`")),
                "schema.graphql's descriptions must name {code}"
            );
        }
    }

    #[test]
    fn bad_user_input_names_its_field() {
        let error = bad_user_input("variables.id", "missing");
        assert_eq!(code_of(&error), Some(ErrorCode::BadUserInput));
        let json = serde_json::to_value(&error).expect("serializes");
        assert_eq!(
            json["extensions"]["fields"],
            serde_json::json!([{ "field": "variables.id", "message": "missing" }])
        );
    }

    #[test]
    fn a_code_that_is_not_ours_counts_as_none() {
        let mut error = ServerError::new("x", None);
        error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("code", "SOMETHING_ELSE");
        assert_eq!(code_of(&error), None);
    }
}
