//! A websocket operation's request, built from its `subscribe` payload, and what logs and
//! metrics call it.

use super::messages::OperationPayload;
use crate::graphql::{Document, Executor, bad_user_input};
use crate::http::graphql::document;
use crate::http::metrics::{ANONYMOUS, UNKNOWN};
use async_graphql::parser::types::OperationType;
use serde_json::Value;
use std::sync::Arc;

/// What a `subscribe` payload's document is, as far as the shared document cache knows it.
pub(super) struct Described {
    /// The operation's name for logs and metrics.
    pub(super) name: String,
    pub(super) kind: Option<OperationType>,
    /// The parsed document, when it is within the text limits and parses; otherwise the
    /// schema parses the text itself and refuses it with the reason.
    pub(super) document: Option<Arc<Document>>,
}

pub(super) fn describe(executor: &Executor, request: &async_graphql::Request) -> Described {
    let Ok(document) = executor.document(&request.query) else {
        return Described {
            name: UNKNOWN.to_owned(),
            kind: None,
            document: None,
        };
    };
    let parsed = document.parsed();
    let name = request.operation_name.as_deref();
    let (name, kind) = match document::select(parsed, name) {
        Ok(selected) => (
            document::selected_name(parsed, name)
                .unwrap_or(ANONYMOUS)
                .to_owned(),
            Some(selected.ty),
        ),
        Err(_) => (UNKNOWN.to_owned(), None),
    };
    Described {
        name,
        kind,
        document: Some(document),
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
