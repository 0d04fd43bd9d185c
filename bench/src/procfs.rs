//! What the kernel knows about a process, read from /proc: CPU time, peak RSS, open-file limit,
//! and the machine description the report starts with. Linux only, like the machine we publish.

use crate::error::{Context as _, Error, Result};
use std::process::Command;

/// Kernel clock ticks per second for the utime/stime fields (`getconf CLK_TCK`, 100 almost
/// everywhere; asked rather than assumed because the numbers would silently scale).
pub(crate) fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks: &u64| *ticks > 0)
        .unwrap_or(100)
}

/// utime + stime of the whole process (all threads), in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> Result<u64> {
    stat_cpu_ticks(&format!("/proc/{pid}/stat"))
}

/// utime + stime of the calling thread alone, in clock ticks.
pub(crate) fn own_thread_cpu_ticks() -> Result<u64> {
    stat_cpu_ticks("/proc/thread-self/stat")
}

fn stat_cpu_ticks(path: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(path).context(format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may contain spaces: count fields after
    // the last ')'. There, field 3 (state) is index 0, so utime (14) and stime (15) are 11, 12.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| Error::msg(format!("{path} has no ')'")))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |index: usize| -> Result<u64> {
        fields
            .get(index)
            .ok_or_else(|| Error::msg(format!("{path} is too short")))?
            .parse::<u64>()
            .context(format!("{path} field {index}"))
    };
    Ok(field(11)? + field(12)?)
}

/// Busy clock ticks of the whole machine, all CPUs (/proc/stat: everything but idle and
/// iowait). Minus the processes we measure, it shows how much else was running.
pub(crate) fn machine_busy_ticks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat
        .lines()
        .find(|line| line.starts_with("cpu "))
        .ok_or_else(|| Error::msg("/proc/stat has no cpu line"))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice].
    let busy: u64 = ticks.iter().take(8).sum::<u64>()
        - ticks.get(3).copied().unwrap_or(0)
        - ticks.get(4).copied().unwrap_or(0);
    Ok(busy)
}

/// Peak resident set size (VmHWM) in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM:")
}

/// Current resident set size (VmRSS) in KiB.
pub(crate) fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so each workload reports its own peak rather
/// than seeding's. Returns false where the kernel refuses, and the report then says the peak
/// is since start.
pub(crate) fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn status_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context(format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| Error::msg(format!("/proc/{pid}/status has no {key}")))
}

/// The soft limit on open files of this process (the server inherits it).
pub(crate) fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The machine the numbers belong to.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    pub(crate) cpu_model: String,
    pub(crate) memory_gib: f64,
    pub(crate) kernel: String,
}

impl Machine {
    pub(crate) fn describe() -> Self {
        let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|text| text.trim().to_owned())
            .unwrap_or_default();
        Self {
            cpus,
            cpu_model,
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel,
        }
    }
}
