//! Catalog writes (institutions, templates, assets, keys, policies, audit): each is one
//! transaction holding the record and its audit row, so neither exists without the other.

use super::PgStore;
use super::convert;
use super::error::map_db_err;
use crate::domain::ApiKeyId;
use crate::domain::model::{
    ApiKey, Asset, AssetTemplate, AuditEvent, Institution, Policy, Timestamp,
};
use crate::ports::{RepoError, RepoResult, Scope};
use entity::{api_key, audit_event, institution, policy};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, Statement,
};
use serde_json::Value;

/// An asset row is inserted only when its template belongs to the asset's institution, in the
/// same statement: the foreign key alone would accept another institution's template.
const INSERT_ASSET: &str = r#"
INSERT INTO assets (id, institution_id, template_id, label, metadata, created_at, updated_at)
SELECT $1, $2, $3, $4, $5, $6, $7
WHERE EXISTS (SELECT 1 FROM asset_templates WHERE id = $3 AND institution_id = $2)"#;

pub(super) async fn insert_audit(txn: &DatabaseTransaction, audit: &AuditEvent) -> RepoResult<()> {
    audit_event::Entity::insert(convert::audit_event_model(audit))
        .exec_without_returning(txn)
        .await
        .map(drop)
        .map_err(map_db_err)
}

impl PgStore {
    pub(crate) async fn write_institution(
        &self,
        record: &Institution,
        audit: &AuditEvent,
    ) -> RepoResult<()> {
        let txn = self.begin().await?;
        let result = async {
            institution::Entity::insert(convert::institution_model(record))
                .exec_without_returning(&txn)
                .await
                .map_err(map_db_err)?;
            insert_audit(&txn, audit).await
        }
        .await;
        self.finish(txn, result).await
    }

    pub(crate) async fn write_template(
        &self,
        record: &AssetTemplate,
        audit: &AuditEvent,
    ) -> RepoResult<()> {
        let txn = self.begin().await?;
        let result = async {
            // A missing institution trips asset_templates_institution_id_fkey → NotFound.
            convert::template_model(record)
                .insert(&txn)
                .await
                .map_err(map_db_err)?;
            insert_audit(&txn, audit).await
        }
        .await;
        self.finish(txn, result).await
    }

    pub(crate) async fn write_asset(&self, record: &Asset, audit: &AuditEvent) -> RepoResult<()> {
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
                        record.label.clone().into(),
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

    pub(crate) async fn write_api_key(
        &self,
        record: &ApiKey,
        audit: &AuditEvent,
    ) -> RepoResult<()> {
        let txn = self.begin().await?;
        let result = async {
            api_key::Entity::insert(convert::api_key_model(record))
                .exec_without_returning(&txn)
                .await
                .map_err(map_db_err)?;
            insert_audit(&txn, audit).await
        }
        .await;
        self.finish(txn, result).await
    }

    pub(crate) async fn write_revocation(
        &self,
        scope: Scope,
        id: ApiKeyId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> RepoResult<ApiKey> {
        use api_key::Column as C;
        let txn = self.begin().await?;
        let result = async {
            // COALESCE keeps the first revocation time, in the same statement that reads it.
            let mut update = api_key::Entity::update_many()
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

    pub(crate) async fn write_policy(
        &self,
        record: &Policy,
        audit: &AuditEvent,
    ) -> RepoResult<Policy> {
        use policy::Column as C;
        let txn = self.begin().await?;
        let result = async {
            // The existing row keeps its id and created_at; only the rules and updated_at move.
            let stored = policy::Entity::insert(convert::policy_model(record))
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

    pub(crate) async fn write_audit(&self, audit: &AuditEvent) -> RepoResult<()> {
        // A single INSERT is its own transaction.
        audit_event::Entity::insert(convert::audit_event_model(audit))
            .exec_without_returning(&self.db)
            .await
            .map(drop)
            .map_err(map_db_err)
    }
}
