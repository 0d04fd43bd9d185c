//! The report: one JSON line per (store, workload) for machines, and a Markdown table for
//! docs/benchmarks.md. Both come from the same `Record`, so they cannot disagree.

use crate::meter::Costs;
use crate::procfs::Machine;
use crate::seed::SeedConfig;
use crate::stats::Summary;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

#[derive(Debug, Serialize)]
pub(crate) struct Record {
    pub(crate) store: &'static str,
    pub(crate) workload: &'static str,
    /// The key the requests carried: "root" or "institution" (an ADMIN key of the first
    /// seeded institution); none for writes, fanout and pgbench.
    pub(crate) key: Option<&'static str>,
    /// "ok", or "unavailable: <reason>" when the workload could not run at all.
    pub(crate) status: String,
    /// Concurrent clients; for fanout, websocket subscribers.
    pub(crate) clients: usize,
    pub(crate) seconds: f64,
    /// Requests answered correctly; for fanout, event deliveries matched exactly once; for
    /// pgbench, transactions.
    pub(crate) requests: u64,
    /// Failed requests, apart from `requests`; for fanout, missing + duplicated + out-of-order
    /// deliveries, failed commits and failed subscribers.
    pub(crate) errors: u64,
    /// `requests` (successes only) per second.
    pub(crate) requests_per_second: f64,
    /// Percentiles of the successful requests only.
    pub(crate) latency_ms: Option<Summary>,
    /// Percentiles of the failed requests, kept out of `latency_ms`.
    pub(crate) error_latency_ms: Option<Summary>,
    /// Statements per HTTP request; for fanout, per committed event.
    pub(crate) statements_per_request: Option<f64>,
    pub(crate) costs: Option<Costs>,
    pub(crate) error_samples: Vec<String>,
    pub(crate) detail: Value,
    pub(crate) seed: SeedConfig,
    pub(crate) machine: Machine,
    pub(crate) commit: Option<String>,
}

impl Record {
    pub(crate) fn unavailable(
        store: &'static str,
        workload: &'static str,
        clients: usize,
        reason: String,
        seed: SeedConfig,
        machine: Machine,
        commit: Option<String>,
    ) -> Self {
        Self {
            store,
            workload,
            key: None,
            status: format!("unavailable: {reason}"),
            clients,
            seconds: 0.0,
            requests: 0,
            errors: 0,
            requests_per_second: 0.0,
            latency_ms: None,
            error_latency_ms: None,
            statements_per_request: None,
            costs: None,
            error_samples: Vec::new(),
            detail: Value::Null,
            seed,
            machine,
            commit,
        }
    }

    /// The workload as the table shows it, with the key when it is not the root key.
    pub(crate) fn label(&self) -> String {
        match self.key {
            Some("institution") => format!("{} (institution key)", self.workload),
            _ => self.workload.to_owned(),
        }
    }

    /// The one-line stdout summary printed as each workload finishes.
    pub(crate) fn line(&self) -> String {
        match (&self.latency_ms, self.status.as_str()) {
            (_, "ok") if self.latency_ms.is_none() => format!(
                "{:<8} {:<34} {:>5} clients  {:>9.1} req/s  errors {}",
                self.store,
                self.label(),
                self.clients,
                self.requests_per_second,
                self.errors
            ),
            (Some(latency), "ok") => format!(
                "{:<8} {:<34} {:>5} clients  {:>9.1} req/s  p50 {:>8.2}  p90 {:>8.2}  p99 {:>8.2}  max {:>8.2} ms  errors {}  stmts/req {}",
                self.store,
                self.label(),
                self.clients,
                self.requests_per_second,
                latency.p50,
                latency.p90,
                latency.p99,
                latency.max,
                self.errors,
                self.statements_per_request
                    .map_or_else(|| "-".to_owned(), |value| format!("{value:.2}")),
            ),
            _ => format!("{:<8} {:<34} {}", self.store, self.label(), self.status),
        }
    }
}

pub(crate) const TABLE_HEADER: &str = "| store | workload | clients | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | stmts/req | server CPU s | peak RSS MiB | db CPU s | client CPU s | other CPU s |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";

pub(crate) fn markdown(records: &[Record]) -> String {
    let mut table = String::from(TABLE_HEADER);
    for record in records {
        let costs = record.costs.as_ref();
        let cell = |value: Option<f64>, digits: usize| {
            value.map_or_else(|| "-".to_owned(), |value| format!("{value:.digits$}"))
        };
        let latency = record.latency_ms.as_ref();
        let rate = if record.status == "ok" {
            format!("{:.1}", record.requests_per_second)
        } else {
            record.status.replace('|', "/")
        };
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            record.store,
            record.label(),
            record.clients,
            rate,
            cell(latency.map(|l| l.p50), 2),
            cell(latency.map(|l| l.p90), 2),
            cell(latency.map(|l| l.p99), 2),
            cell(latency.map(|l| l.max), 2),
            if record.status == "ok" {
                record.errors.to_string()
            } else {
                "-".to_owned()
            },
            cell(record.statements_per_request, 2),
            cell(costs.map(|c| c.server_cpu_seconds), 2),
            cell(costs.map(|c| c.server_peak_rss_mib), 1),
            cell(costs.and_then(|c| c.db_cpu_seconds), 2),
            cell(costs.map(|c| c.client_cpu_seconds), 2),
            cell(costs.map(|c| c.other_cpu_seconds), 2),
        );
    }
    table
}

/// Workload names of the pgbench rows, which `ratios` reads the server's rates against.
pub(crate) const PGBENCH_SELECT_ONLY: &str = "pgbench -S";
pub(crate) const PGBENCH_POINT_STATEMENT: &str = "pgbench point statement";

/// Each PostgreSQL point row's req/s as a share of pgbench's tps in the same run; empty when
/// the run had no pgbench rows or no PostgreSQL point rows.
pub(crate) fn ratios(records: &[Record]) -> String {
    let ok = |record: &&Record| record.store == "postgres" && record.status == "ok";
    let anchors: Vec<&Record> = records
        .iter()
        .filter(ok)
        .filter(|record| [PGBENCH_SELECT_ONLY, PGBENCH_POINT_STATEMENT].contains(&record.workload))
        .filter(|record| record.requests_per_second > 0.0)
        .collect();
    let reads: Vec<&Record> = records
        .iter()
        .filter(ok)
        .filter(|record| ["point", "point_events"].contains(&record.workload))
        .collect();
    if anchors.is_empty() || reads.is_empty() {
        return String::new();
    }
    let mut table = String::from("| workload | req/s |");
    for anchor in &anchors {
        let _ = write!(
            table,
            " % of {} ({:.0} tps) |",
            anchor.workload, anchor.requests_per_second
        );
    }
    table.push_str("\n|---|--:|");
    table.push_str(&"--:|".repeat(anchors.len()));
    table.push('\n');
    for read in reads {
        let _ = write!(
            table,
            "| {} | {:.1} |",
            read.label(),
            read.requests_per_second
        );
        for anchor in &anchors {
            let _ = write!(
                table,
                " {:.1} % |",
                100.0 * read.requests_per_second / anchor.requests_per_second
            );
        }
        table.push('\n');
    }
    table
}
