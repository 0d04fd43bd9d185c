//! Issuing and revoking institution API keys.

use super::Services;
use super::audit::{AuditSubject, audit_event};
use super::auth::{ApiKeyToken, hash_token};
use super::error::{ServiceError, ServiceResult};
use super::viewer::RequestContext;
use crate::domain::model::{self, ApiKey, AuditOutcome, JsonObject};
use crate::domain::{ApiKeyId, ApiKeyRole, BoundedText, InstitutionId};

#[derive(Clone, Debug)]
pub struct CreateApiKeyInput {
    pub institution_id: InstitutionId,
    pub label: BoundedText,
    pub role: ApiKeyRole,
}

/// A new key and its token: the only moment the token exists outside the caller's hands.
#[derive(Clone, Debug)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    pub token: ApiKeyToken,
}

impl Services {
    /// # Errors
    /// `Forbidden` for READ_ONLY keys or another institution; `NotFound` for a missing
    /// institution; `Domain` for a bad label.
    #[tracing::instrument(skip_all)]
    pub async fn create_api_key(
        &self,
        ctx: &RequestContext,
        input: CreateApiKeyInput,
    ) -> ServiceResult<CreatedApiKey> {
        let id = ApiKeyId::new();
        let subject = || AuditSubject {
            action: "createApiKey",
            institution_id: Some(input.institution_id),
            resource_type: "ApiKey",
            resource_id: Some(id.0),
        };
        let institution_id = match ctx.viewer.writable_institution(Some(input.institution_id)) {
            Ok(institution) => institution,
            Err(error) => return Err(self.refuse(ctx, subject(), error).await),
        };
        let label = input.label;
        let token = ApiKeyToken::generate();
        let api_key = ApiKey {
            id,
            institution_id,
            label,
            role: input.role,
            key_hash: hash_token(token.expose()),
            created_at: model::now(),
            revoked_at: None,
        };
        let mut payload = JsonObject::new();
        payload.insert("label".into(), api_key.label.as_str().into());
        payload.insert("role".into(), api_key.role.as_str().into());
        let audit = audit_event(ctx, subject(), AuditOutcome::Success, payload);
        self.store.create_api_key(&api_key, &audit).await?;
        Ok(CreatedApiKey { api_key, token })
    }

    /// Revoking twice is harmless and returns the key with its first revocation time.
    ///
    /// # Errors
    /// `Forbidden` for READ_ONLY keys; `NotFound` for a key outside the caller's institution.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_api_key(
        &self,
        ctx: &RequestContext,
        id: ApiKeyId,
    ) -> ServiceResult<ApiKey> {
        let subject = || AuditSubject {
            action: "revokeApiKey",
            institution_id: None,
            resource_type: "ApiKey",
            resource_id: Some(id.0),
        };
        if let Err(error) = ctx.viewer.require_writer() {
            return Err(self.refuse(ctx, subject(), error).await);
        }
        let scope = ctx.viewer.scope();
        let existing = self.store.api_keys_by_ids(scope, &[id]).await?;
        let Some(key) = existing.into_iter().next() else {
            return Err(ServiceError::NotFound("api key"));
        };
        let audit = audit_event(
            ctx,
            AuditSubject {
                institution_id: Some(key.institution_id),
                ..subject()
            },
            AuditOutcome::Success,
            JsonObject::new(),
        );
        let revoked = self
            .store
            .revoke_api_key(scope, id, model::now(), &audit)
            .await?;
        self.keys.evict(id);
        Ok(revoked)
    }
}
