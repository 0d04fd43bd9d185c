//! Regional position policies: at most one per (institution, region), replaced in place.

use super::PgStore;
use super::audit::insert_audit;
use super::convert;
use super::error::map_db_err;
use super::filters::scoped;
use super::select::{convert_all, ids};
use super::window::{group, one_of};
use crate::domain::model::{AuditEvent, Policy};
use crate::domain::{InstitutionId, Region};
use crate::ports::{PolicyRepository, RepoResult, Scope};
use async_trait::async_trait;
use entity::policy::{Column as C, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;

#[async_trait]
impl PolicyRepository for PgStore {
    async fn upsert_policy(&self, record: &Policy, audit: &AuditEvent) -> RepoResult<Policy> {
        let txn = self.begin().await?;
        let result = async {
            // The existing row keeps its id and created_at; only the rules and updated_at move.
            let stored = Entity::insert(convert::policy_model(record))
                .on_conflict(
                    OnConflict::columns([C::InstitutionId, C::Region])
                        .update_columns([
                            C::MinAmount,
                            C::MaxAmount,
                            C::AllowedCurrencies,
                            C::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_with_returning(&txn)
                .await
                .map_err(map_db_err)?;
            insert_audit(&txn, audit).await?;
            convert::policy(stored)
        }
        .await;
        self.finish(txn, result).await
    }

    async fn policy_for(
        &self,
        scope: Scope,
        institution: InstitutionId,
        region: Region,
    ) -> RepoResult<Option<Policy>> {
        Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(C::InstitutionId.eq(institution.0))
            .filter(C::Region.eq(region.as_str()))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .map(convert::policy)
            .transpose()
    }

    async fn policies_by_institutions(
        &self,
        scope: Scope,
        list: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<Policy>>> {
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(one_of(C::InstitutionId, ids(list)))
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let mut rows = convert_all(models, convert::policy)?;
        // By the domain's region order (US, EU_UK, SG, UAE), not the text's collation, so both
        // stores agree.
        rows.sort_by_key(|p| p.region);
        Ok(group(list, rows, |p| p.institution_id))
    }
}
