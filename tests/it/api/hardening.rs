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

use super::support::Api;
use escrowgrid::config::Settings;
use escrowgrid::service::Quota;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// An institution (US, construction) with an ADMIN key; returns (institution id, token).
/// Leaner than `fixtures::seed_tenant`: these tests count positions and operation names.
pub(crate) async fn institution_admin(api: &Api) -> (String, String) {
    let root = api.root_key.clone();
    let institution = api
            .data(
                "mutation { createInstitution(input: {name: \"Hardened\", regions: [US], verticals: [CONSTRUCTION]}) { id } }",
                json!({}),
                &root,
            )
            .await["createInstitution"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
    let token = api
            .data(
                "mutation($id: ID!) { createApiKey(input: {institutionId: $id, label: \"ops\", role: ADMIN}) { token } }",
                json!({ "id": institution }),
                &root,
            )
            .await["createApiKey"]["token"]
            .as_str()
            .expect("a token")
            .to_owned();
    (institution, token)
}

/// A CONSTR_ESCROW template (USD) and an asset under it; returns the asset id.
pub(crate) async fn escrow_asset(api: &Api, institution: &str) -> String {
    let root = api.root_key.clone();
    let template = api
            .data(
                "mutation($id: ID!) { createAssetTemplate(input: {institutionId: $id, code: CONSTR_ESCROW, name: \"Escrow\", vertical: CONSTRUCTION, region: US, config: {currency: \"USD\", region: \"US\"}}) { id } }",
                json!({ "id": institution }),
                &root,
            )
            .await["createAssetTemplate"]["id"]
            .clone();
    api.data(
            "mutation($id: ID!, $template: ID!) { createAsset(input: {institutionId: $id, templateId: $template, label: \"Bridge\"}) { id } }",
            json!({ "id": institution, "template": template }),
            &root,
        )
        .await["createAsset"]["id"]
            .as_str()
            .expect("an id")
            .to_owned()
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
    server: &Api,
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
