//! The statement shapes every aggregate's reads share: one page in id order, a count, and a
//! batch load by ids, each one statement.

use super::PgStore;
use super::error::map_db_err;
use super::window::{distinct, one_of};
use crate::ports::{Page, PageRequest, RepoResult};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, IdenStatic as _, Iterable as _, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};
use uuid::Uuid;

/// Typed ids as the UUIDs a query binds, without duplicates.
pub(super) fn ids<T: Copy + Into<Uuid>>(ids: &[T]) -> Vec<Uuid> {
    distinct(ids.iter().map(|id| (*id).into()))
}

/// `E`'s columns of table `alias`, each renamed with `prefix`, for a statement that reads rows
/// of several tables side by side (read back with `FromQueryResult::from_query_result(row,
/// prefix)`).
pub(super) fn prefixed_columns<E: EntityTrait>(alias: &str, prefix: &str) -> String {
    E::Column::iter()
        .map(|column| {
            let name = column.as_str();
            format!(r#"{alias}."{name}" AS "{prefix}{name}""#)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn convert_all<M, T>(
    models: Vec<M>,
    convert: fn(M) -> RepoResult<T>,
) -> RepoResult<Vec<T>> {
    models.into_iter().map(convert).collect()
}

impl PgStore {
    /// One page of `select` in id order: `id > after`, `LIMIT first + 1`.
    pub(super) async fn page<E, T>(
        &self,
        select: Select<E>,
        id: E::Column,
        page: PageRequest,
        convert: fn(E::Model) -> RepoResult<T>,
    ) -> RepoResult<Page<T>>
    where
        E: EntityTrait,
    {
        let models = select
            .apply_if(page.after, |query, after| query.filter(id.gt(after)))
            .order_by_asc(id)
            .limit(u64::from(page.first) + 1)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(Page::from_overfetch(
            convert_all(models, convert)?,
            page.first,
        ))
    }

    pub(super) async fn count_rows<E: EntityTrait>(&self, select: Select<E>) -> RepoResult<u64>
    where
        E::Model: Sync,
    {
        select.count(&self.db).await.map_err(map_db_err)
    }

    pub(super) async fn by_ids<E, T>(
        &self,
        condition: Condition,
        id: E::Column,
        ids: Vec<Uuid>,
        convert: fn(E::Model) -> RepoResult<T>,
    ) -> RepoResult<Vec<T>>
    where
        E: EntityTrait,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let models = E::find()
            .filter(condition)
            .filter(one_of(id, ids))
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        convert_all(models, convert)
    }
}
