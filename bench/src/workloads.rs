//! The request/response workloads (`nested`, `nested_page`, `one_institution`, `point`,
//! `point_events`, `write`, `mixed`): C closed-loop clients, each sending its next request as
//! soon as the previous one answered, until the deadline. Closed loop measures what the server
//! sustains; latency is per HTTP request.

use crate::args::{KeyKind, Workload};
use crate::client::Api;
use crate::error::{Error, Result};
use crate::queries;
use crate::seed::{SeedConfig, SeedData, id_of, money};
use crate::stats::Tally;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Share of `mixed` requests that are writes.
const MIXED_WRITE_SHARE: f64 = 0.10;

/// Who sends the requests, and what that key can see to pick from.
pub(crate) struct Caller {
    pub(crate) key: KeyKind,
    pub(crate) api: Arc<Api>,
    pub(crate) institutions: Vec<String>,
    pub(crate) positions: Vec<String>,
}

pub(crate) struct Outcome {
    pub(crate) tally: Tally,
    pub(crate) elapsed: Duration,
}

/// Runs `workload` with `clients` clients for `duration`. Requests still in flight at the
/// deadline finish and count; `elapsed` runs until the last of them answered.
pub(crate) async fn closed_loop(
    workload: Workload,
    caller: &Arc<Caller>,
    data: &Arc<SeedData>,
    clients: usize,
    duration: Duration,
    seed: u64,
) -> Result<Outcome> {
    if caller.positions.is_empty() || caller.institutions.is_empty() {
        return Err(Error::msg(format!(
            "the {} key sees no seeded institution or position",
            caller.key.name()
        )));
    }
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..clients)
        .map(|client| {
            let caller = Arc::clone(caller);
            let data = Arc::clone(data);
            // Each client its own stream, so the choices do not depend on scheduling.
            let rng =
                StdRng::seed_from_u64(seed ^ (client as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            tokio::spawn(async move { client_loop(workload, &caller, &data, rng, deadline).await })
        })
        .collect();
    let mut tally = Tally::default();
    for handle in handles {
        let client = handle
            .await
            .map_err(|error| Error::msg(format!("a client task failed: {error}")))?;
        tally.merge(client);
    }
    Ok(Outcome {
        tally,
        elapsed: started.elapsed(),
    })
}

#[derive(Deserialize)]
struct PointData {
    position: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct InstitutionData {
    institution: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct PageData {
    institutions: Nodes,
}

#[derive(Deserialize)]
struct Nodes {
    nodes: Vec<IgnoredAny>,
}

async fn client_loop(
    workload: Workload,
    caller: &Caller,
    data: &SeedData,
    mut rng: StdRng,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    // A position this client created and has not funded yet: writes alternate
    // createPosition / transitionPosition(FUNDED), one request per step.
    let mut pending: Option<String> = None;
    while Instant::now() < deadline {
        let api = &caller.api;
        match workload {
            Workload::Nested => {
                tally.record(api.call::<IgnoredAny>(queries::NESTED, json!({})).await);
            }
            Workload::NestedPage => {
                let answer = api.call::<PageData>(queries::NESTED_PAGE, json!({})).await;
                tally.record_checked(answer, |page| {
                    page.institutions
                        .nodes
                        .is_empty()
                        .then(|| "institutions(first: 2) returned no institution".to_owned())
                });
            }
            Workload::OneInstitution => {
                let id = &caller.institutions[rng.random_range(0..caller.institutions.len())];
                let answer = api
                    .call::<InstitutionData>(queries::ONE_INSTITUTION, json!({ "id": id }))
                    .await;
                tally.record_checked(answer, |found| {
                    found
                        .institution
                        .is_none()
                        .then(|| format!("institution({id}) returned null"))
                });
            }
            Workload::Point => point(queries::POINT, caller, &mut rng, &mut tally).await,
            Workload::PointEvents => {
                point(queries::POINT_EVENTS, caller, &mut rng, &mut tally).await;
            }
            Workload::Write => write_step(api, data, &mut rng, &mut pending, &mut tally).await,
            Workload::Mixed => {
                if rng.random_bool(MIXED_WRITE_SHARE) {
                    write_step(api, data, &mut rng, &mut pending, &mut tally).await;
                } else {
                    point(queries::POINT, caller, &mut rng, &mut tally).await;
                }
            }
            // Not request/response workloads; main never sends them here.
            Workload::Pgbench | Workload::Fanout => break,
        }
    }
    tally
}

async fn point(query: &str, caller: &Caller, rng: &mut StdRng, tally: &mut Tally) {
    let id = &caller.positions[rng.random_range(0..caller.positions.len())];
    let answer = caller
        .api
        .call::<PointData>(query, json!({ "id": id }))
        .await;
    tally.record_checked(answer, |found| {
        found
            .position
            .is_none()
            .then(|| format!("position({id}) returned null"))
    });
}

async fn write_step(
    api: &Api,
    data: &SeedData,
    rng: &mut StdRng,
    pending: &mut Option<String>,
    tally: &mut Tally,
) {
    match pending.take() {
        None => {
            let asset = &data.assets[rng.random_range(0..data.assets.len())];
            let input = json!({
                "institutionId": asset.institution,
                "assetId": asset.id,
                "holderReference": format!("bench-holder-{:06}", rng.random_range(0..1_000_000u32)),
                "currency": "USD",
                "amount": money(rng.random_range(1_000_000..100_000_000u64)),
            });
            let answer = api
                .call::<Value>(queries::CREATE_POSITION, json!({ "input": input }))
                .await;
            let created = tally.record_checked(answer, |created| {
                id_of(created, "createPosition")
                    .err()
                    .map(|error| error.to_string())
            });
            *pending = created.and_then(|created| id_of(&created, "createPosition").ok());
        }
        Some(id) => {
            let input = json!({ "positionId": id, "toState": "FUNDED", "expectedVersion": 1 });
            let answer = api
                .call::<IgnoredAny>(queries::TRANSITION, json!({ "input": input }))
                .await;
            tally.record(answer);
        }
    }
}

/// Runs the nested query once and checks it returns the seeded shape, so the published numbers
/// are for the query the docs describe (and not, say, an empty first page).
pub(crate) async fn verify_nested(api: &Api, config: &SeedConfig) -> Result<Value> {
    let data: Value = api.must(queries::NESTED, json!({})).await?;
    let bytes = data.to_string().len();
    let edges = |value: &Value, field: &str| -> Vec<Value> {
        value[field]["edges"]
            .as_array()
            .map(|edges| edges.iter().map(|edge| edge["node"].clone()).collect())
            .unwrap_or_default()
    };
    let institutions = edges(&data, "institutions");
    let assets: Vec<Value> = institutions
        .iter()
        .flat_map(|institution| edges(institution, "assets"))
        .collect();
    let positions: Vec<Value> = assets
        .iter()
        .flat_map(|asset| edges(asset, "positions"))
        .collect();
    let events: usize = positions
        .iter()
        .map(|position| position["events"].as_array().map_or(0, Vec::len))
        .sum();
    let expected_institutions = config.institutions.min(10);
    let expected_assets = expected_institutions * config.assets.min(20);
    let expected_positions = expected_assets * config.positions.min(20);
    let expected_events = expected_positions * config.events;
    let found = (institutions.len(), assets.len(), positions.len(), events);
    let expected = (
        expected_institutions,
        expected_assets,
        expected_positions,
        expected_events,
    );
    if found != expected {
        return Err(Error::msg(format!(
            "the nested query returned (institutions, assets, positions, events) = {found:?}, expected {expected:?}"
        )));
    }
    eprintln!(
        "bench: nested query returns {} institutions, {} assets, {} positions, {} events ({:.1} KiB of data)",
        found.0,
        found.1,
        found.2,
        found.3,
        bytes as f64 / 1024.0
    );
    Ok(json!({
        "institutions": found.0,
        "assets": found.1,
        "positions": found.2,
        "events": found.3,
        "response_kib": bytes as f64 / 1024.0,
    }))
}
