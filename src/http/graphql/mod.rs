//! GraphQL over HTTP, by hand: the order of checks and the status codes follow the
//! GraphQL-over-HTTP spec (see tests/node for the audit that holds us to it).

mod document;
mod execute;
mod params;

use super::AppState;
use super::accept::{Format, negotiate, wants_html};
use super::auth::authenticate;
use super::error::HttpError;
use super::graphiql;
use super::request_id::RequestId;
use crate::graphql::error_codes;
use crate::service::{RequestContext, Viewer};
use async_graphql::ServerError;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use execute::Outcome;
use params::Batch;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Bodies above this are refused before parsing: a GraphQL document has no business being
/// larger, and JSON parsing cost grows with it.
const BODY_LIMIT: usize = 1024 * 1024;

pub(crate) async fn post_graphql(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(format) = negotiate(&headers) else {
        return not_acceptable();
    };
    let viewer = match authenticate(&state, &headers, &request_id.0, "graphql").await {
        Ok(viewer) => viewer,
        Err(error) => return error.into_response(format),
    };
    if let Err(error) = require_json(&headers) {
        return error.into_response(format);
    }
    let bytes = match read_body(&headers, body).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(format),
    };
    match params::from_json_body(&bytes) {
        Ok(batch) => respond(&state, context(viewer, request_id), batch, false, format).await,
        Err(error) => error.into_response(format),
    }
}

pub(crate) async fn get_graphql(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let params = match Query::<HashMap<String, String>>::try_from_uri(&uri) {
        Ok(Query(params)) => params,
        Err(_) => HashMap::new(),
    };
    if !params.contains_key("query") && wants_html(&headers) {
        return graphiql::page();
    }
    let Some(format) = negotiate(&headers) else {
        return not_acceptable();
    };
    let viewer = match authenticate(&state, &headers, &request_id.0, "graphql").await {
        Ok(viewer) => viewer,
        Err(error) => return error.into_response(format),
    };
    match params::from_query_string(params) {
        Ok(request) => {
            let batch = Batch::Single(Box::new(request));
            respond(&state, context(viewer, request_id), batch, true, format).await
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

async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, HttpError> {
    let too_large = || {
        HttpError::bad_input(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            format!("the request body exceeds {BODY_LIMIT} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|error| {
            let inner = error.into_inner();
            if inner
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                HttpError::bad_input(
                    StatusCode::BAD_REQUEST,
                    "body",
                    "the request body could not be read",
                )
            }
        })
}

async fn respond(
    state: &AppState,
    ctx: RequestContext,
    batch: Batch,
    read_only: bool,
    format: Format,
) -> Response {
    let mut response = match batch {
        Batch::Single(request) => match execute::run(state, ctx, *request, read_only).await {
            Outcome::MutationOverGet => return mutation_over_get().into_response(format),
            Outcome::Executed(response) => format.respond(StatusCode::OK, &response),
            Outcome::Rejected(errors) => {
                let (status, body) = rejected(&errors, format);
                format.respond(status, &body)
            }
        },
        Batch::Many(requests) => {
            // One after another: a batch of mutations must apply in the order sent.
            let mut bodies = Vec::with_capacity(requests.len());
            let mut any_ran = false;
            for request in requests {
                let outcome = execute::run(state, ctx.clone(), request, read_only).await;
                let (status, body) = match outcome {
                    Outcome::Executed(response) => (StatusCode::OK, executed(&response)),
                    Outcome::Rejected(errors) => rejected(&errors, format),
                    // Batches come by POST only; kept total rather than unreachable.
                    Outcome::MutationOverGet => {
                        let error = mutation_over_get();
                        (error.status(), json!({ "errors": [error.into_error()] }))
                    }
                };
                any_ran |= status == StatusCode::OK;
                bodies.push(body);
            }
            let status = if any_ran {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            format.respond(status, &bodies)
        }
    };
    // Results depend on the caller's key, so no shared cache may keep them.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A request error is 400 without `data` under graphql-response+json, and 200 with
/// `data: null` under application/json, whose clients read errors from the body only.
fn rejected(errors: &[ServerError], format: Format) -> (StatusCode, Value) {
    match format {
        Format::GraphqlResponse => (StatusCode::BAD_REQUEST, json!({ "errors": errors })),
        Format::Json => (StatusCode::OK, json!({ "data": null, "errors": errors })),
    }
}

fn executed(response: &async_graphql::Response) -> Value {
    serde_json::to_value(response).unwrap_or_else(|error| {
        tracing::error!(%error, "could not serialize a GraphQL response");
        json!({ "data": null, "errors": [{
            "message": "internal server error",
            "extensions": { "code": error_codes::INTERNAL_SERVER_ERROR },
        }] })
    })
}

fn mutation_over_get() -> HttpError {
    HttpError::bad_input(
        StatusCode::METHOD_NOT_ALLOWED,
        "query",
        "mutations must be sent with POST",
    )
    .with_header(header::ALLOW, HeaderValue::from_static("POST"))
}
