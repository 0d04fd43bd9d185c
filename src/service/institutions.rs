//! Creating institutions (root only).

use super::Services;
use super::audit::{AuditSubject, audit_event};
use super::error::ServiceResult;
use super::viewer::RequestContext;
use crate::domain::model::{self, AuditOutcome, Institution, JsonObject};
use crate::domain::{BoundedText, DomainError, InstitutionId, Region, Vertical};

#[derive(Clone, Debug)]
pub struct CreateInstitutionInput {
    pub name: BoundedText,
    pub regions: Vec<Region>,
    pub verticals: Option<Vec<Vertical>>,
}

impl Services {
    /// # Errors
    /// `Forbidden` unless root; `Domain` for a bad name or no regions.
    #[tracing::instrument(skip_all)]
    pub async fn create_institution(
        &self,
        ctx: &RequestContext,
        input: CreateInstitutionInput,
    ) -> ServiceResult<Institution> {
        let id = InstitutionId::new();
        let subject = || AuditSubject {
            action: "createInstitution",
            institution_id: Some(id),
            resource_type: "Institution",
            resource_id: Some(id.0),
        };
        if let Err(error) = ctx.viewer.require_root("createInstitution") {
            return Err(self.refuse(ctx, subject(), error).await);
        }
        let name = input.name;
        let regions = dedup(input.regions);
        if regions.is_empty() {
            return Err(
                DomainError::invalid("input.regions", "must name at least one region").into(),
            );
        }
        let now = model::now();
        let institution = Institution {
            id,
            name,
            regions,
            verticals: dedup(input.verticals.unwrap_or_default()),
            created_at: now,
            updated_at: now,
        };
        let mut payload = JsonObject::new();
        payload.insert("name".into(), institution.name.as_str().into());
        let audit = audit_event(ctx, subject(), AuditOutcome::Success, payload);
        self.store.create_institution(&institution, &audit).await?;
        Ok(institution)
    }
}

/// Keeps first occurrences in order: `[US, US]` means `[US]`.
fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        if !kept.contains(&item) {
            kept.push(item);
        }
    }
    kept
}
