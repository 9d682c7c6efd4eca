//! Latency samples and their percentiles. Exact (every sample kept and sorted): a bench phase
//! holds at most a few million samples, so a histogram's approximation buys nothing here.

use std::time::Duration;

/// Latency samples in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    us: Vec<u32>,
}

/// The figures printed for one set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
}

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.us.push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.us.extend(other.us);
    }

    pub fn len(&self) -> usize {
        self.us.len()
    }

    pub fn summary(mut self) -> Summary {
        self.us.sort_unstable();
        Summary {
            count: self.us.len(),
            p50_us: percentile(&self.us, 50.0),
            p99_us: percentile(&self.us, 99.0),
            max_us: self.us.last().copied().unwrap_or(0),
        }
    }
}

/// Nearest-rank percentile of sorted samples: the smallest sample such that at least `p` % of
/// the samples are at most it. 0 for no samples.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "samples must be sorted");
    assert!((0.0..=100.0).contains(&p), "percentile {p} out of range");
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_a_hundred_samples() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
    }

    #[test]
    fn p99_of_few_samples_is_the_worst() {
        assert_eq!(percentile(&[3, 7, 9], 99.0), 9);
        assert_eq!(percentile(&[3, 7, 9], 50.0), 7);
        assert_eq!(percentile(&[5], 99.0), 5);
        assert_eq!(percentile(&[], 99.0), 0);
    }

    #[test]
    fn one_outlier_in_a_thousand_does_not_move_p99() {
        let mut v = vec![10u32; 999];
        v.push(1_000_000);
        assert_eq!(percentile(&v, 99.0), 10);
        assert_eq!(percentile(&v, 100.0), 1_000_000);
    }

    #[test]
    fn summary_sorts_and_saturates() {
        let mut s = Samples::default();
        for us in [30u64, 10, 20] {
            s.push(Duration::from_micros(us));
        }
        s.push(Duration::from_secs(1 << 40));
        let sum = s.summary();
        assert_eq!(sum, Summary { count: 4, p50_us: 20, p99_us: u32::MAX, max_us: u32::MAX });
    }
}
