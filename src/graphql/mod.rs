//! The GraphQL schema: types, resolvers, loaders and the one mapping of errors to codes.

mod codes;
mod connection;
mod context;
mod error;
mod loaders;
mod mutation;
mod query;
mod scalars;
mod types;

pub use codes::DocumentErrorCodes;
pub use context::prepare_request;
pub use error::codes as error_codes;
pub use mutation::MutationRoot;
pub use query::QueryRoot;

use crate::service::Services;
use async_graphql::{EmptySubscription, Schema};

pub type AppSchema = Schema<query::QueryRoot, mutation::MutationRoot, EmptySubscription>;

/// Builds the schema; per-request data (caller, loaders) is attached by `prepare_request`.
#[must_use]
pub fn build_schema(services: Services) -> AppSchema {
    Schema::build(
        query::QueryRoot::default(),
        mutation::MutationRoot::default(),
        EmptySubscription,
    )
    .data(services)
    .extension(DocumentErrorCodes)
    .finish()
}

/// The SDL clients see; `schema.graphql` is this text.
#[must_use]
pub fn sdl() -> String {
    Schema::build(
        query::QueryRoot::default(),
        mutation::MutationRoot::default(),
        EmptySubscription,
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
