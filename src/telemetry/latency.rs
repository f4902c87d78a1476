//! Fixed-size latency histogram behind `/api/metrics` percentiles.
//!
//! Memory does not grow with the number of requests: an HDR histogram of 0.01 ms units (the
//! precision of `duration_ms` in log lines) from 0 to one hour with 3 significant digits, so a
//! reported percentile is within 0.1% of the exact nearest-rank value (exact below 20.48 ms).
//! Longer durations count as one hour in percentiles; the mean stays exact.

use hdrhistogram::Histogram;

/// Recorded unit: 0.01 ms.
const UNITS_PER_MS: f64 = 100.0;
/// One hour in units.
const HIGHEST_UNITS: u64 = 3_600_000 * 100;
const SIGNIFICANT_DIGITS: u8 = 3;

#[derive(Debug)]
pub(crate) struct LatencyHistogram {
    histogram: Histogram<u64>,
    sum_ms: f64,
    max_ms: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        let histogram = Histogram::new_with_bounds(1, HIGHEST_UNITS, SIGNIFICANT_DIGITS)
            .expect("constant histogram bounds are valid");
        Self {
            histogram,
            sum_ms: 0.0,
            max_ms: 0.0,
        }
    }
}

impl LatencyHistogram {
    pub(crate) fn record(&mut self, duration_ms: f64) {
        if !duration_ms.is_finite() || duration_ms < 0.0 {
            return; // not a duration; a hand-edited log line must not poison the numbers
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "non-negative, finite; saturating_record clamps what is above one hour"
        )]
        let units = (duration_ms * UNITS_PER_MS).round() as u64;
        self.histogram.saturating_record(units);
        self.sum_ms += duration_ms;
        self.max_ms = self.max_ms.max(duration_ms);
    }

    pub(crate) fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub(crate) fn mean_ms(&self) -> Option<f64> {
        #[expect(clippy::cast_precision_loss, reason = "call counts far below 2^52")]
        (self.count() > 0).then(|| self.sum_ms / self.count() as f64)
    }

    /// Nearest-rank quantile (`q` in 0..=1), never above the largest recorded value.
    pub(crate) fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count() == 0 {
            return None;
        }
        #[expect(clippy::cast_precision_loss, reason = "at most one hour in 0.01 ms units")]
        let (value, highest) = (
            // The middle of the value's bucket: at most half a bucket (0.05%) from the truth.
            self.histogram.median_equivalent(self.histogram.value_at_quantile(q)) as f64 / UNITS_PER_MS,
            HIGHEST_UNITS as f64 / UNITS_PER_MS,
        );
        Some(value.min(self.max_ms).min(highest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact nearest-rank quantile of `values`.
    fn exact(values: &[f64], q: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted[rank.max(1) - 1]
    }

    #[test]
    fn percentiles_are_within_a_tenth_of_a_percent_of_known_latencies() {
        // 10,000 latencies spread from 0.5 ms to ~30 s, in a scrambled order.
        let values: Vec<f64> = (0..10_000u32)
            .map(|i| {
                let scrambled = (u64::from(i) * 7919) % 10_000;
                #[expect(clippy::cast_precision_loss)]
                let x = scrambled as f64;
                0.5 + x * x / 3_333.0
            })
            .map(|ms| (ms * 100.0).round() / 100.0)
            .collect();
        let mut histogram = LatencyHistogram::default();
        for v in &values {
            histogram.record(*v);
        }
        for q in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let got = histogram.quantile_ms(q).unwrap();
            let want = exact(&values, q);
            assert!((got - want).abs() <= want * 0.001 + 0.01, "q={q}: {got} vs {want}");
        }
        let mean = values.iter().sum::<f64>() / 10_000.0;
        assert!((histogram.mean_ms().unwrap() - mean).abs() < 1e-6);
    }

    #[test]
    fn small_values_are_exact_and_extremes_are_clamped() {
        let mut histogram = LatencyHistogram::default();
        assert_eq!(histogram.quantile_ms(0.95), None);
        for v in [10.0, 20.0] {
            histogram.record(v);
        }
        assert_eq!(histogram.quantile_ms(0.95), Some(20.0));
        assert_eq!(histogram.quantile_ms(0.5), Some(10.0));
        histogram.record(f64::NAN);
        histogram.record(-1.0);
        assert_eq!(histogram.count(), 2);
        histogram.record(10.0 * 3_600_000.0); // ten hours
        assert_eq!(histogram.quantile_ms(1.0), Some(3_600_000.0));
    }

    #[test]
    fn memory_is_fixed() {
        let mut histogram = LatencyHistogram::default();
        let before = histogram.histogram.distinct_values();
        for i in 0..100_000u32 {
            histogram.record(f64::from(i % 5000) * 0.37);
        }
        assert_eq!(histogram.histogram.distinct_values(), before);
    }
}
