//! To-one fields whose selection is only `id` (or `__typename`) are answered from the row's
//! foreign key, without a load; any other selection still loads the row, fragments included.
//! Measured with `escrowgrid_db_statements_total` (statements on PostgreSQL, repository calls
//! on the memory store).

use super::batching::{settle, statements};
use super::support::{TestApp, TestStore};
use crate::support::postgres::fresh_store;
use crate::support::{Tenant, memory_store};
use escrowgrid::ports::Store;
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::test]
async fn identity_only_to_one_fields_cost_no_load_on_memory() {
    identity_only_to_one_fields_cost_no_load(memory_store()).await;
}

#[tokio::test]
async fn identity_only_to_one_fields_cost_no_load_on_postgres() {
    let Some(db) = fresh_store().await else {
        return;
    };
    identity_only_to_one_fields_cost_no_load(Arc::clone(&db.store)).await;
}

/// The statements `query` costs, and its data.
async fn cost(app: &TestApp, query: &str, variables: Value) -> (u64, Value) {
    let before = statements(app).await;
    let data = app.root(query, variables).await;
    (statements(app).await - before, data)
}

async fn identity_only_to_one_fields_cost_no_load(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "Acme Bank").await;
    let position = tenant.open(&store, "250.00").await;
    let app = TestApp::new(TestStore::shared(store)).spawn().await;
    settle(&app).await;
    let vars = json!({ "id": position.id.0.to_string() });
    let institution = tenant.id().0.to_string();
    let asset = tenant.asset.id.0.to_string();

    let (spent, data) = cost(
        &app,
        "query($id: ID!) { position(id: $id) { id holderReference \
         institution { id __typename } asset { theId: id } } }",
        vars.clone(),
    )
    .await;
    assert_eq!(data["position"]["institution"]["id"], institution.as_str());
    assert_eq!(data["position"]["institution"]["__typename"], "Institution");
    assert_eq!(data["position"]["asset"]["theId"], asset.as_str());
    assert_eq!(spent, 1, "only the position is loaded: {data}");

    let (spent, data) = cost(
        &app,
        "query($id: ID!) { position(id: $id) { institution { id name } } }",
        vars.clone(),
    )
    .await;
    assert_eq!(data["position"]["institution"]["name"], "Acme Bank");
    assert_eq!(spent, 2, "a field beyond the id loads the institution");

    // A fragment's fields count as selected.
    let (spent, data) = cost(
        &app,
        "query($id: ID!) { position(id: $id) { asset { ...Named } } } \
         fragment Named on Asset { id label }",
        vars.clone(),
    )
    .await;
    assert_eq!(
        data["position"]["asset"]["label"],
        tenant.asset.label.as_str()
    );
    assert_eq!(spent, 2, "the fragment's label loads the asset");

    // A pointed-at asset that is asked for its own pointer loads itself, not its template.
    let (spent, data) = cost(
        &app,
        "query($id: ID!) { position(id: $id) { asset { template { id } } } }",
        vars,
    )
    .await;
    assert_eq!(
        data["position"]["asset"]["template"]["id"],
        tenant.template.id.0.to_string().as_str()
    );
    assert_eq!(spent, 2, "position and asset, no template");
}
