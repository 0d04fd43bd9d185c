//! Entity for the `institutions` table: the tenant that owns everything else.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "institutions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// JSON array of region codes (`"US"`, `"EU_UK"`, ...).
    #[sea_orm(column_type = "JsonBinary")]
    pub regions: Json,
    /// JSON array of vertical codes; may be empty.
    #[sea_orm(column_type = "JsonBinary")]
    pub verticals: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::asset_template::Entity")]
    AssetTemplate,
    #[sea_orm(has_many = "super::asset::Entity")]
    Asset,
    #[sea_orm(has_many = "super::position::Entity")]
    Position,
    #[sea_orm(has_many = "super::ledger_event::Entity")]
    LedgerEvent,
    #[sea_orm(has_many = "super::api_key::Entity")]
    ApiKey,
    #[sea_orm(has_many = "super::policy::Entity")]
    Policy,
    #[sea_orm(has_many = "super::idempotency_record::Entity")]
    IdempotencyRecord,
}

impl Related<super::asset_template::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AssetTemplate.def()
    }
}

impl Related<super::asset::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Asset.def()
    }
}

impl Related<super::position::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Position.def()
    }
}

impl Related<super::ledger_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LedgerEvent.def()
    }
}

impl Related<super::api_key::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiKey.def()
    }
}

impl Related<super::policy::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Policy.def()
    }
}

impl Related<super::idempotency_record::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::IdempotencyRecord.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
