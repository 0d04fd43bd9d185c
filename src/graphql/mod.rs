//! The GraphQL schema: types, resolvers, loaders and the one mapping of errors to codes.

mod codes;
mod connection;
mod context;
mod documents;
mod error;
mod limits;
mod loaders;
mod mutation;
mod persisted;
mod query;
mod scalars;
mod stages;
mod subscription;
mod types;
mod variable_types;

pub use codes::{ErrorCode, UnknownErrorCode};
pub(crate) use codes::{bad_user_input, code_of, too_complex};
pub use context::{prepare_group_request, prepare_request};
pub(crate) use documents::Document;
pub use documents::{DocumentCacheLimits, DocumentCacheStats, Executor};
pub use limits::SchemaOptions;
pub(crate) use limits::top_selection_sets;
pub use mutation::MutationRoot;
pub use persisted::{ManifestError, PersistedSettings, PersistedStats, TrustedDocuments};
pub use query::QueryRoot;
pub use subscription::{EventCursors, FeedObserver, ResumeAfter, SharedFeed, SubscriptionRoot};

use crate::service::Services;
use async_graphql::Schema;

pub type AppSchema =
    Schema<query::QueryRoot, mutation::MutationRoot, subscription::SubscriptionRoot>;

/// Builds the schema with default options.
#[must_use]
pub fn build_schema(services: Services) -> AppSchema {
    build_schema_with(services, &SchemaOptions::default())
}

/// Builds the schema; per-request data (caller, loaders) is attached by `prepare_request`.
#[must_use]
pub fn build_schema_with(services: Services, options: &SchemaOptions) -> AppSchema {
    builder(services, options)
        // Depth and complexity are compared by `DocumentLimits` once validation has measured
        // them: async-graphql's own limits would refuse with an uncoded error.
        .extension(stages::DocumentStages)
        .extension(limits::DocumentLimits::new(options))
        .finish()
}

/// The schema for documents that already passed on the checked one (see `documents`): no
/// extensions, so no hook runs around every field. Its own depth and complexity limits are the
/// same numbers, a second guard that a document which passed never meets.
#[must_use]
pub fn build_fast_schema(services: Services, options: &SchemaOptions) -> AppSchema {
    builder(services, options)
        .limit_depth(options.max_depth)
        .limit_complexity(options.max_complexity)
        .finish()
}

/// The fast schema for documents whose variables, if any, validation could not object to
/// (`documents::Document::plain_variables`): only the checks that measure (depth, complexity)
/// run, not the rules, which gave the same answer the first time the document ran.
#[must_use]
pub fn build_trusted_schema(services: Services, options: &SchemaOptions) -> AppSchema {
    builder(services, options)
        .limit_depth(options.max_depth)
        .limit_complexity(options.max_complexity)
        .validation_mode(async_graphql::ValidationMode::Fast)
        .finish()
}

fn builder(
    services: Services,
    options: &SchemaOptions,
) -> async_graphql::SchemaBuilder<
    query::QueryRoot,
    mutation::MutationRoot,
    subscription::SubscriptionRoot,
> {
    let mut builder = Schema::build(
        query::QueryRoot,
        mutation::MutationRoot,
        subscription::SubscriptionRoot,
    )
    .data(services)
    .data(limits::MaxListRows(options.max_list_rows));
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    if !options.suggestions {
        builder = builder.disable_suggestions();
    }
    builder
}

/// The SDL clients see; `schema.graphql` is this text.
#[must_use]
/// The SDL, built once for the checks that read the schema's types at start-up
/// (`input_lists`, `variable_types`); building a schema is not free.
pub(crate) fn shared_sdl() -> &'static str {
    static SDL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SDL.get_or_init(sdl)
}

pub fn sdl() -> String {
    Schema::build(
        query::QueryRoot,
        mutation::MutationRoot,
        subscription::SubscriptionRoot,
    )
    .finish()
    .sdl()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sdl_names_every_contract_root_field() {
        let sdl = super::sdl();
        for field in [
            "viewer: Viewer!",
            "institutions(",
            "positions(",
            "ledgerEvents(",
            "auditEvents(",
            "createPosition(input: CreatePositionInput!): Position!",
            "transitionPosition(input: TransitionPositionInput!): Position!",
            "upsertPolicy(input: UpsertPolicyInput!): Policy!",
        ] {
            assert!(sdl.contains(field), "schema lacks {field}");
        }
    }
}
