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
    /// "ok", or "unavailable: <reason>" when the workload could not run at all.
    pub(crate) status: String,
    /// Concurrent clients; for fanout, websocket subscribers.
    pub(crate) clients: usize,
    pub(crate) seconds: f64,
    /// HTTP requests; for fanout, event deliveries to subscribers.
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) requests_per_second: f64,
    pub(crate) latency_ms: Option<Summary>,
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
            status: format!("unavailable: {reason}"),
            clients,
            seconds: 0.0,
            requests: 0,
            errors: 0,
            requests_per_second: 0.0,
            latency_ms: None,
            statements_per_request: None,
            costs: None,
            error_samples: Vec::new(),
            detail: Value::Null,
            seed,
            machine,
            commit,
        }
    }

    /// The one-line stdout summary printed as each workload finishes.
    pub(crate) fn line(&self) -> String {
        match (&self.latency_ms, self.status.as_str()) {
            (Some(latency), "ok") => format!(
                "{:<8} {:<6} {:>5} clients  {:>9.1} req/s  p50 {:>8.2}  p90 {:>8.2}  p99 {:>8.2}  max {:>8.2} ms  errors {}  stmts/req {}",
                self.store,
                self.workload,
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
            _ => format!("{:<8} {:<6} {}", self.store, self.workload, self.status),
        }
    }
}

pub(crate) const TABLE_HEADER: &str = "| store | workload | clients | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | stmts/req | server CPU s | peak RSS MiB | db CPU s | other CPU s |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";

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
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            record.store,
            record.workload,
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
            cell(costs.map(|c| c.other_cpu_seconds), 2),
        );
    }
    table
}
