//! Every query limit follows its setting; JSON values keep their own rules.

use super::{institution_admin, only_error};
use crate::api::support::{TestApp, TestStore};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Each limit at a small configured value, refused as QUERY_TOO_COMPLEX naming it (or 413).
#[tokio::test]
async fn every_query_limit_follows_its_setting() {
    let server = TestApp::new(TestStore::memory())
        .with_config(|settings| {
            settings.schema.max_depth = 3;
            settings.schema.max_aliases = 2;
            settings.schema.max_root_fields = 2;
            settings.schema.max_tokens = 60;
            settings.schema.max_input_list_length = 3;
            settings.schema.max_complexity = 100;
            settings.http.max_batch_size = 2;
            settings.http.max_body_bytes = 4096;
        })
        .spawn()
        .await;
    let root = server.root_key.clone();
    for (query, limit) in [
        (
            "{ a { b { c { d { e { f { g { h } } } } } } } }",
            "maxDepth",
        ),
        // Within the text scan's allowance, so the validator's depth check refuses it.
        (
            "{ viewer { institution { assetTemplates(first: 1) { totalCount } } } }",
            "maxDepth",
        ),
        (
            "{ a: viewer { role } b: viewer { role } c: viewer { role } }",
            "maxAliases",
        ),
        (
            "{ viewer { role } institutions { totalCount } positions { totalCount } }",
            "maxRootFields",
        ),
        (
            &format!("{{ viewer {{ {} }} }}", "role ".repeat(60)),
            "maxTokens",
        ),
        (
            "{ positions(filter: {states: [CREATED, FUNDED, RELEASED, EXPIRED]}) { totalCount } }",
            "maxInputListLength",
        ),
        (
            "{ positions(first: 60) { edges { node { id } } } }",
            "maxComplexity",
        ),
        ("{ positions(first: 200) { totalCount } }", "maxComplexity"),
    ] {
        let (status, body) = server.gql(query, json!({}), Some(&root)).await;
        assert!(status.as_u16() < 500, "{status}");
        let error = only_error(&body);
        assert_eq!(
            error["extensions"]["code"], "QUERY_TOO_COMPLEX",
            "{query}: {body}"
        );
        assert_eq!(error["extensions"]["limit"], limit, "{query}: {body}");
    }
    // Within the limits, the same shapes run.
    server
        .data("query($s: [PositionState!]) { a: viewer { role } positions(filter: {states: $s}) { totalCount } }", json!({ "s": ["CREATED", "FUNDED", "RELEASED"] }), &root)
        .await;
    let (_, body) = server
        .gql(
            "query($s: [PositionState!]) { positions(filter: {states: $s}) { totalCount } }",
            json!({ "s": ["CREATED", "FUNDED", "RELEASED", "EXPIRED"] }),
            Some(&root),
        )
        .await;
    assert_eq!(
        only_error(&body)["extensions"]["limit"],
        "maxInputListLength"
    );

    let operation = json!({ "query": "{ viewer { role } }" });
    let (status, _, body) = server
        .post_json(Some(&root), &Value::Array(vec![operation.clone(); 3]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error = only_error(&body);
    assert_eq!(error["extensions"]["code"], "QUERY_TOO_COMPLEX");
    assert_eq!(error["extensions"]["limit"], "maxBatchSize");
    assert_eq!(error["extensions"]["max"], 2);
    let (status, _, _) = server
        .post_json(Some(&root), &Value::Array(vec![operation; 2]))
        .await;
    assert_eq!(status, StatusCode::OK);

    let padded =
        json!({ "query": "{ viewer { role } }", "variables": { "pad": "x".repeat(5000) } });
    let (status, _, body) = server.post_json(Some(&root), &padded).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

/// A JSON value is not a GraphQL list: metadata keeps the contract's own limits (64 KiB).
#[tokio::test]
async fn arrays_inside_json_values_are_not_held_to_the_list_limit() {
    let server = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.schema.max_input_list_length = 3)
        .spawn()
        .await;
    let (institution, _) = institution_admin(&server).await;
    let root = server.root_key.clone();
    let template = server
        .data("mutation($id: ID!) { createAssetTemplate(input: {institutionId: $id, code: CONSTR_ESCROW, name: \"E\", vertical: CONSTRUCTION, region: US, config: {currency: \"USD\", region: \"US\"}}) { id } }", json!({ "id": institution }), &root)
        .await["createAssetTemplate"]["id"]
        .clone();
    let data = server
        .data(
            "mutation($input: CreateAssetInput!) { createAsset(input: $input) { metadata } }",
            json!({ "input": {
                "institutionId": institution,
                "templateId": template,
                "label": "Listed",
                "metadata": { "milestones": (1..=50).collect::<Vec<_>>() },
            }}),
            &root,
        )
        .await;
    assert_eq!(data["createAsset"]["metadata"]["milestones"][49], 50);
}
