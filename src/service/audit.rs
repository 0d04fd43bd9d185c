//! Building audit events, and recording the attempts that were refused.

use super::Services;
use super::error::ServiceError;
use super::refusals::{Refusal, RefusalReason};
use super::viewer::RequestContext;
use crate::domain::model::{self, AuditEvent, AuditOutcome, JsonObject};
use crate::domain::{AuditEventId, InstitutionId};
use uuid::Uuid;

/// What an audited action touched.
pub(super) struct AuditSubject {
    pub(super) action: &'static str,
    pub(super) institution_id: Option<InstitutionId>,
    pub(super) resource_type: &'static str,
    pub(super) resource_id: Option<Uuid>,
}

pub(super) fn audit_event(
    ctx: &RequestContext,
    subject: AuditSubject,
    outcome: AuditOutcome,
    payload: JsonObject,
) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::new(),
        at: model::now(),
        action: subject.action.to_owned(),
        outcome,
        api_key_id: ctx.viewer.api_key_id(),
        institution_id: subject.institution_id.or(ctx.viewer.institution_id()),
        resource_type: Some(subject.resource_type.to_owned()),
        resource_id: subject.resource_id,
        request_id: ctx.request_id.clone(),
        payload,
    }
}

impl Services {
    /// Counts a FORBIDDEN attempt before returning its error, so refusals leave a trail
    /// (one row per group and flush interval, see `refusals`). A failure to record is logged,
    /// not returned: the caller must still get FORBIDDEN.
    pub(super) async fn refuse(
        &self,
        ctx: &RequestContext,
        subject: AuditSubject,
        error: ServiceError,
    ) -> ServiceError {
        if let ServiceError::Forbidden(reason) = &error {
            let mut details = JsonObject::new();
            details.insert("message".into(), reason.clone().into());
            let mut latest = JsonObject::new();
            if let Some(target) = subject.institution_id {
                latest.insert("targetInstitutionId".into(), target.to_string().into());
            }
            // Filed under the caller's institution, never the one it named: otherwise any key
            // could write rows into another institution's audit trail.
            self.record_refusal(Refusal {
                reason: RefusalReason::Forbidden,
                action: subject.action.to_owned(),
                api_key_id: ctx.viewer.api_key_id(),
                institution_id: ctx.viewer.institution_id().or(subject.institution_id),
                resource_type: Some(subject.resource_type.to_owned()),
                client: None,
                request_id: ctx.request_id.clone(),
                details,
                latest,
            })
            .await;
        }
        error
    }

    /// Records a request that came without a valid key (the HTTP layer calls this).
    pub async fn record_unauthenticated(&self, request_id: Option<String>, action: &str) {
        self.record_refusal(Refusal {
            reason: RefusalReason::MissingKey,
            action: action.to_owned(),
            api_key_id: None,
            institution_id: None,
            resource_type: None,
            client: None,
            request_id,
            details: JsonObject::new(),
            latest: JsonObject::new(),
        })
        .await;
    }

    /// Counts a refusal; writes a row only when it opens a new group.
    pub async fn record_refusal(&self, refusal: Refusal) {
        if let Some(event) = self.refusals.record(refusal)
            && let Err(store_error) = self.store.record_audit(&event).await
        {
            tracing::error!(%store_error, "could not record a refused attempt");
        }
    }

    /// Writes the summary rows of the refusals counted since the last flush. Returns how many
    /// rows were written.
    pub async fn flush_refusals(&self) -> usize {
        let mut written = 0;
        for event in self.refusals.flush() {
            match self.store.record_audit(&event).await {
                Ok(()) => written += 1,
                Err(store_error) => {
                    tracing::error!(%store_error, "could not record refused attempts");
                }
            }
        }
        written
    }
}
