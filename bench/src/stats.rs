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

/// What one client saw; merged after the run so the hot loop touches no shared state. A failed
/// request is counted in `errors` and its latency kept in `error_latencies`, never in
/// `latencies`: a fast error must not make the percentiles look better.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Requests answered correctly.
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) latencies: Vec<u64>,
    pub(crate) error_latencies: Vec<u64>,
    /// A few distinct error messages, so a run with errors says what they were.
    pub(crate) samples: Vec<String>,
}

const MAX_SAMPLES: usize = 5;

impl Tally {
    /// Counts one request and hands back its data when it succeeded.
    pub(crate) fn record<T>(&mut self, result: Result<Timed<T>, Failed>) -> Option<T> {
        self.record_checked(result, |_| None)
    }

    /// `record`, where `check` may still find the answer wrong (e.g. a null position): then
    /// the request is a failure like any other.
    pub(crate) fn record_checked<T>(
        &mut self,
        result: Result<Timed<T>, Failed>,
        check: impl FnOnce(&T) -> Option<String>,
    ) -> Option<T> {
        match result {
            Ok(timed) => match check(&timed.data) {
                None => {
                    self.ok += 1;
                    self.latencies.push(micros(timed.latency));
                    Some(timed.data)
                }
                Some(message) => {
                    self.failed(message, timed.latency);
                    None
                }
            },
            Err(failed) => {
                self.failed(failed.message, failed.latency);
                None
            }
        }
    }

    /// Every request sent, answered correctly or not.
    pub(crate) fn requests(&self) -> u64 {
        self.ok + self.errors
    }

    fn failed(&mut self, message: String, latency: Duration) {
        self.errors += 1;
        self.error_latencies.push(micros(latency));
        if self.samples.len() < MAX_SAMPLES && !self.samples.contains(&message) {
            self.samples.push(message);
        }
    }

    pub(crate) fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
        self.error_latencies.extend(other.error_latencies);
        for sample in other.samples {
            if self.samples.len() < MAX_SAMPLES && !self.samples.contains(&sample) {
                self.samples.push(sample);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Tally, summarize};
    use crate::client::{Failed, Timed};
    use std::time::Duration;

    #[test]
    fn failures_are_counted_apart_from_the_percentiles() {
        let mut tally = Tally::default();
        let answer = |ms| {
            Ok::<_, Failed>(Timed {
                data: ms,
                latency: Duration::from_millis(ms),
            })
        };
        assert_eq!(tally.record(answer(10)), Some(10));
        let failed = Err(Failed {
            message: "HTTP 500".to_owned(),
            latency: Duration::from_millis(1),
        });
        assert_eq!(tally.record::<u64>(failed), None);
        let wrong = tally.record_checked(answer(2), |_| Some("null".to_owned()));
        assert_eq!(wrong, None);
        let mut other = Tally::default();
        other.record(answer(30));
        tally.merge(other);
        assert_eq!((tally.ok, tally.errors, tally.requests()), (2, 2, 4));
        assert_eq!(tally.latencies, vec![10_000, 30_000]);
        assert_eq!(tally.error_latencies, vec![1_000, 2_000]);
        assert_eq!(
            tally.samples,
            vec!["HTTP 500".to_owned(), "null".to_owned()]
        );
    }

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
