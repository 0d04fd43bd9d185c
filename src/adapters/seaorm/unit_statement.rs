//! A position write as one data-modifying statement. The position row is written first (a
//! `RETURNING *` INSERT or UPDATE); the rows that exist only because of it (the idempotency
//! record, the ledger entry, the audit row, the lifecycle event) are each inserted `FROM` it, so
//! none is written when the position write matched nothing. All of it is written or none, in one round trip instead of
//! four.
//!
//! Foreign keys from the dependent rows to the new position hold: constraint triggers fire at
//! the end of the statement, when the position row exists.

use super::error::map_db_err;
use super::select::prefixed_columns;
use crate::ports::RepoResult;
use entity::{idempotency_record, position, position_event};
use sea_orm::sea_query::Values;
use sea_orm::{
    ActiveModelTrait, ActiveValue, DbBackend, EntityName, EntityTrait, FromQueryResult, IdenStatic,
    Iterable, QueryResult, Statement, Value,
};

/// The event's columns come back under this prefix, beside the position's own.
const EVENT_PREFIX: &str = "e_";

/// The rows a position write carries with it, as the models the single-row inserts use.
pub(super) struct Dependents {
    pub idempotency: Option<idempotency_record::ActiveModel>,
    pub ledger: entity::ledger_event::ActiveModel,
    pub audit: entity::audit_event::ActiveModel,
    pub event: position_event::ActiveModel,
}

/// Placeholders are numbered in the order values are bound, across every part of the
/// statement, starting after the position write's own.
struct Binds(Vec<Value>);

impl Binds {
    fn bind(&mut self, value: Value) -> String {
        self.0.push(value);
        format!("${}", self.0.len())
    }
}

/// `write` must be a Postgres statement ending in `RETURNING *` whose placeholders are
/// `$1..$n` for its own values.
pub(super) fn unit_statement(write: Statement, dependents: &Dependents) -> Statement {
    let mut binds = Binds(
        write
            .values
            .map(|Values(values)| values)
            .unwrap_or_default(),
    );
    let mut parts = vec![format!("p AS ({})", write.sql)];
    if let Some(record) = &dependents.idempotency {
        parts.push(format!("c AS ({})", insert_from_p(&mut binds, record, "")));
    }
    parts.push(format!(
        "l AS ({})",
        insert_from_p(&mut binds, &dependents.ledger, "")
    ));
    parts.push(format!(
        "a AS ({})",
        insert_from_p(&mut binds, &dependents.audit, "")
    ));
    parts.push(format!(
        "e AS ({})",
        insert_from_p(&mut binds, &dependents.event, " RETURNING *")
    ));
    let event_columns = prefixed_columns::<position_event::Entity>("e", EVENT_PREFIX);
    let sql = format!(
        "WITH {} SELECT p.*, {event_columns} FROM p, e",
        parts.join(", ")
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, binds.0)
}

/// The columns `model` sets, inserted once per row of `p`: zero rows when the position write
/// matched nothing.
fn insert_from_p<A: ActiveModelTrait>(binds: &mut Binds, model: &A, returning: &str) -> String {
    let (mut columns, mut values) = (Vec::new(), Vec::new());
    for column in <A::Entity as EntityTrait>::Column::iter() {
        if let ActiveValue::Set(value) | ActiveValue::Unchanged(value) = model.get(column) {
            columns.push(format!(r#""{}""#, column.as_str()));
            values.push(binds.bind(value));
        }
    }
    format!(
        r#"INSERT INTO "{}" ({}) SELECT {} FROM p{returning}"#,
        A::Entity::default().table_name(),
        columns.join(", "),
        values.join(", ")
    )
}

/// The stored position and event of the statement's one row.
pub(super) fn read_row(row: &QueryResult) -> RepoResult<(position::Model, position_event::Model)> {
    let stored = position::Model::from_query_result(row, "").map_err(map_db_err)?;
    let event = position_event::Model::from_query_result(row, EVENT_PREFIX).map_err(map_db_err)?;
    Ok((stored, event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ActiveValue::Set;

    fn dependents(keyed: bool) -> Dependents {
        use chrono::Utc;
        use uuid::Uuid;
        let id = Uuid::nil();
        Dependents {
            idempotency: keyed.then(|| idempotency_record::ActiveModel {
                institution_id: Set(id),
                key: Set("k".into()),
                operation: Set("CREATE_POSITION".into()),
                request_hash: Set("h".into()),
                position_id: Set(id),
                response: Set(serde_json::json!({})),
                created_at: Set(Utc::now()),
            }),
            ledger: entity::ledger_event::ActiveModel {
                id: Set(id),
                ..Default::default()
            },
            audit: entity::audit_event::ActiveModel {
                id: Set(id),
                ..Default::default()
            },
            event: position_event::ActiveModel {
                id: Set(id),
                version: Set(2),
                ..Default::default()
            },
        }
    }

    #[test]
    fn placeholders_continue_after_the_position_writes_own() {
        let write = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE positions SET version = $1 WHERE id = $2 RETURNING *",
            [2.into(), uuid::Uuid::nil().into()],
        );
        let statement = unit_statement(write, &dependents(true));
        let values = statement.values.map(|Values(v)| v).unwrap_or_default();
        // 2 of the write, 7 of the record, 1 ledger, 1 audit, 2 event.
        assert_eq!(values.len(), 13);
        assert!(statement.sql.contains("$13"), "{}", statement.sql);
        assert!(!statement.sql.contains("$14"), "{}", statement.sql);
        assert!(
            statement
                .sql
                .contains(r#"c AS (INSERT INTO "idempotency_records""#)
        );
        assert!(statement.sql.contains(r#"e."txn" AS "e_txn""#));
    }

    #[test]
    fn an_unkeyed_write_claims_nothing() {
        let write = Statement::from_string(DbBackend::Postgres, "UPDATE positions RETURNING *");
        let statement = unit_statement(write, &dependents(false));
        assert!(!statement.sql.contains("idempotency_records"));
    }
}
