//! Child lists of many parents in one statement: a `ROW_NUMBER()` window per parent keeps the
//! first `first + 1` rows of each, so a nested connection costs one round trip per level.

use super::PgStore;
use super::error::map_db_err;
use crate::ports::{Page, PageRequest, RepoResult};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, Order, Query, SelectStatement, WindowStatement,
};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    QueryTrait,
};
use std::collections::HashMap;
use std::hash::Hash;
use uuid::Uuid;

/// The parent ids a batch asks for, without duplicates, in a stable order for the plan cache.
pub(crate) fn distinct(ids: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// `column = $1` for one id, `column = ANY($1)` for several. PostgreSQL plans `= ANY($1)`
/// anew on every execution (its generic plan guesses ten elements, so a custom plan for one
/// always looks cheaper), and for a one-row lookup that planning costs more than the lookup;
/// `= $1` moves to a cached generic plan after five executions on a connection.
pub(crate) fn one_of<C: ColumnTrait>(column: C, ids: Vec<Uuid>) -> Expr {
    match ids.as_slice() {
        [only] => column.eq(*only),
        _ => column.eq_any(ids),
    }
}

/// Groups rows (already in id order) under their parent; every requested parent is a key.
pub(crate) fn group<K, T>(
    requested: &[K],
    rows: impl IntoIterator<Item = T>,
    parent_of: impl Fn(&T) -> K,
) -> HashMap<K, Vec<T>>
where
    K: Copy + Eq + Hash,
{
    let mut groups: HashMap<K, Vec<T>> = requested.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        if let Some(group) = groups.get_mut(&parent_of(&row)) {
            group.push(row);
        }
    }
    groups
}

/// Turns each parent's overfetched rows into its page.
pub(crate) fn pages<K, T>(groups: HashMap<K, Vec<T>>, first: u32) -> HashMap<K, Page<T>>
where
    K: Eq + Hash,
{
    groups
        .into_iter()
        .map(|(id, rows)| (id, Page::from_overfetch(rows, first)))
        .collect()
}

impl PgStore {
    /// Rows of `E` matching `condition` whose `parent` is one of `ids`: at most `first + 1` per
    /// parent (the extra one only says more exist), after `page.after`, ordered by parent, id.
    ///
    /// ```sql
    /// SELECT * FROM (
    ///   SELECT t.*, ROW_NUMBER() OVER (PARTITION BY parent ORDER BY id) AS rn
    ///   FROM t WHERE <condition> AND parent = ANY($ids) AND id > $after
    /// ) AS page WHERE rn <= $first + 1 ORDER BY parent, id
    /// ```
    pub(crate) async fn first_per_parent<E>(
        &self,
        condition: Condition,
        parent: E::Column,
        id: E::Column,
        ids: &[Uuid],
        page: PageRequest,
    ) -> RepoResult<Vec<E::Model>>
    where
        E: EntityTrait,
        E::Model: FromQueryResult + Send + Sync,
    {
        let mut inner: SelectStatement = E::find()
            .filter(condition)
            .filter(one_of(parent, ids.to_vec()))
            .apply_if(page.after, |query, after| query.filter(id.gt(after)))
            .into_query();
        inner.expr_window_as(
            Func::cust(Alias::new("ROW_NUMBER")),
            WindowStatement::partition_by(parent)
                .order_by(id, Order::Asc)
                .to_owned(),
            Alias::new("rn"),
        );
        let outer = Query::select()
            .column(Asterisk)
            .from_subquery(inner, Alias::new("page"))
            .and_where(Expr::col(Alias::new("rn")).lte(i64::from(page.first) + 1))
            .order_by(parent, Order::Asc)
            .order_by(id, Order::Asc)
            .to_owned();
        E::find()
            .from_raw_sql(DbBackend::Postgres.build(&outer))
            .all(&self.db)
            .await
            .map_err(map_db_err)
    }

    /// `COUNT(*)` of rows matching `condition` per parent, in one `GROUP BY` statement; every
    /// requested parent is a key (0 when it has none).
    pub(crate) async fn count_per_parent<E>(
        &self,
        condition: Condition,
        parent: E::Column,
        ids: &[Uuid],
    ) -> RepoResult<HashMap<Uuid, u64>>
    where
        E: EntityTrait,
    {
        let mut counts: HashMap<Uuid, u64> = ids.iter().map(|id| (*id, 0)).collect();
        if ids.is_empty() {
            return Ok(counts);
        }
        let rows: Vec<(Uuid, i64)> = E::find()
            .select_only()
            .column(parent)
            .column_as(Expr::cust("COUNT(*)"), "count")
            .filter(condition)
            .filter(one_of(parent, distinct(ids.iter().copied())))
            .group_by(parent)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        for (parent, count) in rows {
            counts.insert(parent, u64::try_from(count).unwrap_or_default());
        }
        Ok(counts)
    }
}
