//! X-Request-Id: the client's when it is sane, else a fresh UUID v7; on every response, in the
//! request's tracing span, and in the audit trail through `RequestContext`.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longer ids are replaced: they end up in logs and audit rows, so they must stay small.
const MAX_LEN: usize = 128;

/// The id of the request being served, as a request extension.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

fn acceptable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let sane =
        !text.is_empty() && text.len() <= MAX_LEN && text.bytes().all(|b| b.is_ascii_graphic());
    sane.then(|| text.to_owned())
}

pub(crate) async fn assign(mut request: Request, next: Next) -> Response {
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    let id = request
        .headers()
        .get(&header)
        .and_then(acceptable)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(header, value);
    }
    response
}

/// The per-request span. Only method, path and id: headers and query strings may carry keys
/// or customer data.
pub(crate) fn span(request: &Request) -> Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map_or("", |id| id.0.as_str());
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
    )
}
