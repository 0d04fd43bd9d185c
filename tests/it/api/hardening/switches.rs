//! Introspection, field suggestions and GraphiQL: on by default, off when configured.

use super::only_error;
use crate::api::support::{TestApp, TestStore};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn with_introspection_off_schema_and_type_queries_are_refused() {
    let server = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.schema.introspection = false)
        .spawn()
        .await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Position\") { name } }",
        "query { ...F } fragment F on Query { __schema { types { name } } }",
    ] {
        let (status, body) = server.gql(query, json!({}), Some(&server.root_key)).await;
        assert!(status.as_u16() < 500, "{status}");
        let error = only_error(&body);
        assert_eq!(
            error["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{body}"
        );
        assert!(
            error["message"]
                .as_str()
                .unwrap_or_default()
                .contains("introspection"),
            "{body}"
        );
        assert!(body["data"].is_null(), "{body}");
    }
    // __typename is not introspection of the schema, and clients rely on it.
    let data = server
        .data(
            "{ __typename viewer { role } }",
            json!({}),
            &server.root_key,
        )
        .await;
    assert_eq!(data["__typename"], "Query");
}

#[tokio::test]
async fn introspection_is_on_by_default() {
    let server = TestApp::new(TestStore::memory()).spawn().await;
    let data = server
        .data(
            "{ __schema { queryType { name } } }",
            json!({}),
            &server.root_key,
        )
        .await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn with_suggestions_off_a_misspelt_field_gets_no_hint() {
    let misspelt = "{ viewr { role } }";
    let on = TestApp::new(TestStore::memory()).spawn().await;
    let (_, body) = on.gql(misspelt, json!({}), Some(&on.root_key)).await;
    assert!(
        body.to_string().contains("Did you mean"),
        "suggestions are on by default: {body}"
    );
    let off = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.schema.suggestions = false)
        .spawn()
        .await;
    let (_, body) = off.gql(misspelt, json!({}), Some(&off.root_key)).await;
    assert_eq!(
        only_error(&body)["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert!(!body.to_string().contains("Did you mean"), "{body}");
}

#[tokio::test]
async fn with_graphiql_off_a_browser_no_longer_gets_the_page_or_its_bundles() {
    let server = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.http.graphiql = false)
        .spawn()
        .await;
    let page = server
        .client
        .get(server.url("/graphql"))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("answers");
    assert_ne!(page.status(), StatusCode::OK);
    let content_type = page
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(!content_type.starts_with("text/html"), "{content_type}");
    // A real browser also accepts */*: it gets the API's 401, not the page.
    let browser = server
        .client
        .get(server.url("/graphql"))
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("answers");
    assert_eq!(browser.status(), StatusCode::UNAUTHORIZED);
    let bundle = server
        .client
        .get(server.url("/graphql/assets/graphiql.min.js"))
        .send()
        .await
        .expect("answers");
    assert_eq!(bundle.status(), StatusCode::NOT_FOUND);
}
