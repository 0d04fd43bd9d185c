//! `AssetTemplate` and `Asset`.

use super::enums::{Region, TemplateCode, Vertical};
use super::filters::PositionFilter;
use super::institution::InstitutionNode;
use super::pointed_node;
use super::position::PositionConnection;
use crate::domain::model::{Asset, AssetTemplate};
use crate::domain::{AssetId, TemplateId};
use crate::graphql::connection::{child_page, connection, page_cost, page_request};
use crate::graphql::context::reader;
use crate::graphql::error::{GqlResult, OrGraphqlError as _};
use crate::graphql::scalars::{DateTime, Json, to_id};
use crate::service::reads::{AssetFilter, AssetParent, PositionParent};
use async_graphql::{Context, ID, Object};

pointed_node!(
    /// A tokenizable asset type an institution defines, with a validated `config`.
    AssetTemplateNode,
    TemplateId,
    AssetTemplate,
    "asset template"
);

connection!(
    AssetTemplateConnection,
    AssetTemplateEdge,
    AssetTemplateNode,
    AssetTemplate,
    "A page of asset templates."
);

#[Object(name = "AssetTemplate")]
impl AssetTemplateNode {
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id())
    }

    /// The institution that defined it.
    async fn institution(&self, ctx: &Context<'_>) -> GqlResult<InstitutionNode> {
        InstitutionNode::pointed(ctx, self.row(ctx).await?.institution_id).await
    }

    async fn code(&self, ctx: &Context<'_>) -> GqlResult<TemplateCode> {
        let row = self.row(ctx).await?;
        Ok(row.code.into())
    }

    async fn name(&self, ctx: &Context<'_>) -> GqlResult<&str> {
        let row = self.row(ctx).await?;
        Ok(&row.name)
    }

    async fn vertical(&self, ctx: &Context<'_>) -> GqlResult<Vertical> {
        let row = self.row(ctx).await?;
        Ok(row.vertical.into())
    }

    async fn region(&self, ctx: &Context<'_>) -> GqlResult<Region> {
        let row = self.row(ctx).await?;
        Ok(row.region.into())
    }

    /// The code-specific configuration (see `TemplateCode`).
    async fn config(&self, ctx: &Context<'_>) -> GqlResult<Json> {
        let row = self.row(ctx).await?;
        Ok(Json::object(row.config.document()))
    }

    async fn created_at(&self, ctx: &Context<'_>) -> GqlResult<DateTime> {
        let row = self.row(ctx).await?;
        Ok(DateTime(row.created_at))
    }

    async fn updated_at(&self, ctx: &Context<'_>) -> GqlResult<DateTime> {
        let row = self.row(ctx).await?;
        Ok(DateTime(row.updated_at))
    }

    /// Assets created under it, oldest first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn assets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (default 50, at most 500).")] first: Option<i32>,
        #[graphql(desc = "Only rows after this cursor.")] after: Option<String>,
    ) -> GqlResult<AssetConnection> {
        let page = page_request(first, after.as_deref())?;
        let filter = reader(ctx)?.permit(AssetFilter::default()).gql()?;
        let (rows, count) =
            child_page(ctx, AssetParent::Template, self.0.id().0, filter, page).await?;
        Ok(AssetConnection {
            page: rows,
            after: page.after,
            total: count,
        })
    }
}

pointed_node!(
    /// A concrete asset under a template: a project escrow, an invoice programme.
    AssetNode,
    AssetId,
    Asset,
    "asset"
);

connection!(
    AssetConnection,
    AssetEdge,
    AssetNode,
    Asset,
    "A page of assets."
);

#[Object(name = "Asset")]
impl AssetNode {
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id())
    }

    async fn institution(&self, ctx: &Context<'_>) -> GqlResult<InstitutionNode> {
        InstitutionNode::pointed(ctx, self.row(ctx).await?.institution_id).await
    }

    /// The template it was created under.
    async fn template(&self, ctx: &Context<'_>) -> GqlResult<AssetTemplateNode> {
        AssetTemplateNode::pointed(ctx, self.row(ctx).await?.template_id).await
    }

    async fn label(&self, ctx: &Context<'_>) -> GqlResult<&str> {
        let row = self.row(ctx).await?;
        Ok(&row.label)
    }

    /// Free-form JSON object given at creation.
    async fn metadata(&self, ctx: &Context<'_>) -> GqlResult<Option<Json>> {
        let row = self.row(ctx).await?;
        Ok(row.metadata.as_ref().map(Json::object))
    }

    async fn created_at(&self, ctx: &Context<'_>) -> GqlResult<DateTime> {
        let row = self.row(ctx).await?;
        Ok(DateTime(row.created_at))
    }

    async fn updated_at(&self, ctx: &Context<'_>) -> GqlResult<DateTime> {
        let row = self.row(ctx).await?;
        Ok(DateTime(row.updated_at))
    }

    /// Positions opened on it, oldest first.
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
        let (rows, count) =
            child_page(ctx, PositionParent::Asset, self.0.id().0, filter, page).await?;
        Ok(PositionConnection {
            page: rows,
            after: page.after,
            total: count,
        })
    }
}
