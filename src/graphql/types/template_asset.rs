//! `AssetTemplate` and `Asset`.

use super::enums::{Region, TemplateCode, Vertical};
use super::filters::PositionFilter;
use super::institution::InstitutionNode;
use super::load_required;
use super::position::PositionConnection;
use crate::domain::model::{Asset, AssetTemplate};
use crate::graphql::connection::{child_page, connection, page_cost, page_request};
use crate::graphql::context::request_context;
use crate::graphql::error::GqlResult;
use crate::graphql::scalars::{DateTime, Json, to_id};
use crate::ports::{AssetFilter, AssetParent, PositionParent};
use async_graphql::{Context, ID, Object};

/// A tokenizable asset type an institution defines, with a validated `config`.
pub(crate) struct AssetTemplateNode(pub(crate) AssetTemplate);

connection!(
    AssetTemplateConnection,
    AssetTemplateEdge,
    AssetTemplateNode,
    AssetTemplate,
    "A page of asset templates."
);

#[Object(name = "AssetTemplate")]
impl AssetTemplateNode {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The institution that defined it.
    async fn institution(&self, ctx: &Context<'_>) -> GqlResult<InstitutionNode> {
        load_required(ctx, self.0.institution_id, "institution")
            .await
            .map(InstitutionNode)
    }

    async fn code(&self) -> TemplateCode {
        self.0.code.into()
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn vertical(&self) -> Vertical {
        self.0.vertical.into()
    }

    async fn region(&self) -> Region {
        self.0.region.into()
    }

    /// The code-specific configuration (see `TemplateCode`).
    async fn config(&self) -> Json {
        Json::object(self.0.config.document())
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
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
        let filter = AssetFilter::default();
        let (rows, count) =
            child_page(ctx, AssetParent::Template, self.0.id.0, filter, page).await?;
        Ok(AssetConnection {
            page: rows,
            after: page.after,
            total: count,
        })
    }
}

/// A concrete asset under a template: a project escrow, an invoice programme.
pub(crate) struct AssetNode(pub(crate) Asset);

connection!(
    AssetConnection,
    AssetEdge,
    AssetNode,
    Asset,
    "A page of assets."
);

#[Object(name = "Asset")]
impl AssetNode {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn institution(&self, ctx: &Context<'_>) -> GqlResult<InstitutionNode> {
        load_required(ctx, self.0.institution_id, "institution")
            .await
            .map(InstitutionNode)
    }

    /// The template it was created under.
    async fn template(&self, ctx: &Context<'_>) -> GqlResult<AssetTemplateNode> {
        load_required(ctx, self.0.template_id, "asset template")
            .await
            .map(AssetTemplateNode)
    }

    async fn label(&self) -> &str {
        &self.0.label
    }

    /// Free-form JSON object given at creation.
    async fn metadata(&self) -> Option<Json> {
        self.0.metadata.as_ref().map(Json::object)
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
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
        let viewer = request_context(ctx)?.viewer;
        let filter = filter.unwrap_or_default().to_store(&viewer)?;
        let page = page_request(first, after.as_deref())?;
        let (rows, count) =
            child_page(ctx, PositionParent::Asset, self.0.id.0, filter, page).await?;
        Ok(PositionConnection {
            page: rows,
            after: page.after,
            total: count,
        })
    }
}
