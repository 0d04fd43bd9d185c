//! Entity for the `policies` table: per-institution, per-region bounds on new positions.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub institution_id: Uuid,
    /// `US`, `EU_UK`, `SG` or `UAE`; one policy per institution and region.
    pub region: String,
    #[sea_orm(column_type = "Decimal(Some((32, 8)))", nullable)]
    pub min_amount: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((32, 8)))", nullable)]
    pub max_amount: Option<Decimal>,
    /// JSON array of ISO 4217 codes; `None` allows any currency.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub allowed_currencies: Option<Json>,
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
}

impl Related<super::institution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Institution.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
