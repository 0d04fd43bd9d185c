//! Relay connections: opaque cursors, `first`/`after` checks, and `totalCount` computed only
//! when asked for (through the same batching as the rows).

use super::context::{loaders, reader};
use super::error::{GqlResult, OrGraphqlError as _, bad_input};
use super::loaders::{
    ChildCount, ChildKind, ChildPage, CountedChildPage, OfInstitution, StoreLoader,
};
use crate::service::ServiceError;
use crate::service::reads::{
    AssetFilter, AssetParent, AuditFilter, LedgerFilter, Page, PageRequest, Permitted,
    PositionFilter, PositionParent, TemplateFilter,
};
use async_graphql::dataloader::Loader;
use async_graphql::{Context, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

pub(crate) const DEFAULT_FIRST: i32 = 50;
pub(crate) const MAX_FIRST: i32 = 500;

/// Cursors are opaque so clients cannot build them, and we can change what they hold.
pub(crate) fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub(crate) fn decode_cursor(cursor: &str, field: &str) -> GqlResult<Uuid> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| bad_input(field, "is not a cursor this API issued"))
}

/// # Errors
/// BAD_USER_INPUT for `first` outside 0..=500 or a foreign `after`.
pub(crate) fn page_request(first: Option<i32>, after: Option<&str>) -> GqlResult<PageRequest> {
    let first = first.unwrap_or(DEFAULT_FIRST);
    if !(0..=MAX_FIRST).contains(&first) {
        return Err(bad_input(
            "first",
            &format!("must be between 0 and {MAX_FIRST}"),
        ));
    }
    let after = after
        .map(|cursor| decode_cursor(cursor, "after"))
        .transpose()?;
    Ok(PageRequest {
        first: first.unsigned_abs(),
        after,
    })
}

/// One parent's page of children through the loader, and its `totalCount` source: loaded
/// with the page when the query selects `totalCount` (see `CountedChildPage`), else lazily.
pub(crate) async fn child_page<K: ChildKind>(
    ctx: &Context<'_>,
    kind: K,
    parent: Uuid,
    filter: K::Filter,
    page: PageRequest,
) -> GqlResult<(Page<K::Item>, TotalCount)>
where
    StoreLoader: Loader<ChildPage<K>, Value = Page<K::Item>, Error = ServiceError>
        + Loader<CountedChildPage<K>, Value = (Page<K::Item>, u64), Error = ServiceError>,
    ChildCount<K>: Into<TotalCount>,
{
    let loaders = loaders(ctx)?;
    let key = ChildPage {
        kind,
        parent,
        filter: filter.clone(),
        page,
    };
    if ctx.look_ahead().field("totalCount").exists() {
        let loaded = loaders.load_one(CountedChildPage(key)).await.gql()?;
        let (rows, count) = loaded.unwrap_or_else(|| (Page::empty(), 0));
        return Ok((rows, TotalCount::Known(count)));
    }
    let rows = loaders
        .load_one(key)
        .await
        .gql()?
        .unwrap_or_else(Page::empty);
    Ok((
        rows,
        ChildCount {
            kind,
            parent,
            filter,
        }
        .into(),
    ))
}

impl From<ChildCount<OfInstitution>> for TotalCount {
    fn from(key: ChildCount<OfInstitution>) -> Self {
        Self::TemplatesOf(key)
    }
}

impl From<ChildCount<AssetParent>> for TotalCount {
    fn from(key: ChildCount<AssetParent>) -> Self {
        Self::AssetsOf(key)
    }
}

impl From<ChildCount<PositionParent>> for TotalCount {
    fn from(key: ChildCount<PositionParent>) -> Self {
        Self::PositionsOf(key)
    }
}

/// Relay page metadata. Pagination is forward only; `hasPreviousPage` says whether `after`
/// skipped anything.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct PageInfo {
    /// More rows follow `endCursor`.
    pub(crate) has_next_page: bool,
    /// Rows precede `startCursor` (the request gave `after`).
    pub(crate) has_previous_page: bool,
    /// Cursor of the first edge, if any.
    pub(crate) start_cursor: Option<String>,
    /// Cursor of the last edge, if any; pass it as `after` for the next page.
    pub(crate) end_cursor: Option<String>,
}

/// What `totalCount` counts: the same filter and parent as the rows, without the page.
#[derive(Clone, Debug)]
pub(crate) enum TotalCount {
    /// Already loaded alongside the rows.
    Known(u64),
    Institutions,
    Templates(Permitted<TemplateFilter>),
    Assets(Permitted<AssetFilter>),
    Positions(Permitted<PositionFilter>),
    Ledger(Permitted<LedgerFilter>),
    Audit(Permitted<AuditFilter>),
    TemplatesOf(ChildCount<OfInstitution>),
    AssetsOf(ChildCount<AssetParent>),
    PositionsOf(ChildCount<PositionParent>),
}

impl TotalCount {
    pub(crate) async fn resolve(&self, ctx: &Context<'_>) -> GqlResult<i32> {
        let reader = reader(ctx)?;
        let count = match self {
            Self::Known(count) => *count,
            Self::Institutions => reader.count_institutions().await.gql()?,
            Self::Templates(filter) => reader.count_templates(filter).await.gql()?,
            Self::Assets(filter) => reader.count_assets(filter).await.gql()?,
            Self::Positions(filter) => reader.count_positions(filter).await.gql()?,
            Self::Ledger(filter) => reader.count_ledger(filter).await.gql()?,
            Self::Audit(filter) => reader.count_audit(filter).await.gql()?,
            Self::TemplatesOf(key) => loaders(ctx)?
                .load_one(key.clone())
                .await
                .gql()?
                .unwrap_or(0),
            Self::AssetsOf(key) => loaders(ctx)?
                .load_one(key.clone())
                .await
                .gql()?
                .unwrap_or(0),
            Self::PositionsOf(key) => loaders(ctx)?
                .load_one(key.clone())
                .await
                .gql()?
                .unwrap_or(0),
        };
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

/// Declares `<Name>Connection` and `<Name>Edge` over a node type built from a domain record.
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ident, $record:ty, $doc:literal) => {
        #[doc = $doc]
        pub(crate) struct $connection {
            pub(crate) page: $crate::service::reads::Page<$record>,
            pub(crate) after: Option<uuid::Uuid>,
            pub(crate) total: $crate::graphql::connection::TotalCount,
        }

        #[async_graphql::Object]
        #[doc = $doc]
        impl $connection {
            /// The rows of this page with their cursors, oldest first.
            async fn edges(&self) -> Vec<$edge> {
                self.page
                    .items
                    .iter()
                    .map(|record| $edge(record.id.into(), <$node>::from(record.clone())))
                    .collect()
            }

            /// The rows of this page, oldest first (the edges' nodes, for clients that need no cursors).
            async fn nodes(&self) -> Vec<$node> {
                self.page.items.iter().cloned().map(<$node>::from).collect()
            }

            /// Where this page sits in the whole list.
            async fn page_info(&self) -> $crate::graphql::connection::PageInfo {
                let cursor =
                    |record: &$record| $crate::graphql::connection::encode_cursor(record.id.into());
                $crate::graphql::connection::PageInfo {
                    has_next_page: self.page.has_next_page,
                    has_previous_page: self.after.is_some(),
                    start_cursor: self.page.items.first().map(cursor),
                    end_cursor: self.page.items.last().map(cursor),
                }
            }

            /// How many rows match, across all pages.
            async fn total_count(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> async_graphql::Result<i32> {
                self.total.resolve(ctx).await
            }
        }

        /// One row of a connection with its cursor.
        pub(crate) struct $edge(uuid::Uuid, $node);

        #[async_graphql::Object]
        impl $edge {
            /// Pass as `after` to continue after this row.
            async fn cursor(&self) -> String {
                $crate::graphql::connection::encode_cursor(self.0)
            }

            /// The row.
            async fn node(&self) -> &$node {
                &self.1
            }
        }
    };
}

pub(crate) use connection;

/// Validation-time cost of a connection field: its children cost once per row it may return,
/// so `first: 500` at three levels is refused before anything runs.
pub(crate) fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let rows = first
        .unwrap_or(DEFAULT_FIRST)
        .clamp(0, MAX_FIRST)
        .unsigned_abs() as usize;
    rows.max(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}
