//! API keys: issued per institution, looked up by token hash, revoked once and for good.

use super::PgStore;
use super::audit::insert_audit;
use super::convert;
use super::error::map_db_err;
use super::filters::scoped;
use super::select::{convert_all, ids};
use super::window::{group, one_of};
use crate::domain::model::{ApiKey, AuditEvent, Timestamp};
use crate::domain::{ApiKeyId, InstitutionId};
use crate::ports::{ApiKeyRepository, RepoError, RepoResult, Scope};
use async_trait::async_trait;
use entity::api_key::{Column as C, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, Statement,
};
use std::collections::HashMap;

#[async_trait]
impl ApiKeyRepository for PgStore {
    async fn create_api_key(&self, record: &ApiKey, audit: &AuditEvent) -> RepoResult<()> {
        let txn = self.begin().await?;
        let result = async {
            Entity::insert(convert::api_key_model(record))
                .exec_without_returning(&txn)
                .await
                .map_err(map_db_err)?;
            insert_audit(&txn, audit).await
        }
        .await;
        self.finish(txn, result).await
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> RepoResult<Option<ApiKey>> {
        Entity::find()
            .filter(C::KeyHash.eq(key_hash))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .map(convert::api_key)
            .transpose()
    }

    async fn api_keys_by_ids(&self, scope: Scope, list: &[ApiKeyId]) -> RepoResult<Vec<ApiKey>> {
        self.by_ids::<Entity, _>(
            scoped(scope, C::InstitutionId),
            C::Id,
            ids(list),
            convert::api_key,
        )
        .await
    }

    async fn revoke_api_key(
        &self,
        scope: Scope,
        id: ApiKeyId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> RepoResult<ApiKey> {
        let txn = self.begin().await?;
        let result = async {
            // COALESCE keeps the first revocation time, in the same statement that reads it.
            let mut update = Entity::update_many()
                .col_expr(
                    C::RevokedAt,
                    Expr::cust_with_values("COALESCE(\"revoked_at\", $1)", [at]),
                )
                .filter(C::Id.eq(id.0));
            if let Scope::Institution(own) = scope {
                update = update.filter(C::InstitutionId.eq(own.0));
            }
            let stored = update
                .exec_with_returning(&txn)
                .await
                .map_err(map_db_err)?
                .into_iter()
                .next()
                .ok_or(RepoError::NotFound { entity: "api key" })?;
            insert_audit(&txn, audit).await?;
            // Delivered on commit only: every instance then closes the key's open sockets.
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [
                    super::listener::REVOCATIONS_CHANNEL.into(),
                    stored.id.to_string().into(),
                ],
            ))
            .await
            .map_err(map_db_err)?;
            convert::api_key(stored)
        }
        .await;
        self.finish(txn, result).await
    }

    async fn api_keys_by_institutions(
        &self,
        scope: Scope,
        list: &[InstitutionId],
    ) -> RepoResult<HashMap<InstitutionId, Vec<ApiKey>>> {
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(one_of(C::InstitutionId, ids(list)))
            .order_by_asc(C::Id)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let rows = convert_all(models, convert::api_key)?;
        Ok(group(list, rows, |k| k.institution_id))
    }
}
