//! Entity for the `ledger_events` table: the immutable ledger of position creations and state changes.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "ledger_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Database-assigned (`GENERATED ALWAYS AS IDENTITY`): leave it `NotSet` on insert.
    #[sea_orm(unique)]
    pub seq: i64,
    pub institution_id: Uuid,
    pub position_id: Uuid,
    /// `POSITION_CREATED` or `POSITION_STATE_CHANGED`.
    pub kind: String,
    pub previous_state: Option<String>,
    pub new_state: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub at: DateTimeUtc,
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
        belongs_to = "super::position::Entity",
        from = "Column::PositionId",
        to = "super::position::Column::Id"
    )]
    Position,
}

impl Related<super::institution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Institution.def()
    }
}

impl Related<super::position::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Position.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
