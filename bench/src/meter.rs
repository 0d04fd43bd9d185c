//! What a workload cost: statements from `/metrics`, CPU seconds of the server, of the
//! PostgreSQL backends serving it and of this load generator, and the server's peak RSS, read
//! before and after the measured window. On a 2-core machine the three CPU figures share the
//! same cores, so all three are reported.

use crate::client::Api;
use crate::error::Result;
use crate::postgres::BenchDb;
use crate::procfs;
use serde::Serialize;
use std::collections::HashMap;

pub(crate) struct Meter<'a> {
    pub(crate) api: &'a Api,
    pub(crate) server_pid: u32,
    pub(crate) db: Option<&'a BenchDb>,
    pub(crate) ticks_per_second: u64,
}

pub(crate) struct Reading {
    statements: u64,
    server_ticks: u64,
    client_ticks: u64,
    db_ticks: HashMap<u32, u64>,
    rss_reset: bool,
    rss_kib: u64,
    machine_ticks: u64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Costs {
    pub(crate) statements: u64,
    pub(crate) server_cpu_seconds: f64,
    pub(crate) server_peak_rss_mib: f64,
    /// RSS when the window opened: the allocator keeps what earlier workloads freed, so a peak
    /// is only as low as this.
    pub(crate) server_rss_at_start_mib: f64,
    /// "workload" when VmHWM could be reset first; "server start" otherwise.
    pub(crate) peak_rss_since: &'static str,
    /// PostgreSQL backends connected to the bench database (approximate: a backend that
    /// exits inside the window takes its ticks with it).
    pub(crate) db_cpu_seconds: Option<f64>,
    pub(crate) client_cpu_seconds: f64,
    /// Busy CPU seconds of every other process on the machine (builds, other tests): a
    /// benchmark on a shared machine says how shared it was.
    pub(crate) other_cpu_seconds: f64,
}

impl Meter<'_> {
    pub(crate) async fn start(&self) -> Result<Reading> {
        let rss_reset = procfs::reset_peak_rss(self.server_pid);
        Ok(Reading {
            statements: self.api.statements().await?,
            server_ticks: procfs::cpu_ticks(self.server_pid)?,
            client_ticks: procfs::cpu_ticks(std::process::id())?,
            db_ticks: self.db_ticks(),
            rss_reset,
            rss_kib: procfs::rss_kib(self.server_pid)?,
            machine_ticks: procfs::machine_busy_ticks()?,
        })
    }

    pub(crate) async fn finish(&self, start: Reading) -> Result<Costs> {
        let server_ticks = procfs::cpu_ticks(self.server_pid)?;
        let client_ticks = procfs::cpu_ticks(std::process::id())?;
        let db_ticks = self.db_ticks();
        let machine_ticks = procfs::machine_busy_ticks()?;
        let peak_kib = procfs::peak_rss_kib(self.server_pid)?;
        // Read last: the /metrics request is not part of the workload's statements.
        let statements = self.api.statements().await?;
        let seconds = |ticks: u64| ticks as f64 / self.ticks_per_second as f64;
        let db_delta: u64 = db_ticks
            .iter()
            .map(|(pid, after)| after.saturating_sub(start.db_ticks.get(pid).copied().unwrap_or(0)))
            .sum();
        let server_delta = server_ticks.saturating_sub(start.server_ticks);
        let client_delta = client_ticks.saturating_sub(start.client_ticks);
        let other = machine_ticks
            .saturating_sub(start.machine_ticks)
            .saturating_sub(server_delta + client_delta + db_delta);
        Ok(Costs {
            statements: statements.saturating_sub(start.statements),
            server_cpu_seconds: seconds(server_delta),
            server_peak_rss_mib: peak_kib as f64 / 1024.0,
            server_rss_at_start_mib: start.rss_kib as f64 / 1024.0,
            peak_rss_since: if start.rss_reset {
                "workload"
            } else {
                "server start"
            },
            db_cpu_seconds: self.db.map(|_| seconds(db_delta)),
            client_cpu_seconds: seconds(client_delta),
            other_cpu_seconds: seconds(other),
        })
    }

    fn db_ticks(&self) -> HashMap<u32, u64> {
        self.db
            .map(|db| {
                db.backend_pids()
                    .into_iter()
                    .filter_map(|pid| procfs::cpu_ticks(pid).ok().map(|ticks| (pid, ticks)))
                    .collect()
            })
            .unwrap_or_default()
    }
}
