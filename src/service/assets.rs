//! Creating assets under a template of the same institution.

use super::Services;
use super::audit::{AuditSubject, audit_event};
use super::error::{ServiceError, ServiceResult};
use super::viewer::RequestContext;
use crate::domain::model::{self, Asset, AuditOutcome, JsonObject};
use crate::domain::{AssetId, BoundedText, InstitutionId, TemplateId, limits};
use crate::ports::Scope;
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct CreateAssetInput {
    pub institution_id: Option<InstitutionId>,
    pub template_id: TemplateId,
    pub label: BoundedText,
    pub metadata: Option<Value>,
}

impl Services {
    /// # Errors
    /// `Forbidden` for the institution; `NotFound` when the template is not the institution's;
    /// `Domain` for a bad label or metadata.
    #[tracing::instrument(skip_all)]
    pub async fn create_asset(
        &self,
        ctx: &RequestContext,
        input: CreateAssetInput,
    ) -> ServiceResult<Asset> {
        let id = AssetId::new();
        let subject = || AuditSubject {
            action: "createAsset",
            institution_id: input.institution_id,
            resource_type: "Asset",
            resource_id: Some(id.0),
        };
        let institution_id = match ctx.viewer.writable_institution(input.institution_id) {
            Ok(institution) => institution,
            Err(error) => return Err(self.refuse(ctx, subject(), error).await),
        };
        let label = input.label;
        let metadata = input
            .metadata
            .map(|metadata| limits::json_object(metadata, "input.metadata"))
            .transpose()?;
        let template_known = self
            .store
            .templates_by_ids(Scope::Institution(institution_id), &[input.template_id])
            .await?;
        if template_known.is_empty() {
            return Err(ServiceError::NotFound("asset template"));
        }
        let now = model::now();
        let asset = Asset {
            id,
            institution_id,
            template_id: input.template_id,
            label,
            metadata,
            created_at: now,
            updated_at: now,
        };
        let mut payload = JsonObject::new();
        payload.insert("label".into(), asset.label.as_str().into());
        let audit = audit_event(ctx, subject(), AuditOutcome::Success, payload);
        self.store.create_asset(&asset, &audit).await?;
        Ok(asset)
    }
}
