//! Errors the HTTP layer answers itself (before or around GraphQL execution), in the same
//! `{"errors":[…]}` shape and with the same `extensions.code` values as GraphQL errors.

use super::accept::Format;
use crate::graphql::error_codes;
use crate::service::RetryAfter;
use async_graphql::{ErrorExtensionValues, ServerError, Value};
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

impl HttpError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            error: Box::new(coded(ServerError::new(message, None), code)),
            header: None,
        }
    }

    /// BAD_USER_INPUT naming the offending request parameter.
    pub(crate) fn bad_input(status: StatusCode, field: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            error: Box::new(bad_input(field, message)),
            header: None,
        }
    }

    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            error_codes::UNAUTHENTICATED,
            "authentication required: send a valid API key as X-API-Key or Authorization: Bearer",
        )
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub(crate) fn internal(status: StatusCode) -> Self {
        Self::new(
            status,
            error_codes::INTERNAL_SERVER_ERROR,
            "internal server error",
        )
    }

    /// 429 RATE_LIMITED with `retryAfter` (seconds) in the extensions and as `Retry-After`.
    pub(crate) fn rate_limited(retry: RetryAfter) -> Self {
        let seconds = retry.seconds();
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: Box::new(rate_limited_error(retry)),
            header: None,
        }
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// 504: the request outlived `REQUEST_TIMEOUT_MS` and its work was cancelled. The code
    /// is the contract's INTERNAL_SERVER_ERROR; the message says what happened, which is no
    /// internal detail.
    pub(crate) fn timed_out(limit: Duration) -> Self {
        let millis = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let mut error = Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            error_codes::INTERNAL_SERVER_ERROR,
            format!(
                "the request did not finish within {millis} ms and was cancelled; a write it \
                 started was either completed or rolled back whole, so retry it with the same \
                 idempotencyKey"
            ),
        );
        if let Some(extensions) = error.error.extensions.as_mut() {
            extensions.set("timeoutMs", millis);
        }
        error
    }

    /// A transport limit (batch size) refused like the document limits: QUERY_TOO_COMPLEX
    /// naming the limit and its maximum.
    pub(crate) fn too_complex(limit: &str, max: usize, message: impl Into<String>) -> Self {
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            error_codes::QUERY_TOO_COMPLEX,
            message,
        );
        if let Some(extensions) = error.error.extensions.as_mut() {
            extensions.set("limit", limit);
            extensions.set("max", i64::try_from(max).unwrap_or(i64::MAX));
        }
        error
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
    let mut error = coded(
        ServerError::new(
            format!("rate limit exceeded for this API key; retry after {seconds} s"),
            None,
        ),
        error_codes::RATE_LIMITED,
    );
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("retryAfter", seconds);
    }
    error
}

pub(crate) fn coded(mut error: ServerError, code: &str) -> ServerError {
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", code);
    error
}

/// BAD_USER_INPUT with the contract's `fields: [{field, message}]`.
pub(crate) fn bad_input(field: &str, message: impl Into<String>) -> ServerError {
    let message = message.into();
    let entry = Value::from_json(serde_json::json!({ "field": field, "message": message }))
        .unwrap_or(Value::Null);
    let mut error = coded(ServerError::new(message, None), error_codes::BAD_USER_INPUT);
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("fields", Value::List(vec![entry]));
    }
    error
}

pub(crate) fn code_of(error: &ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        Value::String(code) => Some(code.as_str()),
        _ => None,
    }
}

pub(crate) async fn not_found() -> Response {
    HttpError::new(
        StatusCode::NOT_FOUND,
        error_codes::NOT_FOUND,
        "no such path",
    )
    .into_response(Format::Json)
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
