//! Opening positions and moving them through their lifecycle, idempotently.

use super::Services;
use super::audit::{AuditSubject, audit_event};
use super::error::{ServiceError, ServiceResult};
use super::idempotency::request_hash;
use super::viewer::RequestContext;
use crate::domain::lifecycle::plan_transition;
use crate::domain::model::{
    self, AuditOutcome, EventSeq, IdempotentOperation, JsonObject, LedgerEvent, Position,
    PositionEvent,
};
use crate::domain::policy::check_new_position;
use crate::domain::{
    Amount, AssetId, BoundedText, Currency, EventId, InstitutionId, LedgerEventKind, PositionId,
    PositionState, Reason, ReleasedAmount, limits,
};
use crate::ports::{
    AssetRules, IdempotencyClaim, PositionCreation, PositionTransition, Scope, WriteOutcome,
};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct CreatePositionInput {
    pub institution_id: Option<InstitutionId>,
    pub asset_id: AssetId,
    pub holder_reference: BoundedText,
    pub currency: Currency,
    pub amount: Amount,
    pub external_reference: Option<BoundedText>,
    pub idempotency_key: Option<BoundedText>,
}

#[derive(Clone, Debug)]
pub struct TransitionPositionInput {
    pub position_id: PositionId,
    pub to_state: PositionState,
    pub reason: Option<Reason>,
    pub metadata: Option<Value>,
    pub release_amount: Option<Amount>,
    pub expected_version: Option<i32>,
    pub idempotency_key: Option<BoundedText>,
}

/// What a write produced: `event` is `None` when an idempotent replay wrote nothing.
#[derive(Clone, Debug)]
pub struct PositionWrite {
    pub position: Position,
    pub event: Option<PositionEvent>,
}

impl From<WriteOutcome> for PositionWrite {
    fn from(outcome: WriteOutcome) -> Self {
        match outcome {
            WriteOutcome::Applied { position, event } => Self {
                position,
                event: Some(event),
            },
            WriteOutcome::Replayed { position } => Self {
                position,
                event: None,
            },
        }
    }
}

impl Services {
    /// # Errors
    /// `Forbidden` for the institution; `NotFound` for an asset outside it; `Domain` for bad
    /// input or a template/policy violation; `Conflict` for a reused idempotency key.
    #[tracing::instrument(skip_all)]
    pub async fn create_position(
        &self,
        ctx: &RequestContext,
        input: CreatePositionInput,
    ) -> ServiceResult<PositionWrite> {
        let id = PositionId::new();
        let subject = || AuditSubject {
            action: "createPosition",
            institution_id: input.institution_id,
            resource_type: "Position",
            resource_id: Some(id.0),
        };
        let institution_id = match ctx.viewer.writable_institution(input.institution_id) {
            Ok(institution) => institution,
            Err(error) => return Err(self.refuse(ctx, subject(), error).await),
        };
        let (holder_reference, currency, amount) =
            (input.holder_reference, input.currency, input.amount);
        let external_reference = input.external_reference;
        let claim = match input.idempotency_key {
            Some(key) => {
                let request = json!({
                    "assetId": input.asset_id,
                    "holderReference": holder_reference,
                    "currency": currency.as_str(),
                    "amount": amount.to_string(),
                    "externalReference": external_reference,
                });
                let claim = IdempotencyClaim {
                    request_hash: request_hash("createPosition", &request),
                    key,
                    operation: IdempotentOperation::CreatePosition,
                };
                if let Some(replayed) = self.replay(institution_id, &claim).await? {
                    return Ok(replayed);
                }
                Some(claim)
            }
            None => None,
        };

        let scope = Scope::Institution(institution_id);
        let AssetRules {
            asset,
            template,
            policy,
        } = self
            .store
            .asset_rules(scope, input.asset_id)
            .await?
            .ok_or(ServiceError::NotFound("asset"))?;
        check_new_position(
            &template.config,
            policy.as_ref().map(|p| &p.rules),
            currency,
            amount,
        )?;

        let now = model::now();
        let position = Position {
            id,
            institution_id,
            asset_id: asset.id,
            holder_reference,
            currency,
            amount,
            released_amount: ReleasedAmount::zero(),
            state: PositionState::Created,
            version: 1,
            external_reference,
            created_at: now,
            updated_at: now,
        };
        let event = PositionEvent {
            id: EventId::new(),
            seq: EventSeq::START,
            position_id: id,
            institution_id,
            asset_id: asset.id,
            from_state: None,
            to_state: PositionState::Created,
            reason: None,
            metadata: None,
            release_amount: None,
            version: 1,
            at: now,
        };
        let ledger = ledger_event(&position, LedgerEventKind::PositionCreated, None, None);
        let audit = audit_event(
            ctx,
            subject(),
            AuditOutcome::Success,
            position_payload(&position),
        );
        let outcome = self
            .store
            .create_position(PositionCreation {
                position,
                event,
                ledger,
                audit,
                idempotency: claim,
            })
            .await?;
        Ok(outcome.into())
    }

    /// # Errors
    /// `Forbidden` for READ_ONLY keys; `NotFound` for a position outside the caller's
    /// institution; `Conflict` for a stale `expectedVersion`, a lost race or a reused
    /// idempotency key; `Domain` (`InvalidTransition`) for a move the lifecycle forbids.
    #[tracing::instrument(skip_all)]
    pub async fn transition_position(
        &self,
        ctx: &RequestContext,
        input: TransitionPositionInput,
    ) -> ServiceResult<PositionWrite> {
        let subject = || AuditSubject {
            action: "transitionPosition",
            institution_id: None,
            resource_type: "Position",
            resource_id: Some(input.position_id.0),
        };
        if let Err(error) = ctx.viewer.require_writer() {
            return Err(self.refuse(ctx, subject(), error).await);
        }
        let reason = input.reason;
        let metadata = input
            .metadata
            .map(|metadata| limits::json_object(metadata, "input.metadata"))
            .transpose()?;
        let idempotency_key = input.idempotency_key;

        let current = self
            .store
            .positions_by_ids(ctx.viewer.scope(), &[input.position_id])
            .await?
            .into_iter()
            .next()
            .ok_or(ServiceError::NotFound("position"))?;
        let claim = match idempotency_key {
            Some(key) => {
                let request = json!({
                    "positionId": input.position_id,
                    "toState": input.to_state.as_str(),
                    "reason": reason,
                    "metadata": metadata,
                    "releaseAmount": input.release_amount.map(|a| a.to_string()),
                    "expectedVersion": input.expected_version,
                });
                let claim = IdempotencyClaim {
                    request_hash: request_hash("transitionPosition", &request),
                    key,
                    operation: IdempotentOperation::TransitionPosition,
                };
                if let Some(replayed) = self.replay(current.institution_id, &claim).await? {
                    return Ok(replayed);
                }
                Some(claim)
            }
            None => None,
        };
        if let Some(expected) = input.expected_version
            && expected != current.version
        {
            return Err(ServiceError::Conflict(format!(
                "expectedVersion {expected} differs from the stored version {}",
                current.version
            )));
        }
        let effect = plan_transition(
            current.state,
            input.to_state,
            current.amount,
            current.released_amount,
            input.release_amount,
        )?;

        let now = model::now();
        let mut position = current.clone();
        position.state = effect.to;
        position.released_amount = effect.released_amount;
        position.version = current.version + 1;
        position.updated_at = now;
        let event = PositionEvent {
            id: EventId::new(),
            seq: EventSeq::START,
            position_id: position.id,
            institution_id: position.institution_id,
            asset_id: position.asset_id,
            from_state: Some(current.state),
            to_state: effect.to,
            reason,
            metadata,
            release_amount: effect.release_amount,
            version: position.version,
            at: now,
        };
        let ledger = ledger_event(
            &position,
            LedgerEventKind::PositionStateChanged,
            Some(current.state),
            effect.release_amount,
        );
        let audit = audit_event(
            ctx,
            AuditSubject {
                institution_id: Some(position.institution_id),
                ..subject()
            },
            AuditOutcome::Success,
            position_payload(&position),
        );
        let outcome = self
            .store
            .transition_position(PositionTransition {
                expected_version: current.version,
                position,
                event,
                ledger,
                audit,
                idempotency: claim,
            })
            .await?;
        Ok(outcome.into())
    }

    /// The first result of an idempotent request, when this key was used before with the same
    /// input; `Conflict` when it was used with other input.
    async fn replay(
        &self,
        institution: InstitutionId,
        claim: &IdempotencyClaim,
    ) -> ServiceResult<Option<PositionWrite>> {
        let Some(record) = self.store.find_idempotency(institution, &claim.key).await? else {
            return Ok(None);
        };
        Ok(Some(PositionWrite {
            position: claim.replay(&record)?,
            event: None,
        }))
    }
}

fn ledger_event(
    position: &Position,
    kind: LedgerEventKind,
    previous_state: Option<PositionState>,
    release_amount: Option<Amount>,
) -> LedgerEvent {
    let mut payload = position_payload(position);
    if let Some(release) = release_amount {
        payload.insert("releaseAmount".into(), release.to_string().into());
    }
    LedgerEvent {
        id: EventId::new(),
        seq: 0,
        institution_id: position.institution_id,
        position_id: position.id,
        kind,
        previous_state,
        new_state: position.state,
        payload,
        at: position.updated_at,
    }
}

/// Money goes into JSON payloads as strings: a JSON number would pass through f64 somewhere.
fn position_payload(position: &Position) -> JsonObject {
    let mut payload = JsonObject::new();
    payload.insert("amount".into(), position.amount.to_string().into());
    payload.insert(
        "releasedAmount".into(),
        position.released_amount.to_string().into(),
    );
    payload.insert("currency".into(), position.currency.as_str().into());
    payload.insert("state".into(), position.state.as_str().into());
    payload.insert("version".into(), position.version.into());
    payload.insert(
        "holderReference".into(),
        position.holder_reference.as_str().into(),
    );
    payload
}

#[cfg(test)]
mod tests {
    #[test]
    fn invalid_input_names_its_field() {
        let error = crate::domain::DomainError::invalid("input.amount", "must be greater than 0");
        assert_eq!(error.to_string(), "input.amount: must be greater than 0");
    }
}
