//! Limits on what one document may ask for, checked before any resolver runs. Depth and
//! complexity are measured by async-graphql's validation (connections cost `first` ×
//! children, see `page_cost`) and compared here, once validation has passed; aliases and root
//! fields are counted here, because aliases of a cheap field
//! (`a1: __typename … a1000: __typename`) pass any complexity limit. Tokens, aliases and
//! nesting are first counted on the raw text (`scan`), so a flood costs a read, not a parse;
//! input lists are measured against the schema's types (`input_lists`). One limit is charged
//! while the operation runs instead: the rows of the plain history lists (`list_rows`).

mod input_lists;
mod list_rows;
mod scan;

use super::codes::{ErrorCode, too_complex};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::parse_query;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};
use input_lists::InputShapes;
use scan::{Excess, ScanLimits};
use std::sync::Arc;

/// Inline fragments add a level of braces but not of depth; the text scan allows this many
/// before it refuses on nesting alone (the exact depth check follows the parse).
const INLINE_FRAGMENT_SLACK: usize = 4;

/// Schema-wide switches and limits; the defaults let the contract's nested frontend query
/// (institutions → assets → positions → events at first 10/20/20) through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaOptions {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    /// Lexical tokens in one document (Apollo Router's `parser_max_tokens` idea): bounds the
    /// parse, which runs before every other check.
    pub max_tokens: usize,
    /// Items in one GraphQL input list (not in `JSON` values): every list in the schema is an
    /// enum set or a currency list, and ISO 4217 has fewer than 200 codes.
    pub max_input_list_length: usize,
    /// Rows of the plain history lists (`Position.events`, `Position.ledgerEvents`) one
    /// response may hold; charged by their resolvers (see `list_rows`), since validation
    /// cannot know a list's length.
    pub max_list_rows: usize,
    pub introspection: bool,
    pub suggestions: bool,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        Self {
            max_depth: 15,
            max_complexity: 250_000,
            max_aliases: 30,
            max_root_fields: 20,
            max_tokens: 10_000,
            max_input_list_length: 200,
            max_list_rows: 50_000,
            introspection: true,
            suggestions: true,
        }
    }
}

impl SchemaOptions {
    /// The limits `check_text` enforces.
    fn scan_limits(&self) -> ScanLimits {
        ScanLimits {
            max_tokens: self.max_tokens,
            max_aliases: self.max_aliases,
            max_nesting: self.max_depth.saturating_add(INLINE_FRAGMENT_SLACK),
        }
    }

    /// The cheap text checks alone, for transports that parse a document themselves before
    /// handing it to the schema (which checks again, for every transport).
    ///
    /// # Errors
    /// QUERY_TOO_COMPLEX naming `maxTokens`, `maxAliases` or `maxDepth`.
    pub fn check_text(&self, query: &str) -> Result<(), ServerError> {
        scan::scan(query, self.scan_limits()).map_err(|excess| self.excess(excess))
    }

    fn excess(&self, excess: Excess) -> ServerError {
        match excess {
            Excess::Tokens => too_complex(
                format!(
                    "the document has more than {} tokens; send large values as variables",
                    self.max_tokens
                ),
                "maxTokens",
                self.max_tokens,
            ),
            Excess::Aliases => too_complex(
                format!("the document uses more than {} aliases", self.max_aliases),
                "maxAliases",
                self.max_aliases,
            ),
            Excess::Nesting(_) => too_complex(
                format!(
                    "the document nests selections deeper than {} levels",
                    self.max_depth
                ),
                "maxDepth",
                self.max_depth,
            ),
        }
    }
}

pub(crate) use input_lists::InputShapes as DocumentShapes;
pub(crate) use list_rows::{ListRows, MaxListRows, charge_list_rows};

pub(crate) struct DocumentLimits {
    options: SchemaOptions,
    shapes: Arc<InputShapes>,
}

impl DocumentLimits {
    pub(crate) fn new(options: &SchemaOptions) -> Self {
        Self {
            options: options.clone(),
            shapes: InputShapes::of_schema(),
        }
    }
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension {
            options: self.options.clone(),
            shapes: Arc::clone(&self.shapes),
        })
    }
}

struct DocumentLimitsExtension {
    options: SchemaOptions,
    shapes: Arc<InputShapes>,
}

#[async_trait::async_trait]
impl Extension for DocumentLimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let options = &self.options;
        options.check_text(query)?;
        let document = next.run(ctx, query, variables).await.map_err(|error| {
            // Right after its parse async-graphql guards against deep fragment chains, a
            // depth limit as far as a client is concerned. A text that parses here failed
            // that guard; one that does not is left to be coded as a parse failure. Parsed
            // again only on this failure path.
            if parse_query(query).is_ok() {
                options.excess(Excess::Nesting(0))
            } else {
                error
            }
        })?;
        let aliases = count_aliases(&document);
        if aliases > options.max_aliases {
            return Err(too_complex(
                format!(
                    "the document uses {aliases} aliases; at most {} are allowed",
                    options.max_aliases
                ),
                "maxAliases",
                options.max_aliases,
            ));
        }
        let root_fields = count_root_fields(&document);
        if root_fields > options.max_root_fields {
            return Err(too_complex(
                format!(
                    "an operation selects {root_fields} root fields; at most {} are allowed",
                    options.max_root_fields
                ),
                "maxRootFields",
                options.max_root_fields,
            ));
        }
        if !options.introspection && asks_for_introspection(&document) {
            // async-graphql would answer `__schema: null`; a refusal tells the client why.
            return Err(ErrorCode::GraphqlValidationFailed.error(
                "introspection is disabled on this server: __schema and __type are not available",
            ));
        }
        check_input_lists(&self.shapes, options, &document, variables)?;
        Ok(document)
    }

    /// Validation measures depth and complexity; a document it refuses is not measured
    /// here, so its validation errors are what the client sees.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let options = &self.options;
        if result.complexity > options.max_complexity {
            return Err(vec![too_complex(
                format!(
                    "the query is more complex than {} allows",
                    options.max_complexity
                ),
                "maxComplexity",
                options.max_complexity,
            )]);
        }
        if result.depth > options.max_depth {
            return Err(vec![too_complex(
                format!(
                    "the query is nested deeper than {} levels",
                    options.max_depth
                ),
                "maxDepth",
                options.max_depth,
            )]);
        }
        Ok(result)
    }
}

/// The one limit that depends on the variables as well as the document, so it is checked for
/// every request, a document seen before included.
pub(crate) fn check_input_lists(
    shapes: &InputShapes,
    options: &SchemaOptions,
    document: &ExecutableDocument,
    variables: &Variables,
) -> ServerResult<()> {
    let max_list = options.max_input_list_length;
    match shapes.longest_over(document, variables, max_list) {
        Some(length) => Err(too_complex(
            format!("an input list holds {length} items; at most {max_list} are allowed"),
            "maxInputListLength",
            max_list,
        )),
        None => Ok(()),
    }
}

/// Whether validation's measure of the document could change with its variables: the
/// complexity reads `first` (see `page_cost`), and `@skip`/`@include` decide what is counted.
pub(crate) fn cost_reads_variables(document: &ExecutableDocument) -> bool {
    fields(document).any(|field| {
        field.arguments.iter().any(|(name, value)| {
            matches!(name.node.as_str(), "first" | "last")
                && value
                    .node
                    .clone()
                    .into_const_with(|_| Err::<async_graphql::Value, ()>(()))
                    .is_err()
        }) || !field.directives.is_empty()
    }) || has_fragment_directives(document)
}

/// Directives on fragment spreads and inline fragments also decide what is counted.
fn has_fragment_directives(document: &ExecutableDocument) -> bool {
    selection_sets(document).iter().any(|set| {
        set.items.iter().any(|selection| match &selection.node {
            Selection::Field(_) => false,
            Selection::InlineFragment(fragment) => !fragment.node.directives.is_empty(),
            Selection::FragmentSpread(spread) => !spread.node.directives.is_empty(),
        })
    })
}

/// The selection sets operations and fragments start from.
pub(crate) fn top_selection_sets(
    document: &ExecutableDocument,
) -> impl Iterator<Item = &SelectionSet> {
    document
        .operations
        .iter()
        .map(|(_, operation)| &operation.node.selection_set.node)
        .chain(
            document
                .fragments
                .values()
                .map(|fragment| &fragment.node.selection_set.node),
        )
}

/// Every selection set in operations and fragments, walked without recursion so a deep
/// document cannot exhaust the stack before the depth limit sees it.
fn selection_sets(document: &ExecutableDocument) -> Vec<&SelectionSet> {
    let mut pending: Vec<&SelectionSet> = top_selection_sets(document).collect();
    let mut found = Vec::new();
    while let Some(set) = pending.pop() {
        found.push(set);
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => pending.push(&field.node.selection_set.node),
                Selection::InlineFragment(fragment) => {
                    pending.push(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    found
}

/// Every field in operations and fragments.
fn fields(document: &ExecutableDocument) -> impl Iterator<Item = &Field> {
    selection_sets(document)
        .into_iter()
        .flat_map(|set| &set.items)
        .filter_map(|selection| match &selection.node {
            Selection::Field(field) => Some(&field.node),
            _ => None,
        })
}

fn count_aliases(document: &ExecutableDocument) -> usize {
    fields(document)
        .filter(|field| field.alias.is_some())
        .count()
}

/// `__schema` and `__type` are only valid at the root, but a field of that name anywhere
/// is refused: validation would refuse it there anyway.
fn asks_for_introspection(document: &ExecutableDocument) -> bool {
    fields(document).any(|field| matches!(field.name.node.as_str(), "__schema" | "__type"))
}

/// The most root fields any one operation selects, fragments on the root type included.
fn count_root_fields(document: &ExecutableDocument) -> usize {
    document
        .operations
        .iter()
        .map(|(_, operation)| {
            let mut count = 0;
            let mut pending = vec![&operation.node.selection_set.node];
            let mut spreads_seen = 0;
            while let Some(set) = pending.pop() {
                for selection in &set.items {
                    match &selection.node {
                        Selection::Field(_) => count += 1,
                        Selection::InlineFragment(fragment) => {
                            pending.push(&fragment.node.selection_set.node)
                        }
                        Selection::FragmentSpread(spread) => {
                            // A fragment spread twice at the root still merges; bounding the
                            // walk by the fragment count keeps cycles from looping forever.
                            spreads_seen += 1;
                            if spreads_seen <= document.fragments.len()
                                && let Some(fragment) =
                                    document.fragments.get(&spread.node.fragment_name.node)
                            {
                                pending.push(&fragment.node.selection_set.node);
                            }
                        }
                    }
                }
            }
            count
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod cost_tests {
    use super::*;

    fn reads_variables(query: &str) -> bool {
        cost_reads_variables(&parse_query(query).expect("parses"))
    }

    #[test]
    fn a_page_size_or_a_directive_from_variables_makes_the_cost_depend_on_them() {
        assert!(reads_variables(
            "query($n: Int) { positions(first: $n) { totalCount } }"
        ));
        assert!(reads_variables(
            "query($x: Boolean!) { viewer { role @include(if: $x) } }"
        ));
        assert!(reads_variables(
            "query($x: Boolean!) { ... on Query @skip(if: $x) { viewer { role } } }"
        ));
        assert!(reads_variables(
            "query { ...F } fragment F on Query { positions(first: 2) { nodes { id @skip(if: true) } } }"
        ));
    }

    #[test]
    fn literal_page_sizes_and_other_variables_leave_the_cost_fixed() {
        assert!(!reads_variables(
            "query($id: ID!) { position(id: $id) { id events { id } } }"
        ));
        assert!(!reads_variables(
            "query($s: [PositionState!]) { positions(first: 5, filter: {states: $s}) { totalCount } }"
        ));
    }
}
