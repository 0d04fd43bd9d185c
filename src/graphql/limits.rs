//! Limits on what one document may ask for, checked before any resolver runs. Depth and
//! complexity are async-graphql's (connections cost `first` × children, see `page_cost`);
//! aliases and root fields are counted here, because aliases of a cheap field
//! (`a1: __typename … a1000: __typename`) pass any complexity limit.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, Variables};
use std::sync::Arc;

/// Schema-wide switches and limits; the defaults let the contract's nested frontend query
/// (institutions → assets → positions → events at first 10/20/20) through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaOptions {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
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
            introspection: true,
            suggestions: true,
        }
    }
}

/// QUERY_TOO_COMPLEX naming the limit, e.g. `maxAliases`.
pub(crate) fn too_complex(message: String, limit: &str, max: usize) -> ServerError {
    let mut error = ServerError::new(message, None);
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    extensions.set("code", super::error::codes::QUERY_TOO_COMPLEX);
    extensions.set("limit", limit);
    extensions.set("max", i64::try_from(max).unwrap_or(i64::MAX));
    error
}

pub(crate) struct DocumentLimits {
    pub(crate) max_aliases: usize,
    pub(crate) max_root_fields: usize,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension {
            max_aliases: self.max_aliases,
            max_root_fields: self.max_root_fields,
        })
    }
}

struct DocumentLimitsExtension {
    max_aliases: usize,
    max_root_fields: usize,
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
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > self.max_aliases {
            return Err(too_complex(
                format!(
                    "the document uses {aliases} aliases; at most {} are allowed",
                    self.max_aliases
                ),
                "maxAliases",
                self.max_aliases,
            ));
        }
        let root_fields = count_root_fields(&document);
        if root_fields > self.max_root_fields {
            return Err(too_complex(
                format!(
                    "an operation selects {root_fields} root fields; at most {} are allowed",
                    self.max_root_fields
                ),
                "maxRootFields",
                self.max_root_fields,
            ));
        }
        Ok(document)
    }
}

/// Every alias in operations and fragments, walked without recursion so a deep document
/// cannot exhaust the stack before the depth limit sees it.
fn count_aliases(document: &ExecutableDocument) -> usize {
    let mut pending: Vec<&SelectionSet> = document
        .operations
        .iter()
        .map(|(_, operation)| &operation.node.selection_set.node)
        .chain(
            document
                .fragments
                .values()
                .map(|fragment| &fragment.node.selection_set.node),
        )
        .collect();
    let mut aliases = 0;
    while let Some(set) = pending.pop() {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        aliases += 1;
                    }
                    pending.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => {
                    pending.push(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    aliases
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
