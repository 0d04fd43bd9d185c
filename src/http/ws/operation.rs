//! A websocket operation's request, built from its `subscribe` payload, and what logs and
//! metrics call it.

use super::messages::OperationPayload;
use crate::graphql::{SchemaOptions, bad_user_input};
use crate::http::graphql::document;
use crate::http::metrics::{ANONYMOUS, UNKNOWN};
use async_graphql::parser::parse_query;
use async_graphql::parser::types::OperationType;
use serde_json::Value;

/// The operation's name and type for logs and metrics, when the document is within the text
/// limits and parses (the schema refuses it otherwise, with the reason).
pub(super) fn name_and_kind(
    options: &SchemaOptions,
    payload: &OperationPayload,
) -> (String, Option<OperationType>) {
    let unknown = || (UNKNOWN.to_owned(), None);
    if options.check_text(&payload.query).is_err() {
        return unknown();
    }
    let Ok(parsed) = parse_query(&payload.query) else {
        return unknown();
    };
    let name = payload.operation_name.as_deref();
    match document::select(&parsed, name) {
        Ok(selected) => (
            document::selected_name(&parsed, name)
                .unwrap_or(ANONYMOUS)
                .to_owned(),
            Some(selected.ty),
        ),
        Err(_) => unknown(),
    }
}

/// Builds the GraphQL request; `variables` must be an object when present.
pub(super) fn to_request(payload: OperationPayload) -> Result<async_graphql::Request, Value> {
    let mut request = async_graphql::Request::new(payload.query);
    if let Some(name) = payload.operation_name {
        request = request.operation_name(name);
    }
    match payload.variables {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(variables));
        }
        Some(_) => {
            let error = bad_user_input("variables", "variables must be an object");
            return Err(serde_json::to_value([error]).unwrap_or(Value::Null));
        }
    }
    if let Some(Value::Object(extensions)) = payload.extensions {
        for (name, value) in extensions {
            if let Ok(value) = async_graphql::Value::from_json(value) {
                request.extensions.insert(name, value);
            }
        }
    }
    Ok(request)
}
