//! Websocket test support: a small `graphql-transport-ws` / legacy `graphql-ws` client over
//! tokio-tungstenite, and the seeding steps the subscription tests share.
//!
//! graphql-transport-ws has no acknowledgement for `subscribe`, so tests wait on the server's
//! subscription gauge (`TestApp::wait_for_subscriptions`) before writing, never on a sleep.

use super::fixtures::Tenant;
pub(crate) use super::support::WAIT;
use super::support::{Api, TestApp};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) const SUBSCRIPTION: &str = "subscription($filter: PositionEventFilter, $after: String) {
  positionEvents(filter: $filter, after: $after) {
    id cursor version fromState toState releaseAmount reason
    position { id asset { id } institution { id } }
  }
}";

/// Runs `async fn case(app: TestApp)` once per store, as `memory::case` and `postgres::case`
/// (the latter skipped loudly when PostgreSQL is unreachable and `CI` unset). Unlike
/// `on_both_stores!`, the case owns the app (to shut it down).
macro_rules! ws_on_both_stores {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::api::support::TestApp::memory().await).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(app) = $crate::api::support::TestApp::on(
                        $crate::api::support::StoreKind::Postgres,
                    )
                    .await
                    else {
                        return;
                    };
                    super::$case(app).await;
                }
            )+
        }
    };
}

pub(crate) use ws_on_both_stores;

impl TestApp {
    /// A graphql-transport-ws client, connected but not initialised.
    pub(crate) async fn connect(&self) -> WsClient {
        WsClient::connect(&self.ws_url(), Dialect::TransportWs).await
    }

    /// A graphql-transport-ws client, acknowledged with `key`.
    pub(crate) async fn connect_with_key(&self, key: &str) -> WsClient {
        let mut client = self.connect().await;
        client.init_with_key(key).await;
        client
    }
}

/// `escrowgrid_active_subscriptions` from `GET /metrics` (for servers in another process).
pub(crate) async fn metrics_gauge(client: &reqwest::Client, address: &str, root_key: &str) -> i64 {
    let text = client
        .get(format!("{address}/metrics"))
        .header("X-API-Key", root_key)
        .send()
        .await
        .expect("the server answers")
        .text()
        .await
        .expect("a text body");
    text.lines()
        .find_map(|line| line.strip_prefix("escrowgrid_active_subscriptions "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no escrowgrid_active_subscriptions in /metrics:\n{text}"))
}

/// Waits until `/metrics` reports exactly `n` open subscriptions.
pub(crate) async fn wait_for_metrics_gauge(
    client: &reqwest::Client,
    address: &str,
    root_key: &str,
    n: i64,
) {
    let started = Instant::now();
    loop {
        let current = metrics_gauge(client, address, root_key).await;
        if current == n {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "expected {n} open subscriptions at {address}, /metrics still says {current}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding through the API
// ---------------------------------------------------------------------------------------------

/// Seeding steps over the API that the websocket tests share; `fixtures::seed_tenant` makes
/// the tenant itself.
impl Api {
    /// A new key of `role` for `institution_id`: (token, id).
    pub(crate) async fn create_key(&self, institution_id: &str, role: &str) -> (String, String) {
        let data = self
            .data(
                "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { token apiKey { id } } }",
                json!({"input": {"institutionId": institution_id, "label": format!("{role} key"), "role": role}}),
                &self.root_key,
            )
            .await;
        (
            string(&data["createApiKey"]["token"]),
            string(&data["createApiKey"]["apiKey"]["id"]),
        )
    }

    pub(crate) async fn revoke_key(&self, key_id: &str) {
        let data = self
            .data(
                "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }",
                json!({"id": key_id}),
                &self.root_key,
            )
            .await;
        assert!(data["revokeApiKey"]["revokedAt"].is_string(), "{data}");
    }

    /// Another asset under the tenant's template.
    pub(crate) async fn create_asset(&self, tenant: &Tenant) -> String {
        let data = self
            .data(
                "mutation($input: CreateAssetInput!) { createAsset(input: $input) { id } }",
                json!({"input": {"templateId": tenant.template_id, "label": "Harbour bridge"}}),
                &tenant.admin_key,
            )
            .await;
        string(&data["createAsset"]["id"])
    }

    /// A 1000.00 USD position on `asset_id` (event version 1).
    pub(crate) async fn create_position(&self, key: &str, asset_id: &str) -> String {
        let data = self
            .data(
                "mutation($input: CreatePositionInput!) { createPosition(input: $input) { id version } }",
                json!({"input": {
                    "assetId": asset_id, "holderReference": "holder-1",
                    "currency": "USD", "amount": "1000.00"
                }}),
                key,
            )
            .await;
        assert_eq!(data["createPosition"]["version"], 1, "{data}");
        string(&data["createPosition"]["id"])
    }

    /// Moves a position; returns its new version.
    pub(crate) async fn transition(
        &self,
        key: &str,
        position_id: &str,
        to_state: &str,
        release: Option<&str>,
    ) -> i64 {
        let mut input = json!({"positionId": position_id, "toState": to_state, "reason": format!("to {to_state}")});
        if let Some(amount) = release {
            input["releaseAmount"] = json!(amount);
        }
        let data = self
            .data(
                "mutation($input: TransitionPositionInput!) { transitionPosition(input: $input) { version state } }",
                json!({"input": input}),
                key,
            )
            .await;
        assert_eq!(data["transitionPosition"]["state"], to_state, "{data}");
        data["transitionPosition"]["version"]
            .as_i64()
            .expect("an Int version")
    }

    /// The durable history of a position, oldest first: `{version cursor toState}` objects.
    pub(crate) async fn durable_events(&self, key: &str, position_id: &str) -> Vec<Value> {
        let data = self
            .data(
                "query($id: ID!) { position(id: $id) { events { version cursor toState } } }",
                json!({"id": position_id}),
                key,
            )
            .await;
        data["position"]["events"]
            .as_array()
            .unwrap_or_else(|| panic!("no events for {position_id}: {data}"))
            .clone()
    }
}

pub(crate) fn string(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// The websocket client
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `graphql-transport-ws`
    TransportWs,
    /// `graphql-ws` (subscriptions-transport-ws)
    Legacy,
}

impl Dialect {
    pub(crate) fn subprotocol(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::Legacy => "graphql-ws",
        }
    }
}

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What reading found: a JSON message, or the end of the connection.
#[derive(Debug)]
pub(crate) enum Received {
    Json(Value),
    /// A close frame (its code, if any) or the stream's end.
    Closed(Option<u16>),
    Timeout,
}

pub(crate) struct WsClient {
    pub(crate) socket: Socket,
    pub(crate) dialect: Dialect,
    /// The subprotocol the server picked.
    pub(crate) protocol: Option<String>,
}

/// A handshake request for `url` offering `dialect`'s subprotocol.
pub(crate) fn request(url: &str, dialect: Dialect) -> Request {
    let mut request = url.into_client_request().expect("a valid websocket URL");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(dialect.subprotocol()),
    );
    request
}

impl WsClient {
    pub(crate) async fn connect(url: &str, dialect: Dialect) -> Self {
        Self::connect_request(request(url, dialect), dialect)
            .await
            .unwrap_or_else(|error| panic!("the websocket handshake to {url} failed: {error}"))
    }

    /// Connects with a prepared request (extra headers); the handshake error when refused.
    pub(crate) async fn connect_request(
        request: Request,
        dialect: Dialect,
    ) -> Result<Self, tungstenite::Error> {
        let (socket, response) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
                .await
                .expect("the handshake finishes in time")?;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            socket,
            dialect,
            protocol,
        })
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("the frame is sent");
    }

    pub(crate) async fn send_json(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    /// Sends `connection_init` with `payload` (no ack expected).
    pub(crate) async fn send_init(&mut self, payload: Value) {
        self.send_json(json!({"type": "connection_init", "payload": payload}))
            .await;
    }

    /// `connection_init` with `{"apiKey": key}`, then waits for `connection_ack`.
    pub(crate) async fn init_with_key(&mut self, key: &str) {
        self.init(json!({ "apiKey": key })).await;
    }

    /// `connection_init` with `payload`, then waits for `connection_ack`.
    pub(crate) async fn init(&mut self, payload: Value) {
        self.send_init(payload).await;
        let ack = self.next_json().await;
        assert_eq!(
            ack["type"], "connection_ack",
            "expected connection_ack, got {ack}"
        );
    }

    /// `subscribe` (or legacy `start`) of `query` with `variables` under `id`.
    pub(crate) async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = match self.dialect {
            Dialect::TransportWs => "subscribe",
            Dialect::Legacy => "start",
        };
        self.send_json(json!({
            "type": kind, "id": id,
            "payload": {"query": query, "variables": variables}
        }))
        .await;
    }

    /// `positionEvents` with `filter` and `after` under `id`.
    pub(crate) async fn subscribe_events(&mut self, id: &str, filter: Value, after: Option<&str>) {
        self.subscribe(id, SUBSCRIPTION, json!({"filter": filter, "after": after}))
            .await;
    }

    /// `complete` (or legacy `stop`) for `id`.
    pub(crate) async fn complete(&mut self, id: &str) {
        let kind = match self.dialect {
            Dialect::TransportWs => "complete",
            Dialect::Legacy => "stop",
        };
        self.send_json(json!({"type": kind, "id": id})).await;
    }

    /// The next JSON message within `within`, skipping ping/pong frames and legacy `ka`.
    pub(crate) async fn receive(&mut self, within: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return Received::Timeout,
                Ok(frame) => frame,
            };
            match frame {
                None => return Received::Closed(None),
                Some(Err(
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                )) => {
                    return Received::Closed(None);
                }
                Some(Err(error)) => panic!("the websocket failed: {error}"),
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|error| panic!("not JSON ({error}): {text}"));
                    if value["type"] == "ka" {
                        continue;
                    }
                    return Received::Json(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Received::Closed(frame.map(|frame| u16::from(frame.code)));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Binary(bytes))) => panic!("unexpected binary frame: {bytes:?}"),
            }
        }
    }

    /// The next JSON message; panics on close or after `WAIT`.
    pub(crate) async fn next_json(&mut self) -> Value {
        match self.receive(WAIT).await {
            Received::Json(value) => value,
            other => panic!("expected a message within {WAIT:?}, got {other:?}"),
        }
    }

    /// The next `positionEvents` object delivered under `id`; panics on anything else.
    pub(crate) async fn next_event(&mut self, id: &str) -> Value {
        let message = self.next_json().await;
        event_of(&message, self.dialect, id)
    }

    /// The next `n` events of any subscription on this socket, as (id, event).
    pub(crate) async fn events(&mut self, n: usize) -> Vec<(String, Value)> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            let message = self.next_json().await;
            let id = string(&message["id"]);
            let event = event_of(&message, self.dialect, &id);
            events.push((id, event));
        }
        events
    }

    /// Reads exactly the events `expected` names, as (subscription id, (position, version)),
    /// and fails on any other message. Called after committing marker events that each listed
    /// subscription must deliver, it proves that nothing else reached them in between: a
    /// subscription delivers in commit order, so anything extra would come before its marker.
    /// Order is checked per subscription; subscriptions interleave freely.
    pub(crate) async fn expect_exactly(&mut self, expected: &[(&str, (String, i64))]) {
        let mut want: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for (id, key) in expected {
            want.entry((*id).to_owned()).or_default().push(key.clone());
        }
        let mut got: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for (id, event) in self.events(expected.len()).await {
            got.entry(id).or_default().push(key_of(&event));
        }
        assert_eq!(got, want, "something was delivered before the markers");
    }

    /// Reads until the close frame; asserts its code and returns the messages seen before it.
    pub(crate) async fn expect_close(&mut self, code: u16) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            match self.receive(WAIT).await {
                Received::Json(value) => seen.push(value),
                Received::Closed(got) => {
                    assert_eq!(
                        got,
                        Some(code),
                        "expected close code {code}; messages before it: {seen:?}"
                    );
                    return seen;
                }
                Received::Timeout => {
                    panic!("expected close code {code} within {WAIT:?}; messages: {seen:?}")
                }
            }
        }
    }
}

/// The `positionEvents` object of a `next` (legacy `data`) message for `id`, asserting it
/// carries no errors.
pub(crate) fn event_of(message: &Value, dialect: Dialect, id: &str) -> Value {
    let expected = match dialect {
        Dialect::TransportWs => "next",
        Dialect::Legacy => "data",
    };
    assert_eq!(message["type"], expected, "expected {expected}: {message}");
    assert_eq!(message["id"], id, "{message}");
    assert!(
        message["payload"].get("errors").is_none(),
        "an event with errors: {message}"
    );
    let event = &message["payload"]["data"]["positionEvents"];
    assert!(event.is_object(), "no positionEvents in {message}");
    event.clone()
}

/// The `(positionId, version)` of an event.
pub(crate) fn key_of(event: &Value) -> (String, i64) {
    (
        string(&event["position"]["id"]),
        event["version"].as_i64().expect("an Int version"),
    )
}

/// The first error code of an `error` message (either dialect's payload shape).
pub(crate) fn error_code(message: &Value) -> String {
    let payload = &message["payload"];
    let first = payload
        .as_array()
        .and_then(|list| list.first())
        .unwrap_or(payload);
    string(&first["extensions"]["code"])
}
