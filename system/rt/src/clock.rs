//! Wall-clock and monotonic time.
//!
//! Wall time (`wall`, `unix_ns`) is only for timestamps that leave the process: message
//! timestamps, logs, API fields. Timeouts, leases and eviction use [`crate::time::Instant`], the
//! node's monotonic clock. Under the simulator each node has its own clock error: an offset and
//! jumps (wall clock only, as NTP steps do not move CLOCK_MONOTONIC) and a drift rate (both
//! clocks, and so the node's timers).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The node's wall-clock time.
pub fn wall() -> SystemTime {
    #[cfg(madsim)]
    {
        let t = SystemTime::now();
        let err = crate::sim::with_current_node(|n| n.clock.wall_error_ns());
        shift(t, err)
    }
    #[cfg(not(madsim))]
    {
        SystemTime::now()
    }
}

/// The node's wall-clock time in nanoseconds since the Unix epoch (NSQ's message timestamp).
pub fn unix_ns() -> i64 {
    match wall().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// The node's wall-clock time in whole seconds since the Unix epoch.
pub fn unix_secs() -> i64 {
    unix_ns().div_euclid(1_000_000_000)
}

#[cfg(madsim)]
fn shift(t: SystemTime, ns: i64) -> SystemTime {
    if ns >= 0 {
        t + Duration::from_nanos(ns as u64)
    } else {
        t - Duration::from_nanos(ns.unsigned_abs())
    }
}

/// One node's clock error under the simulator, as a function of true (simulated) time.
///
/// `local(t) = t + drift_accumulated(t)` for the monotonic clock, and
/// `wall_local(t) = wall(t) + offset + drift_accumulated(t)` for the wall clock.
#[derive(Debug, Default, Clone)]
pub struct NodeClock {
    offset_ns: i64,
    drift_ppm: i64,
    /// Drift accumulated before `anchor`.
    drift_banked_ns: i64,
    /// True elapsed time at which `drift_ppm` took effect.
    anchor_ns: u64,
}

#[cfg_attr(not(madsim), allow(dead_code))]
impl NodeClock {
    fn true_ns() -> u64 {
        #[cfg(madsim)]
        {
            crate::sim::elapsed().as_nanos() as u64
        }
        #[cfg(not(madsim))]
        {
            0
        }
    }

    /// Drift accumulated up to true time `t_ns`.
    fn drift_ns_at(&self, t_ns: u64) -> i64 {
        let since = t_ns.saturating_sub(self.anchor_ns) as i128;
        self.drift_banked_ns + (since * self.drift_ppm as i128 / 1_000_000) as i64
    }

    /// How far the monotonic clock is ahead of true time now.
    pub fn mono_error_ns(&self) -> i64 {
        self.drift_ns_at(Self::true_ns())
    }

    /// How far the wall clock is ahead of true time now.
    pub fn wall_error_ns(&self) -> i64 {
        self.offset_ns + self.mono_error_ns()
    }

    pub fn drift_ppm(&self) -> i64 {
        self.drift_ppm
    }

    pub fn set_offset_ms(&mut self, ms: i64) {
        self.offset_ns = ms.saturating_mul(1_000_000);
    }

    pub fn jump_ms(&mut self, ms: i64) {
        self.offset_ns = self.offset_ns.saturating_add(ms.saturating_mul(1_000_000));
    }

    pub fn set_drift_ppm(&mut self, ppm: i64) {
        let now = Self::true_ns();
        self.drift_banked_ns = self.drift_ns_at(now);
        self.anchor_ns = now;
        self.drift_ppm = ppm.clamp(-500_000, 500_000);
    }

    pub fn heal(&mut self) {
        self.set_drift_ppm(0);
        // The wall clock is stepped back to true time (NTP); the monotonic clock keeps its
        // accumulated drift so that it never runs backwards.
        self.offset_ns = -self.drift_banked_ns;
    }

    /// Converts a duration on this node's clock into true time.
    pub fn local_to_true(&self, d: Duration) -> Duration {
        if self.drift_ppm == 0 {
            return d;
        }
        let ns = d.as_nanos() as i128 * 1_000_000 / (1_000_000 + self.drift_ppm as i128);
        Duration::from_nanos(ns.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_scales_durations() {
        let mut c = NodeClock::default();
        assert_eq!(c.local_to_true(Duration::from_secs(1)), Duration::from_secs(1));
        c.drift_ppm = 100_000; // 10% fast: one local second passes in 0.909 true seconds
        assert_eq!(c.local_to_true(Duration::from_secs(11)), Duration::from_secs(10));
    }

    #[test]
    fn jumps_add_and_offsets_replace() {
        let mut c = NodeClock::default();
        c.jump_ms(5);
        c.jump_ms(-2);
        assert_eq!(c.offset_ns, 3_000_000);
        c.set_offset_ms(-7);
        assert_eq!(c.offset_ns, -7_000_000);
    }
}
