//! Renewals in the last minute: a sliding window of one-second buckets.
//!
//! Self-preservation compares this count with the renewals expected per minute. Buckets (rather
//! than one timestamp per renewal) keep the cost fixed whatever the renewal rate; the count is
//! exact to within the one second at the window's trailing edge.

pub const WINDOW_MS: u64 = 60_000;
const BUCKET_MS: u64 = 1_000;
const BUCKETS: usize = (WINDOW_MS / BUCKET_MS) as usize;

#[derive(Debug, Clone)]
pub struct RenewalWindow {
    /// `(second, count)`: the second (now_ms / 1000) each slot was last written for.
    slots: [(u64, u64); BUCKETS],
}

impl Default for RenewalWindow {
    fn default() -> Self {
        RenewalWindow { slots: [(u64::MAX, 0); BUCKETS] }
    }
}

impl RenewalWindow {
    pub fn record(&mut self, now_ms: u64) {
        let sec = now_ms / BUCKET_MS;
        let slot = &mut self.slots[(sec % BUCKETS as u64) as usize];
        if slot.0 != sec {
            *slot = (sec, 0);
        }
        slot.1 = slot.1.saturating_add(1);
    }

    /// Renewals recorded in the last minute (the current second and the 59 before it).
    pub fn last_minute(&self, now_ms: u64) -> u64 {
        let sec = now_ms / BUCKET_MS;
        self.slots
            .iter()
            .filter(|(s, _)| *s != u64::MAX && *s <= sec && sec - *s < BUCKETS as u64)
            .map(|(_, c)| *c)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_the_last_minute() {
        let mut w = RenewalWindow::default();
        for t in (0..120_000).step_by(5_000) {
            w.record(t);
        }
        assert_eq!(w.last_minute(119_999), 12);
        assert_eq!(w.last_minute(200_000), 0);
        w.record(200_000);
        assert_eq!(w.last_minute(200_500), 1);
    }
}
