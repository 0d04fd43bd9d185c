//! Who is calling: the key from `X-API-Key` or `Authorization: Bearer`, resolved by the
//! service layer. Before any lookup the client address must have failures to spare (see
//! `clients`); refusals are counted and audited in groups; the token itself never reaches a
//! log.

use super::AppState;
use super::error::HttpError;
use super::request_id::record_outcome;
use crate::domain::model::JsonObject;
use crate::service::{Refusal, Viewer};
use axum::http::{HeaderMap, StatusCode, header};
use std::net::IpAddr;
use std::sync::atomic::Ordering;

pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        let key = key.trim();
        if !key.is_empty() {
            return Some(key);
        }
    }
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// # Errors
/// 429 RATE_LIMITED (with `Retry-After`) when `client` has used up its failed
/// authentications, before any lookup; 401 UNAUTHENTICATED for a missing, malformed, unknown
/// or revoked key (counted under `action`); 503/500 INTERNAL_SERVER_ERROR when the key store
/// fails.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    request_id: &str,
    action: &str,
    client: Option<IpAddr>,
) -> Result<Viewer, HttpError> {
    let token = presented_key(headers);
    let clients = state.clients();
    if let Err(retry) = clients.admit(client, token) {
        clients
            .counters
            .throttled_http
            .fetch_add(1, Ordering::Relaxed);
        record_outcome("throttled");
        return Err(HttpError::rate_limited(retry));
    }
    match state.services().authenticate_presented(token).await {
        Ok(Ok(viewer)) => {
            if let Some(token) = token {
                clients.succeeded(token);
            }
            Ok(viewer)
        }
        Ok(Err(reason)) => {
            clients.failed(client);
            state
                .services()
                .record_refusal(Refusal {
                    reason,
                    action: action.to_owned(),
                    api_key_id: None,
                    institution_id: None,
                    resource_type: None,
                    client,
                    request_id: Some(request_id.to_owned()),
                    details: JsonObject::new(),
                    latest: JsonObject::new(),
                })
                .await;
            Err(HttpError::unauthenticated())
        }
        Err(error) => {
            tracing::error!(%error, "could not authenticate a request");
            let status = if error.is_unavailable() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            Err(HttpError::internal(status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn x_api_key_comes_first() {
        let map = headers(&[("x-api-key", "a"), ("authorization", "Bearer b")]);
        assert_eq!(presented_key(&map), Some("a"));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(
            presented_key(&headers(&[("authorization", "bearer  t ")])),
            Some("t")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Basic t")])),
            None
        );
    }

    #[test]
    fn empty_key_counts_as_missing() {
        assert_eq!(presented_key(&headers(&[("x-api-key", "")])), None);
    }
}
