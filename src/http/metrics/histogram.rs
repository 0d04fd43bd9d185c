//! A fixed-bucket latency histogram and its Prometheus text form.

use std::fmt::Write as _;
use std::time::Duration;

/// Upper bounds in seconds: 5 ms to 30 s, the range between a cached read and a timeout.
pub(crate) const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Counts per bucket (the last one is `+Inf`) and the sum of observations.
#[derive(Clone, Debug, Default)]
pub(crate) struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    pub(crate) fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[bucket] += 1;
        self.sum += seconds;
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: LATENCY_BUCKETS.to_vec(),
            counts: self.counts.to_vec(),
            sum_seconds: self.sum,
        }
    }
}

/// A histogram's state from any source (the database adapter has its own buckets).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// Upper bounds in seconds, ascending.
    pub bounds: Vec<f64>,
    /// Observations per bucket, not cumulative; one more than `bounds` (the `+Inf` bucket).
    pub counts: Vec<u64>,
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// `name_bucket{labels,le="…"}` lines (cumulative, as Prometheus wants), `_sum`, `_count`.
    /// `labels` is `key="value",…` without braces, already escaped; may be empty.
    pub(crate) fn write(&self, out: &mut String, name: &str, labels: &str) {
        let separator = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0_u64;
        for (index, count) in self.counts.iter().enumerate() {
            cumulative += count;
            let le = self
                .bounds
                .get(index)
                .map_or_else(|| "+Inf".to_owned(), |bound| bound.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{le}\"}} {cumulative}"
            );
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_seconds);
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_written_cumulatively_with_sum_and_count() {
        let mut histogram = Histogram::default();
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_millis(40));
        histogram.observe(Duration::from_secs(60));
        let mut text = String::new();
        histogram
            .snapshot()
            .write(&mut text, "x_seconds", "op=\"A\"");
        assert!(text.contains("x_seconds_bucket{op=\"A\",le=\"0.005\"} 1\n"));
        assert!(text.contains("x_seconds_bucket{op=\"A\",le=\"0.05\"} 2\n"));
        assert!(text.contains("x_seconds_bucket{op=\"A\",le=\"30\"} 2\n"));
        assert!(text.contains("x_seconds_bucket{op=\"A\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("x_seconds_count{op=\"A\"} 3\n"));
        let mut bare = String::new();
        histogram.snapshot().write(&mut bare, "y", "");
        assert!(bare.contains("y_bucket{le=\"+Inf\"} 3\n"));
        assert!(bare.contains("y_count 3\n"));
    }
}
