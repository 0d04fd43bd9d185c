//! Liveness and readiness, without a key: orchestrators probe these.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// A probe that hangs is as bad as one that fails; answer before the prober gives up.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// 503 while the store does not answer (checked afresh on every probe, so it recovers by
/// itself), and from the shutdown signal on, so a load balancer stops sending traffic.
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    if state.shutting_down() {
        return unavailable("shutting down");
    }
    match tokio::time::timeout(PING_TIMEOUT, state.services().ping()).await {
        Ok(Ok(())) => Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check: the store did not answer");
            unavailable("unavailable")
        }
        Err(_) => {
            tracing::warn!("readiness check: the store did not answer in time");
            unavailable("unavailable")
        }
    }
}

fn unavailable(status: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": status })),
    )
        .into_response()
}
