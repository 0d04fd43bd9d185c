//! The length of input lists (`states: [...]`, `allowedCurrencies: [...]`), inline or in
//! variables, checked against the schema's types before validation: a 10 000-item filter is
//! refused without coercing a single item, and a `JSON` argument (metadata, config) keeps its
//! own rules (64 KiB, 10 levels) because its arrays are not GraphQL lists.
//!
//! The types come from the schema's own SDL, parsed once, so only public async-graphql API
//! is used.

use async_graphql::Value;
use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationType, Selection, SelectionSet, Type, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Name, Variables};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A field of an object type: the type its selection set is on, and its arguments' types.
#[derive(Debug, Default)]
struct FieldShape {
    output: String,
    arguments: HashMap<String, Type>,
}

/// What the check needs to know about the schema.
#[derive(Debug, Default)]
pub(crate) struct InputShapes {
    /// Root type names of query, mutation and subscription, in that order.
    roots: [Option<String>; 3],
    objects: HashMap<String, HashMap<String, FieldShape>>,
    inputs: HashMap<String, HashMap<String, Type>>,
}

impl InputShapes {
    /// The shapes of this crate's schema, read from its SDL on first use.
    pub(crate) fn of_schema() -> Arc<Self> {
        static SHAPES: OnceLock<Arc<InputShapes>> = OnceLock::new();
        Arc::clone(SHAPES.get_or_init(|| Arc::new(Self::from_sdl(crate::graphql::shared_sdl()))))
    }

    /// An SDL that does not parse yields no shapes (and so no list checks), logged loudly:
    /// refusing every request instead would turn a bug into an outage.
    pub(crate) fn from_sdl(sdl: &str) -> Self {
        let document = match async_graphql::parser::parse_schema(sdl) {
            Ok(document) => document,
            Err(error) => {
                tracing::error!(%error, "the schema's SDL does not parse; input lists go unchecked");
                return Self::default();
            }
        };
        let mut shapes = Self::default();
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = schema.node;
                    for (ty, name) in [
                        (OperationType::Query, schema.query),
                        (OperationType::Mutation, schema.mutation),
                        (OperationType::Subscription, schema.subscription),
                    ] {
                        if let Some(name) = name {
                            shapes.roots[root_index(ty)] = Some(name.node.to_string());
                        }
                    }
                }
                TypeSystemDefinition::Type(definition) => {
                    let definition = definition.node;
                    let name = definition.name.node.to_string();
                    match definition.kind {
                        TypeKind::Object(object) => {
                            let fields = object.fields.into_iter().map(|field| {
                                let field = field.node;
                                let arguments = field
                                    .arguments
                                    .into_iter()
                                    .map(|arg| (arg.node.name.node.to_string(), arg.node.ty.node))
                                    .collect();
                                let output = named(&field.ty.node).to_owned();
                                (
                                    field.name.node.to_string(),
                                    FieldShape { output, arguments },
                                )
                            });
                            shapes.objects.insert(name, fields.collect());
                        }
                        TypeKind::InputObject(input) => {
                            let fields = input.fields.into_iter().map(|field| {
                                (field.node.name.node.to_string(), field.node.ty.node)
                            });
                            shapes.inputs.insert(name, fields.collect());
                        }
                        _ => {}
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        // async-graphql prints no `schema { … }` block when the roots have default names.
        for (ty, name) in [
            (OperationType::Query, "Query"),
            (OperationType::Mutation, "Mutation"),
            (OperationType::Subscription, "Subscription"),
        ] {
            shapes.roots[root_index(ty)].get_or_insert_with(|| name.to_owned());
        }
        shapes
    }

    /// The longest input list the document or its variables hold, if longer than `max`.
    pub(crate) fn longest_over(
        &self,
        document: &ExecutableDocument,
        variables: &Variables,
        max: usize,
    ) -> Option<usize> {
        let mut check = Check {
            shapes: self,
            max,
            found: None,
        };
        for (_, operation) in document.operations.iter() {
            let operation = &operation.node;
            for definition in &operation.variable_definitions {
                let definition = &definition.node;
                let value = variables
                    .get(&definition.name.node)
                    .or(definition.default_value.as_ref().map(|value| &value.node));
                if let Some(value) = value {
                    check.value(value, &definition.var_type.node);
                }
            }
            if let Some(root) = &self.roots[root_index(operation.ty)] {
                check.selections(&operation.selection_set.node, root);
            }
        }
        for fragment in document.fragments.values() {
            let fragment = &fragment.node;
            check.selections(
                &fragment.selection_set.node,
                &fragment.type_condition.node.on.node,
            );
        }
        check.found
    }
}

fn root_index(ty: OperationType) -> usize {
    match ty {
        OperationType::Query => 0,
        OperationType::Mutation => 1,
        OperationType::Subscription => 2,
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

struct Check<'a> {
    shapes: &'a InputShapes,
    max: usize,
    found: Option<usize>,
}

impl Check<'_> {
    /// Walks a selection set on `parent`; unknown fields are skipped (validation names them).
    fn selections(&mut self, set: &SelectionSet, parent: &str) {
        let mut pending = vec![(set, parent.to_owned())];
        while let Some((set, parent)) = pending.pop() {
            for selection in &set.items {
                match &selection.node {
                    Selection::Field(field) => {
                        let field = &field.node;
                        let Some(shape) = self
                            .shapes
                            .objects
                            .get(&parent)
                            .and_then(|fields| fields.get(field.name.node.as_str()))
                        else {
                            continue;
                        };
                        for (name, value) in &field.arguments {
                            if let Some(ty) = shape.arguments.get(name.node.as_str()) {
                                // Variables were checked with their own values.
                                let value = value
                                    .node
                                    .clone()
                                    .into_const_with(|_| Ok::<_, ()>(Value::Null))
                                    .unwrap_or(Value::Null);
                                self.value(&value, ty);
                            }
                        }
                        pending.push((&field.selection_set.node, shape.output.clone()));
                    }
                    Selection::InlineFragment(fragment) => {
                        let fragment = &fragment.node;
                        let on = fragment
                            .type_condition
                            .as_ref()
                            .map_or_else(|| parent.clone(), |on| on.node.on.node.to_string());
                        pending.push((&fragment.selection_set.node, on));
                    }
                    // Fragments are walked once each, from their definitions.
                    Selection::FragmentSpread(_) => {}
                }
            }
        }
    }

    fn value(&mut self, value: &Value, ty: &Type) {
        match (&ty.base, value) {
            (BaseType::List(inner), Value::List(items)) => {
                if items.len() > self.max {
                    self.found = Some(self.found.unwrap_or(0).max(items.len()));
                    return;
                }
                for item in items {
                    self.value(item, inner);
                }
            }
            // A single value where a list is expected is coerced to a list of one.
            (BaseType::List(inner), _) => self.value(value, inner),
            (BaseType::Named(name), Value::Object(fields)) => {
                let Some(input) = self.shapes.inputs.get(name.as_str()) else {
                    return;
                };
                for (field, value) in fields {
                    if let Some(ty) = input.get(Name::as_str(field)) {
                        self.value(value, ty);
                    }
                }
            }
            (BaseType::Named(_), _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use serde_json::json;

    const SDL: &str = r"
        type Query { items(filter: Filter, tags: [String!], blob: JSON): [Item!]! }
        type Item { children(states: [State!]): [Item!]! }
        input Filter { states: [State!], nested: Filter, blob: JSON }
        enum State { A B }
        scalar JSON
    ";

    fn longest(query: &str, variables: serde_json::Value) -> Option<usize> {
        let shapes = InputShapes::from_sdl(SDL);
        let document = parse_query(query).expect("parses");
        shapes.longest_over(&document, &Variables::from_json(variables), 3)
    }

    #[test]
    fn inline_lists_are_measured_where_the_schema_has_lists() {
        assert_eq!(
            longest(
                "{ items(tags: [\"a\", \"b\", \"c\"]) { __typename } }",
                json!({})
            ),
            None
        );
        assert_eq!(
            longest(
                "{ items(tags: [\"a\", \"b\", \"c\", \"d\"]) { __typename } }",
                json!({})
            ),
            Some(4)
        );
        assert_eq!(
            longest(
                "{ items { children(states: [A, A, A, A, A]) { __typename } } }",
                json!({})
            ),
            Some(5)
        );
        assert_eq!(
            longest(
                "{ items(filter: {nested: {states: [A, B, A, B]}}) { __typename } }",
                json!({})
            ),
            Some(4)
        );
    }

    #[test]
    fn variables_are_measured_by_their_declared_types() {
        let query =
            "query($f: Filter, $t: [String!]) { items(filter: $f, tags: $t) { __typename } }";
        assert_eq!(longest(query, json!({"t": ["a", "b", "c", "d"]})), Some(4));
        assert_eq!(
            longest(query, json!({"f": {"states": ["A", "A", "A", "A"]}})),
            Some(4)
        );
        assert_eq!(
            longest(query, json!({"t": ["a"], "f": {"states": ["A"]}})),
            None
        );
    }

    #[test]
    fn json_arrays_are_not_input_lists() {
        assert_eq!(
            longest(
                "{ items(blob: {a: [1, 2, 3, 4, 5]}) { __typename } }",
                json!({})
            ),
            None
        );
        let query = "query($f: Filter) { items(filter: $f) { __typename } }";
        assert_eq!(
            longest(query, json!({"f": {"blob": {"a": [1, 2, 3, 4, 5]}}})),
            None
        );
    }

    #[test]
    fn fragments_are_measured_on_their_type() {
        let query = "{ items { ...F } } fragment F on Item { children(states: [A, A, A, A]) { __typename } }";
        assert_eq!(longest(query, json!({})), Some(4));
    }

    #[test]
    fn the_real_schema_has_its_roots_and_lists() {
        let shapes = InputShapes::of_schema();
        assert!(shapes.roots[root_index(OperationType::Query)].is_some());
        assert!(shapes.inputs.contains_key("PositionFilter"));
    }
}
