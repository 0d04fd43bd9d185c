//! GraphQL-over-HTTP request parameters, checked strictly: a wrong type is a 400 naming the
//! parameter, never a silently ignored value.

use super::json_scan::{ARRAY_CAP, has_array_over};
use crate::http::error::HttpError;
use async_graphql::{Request, Value, Variables};
use axum::http::StatusCode;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

pub(crate) enum Batch {
    Single(Box<Request>),
    Many(Vec<Request>),
}

impl Batch {
    /// Operations in it: what the rate limiter charges.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Single(_) => 1,
            Self::Many(requests) => requests.len(),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> HttpError {
    HttpError::bad_input(StatusCode::BAD_REQUEST, field, message)
}

/// What a body may hold before it is parsed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyLimits {
    /// Operations in a batch: a batch must not become a way around per-request limits.
    pub(crate) max_batch: usize,
    /// `MAX_INPUT_LIST_LENGTH`, named when an array is refused before parsing.
    pub(crate) max_list: usize,
}

/// A POST body: one parameter object, or a non-empty array of at most `max_batch` of them.
pub(crate) fn from_json_body(bytes: &[u8], limits: BodyLimits) -> Result<Batch, HttpError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("body", "the request body is empty"));
    }
    let cap = limits.max_list.max(ARRAY_CAP);
    if has_array_over(bytes, cap) {
        return Err(HttpError::too_complex(
            "maxInputListLength",
            limits.max_list,
            format!(
                "a list in the request holds more than {cap} items; at most {} are allowed",
                limits.max_list
            ),
        ));
    }
    let max_batch = limits.max_batch;
    let body: Json = serde_json::from_slice(bytes).map_err(|error| {
        invalid(
            "body",
            format!("the request body is not valid JSON: {error}"),
        )
    })?;
    match body {
        Json::Object(object) => Ok(Batch::Single(Box::new(from_object(object)?))),
        Json::Array(items) if items.is_empty() => Err(invalid("body", "the batch is empty")),
        Json::Array(items) if items.len() > max_batch => Err(HttpError::too_complex(
            "maxBatchSize",
            max_batch,
            format!(
                "the batch holds {} operations; at most {max_batch} are allowed",
                items.len()
            ),
        )),
        Json::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Json::Object(object) => from_object(object),
                _ => Err(invalid("body", "each batch entry must be an object")),
            })
            .collect::<Result<_, _>>()
            .map(Batch::Many),
        _ => Err(invalid("body", "the request body must be a JSON object")),
    }
}

fn from_object(mut object: Map<String, Json>) -> Result<Request, HttpError> {
    let query = match object.remove("query") {
        Some(Json::String(query)) => Some(query),
        None | Some(Json::Null) => None,
        Some(_) => return Err(invalid("query", "query must be a string")),
    };
    let operation_name = match object.remove("operationName") {
        Some(Json::String(name)) => Some(name),
        None | Some(Json::Null) => None,
        Some(_) => {
            return Err(invalid(
                "operationName",
                "operationName must be a string or null",
            ));
        }
    };
    let variables = map_or_null("variables", object.remove("variables"))?;
    let extensions = map_or_null("extensions", object.remove("extensions"))?;
    build(query, operation_name, variables, extensions)
}

fn map_or_null(field: &str, value: Option<Json>) -> Result<Map<String, Json>, HttpError> {
    match value {
        Some(Json::Object(map)) => Ok(map),
        None | Some(Json::Null) => Ok(Map::new()),
        Some(_) => Err(invalid(field, format!("{field} must be an object or null"))),
    }
}

/// A GET query string: `query`, `operationName`, and `variables`/`extensions` as JSON text.
pub(crate) fn from_query_string(mut params: HashMap<String, String>) -> Result<Request, HttpError> {
    let query = params.remove("query");
    let operation_name = params
        .remove("operationName")
        .filter(|name| !name.is_empty());
    let mut json_param = |field: &str| -> Result<Map<String, Json>, HttpError> {
        match params.remove(field).filter(|text| !text.is_empty()) {
            None => Ok(Map::new()),
            Some(text) => {
                let value = serde_json::from_str(&text)
                    .map_err(|_| invalid(field, format!("{field} must be a JSON object")))?;
                map_or_null(field, Some(value))
            }
        }
    };
    let variables = json_param("variables")?;
    let extensions = json_param("extensions")?;
    build(query, operation_name, variables, extensions)
}

/// `query` may be left out only by a request that names its document by hash.
fn build(
    query: Option<String>,
    operation_name: Option<String>,
    variables: Map<String, Json>,
    extensions: Map<String, Json>,
) -> Result<Request, HttpError> {
    let query = match query {
        Some(query) => query,
        None if extensions.contains_key("persistedQuery") => String::new(),
        None => return Err(invalid("query", "query is required")),
    };
    let mut request = Request::new(query).variables(Variables::from_json(Json::Object(variables)));
    request.operation_name = operation_name;
    for (name, value) in extensions {
        let value = Value::from_json(value)
            .map_err(|_| invalid("extensions", "extensions must hold JSON values"))?;
        request.extensions.0.insert(name, value);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyLimits = BodyLimits {
        max_batch: 20,
        max_list: 200,
    };

    #[test]
    fn an_array_too_long_for_any_input_is_refused_before_parsing() {
        let body = serde_json::json!({
            "query": "{a}",
            "variables": { "s": vec![1; ARRAY_CAP + 1] },
        })
        .to_string();
        let Err(error) = from_json_body(body.as_bytes(), LIMITS) else {
            panic!("refused");
        };
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    fn single(body: &str) -> Result<Request, HttpError> {
        match from_json_body(body.as_bytes(), LIMITS)? {
            Batch::Single(request) => Ok(*request),
            Batch::Many(_) => panic!("expected a single request"),
        }
    }

    #[test]
    fn nulls_are_allowed_for_optional_parameters() {
        let request =
            single(r#"{"query":"{a}","operationName":null,"variables":null,"extensions":null}"#)
                .expect("valid");
        assert_eq!(request.query, "{a}");
        assert!(request.operation_name.is_none());
    }

    #[test]
    fn wrong_types_are_refused() {
        for body in [
            r#"{"query":1}"#,
            r#"{"notquery":"{a}"}"#,
            r#"{"query":"{a}","operationName":false}"#,
            r#"{"query":"{a}","variables":"x"}"#,
            r#"{"query":"{a}","variables":["x"]}"#,
            r#"{"query":"{a}","extensions":0}"#,
            r#"{ "not a JSON"#,
            "",
            "[]",
            "7",
        ] {
            assert!(single(body).is_err(), "{body} should be refused");
        }
    }

    #[test]
    fn a_batch_is_a_list_of_requests() {
        let two = BodyLimits {
            max_batch: 2,
            ..LIMITS
        };
        match from_json_body(br#"[{"query":"{a}"},{"query":"{b}"}]"#, two) {
            Ok(Batch::Many(requests)) => assert_eq!(requests.len(), 2),
            _ => panic!("expected a batch"),
        }
        let one = BodyLimits {
            max_batch: 1,
            ..LIMITS
        };
        let Err(error) = from_json_body(br#"[{"query":"{a}"},{"query":"{b}"}]"#, one) else {
            panic!("a batch over the limit is refused");
        };
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn get_variables_are_json_text() {
        let mut params = HashMap::new();
        params.insert("query".to_owned(), "{a}".to_owned());
        params.insert("variables".to_owned(), r#"{"id":"1"}"#.to_owned());
        let request = from_query_string(params).expect("valid");
        assert!(
            request
                .variables
                .contains_key(&async_graphql::Name::new("id"))
        );
    }
}
