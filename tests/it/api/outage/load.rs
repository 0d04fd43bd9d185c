//! A write load of position chains (create → FUNDED → PARTIALLY_RELEASED → RELEASED, every
//! step with its own idempotency key), each reply classified, and the retry that settles every
//! failed step with its own key once the server is healthy again.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub(crate) const CREATE: &str = "mutation($input: CreatePositionInput!) {
  createPosition(input: $input) { id version state } }";
pub(crate) const TRANSITION: &str = "mutation($input: TransitionPositionInput!) {
  transitionPosition(input: $input) { id version state } }";

/// Messages an INTERNAL_SERVER_ERROR may carry: the fixed one, or the request timeout's.
const CLEAN_INTERNAL: [&str; 2] = ["internal server error", "the request did not finish within"];

/// How one request ended, seen from the client.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// 2xx with data and no errors.
    Done {
        id: String,
        version: i64,
        at: Instant,
    },
    /// An answer with errors, each with a contract code and no internal detail.
    Refused { status: u16, code: String },
    /// Connection refused: the request never reached the server.
    NotSent,
    /// The connection ended without an answer; the request may or may not have run.
    Lost(String),
    /// Anything a client must never see: a 500, an unknown code, a leaked detail.
    Dirty(String),
}

impl Reply {
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Self::Done { .. })
    }
}

/// One request of a chain, kept so it can be sent again with the same key and input.
#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    pub(crate) query: &'static str,
    pub(crate) input: Value,
    pub(crate) to_state: &'static str,
    pub(crate) reply: Reply,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Chain {
    /// The creation first, then the transitions, up to and including the first that failed.
    pub(crate) attempts: Vec<Attempt>,
}

impl Chain {
    pub(crate) fn position(&self) -> Option<&str> {
        match &self.attempts.first()?.reply {
            Reply::Done { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// An ADMIN key's view of the API, with the asset positions are opened on.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) client: reqwest::Client,
    pub(crate) address: String,
    pub(crate) key: String,
    pub(crate) asset: String,
}

impl Api {
    pub(crate) async fn send(&self, query: &str, input: &Value) -> Reply {
        let sent = self
            .client
            .post(format!("{}/graphql", self.address))
            .header("X-API-Key", &self.key)
            .json(&json!({ "query": query, "variables": { "input": input } }))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) if error.is_connect() => return Reply::NotSent,
            Err(error) => return Reply::Lost(error.to_string()),
        };
        let status = response.status();
        let body: Value = match response.json().await {
            Ok(body) => body,
            Err(error) => return Reply::Lost(format!("{status}: {error}")),
        };
        classify(status, &body)
    }
}

fn classify(status: StatusCode, body: &Value) -> Reply {
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    if status.is_success() && errors.is_empty() {
        let data = body["data"]
            .as_object()
            .and_then(|data| data.values().next())
            .cloned()
            .unwrap_or(Value::Null);
        return match (data["id"].as_str(), data["version"].as_i64()) {
            (Some(id), Some(version)) => Reply::Done {
                id: id.to_owned(),
                version,
                at: Instant::now(),
            },
            _ => Reply::Dirty(format!("{status} without data: {body}")),
        };
    }
    if ![200, 503, 504].contains(&status.as_u16()) {
        return Reply::Dirty(format!("status {status}: {body}"));
    }
    let Some(first) = errors.first() else {
        return Reply::Dirty(format!("{status} without errors or data: {body}"));
    };
    for error in &errors {
        let code = error["extensions"]["code"].as_str().unwrap_or_default();
        let message = error["message"].as_str().unwrap_or_default();
        let clean = code == "INTERNAL_SERVER_ERROR"
            && CLEAN_INTERNAL
                .iter()
                .any(|allowed| message.starts_with(allowed));
        if !clean {
            return Reply::Dirty(format!("{status} {code} {message:?}: {body}"));
        }
    }
    Reply::Refused {
        status: status.as_u16(),
        code: first["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

fn creation(asset: &str) -> Value {
    let id = uuid::Uuid::now_v7().simple().to_string();
    json!({
        "assetId": asset,
        "holderReference": format!("LOAD-{}", &id[20..]),
        "currency": "USD",
        "amount": "1000.00",
        "idempotencyKey": format!("create-{id}"),
    })
}

fn transition(position: &str, to_state: &'static str) -> Value {
    let mut input = json!({
        "positionId": position,
        "toState": to_state,
        "reason": "load",
        "idempotencyKey": format!("move-{}", uuid::Uuid::now_v7().simple()),
    });
    if to_state == "PARTIALLY_RELEASED" {
        input["releaseAmount"] = json!("10.00");
    }
    input
}

const STEPS: [&str; 3] = ["FUNDED", "PARTIALLY_RELEASED", "RELEASED"];

/// Runs one chain until a step fails.
pub(crate) async fn run_chain(api: &Api) -> Chain {
    let input = creation(&api.asset);
    let reply = api.send(CREATE, &input).await;
    let mut chain = Chain {
        attempts: vec![Attempt {
            query: CREATE,
            input,
            to_state: "CREATED",
            reply,
        }],
    };
    let Some(position) = chain.position().map(str::to_owned) else {
        return chain;
    };
    for to_state in STEPS {
        let input = transition(&position, to_state);
        let reply = api.send(TRANSITION, &input).await;
        let done = reply.is_done();
        chain.attempts.push(Attempt {
            query: TRANSITION,
            input,
            to_state,
            reply,
        });
        if !done {
            break;
        }
    }
    chain
}

/// Chains back to back until `stop`, or until the server is gone (a reply that never came)
/// when `until_gone`.
pub(crate) async fn worker(api: Api, stop: Arc<AtomicBool>, until_gone: bool) -> Vec<Chain> {
    let mut chains = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let chain = run_chain(&api).await;
        let gone = chain
            .attempts
            .iter()
            .any(|attempt| matches!(attempt.reply, Reply::NotSent | Reply::Lost(_)));
        chains.push(chain);
        if gone && until_gone {
            break;
        }
    }
    chains
}

/// What the database must hold for a chain once every failed step was retried.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Settled {
    pub(crate) position: String,
    pub(crate) version: i64,
    pub(crate) state: &'static str,
}

/// Sends the chain's failed step again, same key and same input: it must now succeed, either
/// replaying what had committed or applying for the first time. Later steps were never sent.
pub(crate) async fn settle(api: &Api, chain: &mut Chain) -> Settled {
    for attempt in &mut chain.attempts {
        if !attempt.reply.is_done() {
            attempt.reply = api.send(attempt.query, &attempt.input).await;
            assert!(
                attempt.reply.is_done(),
                "retrying {} with its idempotency key failed: {:?}",
                attempt.to_state,
                attempt.reply
            );
        }
    }
    let position = chain.position().expect("created").to_owned();
    let last = chain.attempts.last().expect("at least the creation");
    let Reply::Done { version, .. } = last.reply else {
        unreachable!("settled above");
    };
    Settled {
        position,
        version,
        state: last.to_state,
    }
}

/// Replies by kind, for the test's report.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) done: usize,
    pub(crate) refused: std::collections::BTreeMap<(u16, String), usize>,
    pub(crate) not_sent: usize,
    pub(crate) lost: Vec<String>,
    pub(crate) dirty: Vec<String>,
}

pub(crate) fn tally<'a>(chains: impl IntoIterator<Item = &'a Chain>) -> Tally {
    let mut tally = Tally::default();
    for attempt in chains.into_iter().flat_map(|chain| &chain.attempts) {
        match &attempt.reply {
            Reply::Done { .. } => tally.done += 1,
            Reply::Refused { status, code } => {
                *tally.refused.entry((*status, code.clone())).or_default() += 1;
            }
            Reply::NotSent => tally.not_sent += 1,
            Reply::Lost(reason) => tally.lost.push(reason.clone()),
            Reply::Dirty(what) => tally.dirty.push(what.clone()),
        }
    }
    tally
}

/// Data of a root-key request that must succeed.
async fn root_data(
    client: &reqwest::Client,
    address: &str,
    root: &str,
    query: &str,
    variables: Value,
) -> Value {
    let response = client
        .post(format!("{address}/graphql"))
        .header("X-API-Key", root)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("the server answers");
    let body: Value = response.json().await.expect("a JSON body");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// An institution, its ADMIN key, a CONSTR_ESCROW template (USD) and an asset, through the
/// API with the root key.
pub(crate) async fn seed(address: &str, root: &str) -> Api {
    let client = reqwest::Client::new();
    let institution = root_data(
        &client,
        address,
        root,
        "mutation { createInstitution(input: {name: \"Loaded Bank\", regions: [US], verticals: [CONSTRUCTION]}) { id } }",
        json!({}),
    )
    .await["createInstitution"]["id"]
        .clone();
    let key = root_data(
        &client,
        address,
        root,
        "mutation($id: ID!) { createApiKey(input: {institutionId: $id, label: \"load\", role: ADMIN}) { token } }",
        json!({ "id": institution }),
    )
    .await["createApiKey"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let template = root_data(
        &client,
        address,
        root,
        "mutation($id: ID!) { createAssetTemplate(input: {institutionId: $id, code: CONSTR_ESCROW, name: \"Escrow\", vertical: CONSTRUCTION, region: US, config: {currency: \"USD\", region: \"US\"}}) { id } }",
        json!({ "id": institution }),
    )
    .await["createAssetTemplate"]["id"]
        .clone();
    let asset = root_data(
        &client,
        address,
        root,
        "mutation($id: ID!, $template: ID!) { createAsset(input: {institutionId: $id, templateId: $template, label: \"Loaded\"}) { id } }",
        json!({ "id": institution, "template": template }),
    )
    .await["createAsset"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    Api {
        client,
        address: address.to_owned(),
        key,
        asset,
    }
}
