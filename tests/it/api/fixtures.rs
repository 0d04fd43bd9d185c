//! GraphQL-level fixtures for the black-box tests: a tenant seeded through the API, a snapshot
//! of everything stored (to prove that a refused request wrote nothing), assertions on the one
//! error of a refused request, and a macro that runs a case on both stores.

use super::support::Api;
use escrowgrid::graphql::ErrorCode;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Turns `async fn case(app: &Api)` cases into one test per case and store:
/// `memory::case` on a fresh in-memory app and `postgres::case` on a fresh database (skipped
/// loudly when PostgreSQL is unreachable and `CI` is unset).
macro_rules! on_both_stores {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let app = $crate::api::support::TestApp::memory().await;
                    super::$case(&app).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(app) = $crate::api::support::TestApp::on(
                        $crate::api::support::StoreKind::Postgres,
                    )
                    .await
                    else {
                        return;
                    };
                    super::$case(&app).await;
                }
            )+
        }
    };
}

pub(crate) use on_both_stores;

/// One institution with a key of each role and a little of everything, created through the API
/// by [`seed_tenant`]: the one tenant type of the API tests.
#[derive(Clone, Debug)]
pub(crate) struct Tenant {
    pub(crate) institution_id: String,
    pub(crate) admin_key: String,
    pub(crate) admin_key_id: String,
    pub(crate) read_only_key: String,
    pub(crate) read_only_key_id: String,
    /// CONSTR_ESCROW in US, paying out in USD, without amount bounds.
    pub(crate) template_id: String,
    pub(crate) asset_id: String,
    /// FUNDED from 1000.00 USD: version 2, two events, two ledger entries.
    pub(crate) position_id: String,
}

pub(crate) const CREATE_INSTITUTION: &str = "mutation($input: CreateInstitutionInput!) {
  createInstitution(input: $input) { id name regions verticals } }";
pub(crate) const CREATE_API_KEY: &str = "mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { token apiKey { id role revokedAt } } }";
pub(crate) const REVOKE_API_KEY: &str =
    "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }";
pub(crate) const CREATE_TEMPLATE: &str = "mutation($input: CreateAssetTemplateInput!) {
  createAssetTemplate(input: $input) { id code vertical region config } }";
pub(crate) const CREATE_ASSET: &str = "mutation($input: CreateAssetInput!) {
  createAsset(input: $input) { id label metadata } }";
pub(crate) const CREATE_POSITION: &str = "mutation($input: CreatePositionInput!) {
  createPosition(input: $input) { id state version amount releasedAmount currency } }";
pub(crate) const TRANSITION: &str = "mutation($input: TransitionPositionInput!) {
  transitionPosition(input: $input) { id state version amount releasedAmount } }";
pub(crate) const UPSERT_POLICY: &str = "mutation($input: UpsertPolicyInput!) {
  upsertPolicy(input: $input) { id region position { minAmount maxAmount allowedCurrencies } } }";

/// The `id` under `data.<field>`.
pub(crate) fn id_of(data: &Value, field: &str) -> String {
    data[field]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}.id in {data}"))
        .to_owned()
}

/// Creates an institution (regions US and EU_UK, both verticals) with the root key.
pub(crate) async fn create_institution(app: &Api, name: &str) -> String {
    let data = app
        .root(
            CREATE_INSTITUTION,
            json!({ "input": {
                "name": name,
                "regions": ["US", "EU_UK"],
                "verticals": ["CONSTRUCTION", "TRADE_FINANCE"],
            }}),
        )
        .await;
    id_of(&data, "createInstitution")
}

/// A new key of `role` for `institution_id`: (token, key id).
pub(crate) async fn create_key(app: &Api, institution_id: &str, role: &str) -> (String, String) {
    let data = app
        .root(
            CREATE_API_KEY,
            json!({ "input": {
                "institutionId": institution_id,
                "label": format!("{role} key"),
                "role": role,
            }}),
        )
        .await;
    let created = &data["createApiKey"];
    let token = created["token"].as_str().expect("a token").to_owned();
    let id = created["apiKey"]["id"]
        .as_str()
        .expect("a key id")
        .to_owned();
    (token, id)
}

/// A new USD position of `amount` on `asset_id`, created with `key`; returns it.
pub(crate) async fn create_position(app: &Api, key: &str, asset_id: &str, amount: &str) -> Value {
    let data = app
        .data(
            CREATE_POSITION,
            json!({ "input": {
                "assetId": asset_id,
                "holderReference": "holder-1",
                "currency": "USD",
                "amount": amount,
            }}),
            key,
        )
        .await;
    data["createPosition"].clone()
}

/// Moves a position, expecting success; returns it.
pub(crate) async fn transition(
    app: &Api,
    key: &str,
    position_id: &str,
    to_state: &str,
    release_amount: Option<&str>,
) -> Value {
    let data = app
        .data(
            TRANSITION,
            json!({ "input": {
                "positionId": position_id,
                "toState": to_state,
                "releaseAmount": release_amount,
            }}),
            key,
        )
        .await;
    data["transitionPosition"].clone()
}

/// An institution named `name` with ADMIN and READ_ONLY keys, a CONSTR_ESCROW template (US,
/// USD), an asset, a FUNDED position of 1000.00 and an EU_UK policy, all through the API.
pub(crate) async fn seed_tenant(app: &Api, name: &str) -> Tenant {
    let institution_id = create_institution(app, name).await;
    let (admin_key, admin_key_id) = create_key(app, &institution_id, "ADMIN").await;
    let (read_only_key, read_only_key_id) = create_key(app, &institution_id, "READ_ONLY").await;
    let template = app
        .data(
            CREATE_TEMPLATE,
            json!({ "input": {
                "code": "CONSTR_ESCROW",
                "name": format!("{name} escrow"),
                "vertical": "CONSTRUCTION",
                "region": "US",
                "config": { "currency": "USD", "region": "US" },
            }}),
            &admin_key,
        )
        .await;
    let template_id = id_of(&template, "createAssetTemplate");
    let asset = app
        .data(
            CREATE_ASSET,
            json!({ "input": {
                "templateId": template_id,
                "label": format!("{name} project"),
                "metadata": { "project": name },
            }}),
            &admin_key,
        )
        .await;
    let asset_id = id_of(&asset, "createAsset");
    let position = create_position(app, &admin_key, &asset_id, "1000.00").await;
    let position_id = position["id"].as_str().expect("a position id").to_owned();
    transition(app, &admin_key, &position_id, "FUNDED", None).await;
    app.data(
        UPSERT_POLICY,
        json!({ "input": {
            "institutionId": institution_id,
            "region": "EU_UK",
            "position": { "maxAmount": "5000000" },
        }}),
        &admin_key,
    )
    .await;
    Tenant {
        institution_id,
        admin_key,
        admin_key_id,
        read_only_key,
        read_only_key_id,
        template_id,
        asset_id,
        position_id,
    }
}

/// Everything the store holds, read with the root key: institutions with their policies and
/// keys, templates, assets, positions with their events and ledger entries, the ledger, and
/// the successful audit events. Refused attempts are audited by design (outcome FORBIDDEN or
/// UNAUTHENTICATED), so they are left out: "writes nothing" means no record changed.
pub(crate) async fn world(app: &Api) -> Value {
    let mut data = app
        .root(
            "{
  institutions(first: 500) { totalCount pageInfo { hasNextPage } edges { node {
    id name regions verticals updatedAt
    policies { id region updatedAt position { minAmount maxAmount allowedCurrencies } }
    apiKeys { id label role revokedAt } } } }
  assetTemplates(first: 500) { totalCount pageInfo { hasNextPage } edges { node {
    id name code vertical region config updatedAt institution { id } } } }
  assets(first: 500) { totalCount pageInfo { hasNextPage } edges { node {
    id label metadata updatedAt template { id } } } }
  positions(first: 500) { totalCount pageInfo { hasNextPage } edges { node {
    id state version amount releasedAmount currency holderReference externalReference updatedAt
    events { id version fromState toState releaseAmount reason }
    ledgerEvents { id kind previousState newState payload } } } }
  ledgerEvents(first: 500) { totalCount pageInfo { hasNextPage } edges { node { id } } }
  auditEvents(first: 500) { pageInfo { hasNextPage } edges { node {
    id action outcome institutionId resourceId } } }
}",
            json!({}),
        )
        .await;
    for list in [
        "institutions",
        "assetTemplates",
        "assets",
        "positions",
        "ledgerEvents",
        "auditEvents",
    ] {
        assert_eq!(
            data[list]["pageInfo"]["hasNextPage"], false,
            "the snapshot must see every {list} row"
        );
    }
    let audit = data["auditEvents"]["edges"]
        .as_array()
        .expect("audit edges")
        .iter()
        .filter(|edge| edge["node"]["outcome"] == "SUCCESS")
        .cloned()
        .collect::<Vec<_>>();
    data["auditEvents"] = Value::Array(audit);
    data
}

/// The one error of a refused request, after checking that the status is below 500, that
/// there is exactly one error and that it carries `code`.
pub(crate) fn the_error(status: StatusCode, body: &Value, code: &str) -> Value {
    assert!(
        status.as_u16() < 500,
        "a refusal must not be a server error: {status} {body}"
    );
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors, got {status} {body}"));
    assert_eq!(errors.len(), 1, "expected exactly one error: {body}");
    let error = &errors[0];
    let seen = error["extensions"]["code"].as_str().unwrap_or_default();
    assert!(
        seen.parse::<ErrorCode>().is_ok(),
        "every code a response carries is a documented ErrorCode: {status} {body}"
    );
    assert_eq!(seen, code, "expected {code}, got {status} {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error needs a message: {body}"
    );
    error.clone()
}

/// Sends `query` with `key` and returns its one error, which must carry `code`.
pub(crate) async fn expect_error(
    app: &Api,
    query: &str,
    variables: Value,
    key: &str,
    code: &str,
) -> Value {
    let (status, body) = app.gql(query, variables, Some(key)).await;
    the_error(status, &body, code)
}

/// The `field` a BAD_USER_INPUT error names in `extensions.fields[0]`, after checking the
/// shape `fields: [{field, message}]`.
pub(crate) fn named_field(error: &Value) -> &str {
    let entry = &error["extensions"]["fields"][0];
    assert!(
        entry["message"].as_str().is_some_and(|m| !m.is_empty()),
        "fields[0] needs a message: {error}"
    );
    entry["field"]
        .as_str()
        .unwrap_or_else(|| panic!("BAD_USER_INPUT must name its field: {error}"))
}

/// A UUID v7 no row has.
pub(crate) fn missing_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A JSON object nested `levels` deep (`{}` is one level).
pub(crate) fn nested_json(levels: usize) -> Value {
    let mut value = json!({});
    for _ in 1..levels {
        value = json!({ "n": value });
    }
    value
}
