//! Rows by id whatever their kind, for Relay's `node` and `nodes`: one `UNION ALL` statement
//! over every table with ids, each branch a primary-key lookup under the caller's scope.
//!
//! The branches have different columns, so each returns its row as `jsonb` and the entity
//! model is read back from it. `to_jsonb` writes `numeric` as a JSON number, which serde would
//! read through `f64`; money columns are therefore overwritten with their exact text.

use super::PgStore;
use super::convert;
use super::error::map_db_err;
use super::select::ids as distinct_ids;
use crate::ports::{AnyRecord, NodeRepository, RepoError, RepoResult, Scope};
use async_trait::async_trait;
use entity::{
    api_key, asset, asset_template, audit_event, institution, ledger_event, policy, position,
    position_event,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde::de::DeserializeOwned;
use std::fmt::Write as _;
use uuid::Uuid;

/// (kind, table, the column that names the owning institution, the money columns).
const TABLES: [(&str, &str, &str, &[&str]); 9] = [
    ("institution", "institutions", "id", &[]),
    ("template", "asset_templates", "institution_id", &[]),
    ("asset", "assets", "institution_id", &[]),
    (
        "position",
        "positions",
        "institution_id",
        &["amount", "released_amount"],
    ),
    (
        "position_event",
        "position_events",
        "institution_id",
        &["release_amount"],
    ),
    ("ledger_event", "ledger_events", "institution_id", &[]),
    ("audit_event", "audit_events", "institution_id", &[]),
    ("api_key", "api_keys", "institution_id", &[]),
    (
        "policy",
        "policies",
        "institution_id",
        &["min_amount", "max_amount"],
    ),
];

/// `$1 … $ids` are the ids, `$ids+1` the scope's institution when there is one.
fn union_sql(ids: usize, scoped: bool) -> String {
    let placeholders = (1..=ids)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = String::new();
    for (index, (kind, table, owner, money)) in TABLES.iter().enumerate() {
        if index > 0 {
            sql.push_str(" UNION ALL ");
        }
        let mut row = String::from("to_jsonb(t)");
        if !money.is_empty() {
            let exact = money
                .iter()
                .map(|column| format!("'{column}', t.{column}::text"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(row, " || jsonb_build_object({exact})");
        }
        let _ = write!(
            sql,
            "SELECT '{kind}' AS kind, {row} AS row FROM {table} t WHERE t.id IN ({placeholders})"
        );
        if scoped {
            let _ = write!(sql, " AND t.{owner} = ${}", ids + 1);
        }
    }
    sql
}

fn model<M: DeserializeOwned>(kind: &str, row: serde_json::Value) -> RepoResult<M> {
    serde_json::from_value(row)
        .map_err(|error| RepoError::Internal(format!("unreadable {kind} row: {error}")))
}

fn record(kind: &str, row: serde_json::Value) -> RepoResult<AnyRecord> {
    Ok(match kind {
        "institution" => AnyRecord::Institution(convert::institution(
            model::<institution::Model>(kind, row)?,
        )?),
        "template" => AnyRecord::Template(convert::template(model::<asset_template::Model>(
            kind, row,
        )?)?),
        "asset" => AnyRecord::Asset(convert::asset(model::<asset::Model>(kind, row)?)?),
        "position" => AnyRecord::Position(convert::position(model::<position::Model>(kind, row)?)?),
        "position_event" => {
            AnyRecord::PositionEvent(convert::position_event(model::<position_event::Model>(
                kind, row,
            )?)?)
        }
        "ledger_event" => AnyRecord::LedgerEvent(convert::ledger_event(model::<
            ledger_event::Model,
        >(kind, row)?)?),
        "audit_event" => AnyRecord::AuditEvent(convert::audit_event(model::<audit_event::Model>(
            kind, row,
        )?)?),
        "api_key" => AnyRecord::ApiKey(convert::api_key(model::<api_key::Model>(kind, row)?)?),
        "policy" => AnyRecord::Policy(convert::policy(model::<policy::Model>(kind, row)?)?),
        other => return Err(RepoError::Internal(format!("unknown node kind {other}"))),
    })
}

#[async_trait]
impl NodeRepository for PgStore {
    async fn records_by_ids(&self, scope: Scope, ids: &[Uuid]) -> RepoResult<Vec<AnyRecord>> {
        let ids = distinct_ids(ids);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut values: Vec<Value> = ids.iter().map(|id| (*id).into()).collect();
        let scoped = match scope {
            Scope::All => false,
            Scope::Institution(own) => {
                values.push(own.0.into());
                true
            }
        };
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            union_sql(ids.len(), scoped),
            values,
        );
        let rows = self.db.query_all_raw(statement).await.map_err(map_db_err)?;
        rows.into_iter()
            .map(|row| {
                let kind: String = row.try_get("", "kind").map_err(map_db_err)?;
                let json: serde_json::Value = row.try_get("", "row").map_err(map_db_err)?;
                record(&kind, json)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_branch_binds_the_same_ids_and_the_scope_last() {
        let sql = union_sql(2, true);
        assert_eq!(sql.matches(" UNION ALL ").count(), TABLES.len() - 1);
        assert_eq!(sql.matches("IN ($1, $2)").count(), TABLES.len());
        assert_eq!(sql.matches("= $3").count(), TABLES.len());
        assert!(
            sql.contains("'amount', t.amount::text, 'released_amount', t.released_amount::text")
        );
        assert!(!union_sql(1, false).contains("$2"));
    }
}
