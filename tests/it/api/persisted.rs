//! Persisted documents: automatic persisted queries (a hash the server does not know misses,
//! the text sent with it registers, the hash alone then runs) over POST, GET and websockets,
//! and the trusted-documents mode that refuses every document outside its manifest. Counts
//! are read from `/metrics`.

use super::node_clients::{NodeClients, json_report};
use super::support::{TestApp, TestStore};
use super::ws_support::{Received, WAIT};
use escrowgrid::graphql::{PersistedSettings, TrustedDocuments};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;

const VIEWER: &str = "query Viewer { viewer { role } }";
const OTHER: &str = "query Other { viewer { institution { id } } }";

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

fn only_error(body: &Value) -> &Value {
    let errors = body["errors"].as_array().expect("an errors list");
    assert_eq!(errors.len(), 1, "{body}");
    &errors[0]
}

async fn get(app: &TestApp, params: &[(&str, String)]) -> (StatusCode, Value) {
    let (status, _, body) = get_with_headers(app, params).await;
    (status, body)
}

async fn get_with_headers(
    app: &TestApp,
    params: &[(&str, String)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("X-API-Key", &app.root_key)
        .header("Accept", "application/graphql-response+json")
        .query(params)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("a JSON body"))
}

fn trusted_only(exempt_root: bool) -> PersistedSettings {
    let manifest = json!({ sha256(VIEWER): VIEWER }).to_string();
    PersistedSettings {
        trusted: Some(Arc::new(
            TrustedDocuments::from_manifest(&manifest).expect("a valid manifest"),
        )),
        trusted_only: true,
        exempt_root,
    }
}

#[tokio::test]
async fn an_unknown_hash_misses_the_text_registers_and_the_hash_alone_then_runs() {
    let app = TestApp::new(TestStore::memory()).spawn().await;
    let hash = sha256(VIEWER);
    let key = app.root_key.clone();

    let (status, _, miss) = app
        .post_json(Some(&key), &json!({ "extensions": persisted(&hash) }))
        .await;
    let error = only_error(&miss);
    assert_eq!(
        error["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{miss}"
    );
    assert_eq!(error["message"], "PersistedQueryNotFound");
    assert_eq!(status, StatusCode::OK, "application/json answers 200");

    let (_, _, registered) = app
        .post_json(
            Some(&key),
            &json!({ "query": VIEWER, "extensions": persisted(&hash) }),
        )
        .await;
    assert_eq!(registered["data"]["viewer"]["role"], "ROOT", "{registered}");

    let (_, _, by_hash) = app
        .post_json(Some(&key), &json!({ "extensions": persisted(&hash) }))
        .await;
    assert_eq!(
        by_hash, registered,
        "the hash alone answers as the text did"
    );

    // GET, so that a CDN can key a read by its URL: no text, only the hash.
    let (status, over_get) = get(
        &app,
        &[
            ("operationName", "Viewer".to_owned()),
            ("extensions", persisted(&hash).to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{over_get}");
    assert_eq!(over_get, registered);

    assert_eq!(
        app.metric("escrowgrid_persisted_document_misses_total")
            .await,
        1
    );
    assert_eq!(
        app.metric("escrowgrid_persisted_document_registrations_total")
            .await,
        1
    );
    assert_eq!(
        app.metric("escrowgrid_persisted_document_hits_total{source=\"registered\"}")
            .await,
        2
    );
}

#[tokio::test]
async fn a_miss_over_get_is_answered_too_and_a_hash_not_of_its_text_is_refused() {
    let app = TestApp::new(TestStore::memory()).spawn().await;
    let (status, miss) = get(
        &app,
        &[("extensions", persisted(&sha256(OTHER)).to_string())],
    )
    .await;
    assert_eq!(
        only_error(&miss)["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND",
        "{status} {miss}"
    );

    let key = app.root_key.clone();
    let (status, _, mismatch) = app
        .post_json(
            Some(&key),
            &json!({ "query": OTHER, "extensions": persisted(&sha256(VIEWER)) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "application/json answers 200");
    let error = only_error(&mismatch);
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{mismatch}");
    assert_eq!(
        error["extensions"]["fields"][0]["field"],
        "extensions.persistedQuery.sha256Hash"
    );
    // Nothing registered under the wrong hash: it still misses.
    let (_, _, still) = app
        .post_json(
            Some(&key),
            &json!({ "extensions": persisted(&sha256(VIEWER)) }),
        )
        .await;
    assert_eq!(
        only_error(&still)["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    for (extension, field) in [
        (
            json!({ "persistedQuery": { "version": 2, "sha256Hash": sha256(VIEWER) } }),
            "extensions.persistedQuery.version",
        ),
        (
            json!({ "persistedQuery": { "version": 1, "sha256Hash": "beef" } }),
            "extensions.persistedQuery.sha256Hash",
        ),
        (
            json!({ "persistedQuery": "yes" }),
            "extensions.persistedQuery",
        ),
    ] {
        let (_, _, body) = app
            .post_json(Some(&key), &json!({ "extensions": extension }))
            .await;
        let error = only_error(&body);
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(error["extensions"]["fields"][0]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn trusted_only_runs_the_manifest_and_refuses_the_rest_over_post_get_and_websockets() {
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.persisted = trusted_only(false))
        .spawn()
        .await;
    let key = app.root_key.clone();

    // The manifest's document runs by hash alone, and by its text.
    let (_, _, by_hash) = app
        .post_json(
            Some(&key),
            &json!({ "extensions": persisted(&sha256(VIEWER)) }),
        )
        .await;
    assert_eq!(by_hash["data"]["viewer"]["role"], "ROOT", "{by_hash}");
    assert_eq!(app.root(VIEWER, json!({})).await["viewer"]["role"], "ROOT");

    // Anything else is refused, even with its correct hash (nothing registers), and even
    // for the root key: it is not exempt unless TRUSTED_DOCUMENTS_EXEMPT_ROOT says so.
    let (status, _, post) = app
        .post_json(
            Some(&key),
            &json!({ "query": OTHER, "extensions": persisted(&sha256(OTHER)) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "application/json answers 200");
    assert_eq!(
        only_error(&post)["extensions"]["code"],
        "PERSISTED_QUERY_NOT_IN_LIST",
        "{post}"
    );
    assert!(post["data"].is_null(), "nothing ran: {post}");

    let (status, over_get) = get(&app, &[("query", OTHER.to_owned())]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{over_get}");
    assert_eq!(
        only_error(&over_get)["extensions"]["code"],
        "PERSISTED_QUERY_NOT_IN_LIST"
    );

    let mut socket = app.connect_with_key(&key).await;
    socket.subscribe("1", OTHER, json!({})).await;
    let Received::Json(message) = socket.receive(WAIT).await else {
        panic!("an error message for the refused document");
    };
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "1");
    assert_eq!(
        message["payload"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_IN_LIST",
        "{message}"
    );
    // The manifest's document still runs on the same socket.
    socket.subscribe("2", VIEWER, json!({})).await;
    let next = socket.next_json().await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(next["payload"]["data"]["viewer"]["role"], "ROOT");

    assert_eq!(
        app.metric("escrowgrid_trusted_document_refusals_total")
            .await,
        3
    );
    assert_eq!(
        app.metric("escrowgrid_persisted_document_hits_total{source=\"trusted\"}")
            .await,
        3
    );
}

#[tokio::test]
async fn the_root_key_is_exempt_only_when_configured() {
    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.persisted = trusted_only(true))
        .spawn()
        .await;
    let data = app.root(OTHER, json!({})).await;
    assert!(data["viewer"].is_object(), "{data}");
    let api = app.api();
    let institution = super::fixtures::create_institution(&api, "Exempt Bank").await;
    let (admin_key, _) = super::fixtures::create_key(&api, &institution, "ADMIN").await;
    let (_, body) = app.gql(OTHER, json!({}), Some(&admin_key)).await;
    assert_eq!(
        only_error(&body)["extensions"]["code"],
        "PERSISTED_QUERY_NOT_IN_LIST",
        "an institution's key is never exempt: {body}"
    );
}

/// Apollo Client's persisted-queries link, as a frontend ships it: hash only (over GET), the
/// miss, the retry with the text that registers it, then the hash only again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apollo_clients_persisted_queries_link_misses_registers_then_sends_only_the_hash() {
    let Some(node) = NodeClients::find(
        "the Apollo Client persisted-queries test",
        &["@apollo/client", "rxjs", "graphql"],
    ) else {
        return;
    };
    let app = TestApp::memory().await;
    let mut apollo = node.command("apollo-persisted.mjs");
    apollo
        .arg(app.url("/graphql"))
        .env("ESCROWGRID_API_KEY", &app.root_key);
    let report = json_report(apollo, "Apollo Client").await;
    let wire: Vec<(&str, bool, bool)> = report["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|request| {
            (
                request["method"].as_str().expect("a method"),
                request["hasQuery"].as_bool().expect("hasQuery"),
                request["hasHash"].as_bool().expect("hasHash"),
            )
        })
        .collect();
    assert_eq!(
        wire,
        [
            ("GET", false, true),
            ("POST", true, true),
            ("GET", false, true)
        ],
        "miss, register, hash only: {report}"
    );
    for result in report["results"].as_array().expect("results") {
        assert_eq!(result["viewer"]["role"], "ROOT", "{report}");
    }
    assert_eq!(
        app.metric("escrowgrid_persisted_document_misses_total")
            .await,
        1
    );
    assert_eq!(
        app.metric("escrowgrid_persisted_document_hits_total{source=\"registered\"}")
            .await,
        1
    );
}

/// A CDN may keep a successful GET read, once per key, only when the operator allows it; a
/// miss is never kept, or the client's retry would meet it again.
#[tokio::test]
async fn a_successful_get_read_is_cacheable_per_key_only_when_configured() {
    let header = |headers: &reqwest::header::HeaderMap, name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let extensions = persisted(&sha256(VIEWER)).to_string();
    let by_hash = [("extensions", extensions.clone())];
    let with_text = [("query", VIEWER.to_owned()), ("extensions", extensions)];

    let default = TestApp::new(TestStore::memory()).spawn().await;
    let (_, headers, _) = get_with_headers(&default, &with_text).await;
    assert_eq!(
        header(&headers, "cache-control").as_deref(),
        Some("no-store")
    );

    let app = TestApp::new(TestStore::memory())
        .with_config(|settings| {
            settings.http.get_cache_max_age = std::time::Duration::from_secs(30);
        })
        .spawn()
        .await;
    let (_, miss_headers, miss) = get_with_headers(&app, &by_hash).await;
    assert_eq!(
        only_error(&miss)["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    assert_eq!(
        header(&miss_headers, "cache-control").as_deref(),
        Some("no-store")
    );
    get_with_headers(&app, &with_text).await;
    let (status, hit_headers, hit) = get_with_headers(&app, &by_hash).await;
    assert_eq!(status, StatusCode::OK, "{hit}");
    assert_eq!(
        header(&hit_headers, "cache-control").as_deref(),
        Some("public, max-age=30")
    );
    let vary = header(&hit_headers, "vary")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["accept", "authorization", "x-api-key"] {
        assert!(vary.contains(name), "Vary lacks {name}: {vary}");
    }
    // POST is never cacheable.
    let key = app.root_key.clone();
    let (_, post_headers, _) = app
        .post_json(
            Some(&key),
            &json!({ "extensions": persisted(&sha256(VIEWER)) }),
        )
        .await;
    assert_eq!(
        post_headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}
