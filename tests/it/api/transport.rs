//! GraphQL over HTTP as clients meet it: authentication, media types, status codes and the
//! error shape, beyond what the graphql-http audit checks.

use super::support::{TestApp, only_error_code};
use reqwest::StatusCode;
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");
const GRAPHQL_RESPONSE: (&str, &str) = ("accept", "application/graphql-response+json");

#[tokio::test]
async fn a_request_without_a_key_is_401_with_one_unauthenticated_error() {
    let app = TestApp::memory().await;
    let (status, body) = app.gql("{ viewer { role } }", json!({}), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(only_error_code(&body), "UNAUTHENTICATED");
    assert!(body.get("data").is_none(), "{body}");
}

#[tokio::test]
async fn a_refused_request_is_audited_with_its_request_id() {
    let app = TestApp::memory().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("X-API-Key", "egk_guessing")
        .header("X-Request-Id", "refused-1")
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let data = app
        .root(
            "{ auditEvents(filter: {action: \"graphql\"}) { edges { node { outcome requestId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["auditEvents"]["edges"][0]["node"],
        json!({ "outcome": "UNAUTHENTICATED", "requestId": "refused-1" })
    );
}

#[tokio::test]
async fn an_unknown_key_is_401_in_the_accepted_media_type() {
    let app = TestApp::memory().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("Authorization", "Bearer egk_not-a-real-key")
        .header(GRAPHQL_RESPONSE.0, GRAPHQL_RESPONSE.1)
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/graphql-response+json")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(only_error_code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_bearer_token_authenticates_like_x_api_key() {
    let app = TestApp::memory().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.root_key)
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["viewer"]["role"], "ROOT");
}

#[tokio::test]
async fn a_revoked_key_is_refused_from_the_next_request_on() {
    let app = TestApp::memory().await;
    let institution = app
        .root(
            "mutation { createInstitution(input: {name: \"Revokers\", regions: [US]}) { id } }",
            json!({}),
        )
        .await["createInstitution"]["id"]
        .clone();
    let created = app
        .root(
            "mutation($id: ID!) { createApiKey(input: {institutionId: $id, label: \"temp\", role: READ_ONLY}) { token apiKey { id } } }",
            json!({ "id": institution }),
        )
        .await;
    let token = created["createApiKey"]["token"].as_str().expect("a token");
    let key_id = created["createApiKey"]["apiKey"]["id"].clone();
    let viewer = app.data("{ viewer { role } }", json!({}), token).await;
    assert_eq!(viewer["viewer"]["role"], "READ_ONLY");

    app.root(
        "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
        json!({ "id": key_id }),
    )
    .await;
    let (status, body) = app.gql("{ viewer { role } }", json!({}), Some(token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(only_error_code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::memory().await;
    let response = app
        .post_raw(
            &[("content-type", "text/plain")],
            r#"{"query":"{ __typename }"}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(only_error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::memory().await;
    let response = app.post_raw(&[JSON], r#"{ "not a JSON"#).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(only_error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn wrongly_typed_parameters_are_400_naming_the_parameter() {
    let app = TestApp::memory().await;
    let response = app
        .post_raw(&[JSON], r#"{"query":"{ __typename }","variables":"nope"}"#)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["fields"][0]["field"],
        "variables"
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413() {
    let app = TestApp::memory().await;
    let padding = " ".repeat(1024 * 1024 + 1);
    let response = app
        .post_raw(
            &[JSON],
            &format!(r#"{{"query":"{{ __typename }}"{padding}}}"#),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn an_unacceptable_accept_header_is_406() {
    let app = TestApp::memory().await;
    let response = app
        .post_raw(
            &[JSON, ("accept", "text/csv")],
            r#"{"query":"{ __typename }"}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn a_mutation_over_get_is_405_allowing_post() {
    let app = TestApp::memory().await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            "mutation { createInstitution(input: {name: \"G\", regions: [US]}) { id } }",
        )])
        .header("X-API-Key", &app.root_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let institutions = app.root("{ institutions { totalCount } }", json!({})).await;
    assert_eq!(institutions["institutions"]["totalCount"], 0);
}

#[tokio::test]
async fn a_query_over_get_runs() {
    let app = TestApp::memory().await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", "query Who { viewer { role } }"),
            ("operationName", "Who"),
        ])
        .header("X-API-Key", &app.root_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["viewer"]["role"], "ROOT");
}

#[tokio::test]
async fn a_parse_error_is_400_without_data_under_graphql_response_json() {
    let app = TestApp::memory().await;
    let response = app
        .post_raw(&[JSON, GRAPHQL_RESPONSE], r#"{"query":"{"}"#)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(only_error_code(&body), "GRAPHQL_PARSE_FAILED");
}

#[tokio::test]
async fn a_validation_error_is_200_with_null_data_under_application_json() {
    let app = TestApp::memory().await;
    let response = app
        .post_raw(
            &[JSON, ("accept", "application/json")],
            r#"{"query":"{ noSuchField }"}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
}

#[tokio::test]
async fn a_missing_required_variable_is_a_request_error_naming_it() {
    let app = TestApp::memory().await;
    let response = app
        .post_raw(
            &[JSON, GRAPHQL_RESPONSE],
            r#"{"query":"query P($id: ID!) { position(id: $id) { id } }"}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(only_error_code(&body), "BAD_USER_INPUT");
    assert_eq!(
        body["errors"][0]["extensions"]["fields"][0]["field"],
        "variables.id"
    );
}

#[tokio::test]
async fn an_unknown_operation_name_is_bad_user_input() {
    let app = TestApp::memory().await;
    let response = app
        .post_raw(
            &[JSON],
            r#"{"query":"query A { __typename }","operationName":"B"}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["fields"][0]["field"],
        "operationName"
    );
}

#[tokio::test]
async fn a_batch_answers_each_operation_in_order() {
    let app = TestApp::memory().await;
    let response = app
        .post_raw(
            &[JSON],
            r#"[{"query":"{ viewer { role } }"},{"query":"{ nope }"},{"query":"{ __typename }"}]"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body[0]["data"]["viewer"]["role"], "ROOT");
    assert_eq!(
        body[1]["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert_eq!(body[2]["data"]["__typename"], "Query");
}
