//! Load harness for escrowgrid: for each store it starts the release server as a child process,
//! seeds it over GraphQL, drives each workload over real HTTP/websockets and prints one JSON
//! line per (store, workload) plus a Markdown table. See docs/benchmarks.md.

mod anchor;
mod args;
mod client;
mod error;
mod exactness;
mod fanout;
mod meter;
mod pgbench;
mod postgres;
mod procfs;
mod queries;
mod report;
mod seed;
mod send_floor;
mod server;
mod stats;
mod workloads;

use args::{Args, KeyKind, StoreKind, Workload};
use clap::Parser as _;
use client::Api;
use error::{Context as _, Error, Result};
use meter::Meter;
use postgres::BenchDb;
use procfs::Machine;
use report::Record;
use seed::{SeedConfig, SeedData};
use serde_json::{Value, json};
use server::Server;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;
use workloads::Caller;

/// The root key every bench server starts with. At least 32 characters, as the server demands;
/// a throwaway for a loopback-only server, not a secret.
const ROOT_KEY: &str = "bench-root-key-0123456789abcdefghijklmnopqrstuvwxyz";

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.floor_reader {
        Some(address) => send_floor::read(address, args.subscribers).await,
        None => run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What every record of a run shares.
pub(crate) struct RunInfo {
    pub(crate) seed: SeedConfig,
    pub(crate) machine: Machine,
    pub(crate) commit: Option<String>,
}

async fn run(args: Args) -> Result<()> {
    if args.clients == 0 || args.seconds == 0 || args.rate == 0 {
        return Err(Error::msg(
            "--clients, --seconds and --rate must be at least 1",
        ));
    }
    let seed_config = SeedConfig {
        institutions: args.institutions,
        assets: args.assets,
        positions: args.positions,
        events: args.events,
        concurrency: args.seed_concurrency,
        seed: args.seed,
    };
    seed_config.validate()?;
    let bin = match &args.server_bin {
        Some(path) => path.clone(),
        None => server::build()?,
    };
    let out_dir = args
        .out
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    std::fs::create_dir_all(&out_dir).context(format!("creating {}", out_dir.display()))?;
    let mut out =
        std::fs::File::create(&args.out).context(format!("creating {}", args.out.display()))?;
    let info = RunInfo {
        seed: seed_config,
        machine: Machine::describe(),
        commit: git_commit(),
    };
    eprintln!(
        "bench: machine {} ({} CPUs, {:.1} GiB), server {}",
        info.machine.cpu_model,
        info.machine.cpus,
        info.machine.memory_gib,
        bin.display()
    );
    let ticks_per_second = procfs::clock_ticks_per_second();
    let mut records = Vec::new();
    for store in unique(&args.stores) {
        let db = match store {
            StoreKind::Memory => None,
            StoreKind::Postgres => Some(BenchDb::create(&args.database_url, args.keep_database)?),
        };
        let log = out_dir.join(format!("server-{}.log", store.name()));
        let server = Server::start(
            &bin,
            db.as_ref().map(BenchDb::url),
            ROOT_KEY,
            &log,
            &args.server_log,
        )
        .await?;
        eprintln!(
            "bench: {} store: server pid {} at {}{} (log {})",
            store.name(),
            server.pid(),
            server.base_url(),
            db.as_ref()
                .map(|db| format!(", database {}", db.name()))
                .unwrap_or_default(),
            server.log().display()
        );
        let api = Arc::new(Api::new(server.base_url(), ROOT_KEY)?);
        let data = Arc::new(seed::seed(&api, seed_config).await?);
        let nested_shape = workloads::verify_nested(&api, &seed_config).await?;
        let callers = callers(&args, &api, server.base_url(), &data).await?;
        let meter = Meter {
            api: &api,
            server_pid: server.pid(),
            db: db.as_ref(),
            ticks_per_second,
        };
        for workload in unique(&args.workloads) {
            let mut produced = Vec::new();
            match workload {
                Workload::Fanout => {
                    produced
                        .push(run_fanout(store, &args, &api, &server, &data, &meter, &info).await);
                }
                Workload::Pgbench => match &db {
                    Some(db) => {
                        produced.extend(anchor::run(&args, &api, db, &data, &meter, &info).await);
                    }
                    None => eprintln!("bench: pgbench runs on the postgres store only"),
                },
                _ => {
                    let keys: Vec<&Arc<Caller>> = if workload.is_read() {
                        callers
                            .iter()
                            .filter(|caller| args.keys.contains(&caller.key))
                            .collect()
                    } else {
                        // Writes and mixed need a key that may write anywhere: the root key.
                        callers.iter().take(1).collect()
                    };
                    for caller in keys {
                        let detail = match workload {
                            Workload::Nested if caller.key == KeyKind::Root => nested_shape.clone(),
                            Workload::Mixed => json!({ "write_share": 0.10 }),
                            _ => Value::Null,
                        };
                        let record = run_closed(
                            store, workload, &args, caller, &data, &meter, &info, detail,
                        )
                        .await
                        .context(format!(
                            "{} with the {} key on {} (server log {})",
                            workload.name(),
                            caller.key.name(),
                            store.name(),
                            server.log().display()
                        ))?;
                        produced.push(record);
                    }
                }
            }
            for record in produced {
                println!("{}", record.line());
                let line = serde_json::to_string(&record).context("encoding a record")?;
                writeln!(out, "{line}").context(format!("writing {}", args.out.display()))?;
                records.push(record);
            }
        }
        server.stop().await;
        drop(db);
    }
    let mut table = report::markdown(&records);
    let ratios = report::ratios(&records);
    if !ratios.is_empty() {
        table.push_str("\nPoint reads against PostgreSQL's own rate in the same run:\n\n");
        table.push_str(&ratios);
    }
    println!("\n{table}");
    let table_path = args.out.with_extension("md");
    std::fs::write(&table_path, &table).context(format!("writing {}", table_path.display()))?;
    eprintln!(
        "bench: wrote {} and {}",
        args.out.display(),
        table_path.display()
    );
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename these"
)]
async fn run_closed(
    store: StoreKind,
    workload: Workload,
    args: &Args,
    caller: &Arc<Caller>,
    data: &Arc<SeedData>,
    meter: &Meter<'_>,
    info: &RunInfo,
    detail: Value,
) -> Result<Record> {
    if args.warmup > 0 {
        let warmup = Duration::from_secs(args.warmup);
        let seed = args.seed.wrapping_add(1);
        workloads::closed_loop(workload, caller, data, args.clients, warmup, seed).await?;
    }
    let reading = meter.start().await?;
    let duration = Duration::from_secs(args.seconds);
    let outcome =
        workloads::closed_loop(workload, caller, data, args.clients, duration, args.seed).await?;
    let costs = meter.finish(reading).await?;
    let tally = outcome.tally;
    let seconds = outcome.elapsed.as_secs_f64();
    let sent = tally.requests();
    Ok(Record {
        store: store.name(),
        workload: workload.name(),
        key: Some(caller.key.name()),
        status: "ok".to_owned(),
        clients: args.clients,
        seconds,
        requests: tally.ok,
        errors: tally.errors,
        requests_per_second: tally.ok as f64 / seconds,
        // Failed requests ran statements too: divide by every request sent.
        statements_per_request: (sent > 0).then(|| costs.statements as f64 / sent as f64),
        latency_ms: stats::summarize(tally.latencies),
        error_latency_ms: stats::summarize(tally.error_latencies),
        costs: Some(costs),
        error_samples: tally.samples,
        detail,
        seed: info.seed,
        machine: info.machine.clone(),
        commit: info.commit.clone(),
    })
}

async fn run_fanout(
    store: StoreKind,
    args: &Args,
    api: &Arc<Api>,
    server: &Server,
    data: &SeedData,
    meter: &Meter<'_>,
    info: &RunInfo,
) -> Record {
    let config = fanout::FanoutConfig {
        subscribers: args.subscribers,
        rate: args.rate,
        seconds: args.seconds,
        seed: args.seed,
        selection: args.fanout_selection,
    };
    match fanout::run(api, server.base_url(), ROOT_KEY, data, &config, meter).await {
        Ok(mut outcome) => {
            let (sockets, rate, seconds) = (args.subscribers, args.rate, args.seconds);
            let floor =
                tokio::task::spawn_blocking(move || send_floor::measure(sockets, rate, seconds))
                    .await;
            match floor {
                Ok(Ok(floor)) => {
                    eprintln!(
                        "bench: fanout floor (raw loopback TCP): {}",
                        floor.summary()
                    );
                    outcome.detail["send_floor"] = floor.detail();
                }
                Ok(Err(error)) => eprintln!("bench: fanout floor unavailable: {error}"),
                Err(error) => eprintln!("bench: fanout floor unavailable: {error}"),
            }
            let seconds = outcome.elapsed.as_secs_f64();
            Record {
                store: store.name(),
                workload: Workload::Fanout.name(),
                key: None,
                status: "ok".to_owned(),
                clients: args.subscribers,
                seconds,
                requests: outcome.deliveries,
                errors: outcome.errors,
                requests_per_second: if seconds > 0.0 {
                    outcome.deliveries as f64 / seconds
                } else {
                    0.0
                },
                latency_ms: outcome.latency,
                error_latency_ms: None,
                statements_per_request: (outcome.published > 0)
                    .then(|| outcome.costs.statements as f64 / outcome.published as f64),
                costs: Some(outcome.costs),
                error_samples: outcome.samples,
                detail: outcome.detail,
                seed: info.seed,
                machine: info.machine.clone(),
                commit: info.commit.clone(),
            }
        }
        Err(reason) => {
            eprintln!("bench: fanout on {} unavailable: {reason}", store.name());
            Record::unavailable(
                store.name(),
                Workload::Fanout.name(),
                args.subscribers,
                reason,
                info.seed,
                info.machine.clone(),
                info.commit.clone(),
            )
        }
    }
}

/// The root caller first (writes and mixed always use it), then one per other `--keys` entry; an institution key is created
/// for the first seeded institution (it sees that institution only).
async fn callers(
    args: &Args,
    root: &Arc<Api>,
    base_url: &str,
    data: &SeedData,
) -> Result<Vec<Arc<Caller>>> {
    let mut callers = vec![Arc::new(Caller {
        key: KeyKind::Root,
        api: Arc::clone(root),
        institutions: data.institutions.clone(),
        positions: data.positions.clone(),
    })];
    if args.keys.contains(&KeyKind::Institution) {
        let institution = data
            .institutions
            .first()
            .ok_or_else(|| Error::msg("no institution was seeded"))?;
        let token = seed::institution_key(root, institution).await?;
        callers.push(Arc::new(Caller {
            key: KeyKind::Institution,
            api: Arc::new(Api::new(base_url, &token)?),
            institutions: vec![institution.clone()],
            positions: data.first_institution_positions.clone(),
        }));
    }
    Ok(callers)
}

/// Flags in the order given, each once.
fn unique<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(item) {
            out.push(*item);
        }
    }
    out
}

/// The commit measured (read-only git), "-dirty" when the work tree differs from it.
fn git_commit() -> Option<String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace)
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    let mut commit = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(workspace)
        .output()
        .is_ok_and(|out| !out.stdout.is_empty());
    if dirty {
        commit.push_str("-dirty");
    }
    Some(commit)
}
