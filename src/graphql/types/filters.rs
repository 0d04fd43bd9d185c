//! Filter inputs of the list fields, parsed into the service's filters; the service layer
//! decides whether the caller may use them.

use super::enums::{LedgerEventKind, PositionState, Region, TemplateCode, Vertical};
use crate::domain::{Currency, InstitutionId};
use crate::graphql::error::bad_input;
use crate::graphql::error::{GqlResult, OrGraphqlError as _};
use crate::graphql::scalars::parse_id;
use crate::service::reads::{self as filters, NamesInstitution, Permitted, Reader};
use async_graphql::{ID, InputObject};

fn institution(id: Option<&ID>) -> GqlResult<Option<InstitutionId>> {
    id.map(|id| parse_id(id, "filter.institutionId"))
        .transpose()
}

fn permitted<F: NamesInstitution>(reader: &Reader, filter: F) -> GqlResult<Permitted<F>> {
    reader.permit(filter).gql()
}

/// Narrows asset templates; every given field must match.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct AssetTemplateFilter {
    /// Only this institution's templates (another institution's is FORBIDDEN for institution keys).
    pub(crate) institution_id: Option<ID>,
    pub(crate) vertical: Option<Vertical>,
    pub(crate) region: Option<Region>,
    pub(crate) code: Option<TemplateCode>,
}

impl AssetTemplateFilter {
    pub(crate) fn permitted(
        &self,
        reader: &Reader,
    ) -> GqlResult<Permitted<filters::TemplateFilter>> {
        permitted(
            reader,
            filters::TemplateFilter {
                institution_id: institution(self.institution_id.as_ref())?,
                vertical: self.vertical.map(Into::into),
                region: self.region.map(Into::into),
                code: self.code.map(Into::into),
            },
        )
    }
}

/// Narrows assets; every given field must match.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct AssetFilter {
    /// Only this institution's assets (another institution's is FORBIDDEN for institution keys).
    pub(crate) institution_id: Option<ID>,
    /// Only assets under this template.
    pub(crate) template_id: Option<ID>,
}

impl AssetFilter {
    pub(crate) fn permitted(&self, reader: &Reader) -> GqlResult<Permitted<filters::AssetFilter>> {
        permitted(
            reader,
            filters::AssetFilter {
                institution_id: institution(self.institution_id.as_ref())?,
                template_id: self
                    .template_id
                    .as_ref()
                    .map(|id| parse_id(id, "filter.templateId"))
                    .transpose()?,
            },
        )
    }
}

/// Narrows positions; every given field must match.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct PositionFilter {
    /// Only this institution's positions (another institution's is FORBIDDEN for institution keys).
    pub(crate) institution_id: Option<ID>,
    /// Only positions on this asset.
    pub(crate) asset_id: Option<ID>,
    /// Only this holder's positions (exact match).
    pub(crate) holder_reference: Option<String>,
    /// Only positions in one of these states (an empty list matches nothing).
    pub(crate) states: Option<Vec<PositionState>>,
    /// Only positions in this ISO 4217 currency.
    pub(crate) currency: Option<String>,
}

impl PositionFilter {
    pub(crate) fn permitted(
        &self,
        reader: &Reader,
    ) -> GqlResult<Permitted<filters::PositionFilter>> {
        permitted(
            reader,
            filters::PositionFilter {
                institution_id: institution(self.institution_id.as_ref())?,
                asset_id: self
                    .asset_id
                    .as_ref()
                    .map(|id| parse_id(id, "filter.assetId"))
                    .transpose()?,
                holder_reference: self.holder_reference.clone(),
                states: self
                    .states
                    .as_ref()
                    .map(|states| states.iter().copied().map(Into::into).collect()),
                currency: self
                    .currency
                    .as_deref()
                    .map(|code| Currency::parse(code, "filter.currency"))
                    .transpose()
                    .map_err(|error| bad_input("filter.currency", &error.to_string()))?,
            },
        )
    }
}

/// Narrows ledger events; every given field must match.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct LedgerEventFilter {
    /// Only this institution's entries (another institution's is FORBIDDEN for institution keys).
    pub(crate) institution_id: Option<ID>,
    /// Only this position's entries.
    pub(crate) position_id: Option<ID>,
    /// Only entries of these kinds (an empty list matches nothing).
    pub(crate) kinds: Option<Vec<LedgerEventKind>>,
}

impl LedgerEventFilter {
    pub(crate) fn permitted(&self, reader: &Reader) -> GqlResult<Permitted<filters::LedgerFilter>> {
        permitted(
            reader,
            filters::LedgerFilter {
                institution_id: institution(self.institution_id.as_ref())?,
                position_id: self
                    .position_id
                    .as_ref()
                    .map(|id| parse_id(id, "filter.positionId"))
                    .transpose()?,
                kinds: self
                    .kinds
                    .as_ref()
                    .map(|kinds| kinds.iter().copied().map(Into::into).collect()),
            },
        )
    }
}

/// Narrows audit events; every given field must match.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct AuditEventFilter {
    /// Only this institution's events (another institution's is FORBIDDEN for institution keys).
    pub(crate) institution_id: Option<ID>,
    /// Only this action, e.g. "createPosition".
    pub(crate) action: Option<String>,
    /// Only events about this record.
    pub(crate) resource_id: Option<ID>,
}

impl AuditEventFilter {
    pub(crate) fn permitted(&self, reader: &Reader) -> GqlResult<Permitted<filters::AuditFilter>> {
        permitted(
            reader,
            filters::AuditFilter {
                institution_id: institution(self.institution_id.as_ref())?,
                action: self.action.clone(),
                resource_id: self
                    .resource_id
                    .as_ref()
                    .map(|id| parse_id(id, "filter.resourceId"))
                    .transpose()?,
            },
        )
    }
}
