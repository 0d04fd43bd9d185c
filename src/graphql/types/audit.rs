//! `AuditEvent` and `Viewer`.

use super::enums::ViewerRole;
use super::institution::InstitutionNode;
use super::load_required;
use crate::domain::model::AuditEvent;
use crate::graphql::connection::connection;
use crate::graphql::error::GqlResult;
use crate::graphql::scalars::{DateTime, Json, to_id};
use crate::service::Viewer;
use async_graphql::{Context, ID, Object};

/// Who did what, when, and whether it was allowed.
pub(crate) struct AuditEventNode(pub(crate) AuditEvent);

impl From<AuditEvent> for AuditEventNode {
    fn from(row: AuditEvent) -> Self {
        Self(row)
    }
}

connection!(
    AuditEventConnection,
    AuditEventEdge,
    AuditEventNode,
    AuditEvent,
    "A page of audit events."
);

#[Object(name = "AuditEvent")]
impl AuditEventNode {
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }

    /// The operation, e.g. "createPosition".
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// SUCCESS, FORBIDDEN or UNAUTHENTICATED.
    async fn outcome(&self) -> &str {
        self.0.outcome.as_str()
    }

    /// The key that acted; null for the root key and unauthenticated attempts.
    async fn api_key_id(&self) -> Option<ID> {
        self.0.api_key_id.map(to_id)
    }

    async fn institution_id(&self) -> Option<ID> {
        self.0.institution_id.map(to_id)
    }

    /// The kind of record acted on, e.g. "Position".
    async fn resource_type(&self) -> Option<&str> {
        self.0.resource_type.as_deref()
    }

    async fn resource_id(&self) -> Option<ID> {
        self.0.resource_id.map(to_id)
    }

    /// The `X-Request-Id` of the request.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// What the action changed, in brief.
    async fn payload(&self) -> Json {
        Json::object(&self.0.payload)
    }
}

/// The caller of this request.
pub(crate) struct ViewerNode(pub(crate) Viewer);

#[Object(name = "Viewer")]
impl ViewerNode {
    async fn role(&self) -> ViewerRole {
        self.0.role().into()
    }

    /// The caller's institution; null for the root key.
    async fn institution(&self, ctx: &Context<'_>) -> GqlResult<Option<InstitutionNode>> {
        match self.0.institution_id() {
            Some(id) => load_required(ctx, id, "institution")
                .await
                .map(|row| Some(InstitutionNode::from(row))),
            None => Ok(None),
        }
    }

    /// The key in use; null for the root key.
    async fn api_key_id(&self) -> Option<ID> {
        self.0.api_key_id().map(to_id)
    }
}
