//! GraphQL object, enum and input types. Each wraps a domain record; none is a table shape.

mod audit;
mod enums;
mod filters;
mod institution;
mod keys;
mod position;
mod template_asset;

pub(crate) use audit::{AuditEventConnection, ViewerNode};
pub(crate) use enums::*;
pub(crate) use filters::*;
pub(crate) use institution::{InstitutionConnection, InstitutionNode, PolicyNode};
pub(crate) use keys::{ApiKeyNode, CreatedApiKeyNode};
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
