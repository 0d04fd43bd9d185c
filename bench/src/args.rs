//! Command-line flags. Every default is the documented configuration in docs/benchmarks.md, so a
//! bare `cargo run --release -p bench` reproduces the published table.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Seed escrowgrid, drive it over HTTP/websockets, print JSON lines and a Markdown table"
)]
pub(crate) struct Args {
    /// Workloads to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "nested,nested_page,one_institution,point,point_events,pgbench,write,mixed,fanout"
    )]
    pub(crate) workloads: Vec<Workload>,
    /// Keys every read workload (nested, nested_page, one_institution, point, point_events)
    /// runs with: the root key, and an ADMIN key of the first seeded institution.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "root,institution"
    )]
    pub(crate) keys: Vec<KeyKind>,
    /// Stores to run every workload against (each gets a fresh server).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "memory,postgres"
    )]
    pub(crate) stores: Vec<StoreKind>,
    /// Concurrent clients for nested/point/write/mixed (closed loop: each sends its next request
    /// when the previous one answered).
    #[arg(long, default_value_t = 16)]
    pub(crate) clients: usize,
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Unmeasured warm-up seconds before each workload (fills pools and caches).
    #[arg(long, default_value_t = 2)]
    pub(crate) warmup: u64,
    /// Seed: institutions.
    #[arg(long, default_value_t = 10)]
    pub(crate) institutions: usize,
    /// Seed: assets per institution.
    #[arg(long, default_value_t = 20)]
    pub(crate) assets: usize,
    /// Seed: positions per asset.
    #[arg(long, default_value_t = 20)]
    pub(crate) positions: usize,
    /// Seed: lifecycle events per position (creation + FUNDED + PARTIALLY_RELEASED…).
    #[arg(long, default_value_t = 3)]
    pub(crate) events: usize,
    /// Seeding mutations in flight at once.
    #[arg(long, default_value_t = 8)]
    pub(crate) seed_concurrency: usize,
    /// Fixed RNG seed: amounts, holder references and the workloads' random choices.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// fanout: websocket subscribers.
    #[arg(long, default_value_t = 5000)]
    pub(crate) subscribers: usize,
    /// fanout: events committed per second.
    #[arg(long, default_value_t = 10)]
    pub(crate) rate: u32,
    /// fanout: what each subscriber selects on every event.
    #[arg(long, value_enum, default_value = "nested")]
    pub(crate) fanout_selection: FanoutSelection,
    /// pgbench executable (default: `pgbench` on PATH, else /usr/lib/postgresql/*/bin/pgbench).
    #[arg(long)]
    pub(crate) pgbench_bin: Option<PathBuf>,
    /// JSON lines output; the Markdown table is written next to it with a `.md` extension.
    #[arg(long, default_value = "target/bench/results.jsonl")]
    pub(crate) out: PathBuf,
    /// PostgreSQL URL used to create (and at the end drop) a fresh `escrowgrid_bench_*` database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub(crate) database_url: String,
    /// Server binary to run instead of building `target/release/escrowgrid` first.
    #[arg(long)]
    pub(crate) server_bin: Option<PathBuf>,
    /// RUST_LOG for the server (its logs go to target/bench/server-<store>.log).
    #[arg(long, default_value = "info")]
    pub(crate) server_log: String,
    /// Keep the bench database instead of dropping it at the end (to inspect it).
    #[arg(long)]
    pub(crate) keep_database: bool,
    /// Internal: run as the fan-out floor's reader, connecting `--subscribers` sockets to this
    /// address (see `send_floor`).
    #[arg(long, hide = true)]
    pub(crate) floor_reader: Option<std::net::SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// institutions → assets → positions → events, first 10/20/20 (nested_full).
    Nested,
    /// institutions(first: 2) → assets(first: 5) → positions(first: 10) → events.
    #[value(name = "nested_page")]
    NestedPage,
    /// institution(id) → assets(first: 20) → positions(first: 20) → events.
    #[value(name = "one_institution")]
    OneInstitution,
    /// position(id) with its scalars and to-one ids, for random seeded ids.
    Point,
    /// `point` plus the position's events.
    #[value(name = "point_events")]
    PointEvents,
    /// PostgreSQL's own rate in the same run: `pgbench -S` on a scratch database, and the
    /// server's captured point-read statement on the bench database (PostgreSQL store only).
    Pgbench,
    /// createPosition, then transitionPosition to FUNDED.
    Write,
    /// 90% point reads, 10% write requests.
    Mixed,
    /// S websocket subscribers, events committed at a fixed rate.
    Fanout,
}

impl Workload {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Nested => "nested",
            Self::NestedPage => "nested_page",
            Self::OneInstitution => "one_institution",
            Self::Point => "point",
            Self::PointEvents => "point_events",
            Self::Pgbench => "pgbench",
            Self::Write => "write",
            Self::Mixed => "mixed",
            Self::Fanout => "fanout",
        }
    }

    /// Read-only request/response workloads: these run once per `--keys` entry.
    pub(crate) fn is_read(self) -> bool {
        matches!(
            self,
            Self::Nested
                | Self::NestedPage
                | Self::OneInstitution
                | Self::Point
                | Self::PointEvents
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyKind {
    /// The server's root key: sees every institution.
    Root,
    /// An ADMIN key of the first seeded institution: sees that institution only.
    Institution,
}

impl KeyKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Institution => "institution",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum FanoutSelection {
    /// `positionEvents { id cursor version toState at }`.
    Scalar,
    /// `positionEvents { id position { state version asset { label } } }`.
    Nested,
}

impl FanoutSelection {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Nested => "nested",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreKind {
    Memory,
    Postgres,
}

impl StoreKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Postgres => "postgres",
        }
    }
}
