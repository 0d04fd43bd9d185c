//! Entity for the `positions` table: a holder's claim of an exact amount, moving through a lifecycle.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "positions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub institution_id: Uuid,
    pub asset_id: Uuid,
    pub holder_reference: String,
    /// ISO 4217 code, three upper-case letters.
    pub currency: String,
    #[sea_orm(column_type = "Decimal(Some((32, 8)))")]
    pub amount: Decimal,
    #[sea_orm(column_type = "Decimal(Some((32, 8)))")]
    pub released_amount: Decimal,
    /// `CREATED`, `FUNDED`, `PARTIALLY_RELEASED`, `RELEASED`, `CANCELLED` or `EXPIRED`.
    pub state: String,
    /// Optimistic-concurrency counter: 1 at creation, +1 per lifecycle event.
    pub version: i32,
    pub external_reference: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::institution::Entity",
        from = "Column::InstitutionId",
        to = "super::institution::Column::Id"
    )]
    Institution,
    #[sea_orm(
        belongs_to = "super::asset::Entity",
        from = "Column::AssetId",
        to = "super::asset::Column::Id"
    )]
    Asset,
    #[sea_orm(has_many = "super::position_event::Entity")]
    PositionEvent,
    #[sea_orm(has_many = "super::ledger_event::Entity")]
    LedgerEvent,
}

impl Related<super::institution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Institution.def()
    }
}

impl Related<super::asset::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Asset.def()
    }
}

impl Related<super::position_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PositionEvent.def()
    }
}

impl Related<super::ledger_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LedgerEvent.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
