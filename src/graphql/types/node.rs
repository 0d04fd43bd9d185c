//! Relay global object identification: the `Node` interface, which every type with an `id`
//! implements, so a client can refetch any object it holds by that id alone.

use super::audit::AuditEventNode;
use super::institution::{InstitutionNode, PolicyNode};
use super::keys::ApiKeyNode;
use super::position::{LedgerEventNode, PositionEventNode, PositionNode};
use super::template_asset::{AssetNode, AssetTemplateNode};
use crate::service::reads::AnyRecord;
use async_graphql::{ID, Interface};

/// An object with a globally unique `id`, refetchable through `node(id:)` and `nodes(ids:)`.
#[derive(Interface)]
#[graphql(
    name = "Node",
    field(
        name = "id",
        ty = "ID",
        desc = "Unique across every type, stable for the object's life."
    )
)]
pub(crate) enum NodeValue {
    Institution(InstitutionNode),
    AssetTemplate(AssetTemplateNode),
    Asset(AssetNode),
    Position(PositionNode),
    PositionEvent(PositionEventNode),
    LedgerEvent(LedgerEventNode),
    AuditEvent(AuditEventNode),
    ApiKey(ApiKeyNode),
    Policy(PolicyNode),
}

impl From<AnyRecord> for NodeValue {
    fn from(record: AnyRecord) -> Self {
        match record {
            AnyRecord::Institution(row) => Self::Institution(row.into()),
            AnyRecord::Template(row) => Self::AssetTemplate(row.into()),
            AnyRecord::Asset(row) => Self::Asset(row.into()),
            AnyRecord::Position(row) => Self::Position(row.into()),
            AnyRecord::PositionEvent(row) => Self::PositionEvent(PositionEventNode(row)),
            AnyRecord::LedgerEvent(row) => Self::LedgerEvent(LedgerEventNode(row)),
            AnyRecord::AuditEvent(row) => Self::AuditEvent(row.into()),
            AnyRecord::ApiKey(row) => Self::ApiKey(ApiKeyNode(row)),
            AnyRecord::Policy(row) => Self::Policy(PolicyNode(row)),
        }
    }
}
