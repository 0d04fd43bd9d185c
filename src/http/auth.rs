//! Who is calling: the key from `X-API-Key` or `Authorization: Bearer`, resolved by the
//! service layer. Refusals are audited; the token itself never reaches a log.

use super::AppState;
use super::error::HttpError;
use crate::service::{ServiceError, Viewer};
use axum::http::{HeaderMap, StatusCode, header};

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
/// 401 UNAUTHENTICATED for a missing, unknown or revoked key (recorded under `action`);
/// 503/500 INTERNAL_SERVER_ERROR when the key store fails.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    request_id: &str,
    action: &str,
) -> Result<Viewer, HttpError> {
    let outcome = match presented_key(headers) {
        Some(token) => state.services().authenticate(token).await,
        None => Err(ServiceError::Unauthenticated),
    };
    match outcome {
        Ok(viewer) => Ok(viewer),
        Err(ServiceError::Unauthenticated) => {
            state
                .services()
                .record_unauthenticated(Some(request_id.to_owned()), action)
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
