//! Entity for the `position_events` table: the immutable lifecycle history of positions.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "position_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Database-assigned (`GENERATED ALWAYS AS IDENTITY`): leave it `NotSet` on insert, since
    /// PostgreSQL rejects an explicit value. Subscription cursors are built from it.
    #[sea_orm(unique)]
    pub seq: i64,
    /// The writing transaction's id (`pg_current_xact_id()`, the column default; 0 for rows
    /// older than that column): the log is read in (`txn`, `seq`) order. Leave it `NotSet`.
    pub txn: i64,
    pub position_id: Uuid,
    /// Copied from the position so event feeds can filter without a join; no foreign key.
    pub institution_id: Uuid,
    /// Copied from the position so event feeds can filter without a join; no foreign key.
    pub asset_id: Uuid,
    /// `None` only for the creation event.
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metadata: Option<Json>,
    #[sea_orm(column_type = "Decimal(Some((32, 8)))", nullable)]
    pub release_amount: Option<Decimal>,
    /// The position's version after this event; unique per position.
    pub version: i32,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::position::Entity",
        from = "Column::PositionId",
        to = "super::position::Column::Id"
    )]
    Position,
}

impl Related<super::position::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Position.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
