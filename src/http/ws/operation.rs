//! A websocket operation's request, built from its `subscribe` payload.

use super::messages::OperationPayload;
use crate::graphql::bad_user_input;
use serde_json::Value;

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
