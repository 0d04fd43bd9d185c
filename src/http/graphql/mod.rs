//! GraphQL over HTTP, by hand: the order of checks and the status codes follow the
//! GraphQL-over-HTTP spec (see tests/node for the audit that holds us to it). Each request
//! runs against one deadline (`REQUEST_TIMEOUT_MS`) and is charged to its key's rate limit,
//! one token per operation, before its body is read.

pub(crate) mod document;
mod execute;
mod json_scan;
mod params;
mod respond;
mod stream;

pub(crate) use stream::post_stream;

use super::AppState;
use super::accept::{Format, negotiate, wants_html};
use super::auth::authenticate;
use super::clients::Client;
use super::error::HttpError;
use super::graphiql;
use super::metrics::Transport;
use super::request_id::{RequestId, record_caller, record_outcome};
use crate::service::{RequestContext, Viewer};
use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use http_body_util::BodyExt as _;
use params::Batch;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// How much of an oversized body is read (and dropped) so the client gets its 413; beyond it
/// the connection is simply closed.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// When the request must be answered by; everything it awaits runs against it.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    at: tokio::time::Instant,
    limit: Duration,
}

impl Deadline {
    fn start(limit: Duration) -> Self {
        Self {
            at: tokio::time::Instant::now() + limit,
            limit,
        }
    }

    /// Runs `work` until the deadline; past it the work is dropped (cancelled), which rolls
    /// back any transaction it had open.
    async fn run<T>(self, work: impl Future<Output = T>) -> Result<T, HttpError> {
        tokio::time::timeout_at(self.at, work)
            .await
            .map_err(|_| HttpError::timed_out(self.limit))
    }
}

/// Spends `cost` operations of the caller's rate limit, or refuses with 429.
fn charge(state: &AppState, viewer: &Viewer, cost: usize) -> Result<(), HttpError> {
    let cost = u32::try_from(cost).unwrap_or(u32::MAX);
    state.rate_limiter().check(viewer, cost).map_err(|retry| {
        state.metrics().rate_limited(Transport::Http);
        record_outcome("rate_limited");
        HttpError::rate_limited(retry)
    })
}

/// The checks a POST passes before its operations run, in the GraphQL-over-HTTP order: the
/// key, the media type, one token of the rate limit before the body is read (so a refused
/// caller costs no parsing), the body, and one more token per further batched operation.
async fn admit_post(
    state: &AppState,
    request_id: &RequestId,
    client: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: Body,
    deadline: Deadline,
) -> Result<(Viewer, Batch), HttpError> {
    let viewer = deadline
        .run(authenticate(
            state,
            headers,
            &request_id.0,
            "graphql",
            client,
        ))
        .await??;
    record_caller(&viewer);
    require_json(headers)?;
    charge(state, &viewer, 1)?;
    let limit = state.http().max_body_bytes;
    let body_timeout = state.clients().settings().body_timeout;
    let bytes = deadline
        .run(tokio::time::timeout(
            body_timeout,
            read_body(headers, body, limit),
        ))
        .await?
        .unwrap_or_else(|_| Err(body_timed_out(body_timeout)))?;
    let limits = params::BodyLimits {
        max_batch: state.http().max_batch_size,
        max_list: state.schema_options().max_input_list_length,
    };
    let batch = params::from_json_body(&bytes, limits)?;
    if batch.len() > 1 {
        charge(state, &viewer, batch.len() - 1)?;
    }
    Ok((viewer, batch))
}

pub(crate) async fn post_graphql(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Client(client): Client,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let deadline = Deadline::start(state.http().request_timeout);
    let Some(format) = negotiate(&headers) else {
        return not_acceptable();
    };
    let (viewer, batch) =
        match admit_post(&state, &request_id, client, &headers, body, deadline).await {
            Ok(admitted) => admitted,
            Err(error) => return error.into_response(format),
        };
    let ctx = context(viewer, request_id);
    respond::respond(&state, ctx, batch, false, format, deadline).await
}

pub(crate) async fn get_graphql(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Client(client): Client,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let deadline = Deadline::start(state.http().request_timeout);
    let params = match Query::<HashMap<String, String>>::try_from_uri(&uri) {
        Ok(Query(params)) => params,
        Err(_) => HashMap::new(),
    };
    // With GraphiQL off, a browser falls through to content negotiation like any client.
    let names_a_document = params.contains_key("query") || params.contains_key("extensions");
    if state.http().graphiql && !names_a_document && wants_html(&headers) {
        return graphiql::page();
    }
    let Some(format) = negotiate(&headers) else {
        return not_acceptable();
    };
    let authenticated = deadline
        .run(authenticate(
            &state,
            &headers,
            &request_id.0,
            "graphql",
            client,
        ))
        .await
        .and_then(|outcome| outcome);
    let viewer = match authenticated {
        Ok(viewer) => viewer,
        Err(error) => return error.into_response(format),
    };
    record_caller(&viewer);
    if let Err(error) = charge(&state, &viewer, 1) {
        return error.into_response(format);
    }
    match params::from_query_string(params) {
        Ok(request) => {
            let batch = Batch::Single(Box::new(request));
            let ctx = context(viewer, request_id);
            respond::respond(&state, ctx, batch, true, format, deadline).await
        }
        Err(error) => error.into_response(format),
    }
}

fn context(viewer: Viewer, request_id: RequestId) -> RequestContext {
    RequestContext {
        viewer,
        request_id: Some(request_id.0),
    }
}

fn not_acceptable() -> Response {
    HttpError::bad_input(
        StatusCode::NOT_ACCEPTABLE,
        "accept",
        "accept application/graphql-response+json or application/json",
    )
    .into_response(Format::Json)
}

fn require_json(headers: &HeaderMap) -> Result<(), HttpError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let mut parts = content_type.split(';').map(str::trim);
    let is_json = parts
        .next()
        .is_some_and(|media| media.eq_ignore_ascii_case("application/json"));
    let charset_ok = parts
        .filter_map(|param| param.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .all(|(_, value)| value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8"));
    if is_json && charset_ok {
        Ok(())
    } else {
        Err(HttpError::bad_input(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type",
            "send the request as Content-Type: application/json (UTF-8)",
        ))
    }
}

/// Bodies above `limit` are refused before parsing: a GraphQL document has no business being
/// larger, and JSON parsing cost grows with it. A refused body is still read to its end (up to
/// `DRAIN_LIMIT`) and dropped: closing a socket with unread data resets it, and the client,
/// still writing, would never see the 413.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, HttpError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    let mut too_large = declared.is_some_and(|length| length > limit);
    let mut kept = Vec::with_capacity(if too_large { 0 } else { declared.unwrap_or(0) });
    let mut received = 0_usize;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(HttpError::bad_input(
                StatusCode::BAD_REQUEST,
                "body",
                "the request body could not be read",
            ));
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received = received.saturating_add(data.len());
        too_large |= received > limit;
        if too_large {
            kept = Vec::new();
            if received > DRAIN_LIMIT {
                break;
            }
        } else {
            kept.extend_from_slice(&data);
        }
    }
    if too_large {
        return Err(HttpError::bad_input(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            format!("the request body exceeds {limit} bytes"),
        ));
    }
    Ok(kept.into())
}

/// 408: a client that trickles its body holds a connection and a task; it gets
/// `HTTP_BODY_TIMEOUT_MS`, whatever is left of the request timeout.
fn body_timed_out(limit: Duration) -> HttpError {
    let millis = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
    HttpError::bad_input(
        StatusCode::REQUEST_TIMEOUT,
        "body",
        format!("the request body did not arrive within {millis} ms"),
    )
}

fn mutation_over_get() -> HttpError {
    HttpError::bad_input(
        StatusCode::METHOD_NOT_ALLOWED,
        "query",
        "mutations must be sent with POST",
    )
    .with_header(header::ALLOW, HeaderValue::from_static("POST"))
}
