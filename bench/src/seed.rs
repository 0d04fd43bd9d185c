//! Seeds N institutions × M assets × K positions × E events through the public GraphQL API, so
//! the data goes through the same validation, ledger and audit writes as production data.
//! Amounts and holder references come from a fixed-seed RNG: ids are the server's (UUID v7),
//! everything else is identical from run to run.

use crate::client::Api;
use crate::error::{Error, Result};
use crate::queries;
use futures::{StreamExt as _, TryStreamExt as _, stream};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use std::time::Instant;

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(crate) struct SeedConfig {
    pub(crate) institutions: usize,
    pub(crate) assets: usize,
    pub(crate) positions: usize,
    pub(crate) events: usize,
    #[serde(skip)]
    pub(crate) concurrency: usize,
    pub(crate) seed: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct AssetRef {
    pub(crate) id: String,
    pub(crate) institution: String,
}

/// What the workloads pick from.
#[derive(Debug)]
pub(crate) struct SeedData {
    pub(crate) institutions: Vec<String>,
    pub(crate) assets: Vec<AssetRef>,
    pub(crate) positions: Vec<String>,
    /// The positions of `institutions[0]`, the institution the bench's institution key
    /// belongs to.
    pub(crate) first_institution_positions: Vec<String>,
}

/// One position's lifecycle, decided before any request is sent so concurrency cannot change it.
struct PositionPlan {
    asset: usize,
    holder: String,
    amount: String,
    external: String,
    /// E ≥ 2: the first transition is to FUNDED.
    funded: bool,
    /// Amounts of the PARTIALLY_RELEASED steps after FUNDED (E-2 of them).
    releases: Vec<String>,
}

impl SeedConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.institutions == 0 || self.assets == 0 || self.positions == 0 {
            return Err(Error::msg(
                "--institutions, --assets and --positions must be at least 1",
            ));
        }
        if self.events == 0 {
            return Err(Error::msg(
                "--events must be at least 1 (the creation event)",
            ));
        }
        // Releases of at most 100.00 each must stay below the smallest amount (10 000.00).
        if self.events > 90 {
            return Err(Error::msg("--events is at most 90"));
        }
        if self.concurrency == 0 {
            return Err(Error::msg("--seed-concurrency must be at least 1"));
        }
        Ok(())
    }
}

/// Money as the contract's Decimal string, from whole cents.
pub(crate) fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

pub(crate) async fn seed(api: &Api, config: SeedConfig) -> Result<SeedData> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(config.seed);

    let mut institutions = Vec::with_capacity(config.institutions);
    for index in 0..config.institutions {
        let input = json!({
            "name": format!("Bench Institution {index:03}"),
            "regions": ["US"],
            "verticals": ["CONSTRUCTION"],
        });
        let data: Value = api
            .must(queries::CREATE_INSTITUTION, json!({ "input": input }))
            .await?;
        institutions.push(id_of(&data, "createInstitution")?);
    }

    let templates: Vec<String> = stream::iter(institutions.iter().enumerate())
        .map(|(index, institution)| async move {
            let input = json!({
                "institutionId": institution,
                "code": "CONSTR_ESCROW",
                "name": format!("Project escrow {index:03}"),
                "vertical": "CONSTRUCTION",
                "region": "US",
                "config": { "currency": "USD", "region": "US" },
            });
            let data: Value = api
                .must(queries::CREATE_TEMPLATE, json!({ "input": input }))
                .await?;
            id_of(&data, "createAssetTemplate")
        })
        .buffered(config.concurrency)
        .try_collect()
        .await?;

    let asset_specs: Vec<(usize, usize)> = (0..config.institutions)
        .flat_map(|institution| (0..config.assets).map(move |asset| (institution, asset)))
        .collect();
    let assets: Vec<AssetRef> = stream::iter(asset_specs)
        .map(|(institution, asset)| {
            let institution_id = institutions[institution].clone();
            let template_id = templates[institution].clone();
            async move {
                let input = json!({
                    "institutionId": institution_id,
                    "templateId": template_id,
                    "label": format!("Project {institution:03}-{asset:03}"),
                    "metadata": { "site": format!("site-{asset:03}"), "phase": asset % 4 },
                });
                let data: Value = api
                    .must(queries::CREATE_ASSET, json!({ "input": input }))
                    .await?;
                Ok::<_, Error>(AssetRef {
                    id: id_of(&data, "createAsset")?,
                    institution: institution_id,
                })
            }
        })
        .buffered(config.concurrency)
        .try_collect()
        .await?;

    let plans: Vec<PositionPlan> = (0..assets.len())
        .flat_map(|asset| (0..config.positions).map(move |position| (asset, position)))
        .map(|(asset, position)| PositionPlan {
            asset,
            holder: format!("holder-{:06}", rng.random_range(0..1_000_000u32)),
            amount: money(rng.random_range(1_000_000..100_000_000u64)),
            external: format!("ext-{asset:04}-{position:03}"),
            funded: config.events >= 2,
            releases: (2..config.events)
                .map(|_| money(rng.random_range(100..=10_000u64)))
                .collect(),
        })
        .collect();
    let assets_ref = &assets;
    let first_institution_assets = config.assets;
    let planned_assets: Vec<usize> = plans.iter().map(|plan| plan.asset).collect();
    let positions: Vec<String> = stream::iter(plans)
        .map(|plan| async move { seed_position(api, &assets_ref[plan.asset], plan).await })
        .buffered(config.concurrency)
        .try_collect()
        .await?;

    let mutations = config.institutions * 2 + assets.len() + positions.len() * config.events;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "bench: seeded {} institutions, {} assets, {} positions × {} events ({mutations} mutations) in {seconds:.1} s ({:.0} mutations/s)",
        institutions.len(),
        assets.len(),
        positions.len(),
        config.events,
        mutations as f64 / seconds
    );
    // Assets are created institution by institution, so the first institution's are the
    // first `--assets` of them.
    let first_institution_positions = positions
        .iter()
        .zip(planned_assets)
        .filter(|(_, asset)| *asset < first_institution_assets)
        .map(|(id, _)| id.clone())
        .collect();
    Ok(SeedData {
        institutions,
        assets,
        positions,
        first_institution_positions,
    })
}

/// An ADMIN key of `institution`, created with the root key as an operator would: the read
/// workloads also run with it, because an institution key is what production traffic carries
/// (and it sees only its institution).
pub(crate) async fn institution_key(api: &Api, institution: &str) -> Result<String> {
    let input = json!({
        "institutionId": institution,
        "label": "bench institution admin",
        "role": "ADMIN",
    });
    let data: Value = api
        .must(queries::CREATE_API_KEY, json!({ "input": input }))
        .await?;
    data["createApiKey"]["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::msg(format!("createApiKey answered without a token: {data}")))
}

/// Creates one position and walks it through E-1 transitions: FUNDED, then PARTIALLY_RELEASED.
async fn seed_position(api: &Api, asset: &AssetRef, plan: PositionPlan) -> Result<String> {
    let input = json!({
        "institutionId": asset.institution,
        "assetId": asset.id,
        "holderReference": plan.holder,
        "currency": "USD",
        "amount": plan.amount,
        "externalReference": plan.external,
    });
    let data: Value = api
        .must(queries::CREATE_POSITION, json!({ "input": input }))
        .await?;
    let id = id_of(&data, "createPosition")?;
    // With E events there are E-1 transitions; E = 1 leaves the position CREATED.
    let funded = plan.funded.then_some(("FUNDED", None));
    let released = plan
        .releases
        .iter()
        .map(|amount| ("PARTIALLY_RELEASED", Some(amount.as_str())));
    let steps = funded.into_iter().chain(released);
    for (to_state, release) in steps {
        let mut input = json!({ "positionId": id, "toState": to_state });
        if let Some(amount) = release {
            input["releaseAmount"] = json!(amount);
        }
        let _: Value = api
            .must(queries::TRANSITION, json!({ "input": input }))
            .await?;
    }
    Ok(id)
}

/// `data.<field>.id` of a mutation answer.
pub(crate) fn id_of(data: &Value, field: &str) -> Result<String> {
    data.get(field)
        .and_then(|node| node.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::msg(format!("{field} answered without an id: {data}")))
}
