//! `Mutation`: turns inputs into domain values (naming the field on failure) and calls the
//! use cases, which authorize, validate the rules and write atomically with an audit event.

use super::context::{request_context, services};
use super::error::{GqlResult, OrGraphqlError as _, bad_input};
use super::scalars::{DecimalText, Json, NOT_A_DECIMAL, parse_id};
use super::types::*;
use crate::domain::{Amount, BoundedText, Currency, DomainError, Reason};
use crate::service;
use async_graphql::{Context, ID, InputObject, Object};

fn amount(value: &DecimalText, field: &str) -> GqlResult<Amount> {
    if value.0.starts_with(NOT_A_DECIMAL) {
        return Err(bad_input(
            field,
            "must be a decimal string such as \"100.50\" or an integer; floats lose precision",
        ));
    }
    Amount::parse_str(&value.0, field).map_err(|error| match error {
        DomainError::InvalidInput { field, message } => bad_input(&field, &message),
        other => bad_input(field, &other.to_string()),
    })
}

/// Bounded text (a name, label or reference) naming `field` when it breaks the limits.
fn text(value: String, field: &str) -> GqlResult<BoundedText> {
    BoundedText::parse(value, field).gql()
}

fn optional_text(value: Option<String>, field: &str) -> GqlResult<Option<BoundedText>> {
    value.map(|value| text(value, field)).transpose()
}

fn optional_id<T: From<uuid::Uuid>>(id: Option<&ID>, field: &str) -> GqlResult<Option<T>> {
    id.map(|id| parse_id(id, field)).transpose()
}

/// A new institution.
#[derive(InputObject)]
pub(crate) struct CreateInstitutionInput {
    /// Display name, 1..255 characters.
    name: String,
    /// At least one region.
    regions: Vec<Region>,
    /// Verticals; when given, templates must use one of them.
    verticals: Option<Vec<Vertical>>,
}

/// A new API key for an institution.
#[derive(InputObject)]
pub(crate) struct CreateApiKeyInput {
    institution_id: ID,
    /// What the key is for, 1..255 characters.
    label: String,
    role: ApiKeyRole,
}

/// A new asset template.
#[derive(InputObject)]
pub(crate) struct CreateAssetTemplateInput {
    /// Required with the root key; institution keys may omit it or give their own.
    institution_id: Option<ID>,
    code: TemplateCode,
    /// 1..255 characters.
    name: String,
    /// Must match the code (CONSTR_* ↔ CONSTRUCTION, TF_* ↔ TRADE_FINANCE).
    vertical: Vertical,
    /// One of the institution's regions.
    region: Region,
    /// The code's configuration object (see `TemplateCode`).
    config: Json,
}

/// A new asset under a template.
#[derive(InputObject)]
pub(crate) struct CreateAssetInput {
    /// Required with the root key; institution keys may omit it or give their own.
    institution_id: Option<ID>,
    template_id: ID,
    /// 1..255 characters.
    label: String,
    /// A JSON object, at most 64 KiB and 10 levels deep.
    metadata: Option<Json>,
}

/// A new position on an asset.
#[derive(InputObject)]
pub(crate) struct CreatePositionInput {
    /// Required with the root key; institution keys may omit it or give their own.
    institution_id: Option<ID>,
    asset_id: ID,
    /// 1..255 characters.
    holder_reference: String,
    /// ISO 4217 code equal to the template's `config.currency`.
    currency: String,
    /// 0 < amount <= 10^15, at most 8 decimal places.
    amount: DecimalText,
    /// 1..255 characters.
    external_reference: Option<String>,
    /// Repeating the request with the same key returns the first result and writes nothing.
    idempotency_key: Option<String>,
}

/// A lifecycle step for a position.
#[derive(InputObject)]
pub(crate) struct TransitionPositionInput {
    position_id: ID,
    to_state: PositionState,
    /// At most 1000 characters.
    reason: Option<String>,
    /// A JSON object, at most 64 KiB and 10 levels deep.
    metadata: Option<Json>,
    /// Required for PARTIALLY_RELEASED (> 0, leaving some amount unreleased); not allowed otherwise.
    release_amount: Option<DecimalText>,
    /// Fail with CONFLICT unless the position is at this version.
    expected_version: Option<i32>,
    /// Repeating the request with the same key returns the first result and writes nothing.
    idempotency_key: Option<String>,
}

/// Bounds on new positions.
#[derive(InputObject)]
pub(crate) struct PolicyPositionRulesInput {
    min_amount: Option<DecimalText>,
    max_amount: Option<DecimalText>,
    /// ISO 4217 codes; null allows any.
    allowed_currencies: Option<Vec<String>>,
}

/// An institution's policy for one region; replaces the existing one.
#[derive(InputObject)]
pub(crate) struct UpsertPolicyInput {
    institution_id: ID,
    region: Region,
    position: PolicyPositionRulesInput,
}

#[derive(Default)]
pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Creates an institution. Root key only.
    async fn create_institution(
        &self,
        ctx: &Context<'_>,
        input: CreateInstitutionInput,
    ) -> GqlResult<InstitutionNode> {
        let request = service::CreateInstitutionInput {
            name: text(input.name, "input.name")?,
            regions: input.regions.into_iter().map(Into::into).collect(),
            verticals: input
                .verticals
                .map(|v| v.into_iter().map(Into::into).collect()),
        };
        let created = services(ctx)?
            .create_institution(request_context(ctx)?, request)
            .await
            .gql()?;
        Ok(InstitutionNode::from(created))
    }

    /// Issues an API key; the token in the result is shown only this once.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> GqlResult<CreatedApiKeyNode> {
        let request = service::CreateApiKeyInput {
            institution_id: parse_id(&input.institution_id, "input.institutionId")?,
            label: text(input.label, "input.label")?,
            role: input.role.into(),
        };
        let created = services(ctx)?
            .create_api_key(request_context(ctx)?, request)
            .await
            .gql()?;
        Ok(CreatedApiKeyNode(created))
    }

    /// Revokes an API key; it fails from the next request on.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ApiKeyNode> {
        let id = parse_id(&id, "id")?;
        let revoked = services(ctx)?
            .revoke_api_key(request_context(ctx)?, id)
            .await
            .gql()?;
        Ok(ApiKeyNode(revoked))
    }

    /// Defines an asset template.
    async fn create_asset_template(
        &self,
        ctx: &Context<'_>,
        input: CreateAssetTemplateInput,
    ) -> GqlResult<AssetTemplateNode> {
        let request = service::CreateTemplateInput {
            institution_id: optional_id(input.institution_id.as_ref(), "input.institutionId")?,
            code: input.code.into(),
            name: text(input.name, "input.name")?,
            vertical: input.vertical.into(),
            region: input.region.into(),
            config: input.config.0,
        };
        let created = services(ctx)?
            .create_asset_template(request_context(ctx)?, request)
            .await
            .gql()?;
        Ok(AssetTemplateNode::from(created))
    }

    /// Creates an asset under a template.
    async fn create_asset(
        &self,
        ctx: &Context<'_>,
        input: CreateAssetInput,
    ) -> GqlResult<AssetNode> {
        let request = service::CreateAssetInput {
            institution_id: optional_id(input.institution_id.as_ref(), "input.institutionId")?,
            template_id: parse_id(&input.template_id, "input.templateId")?,
            label: text(input.label, "input.label")?,
            metadata: input.metadata.map(|json| json.0),
        };
        let created = services(ctx)?
            .create_asset(request_context(ctx)?, request)
            .await
            .gql()?;
        Ok(AssetNode::from(created))
    }

    /// Opens a position (state CREATED, version 1).
    async fn create_position(
        &self,
        ctx: &Context<'_>,
        input: CreatePositionInput,
    ) -> GqlResult<PositionNode> {
        let request = service::CreatePositionInput {
            institution_id: optional_id(input.institution_id.as_ref(), "input.institutionId")?,
            asset_id: parse_id(&input.asset_id, "input.assetId")?,
            // Evaluated in this order, so errors come in the order they always have.
            amount: amount(&input.amount, "input.amount")?,
            holder_reference: text(input.holder_reference, "input.holderReference")?,
            currency: Currency::parse(&input.currency, "input.currency").gql()?,
            external_reference: optional_text(input.external_reference, "input.externalReference")?,
            idempotency_key: optional_text(input.idempotency_key, "input.idempotencyKey")?,
        };
        let written = services(ctx)?
            .create_position(request_context(ctx)?, request)
            .await
            .gql()?;
        Ok(PositionNode(written.position))
    }

    /// Moves a position through its lifecycle.
    async fn transition_position(
        &self,
        ctx: &Context<'_>,
        input: TransitionPositionInput,
    ) -> GqlResult<PositionNode> {
        let request = service::TransitionPositionInput {
            position_id: parse_id(&input.position_id, "input.positionId")?,
            to_state: input.to_state.into(),
            release_amount: input
                .release_amount
                .as_ref()
                .map(|value| amount(value, "input.releaseAmount"))
                .transpose()?,
            reason: input
                .reason
                .map(|reason| Reason::parse(reason, "input.reason"))
                .transpose()
                .gql()?,
            metadata: input.metadata.map(|json| json.0),
            expected_version: input.expected_version,
            idempotency_key: optional_text(input.idempotency_key, "input.idempotencyKey")?,
        };
        let written = services(ctx)?
            .transition_position(request_context(ctx)?, request)
            .await
            .gql()?;
        Ok(PositionNode(written.position))
    }

    /// Sets an institution's position policy for a region.
    async fn upsert_policy(
        &self,
        ctx: &Context<'_>,
        input: UpsertPolicyInput,
    ) -> GqlResult<PolicyNode> {
        let rules = input.position;
        let request = service::UpsertPolicyInput {
            institution_id: parse_id(&input.institution_id, "input.institutionId")?,
            region: input.region.into(),
            min_amount: rules
                .min_amount
                .as_ref()
                .map(|value| amount(value, "input.position.minAmount"))
                .transpose()?,
            max_amount: rules
                .max_amount
                .as_ref()
                .map(|value| amount(value, "input.position.maxAmount"))
                .transpose()?,
            allowed_currencies: rules
                .allowed_currencies
                .map(|codes| {
                    codes
                        .iter()
                        .enumerate()
                        .map(|(i, code)| {
                            Currency::parse(code, &format!("input.position.allowedCurrencies[{i}]"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
                .gql()?,
        };
        let stored = services(ctx)?
            .upsert_policy(request_context(ctx)?, request)
            .await
            .gql()?;
        Ok(PolicyNode(stored))
    }
}
