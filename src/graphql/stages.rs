//! Gives the errors of the two stages before execution the codes Apollo clients know, by the
//! stage that raised them: GRAPHQL_PARSE_FAILED for the parse, GRAPHQL_VALIDATION_FAILED for
//! validation. A code an inner extension already chose (a limit's QUERY_TOO_COMPLEX) stays.

use super::codes::{ErrorCode, code_of};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};
use std::sync::Arc;

/// Extension factory; see the module doc. Registered before the limits, so it wraps them.
pub(crate) struct DocumentStages;

impl ExtensionFactory for DocumentStages {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentStages)
    }
}

fn unless_coded(error: ServerError, code: ErrorCode) -> ServerError {
    if code_of(&error).is_some() {
        error
    } else {
        code.mark(error)
    }
}

#[async_trait::async_trait]
impl Extension for DocumentStages {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|error| unless_coded(error, ErrorCode::GraphqlParseFailed))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| unless_coded(error, ErrorCode::GraphqlValidationFailed))
                .collect()
        })
    }
}
