//! Checks made on the parsed document before execution, for what async-graphql leaves to the
//! transport: which operation runs, whether the HTTP method may run it, and whether every
//! required variable was given. Each failure is a request error (the operation never runs).

use crate::graphql::bad_user_input as bad_input;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{Pos, ServerError, Value, Variables};

/// The operation `operation_name` selects, as GraphQL's GetOperation does.
///
/// # Errors
/// BAD_USER_INPUT naming `operationName` when no single operation is selected.
pub(crate) fn select<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Result<&'a OperationDefinition, ServerError> {
    let selected = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), None) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| &operation.node)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|operation| &operation.node)
        }
        (DocumentOperations::Multiple(_), None) => {
            return Err(bad_input(
                "operationName",
                "the document holds several operations: operationName must name one",
            ));
        }
        (DocumentOperations::Single(_), Some(_)) => None,
    };
    selected.ok_or_else(|| {
        bad_input(
            "operationName",
            format!(
                "unknown operation named \"{}\"",
                operation_name.unwrap_or_default()
            ),
        )
    })
}

/// The name of the operation `select` picks: the one asked for, or a lone named one.
pub(crate) fn selected_name<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&'a str>,
) -> Option<&'a str> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.contains_key(name).then_some(name)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.keys().next().map(|name| name.as_str())
        }
        _ => None,
    }
}

/// Subscriptions need a long-lived connection; over plain HTTP they could only fail later.
///
/// # Errors
/// BAD_USER_INPUT for a subscription operation.
pub(crate) fn require_query_or_mutation(
    operation: &OperationDefinition,
) -> Result<(), ServerError> {
    if operation.ty == OperationType::Subscription {
        return Err(bad_input(
            "query",
            "subscriptions are not served over HTTP requests; use a websocket",
        ));
    }
    Ok(())
}

/// Variable coercion's first rule, which async-graphql only applies when a variable is used:
/// a non-null variable without a default must be given, and not as null.
///
/// # Errors
/// BAD_USER_INPUT naming `variables.<name>` for the first missing one.
pub(crate) fn require_variables(
    operation: &OperationDefinition,
    variables: &Variables,
) -> Result<(), ServerError> {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        if definition.var_type.node.nullable || definition.default_value.is_some() {
            continue;
        }
        let name = &definition.name.node;
        let problem = match variables.get(name) {
            None => "was not provided",
            Some(Value::Null) => "must not be null",
            Some(_) => continue,
        };
        return Err(bad_input(
            &format!("variables.{name}"),
            format!(
                "variable \"${name}\" of required type \"{}\" {problem}",
                definition.var_type.node
            ),
        ));
    }
    Ok(())
}

/// The name of the argument whose value starts at `pos`: async-graphql reports argument
/// coercion failures at the value's position but does not name the argument.
pub(crate) fn argument_at(document: &ExecutableDocument, pos: Pos) -> Option<String> {
    crate::graphql::top_selection_sets(document).find_map(|set| argument_in(set, pos))
}

fn argument_in(set: &SelectionSet, pos: Pos) -> Option<String> {
    set.items
        .iter()
        .find_map(|selection| match &selection.node {
            Selection::Field(field) => field
                .node
                .arguments
                .iter()
                .find(|(_, value)| value.pos == pos)
                .map(|(name, _)| name.node.to_string())
                .or_else(|| argument_in(&field.node.selection_set.node, pos)),
            Selection::InlineFragment(fragment) => {
                argument_in(&fragment.node.selection_set.node, pos)
            }
            Selection::FragmentSpread(_) => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn doc(text: &str) -> ExecutableDocument {
        parse_query(text).expect("parses")
    }

    #[test]
    fn a_named_operation_is_selected_by_name() {
        let document = doc("query A { a } mutation B { b }");
        let operation = select(&document, Some("B")).expect("selected");
        assert_eq!(operation.ty, OperationType::Mutation);
        assert!(select(&document, None).is_err());
        assert!(select(&document, Some("C")).is_err());
    }

    #[test]
    fn a_lone_named_operation_needs_no_name() {
        let document = doc("query Only { a }");
        assert!(select(&document, None).is_ok());
        assert_eq!(selected_name(&document, None), Some("Only"));
        assert_eq!(selected_name(&doc("{ a }"), None), None);
        assert_eq!(
            selected_name(&doc("query A { a } query B { b }"), Some("B")),
            Some("B")
        );
    }

    #[test]
    fn missing_required_variables_are_reported() {
        let document = doc("query Q($id: ID!, $opt: ID, $def: ID! = \"1\") { a(id: $id) }");
        let operation = select(&document, None).expect("selected");
        let error = require_variables(operation, &Variables::default()).expect_err("missing");
        assert!(error.message.contains("$id"));
        let given = Variables::from_json(serde_json::json!({ "id": "x" }));
        assert!(require_variables(operation, &given).is_ok());
        let null = Variables::from_json(serde_json::json!({ "id": null }));
        assert!(require_variables(operation, &null).is_err());
    }

    #[test]
    fn an_argument_is_found_by_its_value_position() {
        let document = doc("{ a { b(first: 1, input: {x: 2}) } }");
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("single");
        };
        let Selection::Field(a) = &operation.node.selection_set.node.items[0].node else {
            panic!("field");
        };
        let Selection::Field(b) = &a.node.selection_set.node.items[0].node else {
            panic!("field");
        };
        let pos = b.node.arguments[1].1.pos;
        assert_eq!(argument_at(&document, pos), Some("input".to_owned()));
    }
}
