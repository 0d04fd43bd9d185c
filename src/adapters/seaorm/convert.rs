//! Entity models ↔ domain records. Text columns become enums here, and a stored value that does
//! not parse is `RepoError::Internal`: the database holds something the code never writes.

use crate::domain::model::{
    ApiKey, Asset, AssetTemplate, AuditEvent, AuditOutcome, EventSeq, IdempotencyRecord,
    IdempotentOperation, Institution, JsonObject, LedgerEvent, Policy, Position, PositionEvent,
};
use crate::domain::policy::PositionRules;
use crate::domain::template_config::TemplateConfig;
use crate::domain::{Amount, BoundedText, Currency, Reason, ReleasedAmount};
use crate::ports::{RepoError, RepoResult};
use entity::{
    api_key, asset, asset_template, audit_event, idempotency_record, institution, ledger_event,
    policy, position, position_event,
};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::{NotSet, Set};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::str::FromStr;

fn corrupt(table: &str, column: &str, detail: impl std::fmt::Display) -> RepoError {
    RepoError::Internal(format!("unreadable {table}.{column}: {detail}"))
}

fn parse<T>(table: &str, column: &str, text: &str) -> RepoResult<T>
where
    T: FromStr<Err = String>,
{
    text.parse().map_err(|e| corrupt(table, column, e))
}

fn parse_opt<T>(table: &str, column: &str, text: Option<&str>) -> RepoResult<Option<T>>
where
    T: FromStr<Err = String>,
{
    text.map(|text| parse(table, column, text)).transpose()
}

fn object(table: &str, column: &str, value: Value) -> RepoResult<JsonObject> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(corrupt(
            table,
            column,
            format!("not a JSON object: {other}"),
        )),
    }
}

fn from_json<T: DeserializeOwned>(table: &str, column: &str, value: Value) -> RepoResult<T> {
    serde_json::from_value(value).map_err(|e| corrupt(table, column, e))
}

fn currency(table: &str, text: &str) -> RepoResult<Currency> {
    Currency::parse(text, "currency").map_err(|e| corrupt(table, "currency", e))
}

/// NUMERIC(32,8) pads to 8 places; parsing restores the domain's canonical spelling.
fn amount(table: &str, column: &str, value: Decimal) -> RepoResult<Amount> {
    Amount::parse(value, column).map_err(|e| corrupt(table, column, e))
}

fn released(table: &str, column: &str, value: Decimal) -> RepoResult<ReleasedAmount> {
    ReleasedAmount::parse(value, column).map_err(|e| corrupt(table, column, e))
}

fn text(table: &str, column: &str, value: String) -> RepoResult<BoundedText> {
    BoundedText::parse(value, column).map_err(|e| corrupt(table, column, e))
}

pub(crate) fn institution(model: institution::Model) -> RepoResult<Institution> {
    Ok(Institution {
        id: model.id.into(),
        name: text("institutions", "name", model.name)?,
        regions: from_json("institutions", "regions", model.regions)?,
        verticals: from_json("institutions", "verticals", model.verticals)?,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

pub(crate) fn institution_model(record: &Institution) -> institution::ActiveModel {
    institution::ActiveModel {
        id: Set(record.id.0),
        name: Set(record.name.to_string()),
        regions: Set(Value::from(
            record
                .regions
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>(),
        )),
        verticals: Set(Value::from(
            record
                .verticals
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>(),
        )),
        created_at: Set(record.created_at),
        updated_at: Set(record.updated_at),
    }
}

pub(crate) fn template(model: asset_template::Model) -> RepoResult<AssetTemplate> {
    const T: &str = "asset_templates";
    let code = parse(T, "code", &model.code)?;
    let region = parse(T, "region", &model.region)?;
    let config = TemplateConfig::restore(code, region, object(T, "config", model.config)?)
        .map_err(|e| corrupt(T, "config", e))?;
    Ok(AssetTemplate {
        id: model.id.into(),
        institution_id: model.institution_id.into(),
        code,
        name: text(T, "name", model.name)?,
        vertical: parse(T, "vertical", &model.vertical)?,
        region,
        config,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

pub(crate) fn template_model(record: &AssetTemplate) -> asset_template::ActiveModel {
    asset_template::ActiveModel {
        id: Set(record.id.0),
        institution_id: Set(record.institution_id.0),
        code: Set(record.code.as_str().to_owned()),
        name: Set(record.name.to_string()),
        vertical: Set(record.vertical.as_str().to_owned()),
        region: Set(record.region.as_str().to_owned()),
        config: Set(Value::Object(record.config.document().clone())),
        created_at: Set(record.created_at),
        updated_at: Set(record.updated_at),
    }
}

pub(crate) fn asset(model: asset::Model) -> RepoResult<Asset> {
    Ok(Asset {
        id: model.id.into(),
        institution_id: model.institution_id.into(),
        template_id: model.template_id.into(),
        label: text("assets", "label", model.label)?,
        metadata: model
            .metadata
            .map(|value| object("assets", "metadata", value))
            .transpose()?,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

pub(crate) fn position(model: position::Model) -> RepoResult<Position> {
    const T: &str = "positions";
    Ok(Position {
        id: model.id.into(),
        institution_id: model.institution_id.into(),
        asset_id: model.asset_id.into(),
        holder_reference: text(T, "holder_reference", model.holder_reference)?,
        currency: currency(T, &model.currency)?,
        amount: amount(T, "amount", model.amount)?,
        released_amount: released(T, "released_amount", model.released_amount)?,
        state: parse(T, "state", &model.state)?,
        version: model.version,
        external_reference: model
            .external_reference
            .map(|reference| text(T, "external_reference", reference))
            .transpose()?,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

pub(crate) fn position_event(model: position_event::Model) -> RepoResult<PositionEvent> {
    const T: &str = "position_events";
    Ok(PositionEvent {
        id: model.id.into(),
        seq: EventSeq {
            txn: model.txn,
            index: model.seq,
        },
        position_id: model.position_id.into(),
        institution_id: model.institution_id.into(),
        asset_id: model.asset_id.into(),
        from_state: parse_opt(T, "from_state", model.from_state.as_deref())?,
        to_state: parse(T, "to_state", &model.to_state)?,
        reason: model
            .reason
            .map(|reason| Reason::parse(reason, "reason").map_err(|e| corrupt(T, "reason", e)))
            .transpose()?,
        metadata: model
            .metadata
            .map(|value| object(T, "metadata", value))
            .transpose()?,
        release_amount: model
            .release_amount
            .map(|value| amount(T, "release_amount", value))
            .transpose()?,
        version: model.version,
        at: model.at,
    })
}

/// `seq` and `txn` stay `NotSet`: `seq` is `GENERATED ALWAYS AS IDENTITY` (PostgreSQL refuses
/// an explicit value) and `txn` must be the writing transaction's own id, its default; the
/// insert's `RETURNING` hands both back.
pub(crate) fn position_event_model(record: &PositionEvent) -> position_event::ActiveModel {
    position_event::ActiveModel {
        id: Set(record.id.0),
        seq: NotSet,
        txn: NotSet,
        position_id: Set(record.position_id.0),
        institution_id: Set(record.institution_id.0),
        asset_id: Set(record.asset_id.0),
        from_state: Set(record.from_state.map(|s| s.as_str().to_owned())),
        to_state: Set(record.to_state.as_str().to_owned()),
        reason: Set(record.reason.clone().map(String::from)),
        metadata: Set(record.metadata.clone().map(Value::Object)),
        release_amount: Set(record.release_amount.map(Amount::value)),
        version: Set(record.version),
        at: Set(record.at),
    }
}

pub(crate) fn ledger_event(model: ledger_event::Model) -> RepoResult<LedgerEvent> {
    const T: &str = "ledger_events";
    Ok(LedgerEvent {
        id: model.id.into(),
        seq: model.seq,
        institution_id: model.institution_id.into(),
        position_id: model.position_id.into(),
        kind: parse(T, "kind", &model.kind)?,
        previous_state: parse_opt(T, "previous_state", model.previous_state.as_deref())?,
        new_state: parse(T, "new_state", &model.new_state)?,
        payload: object(T, "payload", model.payload)?,
        at: model.at,
    })
}

/// `seq` stays `NotSet`, as for position events.
pub(crate) fn ledger_event_model(record: &LedgerEvent) -> ledger_event::ActiveModel {
    ledger_event::ActiveModel {
        id: Set(record.id.0),
        seq: NotSet,
        institution_id: Set(record.institution_id.0),
        position_id: Set(record.position_id.0),
        kind: Set(record.kind.as_str().to_owned()),
        previous_state: Set(record.previous_state.map(|s| s.as_str().to_owned())),
        new_state: Set(record.new_state.as_str().to_owned()),
        payload: Set(Value::Object(record.payload.clone())),
        at: Set(record.at),
    }
}

pub(crate) fn audit_event(model: audit_event::Model) -> RepoResult<AuditEvent> {
    const T: &str = "audit_events";
    Ok(AuditEvent {
        id: model.id.into(),
        at: model.at,
        action: model.action,
        outcome: AuditOutcome::parse(&model.outcome).map_err(|e| corrupt(T, "outcome", e))?,
        api_key_id: model.api_key_id.map(Into::into),
        institution_id: model.institution_id.map(Into::into),
        resource_type: model.resource_type,
        resource_id: model.resource_id,
        request_id: model.request_id,
        payload: object(T, "payload", model.payload)?,
    })
}

pub(crate) fn audit_event_model(record: &AuditEvent) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        id: Set(record.id.0),
        at: Set(record.at),
        action: Set(record.action.clone()),
        outcome: Set(record.outcome.as_str().to_owned()),
        api_key_id: Set(record.api_key_id.map(|id| id.0)),
        institution_id: Set(record.institution_id.map(|id| id.0)),
        resource_type: Set(record.resource_type.clone()),
        resource_id: Set(record.resource_id),
        request_id: Set(record.request_id.clone()),
        payload: Set(Value::Object(record.payload.clone())),
    }
}

pub(crate) fn api_key(model: api_key::Model) -> RepoResult<ApiKey> {
    Ok(ApiKey {
        id: model.id.into(),
        institution_id: model.institution_id.into(),
        label: text("api_keys", "label", model.label)?,
        role: parse("api_keys", "role", &model.role)?,
        key_hash: model.key_hash,
        created_at: model.created_at,
        revoked_at: model.revoked_at,
    })
}

pub(crate) fn api_key_model(record: &ApiKey) -> api_key::ActiveModel {
    api_key::ActiveModel {
        id: Set(record.id.0),
        institution_id: Set(record.institution_id.0),
        label: Set(record.label.to_string()),
        role: Set(record.role.as_str().to_owned()),
        key_hash: Set(record.key_hash.clone()),
        created_at: Set(record.created_at),
        revoked_at: Set(record.revoked_at),
    }
}

pub(crate) fn policy(model: policy::Model) -> RepoResult<Policy> {
    const T: &str = "policies";
    let rules = PositionRules {
        min_amount: model
            .min_amount
            .map(|v| amount(T, "min_amount", v))
            .transpose()?,
        max_amount: model
            .max_amount
            .map(|v| amount(T, "max_amount", v))
            .transpose()?,
        allowed_currencies: model
            .allowed_currencies
            .map(|v| from_json(T, "allowed_currencies", v))
            .transpose()?,
    };
    Ok(Policy {
        id: model.id.into(),
        institution_id: model.institution_id.into(),
        region: parse(T, "region", &model.region)?,
        rules,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

pub(crate) fn policy_model(record: &Policy) -> policy::ActiveModel {
    policy::ActiveModel {
        id: Set(record.id.0),
        institution_id: Set(record.institution_id.0),
        region: Set(record.region.as_str().to_owned()),
        min_amount: Set(record.rules.min_amount.map(Amount::value)),
        max_amount: Set(record.rules.max_amount.map(Amount::value)),
        allowed_currencies: Set(record
            .rules
            .allowed_currencies
            .as_ref()
            .map(|codes| Value::from(codes.iter().map(|c| c.as_str()).collect::<Vec<_>>()))),
        created_at: Set(record.created_at),
        updated_at: Set(record.updated_at),
    }
}

fn operation(text: &str) -> RepoResult<IdempotentOperation> {
    [
        IdempotentOperation::CreatePosition,
        IdempotentOperation::TransitionPosition,
    ]
    .into_iter()
    .find(|op| op.as_str() == text)
    .ok_or_else(|| corrupt("idempotency_records", "operation", text))
}

pub(crate) fn idempotency_record(
    model: idempotency_record::Model,
) -> RepoResult<IdempotencyRecord> {
    const T: &str = "idempotency_records";
    // The domain's serde parses the amounts, which restores their canonical spelling.
    let response: Position = from_json(T, "response", model.response)?;
    Ok(IdempotencyRecord {
        institution_id: model.institution_id.into(),
        key: text(T, "key", model.key)?,
        operation: operation(&model.operation)?,
        request_hash: model.request_hash,
        position_id: model.position_id.into(),
        response,
        created_at: model.created_at,
    })
}

/// The snapshot is the position exactly as the write will leave it, serialized by the domain's
/// own serde (money as strings), so a replay returns what the first request returned.
pub(crate) fn response_snapshot(position: &Position) -> RepoResult<Value> {
    serde_json::to_value(position)
        .map_err(|e| RepoError::Internal(format!("cannot serialize the idempotent response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstitutionId, Region};
    use chrono::Utc;

    #[test]
    fn an_unknown_stored_enum_is_internal() {
        let model = api_key::Model {
            id: uuid::Uuid::now_v7(),
            institution_id: uuid::Uuid::now_v7(),
            label: "k".into(),
            role: "SUPERUSER".into(),
            key_hash: "h".into(),
            created_at: Utc::now(),
            revoked_at: None,
        };
        assert!(matches!(api_key(model), Err(RepoError::Internal(_))));
    }

    #[test]
    fn institution_regions_round_trip_through_json() {
        let record = Institution {
            id: InstitutionId::new(),
            name: BoundedText::parse("Bank", "name").expect("valid"),
            regions: vec![Region::Us, Region::EuUk],
            verticals: vec![],
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let active = institution_model(&record);
        let model = institution::Model {
            id: record.id.0,
            name: record.name.to_string(),
            regions: active.regions.clone().unwrap(),
            verticals: active.verticals.clone().unwrap(),
            created_at: record.created_at,
            updated_at: record.updated_at,
        };
        assert_eq!(institution(model).ok(), Some(record));
    }
}
