//! A windowed quantile estimator for end-to-end processing latency (`now − timestamp` at FIN),
//! nsqd's `--e2e-processing-latency-percentile` / `--e2e-processing-latency-window-time`.
//!
//! Why this shape:
//! - **Deterministic and bounded**: a log-linear histogram (exact below 64 ns, then 64 buckets per
//!   power of two: ≤ 0.8 % relative error) in a `BTreeMap`, at most 3776 buckets whatever the
//!   input. No sampling, no randomness, so two identical runs report identical numbers.
//! - **Windowed like nsqd**: two half-window slots; a sample lands in the slot of its
//!   half-window epoch (`now_ms / (window_ms / 2)`), and a report merges the current and previous
//!   epochs, so it covers between half a window and a full window of samples.
//! - **Mergeable**: histograms add exactly, which gives the topic-level figure (merge of its
//!   channels) that `/stats` shows.

use std::collections::BTreeMap;

use super::CoreError;

/// Exact below this many nanoseconds; also the number of sub-buckets per power of two.
const LINEAR_MAX: u64 = 64;
const SUB_BITS: u32 = 6;

fn bucket_of(value: u64) -> u16 {
    if value < LINEAR_MAX {
        return value as u16;
    }
    let exponent = 63 - value.leading_zeros(); // ≥ 6
    let shift = exponent - SUB_BITS;
    let sub = (value >> shift) - LINEAR_MAX; // 0..64
    (LINEAR_MAX + u64::from(shift) * LINEAR_MAX + sub) as u16
}

/// The value a bucket reports: its midpoint (exact in the linear range).
fn value_of(bucket: u16) -> u64 {
    let bucket = u64::from(bucket);
    if bucket < LINEAR_MAX {
        return bucket;
    }
    let shift = (bucket - LINEAR_MAX) / LINEAR_MAX;
    let sub = (bucket - LINEAR_MAX) % LINEAR_MAX;
    let low = (LINEAR_MAX + sub) << shift;
    let half_width = (1u64 << shift) / 2;
    low + half_width
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Slot {
    epoch: u64,
    count: u64,
    buckets: BTreeMap<u16, u64>,
}

/// One reported percentile; serialises as nsqd's `{"quantile":0.99,"value":…}` (value in ns).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Percentile {
    pub quantile: f64,
    pub value: u64,
}

/// `/stats` `e2e_processing_latency`: `{"count":N,"percentiles":[…]}`. With the feature off the
/// shell reports [`QuantileReport::disabled`], `{"count":0,"percentiles":null}` (nsqadmin needs
/// an object either way).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuantileReport {
    pub count: u64,
    pub percentiles: Option<Vec<Percentile>>,
}

impl QuantileReport {
    pub fn disabled() -> Self {
        Self {
            count: 0,
            percentiles: None,
        }
    }
}

/// The estimator.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantiles {
    half_window_ms: u64,
    percentiles: Vec<f64>,
    slots: [Slot; 2],
}

impl Quantiles {
    /// `window_ms` > 0; each percentile in (0, 1] (nsqd's rule), e.g. `[0.99, 0.95, 0.5]`.
    pub fn new(window_ms: u64, percentiles: &[f64]) -> Result<Self, CoreError> {
        if window_ms == 0 {
            return Err(CoreError::InvalidQuantiles("window must be positive"));
        }
        if percentiles.is_empty() {
            return Err(CoreError::InvalidQuantiles("no percentiles"));
        }
        if percentiles
            .iter()
            .any(|p| !(p.is_finite() && *p > 0.0 && *p <= 1.0))
        {
            return Err(CoreError::InvalidQuantiles("percentiles must be in (0, 1]"));
        }
        Ok(Self {
            half_window_ms: (window_ms / 2).max(1),
            percentiles: percentiles.to_vec(),
            slots: [Slot::default(), Slot::default()],
        })
    }

    pub fn percentiles(&self) -> &[f64] {
        &self.percentiles
    }

    fn epoch(&self, now_ms: u64) -> u64 {
        now_ms / self.half_window_ms
    }

    /// Records one latency. Negative latencies (publisher clock ahead of ours) count as 0.
    pub fn add(&mut self, now_ms: u64, latency_ns: i64) {
        let epoch = self.epoch(now_ms);
        let slot = &mut self.slots[(epoch % 2) as usize];
        if slot.epoch != epoch || slot.count == 0 {
            *slot = Slot {
                epoch,
                ..Slot::default()
            };
        }
        slot.count += 1;
        *slot
            .buckets
            .entry(bucket_of(latency_ns.max(0) as u64))
            .or_default() += 1;
    }

    /// Slots still inside the window at `now_ms`. A slot from the future (the caller's clock went
    /// backwards, which a monotonic clock should not do) is ignored rather than trusted.
    fn live_slots(&self, now_ms: u64) -> impl Iterator<Item = &Slot> + '_ {
        let epoch = self.epoch(now_ms);
        self.slots
            .iter()
            .filter(move |s| s.count > 0 && s.epoch <= epoch && s.epoch + 1 >= epoch)
    }

    /// The configured percentiles over the last window.
    pub fn report(&self, now_ms: u64) -> QuantileReport {
        Self::merged_report([self], now_ms, &self.percentiles)
    }

    /// One report over several estimators (a topic's figure from its channels').
    pub fn merged_report<'a>(
        parts: impl IntoIterator<Item = &'a Quantiles>,
        now_ms: u64,
        percentiles: &[f64],
    ) -> QuantileReport {
        let mut merged: BTreeMap<u16, u64> = BTreeMap::new();
        let mut count = 0u64;
        for part in parts {
            for slot in part.live_slots(now_ms) {
                count += slot.count;
                for (&b, &n) in &slot.buckets {
                    *merged.entry(b).or_default() += n;
                }
            }
        }
        let percentiles = percentiles
            .iter()
            .map(|&quantile| Percentile {
                quantile,
                value: Self::query(&merged, count, quantile),
            })
            .collect();
        QuantileReport {
            count,
            percentiles: Some(percentiles),
        }
    }

    /// The value at rank ⌈q·count⌉ (at least 1); 0 with no samples, as nsqd reports.
    fn query(buckets: &BTreeMap<u16, u64>, count: u64, quantile: f64) -> u64 {
        if count == 0 {
            return 0;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0u64;
        for (&b, &n) in buckets {
            seen += n;
            if seen >= rank {
                return value_of(b);
            }
        }
        buckets
            .last_key_value()
            .map(|(&b, _)| value_of(b))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn config_validated() {
        assert!(Quantiles::new(0, &[0.5]).is_err());
        assert!(Quantiles::new(1000, &[]).is_err());
        assert!(Quantiles::new(1000, &[0.0]).is_err());
        assert!(Quantiles::new(1000, &[1.5]).is_err());
        assert!(Quantiles::new(1000, &[f64::NAN]).is_err());
        assert!(Quantiles::new(1000, &[1.0, 0.99, 0.5]).is_ok());
        assert!(Quantiles::new(1, &[0.5]).is_ok());
    }

    #[test]
    fn empty_report_has_zero_values() {
        let q = Quantiles::new(1000, &[0.5, 0.99]).expect("valid");
        let r = q.report(0);
        assert_eq!(r.count, 0);
        assert_eq!(
            serde_json::to_string(&r).expect("serialises"),
            r#"{"count":0,"percentiles":[{"quantile":0.5,"value":0},{"quantile":0.99,"value":0}]}"#
        );
        assert_eq!(
            serde_json::to_string(&QuantileReport::disabled()).expect("serialises"),
            r#"{"count":0,"percentiles":null}"#
        );
    }

    #[test]
    fn exact_for_small_values() {
        let mut q = Quantiles::new(1000, &[0.5, 1.0]).expect("valid");
        for v in 1..=10 {
            q.add(0, v);
        }
        let r = q.report(0);
        assert_eq!(r.count, 10);
        let values: Vec<u64> = r.percentiles.expect("on").iter().map(|p| p.value).collect();
        assert_eq!(values, vec![5, 10]);
    }

    #[test]
    fn negative_latency_counts_as_zero() {
        let mut q = Quantiles::new(1000, &[1.0]).expect("valid");
        q.add(0, -5);
        assert_eq!(q.report(0).percentiles.expect("on")[0].value, 0);
    }

    #[test]
    fn window_expires_old_samples() {
        // window 1000 ms → half windows of 500 ms.
        let mut q = Quantiles::new(1000, &[1.0]).expect("valid");
        q.add(100, 10); // epoch 0
        q.add(600, 20); // epoch 1
        assert_eq!(q.report(600).count, 2);
        assert_eq!(q.report(999).count, 2);
        assert_eq!(q.report(1000).count, 1); // epoch 2: only epoch 1 left
        assert_eq!(q.report(1000).percentiles.expect("on")[0].value, 20);
        assert_eq!(q.report(1500).count, 0);
        q.add(1500, 30); // reuses epoch 1's slot
        assert_eq!(q.report(1500).count, 1);
        // A clock going backwards ignores "future" slots (epoch 3) instead of panicking; only
        // the stale epoch-0 slot matches.
        assert_eq!(q.report(0).count, 1);
        assert_eq!(q.report(0).percentiles.expect("on")[0].value, 10);
    }

    #[test]
    fn merged_report_adds_parts() {
        let mut a = Quantiles::new(1000, &[0.5]).expect("valid");
        let mut b = Quantiles::new(1000, &[0.5]).expect("valid");
        a.add(0, 1);
        b.add(0, 3);
        b.add(0, 3);
        let r = Quantiles::merged_report([&a, &b], 0, &[0.5, 1.0]);
        assert_eq!(r.count, 3);
        let values: Vec<u64> = r.percentiles.expect("on").iter().map(|p| p.value).collect();
        assert_eq!(values, vec![3, 3]);
    }

    #[test]
    fn bucket_edges() {
        assert_eq!(bucket_of(63), 63);
        assert_eq!(bucket_of(64), 64);
        assert_eq!(value_of(64), 64);
        assert_eq!(bucket_of(u64::MAX), 3775);
        assert!(value_of(3775) > u64::MAX / 2);
    }

    proptest! {
        #[test]
        fn relative_error_bounded(v in 0u64..u64::MAX) {
            let got = value_of(bucket_of(v));
            let err = got.abs_diff(v) as f64;
            prop_assert!(err <= (v as f64) / 128.0 + 1.0, "v={v} got={got}");
            prop_assert!(bucket_of(v) <= 3775);
        }

        #[test]
        fn buckets_monotonic(a in 0u64..u64::MAX, b in 0u64..u64::MAX) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(bucket_of(lo) <= bucket_of(hi));
        }

        #[test]
        fn quantile_within_error_of_exact(mut values in prop::collection::vec(0i64..10_000_000_000, 1..200), q in 0.01f64..=1.0) {
            let mut est = Quantiles::new(60_000, &[q]).expect("valid");
            for v in &values { est.add(0, *v); }
            values.sort_unstable();
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            let exact = values[rank - 1] as f64;
            let got = est.report(0).percentiles.expect("on")[0].value as f64;
            prop_assert!((got - exact).abs() <= exact / 128.0 + 1.0, "exact={exact} got={got}");
        }
    }
}
