//! Creating asset templates with a validated config.

use super::Services;
use super::audit::{AuditSubject, audit_event};
use super::error::{ServiceError, ServiceResult};
use super::viewer::RequestContext;
use crate::domain::model::{self, AssetTemplate, AuditOutcome, JsonObject};
use crate::domain::template_config::TemplateConfig;
use crate::domain::{
    BoundedText, DomainError, InstitutionId, Region, TemplateCode, TemplateId, Vertical, limits,
};
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct CreateTemplateInput {
    pub institution_id: Option<InstitutionId>,
    pub code: TemplateCode,
    pub name: BoundedText,
    pub vertical: Vertical,
    pub region: Region,
    pub config: Value,
}

impl Services {
    /// # Errors
    /// `Forbidden`/`NotFound` for the institution; `Domain` when the code, vertical, region or
    /// config break a template rule.
    #[tracing::instrument(skip_all)]
    pub async fn create_asset_template(
        &self,
        ctx: &RequestContext,
        input: CreateTemplateInput,
    ) -> ServiceResult<AssetTemplate> {
        let id = TemplateId::new();
        let subject = || AuditSubject {
            action: "createAssetTemplate",
            institution_id: input.institution_id,
            resource_type: "AssetTemplate",
            resource_id: Some(id.0),
        };
        let institution_id = match ctx.viewer.writable_institution(input.institution_id) {
            Ok(institution) => institution,
            Err(error) => return Err(self.refuse(ctx, subject(), error).await),
        };
        let name = input.name;
        let config = limits::json_object(input.config, "input.config")?;
        if input.code.vertical() != input.vertical {
            return Err(DomainError::invalid(
                "input.vertical",
                format!(
                    "{} templates belong to {}",
                    input.code,
                    input.code.vertical()
                ),
            )
            .into());
        }
        let institution = self
            .store
            .institutions_by_ids(ctx.viewer.scope(), &[institution_id])
            .await?
            .into_iter()
            .next()
            .ok_or(ServiceError::NotFound("institution"))?;
        if !institution.regions.contains(&input.region) {
            return Err(DomainError::invalid(
                "input.region",
                format!("{} is not one of the institution's regions", input.region),
            )
            .into());
        }
        if !institution.verticals.is_empty() && !institution.verticals.contains(&input.vertical) {
            return Err(DomainError::invalid(
                "input.vertical",
                format!(
                    "{} is not one of the institution's verticals",
                    input.vertical
                ),
            )
            .into());
        }
        // Parsed here, after the checks that need the store, so errors keep their order; the
        // template then carries the parsed rules and position creation reads them from it.
        let config = TemplateConfig::parse(input.code, input.region, config)?;
        let now = model::now();
        let template = AssetTemplate {
            id,
            institution_id,
            code: input.code,
            name,
            vertical: input.vertical,
            region: input.region,
            config,
            created_at: now,
            updated_at: now,
        };
        let mut payload = JsonObject::new();
        payload.insert("code".into(), template.code.as_str().into());
        let audit = audit_event(ctx, subject(), AuditOutcome::Success, payload);
        self.store.create_template(&template, &audit).await?;
        Ok(template)
    }
}
