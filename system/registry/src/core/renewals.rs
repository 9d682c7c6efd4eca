//! Renewals in the last minute: a sliding window of one-second buckets.
//!
//! Self-preservation compares this count with the renewals expected over the same stretch (see
//! [`super::preservation`]). Buckets (rather than one timestamp per renewal) keep the cost fixed
//! whatever the renewal rate; a window always starts at a bucket's start, so the stretch the
//! count covers is known exactly ([`RenewalWindow::start_ms`]).

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
        self.count_from(0, now_ms)
    }

    /// Where the window that [`Self::count_from`]`(from_ms, now_ms)` counts starts: the start of
    /// the second holding `from_ms`, or of the oldest second still kept, whichever is later.
    pub fn start_ms(from_ms: u64, now_ms: u64) -> u64 {
        let oldest = (now_ms / BUCKET_MS).saturating_sub(BUCKETS as u64 - 1);
        oldest.max(from_ms / BUCKET_MS) * BUCKET_MS
    }

    /// Renewals recorded from the start of the second holding `from_ms` to `now_ms`, within the
    /// last minute.
    pub fn count_from(&self, from_ms: u64, now_ms: u64) -> u64 {
        let sec = now_ms / BUCKET_MS;
        let first = Self::start_ms(from_ms, now_ms) / BUCKET_MS;
        self.slots.iter().filter(|(s, _)| *s != u64::MAX && *s <= sec && *s >= first).map(|(_, c)| *c).sum()
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

    #[test]
    fn counts_from_the_second_holding_the_start() {
        let mut w = RenewalWindow::default();
        for t in (0..60_000).step_by(1_000) {
            w.record(t + 500);
        }
        assert_eq!(RenewalWindow::start_ms(30_700, 59_900), 30_000);
        assert_eq!(w.count_from(30_700, 59_900), 30, "the seconds 30..=59");
        assert_eq!(RenewalWindow::start_ms(0, 70_000), 11_000, "never older than the kept minute");
        assert_eq!(w.count_from(0, 70_000), 49);
    }
}
