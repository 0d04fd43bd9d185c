//! Runs the operations of a request against its deadline and answers: one response, or a
//! list for a batch (run one after another, so a batch of mutations applies in order). Each
//! operation is measured and logged by name, type and outcome; never by its variables.

use super::execute::{self, Operation, Outcome};
use super::params::Batch;
use super::{Deadline, mutation_over_get};
use crate::graphql::ErrorCode;
use crate::http::AppState;
use crate::http::accept::Format;
use crate::http::error::HttpError;
use crate::http::metrics::Outcome as Measured;
use crate::http::request_id::{record_operation, record_outcome};
use crate::service::RequestContext;
use async_graphql::ServerError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub(super) async fn respond(
    state: &AppState,
    ctx: RequestContext,
    batch: Batch,
    read_only: bool,
    format: Format,
    deadline: Deadline,
) -> Response {
    let mut cacheable = false;
    let mut response = match batch {
        Batch::Single(request) => {
            let (step, operation, measured) =
                run_one(state, ctx, *request, read_only, deadline).await;
            record_operation(&operation.name, operation.kind);
            record_outcome(measured.as_str());
            match step {
                Some(Outcome::MutationOverGet) => {
                    return mutation_over_get().into_response(format);
                }
                Some(Outcome::Executed(response)) => {
                    cacheable = read_only && response.errors.is_empty();
                    format.respond(StatusCode::OK, &response)
                }
                Some(Outcome::Rejected(errors)) => {
                    let (status, body) = rejected(&errors, format);
                    format.respond(status, &body)
                }
                None => HttpError::timed_out(deadline.limit).into_response(format),
            }
        }
        Batch::Many(requests) => {
            record_operation("batch", "batch");
            let mut bodies = Vec::with_capacity(requests.len());
            let (mut any_ran, mut any_timed_out) = (false, false);
            for request in requests {
                let (step, operation, measured) =
                    run_one(state, ctx.clone(), request, read_only, deadline).await;
                tracing::info!(
                    operation = %operation.name,
                    kind = operation.kind,
                    outcome = measured.as_str(),
                    "batched graphql operation"
                );
                let (status, body) = match step {
                    Some(Outcome::Executed(response)) => (StatusCode::OK, executed(&response)),
                    Some(Outcome::Rejected(errors)) => rejected(&errors, format),
                    // Batches come by POST only; kept total rather than unreachable.
                    Some(Outcome::MutationOverGet) => {
                        let error = mutation_over_get();
                        (error.status(), json!({ "errors": [error.into_error()] }))
                    }
                    None => {
                        let error = HttpError::timed_out(deadline.limit);
                        (error.status(), json!({ "errors": [error.into_error()] }))
                    }
                };
                any_ran |= status == StatusCode::OK;
                any_timed_out |= status == StatusCode::GATEWAY_TIMEOUT;
                bodies.push(body);
            }
            let status = if any_ran {
                StatusCode::OK
            } else if any_timed_out {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_REQUEST
            };
            format.respond(status, &bodies)
        }
    };
    cache_headers(&mut response, cacheable, state.http().get_cache_max_age);
    response
}

/// Results depend on the caller's key, so by default no cache may keep them. With
/// `GET_CACHE_MAX_AGE_SECONDS` a GET read that succeeded (a persisted query's URL is short
/// and stable) may be kept that long by a shared cache, once per key and media type; errors,
/// misses included, never are, or a client's retry would meet the cached miss.
fn cache_headers(response: &mut Response, cacheable: bool, max_age: Duration) {
    let headers = response.headers_mut();
    if !cacheable || max_age.is_zero() {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return;
    }
    let policy = format!("public, max-age={}", max_age.as_secs());
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization, X-API-Key"),
    );
}

/// Runs one operation until the deadline and records it in the metrics.
async fn run_one(
    state: &AppState,
    ctx: RequestContext,
    request: async_graphql::Request,
    read_only: bool,
    deadline: Deadline,
) -> (Option<Outcome>, Operation, Measured) {
    let started = Instant::now();
    let mut operation = Operation::default();
    // `None`: cut off by the deadline.
    let step = tokio::time::timeout_at(
        deadline.at,
        execute::run(state, ctx, request, read_only, &mut operation),
    )
    .await
    .ok();
    let measured = match &step {
        Some(Outcome::Executed(response)) if response.errors.is_empty() => Measured::Success,
        Some(Outcome::Executed(_)) => Measured::Error,
        Some(Outcome::Rejected(_) | Outcome::MutationOverGet) => Measured::Rejected,
        None => {
            tracing::warn!(
                operation = %operation.name,
                limit_ms = u64::try_from(deadline.limit.as_millis()).unwrap_or(u64::MAX),
                "operation cancelled at the request timeout"
            );
            Measured::Timeout
        }
    };
    state
        .metrics()
        .observe_operation(&operation.name, operation.kind, measured, started.elapsed());
    (step, operation, measured)
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
        json!({
            "data": null,
            "errors": [ErrorCode::InternalServerError.error("internal server error")],
        })
    })
}
