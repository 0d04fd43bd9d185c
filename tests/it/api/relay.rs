//! Relay global object identification: every type with an `id` is a `Node`, and `node(id)` /
//! `nodes(ids)` refetch any mix of them in one statement, under the caller's tenancy.

use super::batching::{settle, statements};
use super::fixtures::{expect_error, missing_id, named_field, on_both_stores, seed_tenant};
use super::node_clients::{NodeClients, json_report};
use super::support::TestApp;
use serde_json::{Value, json};

on_both_stores!(
    nodes_refetches_every_kind_in_order_in_one_statement,
    node_refetches_one_object_as_its_own_field_would,
    another_institutions_ids_are_null_as_missing_ones_are,
    ids_that_are_not_uuids_are_bad_user_input_and_too_many_too_complex,
);

/// Every `Node` type with a field only it has, so the answer shows which type came back.
const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
  ... on Institution { name }
  ... on AssetTemplate { code }
  ... on Asset { label }
  ... on Position { amount releasedAmount state }
  ... on PositionEvent { toState }
  ... on LedgerEvent { kind }
  ... on AuditEvent { action }
  ... on ApiKey { role }
  ... on Policy { region position { maxAmount } } } }";

/// The ids of one object of each of the nine `Node` types, with the type each must be.
async fn one_of_each(app: &TestApp, key: &str) -> Vec<(String, &'static str)> {
    let tenant = seed_tenant(app, "Alpha Bank").await;
    let data = app
        .data(
            "query($id: ID!, $institution: ID!) {
               position(id: $id) { events { id } ledgerEvents { id } }
               institution(id: $institution) { policies { id } }
               auditEvents(first: 1) { nodes { id } } }",
            json!({ "id": tenant.position_id, "institution": tenant.institution_id }),
            key,
        )
        .await;
    let id = |value: &Value| value.as_str().expect("an id").to_owned();
    vec![
        (tenant.institution_id.clone(), "Institution"),
        (tenant.template_id.clone(), "AssetTemplate"),
        (tenant.asset_id.clone(), "Asset"),
        (tenant.position_id.clone(), "Position"),
        (id(&data["position"]["events"][1]["id"]), "PositionEvent"),
        (
            id(&data["position"]["ledgerEvents"][0]["id"]),
            "LedgerEvent",
        ),
        (id(&data["auditEvents"]["nodes"][0]["id"]), "AuditEvent"),
        (tenant.admin_key_id.clone(), "ApiKey"),
        (id(&data["institution"]["policies"][0]["id"]), "Policy"),
    ]
}

async fn nodes_refetches_every_kind_in_order_in_one_statement(app: &TestApp) {
    let root_key = app.root_key.clone();
    let objects = one_of_each(app, &root_key).await;
    let unknown = missing_id();
    let mut ids: Vec<&str> = objects.iter().map(|(id, _)| id.as_str()).collect();
    ids.insert(3, &unknown);
    ids.push(ids[0]);
    settle(app).await;

    let before = statements(app).await;
    let data = app.root(NODES, json!({ "ids": ids })).await;
    assert_eq!(
        statements(app).await - before,
        1,
        "nine types, one statement: {data}"
    );
    let nodes = data["nodes"].as_array().expect("a list");
    assert_eq!(nodes.len(), ids.len(), "one entry per id asked: {data}");
    assert_eq!(nodes[3], Value::Null, "an unknown id is null in its place");
    let answered: Vec<(String, &str)> = nodes
        .iter()
        .filter(|node| !node.is_null())
        .map(|node| {
            (
                node["id"].as_str().expect("an id").to_owned(),
                node["__typename"].as_str().expect("a type"),
            )
        })
        .collect();
    let mut expected = objects.clone();
    expected.push(objects[0].clone());
    assert_eq!(
        answered, expected,
        "each id answered by its own type, in order"
    );

    let position = &nodes[4];
    assert_eq!(
        position["amount"], "1000.00",
        "money exact, as text: {position}"
    );
    assert_eq!(position["state"], "FUNDED");
    assert_eq!(nodes[9]["position"]["maxAmount"], "5000000.00");
    assert_eq!(nodes[0]["name"], "Alpha Bank");
}

async fn node_refetches_one_object_as_its_own_field_would(app: &TestApp) {
    let tenant = seed_tenant(app, "Alpha Bank").await;
    let fields = "id holderReference currency amount releasedAmount state version \
                  institution { id name } asset { id label } events { id toState }";
    let direct = app
        .root(
            &format!("query($id: ID!) {{ position(id: $id) {{ {fields} }} }}"),
            json!({ "id": tenant.position_id }),
        )
        .await;
    let refetched = app
        .root(
            &format!("query($id: ID!) {{ node(id: $id) {{ ... on Position {{ {fields} }} }} }}"),
            json!({ "id": tenant.position_id }),
        )
        .await;
    assert_eq!(refetched["node"], direct["position"]);

    let data = app
        .root(
            "query($id: ID!) { node(id: $id) { __typename id } }",
            json!({ "id": missing_id() }),
        )
        .await;
    assert_eq!(data["node"], Value::Null);
}

async fn another_institutions_ids_are_null_as_missing_ones_are(app: &TestApp) {
    let root_key = app.root_key.clone();
    let objects = one_of_each(app, &root_key).await;
    let other = seed_tenant(app, "Beta Bank").await;
    let ids: Vec<&str> = objects.iter().map(|(id, _)| id.as_str()).collect();

    for key in [&other.admin_key, &other.read_only_key] {
        let data = app.data(NODES, json!({ "ids": ids }), key).await;
        assert_eq!(
            data["nodes"],
            json!(vec![Value::Null; ids.len()]),
            "none of Alpha's objects exist for Beta"
        );
        let data = app
            .data(
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": objects[3].0 }),
                key,
            )
            .await;
        assert_eq!(data["node"], Value::Null);
        let own = app
            .data(
                "query($id: ID!) { node(id: $id) { ... on Position { state } } }",
                json!({ "id": other.position_id }),
                key,
            )
            .await;
        assert_eq!(
            own["node"]["state"], "FUNDED",
            "its own objects still answer"
        );
    }
}

async fn ids_that_are_not_uuids_are_bad_user_input_and_too_many_too_complex(app: &TestApp) {
    let root_key = app.root_key.clone();
    let error = expect_error(
        app,
        "{ node(id: \"position-1\") { id } }",
        json!({}),
        &root_key,
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(named_field(&error), "id");
    let error = expect_error(
        app,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        json!({ "ids": [missing_id(), "nope"] }),
        &root_key,
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(named_field(&error), "ids");
    let too_many: Vec<String> = (0..201).map(|_| missing_id()).collect();
    let error = expect_error(
        app,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        json!({ "ids": too_many }),
        &root_key,
        "QUERY_TOO_COMPLEX",
    )
    .await;
    assert_eq!(error["extensions"]["limit"], "maxInputListLength");
}

/// Apollo Client, as a Relay-style frontend uses it: a screen's position, asset and
/// institution refetched by id through `node` in one request after another client changed
/// the position, and the normalized cache (told by `possibleTypes` which types are a `Node`)
/// updated in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apollo_client_refetches_a_position_an_asset_and_an_institution_by_node_id() {
    let Some(node) = NodeClients::find(
        "the Apollo Client Relay refetch test",
        &["@apollo/client", "rxjs", "graphql"],
    ) else {
        return;
    };
    let app = TestApp::memory().await;
    let tenant = seed_tenant(&app, "Alpha Bank").await;
    let mut apollo = node.command("apollo-relay-refetch.mjs");
    apollo
        .args([
            app.url("/graphql"),
            tenant.position_id.clone(),
            tenant.asset_id.clone(),
            tenant.institution_id.clone(),
        ])
        .env("ESCROWGRID_API_KEY", &tenant.admin_key);
    let report = json_report(apollo, "Apollo Client").await;
    assert_eq!(report["before"]["state"], "FUNDED", "{report}");
    assert_eq!(report["refetchRequests"], 1, "three objects, one request");
    let refetched = &report["refetched"];
    assert_eq!(refetched["position"]["__typename"], "Position");
    assert_eq!(refetched["position"]["id"], tenant.position_id.as_str());
    assert_eq!(refetched["position"]["state"], "RELEASED");
    assert_eq!(refetched["position"]["releasedAmount"], "1000.00");
    assert_eq!(refetched["asset"]["__typename"], "Asset");
    assert_eq!(refetched["asset"]["label"], "Alpha Bank project");
    assert_eq!(refetched["institution"]["__typename"], "Institution");
    assert_eq!(refetched["institution"]["name"], "Alpha Bank");
    assert_eq!(
        report["cached"]["state"], "RELEASED",
        "the refetch updated the screen's cached position: {report}"
    );
    assert_eq!(report["cached"]["releasedAmount"], "1000.00");
}
