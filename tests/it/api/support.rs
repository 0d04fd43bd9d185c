//! Black-box harness: one builder starts every in-process server the API tests use.
//!
//! ```ignore
//! let store = TestStore::of(StoreKind::Postgres).await?; // None: skipped loudly (panics under CI)
//! let app = TestApp::new(store)
//!     .with_config(|settings| settings.http.request_timeout = Duration::from_secs(1))
//!     .spawn()
//!     .await;
//! let data = app.root("{ viewer { role } }", json!({})).await;
//! ```
//!
//! A `TestApp` is a real `Application` on 127.0.0.1:0 with a fresh random root key. It derefs
//! to [`Api`], the clonable HTTP side (address, root key, client), so helpers that only send
//! requests take `&Api` and accept `&app`. The app stops when the test's runtime ends, or
//! earlier with `shutdown`.

use crate::support::postgres::{TestDb, fresh_store};
use escrowgrid::adapters::memory::MemoryStore;
use escrowgrid::adapters::seaorm::PgStore;
use escrowgrid::config::Settings;
use escrowgrid::ports::Store;
use escrowgrid::service::{ApiKeyToken, Clock, SubscriptionGauge};
use escrowgrid::startup::{Application, RefusalAudit, StartupError};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The longest a test waits for something that should happen; expiry means a hang.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
pub(crate) enum StoreKind {
    Memory,
    Postgres,
}

/// What an app runs on, and whatever must live as long as it (a test database).
pub(crate) struct TestStore {
    source: Source,
    /// Last: the app's pool closes before the database is dropped.
    db: Option<TestDb>,
}

enum Source {
    Store(Arc<dyn Store>),
    /// A PostgreSQL store whose statement latency the app reports on `/metrics` (and whose
    /// pool it closes at shutdown).
    Postgres(PgStore),
    /// Whatever `Application::build` picks from the settings (`database_url`).
    Configured,
}

impl TestStore {
    /// A new, empty in-memory store.
    pub(crate) fn memory() -> Self {
        Self::shared(Arc::new(MemoryStore::new()))
    }

    /// A fresh PostgreSQL database, dropped with the app. `None`, after a loud banner, when
    /// PostgreSQL is unreachable and `CI` is unset; a panic when it is unreachable under `CI`.
    pub(crate) async fn postgres() -> Option<Self> {
        fresh_store().await.map(Self::from)
    }

    /// [`memory`](Self::memory) or [`postgres`](Self::postgres).
    pub(crate) async fn of(kind: StoreKind) -> Option<Self> {
        match kind {
            StoreKind::Memory => Some(Self::memory()),
            StoreKind::Postgres => Self::postgres().await,
        }
    }

    /// A store the test keeps a handle on (to break it, or to share it between two apps).
    pub(crate) fn shared(store: Arc<dyn Store>) -> Self {
        Self {
            source: Source::Store(store),
            db: None,
        }
    }

    /// A PostgreSQL store whose statement metrics the app serves (`Application::with_postgres`).
    pub(crate) fn with_postgres_metrics(mut self) -> Self {
        if let Some(db) = &self.db {
            self.source = Source::Postgres(db.pg.clone());
        }
        self
    }

    /// Another `PgStore` (its own pool and listener) on a database someone else owns.
    pub(crate) fn pg(store: PgStore) -> Self {
        Self::shared(Arc::new(store))
    }

    /// [`pg`](Self::pg), with the store's statement and listener metrics on `/metrics`.
    pub(crate) fn pg_with_metrics(store: PgStore) -> Self {
        Self {
            source: Source::Postgres(store),
            db: None,
        }
    }

    /// No store of its own: the app connects to `settings.database_url` itself.
    pub(crate) fn configured() -> Self {
        Self {
            source: Source::Configured,
            db: None,
        }
    }
}

impl From<TestDb> for TestStore {
    fn from(db: TestDb) -> Self {
        Self {
            source: Source::Store(Arc::clone(&db.store)),
            db: Some(db),
        }
    }
}

/// Configures a [`TestApp`] before it starts.
#[must_use]
pub(crate) struct TestAppBuilder {
    store: TestStore,
    settings: Settings,
    root_key: ApiKeyToken,
}

impl TestAppBuilder {
    /// Adjusts the settings (limits, timings, CORS…); may be called more than once.
    pub(crate) fn with_config(mut self, configure: impl FnOnce(&mut Settings)) -> Self {
        configure(&mut self.settings);
        self
    }

    /// Starts the app on its port; panics when it cannot start.
    pub(crate) async fn spawn(self) -> TestApp {
        let Self {
            store,
            settings,
            root_key,
        } = self;
        let TestStore { source, db } = store;
        let app = match source {
            Source::Store(store) => Application::with_store(settings, store).await,
            Source::Postgres(store) => Application::with_postgres(settings, store).await,
            Source::Configured => Application::build(settings).await,
        }
        .expect("the app starts");
        let port = app.port();
        let gauge = app.subscription_gauge();
        let metrics_address = app.metrics_address();
        let refusals = app.refusal_audit();
        let (stop, stopped) = oneshot::channel::<()>();
        // On the test's runtime, so it ends with the test.
        let server = tokio::spawn(app.run_with_shutdown(async move {
            let _ = stopped.await;
        }));
        TestApp {
            api: Api {
                address: format!("http://127.0.0.1:{port}"),
                root_key: root_key.expose().to_owned(),
                client: reqwest::Client::new(),
            },
            port,
            gauge,
            metrics_address,
            refusals,
            stop: Some(stop),
            server: Some(server),
            db,
        }
    }
}

/// A running `Application` with its subscription gauge and a stop switch.
pub(crate) struct TestApp {
    api: Api,
    pub(crate) port: u16,
    /// Open subscription streams: what tests wait on before writing.
    pub(crate) gauge: SubscriptionGauge,
    /// The keyless `/metrics` listener, when `settings.metrics.listen` is set.
    pub(crate) metrics_address: Option<SocketAddr>,
    /// Refusals counted in memory; `flush()` writes their grouped audit rows now.
    pub(crate) refusals: RefusalAudit,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), StartupError>>>,
    // Last: the server's pool closes before the database is dropped.
    db: Option<TestDb>,
}

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    /// A builder for an app on `store`, with a fresh root key, port 0 and the test defaults
    /// of `Settings::new` (rate limiting off).
    #[expect(
        clippy::new_ret_no_self,
        reason = "reads as `TestApp::new(store).with_config(..).spawn()`, the builder's one entry"
    )]
    pub(crate) fn new(store: TestStore) -> TestAppBuilder {
        let root_key = ApiKeyToken::generate();
        let mut settings = Settings::new(root_key.clone());
        settings.port = 0;
        TestAppBuilder {
            store,
            settings,
            root_key,
        }
    }

    /// An app on a new in-memory store with the default settings.
    pub(crate) async fn memory() -> Self {
        Self::new(TestStore::memory()).spawn().await
    }

    /// An app with the default settings on a new store of `kind`; `None` as
    /// [`TestStore::postgres`].
    pub(crate) async fn on(kind: StoreKind) -> Option<Self> {
        Some(Self::new(TestStore::of(kind).await?).spawn().await)
    }

    /// The clonable HTTP side, for tasks that send requests.
    pub(crate) fn api(&self) -> Api {
        self.api.clone()
    }

    /// The app's test database, when it owns one.
    pub(crate) fn db(&self) -> Option<&TestDb> {
        self.db.as_ref()
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/graphql/ws", self.port)
    }

    /// Starts a graceful shutdown and waits (at most `WAIT`) for the server to stop.
    pub(crate) async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(WAIT, server).await;
        }
    }

    /// `shutdown`, asserting that the server stopped within `WAIT` and without an error.
    pub(crate) async fn shutdown_cleanly(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = self.server.take().expect("the app is running");
        tokio::time::timeout(WAIT * 3, server)
            .await
            .expect("the app stops")
            .expect("joined")
            .expect("stopped cleanly");
    }

    /// Waits until exactly `n` subscription streams are open on this app.
    pub(crate) async fn wait_for_subscriptions(&self, n: i64) {
        wait_for_gauge(&self.gauge, n).await;
    }

    /// `wait_for_subscriptions` with another limit (a client process that must start first).
    pub(crate) async fn wait_for_subscriptions_within(&self, n: i64, limit: Duration) {
        wait_for_gauge_within(&self.gauge, n, limit).await;
    }
}

/// Waits until `gauge` reads exactly `n` (panics after `WAIT`).
pub(crate) async fn wait_for_gauge(gauge: &SubscriptionGauge, n: i64) {
    wait_for_gauge_within(gauge, n, WAIT).await;
}

pub(crate) async fn wait_for_gauge_within(gauge: &SubscriptionGauge, n: i64, limit: Duration) {
    let started = Instant::now();
    while gauge.current() != n {
        assert!(
            started.elapsed() < limit,
            "expected {n} open subscriptions, the gauge still reads {} after {limit:?}",
            gauge.current()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Where requests go: an app's address, its root key and a client. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    /// `http://127.0.0.1:<port>`
    pub(crate) address: String,
    pub(crate) root_key: String,
    pub(crate) client: reqwest::Client,
}

impl Api {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// One unlabelled sample from `/metrics` (read with the root key).
    pub(crate) async fn metric(&self, name: &str) -> u64 {
        let response = self
            .client
            .get(self.url("/metrics"))
            .header("X-API-Key", &self.root_key)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.expect("a text body");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    /// POSTs one operation as application/json; `key: None` sends no key.
    pub(crate) async fn gql(
        &self,
        query: &str,
        variables: Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self
            .post_json(key, &json!({ "query": query, "variables": variables }))
            .await;
        (status, body)
    }

    /// POSTs any JSON body (a batch, say) to /graphql; returns status, headers and body.
    pub(crate) async fn post_json(
        &self,
        key: Option<&str>,
        body: &Value,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self.client.post(self.url("/graphql")).json(body);
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.expect("the body is JSON");
        (status, headers, body)
    }

    /// `gql` with the root key, expecting no errors; returns `data`.
    pub(crate) async fn root(&self, query: &str, variables: Value) -> Value {
        self.data(query, variables, &self.root_key).await
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

    /// The `/metrics` page, read with the root key.
    pub(crate) async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .header("X-API-Key", &self.root_key)
            .send()
            .await
            .expect("the server answers")
            .text()
            .await
            .expect("a text body")
    }
}

/// The one error's `extensions.code`, asserting there is exactly one error.
pub(crate) fn only_error_code(body: &Value) -> &str {
    let errors = body["errors"].as_array().expect("an errors list");
    assert_eq!(errors.len(), 1, "{body}");
    errors[0]["extensions"]["code"].as_str().expect("a code")
}

/// A clock the test moves by hand, for the rate limiter (`settings.rate_limit.clock`): time
/// stands still until `advance`, so a refill happens exactly when the test says.
#[derive(Clone)]
pub(crate) struct TestClock {
    start: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl TestClock {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            offset: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    pub(crate) fn clock(&self) -> Clock {
        let (start, offset) = (self.start, Arc::clone(&self.offset));
        Clock::from_fn(move || start + *offset.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
