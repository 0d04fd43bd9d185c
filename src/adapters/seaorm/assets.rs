//! Assets: what positions are opened on, each under a template of its own institution.

use super::PgStore;
use super::audit::insert_audit;
use super::convert;
use super::error::map_db_err;
use super::filters::{asset_condition, scoped};
use super::select::{convert_all, ids, prefixed_columns};
use super::window::{distinct, group, pages};
use crate::domain::AssetId;
use crate::domain::model::{Asset, AuditEvent};
use crate::ports::{
    AssetFilter, AssetParent, AssetRepository, AssetRules, Page, PageRequest, RepoError,
    RepoResult, Scope,
};
use async_trait::async_trait;
use entity::asset::{Column as C, Entity};
use entity::{asset_template, policy};
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, FromQueryResult as _, QueryFilter, Statement,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

/// An asset row is inserted only when its template belongs to the asset's institution, in the
/// same statement: the foreign key alone would accept another institution's template.
const INSERT_ASSET: &str = r#"
INSERT INTO assets (id, institution_id, template_id, label, metadata, created_at, updated_at)
SELECT $1, $2, $3, $4, $5, $6, $7
WHERE EXISTS (SELECT 1 FROM asset_templates WHERE id = $3 AND institution_id = $2)"#;

/// `asset_rules`' statement, for every institution and for one (`$2`); built once, since
/// it names every column of three tables.
static ASSET_RULES: LazyLock<[String; 2]> = LazyLock::new(|| {
    let statement = |scoped: &str| {
        format!(
            "SELECT {}, {}, {} FROM assets a \
             JOIN asset_templates t ON t.id = a.template_id \
             LEFT JOIN policies p ON p.institution_id = a.institution_id AND p.region = t.region \
             WHERE a.id = $1{scoped}",
            prefixed_columns::<Entity>("a", "a_"),
            prefixed_columns::<asset_template::Entity>("t", "t_"),
            prefixed_columns::<policy::Entity>("p", "p_"),
        )
    };
    [statement(""), statement(" AND a.institution_id = $2")]
});

fn parent_column(parent: AssetParent) -> C {
    match parent {
        AssetParent::Institution => C::InstitutionId,
        AssetParent::Template => C::TemplateId,
    }
}

#[async_trait]
impl AssetRepository for PgStore {
    async fn create_asset(&self, record: &Asset, audit: &AuditEvent) -> RepoResult<()> {
        let txn = self.begin().await?;
        let result = async {
            let inserted = txn
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    INSERT_ASSET,
                    [
                        record.id.0.into(),
                        record.institution_id.0.into(),
                        record.template_id.0.into(),
                        record.label.to_string().into(),
                        record.metadata.clone().map(Value::Object).into(),
                        record.created_at.into(),
                        record.updated_at.into(),
                    ],
                ))
                .await
                .map_err(map_db_err)?;
            if inserted.rows_affected() == 0 {
                return Err(RepoError::NotFound { entity: "template" });
            }
            insert_audit(&txn, audit).await
        }
        .await;
        self.finish(txn, result).await
    }

    async fn assets_by_ids(&self, scope: Scope, list: &[AssetId]) -> RepoResult<Vec<Asset>> {
        self.by_ids::<Entity, _>(
            scoped(scope, C::InstitutionId),
            C::Id,
            ids(list),
            convert::asset,
        )
        .await
    }

    async fn asset_rules(&self, scope: Scope, asset: AssetId) -> RepoResult<Option<AssetRules>> {
        let mut values: Vec<sea_orm::Value> = vec![asset.0.into()];
        let sql = match scope {
            Scope::All => &ASSET_RULES[0],
            Scope::Institution(institution) => {
                values.push(institution.0.into());
                &ASSET_RULES[1]
            }
        };
        let Some(row) = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql.as_str(),
                values,
            ))
            .await
            .map_err(map_db_err)?
        else {
            return Ok(None);
        };
        let policy_id: Option<Uuid> = row.try_get("", "p_id").map_err(map_db_err)?;
        let policy = match policy_id {
            Some(_) => Some(convert::policy(
                policy::Model::from_query_result(&row, "p_").map_err(map_db_err)?,
            )?),
            None => None,
        };
        Ok(Some(AssetRules {
            asset: convert::asset(
                entity::asset::Model::from_query_result(&row, "a_").map_err(map_db_err)?,
            )?,
            template: convert::template(
                asset_template::Model::from_query_result(&row, "t_").map_err(map_db_err)?,
            )?,
            policy,
        }))
    }

    async fn list_assets(
        &self,
        scope: Scope,
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Asset>> {
        let select = Entity::find().filter(asset_condition(scope, filter));
        self.page(select, C::Id, page, convert::asset).await
    }

    async fn count_assets(&self, scope: Scope, filter: &AssetFilter) -> RepoResult<u64> {
        self.count_rows(Entity::find().filter(asset_condition(scope, filter)))
            .await
    }

    async fn assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        list: &[Uuid],
        filter: &AssetFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Asset>>> {
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = self
            .first_per_parent::<Entity>(
                asset_condition(scope, filter),
                parent_column(parent),
                C::Id,
                &distinct(list.iter().copied()),
                page,
            )
            .await?;
        let rows = convert_all(models, convert::asset)?;
        let parent_of = move |a: &Asset| match parent {
            AssetParent::Institution => a.institution_id.0,
            AssetParent::Template => a.template_id.0,
        };
        Ok(pages(group(list, rows, parent_of), page.first))
    }

    async fn count_assets_by_parents(
        &self,
        scope: Scope,
        parent: AssetParent,
        list: &[Uuid],
        filter: &AssetFilter,
    ) -> RepoResult<HashMap<Uuid, u64>> {
        self.count_per_parent::<Entity>(asset_condition(scope, filter), parent_column(parent), list)
            .await
    }
}
