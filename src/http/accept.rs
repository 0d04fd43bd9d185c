//! Accept negotiation between the two GraphQL response media types.
//!
//! `application/graphql-response+json` is chosen only when named explicitly (wildcards mean a
//! client that predates it) and preferred; `application/json` answers `*/*`, `application/*`,
//! an explicit `application/json` and a missing Accept header.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    GraphqlResponse,
    Json,
}

impl Format {
    fn content_type(self) -> HeaderValue {
        match self {
            Self::GraphqlResponse => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
            Self::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }

    pub(crate) fn respond<T: Serialize>(self, status: StatusCode, body: &T) -> Response {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                (status, [(header::CONTENT_TYPE, self.content_type())], bytes).into_response()
            }
            Err(error) => {
                tracing::error!(%error, "could not serialize a response body");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// One media range of an Accept header and its weight.
struct Range<'a> {
    media: &'a str,
    q: f32,
}

fn ranges(headers: &HeaderMap) -> Vec<Range<'_>> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().filter(|media| !media.is_empty())?;
            let q = parts
                .filter_map(|param| param.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                // An unreadable weight is treated as a refusal rather than a wish.
                .map_or(1.0, |(_, q)| q.trim().parse::<f32>().unwrap_or(0.0));
            Some(Range { media, q })
        })
        .collect()
}

/// The weight and position of the most specific range matching `wanted` (type/subtype).
fn weight(ranges: &[Range<'_>], wanted: &str, wildcards: bool) -> Option<(f32, usize)> {
    let (kind, _) = wanted.split_once('/')?;
    let mut best: Option<(u8, f32, usize)> = None;
    for (position, range) in ranges.iter().enumerate() {
        let specificity = if range.media.eq_ignore_ascii_case(wanted) {
            3
        } else if wildcards
            && range
                .media
                .split_once('/')
                .is_some_and(|(t, s)| t.eq_ignore_ascii_case(kind) && s == "*")
        {
            2
        } else if wildcards && range.media == "*/*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(found, _, _)| specificity > found) {
            best = Some((specificity, range.q, position));
        }
    }
    best.map(|(_, q, position)| (q, position))
}

/// `None` means no acceptable representation: 406.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<Format> {
    let ranges = ranges(headers);
    if ranges.is_empty() {
        return Some(Format::Json);
    }
    let graphql = weight(&ranges, GRAPHQL_RESPONSE, false).filter(|(q, _)| *q > 0.0);
    let json = weight(&ranges, "application/json", true).filter(|(q, _)| *q > 0.0);
    match (graphql, json) {
        (Some(_), None) => Some(Format::GraphqlResponse),
        (Some((gq, gpos)), Some((jq, jpos))) if gq > jq || (gq == jq && gpos < jpos) => {
            Some(Format::GraphqlResponse)
        }
        (_, Some(_)) => Some(Format::Json),
        (None, None) => None,
    }
}

/// Browsers navigating to /graphql ask for HTML first.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    let ranges = ranges(headers);
    weight(&ranges, "text/html", false).is_some_and(|(q, _)| q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<Format> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).expect("header"),
        );
        negotiate(&headers)
    }

    #[test]
    fn missing_accept_means_json() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Format::Json));
    }

    #[test]
    fn wildcards_mean_json() {
        assert_eq!(accept("*/*"), Some(Format::Json));
        assert_eq!(accept("application/*"), Some(Format::Json));
    }

    #[test]
    fn explicit_graphql_response_wins_when_preferred() {
        assert_eq!(accept(GRAPHQL_RESPONSE), Some(Format::GraphqlResponse));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(Format::GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json"),
            Some(Format::Json)
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0.5, application/json"),
            Some(Format::Json)
        );
    }

    #[test]
    fn unacceptable_types_are_refused() {
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }
}
