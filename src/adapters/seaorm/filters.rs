//! The tenancy `Scope` and each port filter as one SQL condition, shared by lists, counts and
//! per-parent windows so they can never disagree about which rows exist.

use crate::ports::{
    AssetFilter, AuditFilter, EventFilter, LedgerFilter, PositionFilter, Scope, TemplateFilter,
};
use entity::{asset, asset_template, audit_event, ledger_event, position, position_event};
use sea_orm::{ColumnTrait, Condition};

pub(super) fn scoped(scope: Scope, column: impl ColumnTrait) -> Condition {
    match scope {
        Scope::All => Condition::all(),
        Scope::Institution(own) => Condition::all().add(column.eq(own.0)),
    }
}

pub(super) fn template_condition(scope: Scope, filter: &TemplateFilter) -> Condition {
    use asset_template::Column as C;
    scoped(scope, C::InstitutionId)
        .add_option(filter.institution_id.map(|id| C::InstitutionId.eq(id.0)))
        .add_option(filter.vertical.map(|v| C::Vertical.eq(v.as_str())))
        .add_option(filter.region.map(|r| C::Region.eq(r.as_str())))
        .add_option(filter.code.map(|c| C::Code.eq(c.as_str())))
}

pub(super) fn asset_condition(scope: Scope, filter: &AssetFilter) -> Condition {
    use asset::Column as C;
    scoped(scope, C::InstitutionId)
        .add_option(filter.institution_id.map(|id| C::InstitutionId.eq(id.0)))
        .add_option(filter.template_id.map(|id| C::TemplateId.eq(id.0)))
}

pub(super) fn position_condition(scope: Scope, filter: &PositionFilter) -> Condition {
    use position::Column as C;
    scoped(scope, C::InstitutionId)
        .add_option(filter.institution_id.map(|id| C::InstitutionId.eq(id.0)))
        .add_option(filter.asset_id.map(|id| C::AssetId.eq(id.0)))
        .add_option(
            filter
                .holder_reference
                .as_ref()
                .map(|h| C::HolderReference.eq(h.as_str())),
        )
        // An empty list renders as `1 = 2`: `Some(empty)` matches nothing, as the port says.
        .add_option(
            filter
                .states
                .as_ref()
                .map(|states| C::State.is_in(states.iter().map(|s| s.as_str()))),
        )
        .add_option(filter.currency.map(|c| C::Currency.eq(c.as_str())))
}

pub(super) fn ledger_condition(scope: Scope, filter: &LedgerFilter) -> Condition {
    use ledger_event::Column as C;
    scoped(scope, C::InstitutionId)
        .add_option(filter.institution_id.map(|id| C::InstitutionId.eq(id.0)))
        .add_option(filter.position_id.map(|id| C::PositionId.eq(id.0)))
        .add_option(
            filter
                .kinds
                .as_ref()
                .map(|kinds| C::Kind.is_in(kinds.iter().map(|k| k.as_str()))),
        )
}

pub(super) fn audit_condition(scope: Scope, filter: &AuditFilter) -> Condition {
    use audit_event::Column as C;
    scoped(scope, C::InstitutionId)
        .add_option(filter.institution_id.map(|id| C::InstitutionId.eq(id.0)))
        .add_option(filter.action.as_ref().map(|a| C::Action.eq(a.as_str())))
        .add_option(filter.resource_id.map(|id| C::ResourceId.eq(id)))
}

pub(super) fn event_condition(scope: Scope, filter: &EventFilter) -> Condition {
    use position_event::Column as C;
    scoped(scope, C::InstitutionId)
        .add_option(filter.position_id.map(|id| C::PositionId.eq(id.0)))
        .add_option(filter.asset_id.map(|id| C::AssetId.eq(id.0)))
        .add_option(filter.institution_id.map(|id| C::InstitutionId.eq(id.0)))
        // An empty list renders as `1 = 2`: `Some(empty)` matches nothing, as the port says.
        .add_option(
            filter
                .to_states
                .as_ref()
                .map(|states| C::ToState.is_in(states.iter().map(|s| s.as_str()))),
        )
}
