//! Positions and their unit of work: claim the idempotency key, write the position (INSERT, or
//! a version-guarded UPDATE), then its ledger entry, audit row and lifecycle event, and commit.
//! Any error rolls everything back; a replay writes nothing.

use super::PgStore;
use super::audit::insert_audit;
use super::convert;
use super::error::map_db_err;
use super::filters::{position_condition, scoped};
use super::select::{convert_all, ids};
use super::window::{distinct, group, pages};
use crate::domain::model::{
    AuditEvent, IdempotencyRecord, LedgerEvent, Position, PositionEvent, Timestamp,
};
use crate::domain::{InstitutionId, PositionId};
use crate::ports::{
    IdempotencyClaim, Page, PageRequest, PositionCreation, PositionFilter, PositionParent,
    PositionRepository, PositionTransition, RepoError, RepoResult, Scope, WriteOutcome,
};
use async_trait::async_trait;
use entity::{idempotency_record, ledger_event, position, position_event};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Statement, TryInsertResult,
};
use std::collections::HashMap;
use uuid::Uuid;

/// A position row is inserted only when its asset belongs to the position's institution, in
/// the same statement: the foreign key alone would accept another institution's asset.
const INSERT_POSITION: &str = r#"
INSERT INTO positions (id, institution_id, asset_id, holder_reference, currency, amount,
                       released_amount, state, version, external_reference, created_at, updated_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
WHERE EXISTS (SELECT 1 FROM assets WHERE id = $3 AND institution_id = $2)
RETURNING *"#;

fn parent_column(parent: PositionParent) -> position::Column {
    match parent {
        PositionParent::Institution => position::Column::InstitutionId,
        PositionParent::Asset => position::Column::AssetId,
    }
}

/// What claiming an idempotency key found.
enum Claim {
    /// The key is ours now; the write goes ahead.
    Claimed,
    /// The same request already ran: replay its response, write nothing.
    Replay(Position),
}

/// Inserts the claim, or finds the record that holds the key. `ON CONFLICT DO NOTHING` makes
/// PostgreSQL wait for a concurrent holder's transaction; once it commits, the record is read
/// here (READ COMMITTED sees it), and if it rolled back, this insert goes through instead.
async fn claim(
    txn: &DatabaseTransaction,
    claim: &IdempotencyClaim,
    position: &Position,
    at: Timestamp,
) -> RepoResult<Claim> {
    let record = idempotency_record::ActiveModel {
        institution_id: Set(position.institution_id.0),
        key: Set(claim.key.to_string()),
        operation: Set(claim.operation.as_str().to_owned()),
        request_hash: Set(claim.request_hash.clone()),
        position_id: Set(position.id.0),
        response: Set(convert::response_snapshot(position)?),
        created_at: Set(at),
    };
    let inserted = idempotency_record::Entity::insert(record)
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await
        .map_err(map_db_err)?;
    if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        return Ok(Claim::Claimed);
    }
    let holder =
        idempotency_record::Entity::find_by_id((position.institution_id.0, claim.key.to_string()))
            .one(txn)
            .await
            .map_err(map_db_err)?
            .map(convert::idempotency_record)
            .transpose()?;
    match holder {
        Some(record) => claim.replay(&record).map(Claim::Replay),
        // Claimed and then deleted between our two statements: nothing deletes these rows, so
        // this is a bug, not a race to retry.
        None => Err(RepoError::Internal(
            "idempotency key conflicted but no record holds it".into(),
        )),
    }
}

/// Inserts the ledger entry, the audit row and the lifecycle event; returns the event with the
/// `seq` and `txn` PostgreSQL assigned. No lock orders writers: readers of the log take only
/// events of transactions older than every running one (see `events.rs`).
async fn insert_history(
    txn: &DatabaseTransaction,
    event: &PositionEvent,
    ledger: &LedgerEvent,
    audit: &AuditEvent,
) -> RepoResult<PositionEvent> {
    ledger_event::Entity::insert(convert::ledger_event_model(ledger))
        .exec_without_returning(txn)
        .await
        .map_err(map_db_err)?;
    insert_audit(txn, audit).await?;
    let stored = position_event::Entity::insert(convert::position_event_model(event))
        .exec_with_returning(txn)
        .await
        .map_err(map_db_err)?;
    convert::position_event(stored)
}

async fn create_position_in(
    txn: &DatabaseTransaction,
    creation: &PositionCreation,
) -> RepoResult<WriteOutcome> {
    let PositionCreation {
        position,
        event,
        ledger,
        audit,
        idempotency,
    } = creation;
    if let Some(key) = idempotency
        && let Claim::Replay(position) = claim(txn, key, position, position.created_at).await?
    {
        return Ok(WriteOutcome::Replayed { position });
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        INSERT_POSITION,
        [
            position.id.0.into(),
            position.institution_id.0.into(),
            position.asset_id.0.into(),
            position.holder_reference.to_string().into(),
            position.currency.as_str().into(),
            position.amount.value().into(),
            position.released_amount.value().into(),
            position.state.as_str().into(),
            position.version.into(),
            position
                .external_reference
                .as_ref()
                .map(ToString::to_string)
                .into(),
            position.created_at.into(),
            position.updated_at.into(),
        ],
    );
    let stored = position::Entity::find()
        .from_raw_sql(statement)
        .one(txn)
        .await
        .map_err(map_db_err)?
        .ok_or(RepoError::NotFound { entity: "asset" })?;
    let event = insert_history(txn, event, ledger, audit).await?;
    Ok(WriteOutcome::Applied {
        position: convert::position(stored)?,
        event,
    })
}

async fn transition_position_in(
    txn: &DatabaseTransaction,
    transition: &PositionTransition,
) -> RepoResult<WriteOutcome> {
    use position::Column as C;
    let PositionTransition {
        expected_version,
        position,
        event,
        ledger,
        audit,
        idempotency,
    } = transition;
    if let Some(key) = idempotency
        && let Claim::Replay(position) = claim(txn, key, position, position.updated_at).await?
    {
        return Ok(WriteOutcome::Replayed { position });
    }
    // Compare-and-set on the version: a concurrent writer that committed first leaves this
    // UPDATE matching no row (PostgreSQL re-checks the WHERE after waiting on the row lock).
    let updated = position::Entity::update_many()
        .col_expr(C::State, Expr::value(position.state.as_str()))
        .col_expr(
            C::ReleasedAmount,
            Expr::value(position.released_amount.value()),
        )
        .col_expr(C::Version, Expr::value(position.version))
        .col_expr(C::UpdatedAt, Expr::value(position.updated_at))
        .filter(C::Id.eq(position.id.0))
        .filter(C::InstitutionId.eq(position.institution_id.0))
        .filter(C::Version.eq(*expected_version))
        .exec_with_returning(txn)
        .await
        .map_err(map_db_err)?;
    let Some(stored) = updated.into_iter().next() else {
        let exists = position::Entity::find_by_id(position.id.0)
            .filter(C::InstitutionId.eq(position.institution_id.0))
            .count(txn)
            .await
            .map_err(map_db_err)?;
        return Err(if exists > 0 {
            RepoError::Conflict {
                message: format!(
                    "position {} is no longer at version {expected_version}",
                    position.id
                ),
            }
        } else {
            RepoError::NotFound { entity: "position" }
        });
    };
    let event = insert_history(txn, event, ledger, audit).await?;
    Ok(WriteOutcome::Applied {
        position: convert::position(stored)?,
        event,
    })
}

impl PgStore {
    /// A replay wrote nothing but the claim attempt, so it rolls back instead of committing.
    async fn finish_unit(
        &self,
        txn: DatabaseTransaction,
        result: RepoResult<WriteOutcome>,
    ) -> RepoResult<WriteOutcome> {
        match result {
            Ok(WriteOutcome::Replayed { position }) => {
                self.rollback(txn).await;
                Ok(WriteOutcome::Replayed { position })
            }
            other => self.finish(txn, other).await,
        }
    }
}

#[async_trait]
impl PositionRepository for PgStore {
    async fn create_position(&self, creation: PositionCreation) -> RepoResult<WriteOutcome> {
        let txn = self.begin().await?;
        let result = create_position_in(&txn, &creation).await;
        self.finish_unit(txn, result).await
    }

    async fn transition_position(
        &self,
        transition: PositionTransition,
    ) -> RepoResult<WriteOutcome> {
        let txn = self.begin().await?;
        let result = transition_position_in(&txn, &transition).await;
        self.finish_unit(txn, result).await
    }

    async fn positions_by_ids(
        &self,
        scope: Scope,
        list: &[PositionId],
    ) -> RepoResult<Vec<Position>> {
        use position::{Column as C, Entity};
        self.by_ids::<Entity, _>(
            scoped(scope, C::InstitutionId),
            C::Id,
            ids(list),
            convert::position,
        )
        .await
    }

    async fn list_positions(
        &self,
        scope: Scope,
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<Page<Position>> {
        use position::{Column as C, Entity};
        let select = Entity::find().filter(position_condition(scope, filter));
        self.page(select, C::Id, page, convert::position).await
    }

    async fn count_positions(&self, scope: Scope, filter: &PositionFilter) -> RepoResult<u64> {
        self.count_rows(position::Entity::find().filter(position_condition(scope, filter)))
            .await
    }

    async fn positions_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        list: &[Uuid],
        filter: &PositionFilter,
        page: PageRequest,
    ) -> RepoResult<HashMap<Uuid, Page<Position>>> {
        use position::{Column as C, Entity};
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = self
            .first_per_parent::<Entity>(
                position_condition(scope, filter),
                parent_column(parent),
                C::Id,
                &distinct(list.iter().copied()),
                page,
            )
            .await?;
        let rows = convert_all(models, convert::position)?;
        let parent_of = move |p: &Position| match parent {
            PositionParent::Institution => p.institution_id.0,
            PositionParent::Asset => p.asset_id.0,
        };
        Ok(pages(group(list, rows, parent_of), page.first))
    }

    async fn count_positions_by_parents(
        &self,
        scope: Scope,
        parent: PositionParent,
        list: &[Uuid],
        filter: &PositionFilter,
    ) -> RepoResult<HashMap<Uuid, u64>> {
        self.count_per_parent::<position::Entity>(
            position_condition(scope, filter),
            parent_column(parent),
            list,
        )
        .await
    }

    async fn events_by_positions(
        &self,
        scope: Scope,
        list: &[PositionId],
    ) -> RepoResult<HashMap<PositionId, Vec<PositionEvent>>> {
        use position_event::{Column as C, Entity};
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        let models = Entity::find()
            .filter(scoped(scope, C::InstitutionId))
            .filter(C::PositionId.eq_any(ids(list)))
            .order_by_asc(C::PositionId)
            .order_by_asc(C::Version)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let rows = convert_all(models, convert::position_event)?;
        Ok(group(list, rows, |e| e.position_id))
    }

    async fn find_idempotency(
        &self,
        institution: InstitutionId,
        key: &str,
    ) -> RepoResult<Option<IdempotencyRecord>> {
        idempotency_record::Entity::find_by_id((institution.0, key.to_owned()))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .map(convert::idempotency_record)
            .transpose()
    }
}
