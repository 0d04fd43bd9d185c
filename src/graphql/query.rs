//! `Query`: point reads through the loaders, lists straight from the store, all scoped.

use super::connection::{TotalCount, page_cost, page_request};
use super::context::{loaders, reader, request_context};
use super::error::{GqlResult, OrGraphqlError as _};
use super::loaders::AnyId;
use super::scalars::parse_id;
use super::types::*;
use crate::domain::{AssetId, InstitutionId, PositionId, TemplateId};
use async_graphql::dataloader::Loader as _;
use async_graphql::{Context, ID, Object};
use uuid::Uuid;

#[derive(Default)]
pub struct QueryRoot;

/// The root of every read. Every error carries `extensions.code`, one of: `UNAUTHENTICATED`,
/// `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT` (with `extensions.fields: [{field, message}]`),
/// `POLICY_VIOLATION` (with `extensions.rule`), `INVALID_TRANSITION` (with
/// `extensions.fromState` and `toState`), `CONFLICT`, `RATE_LIMITED` (with
/// `extensions.retryAfter`), `QUERY_TOO_COMPLEX` (with `extensions.limit` and `max`),
/// `INTERNAL_SERVER_ERROR`, `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`, for
/// websocket subscriptions `TOO_MANY_SUBSCRIPTIONS`, and for
/// persisted documents `PERSISTED_QUERY_NOT_FOUND` and `PERSISTED_QUERY_NOT_IN_LIST`.
#[Object(name = "Query")]
impl QueryRoot {
    /// The caller: its role and institution.
    async fn viewer(&self, ctx: &Context<'_>) -> GqlResult<ViewerNode> {
        Ok(ViewerNode(request_context(ctx)?.viewer))
    }

    /// Any object by its `id` (Relay's refetch); null when missing or not the caller's.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<NodeValue>> {
        let id: Uuid = parse_id(&id, "id")?;
        Ok(load_root(ctx, AnyId(id)).await?.map(NodeValue::from))
    }

    /// Objects by `id`, in the order asked, whatever their types, in one round trip; null
    /// for each id that is missing or not the caller's. As many ids as any input list may hold
    /// (`QUERY_TOO_COMPLEX` with `limit: maxInputListLength` beyond).
    #[graphql(complexity = "ids.len() * child_complexity")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> GqlResult<Vec<Option<NodeValue>>> {
        let keys = ids
            .iter()
            .map(|id| parse_id(id, "ids").map(AnyId))
            .collect::<GqlResult<Vec<_>>>()?;
        // Loaded at once, as `load_root` does: one statement for the whole list.
        let found = loaders(ctx)?.loader().load(&keys).await.gql()?;
        Ok(keys
            .iter()
            .map(|key| found.get(key).cloned().map(NodeValue::from))
            .collect())
    }

    /// One institution; null when missing or not the caller's.
    async fn institution(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<InstitutionNode>> {
        let id: InstitutionId = parse_id(&id, "id")?;
        Ok(load_root(ctx, id).await?.map(InstitutionNode::from))
    }

    /// Institutions, oldest first: all for the root key, the caller's own otherwise.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn institutions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (default 50, at most 500).")] first: Option<i32>,
        #[graphql(desc = "Only rows after this cursor.")] after: Option<String>,
    ) -> GqlResult<InstitutionConnection> {
        let page = page_request(first, after.as_deref())?;
        let rows = reader(ctx)?.institutions(page).await.gql()?;
        Ok(InstitutionConnection {
            page: rows,
            after: page.after,
            total: TotalCount::Institutions,
        })
    }

    /// One asset template; null when missing or not the caller's.
    async fn asset_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> GqlResult<Option<AssetTemplateNode>> {
        let id: TemplateId = parse_id(&id, "id")?;
        Ok(load_root(ctx, id).await?.map(AssetTemplateNode::from))
    }

    /// Asset templates, oldest first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn asset_templates(
        &self,
        ctx: &Context<'_>,
        filter: Option<AssetTemplateFilter>,
        #[graphql(desc = "At most this many (default 50, at most 500).")] first: Option<i32>,
        #[graphql(desc = "Only rows after this cursor.")] after: Option<String>,
    ) -> GqlResult<AssetTemplateConnection> {
        let filter = filter.unwrap_or_default().permitted(reader(ctx)?)?;
        let page = page_request(first, after.as_deref())?;
        let rows = reader(ctx)?.templates(&filter, page).await.gql()?;
        Ok(AssetTemplateConnection {
            page: rows,
            after: page.after,
            total: TotalCount::Templates(filter),
        })
    }

    /// One asset; null when missing or not the caller's.
    async fn asset(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<AssetNode>> {
        let id: AssetId = parse_id(&id, "id")?;
        Ok(load_root(ctx, id).await?.map(AssetNode::from))
    }

    /// Assets, oldest first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn assets(
        &self,
        ctx: &Context<'_>,
        filter: Option<AssetFilter>,
        #[graphql(desc = "At most this many (default 50, at most 500).")] first: Option<i32>,
        #[graphql(desc = "Only rows after this cursor.")] after: Option<String>,
    ) -> GqlResult<AssetConnection> {
        let filter = filter.unwrap_or_default().permitted(reader(ctx)?)?;
        let page = page_request(first, after.as_deref())?;
        let rows = reader(ctx)?.assets(&filter, page).await.gql()?;
        Ok(AssetConnection {
            page: rows,
            after: page.after,
            total: TotalCount::Assets(filter),
        })
    }

    /// One position; null when missing or not the caller's.
    async fn position(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<PositionNode>> {
        let id: PositionId = parse_id(&id, "id")?;
        Ok(load_root(ctx, id).await?.map(PositionNode::from))
    }

    /// Positions, oldest first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn positions(
        &self,
        ctx: &Context<'_>,
        filter: Option<PositionFilter>,
        #[graphql(desc = "At most this many (default 50, at most 500).")] first: Option<i32>,
        #[graphql(desc = "Only rows after this cursor.")] after: Option<String>,
    ) -> GqlResult<PositionConnection> {
        let filter = filter.unwrap_or_default().permitted(reader(ctx)?)?;
        let page = page_request(first, after.as_deref())?;
        let rows = reader(ctx)?.positions(&filter, page).await.gql()?;
        Ok(PositionConnection {
            page: rows,
            after: page.after,
            total: TotalCount::Positions(filter),
        })
    }

    /// Ledger entries, oldest first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn ledger_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<LedgerEventFilter>,
        #[graphql(desc = "At most this many (default 50, at most 500).")] first: Option<i32>,
        #[graphql(desc = "Only rows after this cursor.")] after: Option<String>,
    ) -> GqlResult<LedgerEventConnection> {
        let filter = filter.unwrap_or_default().permitted(reader(ctx)?)?;
        let page = page_request(first, after.as_deref())?;
        let rows = reader(ctx)?.ledger(&filter, page).await.gql()?;
        Ok(LedgerEventConnection {
            page: rows,
            after: page.after,
            total: TotalCount::Ledger(filter),
        })
    }

    /// Audit events, oldest first: all for the root key, the caller's institution's otherwise.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        #[graphql(desc = "At most this many (default 50, at most 500).")] first: Option<i32>,
        #[graphql(desc = "Only rows after this cursor.")] after: Option<String>,
    ) -> GqlResult<AuditEventConnection> {
        let filter = filter.unwrap_or_default().permitted(reader(ctx)?)?;
        let page = page_request(first, after.as_deref())?;
        let rows = reader(ctx)?.audit(&filter, page).await.gql()?;
        Ok(AuditEventConnection {
            page: rows,
            after: page.after,
            total: TotalCount::Audit(filter),
        })
    }
}
