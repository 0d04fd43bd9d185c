//! Black-box harness: a real `Application` on 127.0.0.1:0 (memory store, or a fresh
//! PostgreSQL database), a fixed random root key, and a reqwest client.

use crate::support::postgres::{TestDb, fresh_store};
use escrowgrid::config::Settings;
use escrowgrid::ports::Store;
use escrowgrid::service::ApiKeyToken;
use escrowgrid::startup::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Clone, Copy, Debug)]
pub(crate) enum StoreKind {
    Memory,
    Postgres,
}

pub(crate) struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub(crate) address: String,
    pub(crate) root_key: String,
    pub(crate) client: reqwest::Client,
    /// Keeps the database alive (and drops it) with the app.
    _db: Option<TestDb>,
}

/// `None` (after the loud banner from `fresh_store`) when PostgreSQL is wanted but not
/// reachable and `CI` is unset.
pub(crate) async fn spawn_app(kind: StoreKind) -> Option<TestApp> {
    spawn_app_with(kind, |_| {}).await
}

/// `spawn_app` with settings adjusted by `configure` (CORS origins, say).
pub(crate) async fn spawn_app_with(
    kind: StoreKind,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let root_key = ApiKeyToken::generate();
    let mut settings = Settings::new(root_key.clone());
    settings.port = 0;
    configure(&mut settings);
    let (app, db) = match kind {
        StoreKind::Memory => {
            let app = Application::build(settings).await.expect("the app starts");
            (app, None)
        }
        StoreKind::Postgres => {
            let db = fresh_store().await?;
            let app = Application::with_store(settings, Arc::clone(&db.store))
                .await
                .expect("the app starts");
            (app, Some(db))
        }
    };
    Some(serve(app, root_key, db))
}

/// An app on a store the test keeps (to break it, say).
pub(crate) async fn spawn_app_on(store: Arc<dyn Store>) -> TestApp {
    let root_key = ApiKeyToken::generate();
    let mut settings = Settings::new(root_key.clone());
    settings.port = 0;
    let app = Application::with_store(settings, store)
        .await
        .expect("the app starts");
    serve(app, root_key, None)
}

fn serve(app: Application, root_key: ApiKeyToken, db: Option<TestDb>) -> TestApp {
    let address = format!("http://127.0.0.1:{}", app.port());
    // Runs on the test's runtime, so it stops when the test ends.
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        root_key: root_key.expose().to_owned(),
        client: reqwest::Client::new(),
        _db: db,
    }
}

pub(crate) async fn spawn_memory_app() -> TestApp {
    spawn_app(StoreKind::Memory)
        .await
        .expect("the memory store is always available")
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POSTs one operation as application/json; `key: None` sends no key.
    pub(crate) async fn gql(
        &self,
        query: &str,
        variables: Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let body = response.json().await.expect("the body is JSON");
        (status, body)
    }

    /// `gql` with the root key, expecting no errors; returns `data`.
    pub(crate) async fn root(&self, query: &str, variables: Value) -> Value {
        self.data(query, variables, &self.root_key.clone()).await
    }

    /// `gql` with `key`, expecting 200 and no errors; returns `data`.
    pub(crate) async fn data(&self, query: &str, variables: Value, key: &str) -> Value {
        let (status, body) = self.gql(query, variables, Some(key)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// A raw POST to /graphql with the root key and the given headers and body.
    pub(crate) async fn post_raw(&self, headers: &[(&str, &str)], body: &str) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .header("X-API-Key", &self.root_key)
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the server answers")
    }
}

/// The one error's `extensions.code`, asserting there is exactly one error.
pub(crate) fn only_error_code(body: &Value) -> &str {
    let errors = body["errors"].as_array().expect("an errors list");
    assert_eq!(errors.len(), 1, "{body}");
    errors[0]["extensions"]["code"].as_str().expect("a code")
}
