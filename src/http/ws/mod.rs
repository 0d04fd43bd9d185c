//! `GET /graphql/ws`: websocket subscriptions over `graphql-transport-ws` or the legacy
//! `graphql-ws` subprotocol.

mod groups;
mod messages;
mod operation;
mod session;
mod sessions;
mod writer;

pub(crate) use groups::Groups;
pub use session::SessionSettings;
pub use sessions::Sessions;

/// What the websocket endpoint needs besides the schema and services.
#[derive(Clone, Debug)]
pub struct WsConfig {
    /// Browser origins allowed besides the server's own (the CORS allow-list).
    pub allowed_origins: Vec<String>,
    /// Turns `true` when the server stops: every socket closes with 1001.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub settings: SessionSettings,
    /// Open connections, so shutdown can wait for their close frames.
    pub sessions: Sessions,
}

use super::AppState;
use super::clients::Client;
use super::request_id::RequestId;
use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use messages::Dialect;
use tracing::Instrument as _;

/// Refuses cross-site upgrades from browsers (an `Origin` outside the allow-list and not the
/// server's own), then picks the subprotocol the client offered, preferring the current one.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Client(client): Client,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.ws().allowed_origins) {
        return (StatusCode::FORBIDDEN, "websocket origin not allowed").into_response();
    }
    // Over a cap: upgraded and closed at once with 4429, which a browser can see (an HTTP
    // status on a refused upgrade it cannot).
    let Some(permit) = state.clients().open_websocket(client) else {
        return upgrade
            .protocols([Dialect::TRANSPORT_WS, Dialect::LEGACY])
            .on_upgrade(refuse_socket);
    };
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let dialect = if offered.contains(&Dialect::TRANSPORT_WS) || !offered.contains(&Dialect::LEGACY)
    {
        Dialect::TransportWs
    } else {
        Dialect::Legacy
    };
    let upgrade_key = super::auth::presented_key(&headers).map(str::to_owned);
    let session = session::Session {
        dialect,
        shutdown: state.ws().shutdown.clone(),
        settings: state.ws().settings,
        state: state.clone(),
        request_id,
        upgrade_key,
        client,
        permit,
    };
    let revocations = state.services().key_revocations();
    // The session outlives the request's span; its own span carries the id and, once the
    // socket is authenticated, the caller.
    let span = tracing::info_span!(
        "websocket",
        request_id = %session.request_id,
        role = tracing::field::Empty,
        key_id = tracing::field::Empty,
        institution_id = tracing::field::Empty,
    );
    // A subscribe message is a request body: the same size limit applies.
    let max_message = state.http().max_body_bytes;
    let buffers = &state.ws().settings;
    upgrade
        .protocols([Dialect::TRANSPORT_WS, Dialect::LEGACY])
        .read_buffer_size(buffers.read_buffer_bytes)
        .write_buffer_size(buffers.write_buffer_bytes)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| session.run(socket, revocations).instrument(span))
}

async fn refuse_socket(mut socket: WebSocket) {
    let frame = CloseFrame {
        code: session::close::TOO_MANY_REQUESTS,
        reason: "Too many websockets from this address".into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Non-browser clients send no `Origin` and are let through; browsers must come from the
/// server's own origin or one on the CORS allow-list.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    else {
        return true;
    };
    if allowed
        .iter()
        .any(|entry| entry == "*" || entry.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((host, origin_host), (Some(host), Some(origin_host)) if host.eq_ignore_ascii_case(origin_host))
}
