//! The non-GraphQL endpoints and what every response carries: health, readiness, metrics and
//! X-Request-Id.

use super::support::{StoreKind, TestApp, TestStore};
use crate::support::postgres::fresh_store;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

async fn health_and_readiness_answer_without_a_key(kind: StoreKind) {
    let Some(app) = TestApp::on(kind).await else {
        return;
    };
    let health = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("answers");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<Value>().await.expect("json"),
        json!({"status": "ok"})
    );

    let ready = app
        .client
        .get(app.url("/ready"))
        .send()
        .await
        .expect("answers");
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.expect("json"),
        json!({"status": "ready"})
    );
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_key_on_memory() {
    health_and_readiness_answer_without_a_key(StoreKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_without_a_key_on_postgres() {
    health_and_readiness_answer_without_a_key(StoreKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_makes_the_app_unready_and_institution_keys_fail_without_detail() {
    let Some(db) = fresh_store().await else {
        return;
    };
    let app = TestApp::new(TestStore::shared(Arc::clone(&db.store)))
        .spawn()
        .await;
    let institution = app
        .root(
            "mutation { createInstitution(input: {name: \"Lost\", regions: [US]}) { id } }",
            json!({}),
        )
        .await;
    let key = app
        .root(
            "mutation($id: ID!) { createApiKey(input: {institutionId: $id, label: \"k\", role: ADMIN}) { token } }",
            json!({ "id": institution["createInstitution"]["id"] }),
        )
        .await;
    let token = key["createApiKey"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    drop(db);

    let ready = app
        .client
        .get(app.url("/ready"))
        .send()
        .await
        .expect("answers");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    let (status, body) = app
        .gql("{ viewer { role } }", json!({}), Some(&token))
        .await;
    assert!(status.is_server_error(), "{status}: {body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "INTERNAL_SERVER_ERROR"
    );
    assert_eq!(body["errors"][0]["message"], "internal server error");
}

#[tokio::test]
async fn a_client_request_id_is_echoed() {
    let app = TestApp::memory().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("X-Request-Id", "trace-me-42")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn every_response_gets_a_uuid_v7_request_id() {
    let app = TestApp::memory().await;
    for path in ["/health", "/graphql", "/no-such-path"] {
        let response = app.client.get(app.url(path)).send().await.expect("answers");
        let id = response.headers()["x-request-id"].to_str().expect("ascii");
        let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
        assert_eq!(uuid.get_version_num(), 7, "{path}: {id}");
    }
}

#[tokio::test]
async fn an_unreasonable_request_id_is_replaced() {
    let app = TestApp::memory().await;
    let long = "x".repeat(500);
    let response = app
        .client
        .get(app.url("/health"))
        .header("X-Request-Id", &long)
        .send()
        .await
        .expect("answers");
    assert_ne!(response.headers()["x-request-id"], long.as_str());
}

#[tokio::test]
async fn the_request_id_reaches_the_audit_trail() {
    let app = TestApp::memory().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("X-API-Key", &app.root_key)
        .header("X-Request-Id", "audit-me-7")
        .json(&json!({
            "query": "mutation { createInstitution(input: {name: \"Traced\", regions: [US]}) { id } }"
        }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let data = app
        .root(
            "{ auditEvents(filter: {action: \"createInstitution\"}) { edges { node { requestId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["auditEvents"]["edges"][0]["node"]["requestId"],
        "audit-me-7"
    );
}

#[tokio::test]
async fn metrics_are_for_the_root_key_only() {
    let app = TestApp::memory().await;
    app.root("{ viewer { role } }", json!({})).await;

    let anonymous = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("answers");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let response = app
        .client
        .get(app.url("/metrics"))
        .header("X-API-Key", &app.root_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("text");
    assert!(
        text.contains("# TYPE escrowgrid_db_statements_total counter"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"escrowgrid_http_requests_total{method="POST",route="/graphql",status="200"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| {
            settings.cors_allow_origins = vec!["https://app.example".to_owned()];
        })
        .spawn()
        .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type,x-api-key")
            .send()
    };
    let allowed = preflight("https://app.example").await.expect("answers");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let refused = preflight("https://evil.example").await.expect("answers");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
