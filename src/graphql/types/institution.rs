//! `Institution` and its `Policy`.

use super::enums::{Region, Vertical};
use super::filters::{AssetFilter, AssetTemplateFilter, PositionFilter};
use super::keys::ApiKeyNode;
use super::pointed_node;
use super::position::PositionConnection;
use super::template_asset::{AssetConnection, AssetTemplateConnection};
use crate::domain::InstitutionId;
use crate::domain::model::{Institution, Policy};
use crate::graphql::connection::{child_page, connection, page_cost, page_request};
use crate::graphql::context::{loaders, reader};
use crate::graphql::error::{GqlResult, OrGraphqlError as _};
use crate::graphql::loaders::{KeysOf, OfInstitution, PoliciesOf};
use crate::graphql::scalars::{DateTime, DecimalText, to_id};
use crate::service::reads::{AssetParent, PositionParent};
use async_graphql::{Context, ID, Object, SimpleObject};

pointed_node!(
    /// A bank, fund or enterprise: the tenant that owns templates, assets, positions and keys.
    InstitutionNode,
    InstitutionId,
    Institution,
    "institution"
);

connection!(
    InstitutionConnection,
    InstitutionEdge,
    InstitutionNode,
    Institution,
    "A page of institutions."
);

#[Object(name = "Institution")]
impl InstitutionNode {
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id())
    }

    /// Display name.
    async fn name(&self, ctx: &Context<'_>) -> GqlResult<&str> {
        Ok(&self.row(ctx).await?.name)
    }

    /// Regions it operates in; templates must use one of them.
    async fn regions(&self, ctx: &Context<'_>) -> GqlResult<Vec<Region>> {
        let row = self.row(ctx).await?;
        Ok(row.regions.iter().copied().map(Into::into).collect())
    }

    /// Verticals it operates in; when any are listed, templates must use one of them.
    async fn verticals(&self, ctx: &Context<'_>) -> GqlResult<Vec<Vertical>> {
        let row = self.row(ctx).await?;
        Ok(row.verticals.iter().copied().map(Into::into).collect())
    }

    async fn created_at(&self, ctx: &Context<'_>) -> GqlResult<DateTime> {
        Ok(DateTime(self.row(ctx).await?.created_at))
    }

    async fn updated_at(&self, ctx: &Context<'_>) -> GqlResult<DateTime> {
        Ok(DateTime(self.row(ctx).await?.updated_at))
    }

    /// Its asset templates, oldest first.
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
        let (rows, count) = child_page(ctx, OfInstitution, self.0.id().0, filter, page).await?;
        Ok(AssetTemplateConnection {
            page: rows,
            after: page.after,
            total: count,
        })
    }

    /// Its assets, oldest first.
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
        let (rows, count) =
            child_page(ctx, AssetParent::Institution, self.0.id().0, filter, page).await?;
        Ok(AssetConnection {
            page: rows,
            after: page.after,
            total: count,
        })
    }

    /// Its positions across all assets, oldest first.
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
        let (rows, count) = child_page(
            ctx,
            PositionParent::Institution,
            self.0.id().0,
            filter,
            page,
        )
        .await?;
        Ok(PositionConnection {
            page: rows,
            after: page.after,
            total: count,
        })
    }

    /// Its position policies, one per region at most.
    async fn policies(&self, ctx: &Context<'_>) -> GqlResult<Vec<PolicyNode>> {
        let rows = loaders(ctx)?
            .load_one(PoliciesOf(self.0.id()))
            .await
            .gql()?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(PolicyNode)
            .collect())
    }

    /// Its position policy for one region, if it set one.
    async fn policy(&self, ctx: &Context<'_>, region: Region) -> GqlResult<Option<PolicyNode>> {
        let region: crate::domain::Region = region.into();
        let rows = loaders(ctx)?
            .load_one(PoliciesOf(self.0.id()))
            .await
            .gql()?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .find(|policy| policy.region == region)
            .map(PolicyNode))
    }

    /// Its API keys, revoked ones included (never their tokens).
    async fn api_keys(&self, ctx: &Context<'_>) -> GqlResult<Vec<ApiKeyNode>> {
        let rows = loaders(ctx)?.load_one(KeysOf(self.0.id())).await.gql()?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(ApiKeyNode)
            .collect())
    }
}

/// Bounds an institution puts on new positions in one region.
pub(crate) struct PolicyNode(pub(crate) Policy);

/// Limits on new positions.
#[derive(SimpleObject)]
#[graphql(name = "PolicyPositionRules")]
pub(crate) struct PolicyPositionRules {
    /// Smallest amount a new position may have.
    min_amount: Option<DecimalText>,
    /// Largest amount a new position may have.
    max_amount: Option<DecimalText>,
    /// ISO 4217 currencies new positions may use; null allows any.
    allowed_currencies: Option<Vec<String>>,
}

#[Object(name = "Policy")]
impl PolicyNode {
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn institution(&self, ctx: &Context<'_>) -> GqlResult<InstitutionNode> {
        InstitutionNode::pointed(ctx, self.0.institution_id).await
    }

    /// The region whose new positions it bounds.
    async fn region(&self) -> Region {
        self.0.region.into()
    }

    /// The bounds on new positions.
    async fn position(&self) -> PolicyPositionRules {
        let rules = &self.0.rules;
        PolicyPositionRules {
            min_amount: rules.min_amount.map(|amount| amount.value().into()),
            max_amount: rules.max_amount.map(|amount| amount.value().into()),
            allowed_currencies: rules
                .allowed_currencies
                .as_ref()
                .map(|codes| codes.iter().map(|code| code.as_str().to_owned()).collect()),
        }
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}
