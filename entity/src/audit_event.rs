//! Entity for the `audit_events` table: who did what, including failed and unauthenticated attempts.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub at: DateTimeUtc,
    pub action: String,
    pub outcome: String,
    pub api_key_id: Option<Uuid>,
    /// Deliberately no foreign key: a failed attempt may name an institution that does not exist.
    pub institution_id: Option<Uuid>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    pub request_id: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
}

// Audit rows must outlive whatever they name, so they carry no foreign keys and no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
