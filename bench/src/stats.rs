//! Latency percentiles and per-client tallies. Percentiles are exact (nearest rank over every
//! sample, sorted once) because a run holds at most a few million samples: no histogram crate.

use crate::client::{Failed, Timed};
use serde::Serialize;
use std::time::Duration;

/// Latency summary in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Summary {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
}

/// Nearest-rank percentiles of microsecond samples; None when there are none.
pub(crate) fn summarize(mut micros: Vec<u64>) -> Option<Summary> {
    if micros.is_empty() {
        return None;
    }
    micros.sort_unstable();
    let rank = |p: f64| -> f64 {
        let index = ((p * micros.len() as f64).ceil() as usize).clamp(1, micros.len()) - 1;
        micros[index] as f64 / 1000.0
    };
    let sum: u128 = micros.iter().map(|&value| u128::from(value)).sum();
    Some(Summary {
        p50: rank(0.50),
        p90: rank(0.90),
        p99: rank(0.99),
        max: micros[micros.len() - 1] as f64 / 1000.0,
        mean: sum as f64 / micros.len() as f64 / 1000.0,
    })
}

pub(crate) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// What one client saw; merged after the run so the hot loop touches no shared state.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) latencies: Vec<u64>,
    /// A few distinct error messages, so a run with errors says what they were.
    pub(crate) samples: Vec<String>,
}

const MAX_SAMPLES: usize = 5;

impl Tally {
    /// Counts one request, failed or not, and hands back its data when it succeeded.
    pub(crate) fn record<T>(&mut self, result: Result<Timed<T>, Failed>) -> Option<T> {
        self.requests += 1;
        match result {
            Ok(timed) => {
                self.latencies.push(micros(timed.latency));
                Some(timed.data)
            }
            Err(failed) => {
                self.latencies.push(micros(failed.latency));
                self.error(failed.message);
                None
            }
        }
    }

    /// An error found after the request answered (e.g. a null position).
    pub(crate) fn error(&mut self, message: String) {
        self.errors += 1;
        if self.samples.len() < MAX_SAMPLES && !self.samples.contains(&message) {
            self.samples.push(message);
        }
    }

    pub(crate) fn merge(&mut self, other: Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
        for sample in other.samples {
            if self.samples.len() < MAX_SAMPLES && !self.samples.contains(&sample) {
                self.samples.push(sample);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::summarize;

    #[test]
    fn nearest_rank_percentiles() {
        let summary = summarize((1..=100).map(|ms| ms * 1000).collect());
        let summary = summary.expect("samples given");
        assert_eq!(
            (summary.p50, summary.p90, summary.p99, summary.max),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert!((summary.mean - 50.5).abs() < 1e-9);
        assert!(summarize(Vec::new()).is_none());
    }
}
