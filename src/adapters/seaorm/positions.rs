//! Positions and their unit of work: the position write (INSERT, or a version-guarded UPDATE)
//! with its idempotency record, ledger entry, audit row and lifecycle event, in one statement
//! (`unit_statement.rs`). Any error writes nothing; a replay writes nothing.

use super::PgStore;
use super::convert;
use super::error::map_db_err;
use super::filters::{position_condition, scoped};
use super::select::{convert_all, ids};
use super::unit_statement::{Dependents, read_row, unit_statement};
use super::window::{distinct, group, one_of, pages};
use crate::domain::model::{
    AuditEvent, IdempotencyRecord, LedgerEvent, Position, PositionEvent, Timestamp,
};
use crate::domain::{InstitutionId, PositionId};
use crate::ports::{
    IdempotencyClaim, Page, PageRequest, PositionCreation, PositionFilter, PositionParent,
    PositionRepository, PositionTransition, RepoError, RepoResult, Scope, UniqueRule, WriteOutcome,
};
use async_trait::async_trait;
use entity::{idempotency_record, position, position_event};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QueryTrait, Statement,
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

/// The idempotency record a keyed write inserts with its position. Inserted without `ON
/// CONFLICT`: a concurrent holder of the key makes the insert wait for that holder's commit and
/// then fail, which rolls back the whole write, and the holder's record is replayed instead.
fn claim_model(
    claim: &IdempotencyClaim,
    position: &Position,
    at: Timestamp,
) -> RepoResult<idempotency_record::ActiveModel> {
    Ok(idempotency_record::ActiveModel {
        institution_id: Set(position.institution_id.0),
        key: Set(claim.key.to_string()),
        operation: Set(claim.operation.as_str().to_owned()),
        request_hash: Set(claim.request_hash.clone()),
        position_id: Set(position.id.0),
        response: Set(convert::response_snapshot(position)?),
        created_at: Set(at),
    })
}

/// A position write and the rows that go with it.
struct Unit<'a> {
    position: &'a Position,
    event: &'a PositionEvent,
    ledger: &'a LedgerEvent,
    audit: &'a AuditEvent,
    idempotency: Option<&'a IdempotencyClaim>,
    at: Timestamp,
}

impl PgStore {
    /// Runs `write` (the position's INSERT or UPDATE, `RETURNING *`) with its dependent rows as
    /// one statement. `None` when the write matched no row and no other request holds the key.
    ///
    /// The statement runs inside BEGIN … COMMIT although alone it would be atomic: a request
    /// cancelled mid-write (its deadline, a shutdown) must roll back, and an autocommit
    /// statement already sent would still commit once PostgreSQL finished it.
    async fn write_unit(
        &self,
        write: Statement,
        unit: Unit<'_>,
    ) -> RepoResult<Option<WriteOutcome>> {
        let dependents = Dependents {
            idempotency: unit
                .idempotency
                .map(|claim| claim_model(claim, unit.position, unit.at))
                .transpose()?,
            ledger: convert::ledger_event_model(unit.ledger),
            audit: convert::audit_event_model(unit.audit),
            event: convert::position_event_model(unit.event),
        };
        let txn = self.begin().await?;
        let result = txn
            .query_one_raw(unit_statement(write, &dependents))
            .await
            .map_err(map_db_err);
        let missed = match result {
            Ok(Some(row)) => {
                let applied = read_row(&row).and_then(|(stored, event)| {
                    Ok(Some(WriteOutcome::Applied {
                        position: convert::position(stored)?,
                        event: convert::position_event(event)?,
                    }))
                });
                let outcome = self.finish(txn, applied).await?;
                if let Some(WriteOutcome::Applied { event, .. }) = &outcome {
                    self.announce_commit(event.seq.txn);
                }
                return Ok(outcome);
            }
            other => {
                self.rollback(txn).await;
                other
            }
        };
        let Some(claim) = unit.idempotency else {
            return missed.map(|_| None);
        };
        // The request holding our key, once committed, is visible from here (a new snapshot).
        // It explains a failed insert of the record and a transition whose version it moved;
        // for any other failure no record exists and the write's own error stands.
        let institution = unit.position.institution_id;
        match (missed, self.replay_holder(institution, claim).await) {
            (_, Ok(Some(replayed))) => Ok(Some(replayed)),
            (Err(RepoError::Duplicate(UniqueRule::IdempotencyKey)), Ok(None)) => {
                // Nothing deletes these rows, so this is a bug, not a race to retry.
                Err(RepoError::Internal(
                    "idempotency key conflicted but no record holds it".into(),
                ))
            }
            // The key was used for other input: that is the answer, as it was when the claim
            // ran first, whatever else the write ran into.
            (_, Err(conflict @ RepoError::Conflict { .. })) => Err(conflict),
            (Err(RepoError::Duplicate(UniqueRule::IdempotencyKey)), Err(error)) => Err(error),
            (Err(error), _) => Err(error),
            (Ok(_), held) => held,
        }
    }

    /// The response of the request that holds `claim`'s key, if one does.
    async fn replay_holder(
        &self,
        institution: InstitutionId,
        claim: &IdempotencyClaim,
    ) -> RepoResult<Option<WriteOutcome>> {
        let Some(record) = self.find_idempotency(institution, &claim.key).await? else {
            return Ok(None);
        };
        let position = claim.replay(&record)?;
        Ok(Some(WriteOutcome::Replayed { position }))
    }

    /// Why a version-guarded UPDATE matched no row.
    async fn transition_miss(&self, position: &Position, expected_version: i32) -> RepoError {
        use position::Column as C;
        let exists = position::Entity::find_by_id(position.id.0)
            .filter(C::InstitutionId.eq(position.institution_id.0))
            .count(&self.db)
            .await
            .map_err(map_db_err);
        match exists {
            Ok(0) => RepoError::NotFound { entity: "position" },
            Ok(_) => RepoError::Conflict {
                message: format!(
                    "position {} is no longer at version {expected_version}",
                    position.id
                ),
            },
            Err(error) => error,
        }
    }
}

fn insert_position(position: &Position) -> Statement {
    Statement::from_sql_and_values(
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
    )
}

/// Compare-and-set on the version: a concurrent writer that committed first leaves this UPDATE
/// matching no row (PostgreSQL re-checks the WHERE after waiting on the row lock).
fn update_position(position: &Position, expected_version: i32) -> Statement {
    use position::Column as C;
    let mut update = position::Entity::update_many()
        .col_expr(C::State, Expr::value(position.state.as_str()))
        .col_expr(
            C::ReleasedAmount,
            Expr::value(position.released_amount.value()),
        )
        .col_expr(C::Version, Expr::value(position.version))
        .col_expr(C::UpdatedAt, Expr::value(position.updated_at))
        .filter(C::Id.eq(position.id.0))
        .filter(C::InstitutionId.eq(position.institution_id.0))
        .filter(C::Version.eq(expected_version))
        .into_query();
    update.returning_all();
    DbBackend::Postgres.build(&update)
}

#[async_trait]
impl PositionRepository for PgStore {
    async fn create_position(&self, creation: PositionCreation) -> RepoResult<WriteOutcome> {
        let position = &creation.position;
        let unit = Unit {
            position,
            event: &creation.event,
            ledger: &creation.ledger,
            audit: &creation.audit,
            idempotency: creation.idempotency.as_ref(),
            at: position.created_at,
        };
        self.write_unit(insert_position(position), unit)
            .await?
            .ok_or(RepoError::NotFound { entity: "asset" })
    }

    async fn transition_position(
        &self,
        transition: PositionTransition,
    ) -> RepoResult<WriteOutcome> {
        let position = &transition.position;
        let unit = Unit {
            position,
            event: &transition.event,
            ledger: &transition.ledger,
            audit: &transition.audit,
            idempotency: transition.idempotency.as_ref(),
            at: position.updated_at,
        };
        let write = update_position(position, transition.expected_version);
        match self.write_unit(write, unit).await? {
            Some(outcome) => Ok(outcome),
            None => Err(self
                .transition_miss(position, transition.expected_version)
                .await),
        }
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
            .filter(one_of(C::PositionId, ids(list)))
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
