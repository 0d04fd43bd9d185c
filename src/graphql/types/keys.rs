//! `ApiKey` and the one-time `CreatedApiKey`.

use super::enums::ApiKeyRole;
use super::institution::InstitutionNode;
use crate::domain::model::ApiKey;
use crate::graphql::error::GqlResult;
use crate::graphql::scalars::{DateTime, to_id};
use crate::service::CreatedApiKey;
use async_graphql::{Context, ID, Object};

/// An institution's API key. Its token is shown once, at creation, and never stored.
pub(crate) struct ApiKeyNode(pub(crate) ApiKey);

#[Object(name = "ApiKey")]
impl ApiKeyNode {
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn institution(&self, ctx: &Context<'_>) -> GqlResult<InstitutionNode> {
        InstitutionNode::pointed(ctx, self.0.institution_id).await
    }

    /// What the key is for, as its creator described it.
    async fn label(&self) -> &str {
        &self.0.label
    }

    async fn role(&self) -> ApiKeyRole {
        self.0.role.into()
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it stopped working; null while it works.
    async fn revoked_at(&self) -> Option<DateTime> {
        self.0.revoked_at.map(DateTime)
    }
}

/// A new key with its token. Store the token now: it is never shown again.
pub(crate) struct CreatedApiKeyNode(pub(crate) CreatedApiKey);

#[Object(name = "CreatedApiKey")]
impl CreatedApiKeyNode {
    async fn api_key(&self) -> ApiKeyNode {
        ApiKeyNode(self.0.api_key.clone())
    }

    /// Send as `X-API-Key` or `Authorization: Bearer`. Shown only this once.
    async fn token(&self) -> &str {
        self.0.token.expose()
    }
}
