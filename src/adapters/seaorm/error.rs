//! The one mapping from SeaORM/sqlx errors to the port's `RepoError`, so every query reports
//! constraint violations, outages and bugs the same way.

use crate::ports::{RepoError, UniqueRule};
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Foreign keys a write can trip, and the entity the port names when the referenced row is
/// missing. An unknown constraint stays `Internal`: it means the schema and this table drifted.
const FOREIGN_KEYS: &[(&str, &str)] = &[
    ("asset_templates_institution_id_fkey", "institution"),
    ("assets_institution_id_fkey", "institution"),
    ("assets_template_id_fkey", "template"),
    ("positions_institution_id_fkey", "institution"),
    ("positions_asset_id_fkey", "asset"),
    ("position_events_position_id_fkey", "position"),
    ("ledger_events_institution_id_fkey", "institution"),
    ("ledger_events_position_id_fkey", "position"),
    ("api_keys_institution_id_fkey", "institution"),
    ("policies_institution_id_fkey", "institution"),
    ("idempotency_records_institution_id_fkey", "institution"),
];

/// Every unique constraint of the schema and the port's rule it enforces. The port never sees
/// these names: the service words a CONFLICT from the rule. An unknown name stays `Internal`,
/// as for foreign keys.
const UNIQUE_CONSTRAINTS: &[(&str, UniqueRule)] = &[
    ("institutions_pkey", UniqueRule::InstitutionId),
    ("asset_templates_pkey", UniqueRule::TemplateId),
    ("assets_pkey", UniqueRule::AssetId),
    ("positions_pkey", UniqueRule::PositionId),
    ("position_events_pkey", UniqueRule::PositionEventId),
    ("position_events_seq_key", UniqueRule::PositionEventSeq),
    (
        "position_events_position_version_key",
        UniqueRule::PositionEventVersion,
    ),
    ("ledger_events_pkey", UniqueRule::LedgerEventId),
    ("ledger_events_seq_key", UniqueRule::LedgerEventSeq),
    ("audit_events_pkey", UniqueRule::AuditEventId),
    ("api_keys_pkey", UniqueRule::ApiKeyId),
    ("api_keys_key_hash_key", UniqueRule::ApiKeyHash),
    ("policies_pkey", UniqueRule::PolicyId),
    ("policies_institution_region_key", UniqueRule::PolicyRegion),
    ("idempotency_records_pkey", UniqueRule::IdempotencyKey),
];

/// SQLSTATEs that mean "the server could not do it now" rather than "the request is wrong":
/// statement timeout / cancel (57014), shutdown (57P01..57P03), too many connections (53300),
/// and the whole connection-exception class (08).
fn is_unavailable_code(code: &str) -> bool {
    matches!(code, "57014" | "57P01" | "57P02" | "57P03" | "53300") || code.starts_with("08")
}

/// Maps a database error to the port's contract. Callers that expect a particular violation
/// (an idempotency key, a version guard) handle it before falling back to this.
pub(crate) fn map_db_err(err: DbErr) -> RepoError {
    if let Some(sql_err) = err.sql_err() {
        let constraint = constraint_name(&err, &sql_err);
        return match sql_err {
            SqlErr::UniqueConstraintViolation(_) => UNIQUE_CONSTRAINTS
                .iter()
                .find(|(name, _)| *name == constraint)
                .map_or_else(
                    || RepoError::Internal(format!("unexpected unique violation: {err}")),
                    |(_, rule)| RepoError::Duplicate(*rule),
                ),
            SqlErr::ForeignKeyConstraintViolation(_) => FOREIGN_KEYS
                .iter()
                .find(|(name, _)| *name == constraint)
                .map_or_else(
                    || RepoError::Internal(format!("unexpected foreign key violation: {err}")),
                    |(_, entity)| RepoError::NotFound { entity },
                ),
            other => RepoError::Internal(format!("{other}: {err}")),
        };
    }
    match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => RepoError::Unavailable(err.to_string()),
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            if sqlx_unavailable(inner) {
                RepoError::Unavailable(err.to_string())
            } else {
                RepoError::Internal(err.to_string())
            }
        }
        _ => RepoError::Internal(err.to_string()),
    }
}

/// Whether `err` says the connection itself is gone (PostgreSQL ended the session, or the
/// socket broke), as opposed to the statement failing or the pool running out: then the
/// statement may be sent again on another connection if running it twice is harmless.
pub(crate) fn connection_lost(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner))) =
        err
    else {
        return false;
    };
    match inner.as_ref() {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| matches!(&*code, "57P01" | "57P02") || code.starts_with("08")),
        _ => false,
    }
}

fn sqlx_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_unavailable_code(&code)),
        _ => false,
    }
}

/// The violated constraint's name: PostgreSQL reports it in a field of its own; the message is
/// only a fallback (`... violates unique constraint "name"`).
fn constraint_name(err: &DbErr, sql_err: &SqlErr) -> String {
    if let DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) =
        err
        && let sqlx::Error::Database(db) = inner.as_ref()
        && let Some(name) = db.constraint()
    {
        return name.to_owned();
    }
    let message = match sql_err {
        SqlErr::UniqueConstraintViolation(message)
        | SqlErr::ForeignKeyConstraintViolation(message) => message.as_str(),
        _ => "",
    };
    message
        .split('"')
        .nth(1)
        .map_or_else(|| message.to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnAcquireErr;

    #[test]
    fn pool_exhaustion_is_unavailable() {
        let error = map_db_err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        assert!(matches!(error, RepoError::Unavailable(_)), "{error:?}");
    }

    #[test]
    fn other_errors_are_internal() {
        let error = map_db_err(DbErr::Custom("boom".into()));
        assert!(matches!(error, RepoError::Internal(_)), "{error:?}");
    }

    /// The migration is the schema's one source; a unique constraint added there without a rule
    /// here would surface as INTERNAL_SERVER_ERROR instead of CONFLICT.
    #[test]
    fn every_unique_constraint_of_the_schema_has_a_rule() {
        let schema = include_str!("../../../migration/src/m20261128_000001_initial.rs");
        let named: Vec<&str> = schema
            .lines()
            .filter(|line| line.contains("PRIMARY KEY") || line.contains(" UNIQUE "))
            .filter_map(|line| line.trim().strip_prefix("CONSTRAINT "))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        assert_eq!(named.len(), UNIQUE_CONSTRAINTS.len(), "{named:?}");
        for name in named {
            assert!(
                UNIQUE_CONSTRAINTS.iter().any(|(known, _)| *known == name),
                "{name} has no UniqueRule"
            );
        }
    }

    #[test]
    fn a_broken_socket_is_a_lost_connection_and_a_busy_pool_is_not() {
        let sqlx_error = |inner| DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(inner)));
        let broken = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(connection_lost(&sqlx_error(sqlx::Error::Io(broken))));
        assert!(!connection_lost(&sqlx_error(sqlx::Error::PoolTimedOut)));
        assert!(!connection_lost(&DbErr::Custom("boom".into())));
    }

    #[test]
    fn connection_exceptions_and_timeouts_are_unavailable_codes() {
        for code in ["57014", "08006", "08001", "57P01", "53300"] {
            assert!(is_unavailable_code(code), "{code}");
        }
        assert!(!is_unavailable_code("23505"));
    }
}
