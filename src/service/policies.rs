//! Setting an institution's per-region position policy.

use super::Services;
use super::audit::{AuditSubject, audit_event};
use super::error::{ServiceError, ServiceResult};
use super::viewer::RequestContext;
use crate::domain::model::{self, AuditOutcome, JsonObject, Policy};
use crate::domain::policy::PositionRules;
use crate::domain::{Amount, Currency, InstitutionId, PolicyId, Region};

#[derive(Clone, Debug)]
pub struct UpsertPolicyInput {
    pub institution_id: InstitutionId,
    pub region: Region,
    pub min_amount: Option<Amount>,
    pub max_amount: Option<Amount>,
    pub allowed_currencies: Option<Vec<Currency>>,
}

impl Services {
    /// # Errors
    /// `Forbidden` for READ_ONLY keys or another institution; `NotFound` for a missing
    /// institution; `Domain` for bad bounds or currencies.
    #[tracing::instrument(skip_all)]
    pub async fn upsert_policy(
        &self,
        ctx: &RequestContext,
        input: UpsertPolicyInput,
    ) -> ServiceResult<Policy> {
        let subject = || AuditSubject {
            action: "upsertPolicy",
            institution_id: Some(input.institution_id),
            resource_type: "Policy",
            resource_id: None,
        };
        let institution_id = match ctx.viewer.writable_institution(Some(input.institution_id)) {
            Ok(institution) => institution,
            Err(error) => return Err(self.refuse(ctx, subject(), error).await),
        };
        let rules =
            PositionRules::new(input.min_amount, input.max_amount, input.allowed_currencies)?;
        let institution_known = self
            .store
            .institutions_by_ids(ctx.viewer.scope(), &[institution_id])
            .await?;
        if institution_known.is_empty() {
            return Err(ServiceError::NotFound("institution"));
        }
        let now = model::now();
        let policy = Policy {
            id: PolicyId::new(),
            institution_id,
            region: input.region,
            rules,
            created_at: now,
            updated_at: now,
        };
        let mut payload = JsonObject::new();
        payload.insert("region".into(), policy.region.as_str().into());
        let audit = audit_event(ctx, subject(), AuditOutcome::Success, payload);
        Ok(self.store.upsert_policy(&policy, &audit).await?)
    }
}
