//! Errors the HTTP layer answers itself (before or around GraphQL execution), in the same
//! `{"errors":[…]}` shape and with the same `extensions.code` values as GraphQL errors.

use super::accept::Format;
use crate::graphql::{ErrorCode, bad_user_input, too_complex};
use crate::service::RetryAfter;
use async_graphql::{ErrorExtensionValues, ServerError};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct HttpError {
    status: StatusCode,
    // Boxed: this travels in `Result`s on every request path, the success side is small.
    error: Box<ServerError>,
    header: Option<(HeaderName, HeaderValue)>,
}

/// The status `code` answers with when the HTTP layer refuses a request with it.
fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl HttpError {
    /// `error`, which carries `code`, answered with the code's status.
    fn coded(code: ErrorCode, error: ServerError) -> Self {
        Self {
            status: status_of(code),
            error: Box::new(error),
            header: None,
        }
    }

    /// An error with `code`, answered with the code's status.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::coded(code, code.error(message))
    }

    /// BAD_USER_INPUT naming the offending request parameter, with a status more precise
    /// than 400 where the transport has one (405, 406, 413, 415).
    pub(crate) fn bad_input(status: StatusCode, field: &str, message: impl Into<String>) -> Self {
        Self::coded(ErrorCode::BadUserInput, bad_user_input(field, message)).with_status(status)
    }

    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "authentication required: send a valid API key as X-API-Key or Authorization: Bearer",
        )
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// INTERNAL_SERVER_ERROR with a fixed message; `status` is 500, or 503 when the store
    /// is unreachable.
    pub(crate) fn internal(status: StatusCode) -> Self {
        Self::new(ErrorCode::InternalServerError, "internal server error").with_status(status)
    }

    /// 429 RATE_LIMITED with `retryAfter` (seconds) in the extensions and as `Retry-After`.
    pub(crate) fn rate_limited(retry: RetryAfter) -> Self {
        let seconds = retry.seconds();
        Self::coded(ErrorCode::RateLimited, rate_limited_error(retry))
            .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// 504: the request outlived `REQUEST_TIMEOUT_MS` and its work was cancelled. The code
    /// is the contract's INTERNAL_SERVER_ERROR; the message says what happened, which is no
    /// internal detail.
    pub(crate) fn timed_out(limit: Duration) -> Self {
        let millis = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let mut error = Self::new(
            ErrorCode::InternalServerError,
            format!(
                "the request did not finish within {millis} ms and was cancelled; a write it \
                 started was either completed or rolled back whole, so retry it with the same \
                 idempotencyKey"
            ),
        )
        .with_status(StatusCode::GATEWAY_TIMEOUT);
        if let Some(extensions) = error.error.extensions.as_mut() {
            extensions.set("timeoutMs", millis);
        }
        error
    }

    /// A transport limit (batch size) refused like the document limits: QUERY_TOO_COMPLEX
    /// naming the limit and its maximum.
    pub(crate) fn too_complex(limit: &str, max: usize, message: impl Into<String>) -> Self {
        Self::coded(ErrorCode::QueryTooComplex, too_complex(message, limit, max))
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.header = Some((name, value));
        self
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn into_error(self) -> ServerError {
        *self.error
    }

    pub(crate) fn into_response(self, format: Format) -> Response {
        let body = serde_json::json!({ "errors": [self.error] });
        let mut response = format.respond(self.status, &body);
        if let Some((name, value)) = self.header {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// RATE_LIMITED with `retryAfter` in whole seconds, for HTTP and websocket answers alike.
pub(crate) fn rate_limited_error(retry: RetryAfter) -> ServerError {
    let seconds = retry.seconds();
    let mut error = ErrorCode::RateLimited.error(format!(
        "rate limit exceeded for this API key; retry after {seconds} s"
    ));
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("retryAfter", seconds);
    error
}

pub(crate) async fn not_found() -> Response {
    HttpError::new(ErrorCode::NotFound, "no such path").into_response(Format::Json)
}

/// A panicking handler still answers in the API's shape; the panic text stays in the log.
pub(crate) fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "a request handler panicked");
    HttpError::internal(StatusCode::INTERNAL_SERVER_ERROR).into_response(Format::Json)
}
