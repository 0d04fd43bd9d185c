//! Gives parse and validation failures the codes Apollo clients know.

use super::limits::too_complex;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, ValidationResult, Variables};
use std::sync::Arc;

pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// Extension factory; see the module doc. Knows the limits to name them in its messages.
pub(crate) struct DocumentErrorCodes {
    pub(crate) max_depth: usize,
    pub(crate) max_complexity: usize,
}

impl ExtensionFactory for DocumentErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentErrorCodesExtension {
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
        })
    }
}

struct DocumentErrorCodesExtension {
    max_depth: usize,
    max_complexity: usize,
}

/// Keeps a code an inner extension already chose (a limit's QUERY_TOO_COMPLEX).
fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

#[async_trait::async_trait]
impl Extension for DocumentErrorCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|error| with_code(error, PARSE_FAILED))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| match error.message.as_str() {
                    // async-graphql's fixed texts for its two limits.
                    "Query is too complex." => too_complex(
                        format!(
                            "the query is more complex than {} allows",
                            self.max_complexity
                        ),
                        "maxComplexity",
                        self.max_complexity,
                    ),
                    "Query is nested too deep." => too_complex(
                        format!("the query is nested deeper than {} levels", self.max_depth),
                        "maxDepth",
                        self.max_depth,
                    ),
                    _ => with_code(error, VALIDATION_FAILED),
                })
                .collect()
        })
    }
}
