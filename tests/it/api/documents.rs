//! The shared document cache: a text seen before (over HTTP or a websocket) is not parsed
//! again, a document that passed runs without the per-field checking hooks, and a warm
//! document is still held to every limit its variables can change. Hits and misses are read
//! from `/metrics`.

use super::support::{TestApp, TestStore};
use super::ws_support::WAIT;
use serde_json::{Value, json};

async fn hits_and_misses(app: &TestApp) -> (u64, u64) {
    (
        app.metric("escrowgrid_document_cache_hits_total").await,
        app.metric("escrowgrid_document_cache_misses_total").await,
    )
}

fn only_error(body: &Value) -> &Value {
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    &errors[0]
}

#[tokio::test]
async fn a_text_seen_before_is_found_parsed_and_answers_the_same() {
    let app = TestApp::new(TestStore::memory()).spawn().await;
    let query = "{ viewer { role } }";
    let before = hits_and_misses(&app).await;
    let cold = app.root(query, json!({})).await;
    let warm = app.root(query, json!({})).await;
    let after = hits_and_misses(&app).await;
    assert_eq!(cold, warm);
    assert_eq!(
        after,
        (before.0 + 1, before.1 + 1),
        "one miss, then one hit"
    );
}

#[tokio::test]
async fn refused_documents_are_refused_alike_cold_and_warm() {
    let app = TestApp::new(TestStore::memory()).spawn().await;
    for query in [
        "{ nope }",
        "{ viewer { role ",
        "{ positions(first: 1) { nodes { nope } } }",
    ] {
        let cold = app.gql(query, json!({}), Some(&app.root_key)).await;
        let warm = app.gql(query, json!({}), Some(&app.root_key)).await;
        assert_eq!(cold, warm, "{query}");
        let code = &only_error(&cold.1)["extensions"]["code"];
        assert!(
            code == "GRAPHQL_VALIDATION_FAILED" || code == "GRAPHQL_PARSE_FAILED",
            "{query}: {}",
            cold.1
        );
    }
}

/// Variables can lengthen an input list or raise a page size: a document that passed with
/// small ones is refused with large ones, however often it ran before.
#[tokio::test]
async fn a_warm_document_is_held_to_the_limits_its_variables_change() {
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| {
            settings.schema.max_input_list_length = 3;
            settings.schema.max_complexity = 100;
        })
        .spawn()
        .await;
    let lists = "query($s: [PositionState!]) { positions(filter: {states: $s}) { totalCount } }";
    let pages = "query($n: Int) { positions(first: $n) { edges { node { id } } } }";
    for _ in 0..3 {
        app.root(lists, json!({ "s": ["CREATED", "FUNDED", "RELEASED"] }))
            .await;
        app.root(pages, json!({ "n": 1 })).await;
    }
    for (query, variables, limit) in [
        (
            lists,
            json!({ "s": ["CREATED", "FUNDED", "RELEASED", "EXPIRED"] }),
            "maxInputListLength",
        ),
        (pages, json!({ "n": 60 }), "maxComplexity"),
    ] {
        let (_, body) = app.gql(query, variables, Some(&app.root_key)).await;
        let error = only_error(&body);
        assert_eq!(error["extensions"]["code"], "QUERY_TOO_COMPLEX", "{body}");
        assert_eq!(error["extensions"]["limit"], limit, "{body}");
    }
}

#[tokio::test]
async fn websockets_and_http_share_the_cache() {
    let app = TestApp::new(TestStore::memory()).spawn().await;
    let query = "query SharedAcrossTransports { viewer { role } }";
    let mut ws = app.connect_with_key(&app.root_key).await;
    ws.subscribe("1", query, json!({})).await;
    let answer = ws.receive(WAIT).await;
    assert!(format!("{answer:?}").contains("ROOT"), "{answer:?}");
    let before = hits_and_misses(&app).await;
    app.root(query, json!({})).await;
    let after = hits_and_misses(&app).await;
    assert_eq!(
        after,
        (before.0 + 1, before.1),
        "the HTTP request found it parsed"
    );
}

#[tokio::test]
async fn the_cache_keeps_at_most_its_entries_and_forgets_the_oldest_first() {
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.document_cache.max_entries = 2)
        .spawn()
        .await;
    let texts = [
        "query A { viewer { role } }",
        "query B { viewer { role } }",
        "query C { viewer { role } }",
    ];
    for text in texts {
        app.root(text, json!({})).await;
    }
    assert_eq!(app.metric("escrowgrid_document_cache_entries").await, 2);
    let before = hits_and_misses(&app).await;
    app.root(texts[2], json!({})).await;
    app.root(texts[0], json!({})).await;
    let after = hits_and_misses(&app).await;
    assert_eq!(
        after,
        (before.0 + 1, before.1 + 1),
        "C was kept, A was forgotten"
    );
}

/// A warm document skips validation's rules when its variables' values fit their declared
/// types (`variable_types::VariableTypes::all_fit`); values that do not (validated again on the
/// fast schema) are refused exactly as on a cold cache, where validation sees them first.
#[tokio::test]
async fn a_warm_document_refuses_variable_values_of_the_wrong_type_as_a_cold_one_does() {
    let warm = TestApp::new(TestStore::memory()).spawn().await;
    let by_id = "query($id: ID!) { position(id: $id) { id } }";
    let by_reference = "query($reference: String) { positions(filter: { holderReference: $reference }) { totalCount } }";
    // A list of enum values.
    let by_states = "query($states: [PositionState!]) { positions(filter: { states: $states }) { totalCount } }";
    // An input object: checked field by field against the schema's own input types.
    let by_filter = "query($filter: PositionFilter) { positions(filter: $filter) { totalCount } }";
    let good = [
        (
            by_id,
            json!({ "id": "0190d0c2-8f5e-7a3c-9b1d-2e4f6a8b0c1d" }),
        ),
        (by_reference, json!({ "reference": "H-1" })),
        (by_states, json!({ "states": ["FUNDED"] })),
        (
            by_filter,
            json!({ "filter": { "states": ["FUNDED"], "currency": null } }),
        ),
    ];
    for (query, variables) in &good {
        for _ in 0..2 {
            let (status, body) = warm
                .gql(query, variables.clone(), Some(&warm.root_key))
                .await;
            assert!(
                status.is_success() && body.get("errors").is_none(),
                "{body}"
            );
        }
    }
    let bad = [
        (by_id, json!({ "id": true })),
        (by_id, json!({ "id": 1.5 })),
        (by_id, json!({ "id": null })),
        (by_id, json!({ "id": { "a": 1 } })),
        (by_reference, json!({ "reference": 5 })),
        (by_reference, json!({ "reference": ["H-1"] })),
        (by_states, json!({ "states": ["NOPE"] })),
        (by_states, json!({ "states": [5] })),
        (by_filter, json!({ "filter": { "states": ["NOPE"] } })),
        (by_filter, json!({ "filter": { "state": ["FUNDED"] } })),
        (by_filter, json!({ "filter": { "holderReference": 5 } })),
        (by_filter, json!({ "filter": { "states": [null] } })),
        (by_filter, json!({ "filter": "FUNDED" })),
        (by_filter, json!({ "filter": [{ "currency": "USD" }] })),
    ];
    for (query, variables) in bad {
        let cold = TestApp::new(TestStore::memory()).spawn().await;
        let expected = cold
            .gql(query, variables.clone(), Some(&cold.root_key))
            .await;
        let got = warm
            .gql(query, variables.clone(), Some(&warm.root_key))
            .await;
        let code = &only_error(&expected.1)["extensions"]["code"];
        assert!(
            code == "GRAPHQL_VALIDATION_FAILED" || code == "BAD_USER_INPUT",
            "{variables}: {}",
            expected.1
        );
        assert_eq!(got, expected, "{query} with {variables}");
    }
}
