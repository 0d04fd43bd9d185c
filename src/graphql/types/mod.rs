//! GraphQL object, enum and input types. Each wraps a domain record; none is a table shape.

mod audit;
mod enums;
mod filters;
mod institution;
mod keys;
mod node;
mod position;
mod template_asset;

pub(crate) use audit::{AuditEventConnection, ViewerNode};
pub(crate) use enums::*;
pub(crate) use filters::*;
pub(crate) use institution::{InstitutionConnection, InstitutionNode, PolicyNode};
pub(crate) use keys::{ApiKeyNode, CreatedApiKeyNode};
pub(crate) use node::NodeValue;
pub(crate) use position::{
    LedgerEventConnection, PositionConnection, PositionEventNode, PositionNode,
};
pub(crate) use template_asset::{
    AssetConnection, AssetNode, AssetTemplateConnection, AssetTemplateNode,
};

use super::context::loaders;
use super::error::{GqlResult, OrGraphqlError as _};
use crate::service::ServiceError;
use async_graphql::Context;
use async_graphql::dataloader::Loader;
use std::hash::Hash;

/// Loads a row a field points at; the row exists unless it is outside the caller's scope,
/// which a parent within scope never points to.
pub(crate) async fn load_required<K, V>(
    ctx: &Context<'_>,
    key: K,
    entity: &'static str,
) -> GqlResult<V>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    super::loaders::StoreLoader: Loader<K, Value = V, Error = ServiceError>,
    V: Send + Sync + Clone + 'static,
{
    loaders(ctx)?
        .load_one(key)
        .await
        .gql()?
        .ok_or(ServiceError::NotFound(entity))
        .gql()
}

/// A root lookup by id, loaded at once. Through the DataLoader it would wait out the batching
/// delay first (tokio's timer wheel turns that millisecond into one to two), to batch with keys
/// that only sibling root lookups could add, and a document rarely repeats those.
pub(crate) async fn load_root<K, V>(ctx: &Context<'_>, key: K) -> GqlResult<Option<V>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    super::loaders::StoreLoader: Loader<K, Value = V, Error = ServiceError>,
    V: Send + Sync + Clone + 'static,
{
    let mut found = loaders(ctx)?
        .loader()
        .load(std::slice::from_ref(&key))
        .await
        .gql()?;
    Ok(found.remove(&key))
}

/// A node's row, or for now only the id its parent points at. A to-one field whose selection
/// is nothing but `id` and `__typename` needs no load: the parent's foreign key is the answer,
/// and a parent within the caller's scope never points outside it. Any other field loads the
/// row once, on first use, through the request's loaders.
pub(crate) struct Pointed<K, V> {
    id: K,
    row: tokio::sync::OnceCell<V>,
    entity: &'static str,
}

impl<K, V> Pointed<K, V>
where
    K: Copy + Send + Sync + Hash + Eq + 'static,
    V: Send + Sync + Clone + 'static,
    super::loaders::StoreLoader: Loader<K, Value = V, Error = ServiceError>,
{
    pub(crate) fn loaded(id: K, row: V, entity: &'static str) -> Self {
        Self {
            id,
            row: tokio::sync::OnceCell::new_with(Some(row)),
            entity,
        }
    }

    pub(crate) fn id(&self) -> K {
        self.id
    }

    pub(crate) async fn row(&self, ctx: &Context<'_>) -> GqlResult<&V> {
        if let Some(row) = self.row.get() {
            return Ok(row);
        }
        self.row
            .get_or_try_init(|| load_required(ctx, self.id, self.entity))
            .await
    }

    /// The to-one field `ctx` resolves, pointing at `id`: loaded now unless the selection
    /// asks for nothing but identity.
    pub(crate) async fn to_one(ctx: &Context<'_>, id: K, entity: &'static str) -> GqlResult<Self> {
        let identity_only = ctx
            .field()
            .selection_set()
            .all(|field| matches!(field.name(), "id" | "__typename"));
        if identity_only {
            return Ok(Self {
                id,
                row: tokio::sync::OnceCell::new(),
                entity,
            });
        }
        let row = load_required(ctx, id, entity).await?;
        Ok(Self::loaded(id, row, entity))
    }
}

/// Declares a node type over `Pointed`: built loaded from a row, or pointed at by id from a
/// parent's foreign key (`pointed`), with `row` for the fields that need more than the id.
macro_rules! pointed_node {
    ($(#[$doc:meta])* $node:ident, $id:ty, $record:ty, $entity:literal) => {
        $(#[$doc])*
        pub(crate) struct $node($crate::graphql::types::Pointed<$id, $record>);

        impl From<$record> for $node {
            fn from(row: $record) -> Self {
                Self($crate::graphql::types::Pointed::loaded(row.id, row, $entity))
            }
        }

        impl $node {
            /// The row a parent points at (see `Pointed`).
            pub(crate) async fn pointed(
                ctx: &async_graphql::Context<'_>,
                id: $id,
            ) -> $crate::graphql::error::GqlResult<Self> {
                $crate::graphql::types::Pointed::to_one(ctx, id, $entity)
                    .await
                    .map(Self)
            }

            async fn row(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> $crate::graphql::error::GqlResult<&$record> {
                self.0.row(ctx).await
            }
        }
    };
}

pub(crate) use pointed_node;
