//! Whether validation could refuse a request for its variables' values: the one validation
//! rule whose answer depends on them (async-graphql's `ArgumentsOfCorrectType`) checks each
//! value against its type as `is_valid_input_value` does. This answers the same question
//! from the schema's own SDL, read once, and answers "no" whenever it is unsure (a null where
//! its position decides, a type it does not know, a `@oneOf` input): then validation runs.
//!
//! It must never accept what that rule refuses; it may refuse what the rule accepts (async-
//! graphql lets a non-object through for an input object, this does not).

use super::scalars::{DateTime, DecimalText, Json};
use async_graphql::parser::types::{BaseType, ExecutableDocument, Type, TypeKind};
use async_graphql::parser::types::{ServiceDocument, TypeSystemDefinition};
use async_graphql::{ID, Name, ScalarType, Value, Variables};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// A field of an input object: its type, and whether leaving it out is allowed by a default.
#[derive(Debug)]
struct InputField {
    ty: Type,
    has_default: bool,
}

#[derive(Debug, Default)]
struct InputObject {
    fields: HashMap<String, InputField>,
    /// `@oneOf` inputs have a rule of their own; they are left to validation.
    one_of: bool,
}

/// The schema's input objects and enums.
#[derive(Debug, Default)]
pub(crate) struct VariableTypes {
    inputs: HashMap<String, InputObject>,
    enums: HashMap<String, HashSet<String>>,
}

impl VariableTypes {
    /// The types of this crate's schema, read from its SDL on first use.
    pub(crate) fn of_schema() -> Arc<Self> {
        static TYPES: OnceLock<Arc<VariableTypes>> = OnceLock::new();
        Arc::clone(TYPES.get_or_init(|| Arc::new(Self::from_sdl(crate::graphql::shared_sdl()))))
    }

    /// An SDL that does not parse knows no types, so every input object and enum variable
    /// goes through validation: slower, never wrong.
    pub(crate) fn from_sdl(sdl: &str) -> Self {
        match async_graphql::parser::parse_schema(sdl) {
            Ok(document) => Self::from_document(document),
            Err(error) => {
                tracing::error!(%error, "the schema's SDL does not parse; variables are validated");
                Self::default()
            }
        }
    }

    fn from_document(document: ServiceDocument) -> Self {
        let mut types = Self::default();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let definition = definition.node;
            let name = definition.name.node.to_string();
            match definition.kind {
                TypeKind::InputObject(input) => {
                    let fields = input.fields.into_iter().map(|field| {
                        let field = field.node;
                        let shape = InputField {
                            ty: field.ty.node,
                            has_default: field.default_value.is_some(),
                        };
                        (field.name.node.to_string(), shape)
                    });
                    let one_of = definition
                        .directives
                        .iter()
                        .any(|directive| directive.node.name.node.as_str() == "oneOf");
                    let object = InputObject {
                        fields: fields.collect(),
                        one_of,
                    };
                    types.inputs.insert(name, object);
                }
                TypeKind::Enum(enumeration) => {
                    let values = enumeration
                        .values
                        .into_iter()
                        .map(|value| value.node.value.node.to_string());
                    types.enums.insert(name, values.collect());
                }
                _ => {}
            }
        }
        types
    }

    /// Whether every given value fits its declared type (`declared` from `declared_variables`).
    /// A null at the top level is left to validation (`fits` refuses it: whether it is allowed
    /// depends on the argument it lands in); a variable left out is not checked by that rule
    /// either.
    pub(crate) fn all_fit(&self, declared: &[(Name, Type)], variables: &Variables) -> bool {
        declared.iter().all(|(name, declared)| {
            variables
                .get(name)
                .is_none_or(|value| self.fits(declared, value))
        })
    }

    fn fits(&self, declared: &Type, value: &Value) -> bool {
        match (&declared.base, value) {
            // Inside a value the declared type alone decides, as in `is_valid_input_value`;
            // a null list element is still left to validation, as before.
            (_, Value::Null) => false,
            (BaseType::List(element), Value::List(items)) => {
                items.iter().all(|item| self.fits(element, item))
            }
            // A single value where a list is declared is coerced to a list of one.
            (BaseType::List(element), single) => self.fits(element, single),
            (BaseType::Named(name), value) => self.named_fits(name.as_str(), value),
        }
    }

    fn named_fits(&self, name: &str, value: &Value) -> bool {
        match name {
            "ID" => <ID as ScalarType>::is_valid(value),
            "String" => <String as ScalarType>::is_valid(value),
            "Int" => <i32 as ScalarType>::is_valid(value),
            "Float" => <f64 as ScalarType>::is_valid(value),
            "Boolean" => <bool as ScalarType>::is_valid(value),
            "Decimal" => <DecimalText as ScalarType>::is_valid(value),
            "DateTime" => <DateTime as ScalarType>::is_valid(value),
            "JSON" => <Json as ScalarType>::is_valid(value),
            _ => {
                if let Some(values) = self.enums.get(name) {
                    return match value {
                        Value::Enum(chosen) => values.contains(chosen.as_str()),
                        Value::String(chosen) => values.contains(chosen.as_str()),
                        _ => false,
                    };
                }
                self.inputs
                    .get(name)
                    .is_some_and(|input| self.object_fits(input, value))
            }
        }
    }

    fn object_fits(&self, input: &InputObject, value: &Value) -> bool {
        let Value::Object(given) = value else {
            return false;
        };
        if input.one_of {
            return false;
        }
        let known = given.iter().all(|(name, value)| {
            input.fields.get(name.as_str()).is_some_and(|field| {
                // A null field is valid exactly when its type is nullable.
                match value {
                    Value::Null => field.ty.nullable,
                    value => self.fits(&field.ty, value),
                }
            })
        });
        known
            && input.fields.iter().all(|(name, field)| {
                field.ty.nullable || field.has_default || given.contains_key(name.as_str())
            })
    }
}

/// The variables of `document`'s one operation with their declared types; `None` for several
/// operations (which one runs decides what is checked).
pub(crate) fn declared_variables(document: &ExecutableDocument) -> Option<Vec<(Name, Type)>> {
    let mut operations = document.operations.iter();
    let (_, operation) = operations.next()?;
    if operations.next().is_some() {
        return None;
    }
    Some(
        operation
            .node
            .variable_definitions
            .iter()
            .map(|definition| {
                let definition = &definition.node;
                (
                    definition.name.node.clone(),
                    definition.var_type.node.clone(),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::{VariableTypes, declared_variables};
    use async_graphql::parser::parse_query;
    use async_graphql::{Value, Variables};
    use serde_json::json;

    const SDL: &str = r#"
        enum Color { RED GREEN }
        input Paint { color: Color! shade: Int coats: Int! = 1 tags: [String!] }
        input Either @oneOf { a: Int b: Int }
        type Query { x: Int }
    "#;

    fn variables(value: serde_json::Value) -> Variables {
        Variables::from_value(Value::from_json(value).expect("JSON"))
    }

    fn fits_for(document: &str) -> impl Fn(serde_json::Value) -> bool {
        let types = VariableTypes::from_sdl(SDL);
        let declared = declared_variables(&parse_query(document).expect("parses")).expect("one");
        move |value| types.all_fit(&declared, &variables(value))
    }

    #[test]
    fn a_document_of_several_operations_declares_nothing_to_check() {
        let declared = |text: &str| declared_variables(&parse_query(text).expect("parses"));
        assert_eq!(declared("{ x }").map(|found| found.len()), Some(0));
        assert!(declared("query A($a: ID) { x } query B { y }").is_none());
    }

    #[test]
    fn built_in_scalars_fit_by_their_own_rules_and_top_level_nulls_are_left_to_validation() {
        let fits = fits_for("query($id: ID!, $ids: [ID!], $n: Int) { x }");
        assert!(fits(json!({ "id": "a", "ids": ["b", 3], "n": 7 })));
        assert!(
            fits(json!({ "id": "a" })),
            "left out: not checked by validation either"
        );
        assert!(
            fits(json!({ "id": "a", "ids": "b" })),
            "one value for a list"
        );
        assert!(!fits(json!({ "id": true })));
        assert!(!fits(json!({ "id": "a", "n": "7" })));
        assert!(!fits(json!({ "id": "a", "n": 1.5 })));
        assert!(!fits(json!({ "id": null })));
        assert!(!fits(json!({ "id": "a", "ids": ["b", null] })));
    }

    #[test]
    fn input_objects_fit_field_by_field_as_validation_checks_them() {
        let fits = fits_for("query($p: Paint!) { x }");
        assert!(fits(json!({ "p": { "color": "RED", "coats": 2 } })));
        assert!(
            fits(json!({ "p": { "color": "GREEN" } })),
            "a required field with a default may be left out"
        );
        assert!(
            fits(json!({ "p": { "color": "RED", "shade": null, "tags": ["a"] } })),
            "null for a nullable field"
        );
        assert!(
            !fits(json!({ "p": { "shade": 1 } })),
            "required field missing"
        );
        assert!(
            !fits(json!({ "p": { "color": "BLUE" } })),
            "not an enum value"
        );
        assert!(!fits(json!({ "p": { "color": 1 } })));
        assert!(!fits(json!({ "p": { "color": "RED", "coats": null } })));
        assert!(!fits(json!({ "p": { "color": "RED", "shade": "1" } })));
        assert!(
            !fits(json!({ "p": { "color": "RED", "hue": 1 } })),
            "unknown field"
        );
        assert!(!fits(json!({ "p": { "color": "RED", "tags": [null] } })));
        assert!(!fits(json!({ "p": "RED" })), "not an object");
    }

    #[test]
    fn enums_our_scalars_and_what_it_does_not_know() {
        assert!(fits_for("query($c: Color) { x }")(json!({ "c": "GREEN" })));
        assert!(!fits_for("query($c: Color) { x }")(json!({ "c": "green" })));
        assert!(
            !fits_for("query($e: Either) { x }")(json!({ "e": { "a": 1 } })),
            "@oneOf is left to validation"
        );
        assert!(!fits_for("query($u: Unknown) { x }")(json!({ "u": 1 })));
        assert!(
            fits_for("query($d: Decimal, $t: DateTime, $j: JSON) { x }")(
                json!({ "d": "1.5", "t": "2026-01-01T00:00:00Z", "j": { "a": [1] } })
            )
        );
    }

    #[test]
    fn the_schema_s_own_types_are_read() {
        let types = VariableTypes::of_schema();
        assert!(types.inputs.contains_key("CreatePositionInput"));
        assert!(types.enums["PositionState"].contains("FUNDED"));
    }
}
