//! Per-request data: the caller, its read access, the DataLoaders that batch its reads, and
//! the budget of its plain lists' rows.

use super::limits::ListRows;
use super::loaders::{BATCH_DELAY, Loaders, new_loaders};
use crate::service::reads::Reader;
use crate::service::{RequestContext, Services};
use async_graphql::Request;
use std::time::Duration;

/// Attaches the caller, fresh loaders and a full list-row budget. Loaders live for one
/// request because every read is scoped to the caller; a shared cache could hand one tenant's
/// rows to another. Every transport (each operation of a batch included) prepares each
/// operation here, so each starts with a budget of its own.
#[must_use]
pub fn prepare_request(request: Request, services: &Services, ctx: RequestContext) -> Request {
    prepare_request_batching(request, services, ctx, BATCH_DELAY)
}

/// `prepare_request` for a subscription group's operation: each event it resolves is one
/// object, so its loads (one key per level for the usual `position { asset { … } }`) have
/// no siblings to wait for, and waiting, a timer tick per level, delays every member's
/// delivery. A list under the event may then load in more statements than one per level.
#[must_use]
pub fn prepare_group_request(
    request: Request,
    services: &Services,
    ctx: RequestContext,
) -> Request {
    prepare_request_batching(request, services, ctx, Duration::ZERO)
}

fn prepare_request_batching(
    request: Request,
    services: &Services,
    ctx: RequestContext,
    delay: Duration,
) -> Request {
    let reader = services.reader(ctx.viewer);
    let loaders = new_loaders(reader.clone(), delay);
    request
        .data(ctx)
        .data(reader)
        .data(loaders)
        .data(ListRows::default())
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

/// The caller's read access: every list and count goes through it.
pub(crate) fn reader<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Reader> {
    ctx.data::<Reader>()
}

pub(crate) fn loaders<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>()
}
