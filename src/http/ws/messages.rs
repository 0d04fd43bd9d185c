//! The two websocket subprotocols' messages, read into one vocabulary and written back in the
//! dialect the client chose: `graphql-transport-ws` and the legacy `graphql-ws`
//! (subscriptions-transport-ws).

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `graphql-transport-ws`, the current protocol.
    TransportWs,
    /// `graphql-ws`, the Apollo subscriptions-transport-ws protocol.
    Legacy,
}

impl Dialect {
    pub(crate) const TRANSPORT_WS: &'static str = "graphql-transport-ws";
    pub(crate) const LEGACY: &'static str = "graphql-ws";

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::TransportWs => Self::TRANSPORT_WS,
            Self::Legacy => Self::LEGACY,
        }
    }
}

/// The GraphQL request inside `subscribe` / `start`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OperationPayload {
    /// Empty when `extensions.persistedQuery` names the document by hash.
    #[serde(default)]
    pub(crate) query: String,
    #[serde(default)]
    pub(crate) operation_name: Option<String>,
    #[serde(default)]
    pub(crate) variables: Option<Value>,
    #[serde(default)]
    pub(crate) extensions: Option<Value>,
}

#[derive(Clone, Debug)]
pub(crate) enum ClientMessage {
    Init(Option<Value>),
    Ping(Option<Value>),
    Pong,
    Subscribe {
        id: String,
        payload: OperationPayload,
    },
    Complete {
        id: String,
    },
    /// Legacy `connection_terminate`.
    Terminate,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
}

/// # Errors
/// A human-readable reason when the text is not a message of `dialect` (close with 4400).
pub(crate) fn parse(dialect: Dialect, text: &str) -> Result<ClientMessage, String> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|error| format!("invalid message: {error}"))?;
    let id = || {
        envelope
            .id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| format!("'{}' needs a non-empty id", envelope.kind))
    };
    let operation = || -> Result<OperationPayload, String> {
        let payload = envelope
            .payload
            .clone()
            .ok_or("the message needs a payload")?;
        serde_json::from_value(payload).map_err(|error| format!("invalid payload: {error}"))
    };
    let payload_object = || match &envelope.payload {
        None | Some(Value::Null) => Ok(None),
        Some(value @ Value::Object(_)) => Ok(Some(value.clone())),
        Some(_) => Err("the payload must be an object".to_owned()),
    };
    match (dialect, envelope.kind.as_str()) {
        (_, "connection_init") => Ok(ClientMessage::Init(payload_object()?)),
        (Dialect::TransportWs, "ping") => Ok(ClientMessage::Ping(payload_object()?)),
        (Dialect::TransportWs, "pong") => Ok(ClientMessage::Pong),
        (Dialect::TransportWs, "subscribe") | (Dialect::Legacy, "start") => {
            Ok(ClientMessage::Subscribe {
                id: id()?,
                payload: operation()?,
            })
        }
        (Dialect::TransportWs, "complete") | (Dialect::Legacy, "stop") => {
            Ok(ClientMessage::Complete { id: id()? })
        }
        (Dialect::Legacy, "connection_terminate") => Ok(ClientMessage::Terminate),
        (_, other) => Err(format!(
            "unknown message type '{other}' for {}",
            dialect.name()
        )),
    }
}

pub(crate) fn connection_ack() -> String {
    json!({ "type": "connection_ack" }).to_string()
}

/// Legacy keep-alive; graphql-transport-ws relies on websocket ping frames instead.
pub(crate) fn keep_alive() -> String {
    json!({ "type": "ka" }).to_string()
}

pub(crate) fn pong(payload: Option<Value>) -> String {
    match payload {
        Some(payload) => json!({ "type": "pong", "payload": payload }).to_string(),
        None => json!({ "type": "pong" }).to_string(),
    }
}

pub(crate) fn next(dialect: Dialect, id: &str, payload: &Value) -> String {
    let kind = match dialect {
        Dialect::TransportWs => "next",
        Dialect::Legacy => "data",
    };
    json!({ "type": kind, "id": id, "payload": payload }).to_string()
}

/// The start of a `next` (legacy `data`) message up to its payload: a group's members send
/// one serialized payload each behind their own prefix, then `}`.
pub(crate) fn next_prefix(dialect: Dialect, id: &str) -> String {
    let kind = match dialect {
        Dialect::TransportWs => "next",
        Dialect::Legacy => "data",
    };
    format!(
        r#"{{"type":"{kind}","id":{},"payload":"#,
        Value::String(id.to_owned())
    )
}

/// An operation that failed before it started (parse, validation, limits): `errors` is the
/// GraphQL errors array.
pub(crate) fn error(dialect: Dialect, id: &str, errors: &Value) -> String {
    match dialect {
        Dialect::TransportWs => json!({ "type": "error", "id": id, "payload": errors }).to_string(),
        // The legacy protocol carries one error object, not a list.
        Dialect::Legacy => {
            let first = errors
                .as_array()
                .and_then(|list| list.first())
                .cloned()
                .unwrap_or(Value::Null);
            json!({ "type": "error", "id": id, "payload": first }).to_string()
        }
    }
}

pub(crate) fn complete(id: &str) -> String {
    json!({ "type": "complete", "id": id }).to_string()
}

/// Legacy refusal of `connection_init`, sent before the close frame.
pub(crate) fn connection_error(message: &str) -> String {
    json!({ "type": "connection_error", "payload": { "message": message } }).to_string()
}

/// The key in a `connection_init` payload: `{"apiKey"}`, `{"headers": {"X-API-Key"}}`, an
/// `Authorization: Bearer` header there, or GraphiQL's flat `{"X-API-Key"}`.
pub(crate) fn init_key(payload: Option<&Value>) -> Option<String> {
    let payload = payload?.as_object()?;
    let text = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
    };
    let header = |map: &serde_json::Map<String, Value>, name: &str| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| text(Some(value)))
    };
    let bearer = |map: &serde_json::Map<String, Value>| {
        header(map, "authorization").and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
    };
    text(payload.get("apiKey"))
        .or_else(|| {
            let headers = payload.get("headers")?.as_object()?;
            header(headers, "x-api-key").or_else(|| bearer(headers))
        })
        .or_else(|| header(payload, "x-api-key"))
        .or_else(|| bearer(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_every_documented_place() {
        assert_eq!(
            init_key(Some(&json!({"apiKey": "a"}))).as_deref(),
            Some("a")
        );
        assert_eq!(
            init_key(Some(&json!({"headers": {"X-API-Key": "b"}}))).as_deref(),
            Some("b")
        );
        assert_eq!(
            init_key(Some(&json!({"headers": {"Authorization": "Bearer c"}}))).as_deref(),
            Some("c")
        );
        assert_eq!(
            init_key(Some(&json!({"X-API-Key": "d"}))).as_deref(),
            Some("d")
        );
        assert_eq!(init_key(Some(&json!({"apiKey": ""}))), None);
        assert_eq!(init_key(None), None);
    }

    #[test]
    fn a_prefixed_payload_is_the_next_message() {
        for dialect in [Dialect::TransportWs, Dialect::Legacy] {
            let payload = json!({"data": {"positionEvents": {"id": "x"}}});
            let id = "a \"quoted\" id";
            let spliced = format!("{}{payload}}}", next_prefix(dialect, id));
            let parsed: Value = serde_json::from_str(&spliced).expect("JSON");
            let expected: Value = serde_json::from_str(&next(dialect, id, &payload)).expect("JSON");
            assert_eq!(parsed, expected);
        }
    }

    #[test]
    fn each_dialect_reads_its_own_words() {
        let subscribe = r#"{"type":"subscribe","id":"1","payload":{"query":"subscription { a }"}}"#;
        assert!(matches!(
            parse(Dialect::TransportWs, subscribe),
            Ok(ClientMessage::Subscribe { .. })
        ));
        assert!(parse(Dialect::Legacy, subscribe).is_err());
        let start = r#"{"type":"start","id":"1","payload":{"query":"subscription { a }"}}"#;
        assert!(matches!(
            parse(Dialect::Legacy, start),
            Ok(ClientMessage::Subscribe { .. })
        ));
        assert!(
            parse(
                Dialect::TransportWs,
                r#"{"type":"subscribe","payload":{"query":"{a}"}}"#
            )
            .is_err()
        );
        assert!(parse(Dialect::TransportWs, "not json").is_err());
    }
}
