//! `/eureka/apps/delta`: the instances changed in the last three minutes (Eureka's
//! `retentionTimeInMSInDeltaQueue`), each with its `actionType`, plus the hash of the whole
//! registry. The registry knows each instance's version (the global version of its last change);
//! this window remembers which global version was current when, so "changed in the last three
//! minutes" becomes "version above the one current three minutes ago".
//!
//! Deletions are not listed (the registry's reads show live instances only): a client that
//! applied a delta compares `apps__hashcode` with its own and fetches the whole registry on a
//! mismatch, which is how Eureka clients recover from any delta they missed.

use std::collections::VecDeque;
use std::time::Duration;

use rt::time::Instant;

/// How far back a delta reaches.
pub const RETENTION: Duration = Duration::from_secs(180);
/// Samples kept at most (one per second is plenty; older ones are pruned anyway).
const SAMPLES_MAX: usize = 512;
/// At most one sample per this interval.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// `(when, global version then)` samples, oldest first.
#[derive(Debug, Default)]
pub struct DeltaWindow {
    samples: VecDeque<(Instant, u64)>,
}

impl DeltaWindow {
    /// Records `version` as current at `now` and returns the version a delta starts after: the
    /// newest sample at least [`RETENTION`] old, or 0 (everything) when there is none yet —
    /// listing too much is harmless (clients apply a delta idempotently), too little is not.
    pub fn since(&mut self, now: Instant, version: u64) -> u64 {
        if self.samples.back().is_none_or(|(t, _)| now.saturating_duration_since(*t) >= SAMPLE_EVERY) {
            self.samples.push_back((now, version));
        }
        while self.samples.len() > SAMPLES_MAX {
            self.samples.pop_front();
        }
        let old_enough = |t: &Instant| now.saturating_duration_since(*t) >= RETENTION;
        // Drop samples older than the newest old-enough one: they will never be the answer again.
        while self.samples.len() >= 2 && old_enough(&self.samples[1].0) {
            self.samples.pop_front();
        }
        match self.samples.front() {
            Some((t, v)) if old_enough(t) => *v,
            _ => 0,
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_until_a_sample_is_old_enough_then_the_version_of_then() {
        let t0 = Instant::now();
        let mut w = DeltaWindow::default();
        assert_eq!(w.since(t0, 10), 0);
        assert_eq!(w.since(t0 + Duration::from_secs(60), 20), 0);
        assert_eq!(w.since(t0 + Duration::from_secs(180), 30), 10);
        assert_eq!(w.since(t0 + Duration::from_secs(240), 40), 20);
        assert_eq!(w.since(t0 + Duration::from_secs(1000), 50), 40);
        assert!(w.len() <= 2, "old samples are pruned: {}", w.len());
    }

    #[test]
    fn bounded_however_often_it_is_asked() {
        let t0 = Instant::now();
        let mut w = DeltaWindow::default();
        for i in 0..10_000u64 {
            w.since(t0 + Duration::from_millis(i * 50), i);
        }
        assert!(w.len() <= SAMPLES_MAX);
        assert!(!w.is_empty());
    }
}
