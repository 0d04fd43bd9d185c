//! Per-request data: the caller and the DataLoaders that batch its reads.

use super::loaders::{Loaders, new_loaders};
use crate::service::{RequestContext, Services};
use async_graphql::Request;

/// Attaches the caller and fresh loaders. Loaders live for one request because every read
/// is scoped to the caller; a shared cache could hand one tenant's rows to another.
#[must_use]
pub fn prepare_request(request: Request, services: &Services, ctx: RequestContext) -> Request {
    let loaders = new_loaders(services.store().clone(), ctx.viewer.scope());
    request.data(ctx).data(loaders)
}

pub(crate) fn request_context<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<&'a RequestContext> {
    ctx.data::<RequestContext>()
}

pub(crate) fn services<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<&'a Services> {
    ctx.data::<Services>()
}

pub(crate) fn loaders<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>()
}
