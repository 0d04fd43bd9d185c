//! The production switches and limits, each set through `Settings` as the command line sets
//! it: rate limiting over HTTP and websockets (refused, then recovered), introspection,
//! suggestions and GraphiQL switched off, every query limit at a configured value, the request
//! timeout (504, and the cancelled write leaves nothing behind), and the metrics page. This
//! file is the harness; each topic has its own file.

mod limits;
mod metrics;
mod rate_limits;
mod switches;
mod timeout;

use crate::support::postgres::TestDb;
use escrowgrid::config::Settings;
use escrowgrid::service::{ApiKeyToken, Quota, SubscriptionGauge};
use escrowgrid::startup::Application;
use futures::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// The advisory lock the PostgreSQL store takes right before inserting a position event (see
/// `adapters/seaorm/unit_of_work.rs`); holding it parks a write midway through its transaction.
pub(crate) const EVENT_ORDER_LOCK: i64 = 0x6573_6372_6f77_6576;

pub(crate) struct Server {
    pub(crate) address: String,
    pub(crate) root: String,
    pub(crate) client: reqwest::Client,
    pub(crate) gauge: SubscriptionGauge,
    pub(crate) _db: Option<TestDb>,
}

pub(crate) async fn serve(configure: impl FnOnce(&mut Settings), db: Option<TestDb>) -> Server {
    let root = ApiKeyToken::generate();
    let mut settings = Settings::new(root.clone());
    settings.port = 0;
    configure(&mut settings);
    let app = match &db {
        Some(db) => Application::with_store(settings, Arc::clone(&db.store)).await,
        None => Application::build(settings).await,
    }
    .expect("the app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let gauge = app.subscription_gauge();
    tokio::spawn(app.run_until_stopped());
    Server {
        address,
        root: root.expose().to_owned(),
        client: reqwest::Client::new(),
        gauge,
        _db: db,
    }
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn post(
        &self,
        key: &str,
        body: &Value,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let response = self
            .client
            .post(self.url("/graphql"))
            .header("X-API-Key", key)
            .json(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.expect("a JSON body");
        (status, headers, body)
    }

    pub(crate) async fn gql(
        &self,
        key: &str,
        query: &str,
        variables: Value,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self
            .post(key, &json!({ "query": query, "variables": variables }))
            .await;
        (status, body)
    }

    /// Data of a request that must succeed.
    pub(crate) async fn data(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.gql(key, query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    /// An institution (US, construction) with an ADMIN key; returns (institution id, token).
    pub(crate) async fn tenant(&self) -> (String, String) {
        let root = self.root.clone();
        let institution = self
            .data(
                &root,
                "mutation { createInstitution(input: {name: \"Hardened\", regions: [US], verticals: [CONSTRUCTION]}) { id } }",
                json!({}),
            )
            .await["createInstitution"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let token = self
            .data(
                &root,
                "mutation($id: ID!) { createApiKey(input: {institutionId: $id, label: \"ops\", role: ADMIN}) { token } }",
                json!({ "id": institution }),
            )
            .await["createApiKey"]["token"]
            .as_str()
            .expect("a token")
            .to_owned();
        (institution, token)
    }

    /// A CONSTR_ESCROW template (USD) and an asset under it; returns the asset id.
    pub(crate) async fn asset(&self, institution: &str) -> String {
        let root = self.root.clone();
        let template = self
            .data(
                &root,
                "mutation($id: ID!) { createAssetTemplate(input: {institutionId: $id, code: CONSTR_ESCROW, name: \"Escrow\", vertical: CONSTRUCTION, region: US, config: {currency: \"USD\", region: \"US\"}}) { id } }",
                json!({ "id": institution }),
            )
            .await["createAssetTemplate"]["id"]
            .clone();
        self.data(
            &root,
            "mutation($id: ID!, $template: ID!) { createAsset(input: {institutionId: $id, templateId: $template, label: \"Bridge\"}) { id } }",
            json!({ "id": institution, "template": template }),
        )
        .await["createAsset"]["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    }

    pub(crate) async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .header("X-API-Key", &self.root)
            .send()
            .await
            .expect("answers")
            .text()
            .await
            .expect("text")
    }
}

/// The one error of a refused request.
pub(crate) fn only_error(body: &Value) -> &Value {
    let errors = body["errors"].as_array().expect("an errors list");
    assert_eq!(errors.len(), 1, "{body}");
    &errors[0]
}

pub(crate) fn limited(per_second: f64, burst: u32) -> impl FnOnce(&mut Settings) {
    move |settings| {
        settings.rate_limit.per_key = Some(Quota { per_second, burst });
    }
}

/// A graphql-transport-ws connection, initialised with `key`.
pub(crate) async fn socket(
    server: &Server,
    key: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = server.url("/graphql/ws").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().expect("a ws request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("a header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the websocket opens");
    let init = json!({ "type": "connection_init", "payload": { "apiKey": key } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .expect("sent");
    let ack = next_json(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

pub(crate) async fn next_json<S>(socket: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

pub(crate) async fn wait_for_subscriptions(gauge: &SubscriptionGauge, count: i64) {
    let started = Instant::now();
    while gauge.current() != count {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{} subscriptions, expected {count}",
            gauge.current()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
