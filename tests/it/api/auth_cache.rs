//! Institution keys are looked up once, then served from the authentication cache until
//! revoked: a revocation on the same instance takes effect on the very next request (the
//! cross-instance case is in `cross_instance`). Costs are read from
//! `escrowgrid_db_statements_total` (repository calls on the memory store, which has no
//! background reader).

use super::batching::statements;
use super::fixtures::seed_tenant;
use super::support::{TestApp, TestStore};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const VIEWER: &str = "{ viewer { role } }";

async fn app_with_ttl(ttl: Duration) -> TestApp {
    TestApp::new(TestStore::memory())
        .with_config(|settings| settings.key_cache.ttl = ttl)
        .spawn()
        .await
}

/// Statements one `{ viewer }` request with `key` costs, after it answered 200.
async fn cost_of_a_request(app: &TestApp, key: &str) -> u64 {
    let before = statements(app).await;
    let (status, body) = app.gql(VIEWER, json!({}), Some(key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["viewer"]["role"], "ADMIN", "{body}");
    statements(app).await - before
}

#[tokio::test]
async fn a_key_seen_before_costs_no_lookup() {
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    let (fresh_key, _) = api.create_key(&tenant.institution_id, "ADMIN").await;
    assert_eq!(
        cost_of_a_request(&app, &fresh_key).await,
        1,
        "the first request looks its key up"
    );
    assert_eq!(cost_of_a_request(&app, &fresh_key).await, 0);
}

#[tokio::test]
async fn with_the_cache_off_every_request_looks_its_key_up() {
    let app = app_with_ttl(Duration::ZERO).await;
    let tenant = seed_tenant(&app.api(), "Acme Bank").await;
    cost_of_a_request(&app, &tenant.admin_key).await;
    assert_eq!(cost_of_a_request(&app, &tenant.admin_key).await, 1);
}

#[tokio::test]
async fn a_revoked_key_is_refused_on_the_next_request_however_long_it_was_cached_for() {
    let app = app_with_ttl(Duration::from_secs(3600)).await;
    let api = app.api();
    let tenant = seed_tenant(&api, "Acme Bank").await;
    cost_of_a_request(&app, &tenant.admin_key).await;
    assert_eq!(
        cost_of_a_request(&app, &tenant.admin_key).await,
        0,
        "served from the cache"
    );
    api.revoke_key(&tenant.admin_key_id).await;
    let (status, body) = app.gql(VIEWER, json!({}), Some(&tenant.admin_key)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}
