//! Shared test helpers: store factories and builders for valid domain records, so each contract
//! case reads as the rule it checks. Every case gets a fresh, empty store.

pub(crate) mod memory;
pub(crate) mod postgres;

pub(crate) use memory::memory_store;

use escrowgrid::domain::lifecycle::plan_transition;
use escrowgrid::domain::model::{
    self, ApiKey, Asset, AssetTemplate, AuditEvent, AuditOutcome, EventSeq, IdempotentOperation,
    Institution, JsonObject, LedgerEvent, Policy, Position, PositionEvent,
};
use escrowgrid::domain::policy::PositionRules;
use escrowgrid::domain::template_config::TemplateConfig;
use escrowgrid::domain::{
    Amount, ApiKeyId, ApiKeyRole, AssetId, AuditEventId, BoundedText, Currency, EventId,
    InstitutionId, LedgerEventKind, PolicyId, PositionId, PositionState, Reason, Region,
    ReleasedAmount, TemplateCode, TemplateId, Vertical,
};
use escrowgrid::ports::{
    IdempotencyClaim, PageRequest, PositionCreation, PositionTransition, RepoResult, Scope, Store,
    WriteOutcome,
};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// What a store factory hands a contract case: something that owns the store (and, for a real
/// database, keeps it alive until the case ends).
pub(crate) trait StoreHandle {
    fn store(&self) -> Arc<dyn Store>;
}

impl StoreHandle for Arc<dyn Store> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self)
    }
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        other => panic!("test JSON must be an object, got {other}"),
    }
}

/// An exact amount from its wire form; panics on text the domain would refuse.
pub(crate) fn money(text: &str) -> Amount {
    Amount::parse_str(text, "amount").expect("test amounts are valid")
}

/// A name, label or reference; panics on text the domain would refuse.
pub(crate) fn text(value: impl Into<String>) -> BoundedText {
    BoundedText::parse(value, "text").expect("test texts are within the limits")
}

pub(crate) fn currency(code: &str) -> Currency {
    Currency::parse(code, "currency").expect("test currencies are ISO 4217 codes")
}

pub(crate) fn first(n: u32) -> PageRequest {
    PageRequest {
        first: n,
        after: None,
    }
}

pub(crate) fn after(n: u32, id: impl Into<Uuid>) -> PageRequest {
    PageRequest {
        first: n,
        after: Some(id.into()),
    }
}

pub(crate) fn institution(name: &str) -> Institution {
    let now = model::now();
    Institution {
        id: InstitutionId::new(),
        name: text(name),
        regions: vec![Region::Us, Region::EuUk],
        verticals: vec![Vertical::Construction, Vertical::TradeFinance],
        created_at: now,
        updated_at: now,
    }
}

/// The escrow template most cases use: CONSTR_ESCROW in US, paying out in USD.
pub(crate) fn template(institution: InstitutionId) -> AssetTemplate {
    template_of(institution, TemplateCode::ConstrEscrow, Region::Us)
}

/// A template of any code with a config valid for that code.
pub(crate) fn template_of(
    institution: InstitutionId,
    code: TemplateCode,
    region: Region,
) -> AssetTemplate {
    let config = match code {
        TemplateCode::ConstrEscrow => json!({"currency": "USD", "region": region.as_str()}),
        TemplateCode::ConstrRetainage => json!({"currency": "USD", "retainagePercentage": 5}),
        TemplateCode::TfInvoice => json!({"currency": "USD", "maxTenorDays": 90, "country": "US"}),
        TemplateCode::TfLc => {
            json!({"currency": "USD", "issuingBankCountry": "GB", "maxTenorDays": 30})
        }
    };
    let now = model::now();
    AssetTemplate {
        id: TemplateId::new(),
        institution_id: institution,
        code,
        name: text(format!("{code} template")),
        vertical: code.vertical(),
        region,
        config: TemplateConfig::parse(code, region, object(config))
            .expect("test configs are valid for their code"),
        created_at: now,
        updated_at: now,
    }
}

pub(crate) fn asset(template: &AssetTemplate) -> Asset {
    let now = model::now();
    Asset {
        id: AssetId::new(),
        institution_id: template.institution_id,
        template_id: template.id,
        label: text("Harbour bridge escrow"),
        metadata: Some(object(json!({"project": {"phase": 2, "tags": ["steel"]}}))),
        created_at: now,
        updated_at: now,
    }
}

pub(crate) fn audit(action: &str, institution: Option<InstitutionId>) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::new(),
        at: model::now(),
        action: action.to_owned(),
        outcome: AuditOutcome::Success,
        api_key_id: None,
        institution_id: institution,
        resource_type: None,
        resource_id: None,
        request_id: Some(Uuid::now_v7().to_string()),
        payload: JsonObject::new(),
    }
}

fn position_payload(position: &Position) -> JsonObject {
    object(json!({
        "amount": position.amount.to_string(),
        "releasedAmount": position.released_amount.to_string(),
        "state": position.state.as_str(),
        "version": position.version,
    }))
}

/// A new USD position of `amount` on `asset`, with everything its creation writes.
pub(crate) fn creation(asset: &Asset, amount: &str) -> PositionCreation {
    let now = model::now();
    let position = Position {
        id: PositionId::new(),
        institution_id: asset.institution_id,
        asset_id: asset.id,
        holder_reference: text("holder-1"),
        currency: currency("USD"),
        amount: money(amount),
        released_amount: ReleasedAmount::zero(),
        state: PositionState::Created,
        version: 1,
        external_reference: None,
        created_at: now,
        updated_at: now,
    };
    let event = PositionEvent {
        id: EventId::new(),
        // The store assigns seq; a made-up one must be ignored.
        seq: EventSeq {
            txn: 999,
            index: 999,
        },
        position_id: position.id,
        institution_id: position.institution_id,
        asset_id: position.asset_id,
        from_state: None,
        to_state: PositionState::Created,
        reason: None,
        metadata: None,
        release_amount: None,
        version: 1,
        at: now,
    };
    let ledger = LedgerEvent {
        id: EventId::new(),
        seq: 999,
        institution_id: position.institution_id,
        position_id: position.id,
        kind: LedgerEventKind::PositionCreated,
        previous_state: None,
        new_state: PositionState::Created,
        payload: position_payload(&position),
        at: now,
    };
    let mut audit = audit("createPosition", Some(position.institution_id));
    audit.resource_id = Some(position.id.0);
    PositionCreation {
        position,
        event,
        ledger,
        audit,
        idempotency: None,
    }
}

/// The step from `position`'s current state to `to`, planned by the domain lifecycle.
pub(crate) fn transition(position: &Position, to: PositionState) -> PositionTransition {
    transition_releasing(position, to, None)
}

pub(crate) fn transition_releasing(
    position: &Position,
    to: PositionState,
    release: Option<&str>,
) -> PositionTransition {
    let effect = plan_transition(
        position.state,
        to,
        position.amount,
        position.released_amount,
        release.map(money),
    )
    .expect("test transitions follow the lifecycle");
    let now = model::now();
    let mut next = position.clone();
    next.state = effect.to;
    next.released_amount = effect.released_amount;
    next.version = position.version + 1;
    next.updated_at = now;
    let event = PositionEvent {
        id: EventId::new(),
        seq: EventSeq::START,
        position_id: next.id,
        institution_id: next.institution_id,
        asset_id: next.asset_id,
        from_state: Some(position.state),
        to_state: effect.to,
        reason: Some(Reason::parse(format!("move to {to}"), "reason").expect("short")),
        metadata: Some(object(json!({"ticket": "OPS-1"}))),
        release_amount: effect.release_amount,
        version: next.version,
        at: now,
    };
    let ledger = LedgerEvent {
        id: EventId::new(),
        seq: 0,
        institution_id: next.institution_id,
        position_id: next.id,
        kind: LedgerEventKind::PositionStateChanged,
        previous_state: Some(position.state),
        new_state: effect.to,
        payload: position_payload(&next),
        at: now,
    };
    let mut audit = audit("transitionPosition", Some(next.institution_id));
    audit.resource_id = Some(next.id.0);
    PositionTransition {
        expected_version: position.version,
        position: next,
        event,
        ledger,
        audit,
        idempotency: None,
    }
}

pub(crate) fn claim(key: &str, operation: IdempotentOperation, hash: &str) -> IdempotencyClaim {
    IdempotencyClaim {
        key: text(key),
        operation,
        request_hash: hash.to_owned(),
    }
}

pub(crate) fn api_key(institution: InstitutionId, role: ApiKeyRole) -> ApiKey {
    ApiKey {
        id: ApiKeyId::new(),
        institution_id: institution,
        label: text(format!("{role} key")),
        role,
        // Shaped like a SHA-256 hex digest, and unique.
        key_hash: format!("{}{}", Uuid::now_v7().simple(), Uuid::now_v7().simple()),
        created_at: model::now(),
        revoked_at: None,
    }
}

pub(crate) fn policy(institution: InstitutionId, region: Region, rules: PositionRules) -> Policy {
    let now = model::now();
    Policy {
        id: PolicyId::new(),
        institution_id: institution,
        region,
        rules,
        created_at: now,
        updated_at: now,
    }
}

/// The position and event of a write that must have applied.
pub(crate) fn applied(outcome: RepoResult<WriteOutcome>) -> (Position, PositionEvent) {
    match outcome.expect("the write succeeds") {
        WriteOutcome::Applied { position, event } => (position, event),
        WriteOutcome::Replayed { position } => {
            panic!("expected Applied, got a replay of {position:?}")
        }
    }
}

/// An institution with one CONSTR_ESCROW template and one asset under it, all stored.
pub(crate) struct Tenant {
    pub(crate) institution: Institution,
    pub(crate) template: AssetTemplate,
    pub(crate) asset: Asset,
}

impl Tenant {
    pub(crate) async fn seed(store: &Arc<dyn Store>, name: &str) -> Self {
        let institution = institution(name);
        let id = Some(institution.id);
        store
            .create_institution(&institution, &audit("createInstitution", id))
            .await
            .expect("institution is created");
        let template = template(institution.id);
        store
            .create_template(&template, &audit("createAssetTemplate", id))
            .await
            .expect("template is created");
        let asset = asset(&template);
        store
            .create_asset(&asset, &audit("createAsset", id))
            .await
            .expect("asset is created");
        Self {
            institution,
            template,
            asset,
        }
    }

    pub(crate) fn id(&self) -> InstitutionId {
        self.institution.id
    }

    pub(crate) fn scope(&self) -> Scope {
        Scope::Institution(self.institution.id)
    }

    /// Opens a position of `amount` on the tenant's asset.
    pub(crate) async fn open(&self, store: &Arc<dyn Store>, amount: &str) -> Position {
        applied(store.create_position(creation(&self.asset, amount)).await).0
    }

    /// Opens a position and moves it along `path`, returning it as stored at the end.
    pub(crate) async fn open_and_move(
        &self,
        store: &Arc<dyn Store>,
        amount: &str,
        path: &[PositionState],
    ) -> Position {
        let mut position = self.open(store, amount).await;
        for &to in path {
            let release = (to == PositionState::PartiallyReleased).then_some("1");
            position = applied(
                store
                    .transition_position(transition_releasing(&position, to, release))
                    .await,
            )
            .0;
        }
        position
    }
}

/// What a write must leave untouched when it fails: a position's row, history, ledger, and
/// the whole audit trail.
#[derive(Debug, PartialEq)]
pub(crate) struct Footprint {
    position: Option<Position>,
    events: Vec<PositionEvent>,
    ledger: Vec<LedgerEvent>,
    audit_count: u64,
    position_count: u64,
}

impl Footprint {
    pub(crate) async fn of(store: &Arc<dyn Store>, id: PositionId) -> Self {
        let mut events = store
            .events_by_positions(Scope::All, &[id])
            .await
            .expect("events are readable");
        let mut ledger = store
            .ledger_by_positions(Scope::All, &[id])
            .await
            .expect("ledger is readable");
        Self {
            position: store
                .positions_by_ids(Scope::All, &[id])
                .await
                .expect("positions are readable")
                .pop(),
            events: events.remove(&id).expect("every requested id is a key"),
            ledger: ledger.remove(&id).expect("every requested id is a key"),
            audit_count: store
                .count_audit(Scope::All, &Default::default())
                .await
                .expect("audit is countable"),
            position_count: store
                .count_positions(Scope::All, &Default::default())
                .await
                .expect("positions are countable"),
        }
    }
}

/// Ids of a page's rows, to compare orders and memberships at a glance.
pub(crate) fn ids<T, I: Into<Uuid>>(rows: &[T], id: impl Fn(&T) -> I) -> Vec<Uuid> {
    rows.iter().map(|row| id(row).into()).collect()
}

pub(crate) fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}
